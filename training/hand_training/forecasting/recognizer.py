"""Action-recognition network over motion windows, trained on labelled synthetic motion; its pooled
last-layer features are the feature space of the FID metric (as in G-HTT's evaluation, which uses
a transformer action-recognition network)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hand_models.networks.ghtt.layers import Encoder, sinusoidal
from hand_models.networks.ghtt.model import FeatureNormalizer
from hand_models.networks.ghtt.representation import FEATURE_DIM, NUM_FLAGS, encode

from . import checkpoint as ckpt
from .data import EncodedSequence


@dataclass
class RecognizerConfig:
    window: int = 30
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    dropout: float = 0.1
    lr: float = 1e-3
    batch_size: int = 64


class ActionRecognizer(nn.Module):
    def __init__(self, labels: list[str], cfg: RecognizerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or RecognizerConfig()
        self.labels = list(labels)
        self.normalizer = FeatureNormalizer()
        self.inp = nn.Linear(FEATURE_DIM + NUM_FLAGS, cfg.d_model)
        self.encoder = Encoder(cfg.d_model, cfg.heads, cfg.layers, cfg.dropout)
        self.head = nn.Linear(cfg.d_model, len(labels))
        self.register_buffer("pos", sinusoidal(torch.arange(cfg.window), cfg.d_model), persistent=False)

    def features(self, x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.inp(torch.cat([x, flags], -1)) + self.pos[: x.shape[1]])
        return h.mean(1)

    def forward(self, x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x, flags))

    @torch.no_grad()
    def embed_joints(self, windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Joint windows [(W, 2, 21, 3)] -> (features (N, d), logits (N, C))."""
        self.eval()
        xs, fs = [], []
        for w in windows:
            e = encode(w)
            f = torch.from_numpy(e.features).float()
            xs.append(self.normalizer.norm(f) * torch.from_numpy(e.mask))
            fs.append(torch.from_numpy(e.flags).float())
        x, fl = torch.stack(xs), torch.stack(fs)
        feat = self.features(x, fl)
        return feat.numpy(), self.head(feat).numpy()


def train_recognizer(seqs: list[EncodedSequence], labels: list[str], steps: int = 400, seed: int = 0,
                     cfg: RecognizerConfig | None = None, out: str | Path | None = None, progress: bool = True) -> ActionRecognizer:
    cfg = cfg or RecognizerConfig()
    gen = ckpt.seed_everything(seed + 7)
    model = ActionRecognizer(labels, cfg)
    lab = {l: i for i, l in enumerate(labels)}
    W = cfg.window
    idx = [(i, a) for i, s in enumerate(seqs) for a in range(0, len(s.enc.features) - W + 1, 5) if s.label in lab]
    f = torch.from_numpy(np.stack([seqs[i].enc.features[a:a + W] for i, a in idx])).float()
    m = torch.from_numpy(np.stack([seqs[i].enc.mask[a:a + W] for i, a in idx]))
    g = torch.from_numpy(np.stack([seqs[i].enc.flags[a:a + W] for i, a in idx])).float()
    y = torch.tensor([lab[seqs[i].label] for i, _ in idx])
    model.normalizer.fit(f, m)
    x = model.normalizer.norm(f) * m
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    model.train()
    for _ in tqdm(range(steps), desc="recognizer", disable=not progress, leave=False):
        b = torch.randint(0, len(idx), (cfg.batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[b] + 0.05 * torch.randn(x[b].shape, generator=gen) * m[b], g[b]), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    if out:
        ckpt.save(out, model=model.state_dict(), labels=list(labels), config=asdict(cfg), kind="recognizer")
    return model


def load_recognizer(path: str | Path) -> ActionRecognizer:
    state = ckpt.load(path)
    model = ActionRecognizer(list(state["labels"]), RecognizerConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model
