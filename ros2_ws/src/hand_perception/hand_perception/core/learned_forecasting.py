"""Learned motion forecasters behind the :class:`MotionForecaster` interface: G-HTT (paths P.a /
P.b, action recognition by the nearest label embedding) and the diffusion forecaster.

:class:`LearnedMotionForecaster`:

* **History**: per side, the hand of each frame (the one continuing the current track id, else the
  most confident; a new track id clears the side); bridged hands (``is_observed=False``) are kept
  when ``use_unobserved``; invalid hands are dropped with a warning; stamps that go backwards or
  repeat reset the history. Only the last ``history_s`` is kept.
* **Resampling** to the model's rate: the observation window is ``obs_frames`` frames at the
  model fps ending at the latest frame; each side's joints are linearly interpolated between its
  samples; a grid time before the side's first sample, after its last, or inside a gap longer than
  ``max_gap_s`` is **missing** (NaN), and the model sees the hand as absent there (explicit masks).
  A side whose last sample is older than ``max_staleness_s`` is not forecast.
* **Samples**: K futures at the model rate, resampled to ``time_step_s`` up to ``horizon_s``
  (step t at ``stamp + (t + 1) * time_step_s``); every sample has probability 1/K; ``mean`` is the
  average of the samples' joints. Wrist position = forecast wrist joint; wrist orientation = the
  observed orientation moved by the forecast palm rotation; MANO ``hand_pose`` is NaN (the models
  forecast joints). Forecasts are recomputed at most ``rate_hz`` times per second of stream time
  (0 = every call) and the seed makes them reproducible.
* **Actions** (G-HTT only): one :class:`ActionEstimate` for both hands (``side=None``) over the
  observed window, labels of the checkpoint's taxonomy ranked by the softmax of cosine similarity
  / tau between mu^A and the label embeddings.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .filters import normalize_quaternions
from .forecasting import MotionForecaster
from .types import SIDES, ActionEstimate, ActionHypothesis, BimanualForecast, ForecastSample, HandState, HandTrajectory

__all__ = ["LearnedForecastConfig", "LearnedMotionForecaster", "LEARNED_MODELS", "make_learned_forecaster",
           "hand_state_from_joints"]

logger = logging.getLogger(__name__)

#: names accepted by :func:`make_learned_forecaster` (and as ``ForecastSection.model``)
LEARNED_MODELS = ("ghtt", "ghtt_pa", "ghtt_pb", "diffusion")


@dataclass
class LearnedForecastConfig:
    checkpoint: str = ""
    #: "pa" (G-HTT pose block, autoregressive), "pb" (action block then pose decoder); ignored for diffusion
    path: str = "pa"
    num_samples: int = 20
    horizon_s: float = 1.0
    time_step_s: float = 0.1
    history_s: float = 2.0
    #: frames of the observation at the model rate (0 = the model's own: t for P.a / diffusion; up to
    #: history for P.b / actions)
    obs_frames: int = 0
    sample_scale: float | None = None
    max_staleness_s: float = 0.25
    max_gap_s: float = 0.2
    use_unobserved: bool = True
    rate_hz: float = 0.0
    seed: int = 0
    top_k_actions: int = 5


def _palm_rotations(joints: np.ndarray, side: str) -> np.ndarray:
    """Palm rotations (N, 3, 3) of joints (N, 21, 3): Kabsch of the side's template palm joints."""
    from hand_models.networks.ghtt.representation import PALM_JOINTS, kabsch_batch, template_joints

    idx = list(PALM_JOINTS)
    t = template_joints(side)[idx]
    pj = joints[:, idx]
    v = np.isfinite(pj).all(-1).astype(float)
    return kabsch_batch(np.broadcast_to(t, pj.shape), np.nan_to_num(pj), v)[:, :3, :3]


def _palm_rotation(joints: np.ndarray, side: str) -> np.ndarray:
    return _palm_rotations(joints[None], side)[0]


