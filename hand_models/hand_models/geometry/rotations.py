"""Rotation representations and conversions (batched, differentiable torch).

Conventions used everywhere in hand_perception:

* **Quaternions are ``(x, y, z, w)``** (scalar last), the order of ROS
  ``geometry_msgs/Quaternion``, Eigen's ``coeffs()`` and ``scipy.spatial.transform.Rotation``.
  A unit quaternion ``q`` and ``-q`` are the same rotation; functions that *produce* a
  quaternion from a matrix return the one with ``w >= 0``.
* **Rotation matrices act on column vectors**: ``p_a = R_ab @ p_b`` maps coordinates in
  frame ``b`` to frame ``a``.  ``R`` has shape ``(..., 3, 3)``.
* **Axis-angle** vectors ``aa`` (``(..., 3)``) are ``angle * unit_axis`` (right hand rule,
  radians), as MANO uses them.  Conversions *to* axis-angle return angles in ``[0, pi]``.
* **Quaternion product** ``quaternion_multiply(q1, q2)`` is the Hamilton product
  ``q1 * q2``: the rotation that applies ``q2`` first and then ``q1`` (the quaternion of
  ``R1 @ R2``).
* **6D rotation** (Zhou et al., "On the Continuity of Rotation Representations in Neural
  Networks", CVPR 2019): the **first two columns** of ``R`` concatenated,
  ``d6 = (R[:, 0], R[:, 1])`` i.e. ``(R00, R10, R20, R01, R11, R21)``.  Note that PyTorch3D
  uses the first two *rows* instead; the two conventions are not interchangeable.

All functions take any number of leading batch dimensions ``...`` (broadcast where two
inputs are given), run on any device, support float32 and float64, and are differentiable.
Values and gradients are finite at angle 0 (Taylor expansions are used near 0), and the
matrix -> quaternion/axis-angle conversions are accurate near angle ``pi``.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor

from ._checks import check_float, check_shape

__all__ = [
    "skew",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "quaternion_multiply",
    "quaternion_conjugate",
    "quaternion_invert",
    "quaternion_normalize",
    "quaternion_slerp",
    "rotation_6d_to_matrix",
    "matrix_to_rotation_6d",
    "so3_exp",
    "so3_log",
    "rotation_between_vectors",
]

# Below these squared angles (radians^2) the closed forms switch to Taylor series.  At
# theta = 1e-3 the first neglected term is ~1e-18 relative, far below float64 precision.
_SMALL_ANGLE_SQ = 1e-6


def skew(v: Tensor) -> Tensor:
    """Cross-product (hat) matrix of a 3-vector.

    Args:
        v: ``(..., 3)`` vectors.

    Returns:
        ``(..., 3, 3)`` matrices ``[v]_x`` with ``[v]_x @ u == cross(v, u)``.
    """
    check_shape(v, (3,), "v")
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack(
        [
            torch.stack([o, -z, y], dim=-1),
            torch.stack([z, o, -x], dim=-1),
            torch.stack([-y, x, o], dim=-1),
        ],
        dim=-2,
    )


def _cross(a: Tensor, b: Tensor) -> Tensor:
    """Cross product over the last dim of ``(..., 3)`` tensors (broadcasting).

    Written out instead of ``torch.linalg.cross`` so that it exports to ONNX everywhere.
    """
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    return torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], dim=-1)


def _sinc_and_half_cos_term(theta_sq: Tensor) -> tuple[Tensor, Tensor]:
    """Return ``sin(t)/t`` and ``(1-cos t)/t^2`` for ``t = sqrt(theta_sq)``, safe at 0."""
    small = theta_sq < _SMALL_ANGLE_SQ
    # Replace the small entries before the sqrt so that neither value nor gradient of the
    # unused closed-form branch can be inf/NaN (torch.where propagates NaN gradients).
    t = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    a_exact = torch.sin(t) / t
    half = 0.5 * t
    b_exact = 0.5 * (torch.sin(half) / half) ** 2  # == (1 - cos t) / t^2, no cancellation
    t2 = theta_sq
    a_taylor = 1.0 - t2 / 6.0 + t2 * t2 / 120.0
    b_taylor = 0.5 - t2 / 24.0 + t2 * t2 / 720.0
    return torch.where(small, a_taylor, a_exact), torch.where(small, b_taylor, b_exact)


def axis_angle_to_matrix(aa: Tensor) -> Tensor:
    """Rotation matrix of an axis-angle vector (Rodrigues' formula, SO(3) exponential).

    ``R = I + sin(t)/t [aa]_x + (1 - cos t)/t^2 [aa]_x^2`` with ``t = |aa|``, evaluated
    with a Taylor expansion for tiny ``t``, so values and gradients are finite at ``aa = 0``.

    Args:
        aa: ``(..., 3)`` axis-angle vectors (radians), any magnitude.

    Returns:
        ``(..., 3, 3)`` rotation matrices.
    """
    check_shape(aa, (3,), "aa")
    check_float(aa, "aa")
    theta_sq = (aa * aa).sum(-1)
    a, b = _sinc_and_half_cos_term(theta_sq)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    k_sq = aa[..., :, None] * aa[..., None, :] - theta_sq[..., None, None] * eye  # [aa]_x^2
    return eye + a[..., None, None] * skew(aa) + b[..., None, None] * k_sq


def axis_angle_to_quaternion(aa: Tensor) -> Tensor:
    """Unit quaternion ``(x, y, z, w)`` of an axis-angle vector.

    Args:
        aa: ``(..., 3)`` axis-angle vectors (radians).

    Returns:
        ``(..., 4)`` unit quaternions ``(sin(t/2) axis, cos(t/2))``; ``w`` is negative for
        angles above ``pi`` (no canonicalisation is applied).
    """
    check_shape(aa, (3,), "aa")
    check_float(aa, "aa")
    theta_sq = (aa * aa).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    t = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    half = 0.5 * t
    # sin(t/2)/t: exact and Taylor; cos(t/2) directly from theta_sq near 0.
    s_exact = torch.sin(half) / t
    s_taylor = 0.5 - theta_sq / 48.0 + theta_sq * theta_sq / 3840.0
    c_taylor = 1.0 - theta_sq / 8.0 + theta_sq * theta_sq / 384.0
    s = torch.where(small, s_taylor, s_exact)
    c = torch.where(small, c_taylor, torch.cos(half))
    return torch.cat([aa * s[..., None], c[..., None]], dim=-1)


def quaternion_to_axis_angle(q: Tensor) -> Tensor:
    """Axis-angle vector of a quaternion ``(x, y, z, w)``.

    The quaternion need not be unit norm (only its direction matters).  ``q`` and ``-q``
    give the same result: the angle is ``2 * atan2(|xyz|, |w|)``, in ``[0, pi]``.
    Finite values and gradients at the identity.

    Args:
        q: ``(..., 4)`` quaternions ``(x, y, z, w)``, non-zero.

    Returns:
        ``(..., 3)`` axis-angle vectors with angle in ``[0, pi]``.
    """
    check_shape(q, (4,), "q")
    check_float(q, "q")
    q = torch.where(q[..., 3:4] < 0, -q, q)
    v, w = q[..., :3], q[..., 3]
    s_sq = (v * v).sum(-1)
    n_sq = s_sq + w * w
    # Relative to the quaternion's norm, so that scaled quaternions behave the same.
    small = s_sq < 1e-8 * n_sq
    s = torch.sqrt(torch.where(small, torch.ones_like(s_sq), s_sq))
    factor_exact = 2.0 * torch.atan2(s, w) / s
    w_safe = torch.where(small, w, torch.ones_like(w))
    # 2 atan(s/w)/s = 2/w - 2 s^2 / (3 w^3) + O(s^4)
    factor_taylor = 2.0 / w_safe - (2.0 / 3.0) * s_sq / (w_safe**3)
    factor = torch.where(small, factor_taylor, factor_exact)
    return v * factor[..., None]


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """Rotation matrix of a quaternion ``(x, y, z, w)``.

    Non-unit quaternions are treated as their normalised version (the formula uses
    ``2 / |q|^2``); ``q`` must be non-zero.

    Args:
        q: ``(..., 4)`` quaternions ``(x, y, z, w)``.

    Returns:
        ``(..., 3, 3)`` rotation matrices.
    """
    check_shape(q, (4,), "q")
    check_float(q, "q")
    x, y, z, w = q.unbind(-1)
    s = 2.0 / (q * q).sum(-1)
    xx, yy, zz = s * x * x, s * y * y, s * z * z
    xy, xz, yz = s * x * y, s * x * z, s * y * z
    wx, wy, wz = s * w * x, s * w * y, s * w * z
    return torch.stack(
        [
            torch.stack([1.0 - (yy + zz), xy - wz, xz + wy], dim=-1),
            torch.stack([xy + wz, 1.0 - (xx + zz), yz - wx], dim=-1),
            torch.stack([xz - wy, yz + wx, 1.0 - (xx + yy)], dim=-1),
        ],
        dim=-2,
    )


def matrix_to_quaternion(R: Tensor) -> Tensor:
    """Unit quaternion ``(x, y, z, w)`` of a rotation matrix, with ``w >= 0``.

    Robust largest-diagonal (Shepperd) method: the four products ``4 q_i q`` are linear in
    the entries of ``R``; the one whose diagonal entry ``4 q_i^2`` is largest (always
    ``>= 1`` for a rotation) is normalised.  Accurate at all angles including ``pi``, and
    gives the nearest-rotation-like quaternion for slightly non-orthogonal input.

    Args:
        R: ``(..., 3, 3)`` rotation matrices.

    Returns:
        ``(..., 4)`` unit quaternions with ``w >= 0`` (at exactly ``w == 0``, i.e. angle
        ``pi``, the sign is whichever the selected candidate gives).
    """
    check_shape(R, (3, 3), "R")
    check_float(R, "R")
    m00, m01, m02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    m10, m11, m12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    m20, m21, m22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    # Rows are 4*q_i*(x, y, z, w) for q_i = x, y, z, w respectively.
    cand = torch.stack(
        [
            torch.stack([1.0 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12], dim=-1),
            torch.stack([m01 + m10, 1.0 - m00 + m11 - m22, m12 + m21, m02 - m20], dim=-1),
            torch.stack([m02 + m20, m12 + m21, 1.0 - m00 - m11 + m22, m10 - m01], dim=-1),
            torch.stack([m21 - m12, m02 - m20, m10 - m01, 1.0 + m00 + m11 + m22], dim=-1),
        ],
        dim=-2,
    )  # (..., 4, 4)
    diag = torch.diagonal(cand, dim1=-2, dim2=-1)  # (..., 4) = 4 q_i^2
    idx = diag.argmax(dim=-1)  # (...)
    row = torch.gather(cand, -2, idx[..., None, None].expand(*idx.shape, 1, 4)).squeeze(-2)
    q = row / torch.linalg.vector_norm(row, dim=-1, keepdim=True)
    return torch.where(q[..., 3:4] < 0, -q, q)


def matrix_to_axis_angle(R: Tensor) -> Tensor:
    """Axis-angle vector of a rotation matrix (SO(3) logarithm).

    Computed through :func:`matrix_to_quaternion` and ``2 atan2(|v|, w)``, which is accurate
    near angle 0 and near ``pi`` (where ``acos((tr R - 1)/2)`` and the antisymmetric part
    both lose precision).  Gradients are finite at the identity.

    Args:
        R: ``(..., 3, 3)`` rotation matrices.

    Returns:
        ``(..., 3)`` axis-angle vectors with angle in ``[0, pi]``.  At exactly ``pi``, ``aa``
        and ``-aa`` are the same rotation and either may be returned.
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


so3_exp = axis_angle_to_matrix
so3_log = matrix_to_axis_angle


def quaternion_multiply(q1: Tensor, q2: Tensor) -> Tensor:
    """Hamilton product ``q1 * q2`` of quaternions ``(x, y, z, w)``.

    ``q1 * q2`` applies ``q2`` first, then ``q1``:
    ``quaternion_to_matrix(q1 * q2) == quaternion_to_matrix(q1) @ quaternion_to_matrix(q2)``.

    Args:
        q1: ``(..., 4)`` quaternions.
        q2: ``(..., 4)`` quaternions, batch dims broadcast with ``q1``.

    Returns:
        ``(..., 4)`` product (not renormalised).
    """
    check_shape(q1, (4,), "q1")
    check_shape(q2, (4,), "q2")
    x1, y1, z1, w1 = q1.unbind(-1)
    x2, y2, z2, w2 = q2.unbind(-1)
    return torch.stack(
        [
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        ],
        dim=-1,
    )


def quaternion_conjugate(q: Tensor) -> Tensor:
    """Conjugate ``(-x, -y, -z, w)`` of ``(..., 4)`` quaternions (inverse of a unit one)."""
    check_shape(q, (4,), "q")
    return torch.cat([-q[..., :3], q[..., 3:]], dim=-1)


def quaternion_invert(q: Tensor) -> Tensor:
    """Multiplicative inverse ``conj(q) / |q|^2`` of ``(..., 4)`` quaternions ``(x, y, z, w)``.

    For unit quaternions this is the conjugate, i.e. the inverse rotation.
    ``q`` must be non-zero.
    """
    check_shape(q, (4,), "q")
    return quaternion_conjugate(q) / (q * q).sum(-1, keepdim=True)


def quaternion_normalize(q: Tensor, eps: float = 1e-12) -> Tensor:
    """Unit-norm ``(..., 4)`` quaternions; norms below ``eps`` are clamped to ``eps``."""
    check_shape(q, (4,), "q")
    return q / torch.linalg.vector_norm(q, dim=-1, keepdim=True).clamp_min(eps)


def quaternion_slerp(q0: Tensor, q1: Tensor, t: Union[Tensor, float]) -> Tensor:
    """Spherical linear interpolation between rotations, along the shortest path.

    Inputs are normalised; if ``q0 . q1 < 0``, ``-q1`` is used so the interpolation takes the
    shorter arc on SO(3).  The arc angle is computed as ``2 atan2(|q0 - q1|, |q0 + q1|)``
    (accurate for close quaternions), and nearly identical inputs fall back to normalised
    linear interpolation, so values and gradients stay finite when ``q0 == q1``.

    Args:
        q0: ``(..., 4)`` start quaternions ``(x, y, z, w)`` (returned at ``t = 0``).
        q1: ``(..., 4)`` end quaternions (the same rotation is returned at ``t = 1``, possibly
            as ``-q1``).
        t: interpolation parameter, a float or a tensor of shape ``(...)`` broadcastable with
            the batch dims of ``q0``/``q1``; values outside ``[0, 1]`` extrapolate.

    Returns:
        ``(..., 4)`` unit quaternions.
    """
    check_shape(q0, (4,), "q0")
    check_shape(q1, (4,), "q1")
    q0 = quaternion_normalize(q0)
    q1 = quaternion_normalize(q1)
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)[..., None]
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    d_sq = ((q0 - q1) ** 2).sum(-1, keepdim=True)
    s_sq = ((q0 + q1) ** 2).sum(-1, keepdim=True)  # >= 2 after the sign flip
    small = d_sq < 1e-10
    d = torch.sqrt(torch.where(small, torch.ones_like(d_sq), d_sq))
    omega = 2.0 * torch.atan2(d, torch.sqrt(s_sq))  # angle between q0 and q1, in [0, pi/2]
    sin_omega = torch.sin(omega)
    a = torch.where(small, 1.0 - t, torch.sin((1.0 - t) * omega) / sin_omega)
    b = torch.where(small, t, torch.sin(t * omega) / sin_omega)
    return quaternion_normalize(a * q0 + b * q1)


