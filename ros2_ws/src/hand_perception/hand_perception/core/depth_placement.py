"""Metric placement of one hand from a registered depth image, fused with the monocular one.

Frames: camera optical frame (x right, y down, z forward, metres); joints in our 21-joint order.

The monocular placement (``placement.place_hand``) gives joints ``X`` (21, 3) whose projections
match the 2D keypoints; its remaining error is mostly a common scale along the viewing rays (the
assumed hand size). Depth fixes that scale: scaling the hand about the camera centre,
``X' = s X``, keeps every projection (so the 2D/3D agreement stays) and moves the hand in depth.

Per visible keypoint (confidence > 0, inside the image):

1. **Window median.** The valid depths (finite, > 0: holes, zeros, NaN and inf are dropped) in a
   ``(2r+1)^2`` window around the keypoint; a window with too few valid pixels is dropped.
2. **Silhouettes and flying pixels.** When the window spans a depth edge (spread above
   ``edge_m``), only the nearest cluster (within ``cluster_m`` of its 10th percentile) is kept:
   the finger in front, not the background or the half-way flying pixels between them.
3. **Surface to joint.** A depth camera sees skin, the joints lie inside the hand: the joint's
   depth is the surface depth plus :data:`SURFACE_OFFSET_M` (about the flesh thickness).
4. **Agreement with the hand's own shape.** Each keypoint votes for a scale
   ``s_j = (d_j + o_j) / z_j``; the votes are gated by their median and MAD (``mad_k`` robust
   sigmas, at least ``min_spread_m``): occluders in front of the hand (the other hand, an object),
   self-occluded joints and leftover edge pixels disagree with the shape and are rejected.

The inlier votes give the depth scale and its uncertainty (sensor noise model ``z^2`` plus the
surface-offset uncertainty, never below the votes' own scatter); it is fused with the monocular
estimate (uncertainty ``mono_std_m``, or ``mono_rel_std`` of the depth) by inverse variance.
With ``per_joint`` each inlier joint's own depth is then fused with the scaled shape's depth for
that joint (the monocular relative depths are the weakest part of the monocular shape), again by
inverse variance, within ``joint_gate`` sigmas, moving the joint along its viewing ray. The wrist
may use its own depth even when its scale vote was rejected (the monocular shape's wrist depth
relative to the fingers is often centimetres off, and the published wrist is what a robot
reaches for). An inlier joint whose own depth is not used is kept behind the surface seen at its
keypoint (``surface_bound``; an occluded joint's depth is the occluder's: only a bound).
``source`` says what placed the hand: ``"monocular"`` (no usable depth: the reason is given),
``"depth"`` (the monocular estimate carried under 5 % of the weight) or ``"fused"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hand_models.joints import PARENTS

PLACEMENT_MONOCULAR = "monocular"
PLACEMENT_DEPTH = "depth"
PLACEMENT_FUSED = "fused"
PLACEMENT_SOURCES = (PLACEMENT_MONOCULAR, PLACEMENT_DEPTH, PLACEMENT_FUSED)

#: Depth of each joint behind the skin the camera sees (m), our joint order: the wrist and the
#: thumb base sit in the thick heel of the hand, MCPs in the palm, finger joints about a finger
#: radius deep; the fingertip joints are on the skin (tip vertices). Values: medians over
#: visible joints of rendered MANO-format hands (procedural model, mixed views), in line with
#: anatomical flesh thickness (palm 25-40 mm thick, fingers 14-20 mm).
SURFACE_OFFSET_M = np.array([0.019, 0.018, 0.010, 0.009, 0.003]
                            + [0.013, 0.008, 0.008, 0.002] * 4, dtype=np.float64)


@dataclass(frozen=True)
class DepthPlacementConfig:
    """Parameters of :func:`place_with_depth` (documented defaults, 640x480 RealSense-like)."""

    window_radius_px: int = 2  # window (2r+1)^2 around each keypoint
    min_valid_fraction: float = 0.3  # of the window's pixels
    edge_m: float = 0.02  # window depth spread that marks a depth edge
    cluster_m: float = 0.012  # the near cluster at an edge: within this of its 10th percentile
    min_joints: int = 4  # inlier keypoints needed to use depth
    mad_k: float = 3.0  # inlier gate in robust sigmas (1.4826 MAD)
    min_spread_m: float = 0.008  # the gate is never narrower than this (at the hand's depth)
    noise_coeff: float = 0.004  # sensor noise std per joint (m) = noise_floor + noise_coeff * z^2
    noise_floor_m: float = 0.001
    surface_std_m: float = 0.004  # uncertainty of the surface-to-joint offset per joint
    common_std_m: float = 0.005  # correlated part (shared by all joints: offsets, calibration, the fit after)
    mono_rel_std: float = 0.10  # monocular depth std as a fraction of the depth, when not given
    depth_only_weight: float = 0.05  # monocular weight below which the source is "depth"
    per_joint: bool = True  # also correct each inlier joint's depth (the monocular shape's relative depths)
    shape_std_m: float = 0.03  # 1-sigma of a joint's depth relative to the wrist in the monocular shape
    joint_gate: float = 3.0  # per-joint correction only within this many combined sigmas
    bone_tolerance: float = 0.25  # ... and only while the bone to the parent keeps its length within this (0: off)
    surface_bound: bool = True  # a joint whose own depth is not used is never placed in front of the seen surface


@dataclass
class DepthPlacement:
    """Result of :func:`place_with_depth`.

    joints (21, 3) camera frame (m) after the fused scale; scale: the fused factor applied to the
    monocular joints (1.0 when depth was not used); depth: wrist z (m); depth_std: 1-sigma of the
    wrist depth (m); source: one of :data:`PLACEMENT_SOURCES`; inliers (21,) bool: keypoints
    whose depth was used; depth_scale: the depth-only scale (NaN when depth was not used);
    reason: why depth was not used (empty otherwise).
    """

    joints: np.ndarray
    scale: float
    depth: float
    depth_std: float
    source: str
    inliers: np.ndarray
    depth_scale: float = float("nan")
    reason: str = ""


def keypoint_depths(depth: np.ndarray, keypoints_px: np.ndarray, config: DepthPlacementConfig | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Robust surface depth at each keypoint: ((N,) metres, NaN where unusable; (N,) bool edge).

    depth (H, W) metres, NaN/0/inf invalid; keypoints_px (N, 2) pixels. Window median of the
    valid pixels; at a depth edge the median of the near cluster (see the module docstring).
    """
    cfg = config or DepthPlacementConfig()
    H, W = depth.shape
    r = int(cfg.window_radius_px)
    kp = np.asarray(keypoints_px, dtype=np.float64)
    n = len(kp)
    out = np.full(n, np.nan)
    edge = np.zeros(n, bool)
    ok = np.isfinite(kp).all(1)
    ui = np.round(np.where(ok, kp[:, 0], -1e9)).astype(np.int64)
    vi = np.round(np.where(ok, kp[:, 1], -1e9)).astype(np.int64)
    ok &= (ui >= 0) & (ui < W) & (vi >= 0) & (vi < H)
    if not ok.any():
        return out, edge
    off = np.arange(-r, r + 1)
    uu = ui[ok, None, None] + off[None, None, :]
    vv = vi[ok, None, None] + off[None, :, None]
    inside = (uu >= 0) & (uu < W) & (vv >= 0) & (vv < H)
    win = depth[np.clip(vv, 0, H - 1), np.clip(uu, 0, W - 1)].reshape(ok.sum(), -1).astype(np.float64)
    win[~inside.reshape(ok.sum(), -1)] = np.nan
    win[~np.isfinite(win) | (win <= 0)] = np.nan
    valid = np.isfinite(win)
    count = valid.sum(1)
    enough = count >= max(1, int(np.ceil(cfg.min_valid_fraction * win.shape[1])))
    rows = np.arange(len(win))
    ranked = np.sort(np.where(valid, win, np.inf), axis=1)  # valid values first, ascending

    def rank(values: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
        return values[rows, np.clip(np.round((n - 1) * q).astype(np.int64), 0, values.shape[1] - 1)]

    lo, hi = rank(ranked, count, 0.1), rank(ranked, count, 0.9)
    with np.errstate(invalid="ignore"):  # rows without valid pixels: inf - inf
        at_edge = enough & (hi - lo > cfg.edge_m)
    keep = valid & ~(at_edge[:, None] & (win > lo[:, None] + cfg.cluster_m))
    near = np.sort(np.where(keep, win, np.inf), axis=1)
    m = np.maximum(keep.sum(1), 1)
    med = 0.5 * (near[rows, (m - 1) // 2] + near[rows, m // 2])
    idx = np.flatnonzero(ok)
    out[idx] = np.where(enough, med, np.nan)
    edge[idx] = enough & at_edge
    return out, edge


def place_with_depth(
    joints: np.ndarray,
    keypoints_px: np.ndarray,
    confidence: np.ndarray,
    depth: np.ndarray,
    mono_std_m: float | None = None,
    config: DepthPlacementConfig | None = None,
) -> DepthPlacement:
    """Depth-corrected placement of one hand (see the module docstring).

    joints (21, 3): the monocular placement (camera frame, m) whose projections match
    ``keypoints_px`` (21, 2); confidence (21,): keypoints with 0 are not used; depth (H, W)
    metres registered to the image, NaN/0/inf invalid; mono_std_m: 1-sigma of the monocular wrist
    depth (None: ``mono_rel_std`` of it). Never raises for bad depth: it falls back to the
    monocular placement with ``source="monocular"`` and a ``reason``.
    """
    cfg = config or DepthPlacementConfig()
    X = np.asarray(joints, dtype=np.float64)
    z_w = float(X[0, 2])
    mono_std = float(mono_std_m) if mono_std_m is not None and np.isfinite(mono_std_m) and mono_std_m > 0 \
        else cfg.mono_rel_std * abs(z_w)

    def monocular(reason: str, inl: np.ndarray | None = None) -> DepthPlacement:
        return DepthPlacement(joints=X.copy(), scale=1.0, depth=z_w, depth_std=mono_std, source=PLACEMENT_MONOCULAR,
                              inliers=np.zeros(len(X), bool) if inl is None else inl, reason=reason)

    d = np.asarray(depth)
    if d.ndim != 2:
        return monocular(f"depth must be (H, W), got shape {d.shape}")
    if not (np.isfinite(X).all() and (X[:, 2] > 0).all()):
        return monocular("monocular joints not in front of the camera")
    surf, _edge = keypoint_depths(d, keypoints_px, cfg)
    conf = np.asarray(confidence, dtype=np.float64)
    use = np.isfinite(surf) & (conf > 0)
    if use.sum() < cfg.min_joints:
        return monocular(f"depth at only {int(use.sum())} keypoints (holes, out of image or no depth)")
    votes = np.full(len(X), np.nan)
    votes[use] = (surf[use] + SURFACE_OFFSET_M[use]) / X[use, 2]
    v = votes[use]
    med = float(np.median(v))
    mad = float(np.median(np.abs(v - med))) * 1.4826
    gate = max(cfg.mad_k * mad, cfg.min_spread_m / max(z_w * med, 1e-3))
    inl = use & (np.abs(votes - med) <= gate)
    if inl.sum() < cfg.min_joints:
        return monocular(f"depth agrees with the hand's shape at only {int(inl.sum())} keypoints", inl)
    z_in = X[inl, 2]
    zs = z_in * med
    # per-joint std of a vote (in scale units): sensor noise + surface offset, relative to the joint depth
    sig = np.sqrt((cfg.noise_floor_m + cfg.noise_coeff * zs ** 2) ** 2 + cfg.surface_std_m ** 2) / z_in
    w = 1.0 / sig ** 2
    s_depth = float(np.sum(w * votes[inl]) / np.sum(w))
    var_model = 1.0 / np.sum(w)
    resid = votes[inl] - s_depth
    var_scatter = float(np.sum(w * resid ** 2) / np.sum(w)) / max(int(inl.sum()) - 1, 1)
    var_common = (cfg.common_std_m / max(z_w * s_depth, 1e-3)) ** 2
    var_d = max(var_model, var_scatter) + var_common
    var_m = (mono_std / max(z_w, 1e-3)) ** 2
    wd, wm = 1.0 / var_d, 1.0 / var_m
    s = (wd * s_depth + wm * 1.0) / (wd + wm)
    s_std = float(np.sqrt(1.0 / (wd + wm)))
    source = PLACEMENT_DEPTH if wm / (wd + wm) < cfg.depth_only_weight else PLACEMENT_FUSED
    out = X * s
    depth_std = s_std * z_w
    if cfg.per_joint:
        # the wrist (the chain's root) may use its own depth although its scale vote was rejected: the
        # monocular shape's wrist depth relative to the fingers is often centimetres off
        fuse = inl.copy()
        fuse[0] = use[0]
        out, wrist_std = _per_joint_depths(X, out, s_std, surf, fuse, inl, cfg)
        if np.isfinite(wrist_std):  # plus the correlated part (surface offsets, calibration, the fit after)
            depth_std = float(min(depth_std, np.hypot(wrist_std, cfg.common_std_m)))
    return DepthPlacement(joints=out, scale=float(s), depth=float(out[0, 2]), depth_std=depth_std,
                          source=source, inliers=inl, depth_scale=s_depth)


def _per_joint_depths(X: np.ndarray, scaled: np.ndarray, s_std: float, surf: np.ndarray, fuse: np.ndarray,
                      bound: np.ndarray, cfg: DepthPlacementConfig) -> tuple[np.ndarray, float]:
    """Each joint's own depth fused with the scaled shape's depth for it (inverse variance), moved
    along its viewing ray so its projection stays on the keypoint.

    X (21, 3) the monocular joints, scaled (21, 3) them after the fused scale (camera frame, m);
    surf (21,) the surface depth at each keypoint (m, NaN: none); fuse (21,) bool: joints whose own
    depth may be fused; bound (21,) bool: joints whose surface depth bounds them (the scale inliers).
    A joint's own depth is used within ``joint_gate`` sigmas and while the bone to its parent keeps
    its length within ``bone_tolerance`` (depth sampled beside a finger, e.g. after a 2D miss, would
    bend it). A bounded joint whose own depth is not used is never left in front of the surface the
    camera sees at its keypoint (``surface_bound``: that surface is the first thing on the ray; an
    occluded joint lies behind it, the monocular shape often puts it in front).
    Returns (joints (21, 3), 1-sigma of the wrist depth or NaN when the wrist kept the shape's)."""
    out = scaled.copy()
    z_meas = np.nan_to_num(surf + SURFACE_OFFSET_M, nan=-1.0)
    var_meas = (cfg.noise_floor_m + cfg.noise_coeff * z_meas ** 2) ** 2 + cfg.surface_std_m ** 2
    bone = np.linalg.norm(scaled[1:] - scaled[PARENTS[1:]], axis=1)  # shape's bone lengths (joints 1..20)
    wrist_std = float("nan")

    def _bone_ok(j: int, point: np.ndarray) -> bool:  # the bone to the parent keeps its length
        if j == 0 or cfg.bone_tolerance <= 0:
            return True
        return abs(np.linalg.norm(point - out[PARENTS[j]]) / max(bone[j - 1], 1e-6) - 1.0) <= cfg.bone_tolerance

    for j in range(len(X)):  # parents come first in our joint order
        ray = scaled[j] / scaled[j, 2]
        # the joint's own depth, fused with the scaled shape's depth for it (the shape's relative depths are weak)
        z_shape = float(scaled[j, 2])
        var_shape = cfg.shape_std_m ** 2 + (s_std * X[j, 2]) ** 2
        if fuse[j] and z_meas[j] > 0 and abs(z_meas[j] - z_shape) <= cfg.joint_gate * np.sqrt(var_shape + var_meas[j]):
            z_new = (z_shape / var_shape + z_meas[j] / var_meas[j]) / (1.0 / var_shape + 1.0 / var_meas[j])
            if _bone_ok(j, ray * z_new):
                out[j] = ray * z_new
                if j == 0:
                    wrist_std = float(np.sqrt(1.0 / (1.0 / var_shape + 1.0 / var_meas[j])))
                continue
        z = z_shape
        if cfg.surface_bound and bound[j] and z_meas[j] > z:
            z = float(z_meas[j])
        out[j] = ray * z
    return out, wrist_std
