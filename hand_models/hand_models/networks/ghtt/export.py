"""ONNX export of G-HTT's blocks (P encoder, P decoder, A encoder, A decoder) and of the diffusion
forecaster (condition encoder, one denoiser call), with ONNX Runtime parity checks on CPU.

Sampling loops (reparameterisation, autoregression, DDIM) stay outside the graphs: they are a few
array operations that the caller runs with the exported networks.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .model import GHTT
from .representation import FEATURE_DIM, NUM_FLAGS


class _PEncoder(nn.Module):
    def __init__(self, m: GHTT) -> None:
        super().__init__()
        self.p = m.pose

    def forward(self, x: Tensor, flags: Tensor):
        mu, logvar, gamma = self.p.encode(x, flags)
        return mu, logvar, gamma, self.p.refine(gamma)


class _PDecoder(nn.Module):
    def __init__(self, m: GHTT) -> None:
        super().__init__()
        self.p = m.pose

    def forward(self, m: Tensor, gamma: Tensor, use_skip: Tensor, anchor: Tensor):
        return self.p.decode(m, gamma, use_skip > 0.5, anchor)


class _AEncoder(nn.Module):
    def __init__(self, m: GHTT) -> None:
        super().__init__()
        self.a = m.action

    def forward(self, mid: Tensor, omega: Tensor, clip_mask: Tensor):
        mu, logvar, eta = self.a.encode(mid, omega, clip_mask > 0.5)
        return mu, logvar, eta


class _ADecoder(nn.Module):
    def __init__(self, m: GHTT, n_future: int) -> None:
        super().__init__()
        self.a = m.action
        self.n_future = n_future

    def forward(self, alpha: Tensor, n_obs: Tensor, eta: Tensor, clip_mask: Tensor):
        return self.a.decode(alpha, n_obs, self.n_future, eta, clip_mask > 0.5)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: dict) -> Path:
    module.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                      opset_version=17, dynamo=False)
    return path


def export_ghtt(model: GHTT, out_dir: str | os.PathLike, n_clips: int = 3, n_future: int | None = None) -> dict[str, Path]:
    """Writes pose_encoder.onnx, pose_decoder.onnx, action_encoder.onnx, action_decoder.onnx."""
    out = Path(out_dir)
    cfg = model.cfg
    t, d = cfg.clip_len, cfg.d_model
    nf = n_future or cfg.future_clips
    B = {0: "batch"}
    paths = {
        "pose_encoder": _export(_PEncoder(model), (torch.zeros(1, t, FEATURE_DIM), torch.ones(1, t, NUM_FLAGS)),
                                out / "pose_encoder.onnx", ["x", "flags"], ["mu", "logvar", "gamma", "refined"],
                                {"x": B, "flags": B, "mu": B, "logvar": B, "gamma": B, "refined": B}),
        "pose_decoder": _export(_PDecoder(model), (torch.zeros(1, d), torch.zeros(1, t, d), torch.ones(1),
                                                   torch.zeros(1, FEATURE_DIM)),
                                out / "pose_decoder.onnx", ["m", "gamma", "use_skip", "anchor"], ["future"],
                                {"m": B, "gamma": B, "use_skip": B, "anchor": B, "future": B}),
        "action_encoder": _export(_AEncoder(model), (torch.zeros(1, n_clips, d), torch.zeros(1, n_clips, cfg.text_dim),
                                                     torch.ones(1, n_clips)),
                                  out / "action_encoder.onnx", ["mid", "omega", "clip_mask"], ["mu", "logvar", "eta"],
                                  {"mid": {0: "batch", 1: "clips"}, "omega": {0: "batch", 1: "clips"},
                                   "clip_mask": {0: "batch", 1: "clips"}, "mu": B, "logvar": B, "eta": {0: "batch", 1: "clips"}}),
        "action_decoder": _export(_ADecoder(model, nf), (torch.zeros(1, d), torch.full((1,), n_clips, dtype=torch.long),
                                                         torch.zeros(1, n_clips, d), torch.ones(1, n_clips)),
                                  out / "action_decoder.onnx", ["alpha", "n_obs", "eta", "clip_mask"], ["future_mid"],
                                  {"alpha": B, "n_obs": B, "eta": {0: "batch", 1: "clips"}, "clip_mask": {0: "batch", 1: "clips"},
                                   "future_mid": B}),
    }
    return paths


def _run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


@torch.no_grad()
def check_ghtt_parity(model: GHTT, paths: dict[str, Path], batch: int = 2, n_clips: int = 4, seed: int = 0) -> dict[str, float]:
    """Max |ONNX Runtime - torch| per exported graph on random inputs (other batch / clip counts
    than at export, to exercise the dynamic axes)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    t, d = cfg.clip_len, cfg.d_model
    x = torch.randn(batch, t, FEATURE_DIM, generator=g)
    fl = (torch.rand(batch, t, NUM_FLAGS, generator=g) > 0.2).float()
    res = {}
    ref = _PEncoder(model)(x, fl)
    got = _run(paths["pose_encoder"], {"x": x.numpy(), "flags": fl.numpy()})
    res["pose_encoder"] = max(float(np.abs(a.numpy() - b).max()) for a, b in zip(ref, got))
    m = torch.randn(batch, d, generator=g)
    gamma = torch.randn(batch, t, d, generator=g)
    skip = torch.tensor([1.0, 0.0][:batch] + [1.0] * max(0, batch - 2))
    anchor = torch.randn(batch, FEATURE_DIM, generator=g)
    ref = _PDecoder(model)(m, gamma, skip, anchor)
    got = _run(paths["pose_decoder"], {"m": m.numpy(), "gamma": gamma.numpy(), "use_skip": skip.numpy(),
                                       "anchor": anchor.numpy()})
    res["pose_decoder"] = float(np.abs(ref.numpy() - got[0]).max())
    mid = torch.randn(batch, n_clips, d, generator=g)
    om = torch.randn(batch, n_clips, cfg.text_dim, generator=g)
    cm = torch.ones(batch, n_clips)
    cm[0, -1] = 0
    ref = _AEncoder(model)(mid, om, cm)
    got = _run(paths["action_encoder"], {"mid": mid.numpy(), "omega": om.numpy(), "clip_mask": cm.numpy()})
    res["action_encoder"] = max(float(np.abs(a.numpy() - b).max()) for a, b in zip(ref, got))
    alpha = torch.randn(batch, d, generator=g)
    n_obs = cm.sum(1).long()
    eta = torch.randn(batch, n_clips, d, generator=g)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(paths["action_decoder"]), providers=["CPUExecutionProvider"])
    nf = sess.get_outputs()[0].shape[1]
    ref = _ADecoder(model, nf if isinstance(nf, int) else cfg.future_clips)(alpha, n_obs, eta, cm)
    got = sess.run(None, {"alpha": alpha.numpy(), "n_obs": n_obs.numpy(), "eta": eta.numpy(), "clip_mask": cm.numpy()})
    res["action_decoder"] = float(np.abs(ref.numpy() - got[0]).max())
    return res


