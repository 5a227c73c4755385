"""Tests for hand_models.geometry (rotations, transforms, camera, alignment, metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.transform import Rotation as SciRot
from scipy.spatial.transform import Slerp

from hand_models import geometry as G

F64 = torch.float64
F32 = torch.float32
DTYPES = [F32, F64]
# Tolerances for results that should be exact up to rounding.
TOL = {F32: 2e-5, F64: 1e-10}

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
vec3 = arrays(np.float64, (3,), elements=finite)
unit_interval = st.floats(0.0, 1.0)


def _t(x, dtype=F64):
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-6 else np.array([0.0, 0.0, 1.0])


@st.composite
def axis_angles(draw, max_angle: float = math.pi):
    axis = _unit(draw(vec3))
    angle = draw(st.floats(0.0, max_angle))
    return axis * angle


@st.composite
def rotations(draw):
    """Random rotation as a scipy Rotation (uniform via a random quaternion)."""
    q = draw(arrays(np.float64, (4,), elements=st.floats(-1.0, 1.0)))
    if np.linalg.norm(q) < 1e-3:
        q = np.array([0.0, 0.0, 0.0, 1.0])
    return SciRot.from_quat(q)


def _random_rotmats(n: int, dtype=F64, seed: int = 0) -> torch.Tensor:
    return _t(SciRot.random(n, random_state=seed).as_matrix(), dtype)


def _same_rotation_aa(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance between axis-angle vectors modulo the aa ~ -aa ambiguity at angle pi."""
    d = (a - b).norm(dim=-1)
    near_pi = a.norm(dim=-1) > math.pi - 1e-3
    return torch.where(near_pi, torch.minimum(d, (a + b).norm(dim=-1)), d)


def _assert_rotation(R: torch.Tensor, tol: float) -> None:
    eye = torch.eye(3, dtype=R.dtype)
    assert torch.allclose(R @ R.transpose(-1, -2), eye.expand_as(R), atol=tol)
    assert torch.allclose(torch.linalg.det(R), torch.ones((), dtype=R.dtype), atol=tol)


# ----------------------------------------------------------------------------- rotations


def test_skew_is_cross_product():
    v, u = torch.randn(5, 3, dtype=F64), torch.randn(5, 3, dtype=F64)
    assert torch.allclose((G.skew(v) @ u[..., None])[..., 0], torch.linalg.cross(v, u))
    assert torch.allclose(G.skew(v), -G.skew(v).transpose(-1, -2))


