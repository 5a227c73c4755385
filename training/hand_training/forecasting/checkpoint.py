"""Small checkpoint helpers for the forecasting trainers (safe loading with weights_only=True)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def save(path: str | os.PathLike, **payload) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load(path: str | os.PathLike) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def resume(path: Path | None, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
           generator: torch.Generator) -> tuple[int, int] | None:
    """Restore model, optimizer and RNG from ``path`` when it exists; (epoch, step) or None."""
    if path is None or not path.exists():
        return None
    state = load(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["rng"])
    return int(state["epoch"]), int(state["step"])
