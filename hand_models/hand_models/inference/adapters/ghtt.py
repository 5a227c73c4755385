"""Registry entries for G-HTT's per-clip pose graphs (``hand_models.networks.ghtt``).

``ghtt_pose_encoder``: (x (batch, clip_len, FEATURE_DIM), flags (batch, clip_len, NUM_FLAGS)) -> mu, logvar,
gamma, refined; ``ghtt_pose_decoder``: (m (batch, d_model), gamma (batch, clip_len, d_model), use_skip (batch,),
anchor (batch, FEATURE_DIM): the normalised last observed frame) -> future. The graphs are the ones ``hand_models.networks.ghtt.export`` exports; here they get an
``ExportSpec`` so the common export (manifests, TensorRT), backends and benchmark apply to them.

Config: ``checkpoint`` (a state dict of ``GHTT``, or a dict holding one under ``model`` / ``state_dict``,
with an optional ``cfg`` dict) and ``size`` (``GHTTConfig`` field overrides as a dict). Without a
checkpoint the weights are the seeded initialisation (version ``init``): right for export and speed,
not for accuracy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..specs import DynamicDim, ExportSpec, TensorSpec

# fp32 transformer (layer norm, softmax, GELU) on both sides; measured ~1e-6, bound 1e-4 (rtol and atol).
TOL = (1e-4, 1e-4)


def _model(config: dict):
    import torch

    from hand_models.networks.ghtt import GHTT, GHTTConfig

    overrides = dict(config.get("size") or {})
    state = None
    version = "init"
    ck = config.get("checkpoint")
    if ck:
        blob = torch.load(Path(ck), map_location="cpu", weights_only=True)
        if isinstance(blob, dict) and "cfg" in blob and isinstance(blob["cfg"], dict):
            overrides = {**blob["cfg"], **overrides}
        state = blob.get("model", blob.get("state_dict", blob)) if isinstance(blob, dict) else blob
        version = "ckpt-" + hashlib.sha256(Path(ck).read_bytes()).hexdigest()[:12]
    torch.manual_seed(0)
    model = GHTT(GHTTConfig(**overrides))
    if state is not None:
        model.load_state_dict(state, strict=False)
    return model.eval(), version


def _binary(rng, shape):
    return (rng.random(shape) > 0.2).astype(np.float32)


def pose_encoder_spec(config: dict) -> ExportSpec:
    from hand_models.networks.ghtt import FEATURE_DIM, NUM_FLAGS
    from hand_models.networks.ghtt.export import _PEncoder

    model, version = _model(config)
    c = model.cfg
    t, d = c.clip_len, c.d_model

    def example(dims, seed):
        rng = np.random.default_rng(seed)
        b = dims["batch"]
        return {"x": rng.standard_normal((b, t, FEATURE_DIM)).astype(np.float32), "flags": _binary(rng, (b, t, NUM_FLAGS))}

    return ExportSpec(
        name="ghtt_pose_encoder", version=version, module=_PEncoder(model).eval(),
        inputs=[TensorSpec("x", ("batch", t, FEATURE_DIM)), TensorSpec("flags", ("batch", t, NUM_FLAGS))],
        outputs=[TensorSpec("mu", ("batch", d)), TensorSpec("logvar", ("batch", d)),
                 TensorSpec("gamma", ("batch", t, d)), TensorSpec("refined", ("batch", t, FEATURE_DIM))],
        dims={"batch": DynamicDim(1, 1, 32)}, config=dict(config), example_inputs=example, tolerance=TOL,
        tolerance_note="fp32 transformer both sides; summation order only",
    )


def pose_decoder_spec(config: dict) -> ExportSpec:
    from hand_models.networks.ghtt import FEATURE_DIM
    from hand_models.networks.ghtt.export import _PDecoder

    model, version = _model(config)
    c = model.cfg
    t, d = c.clip_len, c.d_model

    def example(dims, seed):
        rng = np.random.default_rng(seed)
        b = dims["batch"]
        return {"m": rng.standard_normal((b, d)).astype(np.float32),
                "gamma": rng.standard_normal((b, t, d)).astype(np.float32),
                "use_skip": (np.arange(b) % 2 == 0).astype(np.float32),
                "anchor": rng.standard_normal((b, FEATURE_DIM)).astype(np.float32)}

    return ExportSpec(
        name="ghtt_pose_decoder", version=version, module=_PDecoder(model).eval(),
        inputs=[TensorSpec("m", ("batch", d)), TensorSpec("gamma", ("batch", t, d)), TensorSpec("use_skip", ("batch",)),
                TensorSpec("anchor", ("batch", FEATURE_DIM))],
        outputs=[TensorSpec("future", ("batch", t, FEATURE_DIM))],
        dims={"batch": DynamicDim(1, 1, 32)}, config=dict(config), example_inputs=example, tolerance=TOL,
        tolerance_note="fp32 transformer both sides; summation order only",
    )
