"""Joint VAE (paper sec. 3.2, Algorithm 1, appendix A.2).

* Motion encoder E_m: tokens [T_mu, T_sigma, x^1..x^N] -> per-frame motion latents z (N, d) and
  the Gaussian (mu_g, log sigma_g^2) of the global motion token g (read off the two learnable
  distribution tokens).
* Condition encoders E_c (2D keypoints, 3D keypoints): per-frame condition latents z_c (N, d) in
  the same space (aligned to z by the latent loss).  Frames whose condition is missing (mask 0)
  get a learned "missing" embedding so the encoder can infill them from context; joints that are
  not visible are zeroed and flagged per joint.
* Autoregressive decoder D: segments of ``segment`` frames; each step decodes
  [anchor a^i, g, z^{i:i+n}] -> x^{i:i+n}; a^1 = Linear(x^1) (the initial pose; a learned
  "unknown" token when it is not given) and a^{i+n} = Linear(x_hat^{i+n-1}).

MANO vectors enter and leave the VAE normalised by the ``x_mean``/``x_std`` buffers (set from
training data by ``set_normalization``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import MANO_DIM, UniHandConfig
from .layers import RoPETransformer


def _positions(B: int, L: int, start: int, device) -> Tensor:
    return (torch.arange(L, device=device) + start).expand(B, L)


class MotionEncoder(nn.Module):
    def __init__(self, cfg: UniHandConfig):
        super().__init__()
        t = cfg.vae.encoder
        self.inp = nn.Linear(MANO_DIM, t.dim)
        self.dist_tokens = nn.Parameter(torch.randn(2, t.dim) * 0.02)  # T_mu, T_sigma
        self.missing = nn.Parameter(torch.zeros(t.dim))
        self.net = RoPETransformer(t.dim, t.layers, t.heads, t.ff, t.dropout)
        self.to_z = nn.Linear(t.dim, cfg.vae.latent_dim)
        self.to_mu = nn.Linear(t.dim, cfg.vae.latent_dim)
        self.to_logvar = nn.Linear(t.dim, cfg.vae.latent_dim)

    def forward(self, xn: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """xn (B, N, 61) normalised MANO; mask (B, N) (1 = frame given). -> z, mu_g, logvar_g."""
        B, N, _ = xn.shape
        h = self.inp(xn)
        if mask is not None:
            h = torch.where(mask[..., None] > 0.5, h, self.missing.expand_as(h))
        h = torch.cat([self.dist_tokens.expand(B, 2, -1), h], 1)
        pos = torch.cat([torch.zeros(B, 2, dtype=torch.long, device=xn.device), _positions(B, N, 1, xn.device)], 1)
        h = self.net(h, pos)
        return self.to_z(h[:, 2:]), self.to_mu(h[:, 0]), self.to_logvar(h[:, 1]).clamp(-30.0, 20.0)


class KeypointEncoder(nn.Module):
    """E_c for 2D (D=2) or 3D (D=3) keypoints: per frame [root, joints - root] (scaled), visibility."""

    def __init__(self, cfg: UniHandConfig, coord_dim: int, rel_scale: float):
        super().__init__()
        t = cfg.vae.cond_encoder
        self.coord_dim, self.rel_scale = coord_dim, rel_scale
        self.inp = nn.Linear(21 * coord_dim + coord_dim + 21, t.dim)
        self.missing = nn.Parameter(torch.zeros(t.dim))
        self.net = RoPETransformer(t.dim, t.layers, t.heads, t.ff, t.dropout)
        self.to_z = nn.Linear(t.dim, cfg.vae.latent_dim)

    @staticmethod
    def features(kp: Tensor, vis: Tensor, rel_scale: float) -> Tensor:
        """kp (B, N, 21, D), vis (B, N, 21) -> (B, N, 21 D + D + 21); the root is the visibility-
        weighted mean of the keypoints (robust when the wrist is hidden)."""
        w = vis[..., None]
        root = (kp * w).sum(-2) / w.sum(-2).clamp_min(1e-6)  # (B, N, D)
        rel = (kp - root[..., None, :]) * w * rel_scale
        return torch.cat([rel.flatten(-2), root, vis], -1)

    def forward(self, kp: Tensor, vis: Tensor, mask: Tensor) -> Tensor:
        B, N = kp.shape[:2]
        vis = vis * mask[..., None]
        h = self.inp(self.features(kp, vis, self.rel_scale))
        h = torch.where(mask[..., None] > 0.5, h, self.missing.expand_as(h))
        return self.to_z(self.net(h, _positions(B, N, 1, kp.device)))


class ARDecoder(nn.Module):
    def __init__(self, cfg: UniHandConfig):
        super().__init__()
        t = cfg.vae.decoder
        self.segment = cfg.vae.segment
        self.anchor = nn.Linear(MANO_DIM, t.dim)
        self.unknown_anchor = nn.Parameter(torch.zeros(t.dim))
        self.z_in = nn.Linear(cfg.vae.latent_dim, t.dim)
        self.g_in = nn.Linear(cfg.vae.latent_dim, t.dim)
        self.net = RoPETransformer(t.dim, t.layers, t.heads, t.ff, t.dropout)
        self.out = nn.Linear(t.dim, MANO_DIM)

    def first_anchor(self, x1n: Tensor | None, known: Tensor | None, batch: int) -> Tensor:
        """a^1 from the normalised initial pose x1n (B, 61); ``known`` (B,) selects per sample
        between it and the learned unknown-pose token."""
        unknown = self.unknown_anchor.expand(batch, -1)
        if x1n is None:
            return unknown
        a = self.anchor(x1n)
        if known is None:
            return a
        return torch.where(known[:, None] > 0.5, a, unknown)

    def forward(self, z: Tensor, g: Tensor, a1: Tensor) -> Tensor:
        """z (B, N, latent), g (B, latent), a1 (B, dim) -> normalised MANO (B, N, 61)."""
        B, N, _ = z.shape
        n = self.segment
        gz = self.g_in(g)[:, None]
        zz = self.z_in(z)
        pos = torch.cat([torch.zeros(B, 2, dtype=torch.long, device=z.device), _positions(B, n, 1, z.device)], 1)
        a, outs = a1[:, None], []
        for i in range(0, N, n):
            h = self.net(torch.cat([a, gz, zz[:, i:i + n]], 1), pos)
            seg = self.out(h[:, 2:])
            outs.append(seg)
            a = self.anchor(seg[:, -1:])
        return torch.cat(outs, 1)


class JointVAE(nn.Module):
    def __init__(self, cfg: UniHandConfig):
        super().__init__()
        self.cfg = cfg
        self.motion_encoder = MotionEncoder(cfg)
        self.cond_encoders = nn.ModuleDict({
            # 2D: normalised image coordinates (about [0, 1] or tan of view angles); 3D: metres
            "kp2d": KeypointEncoder(cfg, 2, rel_scale=5.0),
            "kp3d": KeypointEncoder(cfg, 3, rel_scale=10.0),
        })
        self.decoder = ARDecoder(cfg)
        self.register_buffer("x_mean", torch.zeros(MANO_DIM))
        self.register_buffer("x_std", torch.ones(MANO_DIM))

    @torch.no_grad()
    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        self.x_mean.copy_(mean)
        self.x_std.copy_(std.clamp_min(1e-3))

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.x_mean) / self.x_std

    def denormalize(self, xn: Tensor) -> Tensor:
        return xn * self.x_std + self.x_mean

    def encode_motion(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        return self.motion_encoder(self.normalize(x), mask)

    def encode_condition(self, name: str, kp: Tensor, vis: Tensor, mask: Tensor) -> Tensor:
        return self.cond_encoders[name](kp, vis, mask)

    def decode(self, z: Tensor, g: Tensor, x1: Tensor | None = None, x1_known: Tensor | None = None) -> Tensor:
        """Latents -> MANO vectors (B, N, 61) (denormalised); x1 (B, 61) the initial pose."""
        a1 = self.decoder.first_anchor(None if x1 is None else self.normalize(x1), x1_known, z.shape[0])
        return self.denormalize(self.decoder(z, g, a1))
