"""LearnedMotionForecaster (core, MotionForecaster interface) with small untrained G-HTT and
diffusion models: resampling, missing hands, K samples + mean, rate, actions, checkpoint selection."""

import numpy as np
import pytest
import torch

from hand_models.networks.diffusion_forecaster import DiffusionForecaster, DiffusionForecasterConfig
from hand_models.networks.ghtt.model import GHTT, GHTTConfig
from hand_models.networks.ghtt.predict import DiffusionPredictor, GHTTPredictor
from hand_models.networks.ghtt.representation import template_joints
from hand_perception.core.forecasting import MotionForecaster
from hand_perception.core.learned_forecasting import (
    LearnedForecastConfig,
    LearnedMotionForecaster,
    hand_state_from_joints,
    make_learned_forecaster,
)

torch.set_num_threads(1)
SMALL = dict(d_model=32, heads=2, pose_layers=1, action_layers=1, object_layers=1, dropout=0.0)


def _ghtt():
    torch.manual_seed(0)
    m = GHTT(GHTTConfig(**SMALL)).eval()
    m.set_taxonomy(["grab", "swipe left", "idle"], torch.randn(3, m.cfg.text_dim))
    m.taxonomy = "test_taxonomy"
    return m


def _hands(i: float, left: bool = True):
    out = []
    for s, side in enumerate(("left", "right")):
        if side == "left" and not left:
            continue
        j = template_joints(side) + np.array([0.2 * s, 0.05 * np.sin(i), 0.5 + 0.01 * i])
        out.append(hand_state_from_joints(side, j, track_id=s))
    return out


def _feed(fc, n=20, hz=25.0, left_until=None):
    for k in range(n):
        fc.observe(int(1e9 + k / hz * 1e9), "cam", _hands(k / hz, left=left_until is None or k < left_until))


def test_ghtt_forecast_interface():
    fc = LearnedMotionForecaster(LearnedForecastConfig(num_samples=4, horizon_s=1.0, time_step_s=0.1), GHTTPredictor(_ghtt()))
    assert isinstance(fc, MotionForecaster)
    assert fc.forecast() is None and fc.actions() == []
    _feed(fc)
    f = fc.forecast()
    assert f.time_step_s == 0.1 and np.isclose(f.horizon_s, 1.0) and f.frame_id == "cam"
    assert len(f.samples) == 4 and np.isclose(sum(s.probability for s in f.samples), 1.0)
    assert f.mean is not None and {h.side for h in f.mean.hands} == {"left", "right"}
    for h in f.samples[0].hands:
        assert h.joints.shape == (10, 21, 3) and np.isfinite(h.joints).all()
        assert h.wrist_orientation_xyzw.shape == (10, 4) and np.allclose(np.linalg.norm(h.wrist_orientation_xyzw, axis=1), 1)
        assert np.isnan(h.hand_pose).all()
        assert np.allclose(h.wrist_position, h.joints[:, 0])
    mean_j = np.mean([s.hands[0].joints for s in f.samples], 0)
    assert np.allclose(f.mean.hands[0].joints, mean_j)
    # distinct samples (N(mu, 5 Sigma)) and the same forecast when asked twice for the same frame
    assert np.abs(f.samples[0].hands[1].joints - f.samples[1].hands[1].joints).max() > 1e-4
    assert fc.forecast() is f
    acts = fc.actions()
    assert len(acts) == 1 and acts[0].taxonomy == "test_taxonomy" and acts[0].side is None
    probs = [h.probability for h in acts[0].hypotheses]
    assert probs == sorted(probs, reverse=True) and np.isclose(sum(probs), 1.0, atol=1e-5)


def test_missing_hand_is_not_forecast_and_bad_input_recovers():
    fc = LearnedMotionForecaster(LearnedForecastConfig(num_samples=2, max_staleness_s=0.1), GHTTPredictor(_ghtt()))
    _feed(fc, left_until=10)
    f = fc.forecast()
    assert [h.side for h in f.samples[0].hands] == ["right"]
    win, last = fc.window()
    assert np.isnan(win[-1, 0]).all() and np.isfinite(win[-1, 1]).all()
    fc.observe(int(1e9), "cam", _hands(0.0))  # stamp goes backwards -> reset with a warning
    assert fc.last_warnings
    bad = _hands(0.0)[0]
    bad.joints = np.full((21, 3), np.nan)
    fc.observe(int(2e9), "cam", [bad])
    assert any("dropping" in w for w in fc.last_warnings)


def test_rate_limit_and_path_pb():
    fc = LearnedMotionForecaster(LearnedForecastConfig(num_samples=2, rate_hz=2.0, path="pb", history_s=1.5),
                                 GHTTPredictor(_ghtt()))
    _feed(fc, n=40)
    a = fc.forecast()
    fc.observe(int(1e9 + 40 / 25 * 1e9), "cam", _hands(1.6))
    assert fc.forecast() is a  # 40 ms later: within 1 / rate_hz, cached
    _feed_more = [fc.observe(int(1e9 + k / 25 * 1e9), "cam", _hands(k / 25)) for k in range(41, 60)]
    assert fc.forecast() is not a and len(_feed_more) == 19


def test_diffusion_forecaster_and_checkpoint_selection(tmp_path):
    from hand_training.forecasting.train_diffusion import save_diffusion
    from hand_training.forecasting.train_ghtt import save_ghtt

    torch.manual_seed(0)
    dm = DiffusionForecaster(DiffusionForecasterConfig(d_model=32, heads=2, enc_layers=1, dec_layers=1, sample_steps=4)).eval()
    fc = LearnedMotionForecaster(LearnedForecastConfig(num_samples=3, horizon_s=0.5, time_step_s=0.05), DiffusionPredictor(dm))
    _feed(fc)
    f = fc.forecast()
    assert len(f.samples) == 3 and f.samples[0].hands[0].joints.shape == (10, 21, 3)
    assert fc.actions() == []
    save_diffusion(tmp_path / "d.pt", dm)
    save_ghtt(tmp_path / "g.pt", _ghtt(), {"taxonomy": "test_taxonomy"})
    d = make_learned_forecaster("diffusion", str(tmp_path / "d.pt"), num_samples=2)
    g = make_learned_forecaster("ghtt_pb", str(tmp_path / "g.pt"), num_samples=2)
    assert d.kind == "diffusion" and g.kind == "ghtt" and g.config.path == "pb" and g.taxonomy == "test_taxonomy"
    with pytest.raises(ValueError):
        make_learned_forecaster("diffusion", str(tmp_path / "g.pt"))
    with pytest.raises(ValueError):
        make_learned_forecaster("nope", str(tmp_path / "g.pt"))
    with pytest.raises(FileNotFoundError):
        make_learned_forecaster("ghtt", str(tmp_path / "missing.pt"))
