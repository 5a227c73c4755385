"""Metric placement of a hand in the camera frame, and the wrist frame robots consume.

Frames: camera optical frame (x right, y down, z forward, metres). Joint order: ours (21).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from hand_models.geometry import undistort_pixels
from hand_perception.core.types import CameraIntrinsics

#: Default focal length (pixels) when no intrinsics are given: f = DEFAULT_FOCAL_FACTOR * max(w, h),
#: a horizontal field of view of about 53 degrees for a landscape image (typical webcams: 55-70).
DEFAULT_FOCAL_FACTOR = 1.0


def default_intrinsics(width: int, height: int) -> CameraIntrinsics:
    """Intrinsics assumed when none are given (flagged ``is_default``): principal point at the
    image centre, square pixels, f = max(width, height), no distortion."""
    f = DEFAULT_FOCAL_FACTOR * max(width, height)
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    return CameraIntrinsics(K=K, dist=np.zeros(5), width=width, height=height, is_default=True)


@dataclass
class Placement:
    """joints (21, 3) camera frame (m); translation (3,) added to the hand-centred shape;
    depth = wrist z (m); reprojection_px = RMS reprojection error of confident keypoints."""

    joints: np.ndarray
    translation: np.ndarray
    depth: float
    reprojection_px: float


def normalized_points(keypoints_px: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """(N, 2) pixels -> (N, 2) undistorted normalized image coordinates (x/z, y/z)."""
    K = np.asarray(intrinsics.K, dtype=np.float64)
    dist = np.asarray(intrinsics.dist, dtype=np.float64).reshape(-1)
    uv = np.asarray(keypoints_px, dtype=np.float64)
    if dist.size and np.any(dist != 0):
        uv = undistort_pixels(torch.from_numpy(uv), torch.from_numpy(K), torch.from_numpy(dist)).numpy()
    return np.stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1]], -1)


def _solve3(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve the 3x3 system A x = b; least-norm via pinv when A is singular (degenerate keypoints)."""
    try:
        return np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(A) @ b


def place_hand(
    shape_3d: np.ndarray,
    keypoints_px: np.ndarray,
    confidence: np.ndarray,
    intrinsics: CameraIntrinsics,
    refine_iterations: int = 3,
) -> Placement:
    """Translation t so that ``shape_3d + t`` projects onto the keypoints, by least squares.

    shape_3d (21, 3): the hand's metric shape in camera axes (any origin); keypoints_px (21, 2);
    confidence (21,) weights. A linear solve of the pinhole constraints
    ``(X + t)_x - x (X + t)_z = 0`` (and y) gives t; a few Gauss-Newton steps on the
    reprojection error in normalized coordinates refine it. Needs 2+ confident keypoints.
    """
    X = np.asarray(shape_3d, dtype=np.float64)
    w = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, None)
    ok = (w > 0) & np.isfinite(X).all(1) & np.isfinite(keypoints_px).all(1)
    if ok.sum() < 2:
        raise ValueError("metric placement needs at least 2 confident keypoints")
    xy = normalized_points(np.asarray(keypoints_px, dtype=np.float64)[ok], intrinsics)
    Xo, wo = X[ok], w[ok]
    # Linear solve: rows (1, 0, -x) t = x X_z - X_x and (0, 1, -y) t = y X_z - X_y, weighted by w;
    # normal equations (3x3), since numpy's lstsq overhead dominates at this size.
    x, y = xy[:, 0], xy[:, 1]
    bx, by = x * Xo[:, 2] - Xo[:, 0], y * Xo[:, 2] - Xo[:, 1]
    sw, swx, swy = wo.sum(), (wo * x).sum(), (wo * y).sum()
    AtA = np.array([[sw, 0.0, -swx], [0.0, sw, -swy], [-swx, -swy, (wo * (x * x + y * y)).sum()]])
    Atb = np.array([(wo * bx).sum(), (wo * by).sum(), -(wo * (x * bx + y * by)).sum()])
    t = _solve3(AtA, Atb)
    for _ in range(refine_iterations):  # Gauss-Newton on the normalized reprojection error
        P = Xo + t
        z = np.maximum(P[:, 2], 1e-3)
        u, v = P[:, 0] / z, P[:, 1] / z
        ru, rv = u - x, v - y
        iz = 1.0 / z
        # Jacobian rows: d(u)/dt = (1/z, 0, -u/z), d(v)/dt = (0, 1/z, -v/z)
        a, b, c = iz, -u * iz, -v * iz
        JtJ = np.array([[(wo * a * a).sum(), 0.0, (wo * a * b).sum()],
                        [0.0, (wo * a * a).sum(), (wo * a * c).sum()],
                        [(wo * a * b).sum(), (wo * a * c).sum(), (wo * (b * b + c * c)).sum()]])
        Jtr = np.array([(wo * a * ru).sum(), (wo * a * rv).sum(), (wo * (b * ru + c * rv)).sum()])
        step = _solve3(JtJ, -Jtr)
        t = t + step
        if np.abs(step).max() < 1e-7:
            break
    joints = X + t
    P = joints[ok]
    f = float(np.asarray(intrinsics.K)[0, 0])
    reproj = np.sqrt(np.mean((P[:, :2] / P[:, 2:3] - xy) ** 2) * 2) * f
    return Placement(joints=joints, translation=t, depth=float(joints[0, 2]), reprojection_px=float(reproj))


def wrist_frame(joints: np.ndarray, side: str) -> np.ndarray:
    """(3, 3) rotation of the wrist frame in the camera frame (columns = axes).

    x: wrist -> middle MCP (along the hand); z: palm normal pointing out of the palm; y = z x x
    (towards the pinky on a right hand, towards the thumb on a left hand). Same definition for
    both sides, right-handed.
    """
    j = np.asarray(joints, dtype=np.float64)
    x = j[9] - j[0]
    x /= np.linalg.norm(x)
    # (index MCP - wrist) x (pinky MCP - wrist) points out of the palm of a right hand
    z = np.cross(j[5] - j[0], j[17] - j[0]) * (1.0 if side == "right" else -1.0)
    z -= np.dot(z, x) * x
    z /= np.linalg.norm(z)
    y = np.cross(z, x)
    return np.stack([x, y, z], 1)


def wrist_pose(joints: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Wrist position (3,) and orientation quaternion (x, y, z, w) of :func:`wrist_frame`."""
    R = wrist_frame(joints, side)
    q = Rotation.from_matrix(R).as_quat()
    if q[3] < 0:
        q = -q
    return np.asarray(joints[0], dtype=np.float64).copy(), q
