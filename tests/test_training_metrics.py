"""Metrics: invariances and known values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hand_training import metrics as M


def _seq(T=10, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(0, 0.01, (T, 21, 3)), 0) + rng.normal(0, 0.05, (1, 21, 3))


def test_identity_and_offsets():
    gt = _seq()
    assert M.mpjpe(gt, gt) == 0 and M.pa_mpjpe(gt, gt) < 1e-6 and M.accel_error(gt, gt) == 0
    assert M.auc_j(gt, gt) == pytest.approx(1.0, abs=0.01) and M.f_score(gt, gt, 5) == 1.0
    shifted = gt + np.array([0.01, 0, 0])
    assert M.mpjpe(shifted, gt) == pytest.approx(10.0) and M.accel_error(shifted, gt) == pytest.approx(0.0, abs=1e-9)


def test_similarity_invariances():
    gt = _seq()
    R = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    moved = 1.3 * gt @ R.T + np.array([0.2, 0.1, -0.3])
    assert M.pa_mpjpe(moved, gt) < 1e-6
    assert M.ga_mpjpe(moved, gt) < 1e-6 and M.g_mpjpe(moved, gt) < 1e-6
    assert M.mpjpe(moved, gt) > 50


def test_g_vs_ga_and_accel():
    gt = _seq(20)
    drift = gt + np.linspace(0, 0.05, 20)[:, None, None] * np.array([1.0, 0, 0])
    assert M.g_mpjpe(drift, gt) > M.ga_mpjpe(drift, gt)
    noisy = gt + np.random.default_rng(1).normal(0, 0.002, gt.shape)
    assert M.accel_error(noisy, gt) > 3.0
    s = M.summary(noisy, gt)
    assert set(s) == {"mpjpe_mm", "pa_mpjpe_mm", "auc_j_20mm", "f5", "f15", "g_mpjpe_mm", "ga_mpjpe_mm", "accel_mm_per_frame2"}
    assert 0 < s["f5"] <= s["f15"] <= 1
