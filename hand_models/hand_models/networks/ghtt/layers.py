"""Small pre-LN transformer layers with explicit attention (exportable to ONNX as plain ops)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal(positions: Tensor, dim: int) -> Tensor:
    """Sinusoidal encoding (Vaswani et al.) of float positions (...,) -> (..., dim)."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    ang = positions.to(torch.float32)[..., None] * freq
    out = torch.cat([torch.sin(ang), torch.cos(ang)], -1)
    if dim % 2:
        out = torch.cat([out, torch.zeros_like(out[..., :1])], -1)
    return out


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, ctx: Tensor, key_mask: Tensor | None = None) -> Tensor:
        """x (B, Q, D) queries, ctx (B, K, D); key_mask (B, K) True = attend."""
        B, Q, D = x.shape
        h, hd = self.heads, self.head_dim
        q = self.q(x).reshape(B, Q, h, hd).transpose(1, 2)
        k, v = self.kv(ctx).reshape(B, ctx.shape[1], 2, h, hd).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-1, -2)) * self.scale
        if key_mask is not None:
            att = att.masked_fill(~key_mask[:, None, None, :], -1e4)
        att = self.drop(att.softmax(-1))
        y = (att @ v).transpose(1, 2).reshape(B, Q, D)
        return self.out(y)


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__(nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * mult, dim))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.att = Attention(dim, heads, dropout)
        self.ff = FeedForward(dim, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        h = self.n1(x)
        x = x + self.drop(self.att(h, h, mask))
        return x + self.drop(self.ff(self.n2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_att = Attention(dim, heads, dropout)
        self.cross_att = Attention(dim, heads, dropout)
        self.ff = FeedForward(dim, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mem: Tensor, q_mask: Tensor | None = None, mem_mask: Tensor | None = None) -> Tensor:
        h = self.n1(x)
        x = x + self.drop(self.self_att(h, h, q_mask))
        x = x + self.drop(self.cross_att(self.n2(x), mem, mem_mask))
        return x + self.drop(self.ff(self.n3(x)))


class Encoder(nn.Module):
    def __init__(self, dim: int, heads: int, layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(dim, heads, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class Decoder(nn.Module):
    def __init__(self, dim: int, heads: int, layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.layers = nn.ModuleList([DecoderLayer(dim, heads, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, mem: Tensor, q_mask: Tensor | None = None, mem_mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, mem, q_mask, mem_mask)
        return self.norm(x)
