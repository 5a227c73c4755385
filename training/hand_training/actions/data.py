"""F-PHAB (FPHA) action-recognition data on the official 1:1 split, and augmentation.

* :func:`read_split` parses ``data_split_action_recognition.txt`` (a line ``Training 600``, lines
  ``Subject_k/<action>/<rep> <label_id>``, a line ``Test 575``, ...).
* :func:`load_fpha_split` reads the sequences the split names from ``<root>/Subject_k/<action>/<rep>/skeleton.txt``
  and returns the training half, the test-half sequences that are present, and the names the
  split lists that are missing on disk (reported, never fatal). Sequences outside the split are
  ignored.
* :func:`augment` draws one training view of a sequence: speed change, temporal crop (whole,
  random window or prefix), rotation about a random axis, scale, left/right mirroring (the hand
  moves to the left slot mirrored, so the recogniser's mirror path is trained), joint noise and
  dropped joints (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..datasets_motion.fpha import FPS, read_skeleton
from ..forecasting.fpha_data import mirror
from ..forecasting.fpha_split import SPLIT_FILE, read_split_file

TAXONOMY = "fpha"


@dataclass
class LabelledSequence:
    """joints (T, 2, 21, 3) metres (FPHA: right hand only), fps, label index into the taxonomy."""

    name: str
    joints: np.ndarray
    fps: float
    label: int
    subject: str = ""
    split: str = ""


@dataclass
class Split:
    labels: list[str]
    train: list[LabelledSequence] = field(default_factory=list)
    test: list[LabelledSequence] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def read_split(path: str | Path) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """-> ({'Subject_1/open_milk/2': ('train' | 'test', label_id)}, labels ordered by label_id).

    The file is parsed by :func:`hand_training.forecasting.fpha_split.read_split_file`; this adds the
    label names (the action folder of each id's first entry) and checks the ids run 0..n-1."""
    entries = read_split_file(path)
    names: dict[int, str] = {}
    for name, (_, lab) in entries.items():
        names.setdefault(lab, name.split("/")[1])
    if not entries:
        raise ValueError(f"{path}: no sequences listed")
    n = max(names) + 1
    if sorted(names) != list(range(n)):
        raise ValueError(f"{path}: label ids are not 0..{n - 1}")
    return entries, [names[i] for i in range(n)]


def find_fpha_root(data: str | Path) -> Path:
    """The folder that holds the split file: ``data`` itself, ``data/motion/orig/fpha`` or ``data/orig/fpha``."""
    data = Path(data)
    for cand in (data, data / "motion" / "orig" / "fpha", data / "orig" / "fpha"):
        if (cand / SPLIT_FILE).is_file():
            return cand
    raise FileNotFoundError(f"no {SPLIT_FILE} under {data} (expected motion/orig/fpha/{SPLIT_FILE})")


def load_fpha_split(data: str | Path, parts: tuple[str, ...] = ("train", "test")) -> Split:
    root = find_fpha_root(data)
    entries, labels = read_split(root / SPLIT_FILE)
    out = Split(labels=labels)
    for name, (part, lab) in entries.items():
        if part not in parts:
            continue
        path = root / name / "skeleton.txt"
        if not path.is_file():
            out.missing.append(name)
            continue
        right = read_skeleton(path)
        if len(right) == 0:
            out.missing.append(name)
            continue
        joints = np.full((len(right), 2, 21, 3), np.nan)
        joints[:, 1] = right
        seq = LabelledSequence(name, joints, FPS, lab, subject=name.split("/")[0], split=part)
        (out.train if part == "train" else out.test).append(seq)
    return out


@dataclass
class AugmentConfig:
    speed: tuple[float, float] = (0.75, 1.33)
    rotation_deg: float = 20.0
    scale: tuple[float, float] = (0.85, 1.15)
    mirror_p: float = 0.5
    noise_m: float = 0.002
    drop_joint_p: float = 0.02
    p_whole: float = 0.4
    p_prefix: float = 0.3
    min_crop_s: float = 0.4

    @classmethod
    def from_dict(cls, d: dict | None) -> "AugmentConfig":
        d = dict(d or {})
        for k in ("speed", "scale"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def change_speed(joints: np.ndarray, factor: float) -> np.ndarray:
    """Play (T, ...) joints ``factor`` times faster (linear interpolation, NaN kept where a neighbour is NaN)."""
    T = len(joints)
    n = max(2, int(round(T / factor))) if T > 1 else 1
    if n == T or T == 1:
        return joints
    pos = np.linspace(0, T - 1, n)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, T - 1)
    a = (pos - i0).reshape(-1, *([1] * (joints.ndim - 1)))
    return (1 - a) * joints[i0] + a * joints[i1]


def crop(joints: np.ndarray, fps: float, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Whole sequence (ends trimmed by up to 5 %), a prefix, or a random window of >= min_crop_s."""
    T = len(joints)
    u = rng.random()
    if u < cfg.p_whole or T < 3:
        a = int(rng.integers(0, max(1, T // 20) + 1))
        b = T - int(rng.integers(0, max(1, T // 20) + 1))
        return joints[a:max(b, a + 1)]
    lo = min(T, max(2, int(cfg.min_crop_s * fps)))
    n = int(rng.integers(lo, T + 1))
    start = 0 if u < cfg.p_whole + cfg.p_prefix else int(rng.integers(0, T - n + 1))
    return joints[start:start + n]


def augment(joints: np.ndarray, fps: float, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """One augmented view of joints (T, 2, 21, 3) metres (see module docstring)."""
    j = change_speed(joints, float(np.exp(rng.uniform(np.log(cfg.speed[0]), np.log(cfg.speed[1])))))
    j = crop(j, fps, rng, cfg).copy()
    centre = np.nanmean(j[:, :, 0].reshape(-1, 3), 0)
    R = Rotation.from_rotvec(rng.normal(size=3) / np.sqrt(3) * np.deg2rad(cfg.rotation_deg)).as_matrix()
    s = rng.uniform(*cfg.scale)
    j = (j - centre) @ R.T * s + centre
    j = j + rng.normal(scale=cfg.noise_m, size=j.shape)
    if cfg.drop_joint_p > 0:
        j[rng.random(j.shape[:3]) < cfg.drop_joint_p] = np.nan
    if rng.random() < cfg.mirror_p:
        j = mirror(j)
    return j
