"""F-PHAB (FPHA) official 1:1 action-recognition split: which sequences belong to which half,
reading a half from a data folder laid out like ``../shared/data``, and subject folds.

Layouts read (``DIR`` = a folder laid out like ``../shared/data``):

* ``DIR/motion/orig/fpha/Subject_k/<action>/<rep>/skeleton.txt`` with the split file
  ``DIR/motion/orig/fpha/data_split_action_recognition.txt`` (lines ``Subject_k/<action>/<rep> <label_id>``
  under a ``Training N`` and a ``Test M`` header);
* ``DIR/motion/uniform/fpha__Subject_k__<action>__<rep>.npz`` (+ ``.json`` sidecar, joints in mm).

Which half a sequence belongs to: the split file when there is one; else the sidecar's
``official_split``; else the protocol's fixed rule that every Subject_1 repetition-1 sequence is a
test sequence (the 45 files that predate the split). Sequences whose half cannot be told are
reported and skipped. The split file may name sequences that are absent: they are reported in
:attr:`FphaHalf.missing` and the rest are read.

Joints come out as :class:`~hand_training.datasets_motion.common.MotionSequence` (metres, our
joint order, right hand at side index 1), ``meta`` holding ``subject``, ``repetition``, ``label_id``
and ``official_split``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets_motion import fpha as fpha_reader
from ..datasets_motion.common import MotionSequence, split_verb_noun

SPLIT_FILE = "data_split_action_recognition.txt"
HALVES = ("train", "test")


def read_split_file(path: str | Path) -> dict[str, tuple[str, int]]:
    """``Subject_k/action/rep`` -> (``"train"`` | ``"test"``, label_id) from the official split file."""
    out: dict[str, tuple[str, int]] = {}
    half = None
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in ("Training", "Test") and len(parts) == 2:
            half = "train" if parts[0] == "Training" else "test"
            continue
        if half is None or len(parts) != 2:
            raise ValueError(f"{path}: unexpected line {line!r} (expected 'Subject_k/action/rep label_id' after a header)")
        out[parts[0].strip("/")] = (half, int(parts[1]))
    return out


def _key(subject: str, action: str, rep: str) -> str:
    return f"{subject}/{action}/{rep}"


@dataclass
class FphaHalf:
    """Sequences of one half found under a data folder, plus what could not be used."""

    sequences: list[MotionSequence] = field(default_factory=list)
    #: split-file entries of this half with no data found (``Subject_k/action/rep``)
    missing: list[str] = field(default_factory=list)
    #: sequences found whose half could not be determined
    unknown: list[str] = field(default_factory=list)
    #: sequences that could not be read (name -> reason)
    unreadable: dict[str, str] = field(default_factory=dict)
    #: where the halves came from ("split file", "sidecar", "Subject_1 repetition-1 rule")
    split_source: str = ""
    #: sequences of the other half that were found and ignored
    other_half: int = 0


def _sequence(key: str, joints_m: np.ndarray, half: str, label_id: int | None, fps: float, source: str) -> MotionSequence:
    subject, action, rep = key.split("/")
    j = np.full((len(joints_m), 2, 21, 3), np.nan)
    j[:, 1] = joints_m
    verb, noun = split_verb_noun(action, fpha_reader.FPHA_VERBS)
    return MotionSequence(name=f"fpha/{key}", joints=j, fps=fps, label=action, verb=verb, noun=noun, source="fpha",
                          meta={"subject": subject, "repetition": rep, "label_id": label_id, "official_split": half,
                                "file": source})


def _read_uniform(npz: Path) -> tuple[np.ndarray, float]:
    """(T, 21, 3) metres of the right hand and fps from a uniform npz (mm)."""
    with np.load(npz, allow_pickle=False) as z:
        joints = np.asarray(z["joints"], dtype=np.float64)
        sides = [str(s) for s in z["hand_sides"]]
        t = np.asarray(z["t_sec"], dtype=np.float64) if "t_sec" in z.files else None
    if joints.ndim != 4 or joints.shape[2:] != (21, 3):
        raise ValueError(f"joints shaped {joints.shape}, expected (T, H, 21, 3)")
    if "right" not in sides:
        raise ValueError(f"no right hand (hand_sides {sides})")
    fps = 30.0
    if t is not None and len(t) > 1 and np.all(np.diff(t) > 0):
        fps = float(round(1.0 / np.median(np.diff(t)), 3))
    return joints[:, sides.index("right")] / 1000.0, fps


def load_half(data_dir: str | Path, half: str) -> FphaHalf:
    """All FPHA sequences of ``half`` ("train" / "test") under ``data_dir`` (see module doc).

    Raw ``skeleton.txt`` files are preferred over uniform npz files of the same sequence."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    data_dir = Path(data_dir)
    orig = data_dir / "motion" / "orig" / "fpha"
    uni = data_dir / "motion" / "uniform"
    out = FphaHalf()
    split: dict[str, tuple[str, int]] = {}
    split_path = orig / SPLIT_FILE
    if split_path.is_file():
        split = read_split_file(split_path)
        out.split_source = "split file"
    found: dict[str, tuple[str, Path]] = {}
    if orig.is_dir():
        for p in sorted(orig.glob("Subject_*/*/*/skeleton.txt")):
            found[_key(p.parent.parent.parent.name, p.parent.parent.name, p.parent.name)] = ("skeleton", p)
    if uni.is_dir():
        for p in sorted(uni.glob("fpha__*.npz")):
            parts = p.stem.split("__")
            if len(parts) == 4:
                found.setdefault(_key(*parts[1:]), ("uniform", p))
    sources = set()
    for key, (kind, path) in sorted(found.items()):
        if key in split:
            h, label_id = split[key]
            sources.add("split file")
        else:
            h, label_id = None, None
            side = path.with_suffix(".json")
            if kind == "uniform" and side.is_file():
                try:
                    meta = json.loads(side.read_text())
                except (OSError, ValueError):
                    meta = {}
                h, label_id = meta.get("official_split"), meta.get("label_id")
                if h in HALVES:
                    sources.add("sidecar")
            if h not in HALVES:
                subject, _, rep = key.split("/")
                if subject == "Subject_1" and rep == "1":
                    h = "test"
                    sources.add("Subject_1 repetition-1 rule")
                else:
                    out.unknown.append(key)
                    continue
        if h != half:
            out.other_half += 1
            continue
        try:
            if kind == "skeleton":
                joints, fps = fpha_reader.read_skeleton(path), fpha_reader.FPS
            else:
                joints, fps = _read_uniform(path)
        except (OSError, ValueError, KeyError) as exc:
            out.unreadable[key] = str(exc)
            continue
        if len(joints) == 0:
            out.unreadable[key] = "no frames"
            continue
        out.sequences.append(_sequence(key, joints, half, label_id, fps, str(path)))
    out.missing = sorted(k for k, (h, _) in split.items() if h == half and k not in found)
    out.split_source = ", ".join(sorted(sources)) or out.split_source
    return out


def subject_split(seqs: list[MotionSequence], val_subjects: tuple[str, ...]) -> tuple[list[MotionSequence], list[MotionSequence]]:
    """(train, validation) by subject: validation = the sequences of ``val_subjects``."""
    val = [s for s in seqs if s.meta.get("subject") in val_subjects]
    train = [s for s in seqs if s.meta.get("subject") not in val_subjects]
    return train, val
