"""Training UniHand in two stages (paper B.2): the Joint VAE, then (VAE frozen) the latent denoiser.

    python -m hand_training.unihand train --config training/configs/unihand_small.yaml --out outputs/unihand_small
    torchrun --nproc_per_node=4 -m hand_training.unihand train --config training/configs/unihand_paper.yaml --out ...

Each stage writes ``<out>/<stage>/last.pt`` (resumable: rerun the same command) and the final
model goes to ``<out>/unihand.pt`` ({"config", "model"}; load with :func:`load_unihand`).
Data: the synthetic generator (``data.source: synthetic``); the dataset readers in
``hand_training.data`` yield the same sample format for real data.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from hand_models.networks.unihand import UniHand, UniHandConfig

from .data.synthetic import SyntheticUniHandDataset
from .trainer import Trainer, TrainerConfig, collate, distributed_env

logger = logging.getLogger(__name__)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f) or {}


def model_config(spec: dict[str, Any]) -> UniHandConfig:
    """``model:`` section: {preset: small|paper, ...overrides} -> UniHandConfig."""
    spec = dict(spec or {})
    preset = spec.pop("preset", "paper")
    base = UniHandConfig.small() if preset == "small" else UniHandConfig()
    merged = _merge(base.to_dict(), spec)
    return UniHandConfig.from_dict(merged)


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def build_dataset(data: dict[str, Any], cfg: UniHandConfig) -> torch.utils.data.Dataset:
    data = dict(data or {})
    source = data.pop("source", "synthetic")
    if source != "synthetic":
        raise ValueError(f"unknown data source {source!r} (use the readers in hand_training.data for real data)")
    syn = data.pop("cfg", None)
    if isinstance(syn, dict):  # YAML: nested synthetic settings
        from .data.synthetic import ObservationNoise, SyntheticConfig

        noise = ObservationNoise(**syn.pop("noise", {}))
        syn = SyntheticConfig(noise=noise, **{k: tuple(v) if isinstance(v, list) else v for k, v in syn.items()})
    if syn is not None and syn.num_frames != cfg.seq_len:
        raise ValueError(f"synthetic num_frames {syn.num_frames} != model seq_len {cfg.seq_len}")
    if syn is None:
        from .data.synthetic import SyntheticConfig

        syn = SyntheticConfig(num_frames=cfg.seq_len)
    return SyntheticUniHandDataset(kp2d_norm=cfg.kp2d_norm, cfg=syn, **data)


@torch.no_grad()
def set_mano_normalization(model: UniHand, dataset, n: int = 256) -> None:
    xs = torch.cat([dataset[i]["mano"] for i in range(min(n, len(dataset)))])
    model.vae.set_normalization(xs.mean(0), xs.std(0))


@torch.no_grad()
def set_latent_statistics(model: UniHand, dataset, n: int = 256, batch: int = 32) -> None:
    """Per-channel mean/std of the clean diffusion latents [mu_g, z] (diffusion runs on unit scale)."""
    model.eval()
    dev = model.latent_mean.device
    zs = []
    for s in range(0, min(n, len(dataset)), batch):
        b = collate([dataset[i] for i in range(s, min(s + batch, n, len(dataset)))])
        zs.append(model.motion_latent(b["mano"].to(dev)).flatten(0, 1))
    z = torch.cat(zs)
    model.set_latent_stats(z.mean(0), z.std(0))


def train_unihand(config: dict[str, Any], out_dir: str | os.PathLike, progress: bool = True,
                  stages: tuple[str, ...] = ("vae", "denoiser")) -> tuple[UniHand, dict[str, list]]:
    """Run both stages; returns the trained model and the per-stage loss histories."""
    out = Path(out_dir)
    cfg = model_config(config.get("model", {}))
    dataset = build_dataset(config.get("data", {}), cfg)
    model = UniHand(cfg)
    set_mano_normalization(model, dataset)
    histories: dict[str, list] = {}
    for stage in stages:
        tcfg = dict(config.get(stage, {}))
        tcfg.setdefault("out_dir", str(out / stage))
        tcfg.setdefault("progress", progress)
        tc = TrainerConfig.from_dict(tcfg)
        if stage == "denoiser":
            model.to("cpu")
            set_latent_statistics(model, dataset)
        model.set_stage(stage)
        trainer = Trainer(model, lambda m, b, s=stage: m(b, stage=s), dataset, tc,
                          params=model.stage_parameters(stage), name=stage)
        histories[stage] = trainer.fit()
        model = trainer.model
    model.to("cpu").eval()
    rank, _, _ = distributed_env()
    if rank == 0:
        save_unihand(model, out / "unihand.pt")
        (out / "history.json").write_text(json.dumps(histories))
    return model, histories


def save_unihand(model: UniHand, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    torch.save({"config": model.cfg.to_dict(), "model": state}, path)


def load_unihand(path: str | os.PathLike, backbone=None, map_location: str = "cpu") -> UniHand:
    """Load a model saved by :func:`save_unihand` (``weights_only``; the frozen backbone is
    supplied by the caller, it is never stored)."""
    from hand_models.networks.unihand.inference import load_checkpoint

    return load_checkpoint(path, backbone=backbone, map_location=map_location)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train")
    tr.add_argument("--config", required=True)
    tr.add_argument("--out", required=True)
    tr.add_argument("--stages", default="vae,denoiser")
    tr.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.cmd == "train":
        train_unihand(load_yaml(args.config), args.out, progress=not args.no_progress,
                      stages=tuple(args.stages.split(",")))


if __name__ == "__main__":
    main()
