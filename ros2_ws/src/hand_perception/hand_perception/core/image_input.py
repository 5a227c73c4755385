"""Checks of the frames and stamps given to the hand trackers (``mediapipe_hands``, ``mediapipe_baseline``).

``prepare_image`` turns an RGB frame into what MediaPipe's models take: a C-contiguous (H, W, 3) uint8
RGB array. Grayscale (H, W) or (H, W, 1) is replicated to three channels; non-contiguous arrays are
copied; anything else raises ``TypeError`` (not an array, wrong dtype) or ``ValueError`` (wrong shape
or channel count, empty image, larger than ``max_side`` / ``max_pixels``) with a message that says how
to fix it. ``check_stamp`` accepts only int stamps (ns).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "DEFAULT_MAX_IMAGE_SIDE", "check_stamp", "prepare_image"]

DEFAULT_MAX_IMAGE_SIDE = 8192
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000


def prepare_image(
    image: np.ndarray,
    max_side: int = DEFAULT_MAX_IMAGE_SIDE,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Validate an RGB frame and return it as a C-contiguous (H, W, 3) uint8 array.

    Grayscale (H, W) or (H, W, 1) frames are replicated to 3 channels. Raises TypeError/ValueError
    with a message that says what was wrong and how to fix it.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy.ndarray (H, W, 3) uint8 RGB, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(
            f"image must have dtype uint8 (0..255 RGB), got {image.dtype}; convert float images in [0, 1] "
            "with (img * 255).clip(0, 255).astype(np.uint8)"
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        gray = True
    elif image.ndim == 3:
        gray = False
        if image.shape[2] != 3:
            hint = " (RGBA/BGRA? drop alpha with img[..., :3])" if image.shape[2] == 4 else ""
            raise ValueError(f"image must have 3 channels (RGB), got shape {image.shape}{hint}")
    else:
        raise ValueError(f"image must be (H, W, 3) RGB or (H, W) grayscale, got shape {image.shape}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    if max(h, w) > max_side or h * w > max_pixels:
        raise ValueError(
            f"image of {w}x{h} px is larger than allowed (max side {max_side}, max {max_pixels} pixels); "
            "resize it first"
        )
    if gray:
        image = np.repeat(image[:, :, None], 3, axis=2)  # always a new contiguous array
    elif not image.flags.c_contiguous:
        image = np.ascontiguousarray(image)
    return image


def check_stamp(stamp_ns) -> int:
    """``stamp_ns`` as an int (ns); TypeError for anything but an int (bool included)."""
    if isinstance(stamp_ns, (bool, np.bool_)) or not isinstance(stamp_ns, (int, np.integer)):
        raise TypeError(f"stamp_ns must be an int (nanoseconds), got {type(stamp_ns).__name__}")
    return int(stamp_ns)
