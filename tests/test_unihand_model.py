"""UniHand networks: MANO joints, RoPE, Joint VAE / denoiser / perceptron behaviour, sampling, ONNX."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hand_models.mano import ManoLayer
from hand_models.networks.unihand import (
    ManoJoints, SmallCNNBackbone, UniHand, UniHandConfig, cosine_alphas_cumprod,
)
from hand_models.networks.unihand.layers import apply_rope, default_split, rope_tables


def tiny_cfg(vision: bool = False) -> UniHandConfig:
    cfg = UniHandConfig.small()
    for t in (cfg.vae.encoder, cfg.vae.cond_encoder, cfg.vae.decoder, cfg.denoiser.net):
        t.dim, t.ff, t.layers = 32, 64, 1
    cfg.vae.latent_dim = 16
    cfg.seq_len = 16
    cfg.perceptron.enabled = vision
    cfg.perceptron.ff = 64
    return cfg


def batch(B=2, N=16, seed=0, images=False):
    g = torch.Generator().manual_seed(seed)
    b = {"mano": torch.randn(B, N, 61, generator=g) * 0.3,
         "kp2d": torch.randn(B, N, 21, 2, generator=g) * 0.1, "kp2d_vis": torch.ones(B, N, 21), "kp2d_mask": torch.ones(B, N),
         "kp3d": torch.randn(B, N, 21, 3, generator=g) * 0.05, "kp3d_vis": torch.ones(B, N, 21), "kp3d_mask": torch.ones(B, N)}
    if images:
        b["images"] = torch.rand(B, N, 3, 32, 32, generator=g)
        b["image_mask"] = torch.ones(B, N)
    return b


@pytest.mark.parametrize("side", ["left", "right"])
def test_mano_joints_match_layer(side):
    layer = ManoLayer(side)
    x = torch.randn(6, 61, generator=torch.Generator().manual_seed(1)) * 0.4
    ref = layer(x[:, :3], x[:, 3:48], x[:, 48:58], x[:, 58:]).joints
    assert torch.allclose(ManoJoints(layer)(x), ref, atol=1e-5)


def test_rope_is_relative_1d_and_3d():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, 16, generator=g), torch.randn(1, 1, 1, 16, generator=g)

    def score(pq, pk, split=None):
        cq, sq = rope_tables(pq, 16, split)
        ck, sk = rope_tables(pk, 16, split)
        return float((apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum())

    assert score(torch.tensor([[3]]), torch.tensor([[1]])) == pytest.approx(score(torch.tensor([[12]]), torch.tensor([[10]])), abs=1e-4)
    split = default_split(16)
    assert sum(split) == 16 and all(s % 2 == 0 for s in split)
    a = score(torch.tensor([[[4, 0, 0]]]), torch.tensor([[[1, 2, 5]]]), split)
    b = score(torch.tensor([[[9, 1, 3]]]), torch.tensor([[[6, 3, 8]]]), split)
    assert a == pytest.approx(b, abs=1e-4)
    assert a != pytest.approx(score(torch.tensor([[[4, 0, 0]]]), torch.tensor([[[1, 3, 5]]]), split), abs=1e-4)


def test_paper_config_sizes():
    cfg = UniHandConfig()
    assert (cfg.vae.encoder.layers, cfg.vae.encoder.dim, cfg.vae.encoder.ff, cfg.vae.encoder.heads) == (9, 512, 2048, 8)
    assert (cfg.denoiser.net.layers, cfg.denoiser.net.heads, cfg.vae.latent_dim, cfg.vae.segment) == (16, 16, 512, 8)
    assert (cfg.diffusion.train_steps, cfg.diffusion.sample_steps, cfg.diffusion.cfg_scale) == (50, 10, 2.0)
    assert (cfg.loss.kl, cfg.loss.joint_rec, cfg.loss.latent, cfg.loss.aux) == (1e-4, 0.5, 0.1, 0.1)
    with pytest.raises(ValueError):
        UniHandConfig(seq_len=50)


def test_cosine_schedule():
    ab = cosine_alphas_cumprod(50)
    assert ab.shape == (50,) and bool((ab[1:] < ab[:-1]).all()) and 0 < float(ab[-1]) < 0.01


def test_stages_train_their_parameters_only():
    torch.manual_seed(0)
    m = UniHand(tiny_cfg())
    m.set_stage("vae")
    m.vae_losses(batch())["loss"].backward()
    assert all(p.grad is None for p in m.denoiser.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.vae.cond_encoders["kp2d"].parameters())
    m.zero_grad(set_to_none=True)
    m.set_stage("denoiser")
    out = m.denoiser_losses(batch())
    assert set(out) >= {"loss", "simple", "rec"}
    out["loss"].backward()
    assert all(p.grad is None for p in m.vae.parameters())
    assert any(p.grad is not None for p in m.denoiser.parameters())


def test_decoder_is_autoregressive():
    """Latents of a later segment never change earlier segments' output."""
    torch.manual_seed(0)
    m = UniHand(tiny_cfg()).eval()
    z, g = torch.randn(1, 16, 16), torch.randn(1, 16)
    a = m.vae.decode(z, g)
    z2 = z.clone()
    z2[:, 8:] += 1.0
    b = m.vae.decode(z2, g)
    assert torch.allclose(a[:, :8], b[:, :8]) and not torch.allclose(a[:, 8:], b[:, 8:])


