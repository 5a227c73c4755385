"""Pinhole camera with plumb-bob / rational-polynomial distortion (batched torch).

Model, as ``sensor_msgs/CameraInfo`` and OpenCV define it.  Points are in the **camera
optical frame** (REP-103: z forward, x right, y down), metres.  For a point ``(X, Y, Z)``
with ``Z > 0``:

* normalised coordinates ``x = X/Z``, ``y = Y/Z``, ``r^2 = x^2 + y^2``;
* distortion (``dist = (k1, k2, p1, p2[, k3[, k4, k5, k6]])``, missing ones are 0)::

      radial = (1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6)
      x_d = x radial + 2 p1 x y + p2 (r^2 + 2 x^2)
      y_d = y radial + p1 (r^2 + 2 y^2) + 2 p2 x y

  ``distortion_model`` ``"plumb_bob"`` has 5 coefficients (4 are accepted too: ``k3 = 0``),
  ``"rational_polynomial"`` has 8;
* pixels ``(u, v) = K[:2, :2] @ (x_d, y_d) + K[:2, 2]`` with
  ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` (``s``, the skew, is normally 0).

``dist`` may be ``None`` or empty (no distortion; an empty ``CameraInfo.d`` means that).  Batch dims ``...`` of points, ``K`` and ``dist``
broadcast: ``K`` of shape ``(3, 3)`` and ``dist`` of shape ``(D,)`` serve every batch item.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

from ._checks import check_float, check_shape

__all__ = [
    "distort_normalized",
    "undistort_normalized",
    "project_points",
    "unproject_points",
    "undistort_pixels",
    "intrinsics_matrix",
    "validate_intrinsics",
]

# 0 (an empty CameraInfo.d) means no distortion, like None.
_VALID_DIST_SIZES = (0, 4, 5, 8)


def _check_dist(dist: Tensor) -> Tensor:
    if not isinstance(dist, Tensor):
        raise TypeError(f"dist must be a torch.Tensor or None, got {type(dist).__name__}")
    if dist.dim() < 1 or dist.shape[-1] not in _VALID_DIST_SIZES:
        raise ValueError(
            "dist must have shape (..., D) with D in {0, 4, 5, 8} "
            "((k1, k2, p1, p2[, k3[, k4, k5, k6]])), got " + str(tuple(dist.shape))
        )
    return dist


def _coefficients(dist: Tensor) -> list[Tensor]:
    """Eight coefficients ``k1 k2 p1 p2 k3 k4 k5 k6`` of shape ``(..., 1)`` (missing = 0)."""
    cols = [dist[..., i : i + 1] for i in range(dist.shape[-1])]
    zero = torch.zeros_like(cols[0])
    return cols + [zero] * (8 - len(cols))


def _distort_and_jacobian(
    x: Tensor, y: Tensor, c: list[Tensor], jacobian: bool
) -> tuple[Tensor, Tensor, Optional[tuple[Tensor, Tensor, Tensor]]]:
    """Distort normalised ``x``, ``y`` (``(..., N)``); optionally the 2x2 Jacobian.

    Returns ``(x_d, y_d, (j_xx, j_xy_equals_yx, j_yy))``; the Jacobian is symmetric.
    """
    k1, k2, p1, p2, k3, k4, k5, k6 = c
    r2 = x * x + y * y
    num = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    den = 1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))
    radial = num / den
    xy = x * y
    xd = x * radial + 2.0 * p1 * xy + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * xy
    if not jacobian:
        return xd, yd, None
    dnum = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)
    dden = k4 + r2 * (2.0 * k5 + 3.0 * k6 * r2)
    dradial = (dnum * den - num * dden) / (den * den)  # d radial / d r^2
    jxx = radial + 2.0 * x * x * dradial + 2.0 * p1 * y + 6.0 * p2 * x
    jxy = 2.0 * xy * dradial + 2.0 * p1 * x + 2.0 * p2 * y
    jyy = radial + 2.0 * y * y * dradial + 6.0 * p1 * y + 2.0 * p2 * x
    return xd, yd, (jxx, jxy, jyy)


def distort_normalized(xy: Tensor, dist: Optional[Tensor]) -> Tensor:
    """Apply lens distortion to normalised image coordinates.

    Args:
        xy: ``(..., N, 2)`` ideal normalised coordinates ``(X/Z, Y/Z)``.
        dist: ``(..., D)`` coefficients, ``D`` in {0, 4, 5, 8}, or ``None`` (identity).

    Returns:
        ``(..., N, 2)`` distorted normalised coordinates.
    """
    check_shape(xy, (-1, 2), "xy")
    if dist is None or _check_dist(dist).shape[-1] == 0:
        return xy
    c = _coefficients(dist.to(xy.dtype))
    xd, yd, _ = _distort_and_jacobian(xy[..., 0], xy[..., 1], c, jacobian=False)
    return torch.stack([xd, yd], dim=-1)


def undistort_normalized(
    xy_distorted: Tensor, dist: Optional[Tensor], iterations: int = 20
) -> Tensor:
    """Invert :func:`distort_normalized` by Newton's method.

    Starts at the distorted coordinates and takes ``iterations`` Newton steps with the
    analytic 2x2 Jacobian (a fixed-point step is used where the Jacobian is singular).
    Converges to machine precision in a few steps for realistic lenses inside the field of
    view; points beyond the radius where the radial polynomial stops being monotonic have
    no unique inverse.  Differentiable (through the unrolled iterations).

    Args:
        xy_distorted: ``(..., N, 2)`` distorted normalised coordinates.
        dist: ``(..., D)`` coefficients, ``D`` in {0, 4, 5, 8}, or ``None`` (identity).
        iterations: number of Newton steps.

    Returns:
        ``(..., N, 2)`` ideal normalised coordinates.
    """
    check_shape(xy_distorted, (-1, 2), "xy_distorted")
    if dist is None or _check_dist(dist).shape[-1] == 0:
        return xy_distorted
    c = _coefficients(dist.to(xy_distorted.dtype))
    xt, yt = xy_distorted[..., 0], xy_distorted[..., 1]
    x, y = xt, yt
    tiny = torch.finfo(xy_distorted.dtype).tiny ** 0.5
    for _ in range(iterations):
        xd, yd, (jxx, jxy, jyy) = _distort_and_jacobian(x, y, c, jacobian=True)
        ex, ey = xd - xt, yd - yt
        det = jxx * jyy - jxy * jxy
        ok = det.abs() > tiny
        det_safe = torch.where(ok, det, torch.ones_like(det))
        dx_newton = (jyy * ex - jxy * ey) / det_safe
        dy_newton = (jxx * ey - jxy * ex) / det_safe
        x = x - torch.where(ok, dx_newton, ex)
        y = y - torch.where(ok, dy_newton, ey)
    return torch.stack([x, y], dim=-1)


def _split_k(K: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``fx, fy, cx, cy, skew`` of ``(..., 3, 3)`` intrinsics, each ``(..., 1)``."""
    return (
        K[..., 0, 0:1],
        K[..., 1, 1:2],
        K[..., 0, 2:3],
        K[..., 1, 2:3],
        K[..., 0, 1:2],
    )


