"""Transformer building blocks of UniHand: rotary position encodings (1D and 3D), attention with
RoPE, pre-norm encoder layers, and adaptive-LayerNorm (timestep-modulated) denoiser layers.

Everything here exports to ONNX (opset 17, TorchScript exporter): RoPE uses cos/sin tables and
``rotate_half``; attention is written out (matmul, softmax) with an additive mask.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def rope_angles(pos: Tensor, dim: int, base: float = 10000.0) -> Tensor:
    """Rotation angles (..., dim/2) for integer/float positions ``pos`` (...) over ``dim`` channels."""
    if dim % 2:
        raise ValueError(f"RoPE needs an even channel count, got {dim}")
    if dim == 0:
        return pos.new_zeros(pos.shape + (0,), dtype=torch.float32)
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, device=pos.device, dtype=torch.float32) / dim))
    return pos.to(torch.float32)[..., None] * inv


def rope_tables(pos: Tensor, head_dim: int, split: tuple[int, ...] | None = None) -> tuple[Tensor, Tensor]:
    """cos/sin tables (B, L, head_dim) for positions ``pos``.

    ``pos`` (B, L) gives 1D RoPE over the whole head; ``pos`` (B, L, A) with ``split`` (A channel
    counts summing to head_dim) gives the A-axis RoPE used by the hand perceptron (time, height,
    width): each channel segment rotates with its own axis' coordinate.
    """
    if pos.ndim == 2:
        ang = rope_angles(pos, head_dim)
    else:
        if split is None or len(split) != pos.shape[-1] or sum(split) != head_dim:
            raise ValueError(f"split {split} must give one even channel count per axis summing to {head_dim}")
        ang = torch.cat([rope_angles(pos[..., a], d) for a, d in enumerate(split)], -1)
    ang = torch.cat([ang, ang], -1)  # rotate_half layout: pairs (i, i + d/2)
    return ang.cos(), ang.sin()


def default_split(head_dim: int) -> tuple[int, int, int]:
    """Half the head for time, a quarter each for height and width (even counts)."""
    t = (head_dim // 4) * 2
    h = ((head_dim - t) // 4) * 2
    return t, h, head_dim - t - h


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, -1)
    return torch.cat([-x2, x1], -1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x (B, H, L, D); cos/sin (B, L, D) -> rotated x.  Rotates channel pairs (i, i + D/2)."""
    # the pairing differs from interleaved (2i, 2i+1) only by a fixed channel permutation
    return x * cos[:, None] + _rotate_half(x) * sin[:, None]


class Attention(nn.Module):
    """Multi-head attention with optional RoPE on queries/keys and optional LayerNorm on q, k, v
    projections (the hand perceptron's form, eq. 3 of the paper)."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None, qkv_norm: bool = False, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} not divisible by heads {heads}")
        kv_dim = kv_dim or dim
        self.heads, self.head_dim = heads, dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim, dim)
        self.v = nn.Linear(kv_dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(3)]) if qkv_norm else None
        self.dropout = dropout

    def _split(self, x: Tensor) -> Tensor:
        B, L, _ = x.shape
        return x.reshape(B, L, self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: Tensor,
        kv: Tensor | None = None,
        rope_q: tuple[Tensor, Tensor] | None = None,
        rope_k: tuple[Tensor, Tensor] | None = None,
        bias: Tensor | None = None,
    ) -> Tensor:
        """x (B, Lq, dim); kv (B, Lk, kv_dim) (self-attention when None); bias (B, 1|H, Lq, Lk)
        additive (use -inf/-1e4 to mask keys)."""
        kv = x if kv is None else kv
        q, k, v = self.q(x), self.k(kv), self.v(kv)
        if self.norms is not None:
            q, k, v = self.norms[0](q), self.norms[1](k), self.norms[2](v)
        q, k, v = self._split(q), self._split(k), self._split(v)
        if rope_q is not None:
            q = apply_rope(q, *rope_q)
        if rope_k is not None:
            k = apply_rope(k, *rope_k)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        if bias is not None:
            att = att + bias
        att = att.softmax(-1)
        if self.training and self.dropout > 0:
            att = F.dropout(att, self.dropout)
        y = (att @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        return self.out(y)


def key_padding_bias(valid: Tensor | None) -> Tensor | None:
    """(B, Lk) bool of usable keys -> additive bias (B, 1, 1, Lk) (large negative where unusable)."""
    if valid is None:
        return None
    return (~valid).to(torch.float32)[:, None, None, :] * -1e4


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, ff: int, dropout: float):
        super().__init__(nn.Linear(dim, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, dim))


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer with 1D RoPE self-attention and GELU feed-forward."""

    def __init__(self, dim: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout=dropout)
        self.ff = FeedForward(dim, ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], bias: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.n1(x), rope_q=rope, rope_k=rope, bias=bias))
        return x + self.drop(self.ff(self.n2(x)))


class RoPETransformer(nn.Module):
    """Stack of :class:`EncoderLayer` with a final LayerNorm; positions are (B, L) frame indices."""

    def __init__(self, dim: int, layers: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.layers = nn.ModuleList([EncoderLayer(dim, heads, ff, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, pos: Tensor, valid: Tensor | None = None) -> Tensor:
        rope = rope_tables(pos, x.shape[-1] // self.heads)
        bias = key_padding_bias(valid)
        for layer in self.layers:
            x = layer(x, rope, bias)
        return self.norm(x)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding (B, dim) of (possibly fractional) diffusion timesteps t (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.to(torch.float32)[:, None] * freqs[None]
    emb = torch.cat([args.cos(), args.sin()], -1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], -1)
    return emb


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class AdaLNLayer(nn.Module):
    """Denoiser layer: self-attention (1D RoPE), optional cross-attention to per-frame hand
    tokens, feed-forward; each sub-block's LayerNorm is modulated (shift, scale) and its output
    gated by the timestep embedding (adaptive LayerNorm, zero-initialised modulation)."""

    def __init__(self, dim: int, heads: int, ff: int, dropout: float, cross: bool):
        super().__init__()
        self.cross = cross
        blocks = 3 if cross else 2
        self.norms = nn.ModuleList([nn.LayerNorm(dim, elementwise_affine=False) for _ in range(blocks)])
        self.mod = nn.Linear(dim, 3 * blocks * dim)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)
        self.attn = Attention(dim, heads, dropout=dropout)
        self.xattn = Attention(dim, heads, dropout=dropout) if cross else None
        self.ff = FeedForward(dim, ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, c: Tensor, rope: tuple[Tensor, Tensor], ctx: Tensor | None = None,
                ctx_rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        mods = self.mod(F.silu(c)).chunk(3 * len(self.norms), -1)
        i = 0
        h = modulate(self.norms[0](x), mods[0], mods[1])
        x = x + mods[2][:, None] * self.drop(self.attn(h, rope_q=rope, rope_k=rope))
        i = 1
        if self.xattn is not None and ctx is not None:
            h = modulate(self.norms[1](x), mods[3], mods[4])
            x = x + mods[5][:, None] * self.drop(self.xattn(h, ctx, rope_q=rope, rope_k=ctx_rope))
        if self.xattn is not None:
            i = 2
        h = modulate(self.norms[i](x), mods[3 * i], mods[3 * i + 1])
        return x + mods[3 * i + 2][:, None] * self.drop(self.ff(h))
