"""SFINGE3D (Caputo et al.) Leap Motion gesture data, released layout ``DatasetV1``.

``Dictionary/<class 1-13>/<instance>.txt``: segmented gestures; ``Sequences/<k>.txt`` with
``Sequences/sequencesGT.csv`` (``seq, n, (label, start, end) x n``). Each row: 20 joints x
(position xyz, quaternion xyzw), ';'-separated (',' in the long sequences), 20 fps, metres in a y-up left-handed (Unity)
world: palm centre, thumb A/B/end, then index, middle, ring, pinky A/B/C/end.

Conversion: the joints map to ours (thumb A/B/end -> thumb MCP/IP/tip; finger A/B/C/end ->
MCP/PIP/DIP/tip). The wrist and thumb CMC are not tracked: thumb CMC stays NaN; the wrist is
**imputed** from the palm centre (``wrist = palm + k (palm - middle MCP)``, k = 0.9, flagged in
``imputed`` so metrics skip it) because without it the palm frame rests on four nearly collinear
MCPs. z is negated to turn the left-handed world into a right-handed one (otherwise a hand is
mirrored); the hand is the right hand (checked against the right template: see tests).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .common import MotionSequence

FPS = 20.0
CLASSES = {1: "one", 2: "two", 3: "three", 4: "four", 5: "OK", 6: "pinch", 7: "grab", 8: "expand", 9: "tap",
           10: "swipe_left", 11: "swipe_right", 12: "swipe_V", 13: "swipe_O"}
#: SFINGE joint k (1..19, after the palm) -> our joint index
_TO_OURS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
WRIST_FROM_PALM = 0.9


def read_rows(path: str | Path) -> np.ndarray:
    """(T, 20, 7) raw rows (position xyz, quaternion xyzw) of one SFINGE3D text file."""
    rows = []
    with open(path) as f:
        for line in f:
            vals = [v for v in line.strip().replace(",", ";").split(";") if v != ""]
            if not vals:
                continue
            if len(vals) != 140:
                raise ValueError(f"{path}: expected 140 values per row (20 joints x 7), got {len(vals)}")
            rows.append(np.array(vals, dtype=np.float64))
    return np.stack(rows).reshape(-1, 20, 7) if rows else np.zeros((0, 20, 7))


def rows_to_joints(rows: np.ndarray, impute_wrist: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> joints (T, 21, 3) metres right-handed, imputed (T, 21) bool, palm centre (T, 3)."""
    pos = rows[..., :3].copy()
    pos[..., 2] *= -1.0
    T = len(rows)
    j = np.full((T, 21, 3), np.nan)
    j[:, _TO_OURS] = pos[:, 1:]
    imputed = np.zeros((T, 21), dtype=bool)
    palm = pos[:, 0]
    if impute_wrist:
        j[:, 0] = palm + WRIST_FROM_PALM * (palm - j[:, 9])
        imputed[:, 0] = True
    return j, imputed, palm


def _sequence(name: str, path: Path, label: str, segments, impute_wrist: bool) -> MotionSequence:
    right, imp, palm = rows_to_joints(read_rows(path), impute_wrist)
    joints = np.full((len(right), 2, 21, 3), np.nan)
    joints[:, 1] = right
    imputed = np.zeros(joints.shape[:3], dtype=bool)
    imputed[:, 1] = imp
    return MotionSequence(name=name, joints=joints, fps=FPS, label=label, verb=label, noun="", segments=segments,
                          source="sfinge3d", imputed=imputed, meta={"palm": palm})


def read_dictionary(root: str | Path, impute_wrist: bool = True) -> list[MotionSequence]:
    root = Path(root)
    out = []
    for cls_dir in sorted((root / "Dictionary").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 99):
        if not cls_dir.is_dir() or not cls_dir.name.isdigit():
            continue
        label = CLASSES[int(cls_dir.name)]
        for f in sorted(cls_dir.glob("*.txt"), key=lambda p: p.stem):
            out.append(_sequence(f"sfinge3d/dict/{cls_dir.name}/{f.stem}", f, label, [], impute_wrist))
    return out


def read_sequences(root: str | Path, impute_wrist: bool = True) -> list[MotionSequence]:
    root = Path(root) / "Sequences"
    gt: dict[str, list[tuple[str, int, int]]] = {}
    with open(root / "sequencesGT.csv") as f:
        for row in csv.reader(f):
            vals = [int(v) for v in row if v.strip() != ""]
            if len(vals) < 2:
                continue
            seq, n = vals[0], vals[1]
            segs = [(CLASSES[vals[2 + 3 * k]], vals[3 + 3 * k], vals[4 + 3 * k] + 1) for k in range(n)]
            gt[str(seq)] = segs
    out = []
    for f in sorted(root.glob("*.txt"), key=lambda p: int(p.stem) if p.stem.isdigit() else 99):
        out.append(_sequence(f"sfinge3d/seq/{f.stem}", f, "", gt.get(f.stem, []), impute_wrist))
    return out


def read_sfinge3d(root: str | Path, impute_wrist: bool = True) -> list[MotionSequence]:
    return read_dictionary(root, impute_wrist) + read_sequences(root, impute_wrist)
