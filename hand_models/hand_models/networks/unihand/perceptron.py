"""Vision path of UniHand: a frozen, pluggable backbone producing dense tokens of full frames, and
the hand perceptron (paper sec. 3.3, eq. 2-3) that turns them into one hand token per frame.

Backbones never download anything: :class:`SmallCNNBackbone` is an in-repo CNN (tests, demos);
:func:`load_backbone` wraps any local torchvision / timm model or a TorchScript file, with weights
read from a local path.
"""

from __future__ import annotations

import os
from typing import Callable

import torch
from torch import Tensor, nn

from .config import UniHandConfig
from .layers import Attention, FeedForward, default_split, rope_tables


class VisionBackbone(nn.Module):
    """Interface: images (B, 3, H, W) float in [0, 1] -> dense tokens (B, C, h, w).  ``out_dim``
    is C.  The backbone is frozen (``freeze()``) and always run in eval mode."""

    out_dim: int

    def freeze(self) -> "VisionBackbone":
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        return self

    def train(self, mode: bool = True) -> "VisionBackbone":  # frozen: stays in eval mode
        return super().train(False)


class SmallCNNBackbone(VisionBackbone):
    """A 4-stage strided CNN (stride 16); a stand-in for DINOv2 in tests (random or trained weights)."""

    def __init__(self, out_dim: int = 64, width: int = 32):
        super().__init__()
        self.out_dim = out_dim
        chans = [3, width, width * 2, width * 2, out_dim]
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1), nn.GELU()]
        self.net = nn.Sequential(*layers[:-1])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, images: Tensor) -> Tensor:
        return self.net((images - self.mean) / self.std)


class WrappedBackbone(VisionBackbone):
    """Wraps a callable images -> (B, C, h, w) or (B, h*w[+cls], C) tokens (ViT style)."""

    def __init__(self, module: nn.Module, out_dim: int, grid: tuple[int, int] | None = None,
                 fn: Callable[[nn.Module, Tensor], Tensor] | None = None):
        super().__init__()
        self.module, self.out_dim, self.grid, self.fn = module, out_dim, grid, fn

    def forward(self, images: Tensor) -> Tensor:
        y = self.fn(self.module, images) if self.fn is not None else self.module(images)
        if y.ndim == 3:  # (B, L, C) tokens: drop extra (class/register) tokens, reshape to the grid
            h, w = self.grid or (int(y.shape[1] ** 0.5),) * 2
            y = y[:, -h * w:].transpose(1, 2).reshape(y.shape[0], y.shape[2], h, w)
        return y


def load_backbone(spec: str, weights: str | os.PathLike | None = None, out_dim: int | None = None) -> VisionBackbone:
    """Build a frozen backbone from local code and weights only.

    ``spec``: "small_cnn[:C]"; "torchscript:/path/model.pt"; "torchvision:<name>" (e.g.
    resnet18, features up to the last conv stage); "timm:<name>" (``forward_features``).
    ``weights``: local state-dict file (required for torchvision/timm, never downloaded).
    """
    kind, _, name = spec.partition(":")
    if kind == "small_cnn":
        bb: VisionBackbone = SmallCNNBackbone(out_dim=int(name) if name else 64)
        if weights:
            bb.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return bb.freeze()
    if kind == "torchscript":
        mod = torch.jit.load(name, map_location="cpu")
        if out_dim is None:
            raise ValueError("out_dim is required for a TorchScript backbone")
        return WrappedBackbone(mod, out_dim).freeze()
    if weights is None:
        raise ValueError(f"backbone {spec!r} needs a local weights file (nothing is downloaded)")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if kind == "torchvision":
        import torchvision  # optional dependency

        model = getattr(torchvision.models, name)(weights=None)
        model.load_state_dict(state)
        body = nn.Sequential(*list(model.children())[:-2])  # conv trunk (resnet-style)
        with torch.no_grad():
            c = body(torch.zeros(1, 3, 224, 224)).shape[1]
        return WrappedBackbone(body, c).freeze()
    if kind == "timm":
        import timm  # optional dependency

        model = timm.create_model(name, pretrained=False)
        model.load_state_dict(state)
        return WrappedBackbone(model, model.num_features, fn=lambda m, x: m.forward_features(x)).freeze()
    raise ValueError(f"unknown backbone spec {spec!r}")


class PerceptronLayer(nn.Module):
    def __init__(self, dim: int, kv_dim: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.xattn = Attention(dim, heads, kv_dim=kv_dim, qkv_norm=True, dropout=dropout)
        self.ff = FeedForward(dim, ff, dropout)

    def forward(self, q, v, rope_q, rope_k, bias):
        q = q + self.xattn(self.n1(q), v, rope_q=rope_q, rope_k=rope_k, bias=bias)
        return q + self.ff(self.n2(q))


class HandPerceptron(nn.Module):
    """Queries [a^1, H^1..H^N] attend to the dense tokens v (N, h, w, C) of all frames.

    Q = RoPE_1D(LN(W_Q q)), K = RoPE_3D(LN(W_K v)), V = LN(W_V v).  Query positions are
    (frame, 0, 0) (a^1 at frame 0, H^i at frame i); key positions (frame, row, col).  Frames with
    no image (mask 0) are not attended to.  Returns hand tokens (B, N, dim), one per frame.
    """

    def __init__(self, cfg: UniHandConfig, token_dim: int, init_dim: int):
        super().__init__()
        p = cfg.perceptron
        dim = cfg.denoiser.net.dim
        self.heads = p.heads
        hd = dim // p.heads
        self.split = tuple(p.rope_split) if sum(p.rope_split) else default_split(hd)
        self.hand_tokens = nn.Parameter(torch.randn(cfg.seq_len, dim) * 0.02)
        self.init_token = nn.Linear(init_dim, dim)
        self.unknown_init = nn.Parameter(torch.zeros(dim))
        self.layers = nn.ModuleList([PerceptronLayer(dim, token_dim, p.heads, p.ff, p.dropout) for _ in range(p.layers)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor, frame_mask: Tensor, init: Tensor | None = None) -> Tensor:
        """tokens (B, N, C, h, w); frame_mask (B, N); init (B, init_dim) normalised first pose."""
        B, N, C, h, w = tokens.shape
        v = tokens.permute(0, 1, 3, 4, 2).reshape(B, N * h * w, C)
        dev = tokens.device
        fi, yi, xi = torch.meshgrid(torch.arange(1, N + 1, device=dev), torch.arange(h, device=dev),
                                    torch.arange(w, device=dev), indexing="ij")
        kpos = torch.stack([fi, yi, xi], -1).reshape(1, N * h * w, 3).expand(B, -1, -1)
        qpos = torch.zeros(B, N + 1, 3, dtype=torch.long, device=dev)
        qpos[..., 0] = torch.arange(N + 1, device=dev)
        hd = self.hand_tokens.shape[-1] // self.heads
        rope_q, rope_k = rope_tables(qpos, hd, self.split), rope_tables(kpos, hd, self.split)
        a = self.unknown_init.expand(B, -1) if init is None else self.init_token(init)
        q = torch.cat([a[:, None], self.hand_tokens[:N].expand(B, -1, -1)], 1)
        valid = frame_mask[:, :, None].expand(B, N, h * w).reshape(B, N * h * w) > 0.5
        # a batch item without any image still needs one key: let it see everything (masked later)
        valid = valid | ~valid.any(-1, keepdim=True)
        bias = (~valid).to(torch.float32)[:, None, None, :] * -1e4
        for layer in self.layers:
            q = layer(q, v, rope_q, rope_k, bias)
        return self.norm(q[:, 1:])
