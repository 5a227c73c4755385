"""Time-stamped One-Euro filters for vectors and for rotations (SO(3)).

The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a first-order low-pass filter whose
cutoff frequency grows with the speed of the signal::

    dx      = (x_t - x_{t-1}) / dt                 raw derivative (from the raw samples)
    dx_hat  = lowpass(dx, alpha(d_cutoff, dt))     smoothed derivative
    cutoff  = min_cutoff + beta * |dx_hat|         speed-adaptive cutoff (Hz)
    x_hat   = lowpass(x, alpha(cutoff, dt))
    alpha(fc, dt) = 1 / (1 + tau / dt),  tau = 1 / (2 pi fc)

so slow motion is smoothed hard (low jitter) and fast motion is followed closely (low lag).
``min_cutoff`` (Hz) sets the smoothing at rest, ``beta`` (Hz per unit/s of speed) how quickly the
cutoff opens with speed, ``d_cutoff`` (Hz) the smoothing of the derivative. Every step uses its own
``dt``, so variable frame rates are handled exactly.

:class:`OneEuroFilter` filters arrays of any shape elementwise; with ``speed_axis`` set (e.g. -1
for (21, 3) points) the speed that opens the cutoff is the Euclidean norm along that axis, which
makes the filter rotation-invariant for 3D points.

:class:`RotationOneEuroFilter` does the same on SO(3) for quaternions ``(..., 4)`` in (x, y, z, w)
order: the speed is the norm of the angular velocity estimated from consecutive raw rotations,
and the low-pass step moves the previous estimate towards the new measurement along the geodesic,
``R_hat = exp(alpha * log(R_raw R_hat_prev^-1)) R_hat_prev`` (a SLERP by ``alpha``). Angular
velocities are expressed in the fixed (camera) frame: ``R(t + dt) = exp(omega dt) R(t)``. Outputs
are unit quaternions whose sign is kept continuous with the previous output, so a ``q -> -q`` flip
of the input changes nothing.

:class:`AxisAngleOneEuroFilter` wraps the rotation filter for axis-angle vectors ``(..., 3)`` such
as MANO ``global_orient`` and ``hand_pose`` (reshaped to (15, 3)).

Non-increasing time stamps (``dt <= 0``) restart a filter from the new sample; non-finite input
raises ``ValueError`` and leaves the state untouched.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "smoothing_factor",
    "normalize_quaternions",
    "continuous_quaternions",
    "OneEuroFilter",
    "RotationOneEuroFilter",
    "AxisAngleOneEuroFilter",
]


def _quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (N, 4) xyzw quaternions (rotation b, then a)."""
    ax, ay, az, aw = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    bx, by, bz, bw = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np.stack([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz], -1)


def _quat_conjugate(q: np.ndarray) -> np.ndarray:
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def _quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """(N, 4) unit xyzw -> (N, 3) axis-angle with angle in [0, pi] (series near 0)."""
    q = np.where(q[:, 3:4] < 0, -q, q)
    v = q[:, :3]
    s = np.linalg.norm(v, axis=-1)
    angle = 2.0 * np.arctan2(s, q[:, 3])
    small = s < 1e-8
    factor = np.where(small, 2.0 / np.maximum(q[:, 3], 1e-12), angle / np.where(small, 1.0, s))
    return v * factor[:, None]


def _rotvec_to_quat(r: np.ndarray) -> np.ndarray:
    """(N, 3) axis-angle -> (N, 4) unit xyzw (series near 0)."""
    theta = np.linalg.norm(r, axis=-1)
    small = theta < 1e-8
    k = np.where(small, 0.5 - theta**2 / 48.0, np.sin(theta / 2.0) / np.where(small, 1.0, theta))
    return np.concatenate([r * k[:, None], np.cos(theta / 2.0)[:, None]], -1)


def smoothing_factor(dt: float, cutoff: np.ndarray | float) -> np.ndarray | float:
    """Exponential smoothing factor ``alpha`` of a first-order low-pass at ``cutoff`` Hz for ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def normalize_quaternions(q: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)``; raises ``ValueError`` for non-finite or near-zero ones."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1:] != (4,):
        raise ValueError(f"quaternions must be shaped (..., 4), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("quaternion contains NaN or inf")
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n < 1e-9):
        raise ValueError("zero-norm quaternion")
    return q / n


def continuous_quaternions(q: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Flip signs so each quaternion is in the hemisphere of ``reference`` (or of its predecessor).

    ``q`` is ``(..., 4)``. With ``reference`` (same shape or broadcastable) each quaternion is
    compared to it; without, ``q`` is read as a sequence along axis 0 and made continuous in time.
    """
    q = np.array(q, dtype=np.float64, copy=True)
    if reference is not None:
        flip = np.sum(q * np.asarray(reference, dtype=np.float64), axis=-1) < 0.0
        q[flip] *= -1.0
        return q
    for i in range(1, q.shape[0]):
        flip = np.sum(q[i] * q[i - 1], axis=-1) < 0.0
        q[i][flip] *= -1.0
    return q


