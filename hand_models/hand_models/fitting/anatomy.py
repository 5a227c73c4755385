"""Anatomical joint frames and limits of MANO-format hands, and plausible pose sampling.

Each articulated MANO joint j (1..15) gets a frame from the model's rest joints: flexion axis,
abduction axis (palm normal) and twist axis (bone direction); a local axis-angle rotation
``aa_j`` (in the rest frame, as MANO's pose is) has anatomical angles ``frames[j] @ aa_j``
(flexion positive towards the palm). The limits below are soft ranges used by the inverse
kinematics prior and by the synthetic pose sampler.
"""

from __future__ import annotations

import numpy as np

#: MANO finger groups in native order (index, middle, pinky, ring, thumb): joints base -> distal.
FINGER_GROUPS = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12], [13, 14, 15]])
GROUP_NAMES = ("index", "middle", "pinky", "ring", "thumb")

#: Ranges (radians) of (flexion, abduction, twist) per level: finger MCP, PIP, DIP.
FINGER_LIMITS = np.array([
    [[-0.5, 1.75], [-0.45, 0.45], [-0.25, 0.25]],
    [[-0.15, 2.0], [-0.15, 0.15], [-0.15, 0.15]],
    [[-0.35, 1.5], [-0.15, 0.15], [-0.15, 0.15]],
])
#: Thumb CMC, MCP, IP.
THUMB_LIMITS = np.array([
    [[-0.8, 1.2], [-0.9, 0.9], [-0.8, 0.8]],
    [[-0.5, 1.2], [-0.3, 0.3], [-0.3, 0.3]],
    [[-0.5, 1.6], [-0.15, 0.15], [-0.2, 0.2]],
])


def joint_limits() -> np.ndarray:
    """(15, 3, 2) [low, high] of (flexion, abduction, twist) for MANO joints 1..15."""
    limits = np.zeros((15, 3, 2))
    per_group = np.concatenate([np.tile(FINGER_LIMITS, (4, 1, 1)), THUMB_LIMITS])  # group order
    limits[FINGER_GROUPS.reshape(-1) - 1] = per_group
    return limits


def anatomical_frames(rest_joints16: np.ndarray, rest_tips: np.ndarray, side: str) -> np.ndarray:
    """(15, 3, 3) per articulated joint: rows = flexion, abduction and twist axes (rest frame).

    Twist is the bone direction, abduction the palm normal (towards the palm) made orthogonal
    to it, flexion their cross product, so rotating about it curls the finger towards the palm
    for both sides. rest_joints16 (16, 3) MANO order; rest_tips (5, 3) in group order (index,
    middle, pinky, ring, thumb). Works for any MANO-format model (it only uses rest joints).
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    wrist, index_mcp, pinky_mcp = rest_joints16[0], rest_joints16[1], rest_joints16[7]
    normal = np.cross(index_mcp - wrist, pinky_mcp - wrist)
    normal *= 1.0 if side == "right" else -1.0
    normal /= np.linalg.norm(normal)
    frames = np.zeros((15, 3, 3))
    for g, joints in enumerate(FINGER_GROUPS):
        chain = [rest_joints16[j] for j in joints] + [rest_tips[g]]
        for level, j in enumerate(joints):
            d = chain[level + 1] - chain[level]
            d /= np.linalg.norm(d)
            n = normal - np.dot(normal, d) * d
            n /= np.linalg.norm(n)
            frames[j - 1] = np.stack([np.cross(d, n), n, d])
    return frames


def pose_from_angles(angles: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Hand pose (..., 45) axis-angle from anatomical angles (..., 15, 3) and frames (15, 3, 3)."""
    return np.einsum("jac,...ja->...jc", frames, angles).reshape(angles.shape[:-2] + (45,))


def angles_from_pose(hand_pose: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Anatomical angles (..., 15, 3) of a hand pose (..., 45) (inverse of pose_from_angles)."""
    aa = hand_pose.reshape(hand_pose.shape[:-1] + (15, 3))
    return np.einsum("jac,...jc->...ja", frames, aa)


def sample_angles(rng: np.random.Generator, n: int, margin: float = 0.1, coupled: bool = True) -> np.ndarray:
    """(n, 15, 3) anatomical angles inside the limits (shrunk by ``margin`` of each range).

    With ``coupled``, PIP and DIP flexion follow the MCP partly (as real fingers do) so samples
    look like hands rather than noise.
    """
    lim = joint_limits()
    lo = lim[..., 0] + margin * (lim[..., 1] - lim[..., 0])
    hi = lim[..., 1] - margin * (lim[..., 1] - lim[..., 0])
    u = rng.uniform(size=(n, 15, 3))
    if coupled:
        for joints in FINGER_GROUPS:
            base = u[:, joints[0] - 1, 0]
            for j in joints[1:]:
                u[:, j - 1, 0] = np.clip(0.6 * base + 0.4 * u[:, j - 1, 0], 0.0, 1.0)
    return lo + u * (hi - lo)
