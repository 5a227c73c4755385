"""RealSense-like error model for rendered metric depth (pure functions, seeded, deterministic).

Input: an exact depth image (H, W) in metres registered to the colour image (camera optical
frame z of the visible surface; ``inf``/``0``/NaN where nothing was hit), optionally the colour
image (for holes on dark surfaces). Output: what an active-stereo camera such as a RealSense
D4xx publishes as ``aligned_depth_to_color``: float32 metres, ``0`` where the pixel is invalid.

Error terms, in order (each one configurable in :class:`DepthNoiseConfig`):

1. **Stereo shadow.** A background pixel is invalid when the second (right) imager cannot see
   it because a nearer surface hides it: with disparity ``d = f B / z`` a pixel at column ``x``
   is shadowed when some pixel at ``x' > x`` maps to ``x' - d(x') <= x - d(x)`` in the other
   image (an exact scan-line test; the band lies left of near objects, as on a D4xx).
2. **Noise growing with z^2.** Disparity noise ``sigma_d`` px (part of it spatially correlated)
   gives depth noise ``sigma_z = z^2 sigma_d / (f B)``; it is added in disparity space.
3. **Flying pixels.** Pixels on a depth edge (3x3 depth range above ``edge_threshold_m``) get,
   with probability ``flying_prob``, a depth between the near and the far side.
4. **Holes.** Depth-edge pixels are dropped with probability ``edge_hole_prob``; dark surfaces
   (colour luminance below ``dark_level``) with a probability rising to ``dark_hole_prob``;
   random speckle with ``speckle_prob``; everything outside ``[min_depth_m, max_depth_m]``.
5. **Quantisation** to ``depth_unit_m`` (1 mm: the 16UC1 unit of ``realsense2_camera``).

The random draws depend only on ``seed`` (``numpy.random.default_rng``), so a frame's noisy
depth is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DepthNoiseConfig:
    """Parameters of :func:`realsense_depth` (defaults: a D435-like camera at 640x480)."""

    baseline_m: float = 0.050  # stereo baseline B
    focal_px: float | None = None  # f of the depth imager; None: use the colour fx passed in
    subpixel_std: float = 0.08  # disparity noise std (px); D4xx spec: 0.08 "subpixel RMS"
    correlated_fraction: float = 0.5  # share of the disparity noise variance that is spatially smooth
    correlation_px: float = 3.0  # Gaussian width of the correlated part (px)
    depth_unit_m: float = 0.001  # quantisation step (the 16UC1 unit); 0: off
    min_depth_m: float = 0.2
    max_depth_m: float = 6.0
    shadow: bool = True  # stereo occlusion band left of near objects
    edge_threshold_m: float = 0.03  # 3x3 depth range that marks a depth edge
    edge_hole_prob: float = 0.35
    flying_prob: float = 0.35  # of the edge pixels that are not holes
    dark_level: float = 0.10  # luminance (0..1, sRGB) below which holes start
    dark_hole_prob: float = 0.9  # hole probability at luminance 0
    speckle_prob: float = 0.002


def depth_noise_std(z: np.ndarray | float, focal_px: float, config: DepthNoiseConfig | None = None) -> np.ndarray:
    """Model depth noise std (m) at depth ``z`` (m): ``z^2 * subpixel_std / (f * B)`` (before quantisation)."""
    cfg = config or DepthNoiseConfig()
    f = float(cfg.focal_px or focal_px)
    return np.asarray(z, dtype=np.float64) ** 2 * cfg.subpixel_std / (f * cfg.baseline_m)


def stereo_shadow(depth: np.ndarray, focal_px: float, baseline_m: float) -> np.ndarray:
    """(H, W) bool: pixels the second imager (at +B along x) cannot see. Invalid depth (<= 0,
    inf, NaN) never casts a shadow and is not marked."""
    z = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(z) & (z > 0)
    disp = np.where(valid, focal_px * baseline_m / np.where(valid, z, 1.0), 0.0)
    x = np.arange(z.shape[1], dtype=np.float64)[None, :]
    pos = np.where(valid, x - disp, np.inf)  # column of each pixel in the other image
    # min over x' > x of pos(x'): reverse cumulative minimum, shifted by one column
    rev = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([rev[:, 1:], np.full((z.shape[0], 1), np.inf)], axis=1)
    return valid & (right_min < pos - 0.5)


def depth_edges(depth: np.ndarray, threshold_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels whose 3x3 neighbourhood spans more than ``threshold_m`` in depth, with the
    neighbourhood's near and far depth: (edge (H, W) bool, near (H, W), far (H, W)). Invalid
    depth counts as far (``max`` of the valid ones, or the pixel itself)."""
    z = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(z) & (z > 0)
    big = np.float32(1e6)
    near = cv2.erode(np.where(valid, z, big).astype(np.float32), np.ones((3, 3), np.uint8))
    far = cv2.dilate(np.where(valid, z, 0).astype(np.float32), np.ones((3, 3), np.uint8))
    edge = valid & (far - near > threshold_m)
    return edge, near, far


