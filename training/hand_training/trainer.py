"""Generic trainer: AdamW with linear warm-up and linear annealing (paper B.2), tqdm progress,
checkpoints with resume, TensorBoard scalars (when ``tensorboard`` is installed), seeded
determinism, mixed precision on CUDA, and DistributedDataParallel under ``torchrun``.

Usage::

    trainer = Trainer(model, loss_fn, dataset, TrainerConfig(...), params=model.stage_parameters("vae"))
    history = trainer.fit()

``loss_fn(module, batch) -> dict`` must return a differentiable ``"loss"`` plus any scalars to log.
Batches are drawn by a step-indexed seeded sampler (``StepSampler``): the batch of step s is a
pure function of (seed, s, rank), so a resumed run continues with exactly the batches it would
have seen (bit-identical on CPU with ``deterministic``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

try:  # optional: TensorBoard scalars
    from torch.utils.tensorboard import SummaryWriter  # type: ignore
except Exception:  # pragma: no cover - tensorboard not installed
    SummaryWriter = None  # type: ignore

try:
    from tqdm.auto import tqdm
except Exception:  # pragma: no cover
    tqdm = None  # type: ignore


@dataclass
class TrainerConfig:
    max_steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    #: "linear": warm-up then linear decay to ``min_lr_ratio * lr``; "constant": warm-up only
    schedule: str = "linear"
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    log_every: int = 10
    ckpt_every: int = 500
    out_dir: str = "outputs/train"
    seed: int = 0
    deterministic: bool = True
    amp: bool = True  # used on CUDA only
    num_workers: int = 0
    progress: bool = True
    tensorboard: bool = True
    resume: bool = True  # continue from out_dir/last.pt when it exists

    @staticmethod
    def from_dict(values: dict[str, Any] | None) -> "TrainerConfig":
        values = dict(values or {})
        known = set(TrainerConfig.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown trainer keys {unknown}; known: {sorted(known)}")
        return TrainerConfig(**values)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True


def distributed_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment (0, 1, 0 when not distributed)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def init_distributed() -> tuple[int, int, torch.device]:
    """Initialise the process group under torchrun (any world size, incl. 1); returns rank, world, device."""
    rank, world, local = distributed_env()
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if "RANK" in os.environ and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return rank, world, device


class StepSampler:
    """Indices of the batch of global step ``s`` for this rank: seeded by (seed, s), sliced by rank."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.bs, self.seed, self.rank, self.world = n, batch_size, seed, rank, world

    def indices(self, step: int) -> list[int]:
        g = np.random.default_rng([self.seed, 104729, step])
        idx = g.integers(0, self.n, self.bs * self.world)
        return idx[self.rank::self.world].tolist()


