"""Diffusion forecaster: diffusion loss, DDIM sampling of distinct futures, ONNX parity."""

import pytest
import torch

from hand_models.networks.diffusion_forecaster import DiffusionForecaster, DiffusionForecasterConfig
from hand_models.networks.ghtt.representation import FEATURE_DIM

torch.set_num_threads(1)


def test_bimodal_futures_are_both_sampled():
    """Same history, two equally likely futures (+1 / -1 on the first features): samples must
    cover both modes instead of collapsing to their mean (what an l2 regression would do)."""
    torch.manual_seed(0)
    cfg = DiffusionForecasterConfig(obs_len=4, horizon=4, d_model=32, heads=2, enc_layers=1, dec_layers=1,
                                    dropout=0.0, train_steps=50, sample_steps=10)
    m = DiffusionForecaster(cfg)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    obs = torch.zeros(64, 4, FEATURE_DIM)
    fl = torch.ones(64, 4, 5)
    mask = torch.zeros(64, 4, FEATURE_DIM, dtype=torch.bool)
    mask[..., :6] = True
    for _ in range(250):
        sign = torch.randint(0, 2, (64, 1, 1), generator=g).float() * 2 - 1
        fut = torch.zeros(64, 4, FEATURE_DIM)
        fut[..., :6] = sign
        loss = m.loss(obs, fl, fut, mask, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    s = m.sample(obs[:1], fl[:1], num_samples=24, generator=torch.Generator().manual_seed(1))[0]
    v = s[..., :6].mean((1, 2))
    assert (v > 0.5).sum() >= 3 and (v < -0.5).sum() >= 3, v
    assert ((v.abs() - 1).abs() < 0.4).float().mean() > 0.7  # near a mode, not at the mean 0


def test_sampling_is_seeded_and_shaped():
    m = DiffusionForecaster(DiffusionForecasterConfig(d_model=32, heads=2, enc_layers=1, dec_layers=1)).eval()
    obs = torch.randn(2, 16, FEATURE_DIM)
    fl = torch.ones(2, 16, 5)
    a = m.sample(obs, fl, 3, generator=torch.Generator().manual_seed(5))
    b = m.sample(obs, fl, 3, generator=torch.Generator().manual_seed(5))
    assert a.shape == (2, 3, 30, FEATURE_DIM) and torch.equal(a, b)
    assert (a[0, 0] - a[0, 1]).abs().max() > 1e-3
    assert len(m.ddim_schedule()) == 10


def test_onnx_export_parity(tmp_path):
    pytest.importorskip("onnxruntime")
    from hand_models.networks.ghtt.export import check_diffusion_parity, export_diffusion

    torch.manual_seed(0)
    m = DiffusionForecaster(DiffusionForecasterConfig(d_model=32, heads=2, enc_layers=1, dec_layers=2)).eval()
    diffs = check_diffusion_parity(m, export_diffusion(m, tmp_path))
    assert max(diffs.values()) < 1e-4, diffs
