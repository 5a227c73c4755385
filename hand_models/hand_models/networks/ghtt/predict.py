"""Joint-space prediction with trained G-HTT / diffusion forecasters, and checkpoint loading.

Both predictors take the observed joints of both hands at the model's frame rate
(``(L, 2, 21, 3)`` metres, NaN = missing joint / hand) and return K sampled futures
``(K, F, 2, 21, 3)``; a hand absent in the last observed frame is NaN in the output.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from .model import GHTT, GHTTConfig
from .representation import EncodedMotion, decode, encode


def load_checkpoint(path: str | os.PathLike) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_ghtt(path: str | os.PathLike) -> GHTT:
    state = load_checkpoint(path)
    model = GHTT(GHTTConfig(**state["config"]))
    model.label_text = torch.zeros_like(state["model"]["label_text"])
    model.load_state_dict(state["model"])
    model.labels = list(state.get("labels", []))
    model.taxonomy = str(state.get("taxonomy", "actions"))
    model.eval()
    return model


def load_diffusion(path: str | os.PathLike):
    from ..diffusion_forecaster import DiffusionForecaster, DiffusionForecasterConfig

    state = load_checkpoint(path)
    model = DiffusionForecaster(DiffusionForecasterConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model


def load_any(path: str | os.PathLike):
    """-> (kind, model) with kind 'ghtt' or 'diffusion'."""
    state = load_checkpoint(path)
    kind = str(state.get("kind", "ghtt"))
    return kind, (load_diffusion(path) if kind == "diffusion" else load_ghtt(path))


def _inputs(normalizer, enc: EncodedMotion) -> tuple[torch.Tensor, torch.Tensor]:
    f = torch.from_numpy(enc.features).float()
    m = torch.from_numpy(enc.mask)
    return normalizer.norm(f) * m, torch.from_numpy(enc.flags).float()


def _finish(fut_norm: torch.Tensor, normalizer, enc: EncodedMotion, horizon: int) -> np.ndarray:
    raw = normalizer.denorm(fut_norm[:, :horizon]).double().numpy()
    joints, _ = decode(raw, enc.G[-1][None].repeat(raw.shape[0], 0))
    absent = ~enc.present[-1]
    joints[:, :, absent] = np.nan
    return joints


class GHTTPredictor:
    def __init__(self, model: GHTT) -> None:
        self.model = model.eval()
        self.cfg = model.cfg

    @property
    def fps(self) -> float:
        return self.cfg.fps

    @property
    def obs_len(self) -> int:
        return self.cfg.clip_len

    def _clips(self, enc: EncodedMotion, max_clips: int | None = None):
        t = self.cfg.clip_len
        n = min(len(enc.features) // t, max_clips or self.cfg.max_clips)
        x, fl = _inputs(self.model.pose.normalizer, enc)
        x, fl = x[-n * t:], fl[-n * t:]
        return x.reshape(1, n, t, -1), fl.reshape(1, n, t, -1), n

    @torch.no_grad()
    def forecast(self, joints: np.ndarray, horizon: int, num_samples: int | None = None, path: str = "pa",
                 sample_scale: float | None = None, generator: torch.Generator | None = None) -> np.ndarray:
        """joints (L >= t, 2, 21, 3) -> (K, horizon, 2, 21, 3). path 'pa' (P autoregressive) or
        'pb' (A then D^P; needs a taxonomy-trained A)."""
        K = num_samples or self.cfg.num_samples
        enc = encode(joints)
        if not enc.present[-1].any():
            raise ValueError("no hand in the last observed frame")
        t = self.cfg.clip_len
        n_clips = int(math.ceil(horizon / t))
        state = torch.get_rng_state()
        if generator is not None:
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        try:
            if path == "pa":
                x, fl = _inputs(self.model.pose.normalizer, enc)
                fut = self.model.predict_pa(x[None, -t:], fl[None, -t:], K, n_clips, sample_scale)[0]
            elif path == "pb":
                clips, flags, n = self._clips(enc)
                omega = self.model.default_object.expand(1, n, -1)
                fut, _ = self.model.predict_pb(clips, flags, omega, torch.ones(1, n, dtype=torch.bool), K, n_clips, sample_scale)
                fut = fut[0]
            else:
                raise ValueError(f"unknown path {path!r} (pa or pb)")
        finally:
            if generator is not None:
                torch.set_rng_state(state)
        return _finish(fut, self.model.pose.normalizer, enc, horizon)

    @torch.no_grad()
    def recognize(self, joints: np.ndarray, omega: torch.Tensor | None = None) -> np.ndarray:
        """Action probabilities (N_A,) over ``model.labels`` for observed joints (L >= t frames)."""
        enc = encode(joints)
        clips, flags, n = self._clips(enc)
        om = (self.model.default_object if omega is None else omega).expand(1, n, -1)
        logits = self.model.recognize(clips, flags, om, torch.ones(1, n, dtype=torch.bool))[0]
        return logits.softmax(-1).numpy()


class DiffusionPredictor:
    def __init__(self, model) -> None:
        self.model = model.eval()
        self.cfg = model.cfg

    @property
    def fps(self) -> float:
        return self.cfg.fps

    @property
    def obs_len(self) -> int:
        return self.cfg.obs_len

    @torch.no_grad()
    def forecast(self, joints: np.ndarray, horizon: int, num_samples: int | None = None,
                 generator: torch.Generator | None = None, steps: int | None = None, **_) -> np.ndarray:
        K = num_samples or self.cfg.num_samples
        if horizon > self.cfg.horizon:
            raise ValueError(f"horizon {horizon} > the model's {self.cfg.horizon} frames")
        enc = encode(joints[-self.cfg.obs_len:])
        if len(enc.features) < self.cfg.obs_len:
            raise ValueError(f"need {self.cfg.obs_len} observed frames, got {len(enc.features)}")
        if not enc.present[-1].any():
            raise ValueError("no hand in the last observed frame")
        x, fl = _inputs(self.model.normalizer, enc)
        fut = self.model.sample(x[None], fl[None], K, steps=steps, generator=generator)[0]
        return _finish(fut, self.model.normalizer, enc, horizon)
