"""Hand pose and motion metrics used by the papers (numpy, metres in, millimetres out unless noted).

* ``mpjpe`` / ``pa_mpjpe``: mean per-joint position error, raw and after Procrustes (similarity)
  alignment per frame.
* ``auc_j``: area under the PCK curve of (PA-aligned) joint errors over [0, max_mm] (DexYCB /
  HO3D style), normalised to [0, 1].
* ``f_score``: F@5 / F@15 between point sets (HO3D uses mesh vertices; thresholds in mm).
* ``g_mpjpe`` / ``ga_mpjpe``: world-frame errors after aligning the whole predicted sequence to the
  truth with one similarity transform estimated from the first two frames (G) or all frames (GA)
  (Ye et al. 2023).
* ``accel_error``: mean norm of the difference of second differences (mm / frame^2).
"""

from __future__ import annotations

import numpy as np


def similarity_transform(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """s, R, t minimising ||s R src + t - dst|| over points (P, 3) (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, 1.0, d])
    R = U @ D @ Vt
    s = float((S * np.diag(D)).sum() / max((a ** 2).sum(), 1e-12)) if scale else 1.0
    return s, R, mu_d - s * R @ mu_s


def _align_frames(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    out = np.empty_like(pred, dtype=np.float64)
    for i in range(pred.shape[0]):
        s, R, t = similarity_transform(pred[i], gt[i])
        out[i] = s * pred[i] @ R.T + t
    return out


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(-1, x.shape[-2], 3)


def per_joint_errors(pred, gt, aligned: bool = False) -> np.ndarray:
    """(F, J) errors in mm; ``aligned`` applies per-frame Procrustes first."""
    p, g = _flat(pred), _flat(gt)
    if aligned:
        p = _align_frames(p, g)
    return np.linalg.norm(p - g, axis=-1) * 1000.0


def mpjpe(pred, gt) -> float:
    return float(per_joint_errors(pred, gt).mean())


def pa_mpjpe(pred, gt) -> float:
    return float(per_joint_errors(pred, gt, aligned=True).mean())


def auc_j(pred, gt, max_mm: float = 20.0, steps: int = 100, aligned: bool = True) -> float:
    """Area under the PCK curve for thresholds 0..max_mm, normalised to 1."""
    err = per_joint_errors(pred, gt, aligned).reshape(-1)
    th = np.linspace(0.0, max_mm, steps)
    pck = (err[None] <= th[:, None]).mean(1)
    return float(np.trapezoid(pck, th) / max_mm) if hasattr(np, "trapezoid") else float(np.trapz(pck, th) / max_mm)


def f_score(pred_points, gt_points, threshold_mm: float, aligned: bool = True) -> float:
    """Mean F-score over frames between point sets (F, P, 3) at a distance threshold (mm)."""
    p, g = _flat(pred_points), _flat(gt_points)
    if aligned:
        p = _align_frames(p, g)
    th = threshold_mm / 1000.0
    scores = []
    for a, b in zip(p, g):
        d = np.linalg.norm(a[:, None] - b[None], axis=-1)
        prec = (d.min(1) < th).mean()
        rec = (d.min(0) < th).mean()
        scores.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    return float(np.mean(scores))


def _sequence_aligned(pred: np.ndarray, gt: np.ndarray, frames: slice) -> np.ndarray:
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    s, R, t = similarity_transform(p[frames].reshape(-1, 3), g[frames].reshape(-1, 3))
    return s * p @ R.T + t


def g_mpjpe(pred, gt) -> float:
    """MPJPE (mm) after aligning the sequence (T, J, 3) with the transform fitted on its first two frames."""
    return float(np.linalg.norm(_sequence_aligned(pred, gt, slice(0, 2)) - gt, axis=-1).mean() * 1000.0)


def ga_mpjpe(pred, gt) -> float:
    """MPJPE (mm) after aligning the whole sequence (T, J, 3) with one similarity transform."""
    return float(np.linalg.norm(_sequence_aligned(pred, gt, slice(None)) - gt, axis=-1).mean() * 1000.0)


def accel_error(pred, gt) -> float:
    """Mean acceleration error (mm / frame^2) of sequences (T, J, 3), T >= 3."""
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    acc = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]  # noqa: E731
    return float(np.linalg.norm(acc(p) - acc(g), axis=-1).mean() * 1000.0)


def summary(pred, gt) -> dict[str, float]:
    """All joint metrics of one sequence (T, 21, 3)."""
    return {
        "mpjpe_mm": mpjpe(pred, gt), "pa_mpjpe_mm": pa_mpjpe(pred, gt), "auc_j_20mm": auc_j(pred, gt),
        "f5": f_score(pred, gt, 5.0), "f15": f_score(pred, gt, 15.0), "g_mpjpe_mm": g_mpjpe(pred, gt),
        "ga_mpjpe_mm": ga_mpjpe(pred, gt), "accel_mm_per_frame2": accel_error(pred, gt),
    }