def _pixels_to_normalized(uv: Tensor, K: Tensor) -> Tensor:
    fx, fy, cx, cy, s = _split_k(K.to(uv.dtype))
    y = (uv[..., 1] - cy) / fy
    x = (uv[..., 0] - cx - s * y) / fx
    return torch.stack([x, y], dim=-1)


def _normalized_to_pixels(xy: Tensor, K: Tensor) -> Tensor:
    fx, fy, cx, cy, s = _split_k(K.to(xy.dtype))
    u = fx * xy[..., 0] + s * xy[..., 1] + cx
    v = fy * xy[..., 1] + cy
    return torch.stack([u, v], dim=-1)


def project_points(points: Tensor, K: Tensor, dist: Optional[Tensor] = None) -> Tensor:
    """Project camera-frame 3D points to pixels.

    Args:
        points: ``(..., N, 3)`` points in the camera optical frame (z forward), ``Z > 0``;
            points at or behind the camera plane give meaningless (possibly inf) pixels,
            callers should mask them.
        K: ``(..., 3, 3)`` intrinsics ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``.
        dist: ``(..., D)`` distortion, ``D`` in {0, 4, 5, 8}, or ``None``.

    Returns:
        ``(..., N, 2)`` pixel coordinates ``(u, v)`` (u right, v down).
    """
    check_shape(points, (-1, 3), "points")
    check_shape(K, (3, 3), "K")
    check_float(points, "points")
    xy = points[..., :2] / points[..., 2:3]
    return _normalized_to_pixels(distort_normalized(xy, dist), K)


def unproject_points(
    uv: Tensor,
    depth: Tensor,
    K: Tensor,
    dist: Optional[Tensor] = None,
    iterations: int = 20,
) -> Tensor:
    """Back-project pixels with known depth to camera-frame 3D points.

    Args:
        uv: ``(..., N, 2)`` pixel coordinates (distorted, as observed in the image).
        depth: ``(..., N)`` depth along the optical axis (the ``Z`` coordinate, not the
            ray length).
        K: ``(..., 3, 3)`` intrinsics.
        dist: ``(..., D)`` distortion, ``D`` in {0, 4, 5, 8}, or ``None``.
        iterations: Newton steps of :func:`undistort_normalized`.

    Returns:
        ``(..., N, 3)`` points ``(x Z, y Z, Z)`` in the camera optical frame.
    """
    check_shape(uv, (-1, 2), "uv")
    check_shape(K, (3, 3), "K")
    check_float(uv, "uv")
    if not isinstance(depth, Tensor):
        raise TypeError(f"depth must be a torch.Tensor, got {type(depth).__name__}")
    if depth.dim() < 1 or depth.shape[-1] != uv.shape[-2]:
        raise ValueError(
            f"depth must have shape (..., N) with N = {uv.shape[-2]} (from uv {tuple(uv.shape)}), "
            f"got {tuple(depth.shape)}"
        )
    xy = undistort_normalized(_pixels_to_normalized(uv, K), dist, iterations)
    z = depth.to(uv.dtype)[..., None]
    return torch.cat([xy * z, z.expand(xy.shape[:-1] + (1,))], dim=-1)


