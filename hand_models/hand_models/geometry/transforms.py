"""Rigid transforms as homogeneous 4x4 matrices (batched torch).

A transform ``T_ab`` (shape ``(..., 4, 4)``) maps points expressed in frame ``b`` to frame
``a``: ``p_a = R_ab @ p_b + t_ab``, with ``T = [[R, t], [0, 0, 0, 1]]``.  Composition follows
matrix multiplication: ``T_ac = compose_transforms(T_ab, T_bc)``.

Batch dimensions ``...`` broadcast between arguments.  All functions are differentiable.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_shape

__all__ = [
    "make_transform",
    "split_transform",
    "compose_transforms",
    "invert_transform",
    "apply_transform",
    "apply_rotation_translation",
]


def make_transform(R: Tensor, t: Tensor) -> Tensor:
    """Homogeneous transform from a rotation and a translation.

    Args:
        R: ``(..., 3, 3)`` rotation matrices.
        t: ``(..., 3)`` translations; batch dims broadcast with ``R``'s.

    Returns:
        ``(..., 4, 4)`` matrices ``[[R, t], [0, 0, 0, 1]]``.
    """
    check_shape(R, (3, 3), "R")
    check_shape(t, (3,), "t")
    batch = torch.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    dtype = torch.promote_types(R.dtype, t.dtype)
    R = R.to(dtype).expand(*batch, 3, 3)
    t = t.to(dtype).expand(*batch, 3)
    top = torch.cat([R, t[..., None]], dim=-1)  # (..., 3, 4)
    bottom = torch.zeros(*batch, 1, 4, dtype=dtype, device=R.device)
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def split_transform(T: Tensor) -> tuple[Tensor, Tensor]:
    """Rotation ``(..., 3, 3)`` and translation ``(..., 3)`` of ``(..., 4, 4)`` transforms."""
    check_shape(T, (4, 4), "T")
    return T[..., :3, :3], T[..., :3, 3]


def compose_transforms(T1: Tensor, T2: Tensor) -> Tensor:
    """``T1 @ T2``: apply ``T2`` first, then ``T1`` (``T_ac = T_ab @ T_bc``).

    Args:
        T1: ``(..., 4, 4)``.
        T2: ``(..., 4, 4)``, batch dims broadcast with ``T1``.

    Returns:
        ``(..., 4, 4)``.
    """
    check_shape(T1, (4, 4), "T1")
    check_shape(T2, (4, 4), "T2")
    return T1 @ T2


def invert_transform(T: Tensor) -> Tensor:
    """Inverse of rigid transforms, ``[[R^T, -R^T t], [0, 1]]``.

    Uses the transpose of the rotation block (exact for rigid transforms, no general matrix
    inverse), so ``T`` must hold a rotation in its upper-left block.

    Args:
        T: ``(..., 4, 4)`` rigid transforms ``T_ab``.

    Returns:
        ``(..., 4, 4)`` transforms ``T_ba``.
    """
    R, t = split_transform(T)
    Rt = R.transpose(-1, -2)
    return make_transform(Rt, -(Rt @ t[..., None])[..., 0])


def apply_rotation_translation(R: Tensor, t: Tensor, points: Tensor) -> Tensor:
    """``R @ p + t`` for every point.

    Args:
        R: ``(..., 3, 3)`` rotations (or any linear maps).
        t: ``(..., 3)`` translations.
        points: ``(..., N, 3)`` points; batch dims broadcast with ``R`` and ``t``.

    Returns:
        ``(..., N, 3)`` transformed points.
    """
    check_shape(R, (3, 3), "R")
    check_shape(t, (3,), "t")
    check_shape(points, (-1, 3), "points")
    return points @ R.transpose(-1, -2) + t[..., None, :]


def apply_transform(T: Tensor, points: Tensor) -> Tensor:
    """Apply homogeneous transforms to point sets: ``p' = R @ p + t``.

    Args:
        T: ``(..., 4, 4)`` transforms ``T_ab`` (the last row is ignored: affine use).
        points: ``(..., N, 3)`` points in frame ``b``; batch dims broadcast with ``T``'s.

    Returns:
        ``(..., N, 3)`` points in frame ``a``.
    """
    R, t = split_transform(T)
    return apply_rotation_translation(R, t, points)
