"""Forecasting / recognition metrics (numpy): MPJPE-RA, PA-MPJPE, ADE/FDE per horizon (mean and
best of K), APD over K samples, FID on recognition features, top-1 accuracy.

Shapes: joints (..., 21, 3) metres; ``valid`` masks (..., 21) select measured joints (missing or
imputed joints do not count). Errors are returned in metres.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

PALM_BONES = ((0, 5), (0, 9), (0, 13), (0, 17), (5, 9), (9, 13), (13, 17))


def _masked_mean(x: np.ndarray, m: np.ndarray) -> float:
    m = m.astype(bool)
    return float(x[m].mean()) if m.any() else float("nan")


def palm_scale(j: np.ndarray) -> np.ndarray:
    """Mean palm bone length (...,) (NaN bones ignored)."""
    L = np.stack([np.linalg.norm(j[..., a, :] - j[..., b, :], axis=-1) for a, b in PALM_BONES], -1)
    return np.nanmean(L, -1)


def mpjpe_ra(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, equalize_scale: bool = True) -> float:
    """Root(wrist)-aligned MPJPE; with ``equalize_scale`` the prediction is scaled so its mean palm
    bone length equals the ground truth's (the G-HTT protocol for hand-scale ambiguity)."""
    valid = np.isfinite(gt).all(-1) & np.isfinite(pred).all(-1) if valid is None else valid
    p = pred - pred[..., :1, :]
    g = gt - gt[..., :1, :]
    if equalize_scale:
        s = palm_scale(gt) / np.maximum(palm_scale(pred), 1e-9)
        p = p * s[..., None, None]
    return _masked_mean(np.linalg.norm(p - g, axis=-1), valid & np.isfinite(gt[..., :1, 0]) & np.isfinite(pred[..., :1, 0]))


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """MPJPE after a similarity Procrustes alignment per hand pose (over its valid joints)."""
    valid = np.isfinite(gt).all(-1) & np.isfinite(pred).all(-1) if valid is None else valid
    P = pred.reshape(-1, 21, 3)
    G = gt.reshape(-1, 21, 3)
    V = valid.reshape(-1, 21)
    errs = []
    for p, g, v in zip(P, G, V):
        if v.sum() < 3:
            continue
        a, b = p[v], g[v]
        ma, mb = a.mean(0), b.mean(0)
        a0, b0 = a - ma, b - mb
        U, S, Vt = np.linalg.svd(a0.T @ b0)
        d = np.sign(np.linalg.det(U @ Vt))
        D = np.diag([1.0, 1.0, d])
        R = (U @ D @ Vt).T
        s = (S * np.diag(D)).sum() / max((a0 ** 2).sum(), 1e-12)
        errs.append(np.linalg.norm(s * a0 @ R.T - b0, axis=-1))
    return float(np.concatenate(errs).mean()) if errs else float("nan")


def ade_fde(samples: np.ndarray, gt: np.ndarray, valid: np.ndarray, horizons: dict[str, int]) -> dict[str, float]:
    """samples (K, F, H, 21, 3), gt (F, H, 21, 3), valid (F, H, 21) -> for each horizon name -> frames:
    ``ade_mean``/``fde_mean`` of the sample mean, ``ade_min``/``fde_min`` best of K (per window)."""
    out: dict[str, float] = {}
    mean = np.nanmean(samples, 0)
    for name, h in horizons.items():
        v = valid[:h]
        e_mean = np.linalg.norm(mean[:h] - gt[:h], axis=-1)
        e_k = np.linalg.norm(samples[:, :h] - gt[None, :h], axis=-1)  # (K, h, H, 21)
        out[f"ade_mean@{name}"] = _masked_mean(e_mean, v)
        out[f"fde_mean@{name}"] = _masked_mean(e_mean[-1], v[-1])
        if v.any():
            ade_k = [(_masked_mean(e, v)) for e in e_k]
            fde_k = [(_masked_mean(e[-1], v[-1])) for e in e_k]
            out[f"ade_min@{name}"] = float(np.nanmin(ade_k)) if np.isfinite(ade_k).any() else float("nan")
            out[f"fde_min@{name}"] = float(np.nanmin(fde_k)) if np.isfinite(fde_k).any() else float("nan")
        else:
            out[f"ade_min@{name}"] = out[f"fde_min@{name}"] = float("nan")
    return out


def apd(samples: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Average pairwise distance between K samples (K, F, ..., 21, 3): mean over pairs of the mean
    per-joint distance (0 for K < 2)."""
    K = samples.shape[0]
    if K < 2:
        return 0.0
    d = []
    for i in range(K):
        for j in range(i + 1, K):
            e = np.linalg.norm(samples[i] - samples[j], axis=-1)
            m = np.isfinite(e) if valid is None else (valid & np.isfinite(e))
            d.append(_masked_mean(np.nan_to_num(e), m))
    return float(np.nanmean(d))


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """FID between feature sets a (N, D), b (M, D): |mu_a - mu_b|^2 + Tr(Sa + Sb - 2 (Sa Sb)^1/2)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1 = np.cov(a, rowvar=False) + eps * np.eye(a.shape[1])
    s2 = np.cov(b, rowvar=False) + eps * np.eye(b.shape[1])
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = (covmean[0] if isinstance(covmean, tuple) else covmean).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def top1(probs_or_logits: np.ndarray, targets: np.ndarray) -> float:
    return float((np.asarray(probs_or_logits).argmax(-1) == np.asarray(targets)).mean())


# -- baselines -----------------------------------------------------------------------------------
def zero_velocity(obs: np.ndarray, horizon: int) -> np.ndarray:
    """Hold the last observed frame: (1, horizon, ...)."""
    return np.repeat(obs[-1:][None], horizon, axis=1)


def constant_velocity(obs: np.ndarray, horizon: int, window: int = 4) -> np.ndarray:
    """Per-joint constant velocity from a least-squares line over the last ``window`` frames."""
    w = min(window, len(obs))
    y = obs[-w:]
    if w < 2:
        return zero_velocity(obs, horizon)
    t = np.arange(w) - (w - 1)
    tc = t - t.mean()
    v = np.tensordot(tc, y - y.mean(0), axes=(0, 0)) / (tc ** 2).sum()
    steps = np.arange(1, horizon + 1).reshape((-1,) + (1,) * (obs.ndim - 1))
    return (obs[-1][None] + steps * v[None])[None]
