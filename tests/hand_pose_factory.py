"""Synthetic 21-joint hands from a small kinematic model, for gesture and filter tests.

Hand-local frame of a right hand: origin at the wrist, +y along the palm towards the middle MCP,
+x towards the thumb side (radial), +z out of the palm (palmar side). A left hand is the mirror
image (x -> -x). Fingers (index..pinky) are chains MCP -> PIP -> DIP -> tip that leave the MCP in
the palm plane (rotated by a spread angle about z) and flex towards +z at MCP, PIP and DIP. The
thumb is CMC -> MCP -> IP -> tip with each bone direction given by an azimuth (from +y towards
+x) and an elevation (towards +z), or, for touching poses, bent by two-bone IK so that its tip
meets the index tip. Lengths are an adult hand's (hand size ~9 cm), in metres.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

MCP = {
    "index": np.array([0.024, 0.086, 0.0]),
    "middle": np.array([0.003, 0.089, 0.0]),
    "ring": np.array([-0.016, 0.083, 0.0]),
    "pinky": np.array([-0.033, 0.073, 0.0]),
}
LENGTHS = {
    "index": (0.040, 0.024, 0.020),
    "middle": (0.044, 0.028, 0.022),
    "ring": (0.041, 0.027, 0.021),
    "pinky": (0.032, 0.020, 0.018),
}
SPREAD = {"index": 6.0, "middle": 0.0, "ring": -6.0, "pinky": -12.0}
THUMB_CMC = np.array([0.022, 0.022, 0.006])
THUMB_LENGTHS = (0.042, 0.034, 0.029)

EXT = (5.0, 5.0, 3.0)
CURL = (85.0, 100.0, 65.0)

THUMB_OPEN = ((55.0, 20.0), (60.0, 10.0), (62.0, 5.0))
THUMB_OUT = ((75.0, 20.0), (85.0, 5.0), (88.0, 0.0))  # sticking out radially (thumbs up, call)
THUMB_TUCKED = ((35.0, 45.0), (-10.0, 55.0), (-70.0, 30.0))  # over the curled index/middle
THUMB_ACROSS = ((20.0, 40.0), (-60.0, 25.0), (-80.0, 10.0))  # across the palm (four)
THUMB_HOLD = ((25.0, 45.0), (-40.0, 50.0), (-85.0, 25.0))  # holding ring/pinky (victory, three)

# label -> (per-finger flexion, thumb spec or "touch", spread overrides)
CANONICAL: dict[str, tuple[dict, object, dict]] = {
    "open_palm": (dict(index=EXT, middle=EXT, ring=EXT, pinky=EXT), THUMB_OPEN, {}),
    "fist": (dict(index=CURL, middle=CURL, ring=CURL, pinky=CURL), THUMB_TUCKED, {}),
    "pinch": (dict(index=(50.0, 50.0, 25.0), middle=CURL, ring=CURL, pinky=CURL), "touch", {}),
    "point": (dict(index=EXT, middle=CURL, ring=CURL, pinky=CURL), THUMB_HOLD, {}),
    "thumbs_up": (dict(index=CURL, middle=CURL, ring=CURL, pinky=CURL), THUMB_OUT, {}),
    "thumbs_down": (dict(index=CURL, middle=CURL, ring=CURL, pinky=CURL), THUMB_OUT, {}),
    "victory": (dict(index=EXT, middle=EXT, ring=CURL, pinky=CURL), THUMB_HOLD, dict(index=12.0, middle=-6.0)),
    "ok": (dict(index=(50.0, 60.0, 40.0), middle=EXT, ring=EXT, pinky=EXT), "touch", {}),
    "call": (dict(index=CURL, middle=CURL, ring=CURL, pinky=EXT), THUMB_OUT, dict(pinky=-25.0)),
    "rock": (dict(index=EXT, middle=CURL, ring=CURL, pinky=EXT), THUMB_HOLD, {}),
    "three": (dict(index=EXT, middle=EXT, ring=EXT, pinky=CURL), THUMB_HOLD, {}),
    "four": (dict(index=EXT, middle=EXT, ring=EXT, pinky=EXT), THUMB_ACROSS, {}),
}

LABELS = tuple(CANONICAL)


def _dir(az_deg: float, el_deg: float) -> np.ndarray:
    a, e = math.radians(az_deg), math.radians(el_deg)
    return np.array([math.sin(a) * math.cos(e), math.cos(a) * math.cos(e), math.sin(e)])


def finger_chain(name: str, flex_deg, spread_deg: float | None = None) -> np.ndarray:
    """(4, 3) MCP, PIP, DIP, tip of one finger in the right-hand local frame."""
    spread = math.radians(SPREAD[name] if spread_deg is None else spread_deg)
    pts = [MCP[name]]
    theta = 0.0
    for flex, length in zip(flex_deg, LENGTHS[name]):
        theta += math.radians(flex)
        # flexion in the finger's plane (spanned by its spread direction and +z)
        d = np.array([math.sin(spread) * math.cos(theta), math.cos(spread) * math.cos(theta), math.sin(theta)])
        pts.append(pts[-1] + length * d)
    return np.stack(pts)


def _two_bone(root: np.ndarray, target: np.ndarray, l1: float, l2: float, hint: np.ndarray) -> np.ndarray:
    """Middle joint of a two-bone chain from ``root`` reaching ``target``, bent towards ``hint``."""
    v = target - root
    d = float(np.linalg.norm(v))
    u = v / d
    if d >= l1 + l2:
        return root + u * l1
    a = (l1 * l1 - l2 * l2 + d * d) / (2 * d)
    h = math.sqrt(max(l1 * l1 - a * a, 0.0))
    perp = hint - np.dot(hint, u) * u
    perp /= np.linalg.norm(perp)
    return root + u * a + perp * h


def local_hand(label: str) -> np.ndarray:
    """(21, 3) joints of a right hand making ``label`` in the hand-local frame."""
    flex, thumb, spreads = CANONICAL[label]
    j = np.zeros((21, 3))
    for name, idx in (("index", 5), ("middle", 9), ("ring", 13), ("pinky", 17)):
        j[idx : idx + 4] = finger_chain(name, flex[name], spreads.get(name))
    j[1] = THUMB_CMC
    if thumb == "touch":
        j[2] = THUMB_CMC + THUMB_LENGTHS[0] * _dir(35.0, 40.0)
        tip_target = j[8] + np.array([0.004, 0.0, 0.006])
        j[3] = _two_bone(j[2], tip_target, THUMB_LENGTHS[1], THUMB_LENGTHS[2], hint=np.array([1.0, 0.0, 0.3]))
        j[4] = j[3] + THUMB_LENGTHS[2] * (tip_target - j[3]) / np.linalg.norm(tip_target - j[3])
    else:
        for k, ((az, el), length) in enumerate(zip(thumb, THUMB_LENGTHS)):
            j[2 + k] = j[1 + k] + length * _dir(az, el)
    return j


def mirror(local: np.ndarray) -> np.ndarray:
    out = np.array(local, copy=True)
    out[..., 0] *= -1.0
    return out


def thumb_direction(local: np.ndarray) -> np.ndarray:
    d = local[4] - local[2]
    return d / np.linalg.norm(d)


def rotation_for(label: str, side: str, rng: np.random.Generator, max_tilt_deg: float = 25.0) -> Rotation:
    """Random orientation; for thumbs_up/down the thumb points within ``max_tilt_deg`` of image
    up (-y) / down (+y) of the camera optical frame."""
    if label not in ("thumbs_up", "thumbs_down"):
        return Rotation.random(random_state=int(rng.integers(2**31)))
    local = local_hand(label)
    if side == "left":
        local = mirror(local)
    target = np.array([0.0, -1.0, 0.0]) if label == "thumbs_up" else np.array([0.0, 1.0, 0.0])
    align, _ = Rotation.align_vectors(target[None], thumb_direction(local)[None])
    spin = Rotation.from_rotvec(target * rng.uniform(-math.pi, math.pi))
    axis = np.cross(target, rng.normal(size=3))
    axis /= np.linalg.norm(axis)
    tilt = Rotation.from_rotvec(axis * math.radians(rng.uniform(0.0, max_tilt_deg)))
    return tilt * spin * align


def make_hand(
    label: str,
    side: str = "right",
    rotation: Rotation | None = None,
    translation=(0.0, 0.0, 0.5),
    scale: float = 1.0,
    noise_m: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """(21, 3) camera-frame joints of ``side`` hand making ``label``."""
    local = local_hand(label) * scale
    if side == "left":
        local = mirror(local)
    r = rotation if rotation is not None else Rotation.identity()
    j = r.apply(local) + np.asarray(translation, dtype=np.float64)
    if noise_m > 0:
        j = j + (rng or np.random.default_rng(0)).normal(scale=noise_m, size=j.shape)
    return j


def wrist_quaternion(rotation: Rotation) -> np.ndarray:
    return rotation.as_quat()


def hand_state(
    side: str = "right",
    track_id: int = 1,
    rotation: Rotation | None = None,
    position=(0.0, 0.0, 0.5),
    label: str = "open_palm",
    hand_pose: np.ndarray | None = None,
    confidence: float = 0.9,
    with_mano: bool = True,
):
    """A complete :class:`HandState` whose joints are ``label``'s pose placed at ``position``
    (the wrist) with orientation ``rotation``; 2D keypoints are a pinhole projection
    (f = 600 px, c = (320, 240)); MANO parameters are consistent placeholders."""
    from hand_perception.core.types import HandState, ManoParams

    r = rotation if rotation is not None else Rotation.identity()
    pos = np.asarray(position, dtype=np.float64)
    joints = make_hand(label, side, r, translation=pos)
    uv = 600.0 * joints[:, :2] / joints[:, 2:3] + np.array([320.0, 240.0])
    bbox = np.concatenate([uv.min(axis=0), uv.max(axis=0)])
    mano = None
    if with_mano:
        mano = ManoParams(
            global_orient=r.as_rotvec(),
            hand_pose=np.zeros(45) if hand_pose is None else np.asarray(hand_pose, dtype=np.float64),
            betas=np.zeros(10),
            transl=pos - np.array([0.0, 0.01, 0.0]),
        )
    return HandState(
        side=side,
        track_id=track_id,
        confidence=confidence,
        keypoints_2d=uv,
        keypoint_confidence=np.full(21, 0.8),
        joints=joints,
        wrist_position=pos.copy(),
        wrist_orientation_xyzw=r.as_quat(),
        mano=mano,
        bbox=bbox,
        is_observed=True,
        depth=float(pos[2]),
        model="procedural",
    )