def undistort_pixels(
    uv: Tensor, K: Tensor, dist: Optional[Tensor], iterations: int = 20
) -> Tensor:
    """Remove lens distortion from pixel coordinates, keeping the same ``K``.

    Args:
        uv: ``(..., N, 2)`` observed (distorted) pixels.
        K: ``(..., 3, 3)`` intrinsics.
        dist: ``(..., D)`` distortion, ``D`` in {0, 4, 5, 8}, or ``None`` (returns ``uv``).
        iterations: Newton steps of :func:`undistort_normalized`.

    Returns:
        ``(..., N, 2)`` pixels where an ideal pinhole camera with intrinsics ``K`` would
        see the same rays.
    """
    check_shape(uv, (-1, 2), "uv")
    check_shape(K, (3, 3), "K")
    if dist is None or _check_dist(dist).shape[-1] == 0:
        return uv
    xy = undistort_normalized(_pixels_to_normalized(uv, K), dist, iterations)
    return _normalized_to_pixels(xy, K)


Scalar = Union[float, int, Tensor]


def intrinsics_matrix(
    fx: Scalar,
    fy: Scalar,
    cx: Scalar,
    cy: Scalar,
    *,
    dtype: Optional[torch.dtype] = None,
    device: Optional[Union[str, torch.device]] = None,
) -> Tensor:
    """Build ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.

    Args:
        fx, fy: focal lengths in pixels; floats or tensors of a common batch shape ``(...)``.
        cx, cy: principal point in pixels.
        dtype: result dtype (default: that of a tensor argument, else torch's default).
        device: result device (default: that of a tensor argument, else CPU).

    Returns:
        ``(3, 3)`` for scalar inputs, ``(..., 3, 3)`` for batched tensor inputs.
    """
    tensors = [v for v in (fx, fy, cx, cy) if isinstance(v, Tensor)]
    if dtype is None:
        dtype = tensors[0].dtype if tensors and tensors[0].is_floating_point() else None
        dtype = dtype or torch.get_default_dtype()
    if device is None and tensors:
        device = tensors[0].device
    vals = torch.broadcast_tensors(
        *(torch.as_tensor(v, dtype=dtype, device=device) for v in (fx, fy, cx, cy))
    )
    fx_, fy_, cx_, cy_ = vals
    zero, one = torch.zeros_like(fx_), torch.ones_like(fx_)
    return torch.stack(
        [
            torch.stack([fx_, zero, cx_], dim=-1),
            torch.stack([zero, fy_, cy_], dim=-1),
            torch.stack([zero, zero, one], dim=-1),
        ],
        dim=-2,
    )


def validate_intrinsics(K: object, dist: object = None) -> None:
    """Check camera intrinsics (and distortion) for use with this module.

    Accepts tensors or array-likes (e.g. ``numpy.reshape(camera_info.k, (3, 3))``).

    Args:
        K: ``(..., 3, 3)`` intrinsics.
        dist: ``None`` or ``(..., D)`` distortion with ``D`` in {0, 4, 5, 8}.

    Raises:
        ValueError: wrong shape, NaN/inf entries, non-positive focal lengths, or a last row
            other than ``[0, 0, 1]``; the message says which.
    """
    try:
        Kt = torch.as_tensor(K).detach().cpu().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"K must be a numeric (..., 3, 3) array, got {type(K).__name__}") from exc
    if Kt.dim() < 2 or tuple(Kt.shape[-2:]) != (3, 3):
        raise ValueError(f"K must have shape (..., 3, 3), got {tuple(Kt.shape)}")
    if not bool(torch.isfinite(Kt).all()):
        raise ValueError("K contains NaN or inf entries")
    fx, fy = Kt[..., 0, 0], Kt[..., 1, 1]
    if not bool((fx > 0).all()):
        raise ValueError(f"K has a non-positive focal length fx (min fx = {fx.min().item():g})")
    if not bool((fy > 0).all()):
        raise ValueError(f"K has a non-positive focal length fy (min fy = {fy.min().item():g})")
    if not bool((Kt[..., 1, 0] == 0).all()):
        raise ValueError("K[1, 0] must be 0 (K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]])")
    last = Kt[..., 2, :]
    expected = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    if not bool(torch.isclose(last, expected, rtol=0.0, atol=1e-9).all()):
        raise ValueError("K's last row must be [0, 0, 1]")
    if dist is None:
        return
    try:
        d = torch.as_tensor(dist).detach().cpu().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"dist must be a numeric array, got {type(dist).__name__}") from exc
    if d.dim() < 1 or d.shape[-1] not in _VALID_DIST_SIZES:
        raise ValueError(
            "dist must have shape (..., D) with D in {0, 4, 5, 8} "
            f"((k1, k2, p1, p2[, k3[, k4, k5, k6]])), got {tuple(d.shape)}"
        )
    if not bool(torch.isfinite(d).all()):
        raise ValueError("dist contains NaN or inf entries")
