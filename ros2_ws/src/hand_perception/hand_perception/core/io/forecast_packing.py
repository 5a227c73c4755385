"""Packing of forecast samples for ``hand_perception_msgs/HandTrajectory`` (pure numpy, no ROS).

A forecast of one hand is a mean trajectory plus S sampled trajectories of the same quantity
(joints, wrist position, orientation, MANO hand pose). The message carries the mean as float32
and each sample as int8 *codes* of its deviation from the mean, with one float32 scale per sample:

    value[s, t, d] = mean[t, d] + scale[s] * code[s, t, d]      code in -127..127
    code == CODE_NAN (-128)  ->  value is NaN

``scale[s] = max_{t,d} |value[s, t, d] - mean[t, d]| / 127`` (computed against the float32 mean
that is sent), so every decoded value is within ``scale[s] / 2`` of the forecast value (plus
float32 rounding of the scale). Samples of a forecaster scatter around their mean by centimetres,
so the error is a small fraction of a millimetre per centimetre of scatter: far below the
uncertainty the samples express, at a quarter of the bytes of float32.

Where the forecaster gave no mean, or its mean is NaN while some sample is not, the element-wise
average of the finite samples is used as the reference (and sent as the mean), so a mean value is
NaN only where every sample is NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

CODE_NAN = -128
CODE_MAX = 127


@dataclass
class PackedSamples:
    """One quantity of one hand, packed.

    mean (T, D) float32 (NaN only where every sample is NaN); codes (S, T, D) int8; scale (S,)
    float32 (units of the quantity per code).
    """

    mean: np.ndarray
    codes: np.ndarray
    scale: np.ndarray


def _sample_average(samples: np.ndarray) -> np.ndarray:
    """Element-wise mean of the finite samples (NaN where none is finite), (T, D)."""
    if samples.shape[0] == 0:
        return np.full(samples.shape[1:], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        return np.nanmean(samples, axis=0)


def pack_samples(samples: np.ndarray, mean: np.ndarray | None = None) -> PackedSamples:
    """Pack ``samples`` (S, T, D) around ``mean`` (T, D) or, when None, their own average.

    NaN samples become CODE_NAN; infinite values are rejected (ValueError), as they have no code.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"samples: expected shape (S, T, D), got {x.shape}")
    if np.isinf(x).any():
        raise ValueError("samples: infinite values cannot be packed")
    ref = _sample_average(x)
    if mean is not None:
        m = np.asarray(mean, dtype=np.float64)
        if m.shape != x.shape[1:]:
            raise ValueError(f"mean: expected shape {x.shape[1:]}, got {m.shape}")
        if np.isinf(m).any():
            raise ValueError("mean: infinite values cannot be packed")
        ref = np.where(np.isfinite(m), m, ref)
    mean32 = ref.astype(np.float32)
    dev = x - mean32.astype(np.float64)[None]
    finite = np.isfinite(dev)
    absdev = np.where(finite, np.abs(dev), 0.0)
    largest = absdev.reshape(x.shape[0], -1).max(axis=1) if x.size else np.zeros(x.shape[0])
    # float32 scale, nudged up so that |dev| / scale never exceeds CODE_MAX after rounding
    scale = (largest / CODE_MAX * (1.0 + 1e-6)).astype(np.float32)
    s64 = scale.astype(np.float64).reshape(-1, 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s64 > 0, dev / np.where(s64 > 0, s64, 1.0), 0.0)
    codes = np.clip(np.rint(np.where(finite, q, 0.0)), -CODE_MAX, CODE_MAX).astype(np.int8)
    codes[~finite] = CODE_NAN
    return PackedSamples(mean=mean32, codes=codes, scale=scale)


def unpack_samples(packed: PackedSamples) -> np.ndarray:
    """Decoded samples (S, T, D) float64 (NaN where the code is CODE_NAN)."""
    codes = np.asarray(packed.codes)
    mean = np.asarray(packed.mean, dtype=np.float64)
    scale = np.asarray(packed.scale, dtype=np.float64)
    if codes.ndim != 3 or mean.shape != codes.shape[1:] or scale.shape != (codes.shape[0],):
        raise ValueError(f"packed samples: codes {codes.shape}, mean {mean.shape}, scale {scale.shape} do not match")
    out = mean[None] + scale.reshape(-1, 1, 1) * codes.astype(np.float64)
    out[codes == CODE_NAN] = np.nan
    return out


def error_bound(packed: PackedSamples) -> np.ndarray:
    """Largest decoding error of each sample, (S,): half a code step (plus float32 slack)."""
    scale = np.asarray(packed.scale, dtype=np.float64)
    return scale * (0.5 + 1e-5) + 1e-7 * np.abs(np.asarray(packed.mean, dtype=np.float64)).max(initial=0.0)


__all__ = ["CODE_MAX", "CODE_NAN", "PackedSamples", "error_bound", "pack_samples", "unpack_samples"]
