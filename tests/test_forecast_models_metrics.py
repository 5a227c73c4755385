"""Forecasting metrics and baselines."""

import numpy as np
from scipy.spatial.transform import Rotation

from hand_training.forecasting import metrics as M


def test_ade_fde_and_best_of_k():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(10, 2, 21, 3))
    valid = np.ones((10, 2, 21), bool)
    off = np.zeros(3)
    off[0] = 0.01
    samples = np.stack([gt + off, gt + 3 * off])
    r = M.ade_fde(samples, gt, valid, {"h5": 5, "h10": 10})
    assert np.isclose(r["ade_min@h5"], 0.01) and np.isclose(r["fde_min@h10"], 0.01)
    assert np.isclose(r["ade_mean@h10"], 0.02)
    valid[:, 0] = False
    samples[0, :, 0] += 5.0  # errors on invalid joints do not count
    assert np.isclose(M.ade_fde(samples, gt, valid, {"h": 10})["ade_min@h"], 0.01)


def test_apd_and_fid():
    a = np.zeros((3, 4, 21, 3))
    a[1] += [0.03, 0, 0]
    a[2] += [0, 0.04, 0]
    assert np.isclose(M.apd(a), (0.03 + 0.04 + 0.05) / 3)
    assert M.apd(a[:1]) == 0.0
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 8))
    assert M.frechet_distance(x, x) < 1e-6
    assert M.frechet_distance(x, x + 1.0) > 7.9


def test_pa_and_ra_mpjpe():
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(5, 21, 3)) * 0.05
    R = Rotation.from_rotvec([0.4, 0.2, -0.3]).as_matrix()
    pred = 1.3 * gt @ R.T + 0.2
    assert M.pa_mpjpe(pred, gt) < 1e-9
    assert M.mpjpe_ra(gt * 1.2 + 0.5, gt) < 1e-9          # scale equalised by palm bones
    assert M.mpjpe_ra(gt * 1.2 + 0.5, gt, equalize_scale=False) > 0.005


def test_baselines():
    t = np.arange(8)[:, None, None, None] * 0.01
    obs = np.zeros((8, 2, 21, 3)) + t
    cv = M.constant_velocity(obs, 5)
    assert cv.shape == (1, 5, 2, 21, 3)
    assert np.allclose(cv[0, :, 0, 0, 0], 0.07 + 0.01 * np.arange(1, 6))
    assert np.allclose(M.zero_velocity(obs, 3)[0], obs[-1])
    assert M.top1(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])) == 0.5
