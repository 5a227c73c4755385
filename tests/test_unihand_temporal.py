"""Streaming UniHand temporal stage: windows, masks, gap filling, fallback, latency budget."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / "hand_perception"))

from hand_perception.core.temporal import TemporalModel  # noqa: E402
from hand_perception.core.types import HandState  # noqa: E402
from hand_perception.core.unihand_temporal import (  # noqa: E402
    UniHandTemporalConfig, UniHandTemporalModel, estimate_intrinsics,
)

K = np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])


def _hand(i, side="right", conf=1.0, tid=1):
    j = np.zeros((21, 3))
    j[:, 0] = np.linspace(0, 0.08, 21) + 0.001 * i
    j[:, 1] = np.linspace(-0.02, 0.03, 21) ** 2 * 10
    j[:, 2] = 0.5 + 0.01 * np.sin(np.arange(21))
    uv = j[:, :2] / j[:, 2:] * 600 + [320, 240]
    return HandState(side=side, track_id=tid, confidence=conf, keypoints_2d=uv, keypoint_confidence=np.ones(21),
                     joints=j, wrist_position=j[0], wrist_orientation_xyzw=np.array([0, 0, 0, 1.0]), mano=None,
                     bbox=np.array([0, 0, 10, 10.0]))


class FakePredictor:
    window = 48

    def __init__(self, fail=False, delay=0.0):
        self.calls, self.fail, self.delay = [], fail, delay

    def predict(self, side, K, size, kp2d, vis, mask, kp3d, x1=None):
        import time

        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("boom")
        self.calls.append(mask.copy())
        T = len(mask)
        last = kp3d[mask > 0][-1]
        return np.zeros((T, 61)), np.repeat(last[None], T, 0)


def test_interface_windows_and_gap_filling():
    p = FakePredictor()
    m = UniHandTemporalModel(UniHandTemporalConfig(max_gap_s=0.2, latency_budget_s=0), predictor=p)
    assert isinstance(m, TemporalModel)
    m.set_camera(K, 640, 480)
    dt = int(1e9 / 30)
    for i in range(60):
        out = m.update(i * dt + 1, [_hand(i)])
        assert len(out) == 1 and out[0].is_observed and out[0].mano is not None
    assert len(p.calls[-1]) == 48  # sliding window of 48 frames
    out = m.update(60 * dt + 1, [_hand(60, conf=0.1)])  # low confidence -> mask 0, filled in
    assert len(out) == 1 and not out[0].is_observed and p.calls[-1][-1] == 0
    gaps = [m.update((61 + k) * dt + 1, []) for k in range(10)]
    assert all(len(g) == 1 and not g[0].is_observed for g in gaps[:4])
    assert gaps[-1] == []  # dropped after max_gap_s
    assert gaps[0][0].confidence < 1.0


def test_fallback_on_model_error_and_latency_stride():
    m = UniHandTemporalModel(UniHandTemporalConfig(), predictor=FakePredictor(fail=True))
    out = m.update(1, [_hand(0)])
    assert len(out) == 1 and m.stats["model_errors"] == 1 and any("One-Euro" in w for w in m.last_warnings)
    slow = UniHandTemporalModel(UniHandTemporalConfig(latency_budget_s=0.005), predictor=FakePredictor(delay=0.02))
    slow.set_camera(K, 640, 480)
    for i in range(12):
        assert len(slow.update(i * 33_000_000 + 1, [_hand(i)])) == 1
    assert slow.stride >= 2 and slow.stats["fallback_frames"] > 0


def test_intrinsics_estimate():
    h = _hand(0)
    K2 = estimate_intrinsics(h.keypoints_2d, h.joints)
    assert np.allclose(K2, K, atol=1e-6)


def test_real_small_model_streams(tmp_path):
    import torch

    from hand_models.networks.unihand import UniHand, UniHandConfig
    from hand_models.networks.unihand.inference import UniHandPredictor

    torch.manual_seed(0)
    cfg = UniHandConfig.small()
    cfg.seq_len = 16
    pred = UniHandPredictor(UniHand(cfg), steps=2)
    m = UniHandTemporalModel(UniHandTemporalConfig(window=16, latency_budget_s=0), predictor=pred)
    for i in range(20):
        out = m.update(i * 33_000_000 + 1, [_hand(i, side="left", tid=-1)])
        assert len(out) == 1 and out[0].side == "left" and np.isfinite(out[0].joints).all()
    assert m.stats["model_frames"] == 20
