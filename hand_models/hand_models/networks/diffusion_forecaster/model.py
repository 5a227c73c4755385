"""Diffusion forecaster of bimanual hand motion (after Prakash et al., "Bimanual 3D hand motion and
articulation forecasting in everyday images": the future is predicted with a **diffusion loss** so
that several distinct futures can be sampled).

* Representation: the G-HTT per-frame features H (both hands: palm-frame joints, per-frame palm
  motion, relative palm transform; masks and flags for missing hands), normalised.
* Condition: a transformer encoder over the observed frames (``obs_len``) of both hands.
* Denoiser: a transformer over the ``horizon`` future frames (noisy features + sinusoidal frame
  position + timestep embedding) cross-attending to the condition tokens; it predicts the clean
  future x0 (as UniHand does). With ``residual_p`` the palm-frame joints of the future are
  diffused as offsets from the last observed frame (added back after sampling). Training: DDPM forward process with a cosine schedule; the loss is
  the masked MSE between predicted and true x0 (missing joints / hands do not count).
* Sampling: DDIM (``sample_steps``, eta configurable) from independent Gaussian noise per
  sample, so K draws give K different futures (no mode averaging as with a regression loss).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ..ghtt.layers import Decoder, Encoder, sinusoidal
from ..ghtt.model import FeatureNormalizer
from ..ghtt.representation import FEATURE_DIM, NUM_FLAGS, P_DIM


@dataclass
class DiffusionForecasterConfig:
    name: str = "small"
    fps: float = 30.0
    obs_len: int = 16
    horizon: int = 30
    d_model: int = 96
    heads: int = 4
    enc_layers: int = 2
    dec_layers: int = 3
    dropout: float = 0.1
    train_steps: int = 100
    sample_steps: int = 10
    eta: float = 0.0
    num_samples: int = 20
    lr: float = 3e-4
    weight_decay: float = 0.01
    batch_size: int = 64
    epochs: int = 20
    noise_obs: float = 0.05
    #: the diffused target's palm-frame joints p are offsets from the last observed frame
    residual_p: bool = True
    #: diffuse the future palm motion as poses relative to the last observed palm (see module doc)
    cumulative_v: bool = False

    @classmethod
    def large(cls, **kw) -> "DiffusionForecasterConfig":
        base = dict(name="large", d_model=512, heads=8, enc_layers=6, dec_layers=8, sample_steps=20)
        base.update(kw)
        return cls(**base)

    def to_dict(self) -> dict:
        return asdict(self)


def cosine_alpha_bar(n: int, s: float = 0.008) -> Tensor:
    t = torch.linspace(0, n, n + 1, dtype=torch.float64) / n
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = (f / f[0]).clamp(1e-5, 1.0)
    return ab[1:].float()  # alpha_bar for steps 1..n (index 0 = step 1)


class DiffusionForecaster(nn.Module):
    def __init__(self, cfg: DiffusionForecasterConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DiffusionForecasterConfig()
        d = cfg.d_model
        self.normalizer = FeatureNormalizer()
        self.obs_in = nn.Linear(FEATURE_DIM + NUM_FLAGS, d)
        self.encoder = Encoder(d, cfg.heads, cfg.enc_layers, cfg.dropout)
        self.x_in = nn.Linear(FEATURE_DIM, d)
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.decoder = Decoder(d, cfg.heads, cfg.dec_layers, cfg.dropout)
        self.out = nn.Linear(d, FEATURE_DIM)
        self.register_buffer("obs_pos", sinusoidal(torch.arange(cfg.obs_len) - cfg.obs_len, d), persistent=False)
        self.register_buffer("fut_pos", sinusoidal(torch.arange(cfg.horizon) + 1, d), persistent=False)
        self.register_buffer("alpha_bar", cosine_alpha_bar(cfg.train_steps), persistent=False)
        p_mask = torch.zeros(FEATURE_DIM)
        p_mask[:2 * P_DIM] = 1.0 if cfg.residual_p else 0.0
        self.register_buffer("p_mask", p_mask, persistent=False)
        # per future frame and side: mean / std of the cumulative palm pose (9D), fitted on training data
        self.register_buffer("cum_mean", torch.zeros(cfg.horizon, 2, 9))
        self.register_buffer("cum_std", torch.ones(cfg.horizon, 2, 9))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before cumulative_v have no cum_* buffers: keep the neutral ones
        for name in ("cum_mean", "cum_std"):
            state_dict.setdefault(prefix + name, getattr(self, name))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- cumulative palm motion (cfg.cumulative_v) --------------------------------------------------
    @staticmethod
    def _v_slices() -> list[slice]:
        from ..ghtt.representation import SL_V

        return list(SL_V)

    def _cumulative_raw(self, fut_norm: Tensor) -> Tensor:
        """(B, F, 153) normalised per-frame features -> (B, F, 2, 9) raw cumulative palm poses."""
        from ..ghtt.representation import accumulate_rigid_t

        raw = self.normalizer.denorm(fut_norm)
        return torch.stack([accumulate_rigid_t(raw[..., sl]) for sl in self._v_slices()], 2)

    @torch.no_grad()
    def fit_cumulative(self, fut_raw: Tensor, fut_mask: Tensor) -> None:
        """Standardisation of the cumulative palm poses from raw future features (N, F, 153) and
        their masks (a frame counts when every motion up to it is valid)."""
        from ..ghtt.representation import accumulate_rigid_t

        sl = self._v_slices()
        cum = torch.stack([accumulate_rigid_t(fut_raw[..., s].double()) for s in sl], 2).float()  # (N, F, 2, 9)
        ok = torch.stack([fut_mask[..., s.start].cumprod(1).bool() for s in sl], 2)  # (N, F, 2)
        w = ok[..., None].float()
        n = w.sum(0).clamp_min(1.0)
        mean = (cum * w).sum(0) / n
        std = (((cum - mean) ** 2 * w).sum(0) / n).sqrt().clamp_min(1e-4)
        self.cum_mean.copy_(mean)
        self.cum_std.copy_(std)

    def to_model_space(self, fut_norm: Tensor, fut_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame normalised future (B, F, 153) + mask -> the diffused space (v slots replaced by
        standardised cumulative poses, masked from the first invalid motion on)."""
        if not self.cfg.cumulative_v:
            return fut_norm, fut_mask
        F = fut_norm.shape[1]
        cum = (self._cumulative_raw(fut_norm) - self.cum_mean[:F]) / self.cum_std[:F]
        x, m = fut_norm.clone(), fut_mask.clone()
        for k, sl in enumerate(self._v_slices()):
            x[..., sl] = cum[:, :, k]
            m[..., sl] = fut_mask[..., sl.start:sl.start + 1].cumprod(1).bool().expand_as(m[..., sl])
        return x, m

    def from_model_space(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`to_model_space` for sampled futures (..., F, 153): cumulative poses back
        to normalised per-frame motions ``v_i = s_{i-1}^-1 s_i``."""
        if not self.cfg.cumulative_v:
            return x
        from ..ghtt.representation import rot_from_6d_t

        shape = x.shape
        x = x.reshape(-1, *shape[-2:])
        F = x.shape[1]
        out = x.clone()
        for k, sl in enumerate(self._v_slices()):
            s9 = x[..., sl] * self.cum_std[:F, k] + self.cum_mean[:F, k]  # (B, F, 9)
            R = rot_from_6d_t(s9[..., :6])
            t = s9[..., 6:9]
            eye = torch.eye(3, dtype=x.dtype).expand(x.shape[0], 1, 3, 3)
            R_prev = torch.cat([eye, R[:, :-1]], 1)
            t_prev = torch.cat([torch.zeros_like(t[:, :1]), t[:, :-1]], 1)
            Rv = R_prev.transpose(-1, -2) @ R
            tv = (R_prev.transpose(-1, -2) @ (t - t_prev)[..., None])[..., 0]
            v9 = torch.cat([Rv[..., :, 0], Rv[..., :, 1], tv], -1)
            out[..., sl] = (v9 - self.normalizer.mean[sl]) / self.normalizer.std[sl]
        return out.reshape(shape)

    def anchor(self, obs: Tensor) -> Tensor:
        """(B, 1, 153): the last observed frame's p (normalised), zeros elsewhere."""
        return (obs[:, -1] * self.p_mask)[:, None]

    def condition(self, obs: Tensor, flags: Tensor) -> Tensor:
        """obs (B, obs_len, 153) normalised & masked, flags (B, obs_len, 5) -> tokens (B, obs_len, d)."""
        tok = self.obs_in(torch.cat([obs, flags], -1)) + self.obs_pos[-obs.shape[1]:]
        return self.encoder(tok)

    def denoise(self, x_t: Tensor, step: Tensor, cond: Tensor) -> Tensor:
        """x_t (B, F, 153) noisy, step (B,) float in [0, train_steps), cond tokens -> x0 (B, F, 153)."""
        temb = self.t_mlp(sinusoidal(step, self.cfg.d_model))
        h = self.x_in(x_t) + self.fut_pos[: x_t.shape[1]] + temb[:, None]
        return self.out(self.decoder(h, cond))

    def q_sample(self, x0: Tensor, k: Tensor, noise: Tensor) -> Tensor:
        ab = self.alpha_bar[k][:, None, None]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def loss(self, obs: Tensor, flags: Tensor, fut: Tensor, fut_mask: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Diffusion loss: masked MSE of the predicted clean future at a random noise level."""
        B = fut.shape[0]
        fut, fut_mask = self.to_model_space(fut, fut_mask)
        fut = fut - self.anchor(obs)
        k = torch.randint(0, self.cfg.train_steps, (B,), generator=generator)
        noise = torch.randn(fut.shape, generator=generator)
        x_t = self.q_sample(fut, k, noise)
        x0 = self.denoise(x_t, k.float(), self.condition(obs, flags))
        m = fut_mask.float()
        return (((x0 - fut) ** 2) * m).sum() / m.sum().clamp_min(1.0)

    def ddim_schedule(self, steps: int | None = None) -> list[int]:
        n = self.cfg.train_steps
        steps = steps or self.cfg.sample_steps
        return sorted({int(round(x)) for x in torch.linspace(n - 1, 0, steps).tolist()}, reverse=True)

    @torch.no_grad()
    def sample(self, obs: Tensor, flags: Tensor, num_samples: int, steps: int | None = None,
               generator: torch.Generator | None = None, noise: Tensor | None = None, eta: float | None = None) -> Tensor:
        """-> (B, K, horizon, 153) normalised futures (DDIM)."""
        eta = self.cfg.eta if eta is None else eta
        B = obs.shape[0]
        K = num_samples
        cond = self.condition(obs, flags)
        cond = cond[:, None].expand(B, K, *cond.shape[1:]).reshape(B * K, *cond.shape[1:])
        shape = (B * K, self.cfg.horizon, FEATURE_DIM)
        x = noise.reshape(shape) if noise is not None else torch.randn(shape, generator=generator)
        sched = self.ddim_schedule(steps)
        for i, k in enumerate(sched):
            ab = self.alpha_bar[k]
            x0 = self.denoise(x, torch.full((B * K,), float(k)), cond)
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
            if i + 1 < len(sched):
                ab_prev = self.alpha_bar[sched[i + 1]]
                sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp_min(0).sqrt()
                dir_ = (1 - ab_prev - sigma ** 2).clamp_min(0).sqrt() * eps
                x = ab_prev.sqrt() * x0 + dir_
                if eta > 0:
                    x = x + sigma * torch.randn(shape, generator=generator)
            else:
                x = x0
        x = x.reshape(B, K, self.cfg.horizon, FEATURE_DIM) + self.anchor(obs)[:, None]
        return self.from_model_space(x)
