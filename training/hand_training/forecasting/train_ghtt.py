"""Training of G-HTT: P first (on all pose sequences), then A with P frozen (on labelled clips),
then the object aggregator E^PO. AdamW (lr 1e-4, weight decay 0.01 in the paper config), seeded,
tqdm progress, checkpoint + resume (``torch.load(weights_only=True)``).

CLI::

    python -m hand_training.forecasting.train_ghtt --config training/configs/ghtt_small.yaml --out runs/ghtt
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from hand_models.networks.ghtt.losses import loss_action_block, loss_pose_block
from hand_models.networks.ghtt.model import GHTT, GHTTConfig

from . import checkpoint as ckpt
from .data import EncodedSequence, encode_sequences, stack_windows, window_index

log = logging.getLogger(__name__)
NO_OBJECT = "nothing"


def config_from_dict(d: dict | None) -> GHTTConfig:
    d = dict(d or {})
    size = d.pop("size", "small")
    known = {f.name for f in fields(GHTTConfig)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown G-HTT config keys: {sorted(unknown)}")
    return GHTTConfig.paper(**d) if size == "paper" else GHTTConfig.small(**d)


def _batches(n: int, bs: int, gen: torch.Generator):
    perm = torch.randperm(n, generator=gen)
    for a in range(0, n, bs):
        yield perm[a:a + bs]


def train_pose_block(model: GHTT, seqs: list[EncodedSequence], epochs: int, out: str | Path | None = None,
                     max_steps: int | None = None, stride: int = 4, seed: int = 0, resume: bool = True,
                     progress: bool = True, fit_normalizer: bool = True) -> dict:
    """P on all windows of 2t frames (``fit_normalizer=False`` keeps a pretrained model's
    feature statistics, for fine-tuning)."""
    cfg = model.cfg
    t = cfg.clip_len
    gen = ckpt.seed_everything(seed)
    idx = window_index(seqs, 2 * t, stride)
    if not idx:
        raise ValueError("no training windows of 2t frames")
    feats, mask, flags = stack_windows(seqs, idx, 2 * t)
    opt = torch.optim.AdamW(model.pose.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, step = 0, 0
    path = Path(out) / "pose_block.pt" if out else None
    restored = ckpt.resume(path, model, opt, gen) if resume else None
    if restored is not None:
        start_epoch, step = restored
        log.info("resumed P from %s at epoch %d", path, start_epoch)
    elif fit_normalizer:
        model.pose.normalizer.fit(feats, mask)
    x_all = model.pose.normalizer.norm(feats) * mask
    hist = []
    for epoch in range(start_epoch, epochs):
        model.train()
        bar = tqdm(list(_batches(len(idx), cfg.batch_size, gen)), desc=f"P epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for b in bar:
            x, m, fl, raw = x_all[b], mask[b], flags[b], feats[b]
            noise = torch.randn(x[:, :t].shape, generator=gen) * cfg.noise_p
            obs = (x[:, :t] + noise) * m[:, :t]
            keep = torch.rand(len(b), generator=gen) >= cfg.skip_drop
            outp = model.pose(obs, fl[:, :t], sample_scale=1.0, skip_mask=keep)
            fut_raw = model.pose.normalizer.denorm(outp["future"])
            losses = loss_pose_block(outp, x, m, fut_raw, raw[:, t:], fl[:, t:, 2:4] > 0.5, cfg)
            opt.zero_grad()
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.pose.parameters(), 1.0)
            opt.step()
            step += 1
            hist.append({k: float(v.detach()) for k, v in losses.items()})
            bar.set_postfix(loss=f"{hist[-1]['total']:.3f}", comp=f"{hist[-1]['comp']:.3f}", trj=f"{hist[-1]['trj']:.3f}")
            if max_steps and step >= max_steps:
                break
        if path:
            ckpt.save(path, model=model.state_dict(), optimizer=opt.state_dict(), epoch=epoch + 1, step=step,
                      rng=gen.get_state(), config=cfg.to_dict())
        if max_steps and step >= max_steps:
            break
    return {"steps": step, "windows": len(idx), "last": hist[-1] if hist else {}, "history": hist}


@torch.no_grad()
def clip_mid_levels(model: GHTT, seqs: list[EncodedSequence], offsets=(0, 4, 8, 12)) -> list[tuple[int, int, torch.Tensor]]:
    """mu^P of consecutive clips: [(sequence index, offset, (n_clips, d))] for clips that have a hand."""
    model.eval()
    t = model.cfg.clip_len
    out = []
    for i, s in enumerate(seqs):
        T = len(s.enc.features)
        for o in offsets:
            n = (T - o) // t
            if n < 2:
                continue
            sl = slice(o, o + n * t)
            f = torch.from_numpy(s.enc.features[sl]).float().reshape(n, t, -1)
            m = torch.from_numpy(s.enc.mask[sl]).reshape(n, t, -1)
            g = torch.from_numpy(s.enc.flags[sl]).float().reshape(n, t, -1)
            x = model.pose.normalizer.norm(f) * m
            mu, _, _ = model.pose.encode(x, g)
            out.append((i, o, mu))
    return out


def train_action_block(model: GHTT, seqs: list[EncodedSequence], labels: list[str], label_text: np.ndarray,
                       noun_text: dict[str, np.ndarray], epochs: int, out: str | Path | None = None,
                       max_steps: int | None = None, seed: int = 0, resume: bool = True, progress: bool = True,
                       samples_per_epoch: int | None = None) -> dict:
    """A with P frozen. noun_text maps a noun ('' -> 'nothing') to its text embedding (omega)."""
    cfg = model.cfg
    gen = ckpt.seed_everything(seed + 1)
    model.set_taxonomy(labels, torch.as_tensor(label_text))
    for p in model.pose.parameters():
        p.requires_grad_(False)
    mids = clip_mid_levels(model, seqs)
    if not mids:
        raise ValueError("no sequences with at least two clips for A")
    lab_idx = {l: k for k, l in enumerate(labels)}
    targets = torch.tensor([lab_idx[seqs[i].label] for i, _, _ in mids])
    omega_of = [torch.as_tensor(noun_text.get(seqs[i].noun or NO_OBJECT, noun_text[NO_OBJECT])).float() for i, _, _ in mids]
    mid_std = float(torch.cat([m for _, _, m in mids]).std())
    nbar = cfg.future_clips
    opt = torch.optim.AdamW([p for n, p in model.action.named_parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, step = 0, 0
    path = Path(out) / "action_block.pt" if out else None
    restored = ckpt.resume(path, model, opt, gen) if resume else None
    if restored is not None:
        start_epoch, step = restored
    n_items = samples_per_epoch or len(mids)
    hist = []
    for epoch in range(start_epoch, epochs):
        model.action.train()
        order = torch.randint(0, len(mids), (n_items,), generator=gen)
        bar = tqdm(range(0, n_items, cfg.batch_size), desc=f"A epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for a in bar:
            items = order[a:a + cfg.batch_size].tolist()
            B = len(items)
            n_max = max(1, min(cfg.max_clips, max(len(mids[k][2]) - 1 for k in items)))
            m_in = torch.zeros(B, n_max, model.pose.latent_dim)
            cmask = torch.zeros(B, n_max, dtype=torch.bool)
            omega = torch.zeros(B, n_max, cfg.text_dim)
            fut = torch.zeros(B, nbar, model.pose.latent_dim)
            fvalid = torch.zeros(B, nbar, dtype=torch.bool)
            n_obs = torch.zeros(B, dtype=torch.long)
            phase0 = torch.zeros(B, dtype=torch.long)
            for b, k in enumerate(items):
                mu = mids[k][2]
                n = len(mu)
                s = int(torch.randint(0, n - 1, (1,), generator=gen))
                no = int(torch.randint(1, min(n - s - 1, n_max) + 1, (1,), generator=gen))
                nf = min(nbar, n - s - no)
                m_in[b, :no] = mu[s:s + no]
                cmask[b, :no] = True
                omega[b, :no] = omega_of[k]
                fut[b, :nf] = mu[s + no:s + no + nf]
                fvalid[b, :nf] = True
                n_obs[b] = no
                phase0[b] = s
            m_in = m_in + torch.randn(m_in.shape, generator=gen) * cfg.noise_mid * mid_std
            omega = omega + torch.randn(omega.shape, generator=gen) * 0.01
            outa = model.action(m_in, omega, cmask, n_obs, nbar, sample_scale=1.0, phase0=phase0)
            label_emb = model.action.label_embeddings(model.label_text)
            losses = loss_action_block(outa, label_emb, targets[items], fut, fvalid, cfg)
            opt.zero_grad()
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.action.parameters(), 1.0)
            opt.step()
            step += 1
            hist.append({k: float(v.detach()) for k, v in losses.items()})
            bar.set_postfix(loss=f"{hist[-1]['total']:.3f}", mid=f"{hist[-1]['mid']:.2f}", act=f"{hist[-1]['action']:.2f}")
            if max_steps and step >= max_steps:
                break
        if path:
            ckpt.save(path, model=model.state_dict(), optimizer=opt.state_dict(), epoch=epoch + 1, step=step,
                      rng=gen.get_state(), config=cfg.to_dict(), labels=list(labels))
        if max_steps and step >= max_steps:
            break
    for p in model.pose.parameters():
        p.requires_grad_(True)
    return {"steps": step, "clip_sets": len(mids), "last": hist[-1] if hist else {}, "history": hist}


def train_object_aggregator(model: GHTT, noun_text: dict[str, np.ndarray], steps: int = 200, seed: int = 0,
                            noise: float = 0.3, p_drop: float = 0.2) -> float:
    """E^PO on simulated per-frame object features: the noun's text embedding plus noise and
    dropped frames (standing in for an image-based estimator's per-frame output) -> the clean
    embedding (cosine + l1 loss). Returns the last loss."""
    cfg = model.cfg
    gen = ckpt.seed_everything(seed + 2)
    nouns = torch.stack([torch.as_tensor(v).float() for v in noun_text.values()])
    opt = torch.optim.AdamW(model.objects.parameters(), lr=max(cfg.lr, 3e-4), weight_decay=cfg.weight_decay)
    model.objects.train()
    loss = torch.zeros(())
    for _ in range(steps):
        k = torch.randint(0, len(nouns), (64,), generator=gen)
        target = nouns[k]
        frames = target[:, None].expand(-1, cfg.clip_len, -1) + noise * torch.randn(64, cfg.clip_len, cfg.text_dim, generator=gen) / cfg.text_dim ** 0.5
        keep = torch.rand(64, cfg.clip_len, generator=gen) >= p_drop
        keep[:, 0] = True
        pred = model.objects(frames * keep[..., None], keep)
        loss = (1 - torch.nn.functional.cosine_similarity(pred, target, dim=-1)).mean() + (pred - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.objects.eval()
    return float(loss.detach())


def object_noun_text() -> dict[str, np.ndarray]:
    """Text embeddings of object nouns (the taxonomies' nouns, text only) for training E^PO."""
    from hand_models.networks.ghtt.text_embeddings import taxonomy_embeddings

    from ..datasets_motion import h2o

    nouns = sorted({NO_OBJECT, "milk", "juice bottle", "liquid soap", "peanut butter", "mug", "sponge", "wine",
                    "coin", "card", "letter", "paper", "glasses", "calculator", "cell phone", "wallet", "soda can",
                    "candle", "spoon", "salt", "sugar", "tea bag"} | {a.split(" ", 1)[-1] for a in h2o.ACTIONS})
    return dict(zip(nouns, taxonomy_embeddings("object_nouns", nouns)))


def save_ghtt(path: str | Path, model: GHTT, extra: dict | None = None) -> None:
    ckpt.save(path, model=model.state_dict(), config=model.cfg.to_dict(), labels=list(model.labels),
              kind="ghtt", **(extra or {}))


def load_ghtt(path: str | Path) -> GHTT:
    state = ckpt.load(path)
    cfg = GHTTConfig(**state["config"])
    model = GHTT(cfg)
    model.label_text = torch.zeros_like(state["model"]["label_text"])
    model.load_state_dict(state["model"])
    model.labels = list(state.get("labels", []))
    model.eval()
    return model


def main(argv: list[str] | None = None) -> int:
    from hand_models.networks.ghtt.text_embeddings import taxonomy_embeddings

    from ..datasets_motion.synthetic import SYNTH_ACTIONS, TAXONOMY_NAME, generate_dataset

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-resume", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    conf = yaml.safe_load(Path(args.config).read_text())
    cfg = config_from_dict(conf.get("model"))
    tr = conf.get("train", {})
    seed = int(tr.get("seed", 0))
    seqs = generate_dataset(int(tr.get("num_sequences", 2000)), seed=seed)
    enc = encode_sequences(seqs, cfg.fps)
    model = GHTT(cfg)
    t0 = time.time()
    rp = train_pose_block(model, enc, int(tr.get("epochs_p", cfg.epochs_p)), args.out, tr.get("max_steps_p"),
                          seed=seed, resume=not args.no_resume)
    labels = list(SYNTH_ACTIONS)
    label_text = taxonomy_embeddings(TAXONOMY_NAME, labels)
    nouns = [NO_OBJECT]
    noun_text = dict(zip(nouns, taxonomy_embeddings("nouns_" + TAXONOMY_NAME, nouns)))
    ra = train_action_block(model, enc, labels, label_text, noun_text, int(tr.get("epochs_a", cfg.epochs_a)), args.out,
                            tr.get("max_steps_a"), seed=seed, resume=not args.no_resume)
    model.default_object = torch.as_tensor(noun_text[NO_OBJECT])
    eo_loss = train_object_aggregator(model, object_noun_text(), steps=int(tr.get("steps_object", 300)), seed=seed)
    save_ghtt(Path(args.out) / "ghtt.pt", model, {"taxonomy": TAXONOMY_NAME})
    print({"P": {k: v for k, v in rp["last"].items()}, "A": ra["last"], "E_PO": eo_loss, "seconds": round(time.time() - t0, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
