"""Least-squares rigid and similarity alignment of point sets (batched torch).

Weighted Umeyama (1991) / Kabsch: find ``scale``, ``R`` (a proper rotation, ``det R = +1``)
and ``t`` minimising ``sum_i w_i |scale * R @ src_i + t - dst_i|^2``.

The solution uses an SVD of the 3x3 weighted cross-covariance.  It is differentiable, but
like every SVD-based solver its gradient is ill-defined when two singular values coincide
(e.g. perfectly symmetric or collinear point sets); use it as a metric or with generic data.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ._checks import check_float, check_shape

__all__ = ["procrustes", "kabsch", "align"]


def _prepare_weights(src: Tensor, weights: Optional[Tensor]) -> Tensor:
    """Weights of shape ``(..., N, 1)`` normalised to sum 1 over ``N`` (broadcast batch)."""
    if weights is None:
        w = torch.ones(src.shape[:-1], dtype=src.dtype, device=src.device)
    else:
        if not isinstance(weights, Tensor):
            raise TypeError(f"weights must be a torch.Tensor or None, got {type(weights).__name__}")
        if weights.dim() < 1 or weights.shape[-1] != src.shape[-2]:
            raise ValueError(
                f"weights must have shape (..., N) with N = {src.shape[-2]}, "
                f"got {tuple(weights.shape)}"
            )
        w = weights.to(src.dtype)
    total = w.sum(-1, keepdim=True)
    w = w / total.clamp_min(torch.finfo(src.dtype).tiny)
    return w[..., None]


def procrustes(
    src: Tensor,
    dst: Tensor,
    weights: Optional[Tensor] = None,
    with_scale: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Weighted similarity (or rigid) transform aligning ``src`` to ``dst``.

    Finds ``dst ≈ scale * R @ src + t`` in the weighted least-squares sense (Umeyama).  ``R``
    is always a proper rotation (reflections are excluded by flipping the sign of the
    smallest singular direction), and ``scale >= 0``.

    Args:
        src: ``(..., N, 3)`` source points.
        dst: ``(..., N, 3)`` target points; batch dims broadcast with ``src``.
        weights: ``(..., N)`` non-negative weights (bool masks work), or ``None`` for uniform.
            Points with weight 0 are ignored.  Needs at least 3 non-collinear weighted
            points for a unique rotation; if all weights are 0 the result is finite but
            arbitrary.
        with_scale: estimate the scale; if ``False``, ``scale`` is all ones (Kabsch).

    Returns:
        ``scale`` ``(...)``, ``R`` ``(..., 3, 3)``, ``t`` ``(..., 3)``.
    """
    check_shape(src, (-1, 3), "src")
    check_shape(dst, (-1, 3), "dst")
    check_float(src, "src")
    if src.shape[-2] != dst.shape[-2]:
        raise ValueError(
            f"src and dst must have the same number of points N, got {tuple(src.shape)} "
            f"and {tuple(dst.shape)}"
        )
    dtype = torch.promote_types(src.dtype, dst.dtype)
    src, dst = src.to(dtype), dst.to(dtype)
    batch = torch.broadcast_shapes(src.shape[:-2], dst.shape[:-2])
    if weights is not None:
        if not isinstance(weights, Tensor):
            raise TypeError(f"weights must be a torch.Tensor or None, got {type(weights).__name__}")
        if weights.dim() < 1 or weights.shape[-1] != src.shape[-2]:
            raise ValueError(
                f"weights must have shape (..., N) with N = {src.shape[-2]}, "
                f"got {tuple(weights.shape)}"
            )
        batch = torch.broadcast_shapes(batch, weights.shape[:-1])
    src = src.expand(*batch, *src.shape[-2:])
    dst = dst.expand(*batch, *dst.shape[-2:])
    w = _prepare_weights(src, weights)  # (..., N, 1), sums to 1

    mu_src = (w * src).sum(-2)  # (..., 3)
    mu_dst = (w * dst).sum(-2)
    xs = src - mu_src[..., None, :]
    xd = dst - mu_dst[..., None, :]
    cov = (xd * w).transpose(-1, -2) @ xs  # (..., 3, 3) = sum_i w_i xd_i xs_i^T
    U, S, Vh = torch.linalg.svd(cov)
    # Reflection guard: d = sign(det(U Vh)); flip the last singular direction if d < 0.
    d = torch.sign(torch.linalg.det(U) * torch.linalg.det(Vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    flip = torch.ones(*batch, 3, dtype=dtype, device=src.device)
    flip = torch.cat([flip[..., :2], d[..., None]], dim=-1)  # (..., 3)
    R = (U * flip[..., None, :]) @ Vh

    if with_scale:
        var_src = (w[..., 0] * (xs * xs).sum(-1)).sum(-1)  # (...)
        trace = (S * flip).sum(-1)
        scale = trace / var_src.clamp_min(torch.finfo(dtype).tiny)
    else:
        scale = torch.ones(batch, dtype=dtype, device=src.device)
    t = mu_dst - scale[..., None] * (R @ mu_src[..., None])[..., 0]
    return scale, R, t


def kabsch(
    src: Tensor, dst: Tensor, weights: Optional[Tensor] = None
) -> tuple[Tensor, Tensor]:
    """Weighted rigid transform (no scale) with ``dst ≈ R @ src + t``.

    Args:
        src: ``(..., N, 3)``; dst: ``(..., N, 3)``; weights: ``(..., N)`` or ``None``.

    Returns:
        ``R`` ``(..., 3, 3)`` (proper rotation) and ``t`` ``(..., 3)``.
    """
    _, R, t = procrustes(src, dst, weights, with_scale=False)
    return R, t


def align(
    src: Tensor,
    dst: Tensor,
    weights: Optional[Tensor] = None,
    with_scale: bool = True,
) -> Tensor:
    """``src`` moved onto ``dst`` by the :func:`procrustes` transform.

    Args:
        src: ``(..., N, 3)``; dst: ``(..., N, 3)``; weights: ``(..., N)`` or ``None``;
        with_scale: similarity (``True``) or rigid (``False``) alignment.

    Returns:
        ``(..., N, 3)`` = ``scale * R @ src_i + t`` for every point.
    """
    scale, R, t = procrustes(src, dst, weights, with_scale)
    src = src.to(R.dtype)
    return scale[..., None, None] * (src @ R.transpose(-1, -2)) + t[..., None, :]
