"""Learned temporal stage: UniHand over a sliding window of the live stream.

:class:`UniHandTemporalModel` implements :class:`~hand_perception.core.temporal.TemporalModel`.
Per track (keyed like the One-Euro stage: ``track_id``, or the side when it is < 0) it keeps the
last ``window`` frames (48 by default): the detected 2D keypoints, the per-frame metric 3D
joints, and a per-frame mask that is 1 when the hand was detected with confidence >=
``min_confidence`` (occluded / missed frames have mask 0, so the model fills them in).  Each frame
it samples UniHand (DDIM, classifier-free guidance) on the window, conditioned on the 2D and 3D
keypoints, anchored on the per-frame MANO fit of the window's first frame (or, better, on this
stage's own earlier output for that frame), and publishes the window's last frame.

Latency budget: the moving average of the model's run time is compared with
``latency_budget_s``; when it is over, the model only runs every k-th frame (k = ceil(time /
budget)) and the frames in between are published from the One-Euro stage, which is always fed
and so always current.  Model failures also fall back to One-Euro (with a warning).  Tracks
without observations are filled in for up to ``max_gap_s`` (``is_observed=False``, decaying
confidence), then dropped.

Camera: the 2D keypoints are normalised with the intrinsics given to ``set_camera`` (the
estimator knows them); without them, K is estimated per window from the 2D-3D correspondences
(the 3D joints were placed by PnP, so this recovers K closely).  The camera is assumed static
over a window (its first frame is UniHand's canonical space).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .temporal import OneEuroTemporalModel, TemporalConfig, TemporalModel, validate_hand
from .types import HandState, ManoParams

__all__ = ["UniHandTemporalConfig", "UniHandTemporalModel", "estimate_intrinsics"]

logger = logging.getLogger(__name__)


@dataclass
class UniHandTemporalConfig:
    checkpoint: str = ""  # path of a model saved by hand_training (unihand.pt)
    window: int = 48  # frames (at most the model's sequence length)
    min_frames: int = 1  # observed frames needed before the model runs for a track
    min_confidence: float = 0.3  # detections below this count as missing (mask 0)
    keypoint_min_confidence: float = 0.2  # per-joint visibility threshold
    max_gap_s: float = 0.5
    confidence_half_life_s: float = 0.15
    latency_budget_s: float = 0.030  # per frame, all tracks together
    steps: int | None = None  # DDIM steps (None: the model's, 10)
    cfg_scale: float | None = None  # CFG scale (None: the model's, 2)
    seed: int = 0
    fallback: TemporalConfig = field(default_factory=TemporalConfig)


def estimate_intrinsics(uv: np.ndarray, xyz: np.ndarray) -> np.ndarray | None:
    """Least-squares pinhole K (fx, fy, cx, cy) from pixels (P, 2) and camera points (P, 3)."""
    ok = np.isfinite(uv).all(-1) & np.isfinite(xyz).all(-1) & (xyz[:, 2] > 1e-3)
    if ok.sum() < 4:
        return None
    a = xyz[ok, :2] / xyz[ok, 2:3]
    K = np.eye(3)
    for d in range(2):
        A = np.stack([a[:, d], np.ones(ok.sum())], 1)
        sol, *_ = np.linalg.lstsq(A, uv[ok, d], rcond=None)
        if not np.isfinite(sol).all() or sol[0] <= 0:
            return None
        K[d, d], K[d, 2] = sol
    return K


class _Frame:
    __slots__ = ("t", "hand", "observed", "out_x")

    def __init__(self, t: float, hand: HandState | None, observed: bool):
        self.t, self.hand, self.observed, self.out_x = t, hand, observed, None


class _Track:
    def __init__(self, side: str, window: int):
        self.side = side
        self.frames: deque[_Frame] = deque(maxlen=window)
        self.last_obs_t = -math.inf
        self.last_hand: HandState | None = None


class UniHandTemporalModel(TemporalModel):
    """Sliding-window UniHand temporal stage (see the module docstring)."""

    def __init__(self, config: UniHandTemporalConfig | None = None, predictor: Any = None):
        self.config = config or UniHandTemporalConfig()
        if predictor is None:
            from hand_models.networks.unihand.inference import UniHandPredictor, load_checkpoint

            if not self.config.checkpoint or not os.path.isfile(self.config.checkpoint):
                raise FileNotFoundError(f"UniHand checkpoint not found: {self.config.checkpoint!r}")
            predictor = UniHandPredictor(load_checkpoint(self.config.checkpoint), steps=self.config.steps,
                                         cfg_scale=self.config.cfg_scale, seed=self.config.seed)
        self.predictor = predictor
        self.window = min(int(self.config.window), int(predictor.window))
        self.fallback = OneEuroTemporalModel(self.config.fallback)
        self.K: np.ndarray | None = None
        self.image_size: tuple[int, int] | None = None
        self._tracks: dict[Any, _Track] = {}
        self._t0: int | None = None
        self._last_stamp: int | None = None
        self._frame_index = 0
        self.avg_latency_s = 0.0
        self.last_warnings: list[str] = []
        self.stats = {"model_frames": 0, "fallback_frames": 0, "model_errors": 0}

    # ------------------------------------------------------------------ public API
    def set_camera(self, K: np.ndarray, width: int, height: int) -> None:
        self.K = np.asarray(K, dtype=np.float64).reshape(3, 3)
        self.image_size = (int(width), int(height))

    def reset(self) -> None:
        self._tracks.clear()
        self.fallback.reset()
        self._t0 = self._last_stamp = None

    @property
    def stride(self) -> int:
        """Run the model every this many frames (1 while within the latency budget)."""
        b = self.config.latency_budget_s
        return 1 if b <= 0 or self.avg_latency_s <= b else int(math.ceil(self.avg_latency_s / b))

    def update(self, stamp_ns: int, hands: list[HandState]) -> list[HandState]:
        self.last_warnings = []
        fb_out = self.fallback.update(stamp_ns, hands)
        self.last_warnings.extend(self.fallback.last_warnings)
        try:
            stamp_ns = int(stamp_ns)
        except (TypeError, ValueError, OverflowError):
            return fb_out
        if self._last_stamp is not None and stamp_ns <= self._last_stamp:
            self._tracks.clear()
            self._t0 = None
        if self._t0 is None:
            self._t0 = stamp_ns
        self._last_stamp = stamp_ns
        t = (stamp_ns - self._t0) * 1e-9
        fb_by_key = {self._key(h): h for h in fb_out}

        seen: set = set()
        for hand in hands or []:
            if validate_hand(hand) is not None:
                continue  # the fallback already warned
            key = self._key(hand)
            if key in seen:
                continue
            seen.add(key)
            tr = self._tracks.get(key)
            if tr is None or tr.side != hand.side:
                tr = self._tracks[key] = _Track(hand.side, self.window)
            observed = float(hand.confidence) >= self.config.min_confidence
            tr.frames.append(_Frame(t, hand, observed))
            if observed:
                tr.last_obs_t, tr.last_hand = t, hand
        for key in list(self._tracks):
            if key in seen:
                continue
            tr = self._tracks[key]
            if t - tr.last_obs_t > self.config.max_gap_s or tr.last_hand is None:
                del self._tracks[key]
                continue
            tr.frames.append(_Frame(t, None, False))

        run = self._frame_index % self.stride == 0
        self._frame_index += 1
        out: list[HandState] = []
        t_start = time.perf_counter()
        for key, tr in sorted(self._tracks.items(), key=lambda kv: repr(kv[0])):
            if sum(f.observed for f in tr.frames) < self.config.min_frames:
                continue
            hand = None
            if run:
                try:
                    hand = self._run(tr, t)
                    self.stats["model_frames"] += 1
                except Exception as exc:  # never kill the stream
                    self.stats["model_errors"] += 1
                    msg = f"unihand: model failed for track {key!r} ({exc}); One-Euro output used"
                    logger.warning(msg)
                    self.last_warnings.append(msg)
            if hand is None:
                hand = fb_by_key.get(key)
                if hand is not None:
                    self.stats["fallback_frames"] += 1
            if hand is not None:
                out.append(hand)
        if run and self._tracks:
            dt = time.perf_counter() - t_start
            self.avg_latency_s = dt if self.avg_latency_s == 0 else 0.8 * self.avg_latency_s + 0.2 * dt
        # observed hands first (input order), then filled-in ones
        out.sort(key=lambda h: not h.is_observed)
        return out

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _key(hand: HandState) -> Any:
        tid = int(hand.track_id)
        return tid if tid >= 0 else ("side", hand.side)

    def _camera(self, frames: list[_Frame]) -> tuple[np.ndarray, tuple[int, int]]:
        if self.K is not None:
            size = self.image_size or (int(round(2 * self.K[0, 2])), int(round(2 * self.K[1, 2])))
            return self.K, size
        obs = [f.hand for f in frames if f.observed]
        uv = np.concatenate([np.asarray(h.keypoints_2d, np.float64) for h in obs])
        xyz = np.concatenate([np.asarray(h.joints, np.float64) for h in obs])
        K = estimate_intrinsics(uv, xyz)
        if K is None:
            raise ValueError("no intrinsics (call set_camera) and they cannot be estimated")
        return K, (int(round(2 * K[0, 2])), int(round(2 * K[1, 2])))

    def _run(self, tr: _Track, t: float) -> HandState:
        frames = list(tr.frames)
        T = len(frames)
        K, size = self._camera(frames)
        kp2d = np.zeros((T, 21, 2))
        kp3d = np.zeros((T, 21, 3))
        vis = np.zeros((T, 21))
        mask = np.zeros(T)
        for i, f in enumerate(frames):
            if f.observed and f.hand is not None:
                kp2d[i] = f.hand.keypoints_2d
                kp3d[i] = f.hand.joints
                vis[i] = np.asarray(f.hand.keypoint_confidence, np.float64) >= self.config.keypoint_min_confidence
                mask[i] = 1.0
        first = frames[0]
        x1 = first.out_x
        if x1 is None and first.hand is not None and first.hand.mano is not None:
            m = first.hand.mano
            x1 = np.concatenate([m.global_orient, m.hand_pose, m.betas, m.transl]).astype(np.float64)
        x, joints = self.predictor.predict(tr.side, K, size, kp2d, vis, mask, kp3d, x1=x1)
        frames[-1].out_x = x[-1]
        return self._hand(tr, frames[-1], x[-1], joints[-1], K, t)

    def _hand(self, tr: _Track, frame: _Frame, x: np.ndarray, joints: np.ndarray, K: np.ndarray, t: float) -> HandState:
        from .placement import wrist_pose

        src = frame.hand if frame.hand is not None else tr.last_hand
        observed = frame.observed
        decay = 1.0 if observed else 0.5 ** ((t - tr.last_obs_t) / self.config.confidence_half_life_s)
        z = np.maximum(joints[:, 2:3], 1e-6)
        uv = joints[:, :2] / z * np.array([K[0, 0], K[1, 1]]) + K[[0, 1], [2, 2]]
        pos, quat = wrist_pose(joints, tr.side)
        mano = ManoParams(global_orient=x[:3].copy(), hand_pose=x[3:48].copy(), betas=x[48:58].copy(), transl=x[58:61].copy())
        return HandState(
            side=tr.side, track_id=src.track_id, confidence=float(src.confidence) * decay,
            keypoints_2d=uv, keypoint_confidence=np.asarray(src.keypoint_confidence, np.float64) * decay,
            joints=joints.copy(), wrist_position=pos, wrist_orientation_xyzw=quat, mano=mano,
            bbox=np.concatenate([uv.min(0), uv.max(0)]), is_observed=bool(observed), depth=float(joints[0, 2]),
            model=src.model,
        )
