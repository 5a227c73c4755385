"""Export UniHand's latent denoiser and autoregressive decoder to ONNX and check them against
torch with ONNX Runtime (CPU).

    python -m hand_training.export_unihand outputs/unihand_small/unihand.pt --out outputs/unihand_onnx

Graphs (batch dimension dynamic, sequence length fixed to the model's ``seq_len``):

* ``unihand_denoiser.onnx``: z_t (B, N+1, d) float, t (B,) int64, conds (B, 3, N, d) float
  (normalised MANO / 2D / 3D condition latents), cmask (B, 3, N) float [, hand (B, N, D),
  hmask (B, N) with the vision path] -> z0 (B, N+1, d): one denoising evaluation; the DDIM loop
  and CFG (two evaluations per step) stay in the caller.
* ``unihand_decoder.onnx``: z (B, N+1, d) normalised latent, x1 (B, 61), x1_known (B,) ->
  mano (B, N, 61): the autoregressive decoder (segments unrolled) incl. de-normalisation.

A ``manifest.json`` records inputs/outputs, opset, sha256 and the parity errors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hand_models.networks.unihand import UniHand
from hand_models.networks.unihand.export import DecoderGraph, DenoiserGraph


def example_inputs(model: UniHand, batch: int = 2, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    N, dl = cfg.seq_len, cfg.vae.latent_dim
    den = {
        "z_t": torch.randn(batch, N + 1, dl, generator=g),
        "t": torch.randint(0, cfg.diffusion.train_steps, (batch,), generator=g),
        "conds": torch.randn(batch, 3, N, dl, generator=g),
        "cmask": (torch.rand(batch, 3, N, generator=g) > 0.3).float(),
    }
    if model.perceptron is not None:
        den["hand"] = torch.randn(batch, N, cfg.denoiser.net.dim, generator=g)
        den["hmask"] = (torch.rand(batch, N, generator=g) > 0.3).float()
    dec = {
        "z": torch.randn(batch, N + 1, dl, generator=g),
        "x1": model.vae.x_mean.expand(batch, -1) + 0.1 * torch.randn(batch, 61, generator=g),
        "x1_known": torch.ones(batch),
    }
    return {"denoiser": den, "decoder": dec}


def _export(module: nn.Module, inputs: dict[str, torch.Tensor], output: str, path: Path, opset: int) -> None:
    names = list(inputs)
    dyn = {n: {0: "batch"} for n in names}
    dyn[output] = {0: "batch"}
    torch.onnx.export(module, tuple(inputs.values()), str(path), input_names=names, output_names=[output],
                      dynamic_axes=dyn, opset_version=opset, dynamo=False)


def _parity(module: nn.Module, inputs: dict[str, torch.Tensor], path: Path) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {k: v.numpy() for k, v in inputs.items()}
    got = sess.run(None, feed)[0]
    with torch.no_grad():
        ref = module(*inputs.values()).numpy()
    return float(np.abs(got - ref).max())


def export_unihand(model: UniHand, out_dir: str | os.PathLike, opset: int = 17, check: bool = True) -> dict:
    """Export both graphs; returns the manifest (with ``max_abs_diff`` per graph when checked)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    ex = example_inputs(model)
    manifest = {"model": "unihand", "config": model.cfg.to_dict(), "opset": opset, "torch": torch.__version__, "graphs": {}}
    for name, module, output in (("denoiser", DenoiserGraph(model), "z0"), ("decoder", DecoderGraph(model), "mano")):
        path = out / f"unihand_{name}.onnx"
        _export(module, ex[name], output, path, opset)
        entry = {"file": path.name, "inputs": {k: [None, *v.shape[1:]] for k, v in ex[name].items()},
                 "input_dtypes": {k: str(v.dtype).replace("torch.", "") for k, v in ex[name].items()},
                 "output": output, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        if check:
            # a different batch size than at export time: checks the dynamic axis too
            ex3 = example_inputs(model, batch=3, seed=1)[name]
            entry["max_abs_diff"] = _parity(module, ex3, path)
        manifest["graphs"][name] = entry
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    from .unihand import load_unihand

    m = export_unihand(load_unihand(args.checkpoint), args.out, args.opset)
    print(json.dumps({k: {"file": v["file"], "max_abs_diff": v.get("max_abs_diff")} for k, v in m["graphs"].items()}))


if __name__ == "__main__":
    main()
