"""Articulated motion of two hands over time: gestures, orientation, translation, camera drift.

Everything here is numpy and deterministic for a ``numpy.random.Generator``.

* **Hand pose** is keyframed in anatomical angles (``hand_models.fitting.anatomy``: per MANO
  joint 1..15, (flexion, abduction, twist) in radians, rows in MANO order: index, middle,
  pinky, ring, thumb, three joints each). Keyframes are gestures (:data:`GESTURES`, with a
  little jitter) or plausible random poses from ``sample_angles``; between keyframes the angles
  follow a smoothstep (the hand holds a pose, then moves to the next one), and
  ``pose_from_angles`` turns them into MANO's 45-D hand pose. Tables are written for the right
  hand; :func:`angles_for_side` mirrors them for the left (with the anatomical frames of
  ``anatomical_frames`` flexion means the same on both sides, abduction and twist change sign).
* **Orientation** is built so hands face the camera the way they do in front of a webcam:
  fingers up in the image (camera -y), palm (yaw 0) or back (yaw 180) towards the camera, then
  varied by yaw (turning about the vertical), pitch (tilting towards/away) and roll (in the image
  plane). ``R = Rz(roll) Rx(pitch) Ry(yaw) R_base[side]`` in the camera frame.
* **Translation** keyframes (the wrist) are drawn in image coordinates and depth, so the hand
  stays in frame: the right hand on the image's left (the person faces the camera), the left
  on the right, sometimes crossing; interpolated by Catmull-Rom splines (continuous velocity).
* **Camera**: static, or slowly drifting (small sinusoidal rotation and translation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial.transform import Rotation

from hand_models.fitting.anatomy import joint_limits, sample_angles

#: Rotation taking each side's procedural MANO rest hand (right fingers along +x, left along -x,
#: palm towards -y, thumb at -z) to "fingers up (camera -y), palm towards the camera (-z)".
#: Columns are the images of the model axes. :func:`base_rotation` computes it for any model.
R_BASE = {
    "right": np.stack([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]], 1),
    "left": np.stack([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], 1),
}


def hand_axes(rest_joints16: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model-frame unit axes of a rest hand from its 16 MANO joints: finger direction (wrist ->
    middle MCP), palm normal (out of the palm) and lateral (index -> pinky), orthonormal."""
    j = np.asarray(rest_joints16, dtype=np.float64)
    f = j[4] - j[0]
    f /= np.linalg.norm(f)
    n = np.cross(j[1] - j[0], j[7] - j[0]) * (1.0 if side == "right" else -1.0)
    n -= np.dot(n, f) * f
    n /= np.linalg.norm(n)
    lat = j[7] - j[1]
    lat -= np.dot(lat, f) * f + np.dot(lat, n) * n
    lat /= np.linalg.norm(lat)
    return f, n, lat


def base_rotation(rest_joints16: np.ndarray, side: str) -> np.ndarray:
    """(3, 3) rotation taking the model's rest hand to fingers up / palm towards the camera."""
    f, n, _ = hand_axes(rest_joints16, side)
    src = np.stack([f, n, np.cross(f, n)], 1)
    dst = np.stack([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]], 1)
    return dst @ src.T


# MANO group order in the angle table: index, middle, pinky, ring (rows 0-11), thumb (12-14)
_GROUP_ROWS = {"index": 0, "middle": 3, "pinky": 6, "ring": 9, "thumb": 12}
_SPREAD = {"index": -0.15, "middle": 0.0, "pinky": 0.25, "ring": 0.1}


def _hand(flex: dict[str, tuple[float, float, float]], thumb: tuple, spread: dict | None = None) -> np.ndarray:
    a = np.zeros((15, 3))
    sp = dict(_SPREAD, **(spread or {}))
    for name in ("index", "middle", "pinky", "ring"):
        r = _GROUP_ROWS[name]
        a[r:r + 3, 0] = flex[name]
        a[r, 1] = sp[name]
    a[12:15] = np.asarray(thumb, dtype=np.float64)
    return a


