"""Common container and helpers for motion sequences (both hands' 21 joints over time)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SIDES = ("left", "right")


@dataclass
class MotionSequence:
    """Both hands over time, in our joint order.

    joints (T, 2, 21, 3) metres, side 0 = left, 1 = right, NaN where a joint or hand is missing;
    fps; label / verb / noun of the whole sequence (may be empty); segments: (label, start, end)
    frame ranges (end exclusive) for untrimmed sequences; imputed (T, 2, 21) marks joints the
    reader filled in (not ground truth: metrics skip them); source names the dataset.
    """

    name: str
    joints: np.ndarray
    fps: float
    label: str = ""
    verb: str = ""
    noun: str = ""
    segments: list[tuple[str, int, int]] = field(default_factory=list)
    source: str = ""
    imputed: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.joints = np.asarray(self.joints, dtype=np.float64)
        if self.joints.ndim != 4 or self.joints.shape[1:] != (2, 21, 3):
            raise ValueError(f"{self.name}: joints must be (T, 2, 21, 3), got {self.joints.shape}")
        if self.imputed is None:
            self.imputed = np.zeros(self.joints.shape[:3], dtype=bool)

    @property
    def num_frames(self) -> int:
        return self.joints.shape[0]

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @property
    def gt_valid(self) -> np.ndarray:
        """(T, 2, 21) joints that are measured (finite and not imputed)."""
        return np.isfinite(self.joints).all(-1) & ~self.imputed

    def sides_present(self) -> list[str]:
        return [s for i, s in enumerate(SIDES) if np.isfinite(self.joints[:, i]).any()]

    def slice(self, start: int, end: int, label: str | None = None) -> "MotionSequence":
        return MotionSequence(
            name=f"{self.name}[{start}:{end}]", joints=self.joints[start:end].copy(), fps=self.fps,
            label=self.label if label is None else label, verb=self.verb, noun=self.noun, segments=[],
            source=self.source, imputed=self.imputed[start:end].copy(), meta=dict(self.meta),
        )

    def trimmed(self) -> list["MotionSequence"]:
        """One sequence per labelled segment (or itself when it has none)."""
        if not self.segments:
            return [self]
        return [self.slice(s, e, lab) for lab, s, e in self.segments if e > s]


def split_verb_noun(label: str, verbs: tuple[str, ...] = ()) -> tuple[str, str]:
    """'open_milk' -> ('open', 'milk'); multi-word verbs from ``verbs`` are matched first."""
    words = label.replace("_", " ").split()
    for v in sorted(verbs, key=len, reverse=True):
        vw = v.split()
        if words[: len(vw)] == vw:
            return v, " ".join(words[len(vw):])
    if not words:
        return "", ""
    return words[0], " ".join(words[1:])


def resample(joints: np.ndarray, fps_in: float, fps_out: float, imputed: np.ndarray | None = None):
    """Linear resampling of (T, ..., 3) joints from fps_in to fps_out on [0, (T-1)/fps_in].

    A resampled value is NaN when either neighbour is NaN. Returns (joints, imputed)."""
    joints = np.asarray(joints, dtype=np.float64)
    T = joints.shape[0]
    if T == 0 or abs(fps_in - fps_out) < 1e-9:
        return joints.copy(), (None if imputed is None else imputed.copy())
    t_out = np.arange(0.0, (T - 1) / fps_in + 1e-9, 1.0 / fps_out)
    pos = t_out * fps_in
    i0 = np.clip(np.floor(pos).astype(int), 0, T - 1)
    i1 = np.clip(i0 + 1, 0, T - 1)
    w = (pos - i0).reshape((-1,) + (1,) * (joints.ndim - 1))
    out = (1 - w) * joints[i0] + w * joints[i1]
    exact = np.isclose(w, 0.0)
    out = np.where(exact, joints[i0], out)
    imp = None
    if imputed is not None:
        imp = imputed[i0] | (imputed[i1] & ~exact.reshape(exact.shape[:1] + (1,) * (imputed.ndim - 1)))
    return out, imp
