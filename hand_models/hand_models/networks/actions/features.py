"""Per-frame skeleton features for action recognition from one hand's 3D joints (pure numpy).

Input: joints ``(T, 2, 21, 3)`` in metres (camera or world frame, side 0 = left, 1 = right, NaN =
missing), our ``canonical21`` joint order (see :mod:`hand_models.joints`), sampled at ``fps``.

Steps (:func:`window_features`):

1. **Hand choice and mirroring**: the side with more valid frames in the window (right on a tie);
   a left hand is mirrored (x -> -x) into a right hand, so one model covers both hands.
2. **Gap filling**: a frame counts when at least :data:`MIN_VALID_JOINTS` joints are finite; each
   joint is linearly interpolated over time between counted frames (held at the ends). A window
   with no counted frame raises ``ValueError``.
3. **Frame features** (``FEATURE_GROUPS``), with ``R`` the wrist frame (x: wrist -> middle MCP,
   z: palm normal from index and pinky MCPs, y = z x x):
   ``local`` (60) joints 1..20 in the wrist frame, relative to the wrist; ``rel`` (60) joints 1..20
   relative to the wrist in the input frame; ``rot`` (6) the first two columns of ``R``; ``wrist``
   (3) the wrist relative to its mean over the window; ``vel_local``/``vel_rel``/``vel_wrist``/
   ``vel_rot`` their time derivatives (per second, at the native rate); ``duration`` (1) log of
   the window length in seconds; ``jcd`` (210) the distances between all joint pairs.
4. **Temporal resampling** of every feature to ``length`` frames spread evenly over the window.

The output ``(length, F)`` is what the recognisers take (see :mod:`.model`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JOINT_LAYOUT = "canonical21"
MIN_VALID_JOINTS = 12
#: feature groups and their widths, in output order
FEATURE_GROUPS: dict[str, int] = {
    "local": 60, "rel": 60, "rot": 6, "wrist": 3,
    "vel_local": 60, "vel_rel": 60, "vel_wrist": 3, "vel_rot": 6, "duration": 1, "jcd": 210,
}
_IU = np.triu_indices(21, 1)
MIDDLE_MCP, INDEX_MCP, PINKY_MCP = 9, 5, 17


def feature_dim(groups: tuple[str, ...]) -> int:
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown:
        raise ValueError(f"unknown feature groups {unknown}; known: {list(FEATURE_GROUPS)}")
    return sum(FEATURE_GROUPS[g] for g in groups)


@dataclass(frozen=True)
class FeatureConfig:
    """length: frames after resampling; groups: feature groups in order (see module docstring)."""

    length: int = 32
    groups: tuple[str, ...] = tuple(FEATURE_GROUPS)

    @property
    def dim(self) -> int:
        return feature_dim(self.groups)

    def to_dict(self) -> dict:
        return {"length": self.length, "groups": list(self.groups)}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        return cls(length=int(d["length"]), groups=tuple(d["groups"]))


def mirror(joints: np.ndarray) -> np.ndarray:
    """Mirror joints (..., 3) through the y-z plane (x -> -x): a right hand becomes a left one."""
    out = np.array(joints, dtype=np.float64, copy=True)
    out[..., 0] = -out[..., 0]
    return out


def select_hand(joints: np.ndarray) -> tuple[np.ndarray, str]:
    """joints (T, 2, 21, 3) -> one hand (T, 21, 3) as a right hand (a left one mirrored), and its side."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 4 or joints.shape[1:] != (2, 21, 3):
        raise ValueError(f"joints must be shaped (T, 2, 21, 3) ({JOINT_LAYOUT}), got {joints.shape}")
    counted = np.isfinite(joints).all(-1).sum(-1) >= MIN_VALID_JOINTS  # (T, 2)
    n_left, n_right = counted[:, 0].sum(), counted[:, 1].sum()
    if n_left == 0 and n_right == 0:
        raise ValueError("no hand with enough valid joints in the window")
    if n_left > n_right:
        return mirror(joints[:, 0]), "left"
    return joints[:, 1].copy(), "right"


