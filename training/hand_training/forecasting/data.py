"""Windows and clips of encoded motion for training the forecasters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hand_models.networks.ghtt.representation import EncodedMotion, encode

from ..datasets_motion.common import MotionSequence, resample


@dataclass
class EncodedSequence:
    name: str
    label: str
    noun: str
    enc: EncodedMotion
    joints: np.ndarray  # resampled (T, 2, 21, 3)
    gt_valid: np.ndarray  # (T, 2, 21)


def encode_sequences(seqs: list[MotionSequence], fps: float) -> list[EncodedSequence]:
    out = []
    for s in seqs:
        j, imp = resample(s.joints, s.fps, fps, s.imputed)
        if len(j) == 0:
            continue
        out.append(EncodedSequence(s.name, s.label, s.noun, encode(j), j, np.isfinite(j).all(-1) & ~imp))
    return out


def window_index(seqs: list[EncodedSequence], length: int, stride: int, require_present: bool = True) -> list[tuple[int, int]]:
    """(sequence, start) of windows of ``length`` frames (with at least one hand present at the
    middle frame when ``require_present``)."""
    idx = []
    for i, s in enumerate(seqs):
        T = len(s.enc.features)
        for a in range(0, T - length + 1, stride):
            if require_present and not s.enc.present[a + length // 2 - 1].any():
                continue
            idx.append((i, a))
    return idx


def stack_windows(seqs: list[EncodedSequence], idx: list[tuple[int, int]], length: int):
    """-> features (N, L, 153), mask (N, L, 153), flags (N, L, 5) float32 tensors."""
    f = np.stack([seqs[i].enc.features[a:a + length] for i, a in idx])
    m = np.stack([seqs[i].enc.mask[a:a + length] for i, a in idx])
    g = np.stack([seqs[i].enc.flags[a:a + length] for i, a in idx])
    return torch.from_numpy(f).float(), torch.from_numpy(m), torch.from_numpy(g).float()