# -- diffusion forecaster -------------------------------------------------------------------------
class _DiffCondition(nn.Module):
    def __init__(self, m) -> None:
        super().__init__()
        self.m = m

    def forward(self, obs: Tensor, flags: Tensor):
        return self.m.condition(obs, flags)


class _DiffDenoise(nn.Module):
    def __init__(self, m) -> None:
        super().__init__()
        self.m = m

    def forward(self, x_t: Tensor, step: Tensor, cond: Tensor):
        return self.m.denoise(x_t, step, cond)


def export_diffusion(model, out_dir: str | os.PathLike) -> dict[str, Path]:
    out = Path(out_dir)
    c = model.cfg
    B = {0: "batch"}
    return {
        "diffusion_condition": _export(_DiffCondition(model), (torch.zeros(1, c.obs_len, FEATURE_DIM), torch.ones(1, c.obs_len, NUM_FLAGS)),
                                       out / "diffusion_condition.onnx", ["obs", "flags"], ["cond"],
                                       {"obs": B, "flags": B, "cond": B}),
        "diffusion_denoiser": _export(_DiffDenoise(model), (torch.zeros(1, c.horizon, FEATURE_DIM), torch.zeros(1),
                                                            torch.zeros(1, c.obs_len, c.d_model)),
                                      out / "diffusion_denoiser.onnx", ["x_t", "step", "cond"], ["x0"],
                                      {"x_t": B, "step": B, "cond": B, "x0": B}),
    }


def ort_diffusion_sample(model, paths: dict[str, Path], obs: np.ndarray, flags: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Deterministic DDIM (eta 0) with the exported graphs: obs (1, L, 153), noise (K, F, 153)."""
    import onnxruntime as ort

    cs = ort.InferenceSession(str(paths["diffusion_condition"]), providers=["CPUExecutionProvider"])
    ds = ort.InferenceSession(str(paths["diffusion_denoiser"]), providers=["CPUExecutionProvider"])
    cond = cs.run(None, {"obs": obs.astype(np.float32), "flags": flags.astype(np.float32)})[0]
    K = noise.shape[0]
    cond = np.repeat(cond, K, 0)
    anchor = model.anchor(torch.from_numpy(obs.astype(np.float32))).numpy()
    ab_all = model.alpha_bar.numpy()
    sched = model.ddim_schedule()
    x = noise.astype(np.float32)
    for i, k in enumerate(sched):
        ab = ab_all[k]
        x0 = ds.run(None, {"x_t": x, "step": np.full((K,), float(k), np.float32), "cond": cond})[0]
        if i + 1 < len(sched):
            eps = (x - np.sqrt(ab) * x0) / np.sqrt(1 - ab)
            abp = ab_all[sched[i + 1]]
            x = (np.sqrt(abp) * x0 + np.sqrt(1 - abp) * eps).astype(np.float32)
        else:
            x = x0
    # the network's output space back to per-frame features (identity unless cfg.cumulative_v)
    return model.from_model_space(torch.from_numpy((x + anchor).astype(np.float32))).numpy()


@torch.no_grad()
def check_diffusion_parity(model, paths: dict[str, Path], num_samples: int = 3, seed: int = 0) -> dict[str, float]:
    model.eval()
    g = torch.Generator().manual_seed(seed)
    c = model.cfg
    obs = torch.randn(1, c.obs_len, FEATURE_DIM, generator=g)
    fl = torch.ones(1, c.obs_len, NUM_FLAGS)
    noise = torch.randn(num_samples, c.horizon, FEATURE_DIM, generator=g)
    ref = model.sample(obs, fl, num_samples, noise=noise, eta=0.0)[0].numpy()
    got = ort_diffusion_sample(model, paths, obs.numpy(), fl.numpy(), noise.numpy())
    x_t = torch.randn(2, c.horizon, FEATURE_DIM, generator=g)
    cond = model.condition(obs, fl).expand(2, -1, -1)
    step = torch.tensor([3.0, 71.0])
    r1 = model.denoise(x_t, step, cond).numpy()
    import onnxruntime as ort

    d1 = ort.InferenceSession(str(paths["diffusion_denoiser"]), providers=["CPUExecutionProvider"]).run(
        None, {"x_t": x_t.numpy(), "step": step.numpy(), "cond": cond.numpy()})[0]
    return {"diffusion_denoiser": float(np.abs(r1 - d1).max()), "diffusion_sample": float(np.abs(ref - got).max())}