def fill_gaps(hand: np.ndarray) -> np.ndarray:
    """(T, 21, 3) with NaN -> filled: per joint linear interpolation between frames that have at
    least MIN_VALID_JOINTS finite joints (held constant at the ends)."""
    hand = np.asarray(hand, dtype=np.float64)
    T = hand.shape[0]
    ok_frame = np.isfinite(hand).all(-1).sum(-1) >= MIN_VALID_JOINTS
    if not ok_frame.any():
        raise ValueError("no frame with enough valid joints")
    fin = np.isfinite(hand).all(-1)  # (T, 21)
    out = hand.copy()
    t = np.arange(T)
    for j in range(hand.shape[1]):
        ok = ok_frame & fin[:, j]
        if ok.all():
            continue
        if not ok.any():  # a joint never seen: take the wrist (keeps features finite)
            ok = ok_frame & np.isfinite(hand[:, 0]).all(-1)
            src = hand[:, 0]
        else:
            src = hand[:, j]
        if not ok.any():
            raise ValueError("no frame with a valid wrist or joint")
        for c in range(3):
            out[:, j, c] = np.interp(t, t[ok], src[ok, c])
    return out


def wrist_frames(hand: np.ndarray) -> np.ndarray:
    """(T, 21, 3) right-hand joints -> wrist-frame rotations (T, 3, 3) (columns = axes in the input frame)."""
    w = hand[:, 0]
    x = hand[:, MIDDLE_MCP] - w
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    n = np.cross(hand[:, INDEX_MCP] - w, hand[:, PINKY_MCP] - w)
    z = n - (n * x).sum(-1, keepdims=True) * x
    z = z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-9)
    y = np.cross(z, x)
    return np.stack([x, y, z], -1)


def frame_features(hand: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """Filled right-hand joints (T, 21, 3) metres -> {group: (T, width)} at the native rate."""
    T = hand.shape[0]
    w = hand[:, :1]
    rel = hand[:, 1:] - w  # (T, 20, 3)
    R = wrist_frames(hand)
    local = np.einsum("tij,tkj->tki", np.swapaxes(R, 1, 2), rel)  # R^T rel
    rot = np.concatenate([R[:, :, 0], R[:, :, 1]], -1)
    wrist = hand[:, 0] - hand[:, 0].mean(0)
    g = {"local": local.reshape(T, -1), "rel": rel.reshape(T, -1), "rot": rot, "wrist": wrist}

    def vel(x: np.ndarray) -> np.ndarray:
        return np.gradient(x, axis=0) * fps if T > 1 else np.zeros_like(x)

    g["vel_local"], g["vel_rel"], g["vel_wrist"], g["vel_rot"] = vel(g["local"]), vel(g["rel"]), vel(g["wrist"]), vel(rot)
    g["duration"] = np.full((T, 1), np.log(max(T, 1) / fps))
    d = np.linalg.norm(hand[:, :, None] - hand[:, None], axis=-1)  # (T, 21, 21)
    g["jcd"] = d[:, _IU[0], _IU[1]]
    return g


def resample_time(x: np.ndarray, length: int) -> np.ndarray:
    """(T, F) -> (length, F) by linear interpolation at ``length`` evenly spread times."""
    T = x.shape[0]
    if T == 1:
        return np.repeat(x, length, 0)
    pos = np.linspace(0.0, T - 1, length)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, T - 1)
    a = (pos - i0)[:, None]
    return (1 - a) * x[i0] + a * x[i1]


def window_features(joints: np.ndarray, fps: float, cfg: FeatureConfig) -> np.ndarray:
    """Both hands (T, 2, 21, 3) metres at ``fps`` -> features (cfg.length, cfg.dim) float32."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    hand, _ = select_hand(joints)
    hand = fill_gaps(hand)
    g = frame_features(hand, fps)
    x = np.concatenate([g[name] for name in cfg.groups], -1)
    return resample_time(x, cfg.length).astype(np.float32)
