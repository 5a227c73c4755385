"""Handedness evidence accumulated per track, and side assignment for several hands.

Convention: ``right`` / ``left`` always name the person's own hand in a NON-mirrored image (a camera
looking at the person). MediaPipe's handedness head was trained for mirrored (selfie) images, so its
"Left" label is our ``right``; ``mediapipe_models.LandmarkOutput.right_prob`` is already mapped.

One frame's classifier output is noisy exactly where it matters (crossed, overlapping or
foreshortened hands), so each track accumulates log-odds with exponential decay::

    L <- decay * L + w * logit(p_right),      W <- decay * W + w

where ``w`` is the weight of the frame (presence score times how free the hand is from overlap with
other hands). The side is the sign of ``L``; the reported probability is ``sigmoid(L / W)``, the
weighted mean per-frame evidence (not the sum, which would grow overconfident on correlated frames).

Two hands that plausibly belong to one person (wrists within ``same_person_max_distance`` hand sizes)
cannot have the same side: when their evidence says they do, the joint assignment (one left, one
right) with the highest total evidence ``sum(s_i * L_i)`` wins, i.e. the hand with the larger
right-evidence becomes ``right``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_EPS = 0.02  # probabilities are clipped to [eps, 1 - eps]: one frame contributes at most ~3.9 nats


def logit(p: float, eps: float = _EPS) -> float:
    p = min(max(float(p), eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@dataclass
class HandednessEvidence:
    """Decayed log-odds that a track is a right hand (> 0: right)."""

    decay: float = 0.9
    log_odds: float = 0.0
    weight: float = 0.0

    def update(self, right_prob: float, weight: float = 1.0) -> None:
        w = max(0.0, float(weight))
        self.log_odds = self.decay * self.log_odds + w * logit(right_prob)
        self.weight = self.decay * self.weight + w

    @property
    def mean_log_odds(self) -> float:
        return self.log_odds / self.weight if self.weight > 1e-9 else 0.0

    def prob_right(self) -> float:
        return sigmoid(self.mean_log_odds)


def assign_sides(
    log_odds: list[float],
    mean_log_odds: list[float],
    wrists: np.ndarray,
    sizes: np.ndarray,
    exclusive: bool = True,
    same_person_max_distance: float = 10.0,
) -> list[tuple[str, float]]:
    """Side and its probability for each hand.

    log_odds: accumulated evidence per hand (decides); mean_log_odds: per-frame mean (reports the
    probability); wrists (N, 2) px; sizes (N,) hand size in px (max side of the keypoint box).
    With ``exclusive``, hands are paired greedily by normalised wrist distance (closest first, only
    pairs closer than ``same_person_max_distance`` hand sizes) and each pair gets one left and one right
    hand, chosen by the highest total evidence.
    """
    n = len(log_odds)
    signs = [1 if lo >= 0 else -1 for lo in log_odds]
    if exclusive and n >= 2:
        pairs = []
        for i in range(n):
            for j in range(i + 1, n):
                scale = max(float(min(sizes[i], sizes[j])), 1.0)
                d = float(np.linalg.norm(np.asarray(wrists[i]) - np.asarray(wrists[j]))) / scale
                if d <= same_person_max_distance:
                    pairs.append((d, i, j))
        used: set[int] = set()
        for _, i, j in sorted(pairs):
            if i in used or j in used:
                continue
            used.update((i, j))
            if signs[i] == signs[j]:
                # options: (i right, j left) -> L_i - L_j ; (i left, j right) -> L_j - L_i
                if log_odds[i] - log_odds[j] >= 0:
                    signs[i], signs[j] = 1, -1
                else:
                    signs[i], signs[j] = -1, 1
    out = []
    for s, m in zip(signs, mean_log_odds):
        p_right = sigmoid(m)
        out.append(("right", p_right) if s > 0 else ("left", 1.0 - p_right))
    return out
