"""UniHand's two exported graphs and their registry entries (``hand_models.inference``).

* ``unihand_denoiser``: z_t (batch, N+1, d), t (batch,) int64, conds (batch, 3, N, d) condition
  latents (MANO / 2D / 3D), cmask (batch, 3, N) -> z0 (batch, N+1, d): one denoiser evaluation
  (the DDIM loop and classifier-free guidance stay in the caller).
* ``unihand_decoder``: z (batch, N+1, d), x1 (batch, 61) first-frame MANO vector, x1_known
  (batch,) -> mano (batch, N, 61): the autoregressive decoder, segments unrolled.

Config: ``checkpoint`` (a model saved by hand_training, loaded with weights_only=True); without
it the weights are the seeded initialisation of the small config (version ``init``): right for
export and speed checks, not for accuracy. The keypoint-conditioned path is exported (no vision
tokens).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hand_models.networks.unihand.config import UniHandConfig
from hand_models.networks.unihand.model import UniHand

# fp32 transformer both sides (LayerNorm, softmax, GELU): measured ~1e-6, bound 1e-4.
TOLERANCE = (1e-4, 1e-4)


class DenoiserGraph(nn.Module):
    """One denoiser evaluation: (z_t, t, conds, cmask[, hand, hmask]) -> z0."""

    def __init__(self, model: UniHand) -> None:
        super().__init__()
        self.model = model

    def forward(self, z_t, t, conds, cmask, hand=None, hmask=None):
        return self.model.denoiser(z_t, t, conds, cmask, hand, hmask)


class DecoderGraph(nn.Module):
    """Latent -> MANO sequence: (z, x1, x1_known) -> mano (B, N, 61)."""

    def __init__(self, model: UniHand) -> None:
        super().__init__()
        self.model = model

    def forward(self, z, x1, x1_known):
        return self.model.decode_latent(z, x1, x1_known)


def _model(config: dict) -> tuple[UniHand, str]:
    ck = config.get("checkpoint")
    if ck:
        from hand_models.networks.unihand.inference import load_checkpoint

        version = "ckpt-" + hashlib.sha256(Path(ck).read_bytes()).hexdigest()[:12]
        return load_checkpoint(ck), version
    torch.manual_seed(0)
    return UniHand(UniHandConfig.small()).eval(), "init"


def denoiser_spec(config: dict):
    from hand_models.inference.specs import DynamicDim, ExportSpec, TensorSpec

    model, version = _model(config)
    cfg = model.cfg
    n, d, steps = cfg.seq_len, cfg.vae.latent_dim, cfg.diffusion.train_steps

    def example(dims, seed):
        rng = np.random.default_rng(seed)
        b = dims["batch"]
        return {"z_t": rng.standard_normal((b, n + 1, d)).astype(np.float32),
                "t": rng.integers(0, steps, size=(b,)).astype(np.int64),
                "conds": rng.standard_normal((b, 3, n, d)).astype(np.float32),
                "cmask": (rng.random((b, 3, n)) > 0.3).astype(np.float32)}

    return ExportSpec(
        name="unihand_denoiser", version=version, module=DenoiserGraph(model).eval(),
        inputs=[TensorSpec("z_t", ("batch", n + 1, d)), TensorSpec("t", ("batch",), "int64"),
                TensorSpec("conds", ("batch", 3, n, d)), TensorSpec("cmask", ("batch", 3, n))],
        outputs=[TensorSpec("z0", ("batch", n + 1, d))],
        dims={"batch": DynamicDim(1, 2, 16)}, config=dict(config), example_inputs=example,
        tolerance=TOLERANCE, tolerance_note="fp32 transformer both sides; summation order only",
    )


def decoder_spec(config: dict):
    from hand_models.inference.specs import DynamicDim, ExportSpec, TensorSpec

    model, version = _model(config)
    cfg = model.cfg
    n, d = cfg.seq_len, cfg.vae.latent_dim
    x_mean = model.vae.x_mean.detach().cpu().numpy().reshape(1, -1)

    def example(dims, seed):
        rng = np.random.default_rng(seed)
        b = dims["batch"]
        return {"z": rng.standard_normal((b, n + 1, d)).astype(np.float32),
                "x1": (x_mean + 0.1 * rng.standard_normal((b, 61))).astype(np.float32),
                "x1_known": np.ones((b,), np.float32)}

    return ExportSpec(
        name="unihand_decoder", version=version, module=DecoderGraph(model).eval(),
        inputs=[TensorSpec("z", ("batch", n + 1, d)), TensorSpec("x1", ("batch", 61)), TensorSpec("x1_known", ("batch",))],
        outputs=[TensorSpec("mano", ("batch", n, 61))],
        dims={"batch": DynamicDim(1, 2, 16)}, config=dict(config), example_inputs=example,
        tolerance=TOLERANCE, tolerance_note="fp32 transformer both sides; summation order only",
    )