def test_sampling_deterministic_and_conditioned():
    torch.manual_seed(0)
    m = UniHand(tiny_cfg()).eval()
    b = batch()
    b.pop("mano")
    s1 = m.sample(b, generator=torch.Generator().manual_seed(3))
    s2 = m.sample(b, generator=torch.Generator().manual_seed(3))
    assert s1.shape == (2, 16, 61) and torch.equal(s1, s2)
    b2 = dict(b, kp2d_mask=torch.zeros(2, 16), kp3d_mask=torch.zeros(2, 16))
    assert not torch.allclose(m.sample(b2, generator=torch.Generator().manual_seed(3)), s1)
    assert not torch.allclose(m.sample(b, cfg_scale=1.0, generator=torch.Generator().manual_seed(3)), s1)


def test_vision_path_masks_and_frozen_backbone():
    torch.manual_seed(0)
    m = UniHand(tiny_cfg(vision=True), backbone=SmallCNNBackbone(16)).eval()
    assert all(not p.requires_grad for p in m.backbone.parameters())
    b = batch(images=True)
    b["image_mask"][:, 5] = 0
    h1, _ = m.hand_tokens(b, None, None)
    b2 = dict(b, images=b["images"].clone())
    b2["images"][:, 5] = 0.5  # a masked frame's pixels are not looked at
    h2, _ = m.hand_tokens(b2, None, None)
    assert h1.shape == (2, 16, 32) and torch.allclose(h1, h2, atol=1e-5)
    b3 = dict(b, images=b["images"].clone())
    b3["images"][:, 6] = 0.5
    assert not torch.allclose(h1, m.hand_tokens(b3, None, None)[0], atol=1e-5)
    m.train()
    m.set_stage("denoiser")
    m.denoiser_losses(b)["loss"].backward()
    assert any(p.grad is not None for p in m.perceptron.parameters())
    assert all(p.grad is None for p in m.backbone.parameters())


def test_onnx_export_parity(tmp_path):
    pytest.importorskip("onnxruntime")
    from hand_training.export_unihand import export_unihand

    torch.manual_seed(0)
    man = export_unihand(UniHand(tiny_cfg()), tmp_path)
    for name in ("denoiser", "decoder"):
        assert (tmp_path / man["graphs"][name]["file"]).is_file()
        assert man["graphs"][name]["max_abs_diff"] < 1e-4
