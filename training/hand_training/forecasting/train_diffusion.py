"""Training of the diffusion forecaster on encoded motion windows (seeded, tqdm, checkpoint/resume).

CLI: ``python -m hand_training.forecasting.train_diffusion --config training/configs/ghtt_diffusion_small.yaml --out DIR``
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from hand_models.networks.diffusion_forecaster import DiffusionForecaster, DiffusionForecasterConfig

from . import checkpoint as ckpt
from .data import EncodedSequence, encode_sequences, stack_windows, window_index


def config_from_dict(d: dict | None) -> DiffusionForecasterConfig:
    d = dict(d or {})
    size = d.pop("size", "small")
    unknown = set(d) - {f.name for f in fields(DiffusionForecasterConfig)}
    if unknown:
        raise ValueError(f"unknown diffusion config keys: {sorted(unknown)}")
    return DiffusionForecasterConfig.large(**d) if size == "large" else DiffusionForecasterConfig(**d)


def train_diffusion(model: DiffusionForecaster, seqs: list[EncodedSequence], epochs: int, out: str | Path | None = None,
                    max_steps: int | None = None, stride: int = 4, seed: int = 0, resume: bool = True,
                    progress: bool = True) -> dict:
    cfg = model.cfg
    L = cfg.obs_len + cfg.horizon
    gen = ckpt.seed_everything(seed)
    idx = window_index(seqs, L, stride)
    if not idx:
        raise ValueError(f"no training windows of {L} frames")
    feats, mask, flags = stack_windows(seqs, idx, L)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, step = 0, 0
    path = Path(out) / "diffusion.pt" if out else None
    restored = ckpt.resume(path, model, opt, gen) if resume else None
    if restored is not None:
        start_epoch, step = restored
    else:
        model.normalizer.fit(feats, mask)
        if cfg.cumulative_v:
            model.fit_cumulative(feats[:, cfg.obs_len:], mask[:, cfg.obs_len:])
    x_all = model.normalizer.norm(feats) * mask
    T0 = cfg.obs_len
    hist = []
    for epoch in range(start_epoch, epochs):
        model.train()
        perm = torch.randperm(len(idx), generator=gen)
        bar = tqdm(range(0, len(idx), cfg.batch_size), desc=f"diffusion epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for a in bar:
            b = perm[a:a + cfg.batch_size]
            x, m, fl = x_all[b], mask[b], flags[b]
            obs = (x[:, :T0] + torch.randn(x[:, :T0].shape, generator=gen) * cfg.noise_obs) * m[:, :T0]
            loss = model.loss(obs, fl[:, :T0], x[:, T0:], m[:, T0:], gen)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            hist.append(float(loss.detach()))
            bar.set_postfix(loss=f"{hist[-1]:.4f}")
            if max_steps and step >= max_steps:
                break
        if path:
            ckpt.save(path, model=model.state_dict(), optimizer=opt.state_dict(), epoch=epoch + 1, step=step,
                      rng=gen.get_state(), config=cfg.to_dict(), kind="diffusion")
        if max_steps and step >= max_steps:
            break
    return {"steps": step, "windows": len(idx), "last": hist[-1] if hist else None, "history": hist}


def save_diffusion(path: str | Path, model: DiffusionForecaster) -> None:
    ckpt.save(path, model=model.state_dict(), config=model.cfg.to_dict(), kind="diffusion")


def load_diffusion(path: str | Path) -> DiffusionForecaster:
    state = ckpt.load(path)
    model = DiffusionForecaster(DiffusionForecasterConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model


def main(argv: list[str] | None = None) -> int:
    from ..datasets_motion.synthetic import generate_dataset

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-resume", action="store_true")
    args = ap.parse_args(argv)
    conf = yaml.safe_load(Path(args.config).read_text())
    cfg = config_from_dict(conf.get("model"))
    tr = conf.get("train", {})
    seed = int(tr.get("seed", 0))
    enc = encode_sequences(generate_dataset(int(tr.get("num_sequences", 2000)), seed=seed), cfg.fps)
    model = DiffusionForecaster(cfg)
    r = train_diffusion(model, enc, int(tr.get("epochs", cfg.epochs)), args.out, tr.get("max_steps"), seed=seed,
                        resume=not args.no_resume)
    save_diffusion(Path(args.out) / "diffusion_forecaster.pt", model)
    print({"steps": r["steps"], "loss": r["last"]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