_EXT = (0.05, 0.05, 0.05)
_RELAX = (0.25, 0.35, 0.2)
_CURL = (1.5, 1.8, 1.0)
_THUMB_OPEN = ((-0.3, -0.3, 0.0), (0.1, 0.0, 0.0), (0.1, 0.0, 0.0))
_THUMB_RELAX = ((-0.2, 0.0, 0.0), (0.2, 0.0, 0.0), (0.2, 0.0, 0.0))
_THUMB_FIST = ((0.45, 0.35, 0.0), (0.5, 0.0, 0.0), (0.5, 0.0, 0.0))
_THUMB_UP = ((-0.3, 0.5, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
#: Lowest thumb CMC flexion used: below it the procedural thumb's base leaves the palm dorsally.
THUMB_MIN_FLEXION = -0.3


def _all(f):
    return {n: f for n in ("index", "middle", "pinky", "ring")}


#: Gesture keyframes (anatomical angles, see the module docstring). ``pinch`` and ``ok`` get
#: their thumb from :func:`gesture_angles` (solved so the thumb tip meets the index tip).
GESTURES: dict[str, np.ndarray] = {
    "open_palm": _hand(_all(_EXT), _THUMB_OPEN),
    "spread": _hand(_all((-0.05, 0.0, 0.0)), ((-0.3, -0.55, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
                    {"index": -0.3, "middle": -0.05, "ring": 0.2, "pinky": 0.45}),
    "relaxed": _hand({"index": _RELAX, "middle": (0.3, 0.4, 0.2), "ring": (0.35, 0.5, 0.25),
                      "pinky": (0.45, 0.6, 0.3)}, _THUMB_RELAX),
    "fist": _hand(_all(_CURL), _THUMB_FIST),
    "point": _hand({"index": _EXT, "middle": _CURL, "ring": _CURL, "pinky": _CURL}, _THUMB_FIST),
    "victory": _hand({"index": _EXT, "middle": _EXT, "ring": _CURL, "pinky": _CURL}, _THUMB_FIST,
                     {"index": -0.25, "middle": 0.12}),
    "thumbs_up": _hand(_all(_CURL), _THUMB_UP),
    # thumb and index flexion pre-solved for the procedural model (see _solved_gesture)
    "pinch": _hand({"index": (0.692, 0.846, 0.428), "middle": (0.3, 0.4, 0.2), "ring": (0.35, 0.45, 0.25),
                    "pinky": (0.4, 0.5, 0.3)}, ((0.34, 0.498, 0.018), (0.035, -0.005, 0.0), (0.015, -0.002, 0.0))),
    "ok": _hand({"index": (0.628, 0.882, 0.494), "middle": (0.1, 0.1, 0.05), "ring": (0.1, 0.1, 0.05),
                 "pinky": (0.15, 0.1, 0.05)}, ((0.333, 0.501, 0.008), (0.017, -0.002, 0.0), (0.007, -0.001, 0.0))),
}
_TOUCHING = ("pinch", "ok")

#: Relative frequency of each gesture among gesture keyframes (open and relaxed hands are what a
#: camera sees most; the others are the gestures users make now and then).
GESTURE_WEIGHTS = {"open_palm": 3.0, "relaxed": 3.0, "spread": 2.0, "pinch": 1.5, "point": 1.5, "ok": 1.0,
                   "victory": 1.0, "fist": 1.0, "thumbs_up": 1.0}


#: Distance (m) between the thumb and index tip vertices in the touching gestures.
TOUCH_GAP = 0.01


@lru_cache(maxsize=None)
def _solved_gesture(name: str, model_dir: str | None = None) -> np.ndarray:
    """Gesture angles with the thumb (all three joints) and the index flexion solved by least
    squares on the right model so the thumb tip meets the index tip (``TOUCH_GAP`` apart). The
    table's values are already solved for the procedural model, so this only iterates for other
    models. The left hand uses the mirrored angles (:func:`angles_for_side`)."""
    import torch
    from scipy.optimize import least_squares

    from hand_models.fitting import ManoFitter, pose_from_angles
    from hand_models.mano import ManoLayer

    base = GESTURES[name].copy()
    layer = ManoLayer("right", model_dir, dtype=torch.float64)
    frames = ManoFitter("right", model_dir).frames
    lim = joint_limits()

    def make(x):
        a = base.copy()
        a[12:15] = x[:9].reshape(3, 3)
        a[0:3, 0] = x[9:12]
        return a

    x0 = np.concatenate([base[12:15].ravel(), base[0:3, 0]])

    def residual(x):
        pose = torch.as_tensor(pose_from_angles(make(x), frames))[None]
        with torch.no_grad():
            j = layer(hand_pose=pose).joints[0].numpy()
        gap = np.linalg.norm(j[4] - j[8])
        return np.concatenate([[(gap - TOUCH_GAP) / 0.002], 0.05 * (x - x0)])

    if abs(residual(x0)[0]) < 1.0:  # within 2 mm: already solved for this model
        return base
    lo = np.concatenate([lim[12:15, :, 0].ravel(), lim[0:3, 0, 0]])
    hi = np.concatenate([lim[12:15, :, 1].ravel(), lim[0:3, 0, 1]])
    res = least_squares(residual, np.clip(x0, lo + 1e-6, hi - 1e-6), bounds=(lo, hi), max_nfev=300)
    return make(res.x)


def gesture_angles(name: str) -> np.ndarray:
    """(15, 3) anatomical angles of a named gesture (see :data:`GESTURES`)."""
    if name not in GESTURES:
        raise KeyError(f"unknown gesture {name!r}; known: {sorted(GESTURES)}")
    return _solved_gesture(name) if name in _TOUCHING else GESTURES[name].copy()


#: Sign of (flexion, abduction, twist) of the left hand for the motion a right-hand angle describes.
LEFT_ANGLE_SIGN = np.array([1.0, -1.0, -1.0])


def angles_for_side(angles: np.ndarray, side: str) -> np.ndarray:
    """Right-hand anatomical angles (..., 15, 3) -> the same (mirrored) motion for ``side``."""
    return angles * LEFT_ANGLE_SIGN if side == "left" else angles


def _clip_to_limits(angles: np.ndarray) -> np.ndarray:
    lim = joint_limits()
    out = np.clip(angles, lim[..., 0], lim[..., 1])
    out[..., 12, 0] = np.maximum(out[..., 12, 0], THUMB_MIN_FLEXION)
    return out


def random_pose_keyframe(rng: np.random.Generator, gesture_prob: float = 0.65) -> tuple[str, np.ndarray]:
    """A (label, (15, 3) angles) pose keyframe: a jittered gesture, or a random plausible pose
    (``sample_angles``, half-way towards the relaxed hand so it stays natural)."""
    if rng.uniform() < gesture_prob:
        names = list(GESTURES)
        weights = np.array([GESTURE_WEIGHTS.get(n, 1.0) for n in names])
        name = str(rng.choice(names, p=weights / weights.sum()))
        a = gesture_angles(name) + rng.normal(0.0, 0.05, (15, 3)) * np.array([1.0, 0.5, 0.2])
        return name, _clip_to_limits(a)
    s = sample_angles(rng, 1, margin=0.15)[0]
    s[:, 2] *= 0.3  # little twist
    t = rng.uniform(0.3, 0.7)
    return "random", _clip_to_limits(t * s + (1 - t) * GESTURES["relaxed"])


# --- interpolation -----------------------------------------------------------------------------


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def interp_smoothstep(times: np.ndarray, values: np.ndarray, t: np.ndarray, hold: float = 0.25) -> np.ndarray:
    """Piecewise smoothstep between keyframes (zero velocity at each key, held for a fraction
    ``hold`` of each interval). times (K,) ascending; values (K, ...); t (T,) -> (T, ...)."""
    t = np.asarray(t, dtype=np.float64)
    k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    span = times[k + 1] - times[k]
    x = (t - times[k]) / span
    x = (x - hold / 2) / (1.0 - hold)
    w = _smoothstep(x).reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - w) * values[k] + w * values[k + 1]


def interp_catmull_rom(times: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Centripetal-free (uniform-parameter) Catmull-Rom spline through keyframes with
    non-uniform times (tangents from neighbours). times (K,), values (K, D), t (T,) -> (T, D)."""
    t = np.asarray(t, dtype=np.float64)
    K = len(times)
    k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, K - 2)
    prev = np.clip(k - 1, 0, K - 1)
    nxt = np.clip(k + 2, 0, K - 1)
    p0, p1, p2, p3 = values[prev], values[k], values[k + 1], values[nxt]
    t0, t1, t2, t3 = times[prev], times[k], times[k + 1], times[nxt]
    h = (t2 - t1)[:, None]
    m1 = (p2 - p0) / np.maximum(t2 - t0, 1e-9)[:, None] * h
    m2 = (p3 - p1) / np.maximum(t3 - t1, 1e-9)[:, None] * h
    s = ((t - t1) / (t2 - t1))[:, None]
    s2, s3 = s * s, s * s * s
    return ((2 * s3 - 3 * s2 + 1) * p1 + (s3 - 2 * s2 + s) * m1 + (-2 * s3 + 3 * s2) * p2 + (s3 - s2) * m2)


def orientation_matrix(base: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(T, 3, 3) camera-frame hand rotations ``Rz(roll) Rx(pitch) Ry(yaw) base`` (radians);
    ``base`` from :func:`base_rotation` (or :data:`R_BASE`)."""
    yaw, pitch, roll = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (yaw, pitch, roll))
    ry = Rotation.from_euler("y", yaw[:, None]).as_matrix()
    rx = Rotation.from_euler("x", pitch[:, None]).as_matrix()
    rz = Rotation.from_euler("z", roll[:, None]).as_matrix()
    return rz @ rx @ ry @ base


@dataclass
class HandTrack:
    """Keyframes of one hand's motion: times (K,) seconds; position (K, 3) wrist in the world
    (= first camera) frame; euler (K, 3) (yaw, pitch, roll) radians; angles (K, 15, 3) in the
    right-hand convention (mirrored for a left track by :meth:`at`); labels (K,)."""

    side: str
    base: np.ndarray
    times: np.ndarray
    position: np.ndarray
    euler: np.ndarray
    angles: np.ndarray
    labels: list[str]

    def at(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Interpolated state at times t (T,): R (T, 3, 3), position (T, 3), angles (T, 15, 3)
        (this side's anatomical angles), label (T,) of the nearest keyframe."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        pos = interp_catmull_rom(self.times, self.position, t)
        eul = interp_catmull_rom(self.times, self.euler, t)
        ang = angles_for_side(interp_smoothstep(self.times, self.angles, t), self.side)
        nearest = np.abs(self.times[None, :] - t[:, None]).argmin(1)
        return {
            "R": orientation_matrix(self.base, eul[:, 0], eul[:, 1], eul[:, 2]),
            "position": pos,
            "angles": ang,
            "euler": eul,
            "label": np.array(self.labels)[nearest],
        }


@dataclass
class MotionConfig:
    """Ranges of the motion sampler (metres, radians, seconds)."""

    depth_range: tuple[float, float] = (0.3, 0.7)
    key_interval: tuple[float, float] = (0.6, 1.5)
    back_facing_prob: float = 0.35
    turn_prob: float = 0.12  # chance per keyframe that the hand turns over (palm <-> back)
    yaw_jitter: float = 0.35  # std of the turn about the vertical, clipped to +-max_yaw
    max_yaw: float = 1.0
    pitch_range: tuple[float, float] = (-0.4, 0.3)
    roll_jitter: float = 0.4  # std of the lean in the image plane, clipped to +-max_roll
    max_roll: float = 1.0
    cross_prob: float = 0.2
    gesture_prob: float = 0.65
    depth_jitter: float = 0.08
    bottom_margin: float = 0.1  # the wrist stays this fraction of the height above the bottom


def _wrist_keyframe(rng, side, cfg, K, width, height, depth_base, cross, hand_len=0.19):
    """A wrist position (world = first camera frame) with the whole hand in the image: the hand
    (``hand_len`` from wrist to fingertips, fingers roughly up) fits between the top of the image
    and ``bottom_margin`` above its bottom, and lies on its side of the image."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    bottom = height * (1.0 - cfg.bottom_margin)
    # nearest depth at which the hand still fits vertically
    z_fit = hand_len * fy / (bottom - 0.04 * height)
    lo_z = max(cfg.depth_range[0], z_fit)
    z = float(np.clip(depth_base + rng.normal(0, cfg.depth_jitter), lo_z, max(lo_z, cfg.depth_range[1])))
    length_px = hand_len * fy / z
    half_w = 0.5 * 0.6 * length_px  # half the width of a spread hand
    # the right hand is on the image's left (the person faces the camera); crossing swaps
    left_half = (side == "right") != cross
    lo, hi = (0.05, 0.58) if left_half else (0.42, 0.95)
    a, b = lo * width + half_w, hi * width - half_w
    u = rng.uniform(a, b) if b > a else 0.5 * (a + b)
    vlo = min(bottom, 0.04 * height + 0.95 * length_px)
    v = rng.uniform(vlo, bottom)
    return np.array([(u - cx) * z / fx, (v - cy) * z / fy, z])


def make_track(rng: np.random.Generator, side: str, base: np.ndarray, duration: float, K: np.ndarray,
               width: int, height: int, cfg: MotionConfig, depth_base: float,
               cross_times: list[tuple[float, float]] | None = None) -> HandTrack:
    """Random keyframes covering ``duration`` seconds (plus a margin for the spline ends)."""
    times = [-0.5]
    while times[-1] < duration + 1.0:
        times.append(times[-1] + rng.uniform(*cfg.key_interval))
    times = np.array(times)
    back = rng.uniform() < cfg.back_facing_prob
    pos, eul, ang, labels = [], [], [], []
    for t in times:
        cross = any(a <= t <= b for a, b in (cross_times or []))
        pos.append(_wrist_keyframe(rng, side, cfg, K, width, height, depth_base, cross))
        if rng.uniform() < cfg.turn_prob:  # now and then the hand turns over
            back = not back
        yaw = (np.pi if back else 0.0) + np.clip(rng.normal(0.0, cfg.yaw_jitter), -cfg.max_yaw, cfg.max_yaw)
        pitch = rng.uniform(*cfg.pitch_range)
        outward = -1.0 if side == "right" else 1.0  # hands tend to lean outwards a little
        roll = outward * 0.15 + np.clip(rng.normal(0.0, cfg.roll_jitter), -cfg.max_roll, cfg.max_roll)
        eul.append((yaw, pitch, roll))
        label, a = random_pose_keyframe(rng, cfg.gesture_prob)
        ang.append(a)
        labels.append(label)
    return HandTrack(side, base, times, np.array(pos), np.array(eul), np.array(ang), labels)


def separate_tracks(tracks: dict[str, HandTrack], min_gap: float = 0.1) -> None:
    """Keep the two wrists at least ``min_gap`` apart at every keyframe time (moves the nearer
    hand's keyframe towards the camera so crossing hands pass in front of each other)."""
    if len(tracks) < 2:
        return
    a, b = tracks["right"], tracks["left"]
    for k, t in enumerate(a.times):
        pb = b.at(np.array([t]))["position"][0]
        d = a.position[k] - pb
        lateral = np.hypot(d[0], d[1])
        if lateral < 0.12 and abs(d[2]) < min_gap:
            a.position[k, 2] = pb[2] - min_gap if d[2] <= 0 else pb[2] + min_gap
            a.position[k, 2] = max(a.position[k, 2], 0.25)


@dataclass
class CameraDrift:
    """Slow camera motion: world -> camera rotation/translation as sums of slow sinusoids."""

    rot_amp: np.ndarray  # (3,) radians
    trans_amp: np.ndarray  # (3,) metres
    freq: np.ndarray  # (6,) Hz
    phase: np.ndarray  # (6,)

    @staticmethod
    def random(rng: np.random.Generator, moving_prob: float = 0.5) -> CameraDrift:
        moving = rng.uniform() < moving_prob
        s = 1.0 if moving else 0.0
        return CameraDrift(
            rot_amp=s * rng.uniform(0.005, 0.04, 3) * np.array([1.0, 1.0, 0.5]),
            trans_amp=s * rng.uniform(0.005, 0.03, 3),
            freq=rng.uniform(0.03, 0.2, 6),
            phase=rng.uniform(0, 2 * np.pi, 6),
        )

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(R_cw (3, 3), t_cw (3,)) at time t: ``p_cam = R_cw p_world + t_cw``."""
        w = np.sin(2 * np.pi * self.freq * t + self.phase) - np.sin(self.phase)  # 0 at t = 0
        return Rotation.from_rotvec(self.rot_amp * w[:3]).as_matrix(), self.trans_amp * w[3:]
