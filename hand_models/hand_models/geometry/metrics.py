"""Pose-estimation metrics (batched torch).

All errors are Euclidean distances in the units of the inputs (metres in hand_perception;
multiply by 1000 for the millimetres the papers report).  Masks are ``(..., N)`` bool or
non-negative float weights; a sample whose mask selects no joint gets 0 (check
``mask.any(-1)`` to exclude such samples from averages).
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

from ._checks import check_shape
from .alignment import align

__all__ = ["per_joint_error", "mpjpe", "pa_mpjpe", "pck"]


def _check_pair(pred: Tensor, gt: Tensor, dim: int) -> None:
    check_shape(pred, (-1, dim), "pred")
    check_shape(gt, (-1, dim), "gt")
    if pred.shape[-2] != gt.shape[-2]:
        raise ValueError(
            f"pred and gt must have the same number of joints, got {tuple(pred.shape)} "
            f"and {tuple(gt.shape)}"
        )


def _masked_mean(values: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Mean over the last dim of ``values`` (``(..., N)``) weighted by ``mask``."""
    if mask is None:
        return values.mean(-1)
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dim() < 1 or mask.shape[-1] != values.shape[-1]:
        raise ValueError(
            f"mask must have shape (..., N) with N = {values.shape[-1]}, got {tuple(mask.shape)}"
        )
    m = mask.to(values.dtype)
    num = (values * m).sum(-1)
    den = m.sum(-1)
    return num / den.clamp_min(torch.finfo(values.dtype).tiny)


def per_joint_error(pred: Tensor, gt: Tensor) -> Tensor:
    """Euclidean distance per joint.

    Args:
        pred: ``(..., N, 3)`` predicted joints (any point dimension works, e.g. 2D).
        gt: ``(..., N, 3)`` ground truth; batch dims broadcast.

    Returns:
        ``(..., N)`` distances.  Differentiable; the gradient is 0 (not NaN) where the
        distance is exactly 0.
    """
    check_shape(pred, (-1, -1), "pred")
    check_shape(gt, (-1, pred.shape[-1]), "gt")
    return torch.linalg.vector_norm(pred - gt, dim=-1)


def mpjpe(pred: Tensor, gt: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Mean per-joint position error.

    Args:
        pred: ``(..., N, 3)`` predicted joints.
        gt: ``(..., N, 3)`` ground-truth joints in the same frame and units.
        mask: ``(..., N)`` valid joints (bool or weights), or ``None`` for all.

    Returns:
        ``(...)`` mean distance over the (masked) joints.
    """
    _check_pair(pred, gt, 3)
    return _masked_mean(per_joint_error(pred, gt), mask)


def pa_mpjpe(pred: Tensor, gt: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Procrustes-aligned MPJPE: similarity-align ``pred`` onto ``gt``, then :func:`mpjpe`.

    The alignment (scale, rotation, translation; no reflection) is fitted on the masked
    joints only, with the mask as weights.

    Args:
        pred: ``(..., N, 3)``; gt: ``(..., N, 3)``; mask: ``(..., N)`` or ``None``.

    Returns:
        ``(...)`` errors, invariant to any similarity transform of ``pred``.
    """
    _check_pair(pred, gt, 3)
    aligned = align(pred, gt, weights=mask, with_scale=True)
    return mpjpe(aligned, gt.to(aligned.dtype), mask)


def pck(
    pred2d: Tensor,
    gt2d: Tensor,
    threshold: Union[Tensor, float],
    mask: Optional[Tensor] = None,
) -> Tensor:
    """Percentage of correct keypoints, as a fraction in ``[0, 1]``.

    A keypoint is correct when its distance to the ground truth is ``<= threshold``.

    Args:
        pred2d: ``(..., N, 2)`` predicted keypoints (pixels or normalised units).
        gt2d: ``(..., N, 2)`` ground truth in the same units.
        threshold: a float or ``(...)`` per-sample thresholds (e.g. a fraction of the box
            size), same units.
        mask: ``(..., N)`` valid keypoints, or ``None`` for all.

    Returns:
        ``(...)`` fraction of (masked) keypoints within the threshold (not differentiable).
    """
    _check_pair(pred2d, gt2d, 2)
    err = per_joint_error(pred2d, gt2d)
    thr = torch.as_tensor(threshold, dtype=err.dtype, device=err.device)
    correct = (err <= thr[..., None]).to(err.dtype)
    return _masked_mean(correct, mask)
