"""Private input checks shared by the geometry modules."""

from __future__ import annotations

from torch import Tensor


def check_tensor(x: object, name: str) -> Tensor:
    """Raise ``TypeError`` unless ``x`` is a ``torch.Tensor``; return it."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_shape(x: object, trailing: tuple[int, ...], name: str, min_batch: int = 0) -> Tensor:
    """Check that ``x`` is a tensor of shape ``(..., *trailing)``.

    Args:
        x: the tensor to check.
        trailing: the expected trailing sizes; ``-1`` accepts any size in that place.
        name: the argument name, used in the error message.
        min_batch: the least number of dimensions before ``trailing``.

    Raises:
        ValueError: naming the expected and the actual shape.
    """
    x = check_tensor(x, name)
    n = len(trailing)
    ok = x.dim() >= n + min_batch and all(
        want == -1 or got == want for want, got in zip(trailing, x.shape[x.dim() - n :])
    )
    if not ok:
        want = ", ".join("N" if s == -1 else str(s) for s in trailing)
        raise ValueError(f"{name} must have shape (..., {want}), got {tuple(x.shape)}")
    return x


def check_float(x: Tensor, name: str) -> Tensor:
    """Raise ``TypeError`` unless ``x`` has a floating point dtype."""
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating point dtype, got {x.dtype}")
    return x

