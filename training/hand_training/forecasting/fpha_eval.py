"""Forecast evaluation on real motion windows (FPHA protocol: observe 0.5 s, forecast 1 s).

Windows: every ``stride_s`` seconds of a sequence resampled to 30 fps, observation = the last
``OBS`` + 1 frames up to the anchor frame ``a`` (inclusive), future = the next ``FUT`` frames;
a window is used when the hand is present at the anchor and its future has measured joints. NaN
joints are allowed in the observation (the methods see them as missing) and never scored.

A *method* is a callable ``obs (OBS + 1, 2, 21, 3) metres -> samples (K, FUT, 2, 21, 3)``.

Metrics per method (mm): ``ade_mean@0.5s``, ``fde_mean@0.5s``, ``ade_mean@1.0s``,
``fde_mean@1.0s`` of the mean of the samples; ``ade_min@1.0s`` / ``fde_min@1.0s`` best of K; the
mean error of the sample mean by horizon frame (``ade_by_frame``, for plots); ``coverage_5_95``:
how often a true joint coordinate lies inside the 5-95 % band of the K samples' values (ideal
0.90; a method with one sample covers nothing), also by horizon frame; ``apd``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..datasets_motion.common import MotionSequence, resample
from . import metrics as M

FPS = 30.0
OBS = 15  # 0.5 s at 30 fps: the observation is OBS + 1 frames ending at the anchor
FUT = 30  # 1 s
HORIZONS = {"0.5s": 15, "1.0s": 30}

Method = Callable[[np.ndarray], np.ndarray]


@dataclass
class Window:
    name: str
    obs: np.ndarray  # (OBS + 1, 2, 21, 3)
    gt: np.ndarray  # (FUT, 2, 21, 3)
    valid: np.ndarray  # (FUT, 2, 21)


def windows(seqs: list[MotionSequence], stride_s: float = 0.25, obs: int = OBS, fut: int = FUT) -> Iterator[Window]:
    """Forecast windows of the sequences (resampled to 30 fps); too short sequences give none."""
    step = max(1, int(round(stride_s * FPS)))
    for s in seqs:
        j, imp = resample(s.joints, s.fps, FPS, s.imputed)
        valid = np.isfinite(j).all(-1) & ~imp
        for a in range(obs, len(j) - fut, step):
            palm = valid[a][:, [0, 5, 9, 13, 17]].all(-1)
            if not palm.any() or not valid[a + 1:a + 1 + fut].any():
                continue
            yield Window(f"{s.name}@{a}", j[a - obs:a + 1], j[a + 1:a + 1 + fut], valid[a + 1:a + 1 + fut])


def coverage(samples: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per future frame: (inside count, total count) of valid true coordinates inside the samples'
    5-95 % band. samples (K, F, H, 21, 3), gt (F, H, 21, 3), valid (F, H, 21)."""
    if samples.shape[0] < 2:
        n = valid.sum((1, 2)) * 3
        return np.zeros(len(gt)), n.astype(float)
    lo, hi = np.nanpercentile(samples, 5, axis=0), np.nanpercentile(samples, 95, axis=0)
    inside = (gt >= lo) & (gt <= hi) & valid[..., None]
    return inside.sum((1, 2, 3)).astype(float), (valid.sum((1, 2)) * 3).astype(float)


def zero_velocity(obs: np.ndarray) -> np.ndarray:
    return M.zero_velocity(obs, FUT)


def constant_velocity(obs: np.ndarray) -> np.ndarray:
    return M.constant_velocity(obs, FUT)


def evaluate(wins: list[Window], methods: dict[str, Method], progress: bool = False) -> dict[str, dict]:
    """Metrics of every method on the same windows (see module doc); values in mm."""
    from tqdm import tqdm

    rows: dict[str, list[dict]] = {n: [] for n in methods}
    by_frame = {n: [np.zeros(FUT), np.zeros(FUT)] for n in methods}
    cov = {n: [np.zeros(FUT), np.zeros(FUT)] for n in methods}
    failures: dict[str, int] = {n: 0 for n in methods}
    for w in tqdm(wins, desc="windows", disable=not progress, leave=False):
        with warnings.catch_warnings():  # the absent hand is all-NaN in every sample: expected
            warnings.simplefilter("ignore", RuntimeWarning)
            _score_window(w, methods, rows, by_frame, cov, failures)
    return _summarise(rows, by_frame, cov, failures)


def _score_window(w: Window, methods: dict[str, Method], rows, by_frame, cov, failures) -> None:
    for name, fn in methods.items():
        try:
            p = fn(w.obs)
        except ValueError:
            failures[name] += 1
            continue
        r = M.ade_fde(p, w.gt, w.valid, HORIZONS)
        r["apd"] = M.apd(p, w.valid)
        rows[name].append(r)
        e = np.linalg.norm(np.nanmean(p, 0) - w.gt, axis=-1)  # (F, H, 21)
        ok = w.valid & np.isfinite(e)
        by_frame[name][0] += np.where(ok, e, 0).sum((1, 2))
        by_frame[name][1] += ok.sum((1, 2))
        c, n = coverage(p, w.gt, w.valid)
        cov[name][0] += c
        cov[name][1] += n


def _summarise(rows, by_frame, cov, failures) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, rs in rows.items():
        if not rs:
            out[name] = {"windows": 0, "failed_windows": failures[name]}
            continue
        res = {k: float(np.nanmean([r[k] for r in rs])) * 1000.0 for k in rs[0]}
        res["windows"] = len(rs)
        res["failed_windows"] = failures[name]
        res["ade_by_frame_mm"] = (by_frame[name][0] / np.maximum(by_frame[name][1], 1) * 1000.0).round(2).tolist()
        c, n = cov[name]
        res["coverage_5_95"] = float(c.sum() / max(n.sum(), 1))
        res["coverage_5_95@0.5s"] = float(c[HORIZONS["0.5s"] - 1] / max(n[HORIZONS["0.5s"] - 1], 1))
        res["coverage_5_95@1.0s"] = float(c[-1] / max(n[-1], 1))
        res["coverage_by_frame"] = (c / np.maximum(n, 1)).round(3).tolist()
        out[name] = res
    return out


def plot_report(results: dict[str, dict], path: str, title: str = "") -> str | None:
    """ADE of the sample mean by horizon and spread calibration (coverage of the 5-95 % band)
    by horizon, one line per method -> PNG at ``path`` (None when matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    t = np.arange(1, FUT + 1) / FPS
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
        if "ade_by_frame_mm" not in r:
            continue
        ax[0].plot(t, r["ade_by_frame_mm"], label=name)
        ax[1].plot(t, r["coverage_by_frame"], label=name)
    ax[0].set(xlabel="horizon (s)", ylabel="mean joint error of the sample mean (mm)", title="error by horizon")
    ax[1].axhline(0.9, color="k", ls="--", lw=0.8)
    ax[1].set(xlabel="horizon (s)", ylabel="truth inside the samples' 5-95 % band", title="spread calibration (ideal 0.9)",
              ylim=(0, 1))
    ax[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
