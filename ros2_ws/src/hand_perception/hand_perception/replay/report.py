"""Report folder of a replay: ``metrics.json`` plus PNG plots (matplotlib, Agg backend).

Plots (each only when its data exists): ``latency_histogram.png``, ``per_joint_error.png``,
``error_over_time.png``, ``pck_curve.png``, ``forecast_error_vs_horizon.png``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hand_perception.replay.evaluate import json_ready


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def write_metrics(metrics: dict[str, Any], path: str | os.PathLike) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(json_ready(metrics), indent=2, sort_keys=False, allow_nan=False), encoding="utf-8")
    os.replace(tmp, p)
    return p


def write_report(metrics: dict[str, Any], series: dict[str, Any], folder: str | os.PathLike) -> list[Path]:
    """Write ``metrics.json`` and the plots into ``folder``; returns the written files."""
    from hand_models.joints import JOINT_NAMES

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    written = [write_metrics(metrics, out / "metrics.json")]

    def save(fig, name: str, bottom: float = 0.14) -> None:
        fig.subplots_adjust(left=0.11, right=0.97, top=0.9, bottom=bottom)  # cheaper than tight_layout
        path = out / name
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    lat = np.asarray(series.get("latency_s", []), dtype=np.float64) * 1e3
    if lat.size:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        ax.hist(lat, bins=min(50, max(5, lat.size // 4)), color="#4c72b0")
        for q, style in ((50, "--"), (99, ":")):
            v = float(np.percentile(lat, q))
            ax.axvline(v, color="k", linestyle=style, label=f"p{q} {v:.1f} ms")
        ax.set_xlabel("per-frame latency (ms)")
        ax.set_ylabel("frames")
        ax.set_title(f"Latency ({lat.size} frames)")
        ax.legend()
        save(fig, "latency_histogram.png")

    pj = series.get("per_joint_error_m")
    if pj is not None and len(pj):
        fig, ax = plt.subplots(figsize=(9, 3.8))
        x = np.arange(len(pj))
        ax.bar(x - 0.2, np.asarray(pj) * 1e3, width=0.4, label="camera frame")
        ra = series.get("per_joint_error_ra_m")
        if ra is not None:
            ax.bar(x + 0.2, np.asarray(ra) * 1e3, width=0.4, label="wrist aligned")
        ax.set_xticks(x)
        ax.set_xticklabels(JOINT_NAMES[: len(pj)], rotation=70, fontsize=7)
        ax.set_ylabel("mean error (mm)")
        ax.set_title("Per-joint 3D error")
        ax.legend()
        save(fig, "per_joint_error.png", bottom=0.3)

    tm = series.get("time_mpjpe_m")
    if tm is not None and len(tm):
        fig, ax = plt.subplots(figsize=(8, 3.6))
        frames = np.asarray(series["time_frame"])
        sides = np.asarray(series["time_side"])
        for side, colour in (("left", "#1f77b4"), ("right", "#d62728")):
            m = sides == side
            if m.any():
                ax.plot(frames[m], np.asarray(tm)[m] * 1e3, ".-", color=colour, label=f"{side} MPJPE", lw=0.8, ms=3)
                ax.plot(frames[m], np.asarray(series["time_mpjpe_ra_m"])[m] * 1e3, ":", color=colour,
                        label=f"{side} wrist-aligned", lw=0.8)
        ax.set_xlabel("frame")
        ax.set_ylabel("error (mm)")
        ax.set_title("3D error over time")
        ax.legend(fontsize=8)
        save(fig, "error_over_time.png")

    pc = series.get("pck_curve")
    if pc is not None and len(pc):
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.plot(series["pck_curve_px"], np.asarray(pc) * 100)
        ax.set_xlabel("threshold (px)")
        ax.set_ylabel("PCK (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.set_title("2D PCK (visible keypoints)")
        save(fig, "pck_curve.png")

    fh = series.get("forecast_horizon_s")
    if fh is not None and len(fh):
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for key, label, style in (("forecast_mpjpe_m", "mean sample MPJPE", "o-"),
                                  ("forecast_min_k_m", "best of K MPJPE", "s--"),
                                  ("forecast_wrist_m", "mean sample wrist", "^-"),
                                  ("forecast_static_m", "static baseline MPJPE", "x:")):
            v = series.get(key)
            if v is not None and np.isfinite(np.asarray(v, dtype=np.float64)).any():
                ax.plot(fh, np.asarray(v) * 1e3, style, label=label, ms=4)
        ax.set_xlabel("horizon (s)")
        ax.set_ylabel("error (mm)")
        ax.set_title("Forecast error against horizon")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, "forecast_error_vs_horizon.png")
    return written


__all__ = ["write_metrics", "write_report"]
