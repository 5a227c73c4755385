"""Latent denoiser G_theta (paper sec. 3.3, appendix A.3) and the diffusion schedule.

G(z_t, t, C) predicts the clean latent z_0.  Input tokens are [g, z^1..z^N] (the global motion
token and the per-frame motion latents, normalised).  Structured conditions (MANO x~, 2D and 3D
keypoints), already encoded into the shared latent space by the Joint VAE, are fused with the
noisy latent token-wise; where a condition is missing (per-frame mask 0, or dropped for
classifier-free guidance) its learnable unconditional token takes its place.  Hand tokens from
the hand perceptron enter every layer through cross-attention (their own unconditional token
where there is no image).  The timestep modulates every LayerNorm (adaLN); RoPE encodes time.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import STRUCTURED, UniHandConfig
from .layers import AdaLNLayer, modulate, rope_tables, timestep_embedding


class LatentDenoiser(nn.Module):
    def __init__(self, cfg: UniHandConfig):
        super().__init__()
        t = cfg.denoiser.net
        dl = cfg.vae.latent_dim
        self.dim, self.heads = t.dim, t.heads
        self.vision = cfg.perceptron.enabled
        self.in_z = nn.Linear(dl, t.dim)
        self.in_c = nn.ModuleList([nn.Linear(dl, t.dim) for _ in STRUCTURED])
        self.uncond = nn.Parameter(torch.randn(len(STRUCTURED), dl) * 0.02)  # one per modality
        self.g_slot = nn.Parameter(torch.zeros(t.dim))
        self.uncond_hand = nn.Parameter(torch.randn(t.dim) * 0.02)
        self.t_mlp = nn.Sequential(nn.Linear(t.dim, t.dim), nn.SiLU(), nn.Linear(t.dim, t.dim))
        self.layers = nn.ModuleList([AdaLNLayer(t.dim, t.heads, t.ff, t.dropout, cross=self.vision) for _ in range(t.layers)])
        self.final_norm = nn.LayerNorm(t.dim, elementwise_affine=False)
        self.final_mod = nn.Linear(t.dim, 2 * t.dim)
        nn.init.zeros_(self.final_mod.weight)
        nn.init.zeros_(self.final_mod.bias)
        self.out = nn.Linear(t.dim, dl)

    def forward(self, z_t: Tensor, t: Tensor, conds: Tensor, cmask: Tensor,
                hand: Tensor | None = None, hmask: Tensor | None = None) -> Tensor:
        """z_t (B, N+1, dl); t (B,) diffusion step; conds (B, M, N, dl) in STRUCTURED order;
        cmask (B, M, N) 1 where the condition is present; hand (B, N, dim) hand tokens with
        hmask (B, N).  Returns the predicted clean latent (B, N+1, dl)."""
        B, L, _ = z_t.shape
        c = torch.where(cmask[..., None] > 0.5, conds, self.uncond[None, :, None, :].expand_as(conds))
        fused = sum(self.in_c[m](c[:, m]) for m in range(len(STRUCTURED)))  # (B, N, dim)
        h = self.in_z(z_t) + torch.cat([self.g_slot.expand(B, 1, -1), fused], 1)
        temb = self.t_mlp(timestep_embedding(t, self.dim))
        pos = torch.arange(L, device=z_t.device).expand(B, L)
        rope = rope_tables(pos, self.dim // self.heads)
        ctx, ctx_rope = None, None
        if self.vision:
            if hand is None:
                hand = self.uncond_hand.expand(B, L - 1, -1)
                hmask = torch.zeros(B, L - 1, device=z_t.device)
            ctx = torch.where(hmask[..., None] > 0.5, hand, self.uncond_hand.expand_as(hand))
            ctx_rope = rope_tables(pos[:, 1:], self.dim // self.heads)
        for layer in self.layers:
            h = layer(h, temb, rope, ctx, ctx_rope)
        shift, scale = self.final_mod(nn.functional.silu(temb)).chunk(2, -1)
        return self.out(modulate(self.final_norm(h), shift, scale))


def cosine_alphas_cumprod(steps: int, s: float = 0.008) -> Tensor:
    """Cosine noise schedule (Nichol & Dhariwal 2021): alpha_bar_t for t = 1..steps (index 0..steps-1)."""
    x = torch.linspace(0, steps, steps + 1, dtype=torch.float64)
    f = torch.cos(((x / steps) + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    betas = (1 - ab[1:] / ab[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


class Diffusion(nn.Module):
    """DDPM forward process (training) and deterministic DDIM sampling with x0 prediction."""

    def __init__(self, train_steps: int):
        super().__init__()
        self.T = train_steps
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(train_steps), persistent=False)

    def q_sample(self, z0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        ab = self.alphas_cumprod[t].view(-1, *([1] * (z0.ndim - 1)))
        return ab.sqrt() * z0 + (1 - ab).sqrt() * noise

    def ddim_timesteps(self, steps: int) -> list[int]:
        steps = max(1, min(steps, self.T))
        return [int(round(v)) for v in torch.linspace(self.T - 1, 0, steps).tolist()]

    def ddim_step(self, z_t: Tensor, z0_hat: Tensor, t: int, t_prev: int | None) -> Tensor:
        """One DDIM (eta = 0) step from t to t_prev given the predicted clean latent."""
        if t_prev is None:
            return z0_hat
        ab, ab_prev = self.alphas_cumprod[t], self.alphas_cumprod[t_prev]
        eps = (z_t - ab.sqrt() * z0_hat) / (1 - ab).sqrt()
        return ab_prev.sqrt() * z0_hat + (1 - ab_prev).sqrt() * eps