@settings(max_examples=60, deadline=None)
@given(aa=axis_angles(max_angle=3 * math.pi))
def test_axis_angle_to_matrix_matches_scipy(aa):
    R = G.axis_angle_to_matrix(_t(aa))
    assert np.allclose(R.numpy(), SciRot.from_rotvec(aa).as_matrix(), atol=1e-12)
    _assert_rotation(R, 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rotation_outputs_are_orthonormal(dtype):
    aa = torch.randn(200, 3, dtype=dtype) * 3
    for R in (
        G.axis_angle_to_matrix(aa),
        G.quaternion_to_matrix(torch.randn(200, 4, dtype=dtype)),
        G.rotation_6d_to_matrix(torch.randn(200, 6, dtype=dtype)),
        G.rotation_between_vectors(torch.randn(200, 3, dtype=dtype), torch.randn(200, 3, dtype=dtype)),
    ):
        assert R.dtype == dtype and R.shape == (200, 3, 3)
        _assert_rotation(R, 10 * TOL[dtype])


@settings(max_examples=80, deadline=None)
@given(aa=axis_angles())
def test_round_trip_aa_matrix_aa(aa):
    aa_t = _t(aa)
    back = G.matrix_to_axis_angle(G.axis_angle_to_matrix(aa_t))
    assert _same_rotation_aa(aa_t, back) < 1e-9


@settings(max_examples=80, deadline=None)
@given(aa=axis_angles())
def test_round_trip_aa_quaternion_aa(aa):
    aa_t = _t(aa)
    q = G.axis_angle_to_quaternion(aa_t)
    assert abs(q.norm().item() - 1) < 1e-12
    assert _same_rotation_aa(aa_t, G.quaternion_to_axis_angle(q)) < 1e-9
    # q and -q are the same rotation
    assert _same_rotation_aa(aa_t, G.quaternion_to_axis_angle(-q)) < 1e-9


EDGE_ANGLES = [0.0, 1e-12, 1e-9, 1e-6, 1e-4, 1e-3, 0.5, 2.0, math.pi - 1e-3, math.pi - 1e-5,
               math.pi - 1e-7, math.pi]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("angle", EDGE_ANGLES)
def test_round_trips_at_edge_angles(dtype, angle):
    axes = torch.nn.functional.normalize(torch.randn(64, 3, dtype=F64), dim=-1)
    axes = torch.cat([axes, torch.eye(3, dtype=F64), -torch.eye(3, dtype=F64)])
    aa = (axes * angle).to(dtype)
    tol = TOL[dtype] * (20 if angle > 3 else 1)  # f32 near pi: angle from atan2 of ~1e-7
    R = G.axis_angle_to_matrix(aa)
    _assert_rotation(R, 10 * TOL[dtype])
    back = G.matrix_to_axis_angle(R)
    assert back.dtype == dtype
    assert torch.isfinite(back).all()
    assert (back.norm(dim=-1) <= math.pi + 1e-6).all()
    assert _same_rotation_aa(aa, back).max() < tol
    assert _same_rotation_aa(aa, G.quaternion_to_axis_angle(G.axis_angle_to_quaternion(aa))).max() < tol
    # and the matrices agree, whatever the sign at pi
    assert torch.allclose(G.axis_angle_to_matrix(back), R, atol=10 * TOL[dtype])
    q = G.matrix_to_quaternion(R)
    assert (q[..., 3] >= 0).all()
    assert torch.allclose(G.quaternion_to_matrix(q), R, atol=10 * TOL[dtype])


def test_matrix_to_axis_angle_matches_scipy_near_pi():
    axis = _unit(np.array([0.3, -0.5, 0.8]))
    for angle in (math.pi - 1e-8, math.pi - 1e-4, 3.0, 1e-7):
        R = SciRot.from_rotvec(axis * angle).as_matrix()
        ours = G.matrix_to_axis_angle(_t(R)).numpy()
        assert np.allclose(ours, SciRot.from_matrix(R).as_rotvec(), atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(rot=rotations())
def test_round_trip_matrix_quaternion_matrix(rot):
    R = _t(rot.as_matrix())
    q = G.matrix_to_quaternion(R)
    assert q[3] >= 0
    assert abs(q.norm().item() - 1) < 1e-12
    assert torch.allclose(G.quaternion_to_matrix(q), R, atol=1e-12)
    # same quaternion as scipy (both xyzw, canonical w >= 0) away from the w = 0 ambiguity
    ref = rot.as_quat(canonical=True)
    if ref[3] > 1e-6:
        assert np.allclose(q.numpy(), ref, atol=1e-12)


def test_quaternion_to_matrix_matches_scipy_and_ignores_scale():
    q = torch.randn(50, 4, dtype=F64)
    ref = SciRot.from_quat(q.numpy()).as_matrix()
    assert np.allclose(G.quaternion_to_matrix(q).numpy(), ref, atol=1e-12)
    assert np.allclose(G.quaternion_to_matrix(3.5 * q).numpy(), ref, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(rot=rotations())
def test_round_trip_matrix_6d_matrix(rot):
    R = _t(rot.as_matrix())
    d6 = G.matrix_to_rotation_6d(R)
    # documented convention: first two columns
    assert torch.equal(d6, torch.cat([R[:, 0], R[:, 1]]))
    assert torch.allclose(G.rotation_6d_to_matrix(d6), R, atol=1e-12)
    # Gram-Schmidt tolerates scaled / perturbed input of the same rotation
    assert torch.allclose(G.rotation_6d_to_matrix(d6 * 2.0), R, atol=1e-12)


def test_rotation_6d_gram_schmidt_keeps_first_column_direction():
    d6 = torch.randn(100, 6, dtype=F64)
    R = G.rotation_6d_to_matrix(d6)
    assert torch.allclose(R[..., :, 0], torch.nn.functional.normalize(d6[..., :3], dim=-1))
    # second column in the plane of a1, a2 on a2's side
    assert ((R[..., :, 1] * d6[..., 3:]).sum(-1) > 0).all()


@settings(max_examples=60, deadline=None)
@given(r1=rotations(), r2=rotations())
def test_quaternion_product_matches_matrix_product(r1, r2):
    q1, q2 = _t(r1.as_quat()), _t(r2.as_quat())
    q12 = G.quaternion_multiply(q1, q2)
    R12 = G.quaternion_to_matrix(q1) @ G.quaternion_to_matrix(q2)
    assert torch.allclose(G.quaternion_to_matrix(q12), R12, atol=1e-12)
    assert np.allclose(G.quaternion_to_matrix(q12).numpy(), (r1 * r2).as_matrix(), atol=1e-12)
    ident = G.quaternion_multiply(q1, G.quaternion_invert(q1))
    assert torch.allclose(ident, _t([0.0, 0.0, 0.0, 1.0]), atol=1e-12)


def test_quaternion_invert_non_unit_and_normalize():
    q = torch.randn(20, 4, dtype=F64) * 3
    prod = G.quaternion_multiply(G.quaternion_invert(q), q)
    assert torch.allclose(prod, _t([0.0, 0.0, 0.0, 1.0]).expand(20, 4), atol=1e-12)
    assert torch.allclose(G.quaternion_normalize(q).norm(dim=-1), torch.ones(20, dtype=F64))
    assert torch.isfinite(G.quaternion_normalize(torch.zeros(4))).all()
    assert torch.allclose(G.quaternion_conjugate(q)[..., :3], -q[..., :3])


def test_quaternion_multiply_broadcasts():
    q1 = torch.randn(4, 1, 4)
    q2 = torch.randn(5, 4)
    assert G.quaternion_multiply(q1, q2).shape == (4, 5, 4)


@settings(max_examples=40, deadline=None)
@given(r0=rotations(), r1=rotations(), t=unit_interval)
def test_slerp_matches_scipy_and_is_unit(r0, r1, t):
    q0, q1 = _t(r0.as_quat()), _t(r1.as_quat())
    # relative rotation of exactly pi: the shortest path is ambiguous
    assume(abs(float((q0 * q1).sum())) > 1e-6)
    qt = G.quaternion_slerp(q0, q1, t)
    assert abs(qt.norm().item() - 1) < 1e-12
    ref = Slerp([0.0, 1.0], SciRot.concatenate([r0, r1]))([t]).as_matrix()[0]
    assert np.allclose(G.quaternion_to_matrix(qt).numpy(), ref, atol=1e-9)
    # shortest path: -q1 is the same rotation and gives the same path
    assert torch.allclose(
        G.quaternion_to_matrix(G.quaternion_slerp(q0, -q1, t)), G.quaternion_to_matrix(qt), atol=1e-9
    )


def test_slerp_endpoints_batched_t_and_identical_inputs():
    q0 = G.quaternion_normalize(torch.randn(10, 4, dtype=F64))
    q1 = G.quaternion_normalize(torch.randn(10, 4, dtype=F64))
    assert torch.allclose(G.quaternion_slerp(q0, q1, 0.0), q0, atol=1e-12)
    end = G.quaternion_slerp(q0, q1, 1.0)
    assert torch.allclose(G.quaternion_to_matrix(end), G.quaternion_to_matrix(q1), atol=1e-12)
    t = torch.linspace(0, 1, 10, dtype=F64)
    out = G.quaternion_slerp(q0, q1, t)
    assert out.shape == (10, 4)
    # the angle travelled is linear in t
    a_total = G.quaternion_to_axis_angle(G.quaternion_multiply(G.quaternion_invert(q0), q1)).norm(dim=-1)
    a_t = G.quaternion_to_axis_angle(G.quaternion_multiply(G.quaternion_invert(q0), out)).norm(dim=-1)
    assert torch.allclose(a_t, t * a_total, atol=1e-9)
    # identical inputs: value and gradient stay finite
    x = q0.clone().requires_grad_()
    y = G.quaternion_slerp(x, q0, 0.3)
    assert torch.allclose(y, q0, atol=1e-12)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_finite_at_zero_rotation(dtype):
    for fn in (
        G.axis_angle_to_matrix,
        G.axis_angle_to_quaternion,
        lambda a: G.matrix_to_axis_angle(G.axis_angle_to_matrix(a)),
        lambda a: G.quaternion_to_axis_angle(G.axis_angle_to_quaternion(a)),
    ):
        aa = torch.zeros(2, 3, dtype=dtype, requires_grad=True)
        out = fn(aa)
        (out * torch.randn_like(out)).sum().backward()
        assert torch.isfinite(aa.grad).all()
    # d(R v)/d(aa) at 0 is -[v]_x: Jacobian of axis_angle_to_matrix at 0 is exact
    v = torch.randn(3, dtype=dtype)
    jac = torch.autograd.functional.jacobian(
        lambda a: G.axis_angle_to_matrix(a) @ v, torch.zeros(3, dtype=dtype)
    )
    assert torch.allclose(jac, -G.skew(v), atol=TOL[dtype])
    # the log of exp is the identity map, also in its derivative at 0
    jac = torch.autograd.functional.jacobian(
        lambda a: G.so3_log(G.so3_exp(a)), torch.zeros(3, dtype=dtype)
    )
    assert torch.allclose(jac, torch.eye(3, dtype=dtype), atol=TOL[dtype])


@pytest.mark.parametrize("scale", [1.0, 1e-4, 1e-8])
def test_gradcheck_rotations(scale):
    aa = (torch.randn(4, 3, dtype=F64) * scale).requires_grad_()
    assert torch.autograd.gradcheck(G.axis_angle_to_matrix, (aa,))
    assert torch.autograd.gradcheck(G.axis_angle_to_quaternion, (aa,))
    assert torch.autograd.gradcheck(G.quaternion_to_axis_angle, (G.axis_angle_to_quaternion(aa).detach().requires_grad_(),))
    R = G.axis_angle_to_matrix(aa).detach().requires_grad_()
    assert torch.autograd.gradcheck(G.matrix_to_quaternion, (R,))
    assert torch.autograd.gradcheck(G.matrix_to_axis_angle, (R,))


def test_aliases():
    assert G.so3_exp is G.axis_angle_to_matrix
    assert G.so3_log is G.matrix_to_axis_angle


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "case", ["random", "parallel", "antiparallel", "near_anti_1e-3", "near_anti_1e-6", "near_anti_1e-9", "near_par"]
)
def test_rotation_between_vectors(dtype, case):
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(500, 3, dtype=F64, generator=gen)
    noise = torch.randn(500, 3, dtype=F64, generator=gen)
    b = {
        "random": noise,
        "parallel": 2.5 * a,
        "antiparallel": -0.7 * a,
        "near_anti_1e-3": -a + 1e-3 * noise,
        "near_anti_1e-6": -a + 1e-6 * noise,
        "near_anti_1e-9": -a + 1e-9 * noise,
        "near_par": a + 1e-6 * noise,
    }[case]
    a, b = a.to(dtype), b.to(dtype)
    R = G.rotation_between_vectors(a, b)
    _assert_rotation(R, 10 * TOL[dtype])
    an, bn = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    assert ((R @ an[..., None])[..., 0] - bn).norm(dim=-1).max() < 10 * TOL[dtype]
    if case == "parallel":
        assert torch.allclose(R, torch.eye(3, dtype=dtype).expand_as(R), atol=TOL[dtype])
    if case == "random" and dtype == F64:
        # minimal: the angle is the angle between the vectors, the axis is a x b
        aa = G.matrix_to_axis_angle(R)
        angle = torch.atan2(torch.linalg.cross(a, b).norm(dim=-1), (a * b).sum(-1))
        assert torch.allclose(aa.norm(dim=-1), angle, atol=1e-12)
        axis = torch.nn.functional.normalize(torch.linalg.cross(a, b), dim=-1)
        assert torch.allclose(torch.nn.functional.normalize(aa, dim=-1), axis, atol=1e-10)
        ref, _ = SciRot.align_vectors(b[:1].numpy(), a[:1].numpy())
        assert np.allclose(R[0].numpy(), ref.as_matrix(), atol=1e-10)


def test_rotation_between_vectors_gradients_finite():
    a = torch.randn(5, 3, dtype=F64, requires_grad=True)
    for b in (a.detach() * 2, -a.detach(), torch.randn(5, 3, dtype=F64)):
        a.grad = None
        G.rotation_between_vectors(a, b).sum().backward()
        assert torch.isfinite(a.grad).all()
    b = torch.randn(5, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(G.rotation_between_vectors, (a, b))


def test_rotation_shape_errors():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        G.axis_angle_to_matrix(torch.zeros(5, 4))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        G.matrix_to_axis_angle(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        G.quaternion_to_matrix(torch.zeros(3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 6\)"):
        G.rotation_6d_to_matrix(torch.zeros(2, 9))
    with pytest.raises(ValueError):
        G.skew(torch.zeros(2))


def test_rotations_batched_leading_dims():
    aa = torch.randn(2, 3, 5, 3)
    R = G.axis_angle_to_matrix(aa)
    assert R.shape == (2, 3, 5, 3, 3)
    assert G.matrix_to_quaternion(R).shape == (2, 3, 5, 4)
    assert G.matrix_to_rotation_6d(R).shape == (2, 3, 5, 6)
    assert G.axis_angle_to_matrix(torch.zeros(3)).shape == (3, 3)


# ----------------------------------------------------------------------------- transforms


@pytest.mark.parametrize("dtype", DTYPES)
def test_transforms_compose_invert_apply(dtype):
    R = _random_rotmats(8, dtype, seed=3)
    t = torch.randn(8, 3, dtype=dtype)
    T = G.make_transform(R, t)
    assert T.shape == (8, 4, 4) and T.dtype == dtype
    assert torch.equal(T[:, 3], torch.tensor([0, 0, 0, 1], dtype=dtype).expand(8, 4))
    R2, t2 = G.split_transform(T)
    assert torch.equal(R2, R) and torch.equal(t2, t)
    Ti = G.invert_transform(T)
    eye = torch.eye(4, dtype=dtype).expand(8, 4, 4)
    assert torch.allclose(G.compose_transforms(T, Ti), eye, atol=TOL[dtype])
    assert torch.allclose(G.compose_transforms(Ti, T), eye, atol=TOL[dtype])
    assert torch.allclose(Ti, torch.linalg.inv(T), atol=TOL[dtype])
    pts = torch.randn(8, 21, 3, dtype=dtype)
    homog = torch.cat([pts, torch.ones(8, 21, 1, dtype=dtype)], dim=-1)
    expected = (T @ homog.transpose(-1, -2)).transpose(-1, -2)[..., :3]
    assert torch.allclose(G.apply_transform(T, pts), expected, atol=TOL[dtype])
    assert torch.allclose(G.apply_rotation_translation(R, t, pts), expected, atol=TOL[dtype])
    # apply(T1 @ T2) == apply(T1, apply(T2))
    T2 = G.make_transform(_random_rotmats(8, dtype, seed=4), torch.randn(8, 3, dtype=dtype))
    assert torch.allclose(
        G.apply_transform(G.compose_transforms(T, T2), pts),
        G.apply_transform(T, G.apply_transform(T2, pts)),
        atol=10 * TOL[dtype],
    )
    assert torch.allclose(G.apply_transform(Ti, G.apply_transform(T, pts)), pts, atol=10 * TOL[dtype])


def test_transforms_broadcasting_and_errors():
    T = G.make_transform(torch.eye(3), torch.randn(5, 3))  # R broadcast over t's batch
    assert T.shape == (5, 4, 4)
    assert G.apply_transform(T[0], torch.randn(7, 21, 3)).shape == (7, 21, 3)
    assert G.apply_transform(T[:, None], torch.randn(5, 2, 21, 3)).shape == (5, 2, 21, 3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, 4\)"):
        G.invert_transform(torch.eye(3))
    with pytest.raises(ValueError, match=r"\(\.\.\., N, 3\)"):
        G.apply_transform(torch.eye(4), torch.zeros(5, 2))


# ----------------------------------------------------------------------------- camera

K_NP = np.array([[615.0, 0.0, 322.5], [0.0, 612.0, 238.0], [0.0, 0.0, 1.0]])
DISTS = {
    "none": None,
    "plumb_bob4": [-0.28, 0.07, 0.001, -0.0005],
    "plumb_bob5": [-0.28, 0.07, 0.001, -0.0005, -0.008],
    "rational8": [0.5, -0.1, 0.001, -0.0005, 0.01, 0.8, 0.05, 0.002],
}


def _pixels(n: int, dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, dtype=F64, generator=g) * torch.tensor([640.0, 480.0], dtype=F64)).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist_name", list(DISTS))
def test_project_unproject_round_trip(dtype, dist_name):
    K = _t(K_NP, dtype)
    dist = None if DISTS[dist_name] is None else _t(DISTS[dist_name], dtype)
    uv = _pixels(500, dtype)
    depth = torch.rand(500, dtype=dtype) + 0.2
    P = G.unproject_points(uv, depth, K, dist)
    assert P.shape == (500, 3) and P.dtype == dtype
    assert torch.equal(P[:, 2], depth)
    back = G.project_points(P, K, dist)
    assert (back - uv).abs().max() < (1e-2 if dtype == F32 else 1e-8)


@settings(max_examples=40, deadline=None)
@given(
    k1=st.floats(-0.4, 0.4), k2=st.floats(-0.1, 0.1), p1=st.floats(-2e-3, 2e-3),
    p2=st.floats(-2e-3, 2e-3), k3=st.floats(-0.02, 0.02), seed=st.integers(0, 100),
)
def test_undistort_inverts_distort(k1, k2, p1, p2, k3, seed):
    g = torch.Generator().manual_seed(seed)
    # normalised coordinates inside a ~90 deg field of view
    xy = (torch.rand(200, 2, dtype=F64, generator=g) - 0.5) * 1.0
    dist = _t([k1, k2, p1, p2, k3])
    xd = G.distort_normalized(xy, dist)
    assert (G.undistort_normalized(xd, dist) - xy).abs().max() < 1e-10
    xd32 = G.distort_normalized(xy.float(), dist.float())
    assert (G.undistort_normalized(xd32, dist.float()) - xy.float()).abs().max() < 1e-5


def test_distortion_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform(-0.4, 0.4, (100, 2)), rng.uniform(0.5, 3.0, (100, 1))], axis=1)
    pts[:, :2] *= pts[:, 2:]
    for name in ("plumb_bob5", "rational8"):
        d = np.array(DISTS[name])
        ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K_NP, d)
        ours = G.project_points(_t(pts), _t(K_NP), _t(d)).numpy()
        assert np.allclose(ours, ref[:, 0], atol=1e-8)
        # cv2.undistortPoints with P=K gives ideal pixels (it iterates to a tolerance)
        ref_u = cv2.undistortPointsIter(
            ref, K_NP, d, None, K_NP,
            (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-14),
        )[:, 0]
        ours_u = G.undistort_pixels(_t(ref[:, 0]), _t(K_NP), _t(d)).numpy()
        assert np.allclose(ours_u, ref_u, atol=1e-5)


def test_project_points_pinhole_values_and_undistort_pixels():
    K = _t(K_NP)
    P = _t([[0.1, -0.2, 2.0], [0.0, 0.0, 1.0]])
    uv = G.project_points(P, K)
    expected = [[615.0 * 0.05 + 322.5, 612.0 * -0.1 + 238.0], [322.5, 238.0]]
    assert torch.allclose(uv, _t(expected))
    dist = _t(DISTS["plumb_bob5"])
    uv_d = G.project_points(P, K, dist)
    assert torch.allclose(G.undistort_pixels(uv_d, K, dist), uv, atol=1e-9)
    assert torch.equal(G.undistort_pixels(uv, K, None), uv)
    # empty CameraInfo.d means no distortion
    assert torch.equal(G.project_points(P, K, torch.zeros(0, dtype=F64)), uv)


def test_camera_batched_intrinsics_and_distortion():
    fx = torch.tensor([500.0, 600.0, 700.0], dtype=F64)
    K = G.intrinsics_matrix(fx, fx, torch.tensor(320.0, dtype=F64), 240.0)
    assert K.shape == (3, 3, 3)
    dist = _t([DISTS["plumb_bob5"], [0.1, 0.0, 0.0, 0.0, 0.0], [0.0] * 5])
    P = torch.rand(3, 10, 3, dtype=F64) + torch.tensor([-0.5, -0.5, 0.5], dtype=F64)
    uv = G.project_points(P, K, dist)
    assert uv.shape == (3, 10, 2)
    for i in range(3):
        assert torch.allclose(uv[i], G.project_points(P[i], K[i], dist[i]))
    back = G.unproject_points(uv, P[..., 2], K, dist)
    assert torch.allclose(back, P, atol=1e-9)


def test_intrinsics_matrix_defaults():
    K = G.intrinsics_matrix(600.0, 610.0, 320.0, 240.0)
    assert K.shape == (3, 3) and K.dtype == torch.get_default_dtype()
    assert torch.equal(K, torch.tensor([[600.0, 0, 320.0], [0, 610.0, 240.0], [0, 0, 1.0]]))
    assert G.intrinsics_matrix(1, 1, 0, 0, dtype=F64).dtype == F64


def test_camera_gradients():
    K = _t(K_NP)
    dist = _t(DISTS["plumb_bob5"])
    P = (torch.rand(6, 3, dtype=F64) + torch.tensor([-0.5, -0.5, 0.5], dtype=F64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: G.project_points(p, K, dist), (P,))
    uv = G.project_points(P, K, dist).detach().requires_grad_()
    z = torch.rand(6, dtype=F64) + 0.5
    assert torch.autograd.gradcheck(lambda u: G.unproject_points(u, z, K, dist), (uv,))


def test_validate_intrinsics():
    G.validate_intrinsics(_t(K_NP))
    G.validate_intrinsics(K_NP, DISTS["plumb_bob5"])
    G.validate_intrinsics(_t(K_NP).expand(4, 3, 3), _t(DISTS["rational8"]))
    G.validate_intrinsics(K_NP, [])
    bad = K_NP.copy()
    bad[0, 0] = 0.0
    with pytest.raises(ValueError, match="focal"):
        G.validate_intrinsics(bad)
    bad = K_NP.copy()
    bad[1, 1] = -5.0
    with pytest.raises(ValueError, match="focal"):
        G.validate_intrinsics(bad)
    bad = K_NP.copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        G.validate_intrinsics(bad)
    bad = K_NP.copy()
    bad[2, 2] = 2.0
    with pytest.raises(ValueError, match="last row"):
        G.validate_intrinsics(bad)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        G.validate_intrinsics(K_NP.reshape(9))
    with pytest.raises(ValueError, match="D in"):
        G.validate_intrinsics(K_NP, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN or inf"):
        G.validate_intrinsics(K_NP, [0.1, 0.2, 0.0, 0.0, np.inf])
    with pytest.raises(ValueError, match="D in"):
        G.project_points(torch.ones(2, 3), _t(K_NP).float(), torch.zeros(6))


# ----------------------------------------------------------------------------- alignment


def _random_similarity(batch: int, dtype, seed: int):
    g = torch.Generator().manual_seed(seed)
    R = _random_rotmats(batch, dtype, seed)
    s = (torch.rand(batch, dtype=F64, generator=g) * 2 + 0.2).to(dtype)
    t = torch.randn(batch, 3, dtype=F64, generator=g).to(dtype)
    return s, R, t


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 40))
def test_procrustes_recovers_similarity(seed, n):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(4, n, 3, dtype=F64, generator=g)
    s, R, t = _random_similarity(4, F64, seed)
    dst = s[:, None, None] * src @ R.transpose(-1, -2) + t[:, None]
    s2, R2, t2 = G.procrustes(src, dst)
    assert torch.allclose(s2, s, atol=1e-9)
    assert torch.allclose(R2, R, atol=1e-9)
    assert torch.allclose(t2, t, atol=1e-9)
    assert torch.allclose(G.align(src, dst), dst, atol=1e-9)
    R3, t3 = G.kabsch(src, dst / s[:, None, None])
    assert torch.allclose(R3, R, atol=1e-9)
    assert torch.allclose(t3, t / s[:, None], atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_procrustes_weights_ignore_outliers(dtype):
    src = torch.randn(3, 21, 3, dtype=F64).to(dtype)
    s, R, t = _random_similarity(3, dtype, 7)
    dst = s[:, None, None] * src @ R.transpose(-1, -2) + t[:, None]
    dst_out = dst.clone()
    dst_out[:, :5] += 10.0  # five corrupted points
    w = torch.ones(3, 21, dtype=dtype)
    w[:, :5] = 0.0
    s2, R2, t2 = G.procrustes(src, dst_out, w)
    tol = 1e-4 if dtype == F32 else 1e-9
    assert s2.dtype == dtype
    assert torch.allclose(s2, s, atol=tol) and torch.allclose(R2, R, atol=tol)
    assert torch.allclose(t2, t, atol=tol * 10)
    # bool masks work as weights, and non-uniform weights still recover an exact transform
    s3, _, _ = G.procrustes(src, dst_out, w > 0)
    assert torch.allclose(s3, s, atol=tol)
    s4, R4, _ = G.procrustes(src, dst, torch.rand(3, 21, dtype=dtype) + 0.1)
    assert torch.allclose(s4, s, atol=tol) and torch.allclose(R4, R, atol=tol)
    # without the weights the outliers do move the estimate
    s5, _, _ = G.procrustes(src, dst_out)
    assert not torch.allclose(s5, s, atol=1e-3)


def test_procrustes_never_reflects():
    src = torch.randn(50, 21, 3, dtype=F64)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=F64))
    dst = src @ mirror  # a pure reflection of src: best rotation must still be proper
    s, R, t = G.procrustes(src, dst)
    assert torch.allclose(torch.linalg.det(R), torch.ones(50, dtype=F64), atol=1e-10)
    _assert_rotation(R, 1e-10)
    assert (s >= 0).all()
    # planar point sets (rank 2 covariance) too
    flat = src.clone()
    flat[..., 2] = 0.0
    _, Rf, _ = G.procrustes(flat, flat @ mirror @ _random_rotmats(1)[0].T)
    assert torch.allclose(torch.linalg.det(Rf), torch.ones(50, dtype=F64), atol=1e-10)


