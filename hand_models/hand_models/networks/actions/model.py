"""Skeleton action recognisers over resampled feature windows, and their checkpoints.

Two architectures (``RecognizerConfig.arch``):

* ``bigru``: the baseline, a 2-layer bidirectional GRU over the input features (the baseline
  config feeds root-relative joints only), mean-pooled, linear head.
* ``tcn_gru``: input projection, residual 1D convolution blocks (temporal kernel 5), a
  bidirectional GRU, mean + max pooling, linear head. ``streams`` > 1 splits the feature groups
  into streams (articulation / global motion) with one such network each and averages logits.

Input: features ``(B, L, F)`` from :func:`.features.window_features`, normalised inside by stored
per-feature mean / std. Output: logits ``(B, C)``.

:class:`EnsembleRecognizer` averages members' probabilities (e.g. the baseline and the skeleton
model: different inputs, different errors).

Checkpoints (:func:`save_checkpoint` / :func:`load_checkpoint`) carry the taxonomy name, the
class labels, the joint layout, the feature config and the model config; loading refuses a
checkpoint whose taxonomy or joint layout differs from what the caller expects, naming both.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .features import FEATURE_GROUPS, JOINT_LAYOUT, FeatureConfig

CHECKPOINT_KIND = "hand_perception.action_recognizer/1"
#: stream split of the feature groups for ``streams == 2``
STREAM_GROUPS = (("local", "vel_local", "jcd", "duration"), ("rel", "rot", "wrist", "vel_rel", "vel_wrist", "vel_rot", "duration"))


class CheckpointMismatch(ValueError):
    """A checkpoint was trained for another taxonomy / joint layout / feature set than expected."""


@dataclass
class RecognizerConfig:
    arch: str = "tcn_gru"
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.2
    streams: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


class _Normalizer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: Tensor, min_std: float = 1e-4) -> None:
        f = x.reshape(-1, x.shape[-1]).double()
        self.mean.copy_(f.mean(0).float())
        self.std.copy_(f.std(0).clamp_min(min_std).float())

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class _ConvBlock(nn.Module):
    def __init__(self, d: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d, d, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.norm = nn.BatchNorm1d(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:  # (B, d, L)
        return x + self.drop(nn.functional.gelu(self.norm(self.conv(x))))


class _BiGRUNet(nn.Module):
    """Baseline: 2-layer BiGRU -> mean over time -> linear."""

    def __init__(self, dim: int, classes: int, cfg: RecognizerConfig) -> None:
        super().__init__()
        self.gru = nn.GRU(dim, cfg.hidden, num_layers=cfg.layers, batch_first=True, bidirectional=True,
                          dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(2 * cfg.hidden, classes)

    def forward(self, x: Tensor) -> Tensor:
        h, _ = self.gru(x)
        return self.head(self.drop(h.mean(1)))


class _TCNGRUNet(nn.Module):
    """Projection -> conv blocks (kernel 5, dilation 1, 2) -> BiGRU -> mean+max pool -> linear."""

    def __init__(self, dim: int, classes: int, cfg: RecognizerConfig) -> None:
        super().__init__()
        d = cfg.hidden
        self.inp = nn.Sequential(nn.Linear(dim, d), nn.GELU(), nn.Dropout(cfg.dropout))
        self.convs = nn.Sequential(*[_ConvBlock(d, 5, 2 ** i, cfg.dropout) for i in range(cfg.layers)])
        self.gru = nn.GRU(d, d // 2, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(2 * d, classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.convs(self.inp(x).transpose(1, 2)).transpose(1, 2)
        h, _ = self.gru(h)
        pooled = torch.cat([h.mean(1), h.amax(1)], -1)
        return self.head(self.drop(pooled))


class ActionRecognizerNet(nn.Module):
    """features (B, L, F) -> logits (B, C); see module docstring."""

    def __init__(self, labels: list[str], features: FeatureConfig, cfg: RecognizerConfig | None = None,
                 taxonomy: str = "actions") -> None:
        super().__init__()
        self.cfg = cfg = cfg or RecognizerConfig()
        self.labels = list(labels)
        self.features = features
        self.taxonomy = taxonomy
        self.normalizer = _Normalizer(features.dim)
        make = {"bigru": _BiGRUNet, "tcn_gru": _TCNGRUNet}.get(cfg.arch)
        if make is None:
            raise ValueError(f"unknown recogniser arch {cfg.arch!r} (bigru, tcn_gru)")
        if cfg.streams == 1:
            self.stream_index: list[list[int]] = [list(range(features.dim))]
        elif cfg.streams == 2:
            offs, a = {}, 0
            for g in features.groups:
                offs[g] = list(range(a, a + FEATURE_GROUPS[g]))
                a += FEATURE_GROUPS[g]
            self.stream_index = [[i for g in grp if g in offs for i in offs[g]] for grp in STREAM_GROUPS]
            if any(not s for s in self.stream_index):
                raise ValueError(f"feature groups {features.groups} leave a stream empty")
        else:
            raise ValueError(f"streams must be 1 or 2, got {cfg.streams}")
        for k, idx in enumerate(self.stream_index):
            self.register_buffer(f"idx{k}", torch.tensor(idx, dtype=torch.long), persistent=False)
        self.nets = nn.ModuleList([make(len(idx), len(labels), cfg) for idx in self.stream_index])

    def forward(self, x: Tensor) -> Tensor:
        x = self.normalizer(x)
        logits = [net(x.index_select(-1, getattr(self, f"idx{k}"))) for k, net in enumerate(self.nets)]
        return torch.stack(logits, 0).mean(0)


class EnsembleRecognizer(nn.Module):
    """Average of member recognisers' class probabilities (same labels, taxonomy and length).

    Input: features (B, L, F) of the union of the members' groups (``features``); output: log of
    the mean probability (B, C), so ``softmax`` of it is the mean probability."""

    def __init__(self, members: list[ActionRecognizerNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0]
        for m in members[1:]:
            if m.labels != first.labels or m.taxonomy != first.taxonomy or m.features.length != first.features.length:
                raise ValueError("ensemble members must share labels, taxonomy and window length")
        used = {g for m in members for g in m.features.groups}
        self.features = FeatureConfig(length=first.features.length, groups=tuple(g for g in FEATURE_GROUPS if g in used))
        self.labels, self.taxonomy = list(first.labels), first.taxonomy
        self.members = nn.ModuleList(members)
        offs, a = {}, 0
        for g in self.features.groups:
            offs[g] = list(range(a, a + FEATURE_GROUPS[g]))
            a += FEATURE_GROUPS[g]
        for k, m in enumerate(members):
            cols = [i for g in m.features.groups for i in offs[g]]
            self.register_buffer(f"cols{k}", torch.tensor(cols, dtype=torch.long), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        probs = [torch.softmax(m(x.index_select(-1, getattr(self, f"cols{k}"))), -1) for k, m in enumerate(self.members)]
        return torch.log(torch.stack(probs, 0).mean(0).clamp_min(1e-12))


def _payload(model: ActionRecognizerNet) -> dict:
    return {"model": model.state_dict(), "features": model.features.to_dict(), "config": model.cfg.to_dict()}


def save_checkpoint(path: str | os.PathLike, model: "ActionRecognizerNet | EnsembleRecognizer",
                    extra: dict | None = None) -> Path:
    """Write model weights + taxonomy, labels, joint layout, feature and model config (atomic);
    an ensemble stores each member's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"kind": CHECKPOINT_KIND, "labels": list(model.labels), "taxonomy": model.taxonomy,
               "joint_layout": JOINT_LAYOUT, "features": model.features.to_dict(), "extra": dict(extra or {})}
    if isinstance(model, EnsembleRecognizer):
        payload["members"] = [_payload(m) for m in model.members]
    else:
        payload.update(_payload(model))
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, taxonomy: str | None = None, joint_layout: str | None = JOINT_LAYOUT,
                    labels: list[str] | None = None) -> "ActionRecognizerNet | EnsembleRecognizer":
    """Load a recogniser saved by :func:`save_checkpoint` (``weights_only=True``).

    Raises ``FileNotFoundError``; ``CheckpointMismatch`` when the file is not such a checkpoint or
    its taxonomy / joint layout / labels differ from the expected ones (the message names both)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"action recogniser checkpoint {path} not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        got = state.get("kind") if isinstance(state, dict) else type(state).__name__
        raise CheckpointMismatch(f"{path} is not an action recogniser checkpoint (kind {got!r}, expected {CHECKPOINT_KIND!r})")
    problems = []
    if taxonomy is not None and state["taxonomy"] != taxonomy:
        problems.append(f"taxonomy {state['taxonomy']!r} (expected {taxonomy!r})")
    if joint_layout is not None and state["joint_layout"] != joint_layout:
        problems.append(f"joint layout {state['joint_layout']!r} (expected {joint_layout!r})")
    if labels is not None and list(state["labels"]) != list(labels):
        problems.append(f"{len(state['labels'])} labels that differ from the expected {len(labels)}")
    if problems:
        raise CheckpointMismatch(f"{path} was trained for " + ", ".join(problems))
    def build(p: dict) -> ActionRecognizerNet:
        m = ActionRecognizerNet(list(state["labels"]), FeatureConfig.from_dict(p["features"]), RecognizerConfig(**p["config"]),
                                state["taxonomy"])
        m.load_state_dict(p["model"])
        return m.eval()

    model = EnsembleRecognizer([build(p) for p in state["members"]]) if "members" in state else build(state)
    model.eval()
    model.extra = dict(state.get("extra", {}))
    return model


@torch.inference_mode()
def predict_proba(model: "ActionRecognizerNet | EnsembleRecognizer", windows: list, fps: float, batch: int = 64):
    """Class probabilities (N, C) numpy for joint windows [(T_i, 2, 21, 3) metres at ``fps``]."""
    import numpy as np

    from .features import window_features

    model.eval()
    out = []
    for a in range(0, len(windows), batch):
        x = np.stack([window_features(w, fps, model.features) for w in windows[a:a + batch]])
        out.append(torch.softmax(model(torch.from_numpy(x)), -1).numpy())
    return np.concatenate(out, 0) if out else np.zeros((0, len(model.labels)), dtype=np.float32)
