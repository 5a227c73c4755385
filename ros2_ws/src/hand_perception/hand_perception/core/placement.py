"""Metric placement of a hand in the camera frame, and the wrist frame robots consume.

Frames: camera optical frame (x right, y down, z forward, metres). Joint order: ours (21).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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
    depth = wrist z (m); reprojection_px = RMS reprojection error of confident keypoints;
    depth_std = 1-sigma uncertainty of depth (m, NaN: not estimated); keypoints_px (21, 2) the
    keypoints the hand was placed on (None: the caller's)."""

    joints: np.ndarray
    translation: np.ndarray
    depth: float
    reprojection_px: float
    depth_std: float = float("nan")
    keypoints_px: np.ndarray | None = None


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


def _cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two (3,) vectors (np.cross's overhead dominates at this size)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def wrist_frame(joints: np.ndarray, side: str) -> np.ndarray:
    """(3, 3) rotation of the wrist frame in the camera frame (columns = axes).

    x: wrist -> middle MCP (along the hand); z: palm normal pointing out of the palm; y = z x x
    (towards the pinky on a right hand, towards the thumb on a left hand). Same definition for
    both sides, right-handed.
    """
    j = np.asarray(joints, dtype=np.float64)
    x = j[9] - j[0]
    x = x / np.sqrt(x @ x)
    # (index MCP - wrist) x (pinky MCP - wrist) points out of the palm of a right hand
    z = _cross3(j[5] - j[0], j[17] - j[0]) * (1.0 if side == "right" else -1.0)
    z = z - (z @ x) * x
    z = z / np.sqrt(z @ z)
    y = _cross3(z, x)
    return np.stack([x, y, z], 1)


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> unit quaternion (x, y, z, w) with w >= 0 (Shepperd's method)."""
    m = np.asarray(R, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s])
    q = q / np.sqrt(q @ q)
    return -q if q[3] < 0 else q


def wrist_pose(joints: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Wrist position (3,) and orientation quaternion (x, y, z, w) of :func:`wrist_frame`."""
    return np.asarray(joints[0], dtype=np.float64).copy(), matrix_to_quaternion(wrist_frame(joints, side))


# --- monocular scale: a constant hand size per track -------------------------------------------

#: Parent of each joint in our 21-joint order (-1 for the wrist): the 20 bones are (PARENT[j], j).
PARENT = np.array([-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19])
#: The joints of the hand length: wrist -> middle MCP -> PIP -> DIP -> tip.
LENGTH_CHAIN = np.array([0, 9, 10, 11, 12])

#: How far MediaPipe's 2D keypoints spread about their centroid compared with skeleton joints:
#: the landmark network puts the wrist, the thumb base and the fingertips on the visible skin,
#: inside the joint positions (rendered MANO-format hands: median RMS-spread ratio 0.945 over 412
#: tracked hands; RHD renders, a different skeleton: 0.89-0.94). A hand of the right size placed on
#: the raw keypoints lands 1 / 0.945 too far; :func:`spread_keypoints` undoes the compaction.
KEYPOINT_SPREAD = 0.945
#: Relative 1-sigma uncertainty of a hand size given in the configuration (a tape measure)
CALIBRATED_SIZE_REL_STD = 0.02
#: ... and of a size estimated from the landmark network's metric hands: the network predicts
#: an average-sized hand, so the spread of adult hand lengths (~7 %) remains
ESTIMATED_SIZE_REL_STD = 0.07
#: Frames of a track's size estimate before the bone-length depth solve joins in
MIN_SIZE_FRAMES = 10
#: Relative uncertainty of the keypoint-spread correction itself
SPREAD_REL_STD = 0.03


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) joints -> (..., 20) bone lengths (m), bone j-1 ends at joint j."""
    j = np.asarray(joints, dtype=np.float64)
    return np.linalg.norm(j[..., 1:, :] - j[..., PARENT[1:], :], axis=-1)


def hand_length(joints: np.ndarray) -> float:
    """Hand length (m) of (21, 3) joints: wrist -> middle MCP -> PIP -> DIP -> tip along the
    finger (the length a tape measure gives for a flat hand, wrist crease to middle fingertip)."""
    j = np.asarray(joints, dtype=np.float64)[LENGTH_CHAIN]
    return float(np.linalg.norm(np.diff(j, axis=0), axis=1).sum())


def spread_keypoints(keypoints_px: np.ndarray, spread: float = KEYPOINT_SPREAD) -> np.ndarray:
    """(21, 2) MediaPipe keypoints -> (21, 2) skeleton-joint keypoints: scaled by 1 / spread
    about their centroid (see :data:`KEYPOINT_SPREAD`; spread 1 returns a copy)."""
    kp = np.asarray(keypoints_px, dtype=np.float64)
    if spread == 1.0:
        return kp.copy()
    c = kp.mean(0)
    return c + (kp - c) / spread


class HandSizeTracker:
    """Running robust estimate of one hand's length (m) from its per-frame metric hands.

    ``update(length)`` adds a frame's estimate (NaN ignored) and returns the median of the last
    ``window`` estimates; a ``calibrated`` length (> 0) overrides the estimates. ``rel_std`` is
    the relative 1-sigma uncertainty of the current value.
    """

    def __init__(self, calibrated: float = 0.0, window: int = 90) -> None:
        self.calibrated = float(calibrated)
        self.window = int(window)
        self._samples: list[float] = []

    def update(self, length: float) -> float:
        if np.isfinite(length) and length > 0:
            self._samples.append(float(length))
            del self._samples[:-self.window]
        return self.value

    @property
    def value(self) -> float:
        if self.calibrated > 0:
            return self.calibrated
        return float(np.median(self._samples)) if self._samples else float("nan")

    @property
    def rel_std(self) -> float:
        return CALIBRATED_SIZE_REL_STD if self.calibrated > 0 else ESTIMATED_SIZE_REL_STD

    @property
    def count(self) -> int:
        return len(self._samples)


def monocular_depth_std(depth: float, size_rel_std: float, reprojection_px: float, spread_px: float,
                        num_keypoints: int = 21) -> float:
    """1-sigma uncertainty (m) of a monocular hand depth ``depth`` (m): depth ~ f * size / spread,
    so its relative error combines the hand size's, the keypoint-spread correction's and the
    keypoints' own (RMS reprojection error over the hand's RMS spread in pixels, averaged over
    the ``num_keypoints`` keypoints of the fit)."""
    pix = reprojection_px / max(spread_px, 1.0) / np.sqrt(max(num_keypoints, 1))
    return float(depth * np.sqrt(size_rel_std**2 + SPREAD_REL_STD**2 + pix**2))


def project(points: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """(N, 3) camera-frame points -> (N, 2) pixels with the intrinsics (distortion included; skew
    ignored, as in :func:`normalized_points`, so the two invert each other)."""
    from hand_models.geometry import project_points

    P = np.asarray(points, dtype=np.float64)
    K = np.asarray(intrinsics.K, dtype=np.float64)
    dist = np.asarray(intrinsics.dist, dtype=np.float64).reshape(-1)
    if dist.size and np.any(dist != 0):
        return project_points(torch.from_numpy(P), torch.from_numpy(K), torch.from_numpy(dist)).numpy()
    z = np.where(np.abs(P[:, 2]) > 1e-9, P[:, 2], 1e-9)
    return np.stack([K[0, 0] * P[:, 0] / z + K[0, 2], K[1, 1] * P[:, 1] / z + K[1, 2]], -1)


def on_rays(keypoints_px: np.ndarray, depths: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """(21, 2) pixels and (21,) depths z (m) -> (21, 3) camera-frame points on the keypoints'
    undistorted viewing rays at those depths (they project exactly onto the keypoints)."""
    xy = normalized_points(keypoints_px, intrinsics)
    z = np.asarray(depths, dtype=np.float64)
    return np.concatenate([xy * z[:, None], z[:, None]], 1)


def bone_length_depth(
    keypoints_px: np.ndarray,
    relative_depth: np.ndarray,
    lengths: np.ndarray,
    confidence: np.ndarray,
    intrinsics: CameraIntrinsics,
    z0: float,
    iterations: int = 5,
) -> float:
    """Wrist depth z (m) at which the hand's bones have their known lengths.

    Joint j sits on its keypoint's ray r_j = (x_j, y_j, 1) at depth z + relative_depth[j]
    (relative_depth (21,) m, wrist 0); z minimises sum_b w_b ((|P_a - P_b| - L_b) / L_b)^2 over the
    20 bones (lengths (20,) m, w_b the smaller confidence of the bone's joints), by Gauss-Newton
    from z0. Unlike a translation solve it does not rely on the metric hand's lateral extent,
    which foreshortening of the network's hand gets wrong in other ways.
    """
    xy = normalized_points(keypoints_px, intrinsics)
    r = np.concatenate([xy, np.ones((21, 1))], 1)
    dz = np.asarray(relative_depth, dtype=np.float64)
    L = np.maximum(np.asarray(lengths, dtype=np.float64), 1e-4)
    c = np.asarray(confidence, dtype=np.float64)
    a, b = PARENT[1:], np.arange(1, 21)
    w = np.minimum(c[a], c[b]) / L**2
    z = float(z0)
    for _ in range(iterations):
        d = (z + dz[b])[:, None] * r[b] - (z + dz[a])[:, None] * r[a]
        n = np.maximum(np.sqrt((d * d).sum(1)), 1e-9)
        J = (d * (r[b] - r[a])).sum(1) / n
        den = (w * J * J).sum()
        if den <= 0:
            break
        step = -(w * J * (n - L)).sum() / den
        z = max(z + step, 0.05)
        if abs(step) < 1e-6:
            break
    return z


def place_monocular(
    landmarks_3d: np.ndarray,
    keypoints_px: np.ndarray,
    confidence: np.ndarray,
    intrinsics: CameraIntrinsics,
    size: HandSizeTracker,
    spread: float = KEYPOINT_SPREAD,
    reference: np.ndarray | None = None,
) -> Placement:
    """Monocular metric placement of one hand with a per-track hand size.

    landmarks_3d (21, 3): the landmark network's metric hand (camera axes, any origin);
    keypoints_px (21, 2) its 2D keypoints; confidence (21,); size: the track's
    :class:`HandSizeTracker` (updated with this frame's :func:`hand_length`). The frame's hand is
    rescaled so that its hand length is the track's (per frame: the network's whole hand grows
    and shrinks with its finger chain; measured on rendered sequences, normalising by the chain
    halves the spread of the wrist depth against normalising by the median bone ratio), its
    keypoints are spread to skeleton joints (:func:`spread_keypoints`) and the translation is
    solved on their undistorted rays (:func:`place_hand`). With a ``reference`` hand (21, 3) (e.g.
    the MANO template), whose bone proportions scaled to the track's length give the bone lengths,
    the wrist depth is the mean of that solve's and :func:`bone_length_depth`'s once the length is
    calibrated or a median of ``MIN_SIZE_FRAMES`` frames (rendered sequences, wrist depth error:
    calibrated 24.0 -> 18.6 mm, estimated over a track 40.1 -> 39.0 mm; one frame's length is too
    noisy for it: 55 -> 59 mm on stills), the hand moving along the wrist's ray. The result carries ``depth_std`` and the keypoints it was placed on.
    """
    X = np.asarray(landmarks_3d, dtype=np.float64)
    kp = spread_keypoints(keypoints_px, spread)
    frame_length = hand_length(X)
    length = size.update(frame_length)
    if np.isfinite(length) and np.isfinite(frame_length) and frame_length > 0:
        X = X * (length / frame_length)
    placed = place_hand(X, kp, confidence, intrinsics)
    if reference is not None and np.isfinite(length) and (size.calibrated > 0 or size.count >= MIN_SIZE_FRAMES):
        ref = np.asarray(reference, dtype=np.float64)
        lengths = bone_lengths(ref) * (length / hand_length(ref))
        z_bone = bone_length_depth(kp, X[:, 2] - X[0, 2], lengths, confidence, intrinsics, placed.depth)
        if np.isfinite(z_bone) and placed.depth > 0:
            factor = 0.5 * (placed.depth + z_bone) / placed.depth
            shift = placed.joints[0] * (factor - 1.0)
            placed.joints = placed.joints + shift
            placed.translation = placed.translation + shift
            placed.depth = float(placed.joints[0, 2])
    ok = np.asarray(confidence) > 0
    spread_px = float(np.sqrt(((kp[ok] - kp[ok].mean(0)) ** 2).sum(1).mean())) if ok.any() else 0.0
    placed.depth_std = monocular_depth_std(placed.depth, size.rel_std, placed.reprojection_px, spread_px,
                                           int(ok.sum()))
    placed.keypoints_px = kp
    return placed