def _check_params(min_cutoff: float, beta: float, d_cutoff: float) -> None:
    if not (min_cutoff > 0 and math.isfinite(min_cutoff)):
        raise ValueError(f"min_cutoff must be > 0 Hz, got {min_cutoff}")
    if not (beta >= 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be >= 0, got {beta}")
    if not (d_cutoff > 0 and math.isfinite(d_cutoff)):
        raise ValueError(f"d_cutoff must be > 0 Hz, got {d_cutoff}")


class OneEuroFilter:
    """One-Euro filter over arrays of any (fixed) shape, with explicit time stamps in seconds.

    Parameters: ``min_cutoff`` Hz (> 0), ``beta`` (>= 0, Hz per unit of speed), ``d_cutoff`` Hz
    (> 0), ``speed_axis``: ``None`` for a per-element speed (the classic filter) or an axis whose
    Euclidean norm is the speed (e.g. -1 for (N, 3) points).

    ``filter(x, t)`` (or calling the object) returns the filtered array. The first sample, a sample
    whose shape differs from the state, and a sample with ``t <= previous t`` (re)start the filter
    and are returned unchanged. ``velocity`` is the smoothed derivative (units/s), the one used
    for the adaptive cutoff; it is zero right after a (re)start.
    """

    def __init__(
        self,
        min_cutoff: float = 1.0,
        beta: float = 0.0,
        d_cutoff: float = 1.0,
        speed_axis: int | None = None,
    ) -> None:
        _check_params(min_cutoff, beta, d_cutoff)
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.speed_axis = speed_axis
        self.reset()

    def reset(self) -> None:
        self._x_hat: np.ndarray | None = None
        self._x_raw: np.ndarray | None = None
        self._dx_hat: np.ndarray | None = None
        self._t: float | None = None

    @property
    def initialized(self) -> bool:
        return self._t is not None

    @property
    def value(self) -> np.ndarray | None:
        return None if self._x_hat is None else self._x_hat.copy()

    @property
    def velocity(self) -> np.ndarray | None:
        return None if self._dx_hat is None else self._dx_hat.copy()

    @property
    def last_time(self) -> float | None:
        return self._t

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        return self.filter(x, t)

    def filter(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.array(x, dtype=np.float64, copy=True)
        t = float(t)
        if not np.all(np.isfinite(x)) or not math.isfinite(t):
            raise ValueError("OneEuroFilter input contains NaN or inf")
        if self._t is None or self._x_hat is None or x.shape != self._x_hat.shape or not t > self._t:
            return self._start(x, t)
        dt = t - self._t
        dx = (x - self._x_raw) / dt
        self._dx_hat = self._dx_hat + smoothing_factor(dt, self.d_cutoff) * (dx - self._dx_hat)
        if self.speed_axis is None or x.ndim == 0:
            speed = np.abs(self._dx_hat)
        else:
            speed = np.linalg.norm(self._dx_hat, axis=self.speed_axis, keepdims=True)
        alpha = smoothing_factor(dt, self.min_cutoff + self.beta * speed)
        self._x_hat = self._x_hat + alpha * (x - self._x_hat)
        self._x_raw = x
        self._t = t
        return self._x_hat.copy()

    def _start(self, x: np.ndarray, t: float) -> np.ndarray:
        self._x_hat = x.copy()
        self._x_raw = x.copy()
        self._dx_hat = np.zeros_like(x)
        self._t = t
        return x


class RotationOneEuroFilter:
    """One-Euro filter on SO(3) for quaternions ``(..., 4)`` (x, y, z, w), vectorised over ``...``.

    Each rotation gets its own speed-adaptive cutoff from the norm of its smoothed angular velocity
    (rad/s): ``cutoff = min_cutoff + beta * |omega_hat|``. The step is a geodesic interpolation
    from the previous estimate towards the measurement by the One-Euro ``alpha``. Outputs are unit
    quaternions, sign-continuous with the previous output (the first output keeps the input's sign).
    ``angular_velocity`` is in the fixed frame (``R(t+dt) = exp(omega dt) R(t)``).
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        _check_params(min_cutoff, beta, d_cutoff)
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._q_hat: np.ndarray | None = None  # (N, 4), sign-continuous output
        self._r_hat: np.ndarray | None = None  # (N, 4) filtered rotation (xyzw)
        self._r_raw: np.ndarray | None = None  # (N, 4) last measurement (xyzw)
        self._omega_hat: np.ndarray | None = None  # (N, 3)
        self._shape: tuple[int, ...] | None = None
        self._t: float | None = None

    @property
    def initialized(self) -> bool:
        return self._t is not None

    @property
    def value(self) -> np.ndarray | None:
        """Current filtered quaternions shaped like the input."""
        if self._q_hat is None or self._shape is None:
            return None
        return self._q_hat.reshape(self._shape + (4,)).copy()

    @property
    def angular_velocity(self) -> np.ndarray | None:
        """Smoothed angular velocity (rad/s, fixed frame), shaped ``(..., 3)``."""
        if self._omega_hat is None or self._shape is None:
            return None
        return self._omega_hat.reshape(self._shape + (3,)).copy()

    @property
    def last_time(self) -> float | None:
        return self._t

    def __call__(self, q_xyzw: np.ndarray, t: float) -> np.ndarray:
        return self.filter(q_xyzw, t)

    def filter(self, q_xyzw: np.ndarray, t: float) -> np.ndarray:
        q = normalize_quaternions(q_xyzw)
        t = float(t)
        if not math.isfinite(t):
            raise ValueError("RotationOneEuroFilter stamp is not finite")
        shape = q.shape[:-1]
        flat = q.reshape(-1, 4)
        if self._t is None or shape != self._shape or not t > self._t:
            return self._start(flat, shape, t)
        dt = t - self._t
        r_raw = flat
        omega = _quat_to_rotvec(_quat_multiply(r_raw, _quat_conjugate(self._r_raw))) / dt
        self._omega_hat = self._omega_hat + smoothing_factor(dt, self.d_cutoff) * (omega - self._omega_hat)
        speed = np.linalg.norm(self._omega_hat, axis=-1)
        alpha = smoothing_factor(dt, self.min_cutoff + self.beta * speed)
        err = _quat_to_rotvec(_quat_multiply(r_raw, _quat_conjugate(self._r_hat)))
        r_hat = _quat_multiply(_rotvec_to_quat(alpha[:, None] * err), self._r_hat)
        self._r_hat = r_hat / np.linalg.norm(r_hat, axis=-1, keepdims=True)
        self._r_raw = r_raw
        self._q_hat = continuous_quaternions(self._r_hat, self._q_hat)
        self._t = t
        return self._q_hat.reshape(shape + (4,)).copy()

    def _start(self, flat: np.ndarray, shape: tuple[int, ...], t: float) -> np.ndarray:
        self._q_hat = flat.copy()
        self._r_hat = flat.copy()
        self._r_raw = flat.copy()
        self._omega_hat = np.zeros((flat.shape[0], 3))
        self._shape = shape
        self._t = t
        return flat.reshape(shape + (4,)).copy()


def _nearest_rotvec(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Of the two axis-angle vectors of each rotation in ``out`` (angle theta and theta - 2 pi on
    the same axis), pick the one closer to ``ref``; both ``(N, 3)``."""
    theta = np.linalg.norm(out, axis=-1, keepdims=True)
    safe = np.where(theta > 1e-12, theta, 1.0)
    alt = out / safe * (theta - 2.0 * math.pi)
    use_alt = (np.linalg.norm(alt - ref, axis=-1) < np.linalg.norm(out - ref, axis=-1)) & (theta[:, 0] > 1e-12)
    return np.where(use_alt[:, None], alt, out)


class AxisAngleOneEuroFilter:
    """:class:`RotationOneEuroFilter` for axis-angle vectors ``(..., 3)`` (radians).

    The output is the filtered rotation written as the axis-angle vector (angle in [0, pi] or its
    ``theta - 2 pi`` twin on the same axis) that is closest to the input vector, so inputs slightly
    past pi do not flip to the opposite axis.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        self._rot = RotationOneEuroFilter(min_cutoff, beta, d_cutoff)

    def reset(self) -> None:
        self._rot.reset()

    @property
    def initialized(self) -> bool:
        return self._rot.initialized

    @property
    def angular_velocity(self) -> np.ndarray | None:
        return self._rot.angular_velocity

    @property
    def last_time(self) -> float | None:
        return self._rot.last_time

    def __call__(self, rotvec: np.ndarray, t: float) -> np.ndarray:
        return self.filter(rotvec, t)

    def filter(self, rotvec: np.ndarray, t: float) -> np.ndarray:
        rv = np.asarray(rotvec, dtype=np.float64)
        if rv.shape[-1:] != (3,):
            raise ValueError(f"axis-angle vectors must be shaped (..., 3), got {rv.shape}")
        if not np.all(np.isfinite(rv)):
            raise ValueError("axis-angle input contains NaN or inf")
        flat = rv.reshape(-1, 3)
        q_out = self._rot.filter(_rotvec_to_quat(flat), t).reshape(-1, 4)
        out = _quat_to_rotvec(q_out)
        return _nearest_rotvec(out, flat).reshape(rv.shape)