def test_procrustes_errors_and_degenerate():
    with pytest.raises(ValueError, match=r"\(\.\.\., N, 3\)"):
        G.procrustes(torch.zeros(5, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="same number of points"):
        G.procrustes(torch.zeros(5, 3), torch.zeros(6, 3))
    with pytest.raises(ValueError, match="weights"):
        G.procrustes(torch.zeros(5, 3), torch.zeros(5, 3), torch.ones(4))
    # all-zero weights / coincident points: finite, no NaN
    s, R, t = G.procrustes(torch.randn(5, 3), torch.randn(5, 3), torch.zeros(5))
    assert torch.isfinite(s).all() and torch.isfinite(R).all() and torch.isfinite(t).all()
    s, R, t = G.procrustes(torch.ones(5, 3), torch.randn(5, 3))
    assert torch.isfinite(s).all() and torch.isfinite(R).all() and torch.isfinite(t).all()


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("dtype", DTYPES)
def test_mpjpe_values_and_mask(dtype):
    gt = torch.zeros(2, 4, 3, dtype=dtype)
    pred = gt.clone()
    pred[0, :, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=dtype)
    pred[1, 0] = torch.tensor([3.0, 4.0, 0.0], dtype=dtype)
    assert torch.allclose(G.per_joint_error(pred, gt)[1], torch.tensor([5.0, 0, 0, 0], dtype=dtype))
    assert torch.allclose(G.mpjpe(pred, gt), torch.tensor([2.5, 1.25], dtype=dtype))
    mask = torch.tensor([[True, True, False, False], [False, True, True, True]])
    assert torch.allclose(G.mpjpe(pred, gt, mask), torch.tensor([1.5, 0.0], dtype=dtype))
    # float weights and a sample with no valid joint (gives 0, not NaN)
    w = torch.tensor([[1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=dtype)
    assert torch.allclose(G.mpjpe(pred, gt, w), torch.tensor([1.75, 0.0], dtype=dtype))
    with pytest.raises(ValueError, match="mask"):
        G.mpjpe(pred, gt, torch.ones(2, 5))
    with pytest.raises(ValueError, match="same number of joints"):
        G.mpjpe(pred, gt[:, :3])


def test_mpjpe_gradient_finite_at_zero_error():
    gt = torch.randn(3, 21, 3, dtype=F64)
    pred = gt.clone().requires_grad_()
    G.mpjpe(pred, gt).sum().backward()
    assert torch.isfinite(pred.grad).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_pa_mpjpe_invariant_to_similarity(dtype):
    g = torch.Generator().manual_seed(5)
    gt = torch.randn(6, 21, 3, dtype=F64, generator=g)
    pred = gt + 0.05 * torch.randn(6, 21, 3, dtype=F64, generator=g)
    gt, pred = gt.to(dtype), pred.to(dtype)
    s, R, t = _random_similarity(6, dtype, 11)
    moved = s[:, None, None] * pred @ R.transpose(-1, -2) + t[:, None]
    tol = 1e-5 if dtype == F32 else 1e-10
    base = G.pa_mpjpe(pred, gt)
    assert base.shape == (6,) and base.dtype == dtype
    assert torch.allclose(G.pa_mpjpe(moved, gt), base, atol=tol)
    assert (base <= G.mpjpe(pred, gt) + tol).all()
    # an exact similarity copy of gt has zero error
    exact = s[:, None, None] * gt @ R.transpose(-1, -2) + t[:, None]
    assert G.pa_mpjpe(exact, gt).max() < tol
    # masked: corrupt masked-out joints, result unchanged relative to dropping them
    mask = torch.ones(6, 21, dtype=torch.bool)
    mask[:, -3:] = False
    corrupted = moved.clone()
    corrupted[:, -3:] += 100.0
    assert torch.allclose(G.pa_mpjpe(corrupted, gt, mask), G.pa_mpjpe(pred[:, :-3], gt[:, :-3]), atol=tol)


def test_pck():
    gt = torch.zeros(2, 4, 2)
    pred = torch.tensor([[[1.0, 0], [0, 2.0], [3.0, 0], [0, 4.0]], [[0.5, 0], [0, 0], [9.0, 9.0], [0, 0]]])
    assert torch.allclose(G.pck(pred, gt, 2.0), torch.tensor([0.5, 0.75]))
    assert torch.allclose(G.pck(pred, gt, torch.tensor([3.0, 0.1])), torch.tensor([0.75, 0.5]))
    mask = torch.tensor([[True, True, True, False], [False, False, True, True]])
    assert torch.allclose(G.pck(pred, gt, 2.0, mask), torch.tensor([2 / 3, 0.5]))
    with pytest.raises(ValueError, match=r"\(\.\.\., N, 2\)"):
        G.pck(torch.zeros(4, 3), torch.zeros(4, 3), 1.0)


def test_exports():
    expected = {
        "skew", "axis_angle_to_matrix", "matrix_to_axis_angle", "axis_angle_to_quaternion",
        "quaternion_to_axis_angle", "quaternion_to_matrix", "matrix_to_quaternion",
        "quaternion_multiply", "quaternion_invert", "quaternion_normalize", "quaternion_slerp",
        "rotation_6d_to_matrix", "matrix_to_rotation_6d", "so3_log", "so3_exp",
        "rotation_between_vectors", "make_transform", "split_transform", "compose_transforms",
        "invert_transform", "apply_transform", "apply_rotation_translation",
        "distort_normalized", "undistort_normalized", "project_points", "unproject_points",
        "undistort_pixels", "intrinsics_matrix", "validate_intrinsics", "procrustes", "kabsch",
        "align", "mpjpe", "pa_mpjpe", "per_joint_error", "pck",
    }
    assert expected <= set(G.__all__)
    for name in G.__all__:
        assert callable(getattr(G, name))