def collate(items: list[dict]) -> dict:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def lr_factor(step: int, cfg: TrainerConfig) -> float:
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    frac = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * (1 - frac)


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[nn.Module, dict], dict[str, torch.Tensor]],
        dataset: torch.utils.data.Dataset,
        cfg: TrainerConfig,
        params: Iterable[nn.Parameter] | None = None,
        extra_state: dict[str, Any] | None = None,
        name: str = "train",
    ):
        self.cfg = cfg
        self.name = name
        self.rank, self.world, self.device = init_distributed()
        seed_everything(cfg.seed + self.rank, cfg.deterministic)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn
        self.dataset = dataset
        params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
        self.params = params
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, cfg))
        self.use_amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.ddp = None
        if self.world > 1 or torch.distributed.is_initialized():
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
        self.sampler = StepSampler(len(dataset), cfg.batch_size, cfg.seed, self.rank, self.world)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.extra_state = extra_state or {}
        self.out = Path(cfg.out_dir)
        self.writer = None
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            if cfg.tensorboard and SummaryWriter is not None:
                self.writer = SummaryWriter(str(self.out / "tb"))
        if cfg.resume and (self.out / "last.pt").is_file():
            self.load(self.out / "last.pt")

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(), "step": self.step, "config": asdict(self.cfg),
            "history": self.history, "extra": self.extra_state,
            "rng": {"torch": torch.get_rng_state(), "numpy": _np_state(), "python": _py_state()},
        }

    def save(self, path: Path | None = None) -> Path | None:
        if self.rank != 0:
            return None
        path = path or self.out / "last.pt"
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load(self, path: str | os.PathLike) -> None:
        ck = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        self.scaler.load_state_dict(ck["scaler"])
        self.step = int(ck["step"])
        self.history = list(ck.get("history", []))
        self.extra_state = ck.get("extra", self.extra_state)
        rng = ck.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"].cpu() if hasattr(rng["torch"], "cpu") else rng["torch"])
        if "numpy" in rng:
            _set_np_state(rng["numpy"])
        if "python" in rng:
            _set_py_state(rng["python"])
        logger.info("resumed %s at step %d from %s", self.name, self.step, path)

    # ------------------------------------------------------------------ loop
    def batch(self, step: int) -> dict:
        items = [self.dataset[i] for i in self.sampler.indices(step)]
        return {k: v.to(self.device, non_blocking=True) for k, v in collate(items).items()}

    def train_step(self, batch: dict) -> dict[str, float]:
        module = self.ddp if self.ddp is not None else self.model
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
            losses = self.loss_fn(module, batch)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{self.name}: non-finite loss at step {self.step}: {float(loss)}")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        gn = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip) if self.cfg.grad_clip > 0 else torch.zeros(())
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        out = {k: float(v.detach()) for k, v in losses.items()}
        out["grad_norm"] = float(gn)
        out["lr"] = self.sched.get_last_lr()[0]
        return out

    def fit(self, max_steps: int | None = None) -> list[dict[str, float]]:
        total = max_steps or self.cfg.max_steps
        bar = None
        if self.cfg.progress and tqdm is not None and self.rank == 0:
            bar = tqdm(total=total, initial=self.step, desc=self.name, dynamic_ncols=True)
        t0 = time.perf_counter()
        running: dict[str, float] = {}
        while self.step < total:
            stats = self.train_step(self.batch(self.step))
            self.step += 1
            for k, v in stats.items():
                running[k] = running.get(k, 0.0) + v
            if self.step % self.cfg.log_every == 0 or self.step == total:
                n = self.cfg.log_every if self.step % self.cfg.log_every == 0 else (self.step % self.cfg.log_every)
                avg = {k: v / n for k, v in running.items()}
                avg["step"] = self.step
                avg["time_s"] = time.perf_counter() - t0
                self.history.append(avg)
                running = {}
                if self.rank == 0:
                    if self.writer is not None:
                        for k, v in avg.items():
                            if k not in ("step",):
                                self.writer.add_scalar(f"{self.name}/{k}", v, self.step)
                    with open(self.out / "log.jsonl", "a") as f:
                        f.write(json.dumps(avg) + "\n")
                if bar is not None:
                    bar.set_postfix(loss=f"{avg['loss']:.4f}", lr=f"{avg['lr']:.2e}")
            if bar is not None:
                bar.update(1)
            if self.cfg.ckpt_every > 0 and self.step % self.cfg.ckpt_every == 0:
                self.save()
        if bar is not None:
            bar.close()
        self.save()
        if self.writer is not None:
            self.writer.flush()
        return self.history


def _np_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _set_np_state(s: dict) -> None:
    np.random.set_state(("MT19937", s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"], s["cached"]))


def _py_state() -> dict:
    v, state, g = random.getstate()
    return {"version": v, "state": torch.tensor(state, dtype=torch.int64), "gauss": -1.0 if g is None else float(g)}


def _set_py_state(s: dict) -> None:
    g = None if s["gauss"] == -1.0 else s["gauss"]
    random.setstate((s["version"], tuple(int(x) for x in s["state"].tolist()), g))
