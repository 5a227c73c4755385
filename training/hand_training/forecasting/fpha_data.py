"""Training data for the forecasters from the F-PHAB training half: subject validation split and
augmentation (rotation, scale, left/right mirroring, playback speed).

Only sequences whose official split is ``"train"`` are ever returned (the test half, including the
45 Subject_1 repetition-1 files under ``../shared/data``, is refused by :func:`training_sequences`).

Augmentation notes: the forecasters' representation (palm-frame joints, palm motion in the
previous palm frame, see ``hand_models.networks.ghtt.representation``) is invariant to a global
rotation / translation, so ``rotation_deg`` changes nothing for them (kept for models that see
camera-frame joints); ``scale`` (hand size and motion amplitude), ``mirror_p`` (the right hand
becomes a left hand: x -> -x, side 1 -> 0, so the left-hand template and slots get trained) and
``speed`` (resampled playback) do change what they see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..datasets_motion.common import MotionSequence, resample
from .fpha_split import load_half, subject_split


@dataclass
class AugmentConfig:
    """Augmented copies per training sequence (the original is always kept)."""

    copies: int = 2
    rotation_deg: float = 30.0
    #: hand scale factor uniform in [1 - scale, 1 + scale] about the first wrist position
    scale: float = 0.1
    #: probability that a copy is mirrored (x -> -x) and becomes a left hand
    mirror_p: float = 0.5
    #: playback speed factor uniform in [speed_min, speed_max]
    speed_min: float = 0.8
    speed_max: float = 1.25


def mirror(joints: np.ndarray) -> np.ndarray:
    """(T, 2, 21, 3) -> the mirror image (x -> -x) with the sides swapped."""
    out = joints[:, ::-1].copy()
    out[..., 0] *= -1.0
    return out


def augment(seq: MotionSequence, rng: np.random.Generator, cfg: AugmentConfig, k: int = 0) -> MotionSequence:
    """One randomly augmented copy of ``seq`` (see :class:`AugmentConfig`)."""
    j = seq.joints.copy()
    speed = float(rng.uniform(cfg.speed_min, cfg.speed_max))
    if abs(speed - 1.0) > 1e-6:
        j, _ = resample(j, seq.fps * speed, seq.fps)
    finite = np.isfinite(j).all(-1)
    centre = np.nanmean(j[:, :, 0][finite[:, :, 0]], 0) if finite[:, :, 0].any() else np.zeros(3)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis) + 1e-12
    R = Rotation.from_rotvec(axis * np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))).as_matrix()
    s = float(rng.uniform(1.0 - cfg.scale, 1.0 + cfg.scale))
    j = (j - centre) @ R.T * s + centre
    mirrored = bool(rng.random() < cfg.mirror_p)
    if mirrored:
        j = mirror(j)
    return MotionSequence(name=f"{seq.name}#aug{k}", joints=j, fps=seq.fps, label=seq.label, verb=seq.verb, noun=seq.noun,
                          source=seq.source, meta={**seq.meta, "augment": {"speed": speed, "scale": s, "mirrored": mirrored}})


def training_sequences(data_dir: str, val_subjects: tuple[str, ...], aug: AugmentConfig | None, seed: int = 0,
                       max_sequences: int | None = None) -> tuple[list[MotionSequence], list[MotionSequence], dict]:
    """(augmented training sequences, validation sequences, info) from the FPHA training half.

    Validation = the training-half sequences of ``val_subjects`` (never augmented, never trained on)."""
    half = load_half(data_dir, "train")
    seqs = half.sequences
    if not seqs:
        raise ValueError(f"no FPHA training-half sequences under {data_dir}")
    if any(s.meta.get("official_split") != "train" for s in seqs):  # defensive: never train on the test half
        raise ValueError("a test-half sequence reached the training set")
    train, val = subject_split(seqs, tuple(val_subjects))
    if max_sequences:
        train, val = train[:max_sequences], val[:max(1, max_sequences // 4)]
    rng = np.random.default_rng(seed)
    out = list(train)
    if aug is not None:
        for k in range(aug.copies):
            out.extend(augment(s, rng, aug, k) for s in train)
    info = {"train_sequences": len(train), "val_sequences": len(val), "val_subjects": list(val_subjects),
            "augmented_sequences": len(out) - len(train), "train_frames": int(sum(s.num_frames for s in train)),
            "missing_in_split_file": len(half.missing), "split_source": half.split_source}
    return out, val, info