def hand_state_from_joints(side: str, joints: np.ndarray, track_id: int = 0, confidence: float = 1.0) -> HandState:
    """A :class:`HandState` from 21 metric joints only (wrist orientation = palm frame of the template)."""
    joints = np.asarray(joints, dtype=np.float64)
    q = Rotation.from_matrix(_palm_rotation(joints, side)).as_quat()
    return HandState(side=side, track_id=track_id, confidence=confidence, keypoints_2d=np.zeros((21, 2)),
                     keypoint_confidence=np.ones(21), joints=joints, wrist_position=joints[0].copy(),
                     wrist_orientation_xyzw=q, mano=None, bbox=np.zeros(4))


@dataclass
class _Obs:
    stamp_ns: int
    track_id: int
    joints: np.ndarray
    quat: np.ndarray


class LearnedMotionForecaster(MotionForecaster):
    """G-HTT or diffusion forecaster from a checkpoint (see module docstring)."""

    def __init__(self, config: LearnedForecastConfig | None = None, predictor=None, taxonomy: str | None = None) -> None:
        self.config = cfg = config or LearnedForecastConfig()
        if predictor is None:
            if not cfg.checkpoint:
                raise ValueError("LearnedForecastConfig.checkpoint is required (a G-HTT or diffusion .pt file)")
            predictor, taxonomy = _load_predictor(cfg.checkpoint)
        self.predictor = predictor
        self.kind = "diffusion" if type(predictor).__name__ == "DiffusionPredictor" else "ghtt"
        self.taxonomy = taxonomy or getattr(getattr(predictor, "model", None), "taxonomy", "actions")
        self._history: dict[str, deque[_Obs]] = {s: deque() for s in SIDES}
        self._last_stamp_ns: int | None = None
        self._frame_id = ""
        self._cache: tuple[int, BimanualForecast | None] | None = None
        self._last_compute_ns: int | None = None
        self._calls = 0
        self.last_warnings: list[str] = []

    # -- interface ----------------------------------------------------------------------------------
    def reset(self) -> None:
        for h in self._history.values():
            h.clear()
        self._last_stamp_ns = None
        self._cache = None
        self._last_compute_ns = None

    def observe(self, stamp_ns: int, frame_id: str, hands: list[HandState]) -> None:
        self.last_warnings = []
        stamp_ns = self._accept_stamp(stamp_ns, "learned forecaster")
        if stamp_ns is None:
            return
        self._frame_id = str(frame_id)
        by_side = self._hands_by_side(hands, "learned forecaster")
        keep_ns = int(self.config.history_s * 1e9)
        for side in SIDES:
            hist = self._history[side]
            if by_side[side]:
                cands = by_side[side]
                same = [h for h in cands if hist and int(h.track_id) == hist[-1].track_id]
                hand = max(same or cands, key=lambda h: float(h.confidence))
                if hist and hist[-1].track_id != int(hand.track_id):
                    hist.clear()
                hist.append(_Obs(stamp_ns, int(hand.track_id), np.array(hand.joints, dtype=np.float64),
                                 normalize_quaternions(np.asarray(hand.wrist_orientation_xyzw, dtype=np.float64))))
            while hist and stamp_ns - hist[0].stamp_ns > keep_ns:
                hist.popleft()

    # -- resampling ----------------------------------------------------------------------------------
    def _obs_frames(self) -> int:
        p = self.predictor
        if self.config.obs_frames > 0:
            return self.config.obs_frames
        if self.kind == "ghtt" and self.config.path == "pb":
            t = p.cfg.clip_len
            return max(t, min(p.cfg.max_clips, int(self.config.history_s * p.fps) // t) * t)
        return p.obs_len

    def window(self, frames: int | None = None) -> tuple[np.ndarray, dict[str, _Obs]] | None:
        """Observed joints (L, 2, 21, 3) on the model-rate grid ending at the latest stamp, and the
        last sample of each side that is forecast."""
        if self._last_stamp_ns is None:
            return None
        fps = self.predictor.fps
        L = frames or self._obs_frames()
        t_grid = self._last_stamp_ns * 1e-9 - (L - 1 - np.arange(L)) / fps
        out = np.full((L, 2, 21, 3), np.nan)
        last: dict[str, _Obs] = {}
        for s, side in enumerate(SIDES):
            hist = self._history[side]
            if not hist or (self._last_stamp_ns - hist[-1].stamp_ns) * 1e-9 > self.config.max_staleness_s:
                continue
            ts = np.array([o.stamp_ns * 1e-9 for o in hist])
            js = np.stack([o.joints for o in hist])
            # a stale-but-allowed side is held at its last sample up to the latest stamp
            if ts[-1] < t_grid[-1]:
                ts = np.append(ts, t_grid[-1])
                js = np.concatenate([js, js[-1:]])
            k = np.searchsorted(ts, t_grid, side="right") - 1
            ok = (k >= 0) & (t_grid <= ts[-1] + 1e-9)
            k0 = np.clip(k, 0, len(ts) - 1)
            k1 = np.clip(k0 + 1, 0, len(ts) - 1)
            gap = ts[k1] - ts[k0]
            ok &= (gap <= self.config.max_gap_s) | (k1 == k0)
            w = np.where(gap > 0, (t_grid - ts[k0]) / np.maximum(gap, 1e-12), 0.0).clip(0, 1)
            vals = (1 - w)[:, None, None] * js[k0] + w[:, None, None] * js[k1]
            out[ok, s] = vals[ok]
            last[side] = hist[-1]
        return out, last

    # -- outputs -------------------------------------------------------------------------------------
    def forecast(self) -> BimanualForecast | None:
        if self._last_stamp_ns is None:
            return None
        cfg = self.config
        if self._cache is not None and self._cache[0] == self._last_stamp_ns:
            return self._cache[1]
        if (self._cache is not None and cfg.rate_hz > 0 and self._last_compute_ns is not None
                and (self._last_stamp_ns - self._last_compute_ns) * 1e-9 < 1.0 / cfg.rate_hz):
            return self._cache[1]
        result = self._compute()
        self._cache = (self._last_stamp_ns, result)
        self._last_compute_ns = self._last_stamp_ns
        return result

    def _compute(self) -> BimanualForecast | None:
        import torch

        cfg = self.config
        win = self.window()
        if win is None:
            return None
        obs, last = win
        if not last:
            return None
        fps = self.predictor.fps
        n_out = max(1, int(round(cfg.horizon_s / cfg.time_step_s)))
        need = int(math.ceil(n_out * cfg.time_step_s * fps - 1e-9))
        gen = torch.Generator().manual_seed(cfg.seed + self._calls)
        self._calls += 1
        try:
            kw = dict(num_samples=cfg.num_samples, generator=gen)
            if self.kind == "ghtt":
                kw.update(path=cfg.path, sample_scale=cfg.sample_scale)
            fut = self.predictor.forecast(obs, need, **kw)  # (K, need, 2, 21, 3)
        except ValueError as exc:
            self._warn(f"learned forecaster: no forecast ({exc})")
            return None
        # resample model frames (frame f at (f + 1) / fps; time 0 = the last observation) to the output grid
        t_model = np.arange(0, need + 1) / fps
        t_out = (np.arange(n_out) + 1) * cfg.time_step_s
        K = fut.shape[0]
        full = np.concatenate([np.repeat(obs[-1:][None], K, 0), fut], 1)  # (K, need + 1, 2, 21, 3)
        pos = np.clip(t_out * fps, 0, need)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, need)
        w = (pos - i0)[None, :, None, None, None]
        res = (1 - w) * full[:, i0] + w * full[:, i1]  # (K, n_out, 2, 21, 3)
        allj = np.concatenate([res, res.mean(0)[None]])  # (K + 1, n_out, 2, 21, 3): samples, then the mean
        hands = self._trajectories(allj, obs[-1], last)
        samples = [ForecastSample(probability=1.0 / K, hands=[h[k] for h in hands]) for k in range(K)]
        mean = ForecastSample(probability=1.0, hands=[h[K] for h in hands])
        return BimanualForecast(stamp_ns=self._last_stamp_ns, frame_id=self._frame_id, time_step_s=cfg.time_step_s,
                                horizon_s=n_out * cfg.time_step_s, samples=samples, mean=mean)

    def _trajectories(self, joints: np.ndarray, obs_last: np.ndarray, last: dict[str, _Obs]) -> list[list[HandTrajectory]]:
        """joints (S, n, 2, 21, 3) of S futures -> per forecast side, S trajectories (a side is left out
        when any of its future joints is not finite). One batched palm fit for all futures."""
        out = []
        S, n = joints.shape[:2]
        for s, side in enumerate(SIDES):
            if side not in last or not np.isfinite(joints[:, :, s]).all():
                continue
            R0 = _palm_rotation(obs_last[s], side)
            Rt = _palm_rotations(joints[:, :, s].reshape(S * n, 21, 3), side)
            quats = (Rotation.from_matrix(Rt @ R0.T) * Rotation.from_quat(last[side].quat)).as_quat().reshape(S, n, 4)
            # sign-continuous from the last observed orientation: flip = running product of step signs
            prev = np.concatenate([np.broadcast_to(last[side].quat, (S, 1, 4)), quats[:, :-1]], 1)
            step = np.where(np.einsum("snc,snc->sn", quats, prev) < 0, -1.0, 1.0)
            quats = quats * np.cumprod(step, axis=1)[..., None]
            nan_pose = np.full((n, 45), np.nan)
            out.append([HandTrajectory(side=side, wrist_position=joints[k, :, s, 0].copy(), wrist_orientation_xyzw=quats[k],
                                       joints=joints[k, :, s].copy(), hand_pose=nan_pose.copy()) for k in range(S)])
        return out

    def actions(self) -> list[ActionEstimate]:
        if self.kind != "ghtt" or self._last_stamp_ns is None or not getattr(self.predictor.model, "labels", None):
            return []
        p = self.predictor
        t = p.cfg.clip_len
        frames = max(t, min(p.cfg.max_clips, int(self.config.history_s * p.fps) // t) * t)
        win = self.window(frames)
        if win is None or not win[1]:
            return []
        obs, _ = win
        present = np.isfinite(obs).all(-1).any(-1).any(-1)
        first = int(np.argmax(present)) if present.any() else len(obs)
        n = max(1, (len(obs) - first) // t)
        obs = obs[-n * t:]
        try:
            probs = p.recognize(obs)
        except ValueError as exc:
            self._warn(f"learned forecaster: no action estimate ({exc})")
            return []
        order = np.argsort(-probs)[: self.config.top_k_actions]
        labels = p.model.labels
        hyps = []
        for i in order:
            lab = labels[i]
            words = lab.replace("_", " ").split(" ", 1)
            hyps.append(ActionHypothesis(label=lab, probability=float(probs[i]), verb=words[0],
                                         noun=words[1] if len(words) > 1 else ""))
        start = self._last_stamp_ns - int(round((len(obs) - 1) / p.fps * 1e9))
        return [ActionEstimate(stamp_ns=self._last_stamp_ns, frame_id=self._frame_id, taxonomy=self.taxonomy,
                               hypotheses=hyps, window_start_ns=start, window_end_ns=self._last_stamp_ns, side=None,
                               is_forecast=False)]


def _load_predictor(path: str):
    from hand_models.networks.ghtt.predict import DiffusionPredictor, GHTTPredictor, load_any

    if not Path(path).exists():
        raise FileNotFoundError(f"forecaster checkpoint {path} not found")
    kind, model = load_any(path)
    if kind == "diffusion":
        return DiffusionPredictor(model), None
    return GHTTPredictor(model), getattr(model, "taxonomy", "actions")


def make_learned_forecaster(name: str, checkpoint: str, **overrides) -> LearnedMotionForecaster:
    """Forecaster for a ``ForecastSection.model`` name in :data:`LEARNED_MODELS` ('ghtt' = 'ghtt_pa')."""
    if name not in LEARNED_MODELS:
        raise ValueError(f"unknown learned forecaster {name!r}; known: {LEARNED_MODELS}")
    path = {"ghtt": "pa", "ghtt_pa": "pa", "ghtt_pb": "pb", "diffusion": "pa"}[name]
    cfg = LearnedForecastConfig(checkpoint=checkpoint, path=path, **overrides)
    fc = LearnedMotionForecaster(cfg)
    if name == "diffusion" and fc.kind != "diffusion":
        raise ValueError(f"{checkpoint} is a G-HTT checkpoint, not a diffusion forecaster")
    if name.startswith("ghtt") and fc.kind != "ghtt":
        raise ValueError(f"{checkpoint} is a diffusion checkpoint, not G-HTT")
    return fc
