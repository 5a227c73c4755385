"""Trainer: seeded determinism, checkpoint + resume equal to an uninterrupted run, LR schedule,
TensorBoard scalars, and the DDP code path at world size 1."""

from __future__ import annotations

import socket

import pytest
import torch
from torch import nn

from hand_training.trainer import StepSampler, Trainer, TrainerConfig, lr_factor


class _Data(torch.utils.data.Dataset):
    def __init__(self, n=64):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, b):
        return {"loss": ((self.lin(b["x"])[:, 0] - b["y"]) ** 2).mean()}


def _cfg(tmp_path, **kw):
    base = dict(max_steps=20, batch_size=8, lr=0.2, warmup_steps=2, log_every=5, ckpt_every=5,
                out_dir=str(tmp_path), progress=False, seed=3)
    base.update(kw)
    return TrainerConfig(**base)


def _fit(tmp_path, **kw):
    torch.manual_seed(123)
    model = _Model()
    tr = Trainer(model, lambda m, b: m(b), _Data(), _cfg(tmp_path, **kw))
    return tr, tr.fit()


def test_loss_falls_and_runs_are_deterministic(tmp_path):
    tr1, h1 = _fit(tmp_path / "a")
    tr2, h2 = _fit(tmp_path / "b")
    assert h1[-1]["loss"] < 0.5 * h1[0]["loss"]
    assert [h["loss"] for h in h1] == [h["loss"] for h in h2]
    assert (tmp_path / "a" / "last.pt").is_file() and (tmp_path / "a" / "log.jsonl").is_file()


def test_resume_matches_uninterrupted(tmp_path):
    full, _ = _fit(tmp_path / "full", max_steps=20)
    part, _ = _fit(tmp_path / "part", max_steps=20, ckpt_every=10)
    # simulate a crash after step 10: train a fresh trainer to 10 steps, then resume to 20
    torch.manual_seed(123)
    t1 = Trainer(_Model(), lambda m, b: m(b), _Data(), _cfg(tmp_path / "resume", max_steps=20))
    t1.fit(max_steps=10)
    torch.manual_seed(999)  # a different process state must not matter
    t2 = Trainer(_Model(), lambda m, b: m(b), _Data(), _cfg(tmp_path / "resume", max_steps=20))
    assert t2.step == 10
    t2.fit()
    for a, b in zip(full.model.parameters(), t2.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    ck = torch.load(tmp_path / "resume" / "last.pt", weights_only=True)
    assert ck["step"] == 20


def test_lr_schedule_and_sampler():
    cfg = TrainerConfig(max_steps=200, warmup_steps=100)
    assert lr_factor(0, cfg) == pytest.approx(0.01) and lr_factor(99, cfg) == pytest.approx(1.0)
    assert lr_factor(150, cfg) == pytest.approx(0.5) and lr_factor(200, cfg) == pytest.approx(0.0)
    s = StepSampler(100, 8, seed=1)
    assert s.indices(5) == s.indices(5) and s.indices(5) != s.indices(6)
    r0, r1 = StepSampler(100, 4, 1, 0, 2).indices(3), StepSampler(100, 4, 1, 1, 2).indices(3)
    assert len(r0) == len(r1) == 4


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    _fit(tmp_path, max_steps=5)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_ddp_world_size_one(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)).items():
        monkeypatch.setenv(k, v)
    try:
        tr, h = _fit(tmp_path, max_steps=10)
        assert tr.ddp is not None and h[-1]["loss"] < h[0]["loss"]
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
