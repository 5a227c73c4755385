"""Evidence UniHand learns: a bounded two-stage run of a tiny config on synthetic data; losses
fall and reconstruction / keypoint-conditioned generation beat the untrained model."""

from __future__ import annotations

import copy

import numpy as np
import torch

from hand_training.data.synthetic import SyntheticConfig, SyntheticUniHandDataset
from hand_training.trainer import collate
from hand_training.unihand import load_unihand, load_yaml, model_config, train_unihand

TINY = {
    "preset": "small", "seq_len": 16,
    "vae": {"encoder": {"dim": 48, "layers": 1, "ff": 96}, "cond_encoder": {"dim": 48, "layers": 1, "ff": 96},
            "decoder": {"dim": 48, "layers": 1, "ff": 96}, "latent_dim": 24},
    "denoiser": {"net": {"dim": 48, "layers": 2, "ff": 96}},
}


def _mpjpe(model, b, sample: bool) -> float:
    with torch.no_grad():
        if sample:
            cond = {k: v for k, v in b.items() if k not in ("mano", "joints")}
            x = model.sample(cond, generator=torch.Generator().manual_seed(0))
        else:
            x = model.decode_latent(model.normalize_latent(model.motion_latent(b["mano"])), b["x1"], b["x1_known"])
        return float((model.joints(x) - b["joints"]).norm(dim=-1).mean() * 1000)


def test_small_unihand_learns(tmp_path):
    torch.manual_seed(0)
    cfg = {"model": TINY,
           "data": {"num_sequences": 24, "seed": 0, "cfg": SyntheticConfig(num_frames=16), "anchor_noise": 0.05},
           "vae": {"max_steps": 100, "batch_size": 8, "lr": 3e-3, "warmup_steps": 10, "log_every": 10, "ckpt_every": 0},
           "denoiser": {"max_steps": 60, "batch_size": 8, "lr": 3e-3, "warmup_steps": 10, "log_every": 10, "ckpt_every": 0}}
    # an untrained model with the same normalisation, for reference
    torch.manual_seed(0)
    model, hist = train_unihand(cfg, tmp_path, progress=False)
    for stage in ("vae", "denoiser"):
        losses = [h["loss"] for h in hist[stage]]
        assert np.mean(losses[-2:]) < 0.7 * losses[0], (stage, losses)
    vae_rec = [h["rec"] for h in hist["vae"]]
    assert vae_rec[-1] < 0.6 * vae_rec[0]

    # the training motions with observation noise never drawn in training (a 24-sequence run
    # cannot generalise to new motions; held-out evaluation is benchmarks/eval_unihand.py's job)
    ds = SyntheticUniHandDataset(24, seed=0, kp2d_norm=model.cfg.kp2d_norm, cfg=SyntheticConfig(num_frames=16))
    b = collate([ds[len(ds) - 1 - i] for i in range(16)])
    from hand_models.networks.unihand import UniHand

    torch.manual_seed(1)
    untrained = UniHand(model.cfg).eval()
    untrained.vae.set_normalization(model.vae.x_mean, model.vae.x_std)
    untrained.set_latent_stats(model.latent_mean, model.latent_std)
    for sample in (False, True):
        trained_err, untrained_err = _mpjpe(model, b, sample), _mpjpe(untrained, b, sample)
        print("mpjpe mm (sampled=%s): trained %.1f untrained %.1f" % (sample, trained_err, untrained_err))
        assert trained_err < 0.9 * untrained_err, (sample, trained_err, untrained_err)

    # the saved model loads (weights_only) and samples identically
    loaded = load_unihand(tmp_path / "unihand.pt")
    assert abs(_mpjpe(loaded, b, True) - _mpjpe(model, b, True)) < 1e-3


def test_configs_load():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "training" / "configs"
    paper = model_config(load_yaml(root / "unihand_paper.yaml")["model"])
    small = model_config(load_yaml(root / "unihand_small.yaml")["model"])
    assert paper.denoiser.net.layers == 16 and paper.vae.encoder.layers == 9
    assert small.vae.encoder.dim < paper.vae.encoder.dim
    assert model_config(copy.deepcopy(TINY)).seq_len == 16
