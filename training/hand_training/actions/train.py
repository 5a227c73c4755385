"""Training of the skeleton action recognisers on pre-drawn augmented views.

Feature extraction in numpy dominates the cost on a CPU, so each training sequence gets
``views`` augmented views drawn once (:func:`build_views`, all feature groups, float16); each
epoch picks one random view per sequence. Models read the columns of their own feature groups.

Runs single-process (``torch.set_num_threads`` from the config) or under ``torchrun`` (DDP:
each rank takes every ``world_size``-th batch item, gradients are averaged, rank 0 writes).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hand_models.networks.actions.features import FEATURE_GROUPS, FeatureConfig, window_features
from hand_models.networks.actions.model import ActionRecognizerNet, RecognizerConfig

from .data import AugmentConfig, LabelledSequence, augment

log = logging.getLogger(__name__)
ALL_GROUPS = tuple(FEATURE_GROUPS)


@dataclass
class TrainConfig:
    epochs: int = 120
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.1
    seed: int = 0
    warmup_epochs: int = 5


@dataclass
class ModelSpec:
    """One recogniser to train: name, architecture config, feature groups."""

    name: str
    config: RecognizerConfig
    groups: tuple[str, ...] = ALL_GROUPS
    train: TrainConfig = field(default_factory=TrainConfig)


def view_groups(*group_sets: tuple[str, ...]) -> tuple[str, ...]:
    """The groups any of ``group_sets`` uses, in ALL_GROUPS order (the columns of the views)."""
    used = {g for gs in group_sets for g in gs}
    return tuple(g for g in ALL_GROUPS if g in used)


def build_views(seqs: list[LabelledSequence], views: int, length: int, aug: AugmentConfig, seed: int = 0,
                progress: bool = True, groups: tuple[str, ...] = ALL_GROUPS) -> np.ndarray:
    """(N, views, length, F) float16 augmented feature views of every sequence (columns: ``groups``)."""
    rng = np.random.default_rng(seed)
    cfg = FeatureConfig(length=length, groups=groups)
    out = np.zeros((len(seqs), views, length, cfg.dim), dtype=np.float16)
    for i, s in enumerate(tqdm(seqs, desc="augmented views", disable=not progress, leave=False)):
        for v in range(views):
            for _ in range(5):  # an augmentation may leave no valid frame: draw again
                try:
                    out[i, v] = window_features(augment(s.joints, s.fps, rng, aug), s.fps, cfg)
                    break
                except ValueError:
                    continue
            else:
                out[i, v] = window_features(s.joints, s.fps, cfg)
    return out


def plain_features(seqs: list[LabelledSequence], length: int, seconds: float | None = None,
                   groups: tuple[str, ...] = ALL_GROUPS) -> np.ndarray:
    """(N, length, F) float32 features of each whole sequence, or of its first ``seconds``."""
    cfg = FeatureConfig(length=length, groups=groups)
    xs = []
    for s in seqs:
        j = s.joints if seconds is None else s.joints[:max(1, int(round(seconds * s.fps)))]
        xs.append(window_features(j, s.fps, cfg))
    return np.stack(xs)


def group_columns(groups: tuple[str, ...], base: tuple[str, ...] = ALL_GROUPS) -> np.ndarray:
    """Column indices of ``groups`` in a feature vector of the groups ``base``."""
    offs, a = {}, 0
    for g in base:
        offs[g] = np.arange(a, a + FEATURE_GROUPS[g])
        a += FEATURE_GROUPS[g]
    return np.concatenate([offs[g] for g in groups])


def _dist() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train_recognizer(spec: ModelSpec, views: np.ndarray, y: np.ndarray, labels: list[str], length: int,
                     taxonomy: str, progress: bool = True, desc: str = "",
                     base: tuple[str, ...] = ALL_GROUPS) -> ActionRecognizerNet:
    """Train ``spec`` on views (N, V, L, F) of the groups ``base`` with labels y (N,); returns the
    model (eval mode, CPU)."""
    tc = spec.train
    rank, world = _dist()
    torch.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed + 17)
    cols = group_columns(spec.groups, base)
    model = ActionRecognizerNet(labels, FeatureConfig(length=length, groups=spec.groups), spec.config, taxonomy)
    X = torch.from_numpy(views[..., cols].astype(np.float32))  # (N, V, L, F)
    model.normalizer.fit(X.reshape(-1, X.shape[-1]))
    Y = torch.from_numpy(np.asarray(y, dtype=np.int64))
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if world > 1 and torch.cuda.is_available() else "cpu")
    model.to(device)
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    N, V = X.shape[:2]
    steps_per_epoch = math.ceil(N / tc.batch_size)
    total = steps_per_epoch * tc.epochs
    warm = steps_per_epoch * tc.warmup_epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, warm)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total)))))
    lossf = nn.CrossEntropyLoss(label_smoothing=tc.label_smoothing)
    bar = tqdm(range(tc.epochs), desc=desc or spec.name, disable=not progress or rank != 0, leave=False)
    for _ in bar:
        net.train()
        perm = rng.permutation(N)
        view = rng.integers(0, V, N)
        run = 0.0
        for a in range(0, N, tc.batch_size):
            full = perm[a:a + tc.batch_size]
            if len(full) < world:  # same decision on every rank (DDP needs equal step counts)
                continue
            b = full[rank::world]
            xb = X[b, view[b]].to(device)
            loss = lossf(net(xb), Y[b].to(device))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            run += float(loss.detach())
        bar.set_postfix(loss=f"{run / steps_per_epoch:.3f}")
    model.eval()
    return model.cpu()


@torch.no_grad()
def predict_features(model: ActionRecognizerNet, feats_all: np.ndarray, batch: int = 256,
                     base: tuple[str, ...] = ALL_GROUPS) -> np.ndarray:
    """Probabilities (N, C) for features (N, L, F) of the groups ``base`` (columns picked per model)."""
    cols = group_columns(model.features.groups, base)
    x = torch.from_numpy(np.ascontiguousarray(feats_all[..., cols], dtype=np.float32))
    model.eval()
    return torch.cat([torch.softmax(model(x[a:a + batch]), -1) for a in range(0, len(x), batch)]).numpy()