def rotation_6d_to_matrix(d6: Tensor, eps: float = 1e-12) -> Tensor:
    """Rotation matrix from the continuous 6D representation (Zhou et al. 2019).

    Convention: ``d6 = (a1, a2)`` are (unnormalised) estimates of the **first two columns**
    of ``R``.  Gram-Schmidt: ``b1 = a1/|a1|``, ``b2 = normalise(a2 - (b1 . a2) b1)``,
    ``b3 = b1 x b2``, ``R = [b1 b2 b3]`` (as columns).

    Args:
        d6: ``(..., 6)``; ``a1`` and ``a2`` must not be (nearly) parallel or zero.
        eps: clamp for the norms in the normalisations.

    Returns:
        ``(..., 3, 3)`` rotation matrices.
    """
    check_shape(d6, (6,), "d6")
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / torch.linalg.vector_norm(a1, dim=-1, keepdim=True).clamp_min(eps)
    u2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = u2 / torch.linalg.vector_norm(u2, dim=-1, keepdim=True).clamp_min(eps)
    b3 = _cross(b1, b2)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(R: Tensor) -> Tensor:
    """Continuous 6D representation of rotation matrices: first two columns of ``R``.

    Args:
        R: ``(..., 3, 3)`` rotation matrices.

    Returns:
        ``(..., 6)`` = ``(R[..., :, 0], R[..., :, 1])`` concatenated.
    """
    check_shape(R, (3, 3), "R")
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def _any_perpendicular(a: Tensor) -> Tensor:
    """A unit vector perpendicular to each unit vector ``a`` (``(..., 3)``)."""
    idx = a.abs().argmin(dim=-1)
    e = torch.nn.functional.one_hot(idx, 3).to(a.dtype)
    p = _cross(a, e)  # |p| >= sqrt(2/3) for unit a
    return p / torch.linalg.vector_norm(p, dim=-1, keepdim=True)


