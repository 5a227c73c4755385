"""H2O (Kwon et al., "H2O: two hands manipulating objects") hand poses and action labels.

Released layout (per take and camera)::

    <root>/<subject>/<scene>/<take>/cam<k>/hand_pose/<frame:06d>.txt
    <root>/<subject>/<scene>/<take>/cam<k>/action_label/<frame:06d>.txt   (optional)
    <root>/label_split/action_{train,val,test}.txt                         (optional)

``hand_pose/*.txt``: 128 numbers: left valid flag, 21 x 3 left joints, right valid flag, 21 x 3
right joints (metres, that camera's frame, our joint order). ``action_label/*.txt``: the action id of
the frame (0 = background). ``action_<split>.txt``: header line, then ``id path action_label
start_act end_act start_frame end_frame`` with ``path`` = ``subject/scene/take/cam<k>``.
H2O records at 30 fps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hand_models.joints import H2O_TO_OURS

from .common import MotionSequence, split_verb_noun

FPS = 30.0
#: H2O's 36 action classes (id 1..36; 0 is background)
ACTIONS = (
    "grab book", "grab espresso", "grab lotion", "grab spray", "grab milk", "grab cocoa", "grab chips",
    "grab cappuccino", "place book", "place espresso", "place lotion", "place spray", "place milk", "place cocoa",
    "place chips", "place cappuccino", "open lotion", "open milk", "open chips", "close lotion", "close milk",
    "close chips", "pour milk", "take out espresso", "take out cocoa", "take out chips", "take out cappuccino",
    "put in espresso", "put in cocoa", "put in cappuccino", "apply lotion", "apply spray", "read book",
    "read espresso", "spray spray", "squeeze lotion",
)
VERBS = ("take out", "put in")


def action_name(idx: int) -> str:
    return "background" if idx == 0 else ACTIONS[idx - 1]


def read_hand_pose_file(path: str | Path) -> np.ndarray:
    """(2, 21, 3) metres (left, right), NaN for a hand whose valid flag is 0."""
    vals = np.loadtxt(path, dtype=np.float64).reshape(-1)
    if vals.size != 128:
        raise ValueError(f"{path}: expected 128 values (2 x (flag + 63)), got {vals.size}")
    out = np.full((2, 21, 3), np.nan)
    for s in range(2):
        block = vals[s * 64:(s + 1) * 64]
        if block[0] > 0.5:
            out[s] = block[1:].reshape(21, 3)[H2O_TO_OURS]
    return out


def read_take(cam_dir: str | Path, name: str | None = None) -> MotionSequence:
    """One camera of one take: all frames, with segments from ``action_label`` when present."""
    cam_dir = Path(cam_dir)
    files = sorted((cam_dir / "hand_pose").glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no hand_pose/*.txt under {cam_dir}")
    joints = np.stack([read_hand_pose_file(f) for f in files])
    segments: list[tuple[str, int, int]] = []
    lab_dir = cam_dir / "action_label"
    if lab_dir.is_dir():
        labels = []
        for f in files:
            lf = lab_dir / f.name
            labels.append(int(np.loadtxt(lf)) if lf.exists() else 0)
        start = 0
        for i in range(1, len(labels) + 1):
            if i == len(labels) or labels[i] != labels[start]:
                if labels[start] > 0:
                    segments.append((action_name(labels[start]), start, i))
                start = i
    return MotionSequence(name=name or f"h2o/{cam_dir.relative_to(cam_dir.parents[3]).as_posix()}", joints=joints,
                          fps=FPS, segments=segments, source="h2o", meta={"camera": cam_dir.name})


def read_h2o(root: str | Path, cam: str = "cam4") -> list[MotionSequence]:
    """Every take under ``root`` for one camera (cam4 is the egocentric one)."""
    root = Path(root)
    out = []
    for cam_dir in sorted(root.glob(f"*/*/*/{cam}")):
        if (cam_dir / "hand_pose").is_dir():
            out.append(read_take(cam_dir, name=f"h2o/{cam_dir.relative_to(root).as_posix()}"))
    return out


def read_action_split(root: str | Path, split: str = "train") -> list[MotionSequence]:
    """Trimmed action clips listed in ``label_split/action_<split>.txt``."""
    root = Path(root)
    listing = root / "label_split" / f"action_{split}.txt"
    clips = []
    cache: dict[str, MotionSequence] = {}
    with open(listing) as f:
        lines = [ln.split() for ln in f if ln.strip()]
    for parts in lines[1:] if lines and not lines[0][0].isdigit() else lines:
        _id, rel, act = parts[0], parts[1], int(parts[2])
        start, end = int(parts[5]), int(parts[6])
        if rel not in cache:
            cache[rel] = read_take(root / rel, name=f"h2o/{rel}")
        seq = cache[rel]
        label = action_name(act)
        clip = seq.slice(start, min(end + 1, seq.num_frames), label)
        clip.verb, clip.noun = split_verb_noun(label, VERBS)
        clips.append(clip)
    return clips


def write_take_fixture(cam_dir: str | Path, joints: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Write (T, 2, 21, 3) joints (NaN hand = invalid) in H2O's released per-frame layout."""
    cam_dir = Path(cam_dir)
    (cam_dir / "hand_pose").mkdir(parents=True, exist_ok=True)
    inv = np.argsort(H2O_TO_OURS)
    for i, fr in enumerate(joints):
        vals = []
        for s in range(2):
            ok = np.isfinite(fr[s]).all()
            vals.append(1.0 if ok else 0.0)
            vals.extend((fr[s][inv] if ok else np.zeros((21, 3))).reshape(-1).tolist())
        np.savetxt(cam_dir / "hand_pose" / f"{i:06d}.txt", np.array(vals)[None], fmt="%.6f")
        if labels is not None:
            (cam_dir / "action_label").mkdir(exist_ok=True)
            (cam_dir / "action_label" / f"{i:06d}.txt").write_text(f"{int(labels[i])}\n")
