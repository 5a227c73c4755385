"""Evaluation report files next to a checkpoint: JSON, plots (confusion matrix, per-class
accuracy, online accuracy vs observed time) and a model card (data, split, metrics, licence)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

LICENCE = ("Trained on F-PHAB (Garcia-Hernando et al., CVPR 2018), released for academic, non-commercial "
           "research only. These weights are derived from it: keep them inside the team, do not ship, "
           "publish or commit them.")


def _clean(x):
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return _clean(x.item())
    return x


def write_json(path: str | Path, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=1, sort_keys=True) + "\n")
    return path


def plot_report(res: dict, out_dir: str | Path, prefix: str, online_curve: dict[str, float] | None = None) -> list[Path]:
    """confusion matrix, per-class accuracy and online accuracy plots of one evaluation result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    labels = res.get("labels", [])
    if res.get("confusion"):
        cm = np.asarray(res["confusion"], dtype=float)
        fig, ax = plt.subplots(figsize=(11, 10))
        ax.imshow(cm / np.maximum(cm.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{prefix}: confusion (top-1 {res.get('top1', float('nan')):.3f}, {res.get('sequences')} sequences)")
        fig.tight_layout()
        paths.append(out_dir / f"{prefix}_confusion.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    if res.get("per_class_top1"):
        per = res["per_class_top1"]
        fig, ax = plt.subplots(figsize=(12, 4))
        ax.bar(range(len(per)), list(per.values()))
        ax.set_xticks(range(len(per)), list(per.keys()), rotation=90, fontsize=6)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("top-1")
        ax.set_title(f"{prefix}: per-class accuracy")
        fig.tight_layout()
        paths.append(out_dir / f"{prefix}_per_class.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    curve = online_curve or res.get("online_top1")
    if curve:
        xs = sorted(float(k) for k in curve)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(xs, [curve[str(x)] if str(x) in curve else curve[x] for x in xs], "o-", label="online (prefix)")
        if res.get("top1") is not None:
            ax.axhline(res["top1"], color="gray", ls="--", label="whole sequence")
        ax.set_xlabel("observed time (s)")
        ax.set_ylabel("top-1")
        ax.set_ylim(0, 1.0)
        ax.legend()
        ax.set_title(f"{prefix}: online accuracy")
        fig.tight_layout()
        paths.append(out_dir / f"{prefix}_online.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def write_model_card(path: str | Path, name: str, info: dict) -> Path:
    """Markdown model card: model, data, split, validation, metrics, licence, how it was made."""
    m = info.get("metrics", {})

    def pct(x):
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"

    lines = [f"# Model card: {name}", "",
             f"- **Task**: action recognition from one hand's 3D joints ({info.get('joint_layout', 'canonical21')} order, metres), "
             f"taxonomy `{info.get('taxonomy')}` ({info.get('num_classes')} classes).",
             f"- **Architecture**: {info.get('architecture')}",
             f"- **Input**: {info.get('input')}",
             f"- **Training data**: {info.get('data')}",
             f"- **Split**: {info.get('split')}",
             f"- **Validation**: {info.get('validation')}",
             f"- **Augmentation**: {info.get('augmentation')}",
             "", "## Metrics", "", "| metric | value |", "| --- | --- |"]
    for k, v in m.items():
        lines.append(f"| {k} | {pct(v) if isinstance(v, float) or v is None else v} |")
    lines += ["", "## Licence", "", LICENCE, "", "## Provenance", "",
              f"- command: `{info.get('command')}`", f"- config: `{info.get('config')}`",
              f"- training time: {info.get('seconds')} s on {info.get('threads')} CPU thread(s)", ""]
    path = Path(path)
    path.write_text("\n".join(lines))
    return path