def _luminance(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
    return img / 255.0 if np.asarray(image).dtype == np.uint8 else img


def realsense_depth(
    depth: np.ndarray,
    focal_px: float,
    image: np.ndarray | None = None,
    seed: int | tuple[int, ...] = 0,
    config: DepthNoiseConfig | None = None,
) -> np.ndarray:
    """Noisy depth (H, W) float32 metres, 0 where invalid, from exact ``depth`` (H, W) metres.

    focal_px: fx of the (registered) image; image: colour (H, W, 3) uint8 RGB or (H, W)
    grey registered to ``depth`` (None: no dark-surface holes); seed: all random draws.
    See the module docstring for the error terms.
    """
    cfg = config or DepthNoiseConfig()
    z = np.asarray(depth, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {z.shape}")
    if image is not None and np.asarray(image).shape[:2] != z.shape:
        raise ValueError(f"image {np.asarray(image).shape[:2]} and depth {z.shape} differ in size")
    rng = np.random.default_rng(seed)
    f = float(cfg.focal_px or focal_px)
    fb = f * cfg.baseline_m
    valid = np.isfinite(z) & (z > 0)
    zv = np.where(valid, z, 1.0)
    invalid = ~valid
    if cfg.shadow:
        invalid |= stereo_shadow(z, f, cfg.baseline_m)
    edge, near, far = depth_edges(z, cfg.edge_threshold_m)
    # noise in disparity space
    n_white = rng.standard_normal(z.shape)
    n_corr = rng.standard_normal(z.shape).astype(np.float32)
    if cfg.correlated_fraction > 0 and cfg.correlation_px > 0:
        n_corr = cv2.GaussianBlur(n_corr, (0, 0), cfg.correlation_px).astype(np.float64)
        n_corr /= max(float(n_corr.std()), 1e-9)
    a = np.sqrt(np.clip(cfg.correlated_fraction, 0.0, 1.0))
    noise = cfg.subpixel_std * (a * n_corr + np.sqrt(1.0 - a * a) * n_white)
    disp = fb / zv + noise
    out = fb / np.maximum(disp, 1e-6)
    # flying pixels and edge holes
    u_edge = rng.uniform(size=z.shape)
    hole_edge = edge & (u_edge < cfg.edge_hole_prob)
    flying = edge & ~hole_edge & (u_edge < cfg.edge_hole_prob + (1 - cfg.edge_hole_prob) * cfg.flying_prob)
    mix = rng.uniform(0.15, 0.85, size=z.shape)
    out = np.where(flying, near + mix * (far - near), out)
    invalid |= hole_edge
    if image is not None and cfg.dark_hole_prob > 0 and cfg.dark_level > 0:
        lum = _luminance(image)
        p_dark = cfg.dark_hole_prob * np.clip((cfg.dark_level - lum) / cfg.dark_level, 0.0, 1.0)
        invalid |= rng.uniform(size=z.shape) < p_dark
    if cfg.speckle_prob > 0:
        invalid |= rng.uniform(size=z.shape) < cfg.speckle_prob
    if cfg.depth_unit_m > 0:
        out = np.round(out / cfg.depth_unit_m) * cfg.depth_unit_m
    invalid |= (out < cfg.min_depth_m) | (out > cfg.max_depth_m)
    return np.where(invalid, 0.0, out).astype(np.float32)


def depth_to_16uc1(depth_m: np.ndarray, depth_scale: float = 0.001) -> np.ndarray:
    """(H, W) metres (0/NaN/inf invalid) -> uint16 in units of ``depth_scale`` m (0 invalid,
    saturating at 65535), the ``16UC1`` layout of ``realsense2_camera``."""
    z = np.asarray(depth_m, dtype=np.float64)
    ok = np.isfinite(z) & (z > 0)
    q = np.round(np.where(ok, z, 0.0) / depth_scale)
    return np.clip(q, 0, 65535).astype(np.uint16)
