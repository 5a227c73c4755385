"""Inverse kinematics: exact refits, robustness to noise and missing joints, both sides, errors."""

import numpy as np
import pytest
import torch

from hand_models.fitting import IKConfig, ManoFitter, fit_mano, pose_from_angles, sample_angles
from hand_models.mano import ManoLayer


def _hands(side, n, seed):
    rng = np.random.default_rng(seed)
    layer = ManoLayer(side, dtype=torch.float64)
    fitter = ManoFitter(side)
    pose = pose_from_angles(sample_angles(rng, n), fitter.frames)
    params = dict(
        global_orient=torch.tensor(rng.normal(size=(n, 3))),
        hand_pose=torch.tensor(pose),
        betas=torch.tensor(rng.normal(size=(n, 10))),
        transl=torch.tensor(rng.normal(size=(n, 3)) * 0.1 + [0.0, 0.0, 0.5]),
    )
    return layer, fitter, params, layer(**params).joints.numpy()


@pytest.mark.parametrize("side", ["right", "left"])
def test_noise_free_refit_within_1mm(side):
    layer, fitter, _, joints = _hands(side, 32, seed=1)
    result = fitter.fit(joints)
    refit = layer(**result.as_torch(torch.float64)).joints.numpy()
    err = np.linalg.norm(refit - joints, axis=-1)
    assert err.max() < 1e-3
    assert np.allclose(result.joints, refit, atol=1e-9)  # the fitter's FK equals the layer
    assert result.global_orient.shape == (32, 3) and result.hand_pose.shape == (32, 45)
    assert result.betas.shape == (32, 10) and result.transl.shape == (32, 3)


@pytest.mark.parametrize("side", ["right", "left"])
def test_noise_5mm_error_stays_close_to_noise(side):
    layer, fitter, _, joints = _hands(side, 32, seed=2)
    noise = np.random.default_rng(3).normal(scale=0.005, size=joints.shape)
    result = fitter.fit(joints + noise)
    refit = layer(**result.as_torch(torch.float64)).joints.numpy()
    err_gt = np.linalg.norm(refit - joints, axis=-1).mean()
    noise_level = np.linalg.norm(noise, axis=-1).mean()
    assert err_gt < noise_level  # the hand model removes part of the noise


def test_missing_joints_and_confidence():
    layer, fitter, _, joints = _hands("right", 8, seed=4)
    conf = np.ones((8, 21))
    conf[:, [8, 12, 3]] = 0.0  # index/middle tips and thumb IP missing
    target = joints.copy()
    target[:, [8, 12, 3]] = np.nan
    result = fitter.fit(target, conf)
    refit = layer(**result.as_torch(torch.float64)).joints.numpy()
    seen = conf[0] > 0
    assert np.linalg.norm(refit[:, seen] - joints[:, seen], axis=-1).max() < 2e-3
    assert np.isfinite(result.hand_pose).all()


def test_single_hand_and_torch_input():
    _, fitter, _, joints = _hands("left", 1, seed=5)
    r1 = fitter.fit(joints[0])
    r2 = fitter.fit(torch.tensor(joints))
    assert np.allclose(r1.hand_pose, r2.hand_pose)
    assert r1.error[0] < 1e-3
    r3 = fit_mano(joints, "left")
    assert np.allclose(r3.transl, r1.transl)


def test_shape_can_be_frozen():
    layer, _, params, joints = _hands("right", 4, seed=6)
    fitter = ManoFitter("right", config=IKConfig(fit_shape=False))
    result = fitter.fit(joints)
    assert np.all(result.betas == 0.0)


def test_bad_input_errors():
    fitter = ManoFitter("right")
    with pytest.raises(ValueError, match=r"\(B, 21, 3\)"):
        fitter.fit(np.zeros((2, 20, 3)))
    bad = np.zeros((21, 3))
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fitter.fit(bad)
    conf = np.ones(21)
    with pytest.raises(ValueError, match=r"joints \[5\] are NaN/inf but have confidence > 0"):
        fitter.fit(bad, conf)
    conf = np.zeros(21)
    conf[[0, 8, 12]] = 1
    with pytest.raises(ValueError, match="too few joints"):
        fitter.fit(np.zeros((21, 3)), conf)
    with pytest.raises(ValueError, match=r"confidence must be shaped"):
        fitter.fit(np.zeros((21, 3)), np.ones(20))
    with pytest.raises(ValueError, match="side must be"):
        ManoFitter("up")


def test_warm_start_from_a_nearby_solution_converges_in_few_iterations():
    layer, fitter, params, joints = _hands("right", 8, seed=9)
    first = fitter.fit(joints)
    # the hand moves a little: start from the previous solution
    moved = layer(**{**params, "transl": params["transl"] + 0.01,
                     "hand_pose": params["hand_pose"] * 1.05}).joints.numpy()
    init = {k: getattr(first, k) for k in ("global_orient", "hand_pose", "betas", "transl")}
    warm = fitter.fit(moved, init=init, iterations=3)
    refit = layer(**warm.as_torch(torch.float64)).joints.numpy()
    assert np.linalg.norm(refit - moved, axis=-1).max() < 1e-3
    with pytest.raises(ValueError, match="init contains NaN"):
        fitter.fit(moved, init={**init, "hand_pose": np.full((8, 45), np.nan)})


def test_reprojection_term_pulls_the_fit_onto_the_rays():
    layer, fitter, _, joints = _hands("left", 6, seed=12)
    rays = joints[..., :2] / joints[..., 2:3]  # exact image rays of the true joints
    noisy = joints + np.random.default_rng(13).normal(scale=0.008, size=joints.shape)

    def ray_error(result):
        j = result.joints
        return np.abs(j[..., :2] / j[..., 2:3] - rays).mean()

    plain = fitter.fit(noisy)
    with_rays = fitter.fit(noisy, rays=rays, ray_sigma=np.full(6, 2.0 / 600.0))
    assert ray_error(with_rays) < 0.5 * ray_error(plain)
    with pytest.raises(ValueError, match="ray_sigma"):
        fitter.fit(noisy, rays=rays, ray_sigma=np.zeros(6))
