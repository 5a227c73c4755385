"""Evaluation of action recognisers on labelled sequences: whole-sequence top-1 (the benchmark
protocol), online top-1 after 0.5 / 1 / 2 s of observation, per-class accuracy and the confusion
matrix. Bad sequences (no hand, unknown label) are skipped and listed, never fatal.

Public API (used by ``benchmarks/eval_forecasting.py --recognizer``)::

    evaluate_recognizer(ckpt, sequences, online_s=(0.5, 1.0, 2.0)) -> dict

``ckpt``: path of an action-recogniser checkpoint (:mod:`hand_models.networks.actions`) or of a
G-HTT checkpoint with a taxonomy (its action block), or a loaded model. ``sequences``: objects
with ``joints`` (T, 2, 21, 3) metres (NaN = missing), ``fps`` and ``label`` (a label name or
index of the checkpoint's taxonomy), optionally ``name``. Sequences shorter than an online
horizon are classified from all their frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from hand_models.networks.actions.model import (ActionRecognizerNet, CheckpointMismatch, EnsembleRecognizer, load_checkpoint,
                                                predict_proba)

ONLINE_S = (0.5, 1.0, 2.0)


class _Recognizer:
    """Uniform ``labels``, ``taxonomy`` and ``proba(windows, fps)`` over both checkpoint kinds."""

    def __init__(self, ckpt: Any) -> None:
        from hand_models.networks.ghtt.model import GHTT

        if isinstance(ckpt, (str, Path)):
            path = Path(ckpt)
            if not path.is_file():
                raise FileNotFoundError(f"recogniser checkpoint {path} not found")
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and state.get("kind") == "ghtt":
                from hand_models.networks.ghtt.predict import load_ghtt

                ckpt = load_ghtt(path)
                if not ckpt.labels:
                    raise CheckpointMismatch(f"{path} is a G-HTT checkpoint without an action taxonomy")
            else:
                ckpt = load_checkpoint(path, taxonomy=None)
        self.model = ckpt
        if isinstance(ckpt, (ActionRecognizerNet, EnsembleRecognizer)):
            self.kind = "recognizer"
        elif isinstance(ckpt, GHTT):
            self.kind = "ghtt"
        else:
            raise TypeError(f"unsupported recogniser {type(ckpt).__name__}")
        self.labels = list(ckpt.labels)
        self.taxonomy = str(getattr(ckpt, "taxonomy", "actions"))

    def proba(self, windows: list[np.ndarray], fps: float) -> np.ndarray:
        if self.kind == "recognizer":
            return predict_proba(self.model, windows, fps)
        from .ghtt_actions import ghtt_predict

        return ghtt_predict(self.model, windows, fps)


def top1(probs: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(probs).argmax(1) == np.asarray(y)).mean()) if len(y) else float("nan")


def confusion(pred: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (np.asarray(y), np.asarray(pred)), 1)
    return m


def _has_hand(j: np.ndarray) -> bool:
    from hand_models.networks.actions.features import MIN_VALID_JOINTS

    return bool((np.isfinite(j).all(-1).sum(-1) >= MIN_VALID_JOINTS).any())


def evaluate_recognizer(ckpt: Any, sequences: Sequence[Any], online_s: Sequence[float] = ONLINE_S) -> dict:
    """Top-1 over whole sequences and after ``online_s`` seconds (see module docstring).

    Returns ``{"top1", "sequences", "online_top1": {"0.5": ...}, "per_class_top1", "confusion",
    "labels", "taxonomy", "skipped": [{"name", "reason"}], "predictions": [...]}``; for the
    ``fpha`` taxonomy also ``fpha_1to1_top1`` and ``fpha_1to1_sequences``."""
    rec = _Recognizer(ckpt)
    index = {lab: i for i, lab in enumerate(rec.labels)}
    kept, ys, skipped = [], [], []
    for k, s in enumerate(sequences):
        name = str(getattr(s, "name", k))
        lab = getattr(s, "label", None)
        y = index.get(lab) if isinstance(lab, str) else (int(lab) if lab is not None and 0 <= int(lab) < len(rec.labels) else None)
        j = np.asarray(getattr(s, "joints", np.zeros((0,))), dtype=np.float64)
        if y is None:
            skipped.append({"name": name, "reason": f"label {lab!r} is not in the {rec.taxonomy!r} taxonomy"})
        elif j.ndim != 4 or j.shape[1:] != (2, 21, 3) or len(j) == 0:
            skipped.append({"name": name, "reason": f"joints shaped {j.shape}, expected (T, 2, 21, 3)"})
        elif not _has_hand(j):
            skipped.append({"name": name, "reason": "no frame with a hand (all joints missing)"})
        else:
            kept.append(s)
            ys.append(y)
    y = np.array(ys, dtype=np.int64)
    res: dict[str, Any] = {"taxonomy": rec.taxonomy, "labels": rec.labels, "kind": rec.kind, "sequences": len(kept),
                           "skipped": skipped}
    if not kept:
        res.update(top1=float("nan"), online_top1={str(t): float("nan") for t in online_s})
    else:
        probs = _proba_by_fps(rec, kept, None)
        pred = probs.argmax(1)
        res["top1"] = top1(probs, y)
        res["online_top1"] = {str(t): top1(_proba_by_fps(rec, kept, t), y) for t in online_s}
        cm = confusion(pred, y, len(rec.labels))
        with np.errstate(invalid="ignore", divide="ignore"):
            per = np.diag(cm) / cm.sum(1)
        res["per_class_top1"] = {rec.labels[i]: float(per[i]) for i in range(len(rec.labels)) if cm[i].sum() > 0}
        res["confusion"] = cm.tolist()
        res["predictions"] = [{"name": str(getattr(s, "name", i)), "label": rec.labels[y[i]], "predicted": rec.labels[pred[i]],
                               "p": float(probs[i, pred[i]])} for i, s in enumerate(kept)]
    if rec.taxonomy == "fpha":
        res["fpha_1to1_top1"] = res["top1"]
        res["fpha_1to1_sequences"] = res["sequences"]
    return res


def _proba_by_fps(rec: _Recognizer, seqs: list, seconds: float | None) -> np.ndarray:
    out = np.zeros((len(seqs), len(rec.labels)), dtype=np.float64)
    by_fps: dict[float, list[int]] = {}
    for i, s in enumerate(seqs):
        by_fps.setdefault(float(s.fps), []).append(i)
    for fps, idx in by_fps.items():
        wins = []
        for i in idx:
            j = np.asarray(seqs[i].joints, dtype=np.float64)
            if seconds is not None:
                j = j[:max(1, int(round(seconds * fps)))]
                if not _has_hand(j):  # no hand yet in the prefix: the whole-so-far is empty, use first hand frames
                    first = int(np.argmax(np.isfinite(seqs[i].joints).all(-1).any(-1).any(-1)))
                    j = np.asarray(seqs[i].joints[first:first + max(1, int(round(seconds * fps)))], dtype=np.float64)
            wins.append(j)
        out[idx] = rec.proba(wins, fps)
    return out
