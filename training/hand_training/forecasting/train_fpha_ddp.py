"""Multi-GPU (torchrun / DistributedDataParallel) training of the forecasters' pose parts through
the generic :class:`hand_training.trainer.Trainer` (warm-up + linear decay, AMP on CUDA,
step-indexed seeded batches, resume from ``<out>/<name>/last.pt``).

Selected by ``train.trainer: ddp`` in a ``*_fpha_ddp.yaml`` config; run e.g.::

    torchrun --standalone --nproc_per_node=4 -m hand_training.forecasting.train_fpha \\
        --config training/configs/ghtt_fpha_ddp.yaml --out outputs/ghtt_fpha_ddp

(also runs as a single process, on CPU with gloo when no GPU is present). ``max_steps`` counts
optimiser steps; each rank draws ``batch_size`` windows per step (global batch = world x batch).
Same losses as the single-process trainers (``train_ghtt.train_pose_block``,
``train_diffusion.train_diffusion``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hand_models.networks.ghtt.losses import loss_pose_block

from ..trainer import Trainer, TrainerConfig
from .data import EncodedSequence, stack_windows, window_index


class _WindowSet(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, m: torch.Tensor, fl: torch.Tensor, raw: torch.Tensor) -> None:
        self.x, self.m, self.fl, self.raw = x, m, fl, raw

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "m": self.m[i], "fl": self.fl[i], "raw": self.raw[i]}


class PoseBlockLoss(nn.Module):
    """forward(batch of 2t-frame windows) -> G-HTT P-block losses (as in train_pose_block)."""

    def __init__(self, ghtt) -> None:
        super().__init__()
        self.ghtt = ghtt

    def forward(self, x, m, fl, raw) -> dict:
        cfg = self.ghtt.cfg
        t = cfg.clip_len
        obs = (x[:, :t] + torch.randn_like(x[:, :t]) * cfg.noise_p) * m[:, :t]
        keep = torch.rand(len(x), device=x.device) >= cfg.skip_drop
        outp = self.ghtt.pose(obs, fl[:, :t], sample_scale=1.0, skip_mask=keep)
        fut_raw = self.ghtt.pose.normalizer.denorm(outp["future"])
        losses = loss_pose_block(outp, x, m, fut_raw, raw[:, t:], fl[:, t:, 2:4] > 0.5, cfg)
        return {"loss": losses["total"], **{k: v for k, v in losses.items() if k != "total"}}


class DiffusionLoss(nn.Module):
    """forward(batch of obs_len + horizon windows) -> the diffusion forecaster's x0 loss."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, m, fl, raw) -> dict:
        T0 = self.model.cfg.obs_len
        obs = (x[:, :T0] + torch.randn_like(x[:, :T0]) * self.model.cfg.noise_obs) * m[:, :T0]
        return {"loss": self.model.loss(obs, fl[:, :T0], x[:, T0:], m[:, T0:])}


def _dataset(normalizer, seqs: list[EncodedSequence], length: int, stride: int, diffusion=None) -> _WindowSet:
    idx = window_index(seqs, length, stride)
    if not idx:
        raise ValueError(f"no training windows of {length} frames")
    feats, mask, flags = stack_windows(seqs, idx, length)
    normalizer.fit(feats, mask)
    if diffusion is not None and diffusion.cfg.cumulative_v:
        T0 = diffusion.cfg.obs_len
        diffusion.fit_cumulative(feats[:, T0:], mask[:, T0:])
    return _WindowSet(normalizer.norm(feats) * mask, mask, flags, feats)


def train_ddp(kind: str, model: nn.Module, seqs: list[EncodedSequence], tr: dict, out: Path) -> dict:
    """Train G-HTT's P block (kind 'ghtt') or the diffusion forecaster with :class:`Trainer`.
    Returns {"steps", "windows", "last", "rank", "world"}; the caller saves on rank 0."""
    stride = int(tr.get("stride", 4))
    if kind == "ghtt":
        ds = _dataset(model.pose.normalizer, seqs, 2 * model.cfg.clip_len, stride)
        wrapper, params, lr = PoseBlockLoss(model), list(model.pose.parameters()), model.cfg.lr
        wd, bs = model.cfg.weight_decay, model.cfg.batch_size
        max_steps = int(tr.get("max_steps_p", 1000))
    else:
        ds = _dataset(model.normalizer, seqs, model.cfg.obs_len + model.cfg.horizon, stride, diffusion=model)
        wrapper, params, lr = DiffusionLoss(model), list(model.parameters()), model.cfg.lr
        wd, bs = model.cfg.weight_decay, model.cfg.batch_size
        max_steps = int(tr.get("max_steps", 1000))
    cfg = TrainerConfig(max_steps=max_steps, batch_size=bs, lr=lr, weight_decay=wd,
                        warmup_steps=int(tr.get("warmup_steps", min(500, max_steps // 10))),
                        ckpt_every=int(tr.get("ckpt_every", 1000)), out_dir=str(out / f"{kind}_ddp"),
                        seed=int(tr.get("seed", 0)), deterministic=False)
    trainer = Trainer(wrapper, lambda module, batch: module(**batch), ds, cfg, params=params, name=f"{kind}_fpha")
    hist = trainer.fit()
    wrapper.to("cpu")
    return {"steps": trainer.step, "windows": len(ds), "last": hist[-1] if hist else {}, "rank": trainer.rank,
            "world": trainer.world}
