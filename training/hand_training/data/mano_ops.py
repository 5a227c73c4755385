"""MANO parameter-vector operations shared by datasets and models (numpy, float64).

A MANO vector is [global_orient (3), hand_pose (45), betas (10), transl (3)] (61), axis-angle,
flat-hand relative, in some camera/world frame.  The wrist joint of the posed hand is
``rest_wrist(betas) + transl`` and ``global_orient`` rotates about it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.spatial.transform import Rotation

#: mirror across the camera's y-z plane (x -> -x): the image's horizontal flip
MIRROR = np.diag([-1.0, 1.0, 1.0])


@lru_cache(maxsize=4)
def _wrist_model(side: str, model_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    from hand_models.mano import load_mano_model

    data = load_mano_model(side, model_dir)
    J0 = data.J_regressor[0] @ data.v_template
    S0 = np.einsum("v,vcs->cs", data.J_regressor[0], data.shapedirs)
    return np.asarray(J0, np.float64), np.asarray(S0, np.float64)


def rest_wrist(betas: np.ndarray, side: str, model_dir: str | None = None) -> np.ndarray:
    """Wrist joint (..., 3) of the unposed hand of shape ``betas`` (..., 10) at zero translation."""
    J0, S0 = _wrist_model(side, model_dir)
    return J0 + np.einsum("cs,...s->...c", S0, betas)


def transform_mano(x: np.ndarray, R: np.ndarray, t: np.ndarray, side: str, model_dir: str | None = None) -> np.ndarray:
    """Express MANO vectors (..., 61) in another frame: p' = R p + t (R (..., 3, 3) or (3, 3))."""
    x = np.array(x, dtype=np.float64, copy=True)
    R = np.broadcast_to(R, x.shape[:-1] + (3, 3))
    t = np.broadcast_to(t, x.shape[:-1] + (3,))
    go = Rotation.from_rotvec(x[..., :3].reshape(-1, 3)).as_matrix().reshape(x.shape[:-1] + (3, 3))
    x[..., :3] = Rotation.from_matrix((R @ go).reshape(-1, 3, 3)).as_rotvec().reshape(x.shape[:-1] + (3,))
    j0 = rest_wrist(x[..., 48:58], side, model_dir)
    wrist = j0 + x[..., 58:61]
    x[..., 58:61] = np.einsum("...ij,...j->...i", R, wrist) + t - j0
    return x


def flip_mano(x: np.ndarray, from_side: str, model_dir: str | None = None) -> np.ndarray:
    """Mirror MANO vectors of ``from_side`` (x -> -x) into the other side's model.

    Rotations mirror as (a, b, c) -> (a, -b, -c); the translation keeps the mirrored wrist.
    """
    to_side = "left" if from_side == "right" else "right"
    x = np.array(x, dtype=np.float64, copy=True)
    out = x.copy()
    out[..., :48] = (x[..., :48].reshape(x.shape[:-1] + (16, 3)) * np.array([1.0, -1.0, -1.0])).reshape(x.shape[:-1] + (48,))
    wrist = rest_wrist(x[..., 48:58], from_side, model_dir) + x[..., 58:61]
    out[..., 58:61] = wrist @ MIRROR - rest_wrist(x[..., 48:58], to_side, model_dir)
    return out


def mirror_pixels(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels of the mirrored camera (x -> -x in the optical frame): u' = 2 cx - u (+ skew-free K)."""
    out = np.array(uv, dtype=np.float64, copy=True)
    out[..., 0] = 2.0 * K[0, 2] - out[..., 0]
    return out


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection (..., 3) -> (..., 2) pixels (no distortion)."""
    z = np.maximum(points[..., 2:3], 1e-6)
    return (points[..., :2] / z) * np.array([K[0, 0], K[1, 1]]) + np.array([K[0, 2], K[1, 2]])


def normalize_kp2d(uv: np.ndarray, K: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """2D keypoints in pixels -> UniHand's condition coordinates.

    "resolution": divided by (width, height) into [0, 1] (paper); "intrinsics": K^-1 [u, v, 1]
    (normalised camera coordinates, independent of the camera).
    """
    uv = np.asarray(uv, dtype=np.float64)
    if mode == "resolution":
        return uv / np.array(size, dtype=np.float64)
    if mode == "intrinsics":
        return (uv - np.array([K[0, 2], K[1, 2]])) / np.array([K[0, 0], K[1, 1]])
    raise ValueError(f"unknown 2D normalisation {mode!r}")


def unwrap_rotvec(rv: np.ndarray) -> np.ndarray:
    """Make a sequence of rotation vectors (N, 3) continuous in time: each frame takes the
    equivalent vector (r - 2 pi k r/|r|) nearest to the previous one (axis-angle wraps at pi)."""
    rv = np.array(rv, dtype=np.float64, copy=True)
    for i in range(1, len(rv)):
        th = np.linalg.norm(rv[i])
        if th < 1e-9:
            continue
        axis = rv[i] / th
        cands = [axis * (th + 2 * np.pi * k) for k in (-2, -1, 0, 1)]
        rv[i] = min(cands, key=lambda c: float(np.sum((c - rv[i - 1]) ** 2)))
    return rv
