"""F-PHAB (First-Person Hand Action Benchmark, FPHA) hand pose annotations.

Released layout: ``<root>/[Hand_pose_annotation_v1/]Subject_<k>/<action>/<repetition>/skeleton.txt``;
each line is ``frame x1 y1 z1 ... x21 y21 z21`` in millimetres (world = depth camera frame), joints
in FPHA order (wrist, the five MCPs, then per finger PIP, DIP, TIP), 30 fps, one right hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hand_models.joints import FPHA_TO_OURS

from .common import MotionSequence, split_verb_noun

FPS = 30.0
#: multi-word verbs in the 45 FPHA action names
FPHA_VERBS = ("take letter from", "give", "receive",
              "charge", "use", "light", "unfold", "high five", "clean", "read", "scratch")


def read_skeleton(path: str | Path) -> np.ndarray:
    """(T, 21, 3) metres, our joint order, from one ``skeleton.txt`` (rows sorted by frame)."""
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 64:
                raise ValueError(f"{path}: expected 64 values per line (frame + 21 x 3), got {len(parts)}")
            rows.append((int(parts[0]), np.array(parts[1:], dtype=np.float64)))
    rows.sort(key=lambda r: r[0])
    j = np.stack([r[1] for r in rows]).reshape(-1, 21, 3) if rows else np.zeros((0, 21, 3))
    j[~np.isfinite(j).all(-1) | (np.abs(j).sum(-1) == 0)] = np.nan
    return j[:, FPHA_TO_OURS] / 1000.0


def find_root(root: str | Path) -> Path:
    root = Path(root)
    for cand in (root, root / "Hand_pose_annotation_v1"):
        if any(cand.glob("Subject_*")):
            return cand
    raise FileNotFoundError(f"no Subject_* folders under {root} (FPHA layout Subject_k/action/rep/skeleton.txt)")


def read_fpha(root: str | Path, subjects: list[str] | None = None) -> list[MotionSequence]:
    """All sequences under an FPHA pose-annotation root, sorted by (subject, action, repetition)."""
    base = find_root(root)
    out = []
    for path in sorted(base.glob("Subject_*/*/*/skeleton.txt")):
        rep, action, subject = path.parent.name, path.parent.parent.name, path.parent.parent.parent.name
        if subjects and subject not in subjects:
            continue
        right = read_skeleton(path)
        joints = np.full((len(right), 2, 21, 3), np.nan)
        joints[:, 1] = right
        verb, noun = split_verb_noun(action, FPHA_VERBS)
        out.append(MotionSequence(
            name=f"fpha/{subject}/{action}/{rep}", joints=joints, fps=FPS, label=action, verb=verb, noun=noun,
            source="fpha", meta={"subject": subject, "repetition": rep, "frame": "FPHA world (depth camera), metres"},
        ))
    return out


def labels(seqs: list[MotionSequence]) -> list[str]:
    return sorted({s.label for s in seqs})
