"""Labelled synthetic bimanual motion from the procedural MANO-format hand model.

Each sequence has one action label from :data:`SYNTH_ACTIONS`: the 13 SFINGE3D gesture classes
(static hand shapes, pinch/grab/expand/tap, four swipe paths) plus a few manipulation-like and
two-hand motions (wave, reach, pull back, pour, clap, idle). The acting hand is usually the right
one; the other hand idles, is missing, or (clap) takes part; sometimes the left hand acts.

Motion model (numpy, deterministic for a seed):

* hand pose in anatomical angles (per MANO joint: flexion, abduction, twist) keyframed per action
  and interpolated by smoothstep, plus smooth per-joint jitter; ``pose_from_angles`` with each
  side's anatomical frames turns them into MANO's 45-D pose;
* wrist orientation: a random base orientation, an action-specific rotation (wave: yaw
  oscillation, pour: roll) and slow drift;
* wrist position: a random start in front of a camera, an action path (swipes, circles, reach)
  and low-frequency drift; speeds are in the range of real hand motion (0.1 - 1 m/s);
* joints by forward kinematics of the procedural model (21 joints in our order, metres), with
  random shape (betas), optional sensor noise and optional dropped frames (NaN, explicit).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial.transform import Rotation

from hand_models.fitting import ManoFitter, pose_from_angles

from .common import MotionSequence

SFINGE_GESTURES = ("one", "two", "three", "four", "OK", "pinch", "grab", "expand", "tap",
                   "swipe_left", "swipe_right", "swipe_V", "swipe_O")
EXTRA_ACTIONS = ("wave", "reach forward", "pull back", "pour", "clap", "idle")
SYNTH_ACTIONS = SFINGE_GESTURES + EXTRA_ACTIONS
TAXONOMY_NAME = "synthetic_v1"

# angle table rows (MANO order): index 0-2, middle 3-5, pinky 6-8, ring 9-11, thumb 12-14
_FINGER_ROWS = {"index": 0, "middle": 3, "pinky": 6, "ring": 9}
_SPREAD = {"index": -0.12, "middle": 0.0, "pinky": 0.22, "ring": 0.08}
EXT = (0.05, 0.05, 0.05)
CURL = (1.45, 1.55, 0.9)
HALF = (0.7, 0.8, 0.5)
T_EXT = (0.1, 0.05, 0.05)
T_FOLD = (0.8, 0.6, 0.9)


def _pose(index=EXT, middle=EXT, ring=EXT, pinky=EXT, thumb=T_EXT, spread: float = 1.0) -> np.ndarray:
    a = np.zeros((15, 3))
    for name, flex in (("index", index), ("middle", middle), ("ring", ring), ("pinky", pinky)):
        r = _FINGER_ROWS[name]
        a[r:r + 3, 0] = flex
        a[r, 1] = _SPREAD[name] * spread * (1.0 - min(flex[0], 1.2) / 1.2)
    a[12:15, 0] = thumb
    a[12, 1] = 0.3 if thumb[0] < 0.5 else -0.2
    return a


POSES = {
    "open": _pose(spread=1.6),
    "relaxed": _pose(index=(0.3, 0.4, 0.2), middle=(0.35, 0.45, 0.25), ring=(0.4, 0.5, 0.3),
                     pinky=(0.45, 0.5, 0.3), thumb=(0.3, 0.2, 0.2)),
    "fist": _pose(CURL, CURL, CURL, CURL, T_FOLD),
    "one": _pose(EXT, CURL, CURL, CURL, T_FOLD),
    "two": _pose(EXT, EXT, CURL, CURL, T_FOLD, spread=2.0),
    "three": _pose(EXT, EXT, EXT, CURL, T_FOLD, spread=1.5),
    "four": _pose(EXT, EXT, EXT, EXT, T_FOLD, spread=1.5),
    "OK": _pose((0.75, 0.95, 0.6), EXT, EXT, EXT, (0.55, 0.25, 0.5)),
    "pinch_open": _pose((0.3, 0.3, 0.2), (0.9, 1.0, 0.6), (1.1, 1.2, 0.7), (1.2, 1.3, 0.7), (0.2, 0.1, 0.1)),
    "pinch_closed": _pose((0.75, 0.95, 0.6), (0.9, 1.0, 0.6), (1.1, 1.2, 0.7), (1.2, 1.3, 0.7), (0.55, 0.25, 0.5)),
    "point": _pose(EXT, CURL, CURL, CURL, T_FOLD),
    "tap_down": _pose((0.7, 0.3, 0.1), CURL, CURL, CURL, T_FOLD),
    "grip": _pose(HALF, HALF, HALF, HALF, (0.5, 0.4, 0.4)),
}


@lru_cache(maxsize=2)
def _fitter(side: str) -> ManoFitter:
    return ManoFitter(side)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def key_interp(t: np.ndarray, times: list[float], values: list[np.ndarray]) -> np.ndarray:
    """Piecewise smoothstep interpolation of keyframe values (held outside the key range)."""
    values = [np.asarray(v, dtype=np.float64) for v in values]
    out = np.empty((len(t),) + values[0].shape)
    for i, ti in enumerate(t):
        if ti <= times[0]:
            out[i] = values[0]
            continue
        if ti >= times[-1]:
            out[i] = values[-1]
            continue
        k = int(np.searchsorted(times, ti) - 1)
        w = smoothstep(np.array((ti - times[k]) / max(times[k + 1] - times[k], 1e-9)))
        out[i] = (1 - w) * values[k] + w * values[k + 1]
    return out


def smooth_noise(rng: np.random.Generator, n: int, dim: int, fps: float, cutoff_hz: float, amp: float) -> np.ndarray:
    """Low-pass random signal (n, dim): random keys every 1/cutoff s, cubic-smooth, amplitude ~amp."""
    step = max(1, int(round(fps / cutoff_hz)))
    keys = rng.normal(0.0, amp, size=(n // step + 3, dim))
    t = np.arange(n) / step
    k = np.floor(t).astype(int)
    w = smoothstep(t - k)[:, None]
    return (1 - w) * keys[k] + w * keys[k + 1]


@dataclass
class SynthConfig:
    fps: float = 30.0
    min_duration_s: float = 2.0
    max_duration_s: float = 4.0
    p_other_hand: float = 0.6
    p_left_actor: float = 0.15
    noise_m: float = 0.001
    p_dropout_seq: float = 0.2
    dropout_max_frames: int = 6


def _action_program(rng: np.random.Generator, label: str, t: np.ndarray, onset: float, dur: float):
    """-> angles (T, 15, 3), extra rotation (T, 3) rotvec (applied in the hand frame), path (T, 3) m."""
    T = len(t)
    rel = POSES["relaxed"] + rng.normal(0, 0.08, (15, 3)) * np.array([1, 0.3, 0.3])
    path = np.zeros((T, 3))
    rot = np.zeros((T, 3))
    u = np.clip((t - onset) / dur, 0.0, 1.0)
    s = smoothstep(u)
    ang = None
    if label in ("one", "two", "three", "four", "OK"):
        ang = key_interp(t, [onset, onset + 0.4 * dur], [rel, POSES[label]])
        path = s[:, None] * rng.normal(0, 0.03, 3)
    elif label == "pinch":
        reps = rng.integers(1, 4)
        times, vals = [onset], [POSES["pinch_open"]]
        for k in range(reps):
            times += [onset + dur * (2 * k + 1) / (2 * reps), onset + dur * (2 * k + 2) / (2 * reps)]
            vals += [POSES["pinch_closed"], POSES["pinch_open"]]
        ang = key_interp(t, [onset - 0.3] + times, [rel] + vals)
    elif label == "grab":
        ang = key_interp(t, [onset, onset + 0.3 * dur, onset + dur], [rel, POSES["open"], POSES["fist"]])
    elif label == "expand":
        ang = key_interp(t, [onset, onset + 0.3 * dur, onset + dur], [rel, POSES["fist"], POSES["open"]])
    elif label == "tap":
        reps = rng.integers(1, 4)
        times, vals = [onset], [POSES["point"]]
        for k in range(reps):
            times += [onset + dur * (2 * k + 1) / (2 * reps), onset + dur * (2 * k + 2) / (2 * reps)]
            vals += [POSES["tap_down"], POSES["point"]]
        ang = key_interp(t, [onset - 0.3] + times, [rel] + vals)
        path = key_interp(t, [onset - 0.3] + times, [np.zeros(3)] + [np.array([0, 0.02 * (i % 2), 0.02 * (i % 2)]) for i in range(len(times))])
    elif label in ("swipe_left", "swipe_right", "swipe_V", "swipe_O"):
        ang = key_interp(t, [onset - 0.3, onset], [rel, POSES["open"] + rng.normal(0, 0.05, (15, 3))])
        L = rng.uniform(0.15, 0.35)
        if label == "swipe_left":
            path = s[:, None] * np.array([-L, 0.0, 0.0])
        elif label == "swipe_right":
            path = s[:, None] * np.array([L, 0.0, 0.0])
        elif label == "swipe_V":
            down = np.minimum(2 * s, 1.0)
            up = np.maximum(2 * s - 1.0, 0.0)
            path = np.stack([L * s, 0.6 * L * (down - up), np.zeros(T)], -1)
        else:
            r = L / 2.5
            phi = 2 * np.pi * s * rng.choice([-1.0, 1.0])
            path = np.stack([r * np.sin(phi), r * (1 - np.cos(phi)), np.zeros(T)], -1)
    elif label == "wave":
        ang = key_interp(t, [onset - 0.3, onset], [rel, POSES["open"]])
        f = rng.uniform(1.5, 3.0)
        amp = rng.uniform(0.3, 0.6)
        rot[:, 2] = amp * np.sin(2 * np.pi * f * np.clip(t - onset, 0, dur)) * (u < 1)
    elif label == "reach forward":
        ang = key_interp(t, [onset, onset + 0.6 * dur, onset + dur], [rel, POSES["open"], POSES["grip"]])
        path = s[:, None] * np.array([rng.normal(0, 0.05), rng.normal(0.03, 0.03), rng.uniform(0.15, 0.3)])
    elif label == "pull back":
        ang = key_interp(t, [onset - 0.2, onset], [rel, POSES["grip"]])
        path = s[:, None] * np.array([rng.normal(0, 0.05), rng.normal(-0.03, 0.03), -rng.uniform(0.15, 0.3)])
    elif label == "pour":
        ang = key_interp(t, [onset - 0.3, onset], [rel, POSES["grip"]])
        tilt = rng.uniform(1.0, 1.8) * rng.choice([-1.0, 1.0])
        rot[:, 1] = tilt * np.sin(np.pi * u)
    elif label == "clap":
        ang = key_interp(t, [onset - 0.3, onset], [rel, POSES["open"]])
    else:  # idle
        ang = np.repeat(rel[None], T, 0)
        path = smooth_noise(rng, T, 3, 30.0, 1.0, 0.02)
    return ang, rot, path


def _place_hand(rng: np.random.Generator, side: str, angles: np.ndarray, rot: np.ndarray, path: np.ndarray,
                base_rot: Rotation, start: np.ndarray, fps: float, betas: np.ndarray) -> np.ndarray:
    f = _fitter(side)
    T = len(angles)
    angles = angles + smooth_noise(rng, T, 45, fps, 2.0, 0.04).reshape(T, 15, 3) * np.array([1.0, 0.3, 0.3])
    if side == "left":
        angles = angles * np.array([1.0, -1.0, -1.0])  # same anatomy on the mirrored side
    hand_pose = pose_from_angles(angles, f.frames)
    drift_rot = smooth_noise(rng, T, 3, fps, 0.7, 0.12)
    Rg = Rotation.from_rotvec(drift_rot) * base_rot * Rotation.from_rotvec(rot)
    R = np.concatenate([Rg.as_matrix()[:, None], Rotation.from_rotvec(hand_pose.reshape(-1, 3)).as_matrix().reshape(T, 15, 3, 3)], 1)
    wrist = start + path + smooth_noise(rng, T, 3, fps, 0.8, 0.015)
    J0 = f.rest_joints[0] + np.einsum("jcs,s->jc", f.joint_shapedirs, betas)[0]
    joints = f._forward(R, np.repeat(betas[None], T, 0), wrist - J0)[0]
    return joints


def base_orientation(rng: np.random.Generator, side: str) -> Rotation:
    """Random hand orientation around 'fingers up, palm towards the camera' (either way round)."""
    # model rest: right fingers along +x, palm -y; map fingers -> camera -y, palm normal -> -z
    src = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]) * (np.array([[1.0], [1.0]]) if side == "right" else np.array([[-1.0], [1.0]]))
    dst = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    R0, _ = Rotation.align_vectors(dst, src)
    jitter = Rotation.from_rotvec(rng.normal(0, 0.6, 3))
    flip = Rotation.from_rotvec([0.0, np.pi, 0.0]) if rng.random() < 0.3 else Rotation.identity()
    return jitter * flip * R0


def generate_sequence(rng: np.random.Generator, label: str | None = None, cfg: SynthConfig | None = None,
                      name: str = "synthetic") -> MotionSequence:
    cfg = cfg or SynthConfig()
    label = label if label is not None else str(rng.choice(SYNTH_ACTIONS))
    dur_total = rng.uniform(cfg.min_duration_s, cfg.max_duration_s)
    T = int(round(dur_total * cfg.fps))
    t = np.arange(T) / cfg.fps
    onset = rng.uniform(0.1, 0.4) * dur_total
    dur = rng.uniform(0.5, 0.9) * (dur_total - onset)
    actor = "left" if rng.random() < cfg.p_left_actor else "right"
    other = "right" if actor == "left" else "left"
    joints = np.full((T, 2, 21, 3), np.nan)
    sides = ("left", "right")
    start = {"right": np.array([rng.uniform(-0.25, 0.05), rng.uniform(-0.1, 0.15), rng.uniform(0.35, 0.7)])}
    start["left"] = start["right"] + np.array([rng.uniform(0.15, 0.35), rng.normal(0, 0.05), rng.normal(0, 0.05)])
    betas = {s: rng.normal(0, 0.8, 10) for s in sides}
    ang, rot, path = _action_program(rng, label, t, onset, dur)
    if actor == "left":
        path = path * np.array([-1.0, 1.0, 1.0])
    joints[:, sides.index(actor)] = _place_hand(rng, actor, ang, rot, path, base_orientation(rng, actor), start[actor], cfg.fps, betas[actor])
    if label == "clap" or rng.random() < cfg.p_other_hand:
        if label == "clap":
            reps = int(rng.integers(2, 5))
            phase = np.clip((t - onset) / dur, 0, 1)
            gap = (start["left"] - start["right"])
            closing = 0.5 * (1 - np.cos(2 * np.pi * reps * phase)) * 0.45
            p_actor = closing[:, None] * gap * (1 if actor == "right" else -1)
            joints[:, sides.index(actor)] += (p_actor - path)[:, None] if actor == "right" else (-p_actor - path)[:, None]
            ang2, rot2 = ang, rot
            path2 = -closing[:, None] * gap * (1 if other == "left" else -1)
        else:
            ang2, rot2, path2 = _action_program(rng, "idle", t, onset, dur)
        joints[:, sides.index(other)] = _place_hand(rng, other, ang2, rot2, path2, base_orientation(rng, other), start[other], cfg.fps, betas[other])
    joints = joints + rng.normal(0, cfg.noise_m, joints.shape)
    if rng.random() < cfg.p_dropout_seq:
        s = int(rng.integers(0, 2))
        a = int(rng.integers(0, max(1, T - cfg.dropout_max_frames)))
        joints[a:a + int(rng.integers(1, cfg.dropout_max_frames + 1)), s] = np.nan
    return MotionSequence(name=name, joints=joints, fps=cfg.fps, label=label, verb=label, noun="",
                          segments=[], source="synthetic", meta={"actor": actor, "onset_s": onset, "action_s": dur})


def generate_dataset(n: int, seed: int = 0, cfg: SynthConfig | None = None, balanced: bool = True) -> list[MotionSequence]:
    """n labelled sequences (labels cycle through the taxonomy when ``balanced``)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = SYNTH_ACTIONS[i % len(SYNTH_ACTIONS)] if balanced else None
        out.append(generate_sequence(rng, label, cfg, name=f"synthetic/{seed}/{i:05d}"))
    return out
