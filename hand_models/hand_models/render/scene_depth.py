"""Registered metric depth of the synthetic scene (:mod:`hand_models.render.scene`): the background
wall and the per-pixel nearest surface of a supersampled rasterization. Pure functions; the
RealSense-like error model applied on top lives in :mod:`hand_models.render.depth_noise`.

Depths are camera z in metres (optical frame), float32, image-sized ``(H, W)``.
"""

from __future__ import annotations

import numpy as np


def wall_depth(K: np.ndarray, width: int, height: int, wall_z: float, tilt: np.ndarray) -> np.ndarray:
    """(H, W) float32 depth of a plane wall ``n . X = wall_z`` seen through intrinsics ``K`` (3, 3),
    with ``n = (a, b, 1)`` for ``tilt = (a, b)``; the wall is clipped to at most ``wall_z / 0.3``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    xn, yn = (xx - K[0, 2]) / K[0, 0], (yy - K[1, 2]) / K[1, 1]
    a, b = tilt
    return (wall_z / np.clip(1.0 + a * xn + b * yn, 0.3, None)).astype(np.float32)


def nearest_depth(sample_depth: np.ndarray, ss: int, width: int, height: int, background: np.ndarray) -> np.ndarray:
    """(H, W) float32 depth from per-sample depths ``sample_depth`` (>= (H * ss, W * ss), inf where
    empty): per output pixel the nearest of its ``ss x ss`` samples, ``background`` (H, W) where none
    is covered."""
    z = sample_depth[:height * ss, :width * ss].reshape(height, ss, width, ss).min(axis=(1, 3))
    return np.where(np.isfinite(z), z, background).astype(np.float32)