def rotation_between_vectors(a: Tensor, b: Tensor) -> Tensor:
    """Minimal rotation taking the direction of ``a`` to the direction of ``b``.

    Returns ``R`` with ``R @ a/|a| == b/|b|`` whose axis is ``a x b`` and angle is the angle
    between the vectors.  Built from the half-way vector ``h = normalise(a + b)`` (unit
    ``a``, ``b``) as the quaternion ``(a x h, a . h)`` with ``a . h = |a + b| / 2``, evaluated
    so that ``R @ a`` stays within ~machine precision of ``b`` also for nearly anti-parallel
    vectors; exactly anti-parallel vectors give a rotation by ``pi`` about an axis
    perpendicular to ``a``.  Parallel vectors give the identity.

    Args:
        a: ``(..., 3)`` non-zero vectors (any length).
        b: ``(..., 3)`` non-zero vectors, batch dims broadcast with ``a``.

    Returns:
        ``(..., 3, 3)`` rotation matrices.
    """
    check_shape(a, (3,), "a")
    check_shape(b, (3,), "b")
    check_float(a, "a")
    a, b = torch.broadcast_tensors(a, b)
    a = a / torch.linalg.vector_norm(a, dim=-1, keepdim=True)
    b = b / torch.linalg.vector_norm(b, dim=-1, keepdim=True)
    # Unit-quaternion form with h = (a + b)/|a + b| the half-way vector and alpha the half
    # angle: q = (sin(alpha) n, cos(alpha)), n = unit(a x b), cos(alpha) = a . h = |a + b|/2.
    s = a + b  # exact (no rounding) when a and b nearly cancel
    s_sq = (s * s).sum(-1, keepdim=True)
    c = _cross(a, s)  # == a x b, accurate to eps * |s|
    c_sq = (c * c).sum(-1, keepdim=True)
    tiny = torch.finfo(a.dtype).tiny ** 0.5
    s_zero = s_sq < tiny
    s_norm = torch.sqrt(torch.where(s_zero, torch.ones_like(s_sq), s_sq))
    w = torch.where(s_zero, torch.zeros_like(s_sq), 0.5 * s_norm)
    # Angle < 90 deg (|s|^2 >= 2): sin(alpha) n = a x h = c / |s|, accurate, finite gradient
    # at a == b.  Angle > 90 deg: sin(alpha) = sqrt(1 - |s|^2/4) (no cancellation there) times
    # the unit axis; the axis is always perpendicular to a, so noise in the direction of s for
    # nearly anti-parallel input still maps a to within ~eps of b.  If a x s vanishes (exactly
    # anti-parallel), any axis perpendicular to a does.
    v_near = c / torch.where(s_sq >= 2.0, s_norm, torch.ones_like(s_norm))
    degenerate = c_sq < tiny
    n = torch.where(
        degenerate,
        _any_perpendicular(a),
        c / torch.sqrt(torch.where(degenerate, torch.ones_like(c_sq), c_sq)),
    )
    v_far = torch.sqrt((1.0 - 0.25 * s_sq).clamp_min(0.25)) * n
    v = torch.where(s_sq >= 2.0, v_near, v_far)
    q = torch.cat([v, w], dim=-1)
    return quaternion_to_matrix(q)
