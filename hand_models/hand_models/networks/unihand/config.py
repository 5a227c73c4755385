"""UniHand configuration: paper sizes by default, ``UniHandConfig.small()`` for tests and CPU runs.

Sizes from the paper (appendix A.2/A.3, B.2): Joint VAE encoders and decoder 9 transformer layers,
hidden 512, feed-forward 2048, 8 heads, dropout 0.1, GELU, latent 512, decoder segments of 8;
denoiser 16 layers, hidden 512, feed-forward 2048, 16 heads; DDPM with 50 steps and a cosine
schedule, DDIM with 10 steps, CFG scale 2; loss weights KL 1e-4, joint 0.5, latent 0.1, aux 0.1,
denoiser rec 1.0; sequences of 48 frames. Values the paper does not give are marked "ours".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: MANO parameter vector of one frame: global_orient (3), hand_pose (45), betas (10), transl (3).
MANO_DIM = 61
SLICES = {"global_orient": slice(0, 3), "hand_pose": slice(3, 48), "betas": slice(48, 58), "transl": slice(58, 61)}
#: structured condition modalities (the vision condition is handled by the hand perceptron)
STRUCTURED = ("mano", "kp2d", "kp3d")


@dataclass
class TransformerConfig:
    dim: int = 512
    layers: int = 9
    heads: int = 8
    ff: int = 2048
    dropout: float = 0.1


@dataclass
class VAEConfig:
    encoder: TransformerConfig = field(default_factory=TransformerConfig)
    cond_encoder: TransformerConfig = field(default_factory=TransformerConfig)
    decoder: TransformerConfig = field(default_factory=TransformerConfig)
    latent_dim: int = 512
    segment: int = 8
    #: probability of replacing the decoder's first anchor by the learned "unknown pose" token (ours)
    anchor_drop_prob: float = 0.1


@dataclass
class DenoiserConfig:
    net: TransformerConfig = field(default_factory=lambda: TransformerConfig(layers=16, heads=16))
    #: per-modality probability of replacing a whole condition by its unconditional token (ours)
    cond_drop_prob: float = 0.15


@dataclass
class PerceptronConfig:
    enabled: bool = False
    layers: int = 2  # ours
    heads: int = 8
    ff: int = 2048
    dropout: float = 0.1
    #: channel split of a head for RoPE over (time, height, width); must sum to the head dim
    rope_split: tuple[int, int, int] = (0, 0, 0)  # 0 = automatic: half time, quarter each spatial


@dataclass
class DiffusionConfig:
    train_steps: int = 50
    sample_steps: int = 10
    cfg_scale: float = 2.0


@dataclass
class LossConfig:
    kl: float = 1e-4
    joint_rec: float = 0.5
    latent: float = 0.1
    aux: float = 0.1
    denoiser_rec: float = 1.0
    #: joints are compared in centimetres with smooth-L1 beta 1 cm (ours; the paper gives no units)
    joint_unit_m: float = 0.01


@dataclass
class UniHandConfig:
    seq_len: int = 48
    vae: VAEConfig = field(default_factory=VAEConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    perceptron: PerceptronConfig = field(default_factory=PerceptronConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    #: "resolution": 2D keypoints divided by image size into [0, 1] (paper); "intrinsics":
    #: normalised camera coordinates K^-1 [u, v, 1] (ours; independent of the camera)
    kp2d_norm: str = "resolution"

    def __post_init__(self) -> None:
        if self.seq_len % self.vae.segment:
            raise ValueError(f"seq_len {self.seq_len} must be a multiple of the segment {self.vae.segment}")
        if self.kp2d_norm not in ("resolution", "intrinsics"):
            raise ValueError(f"kp2d_norm must be 'resolution' or 'intrinsics', got {self.kp2d_norm!r}")
        d = self.denoiser.net.dim
        if d % self.denoiser.net.heads or (d // self.denoiser.net.heads) % 2:
            raise ValueError("denoiser dim / heads must be an even integer")

    @staticmethod
    def small() -> "UniHandConfig":
        """A CPU-sized model for tests and quick experiments (same architecture, small widths)."""
        t = lambda layers, heads=4: TransformerConfig(dim=128, layers=layers, heads=heads, ff=256, dropout=0.0)  # noqa: E731
        return UniHandConfig(
            vae=VAEConfig(encoder=t(2), cond_encoder=t(2), decoder=t(2), latent_dim=64),
            denoiser=DenoiserConfig(net=t(4)),
            perceptron=PerceptronConfig(layers=1, heads=4, ff=256, dropout=0.0),
            kp2d_norm="intrinsics",
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(values: dict[str, Any] | None) -> "UniHandConfig":
        return _build(UniHandConfig, values or {}, "unihand")


def _build(cls, values: dict[str, Any], where: str):
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown keys in {where}: {unknown}; known: {sorted(fields)}")
    defaults = cls()
    kwargs = {}
    for key, value in values.items():
        default = getattr(defaults, key)
        if dataclasses.is_dataclass(default):
            value = _build(type(default), value or {}, f"{where}.{key}")
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)
