"""AssemblyHands 3D hand poses with Assembly101 fine-grained action labels.

Released layout::

    <root>/annotations/<split>/assemblyhands_<split>_joint_3d_v1-1.json
    <root>/fine-grained-annotations/<split>.csv           (Assembly101, optional)

The joint file is ``{"annotations": {<seq_name>: {"<frame:06d>": {"world_coord": [[x, y, z] x 42]
(mm, world frame), "joint_valid": [42] (optional)}}}}``: 42 keypoints, right hand 0-20, left 21-41,
each in the InterHand2.6M per-hand order (tips to base per finger, wrist last). Missing or
all-zero joints are invalid. Fine-grained CSV rows: ``id, video, start_frame, end_frame,
action_id, verb_id, noun_id, action_cls, verb_cls, noun_cls, ...`` with ``video`` =
``<seq_name>/<camera>.mp4``; frames at 30 fps.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from hand_models.joints import ASSEMBLYHANDS_TO_OURS

from .common import MotionSequence

FPS = 30.0
VERSION = "v1-1"


def joint_file(root: str | Path, split: str) -> Path:
    return Path(root) / "annotations" / split / f"assemblyhands_{split}_joint_3d_{VERSION}.json"


def _frame_joints(entry: dict) -> np.ndarray:
    w = np.asarray(entry["world_coord"], dtype=np.float64).reshape(42, 3) / 1000.0
    valid = np.isfinite(w).all(-1) & (np.abs(w).sum(-1) > 0)
    if "joint_valid" in entry:
        valid &= np.asarray(entry["joint_valid"], dtype=np.float64).reshape(42) > 0.5
    w[~valid] = np.nan
    out = np.full((2, 21, 3), np.nan)
    out[1] = w[:21][ASSEMBLYHANDS_TO_OURS]
    out[0] = w[21:][ASSEMBLYHANDS_TO_OURS]
    return out


def read_fine_grained(root: str | Path, split: str) -> dict[str, list[tuple[str, str, str, int, int]]]:
    """seq_name -> [(action, verb, noun, start, end_exclusive)] from Assembly101's CSV (may be empty)."""
    path = Path(root) / "fine-grained-annotations" / f"{split}.csv"
    out: dict[str, list] = {}
    if not path.exists():
        return out
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            seq = row["video"].split("/")[0]
            out.setdefault(seq, []).append((row["action_cls"], row["verb_cls"], row["noun_cls"],
                                            int(row["start_frame"]), int(row["end_frame"]) + 1))
    return out


def read_assemblyhands(root: str | Path, split: str = "val", min_gap_fill: int = 0) -> list[MotionSequence]:
    """One untrimmed sequence per seq_name (frames between annotated ones are NaN), with
    Assembly101 fine-grained segments (in frame units of the sequence) when the CSV is there."""
    with open(joint_file(root, split)) as f:
        data = json.load(f)
    ann = data.get("annotations", data)
    actions = read_fine_grained(root, split)
    out = []
    for seq in sorted(ann):
        frames = {int(k): v for k, v in ann[seq].items()}
        if not frames:
            continue
        f0, f1 = min(frames), max(frames)
        joints = np.full((f1 - f0 + 1, 2, 21, 3), np.nan)
        for k, v in frames.items():
            joints[k - f0] = _frame_joints(v)
        segs = [(a, max(s - f0, 0), min(e - f0, len(joints))) for a, _, _, s, e in actions.get(seq, [])
                if e > f0 and s <= f1]
        out.append(MotionSequence(name=f"assemblyhands/{split}/{seq}", joints=joints, fps=FPS, segments=segs,
                                  source="assemblyhands", meta={"first_frame": f0,
                                                                "verbs_nouns": {a: (v, n) for a, v, n, _, _ in actions.get(seq, [])}}))
    return out


def trimmed_with_verb_noun(seq: MotionSequence) -> list[MotionSequence]:
    clips = seq.trimmed() if seq.segments else []
    vn = seq.meta.get("verbs_nouns", {})
    for c in clips:
        c.verb, c.noun = vn.get(c.label, ("", ""))
    return clips


def write_fixture(root: str | Path, split: str, sequences: dict[str, np.ndarray], actions: list[dict] | None = None,
                  first_frame: int = 0) -> None:
    """Write sequences {seq_name: (T, 2, 21, 3) metres} (+ optional CSV rows) in the released layout."""
    inv = np.argsort(ASSEMBLYHANDS_TO_OURS)
    ann: dict[str, dict] = {}
    for seq, joints in sequences.items():
        ann[seq] = {}
        for i, fr in enumerate(joints):
            w = np.zeros((42, 3))
            valid = np.zeros(42)
            for s, sl in ((1, slice(0, 21)), (0, slice(21, 42))):
                if np.isfinite(fr[s]).all():
                    w[sl] = fr[s][inv] * 1000.0
                    valid[sl] = 1
            ann[seq][f"{first_frame + i:06d}"] = {"world_coord": w.tolist(), "joint_valid": valid.tolist()}
    path = joint_file(root, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"annotations": ann}))
    if actions:
        p = Path(root) / "fine-grained-annotations" / f"{split}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        cols = ["id", "video", "start_frame", "end_frame", "action_id", "verb_id", "noun_id", "action_cls",
                "verb_cls", "noun_cls", "toy_id", "toy_name", "is_shared", "is_RGB"]
        with open(p, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for i, a in enumerate(actions):
                w.writerow({**{c: "" for c in cols}, "id": i, **a})
