"""Online action labels from a skeleton action recogniser checkpoint (e.g. trained on F-PHAB by
``python -m hand_training.actions``), and a forecaster wrapper that adds them to any forecaster.

:class:`OnlineActionRecognizer`:

* **History** per side: the joints of the hand continuing the side's track (else the most
  confident one; a new track id restarts the side), bridged hands (``is_observed=False``) only
  when ``use_unobserved``; hands with non-finite joints are dropped with a warning; a stamp that
  repeats or goes backwards resets all.
* **Window**: the side's samples of the last ``window_s`` seconds, cut after any gap longer than
  ``max_gap_s``, linearly resampled to the model rate (30 fps). No label before ``min_observed_s``
  of observation or when the side's last sample is older than ``max_staleness_s``.
* **Output**: one :class:`ActionEstimate` per side with a label (taxonomy of the checkpoint,
  ``side`` set), the ``top_k`` labels by softmax probability; verb / noun split at the first
  underscore. A left hand is mirrored into a right hand inside the feature extraction, so one
  model serves both.

The checkpoint must match ``taxonomy`` (when given) and the ``canonical21`` joint layout: another
one is refused at construction with a message naming the mismatch.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from .forecasting import MotionForecaster
from .types import SIDES, ActionEstimate, ActionHypothesis, BimanualForecast, HandState

__all__ = ["ActionRecognitionConfig", "OnlineActionRecognizer", "RecognizingForecaster"]

logger = logging.getLogger(__name__)
MODEL_FPS = 30.0


@dataclass
class ActionRecognitionConfig:
    checkpoint: str = ""
    #: expected taxonomy of the checkpoint ("" accepts any)
    taxonomy: str = "fpha"
    window_s: float = 2.0
    min_observed_s: float = 0.3
    max_gap_s: float = 0.5
    max_staleness_s: float = 0.25
    use_unobserved: bool = False
    top_k: int = 5


class OnlineActionRecognizer:
    """Sliding-window action labels per hand (see module docstring)."""

    def __init__(self, config: ActionRecognitionConfig | None = None, model=None) -> None:
        self.config = cfg = config or ActionRecognitionConfig()
        if model is None:
            from hand_models.networks.actions.model import load_checkpoint

            if not cfg.checkpoint:
                raise ValueError("ActionRecognitionConfig.checkpoint is required (an action recogniser .pt file)")
            model = load_checkpoint(cfg.checkpoint, taxonomy=cfg.taxonomy or None)
        self.model = model.eval()
        self.taxonomy = str(model.taxonomy)
        self._hist: dict[str, deque] = {s: deque() for s in SIDES}
        self._track: dict[str, int | None] = {s: None for s in SIDES}
        self._last_stamp_ns: int | None = None
        self._frame_id = ""
        self.last_warnings: list[str] = []

    def reset(self) -> None:
        for s in SIDES:
            self._hist[s].clear()
            self._track[s] = None
        self._last_stamp_ns = None

    def _warn(self, msg: str) -> None:
        logger.warning(msg)
        self.last_warnings.append(msg)

    def observe(self, stamp_ns: int, frame_id: str, hands: list[HandState]) -> None:
        self.last_warnings = []
        try:
            stamp_ns = int(stamp_ns)
        except (TypeError, ValueError):
            self._warn(f"action recogniser: stamp {stamp_ns!r} is not an integer; frame ignored")
            return
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            self._warn(f"action recogniser: stamp {stamp_ns} does not advance past {self._last_stamp_ns}; history reset")
            self.reset()
        self._last_stamp_ns = stamp_ns
        self._frame_id = str(frame_id)
        keep_ns = int((self.config.window_s + 0.5) * 1e9)
        for side in SIDES:
            cands = []
            for h in hands or []:
                if getattr(h, "side", None) != side:
                    continue
                if not getattr(h, "is_observed", True) and not self.config.use_unobserved:
                    continue
                j = np.asarray(getattr(h, "joints", None), dtype=np.float64)
                if j.shape != (21, 3) or not np.isfinite(j).all():
                    self._warn(f"action recogniser: {side} hand without 21 finite joints ignored")
                    continue
                cands.append((h, j))
            hist = self._hist[side]
            if cands:
                same = [c for c in cands if int(c[0].track_id) == self._track[side]]
                h, j = max(same or cands, key=lambda c: float(c[0].confidence))
                if self._track[side] is not None and int(h.track_id) != self._track[side]:
                    hist.clear()
                self._track[side] = int(h.track_id)
                hist.append((stamp_ns, j))
            while hist and stamp_ns - hist[0][0] > keep_ns:
                hist.popleft()

    def window(self, side: str) -> np.ndarray | None:
        """The side's joints (T, 21, 3) on the model-rate grid over its current window, or None."""
        cfg = self.config
        hist = self._hist[side]
        if not hist or self._last_stamp_ns is None:
            return None
        if (self._last_stamp_ns - hist[-1][0]) * 1e-9 > cfg.max_staleness_s:
            return None
        ts = np.array([s for s, _ in hist], dtype=np.float64) * 1e-9
        js = np.stack([j for _, j in hist])
        gaps = np.nonzero(np.diff(ts) > cfg.max_gap_s)[0]
        start = gaps[-1] + 1 if len(gaps) else 0
        ts, js = ts[start:], js[start:]
        keep = ts >= ts[-1] - cfg.window_s - 1e-9
        ts, js = ts[keep], js[keep]
        if ts[-1] - ts[0] < cfg.min_observed_s - 1e-9:
            return None
        grid = ts[-1] - np.arange(int(np.floor((ts[-1] - ts[0]) * MODEL_FPS + 1e-6)), -1, -1) / MODEL_FPS
        k1 = np.clip(np.searchsorted(ts, grid), 1, len(ts) - 1) if len(ts) > 1 else np.zeros(len(grid), dtype=int)
        k0 = np.maximum(k1 - 1, 0)
        span = ts[k1] - ts[k0]
        a = np.where(span > 0, (grid - ts[k0]) / np.where(span > 0, span, 1.0), 0.0).clip(0.0, 1.0)[:, None, None]
        return (1 - a) * js[k0] + a * js[k1]

    def actions(self) -> list[ActionEstimate]:
        from hand_models.networks.actions.model import predict_proba

        out = []
        for s, side in enumerate(SIDES):
            w = self.window(side)
            if w is None:
                continue
            both = np.full((len(w), 2, 21, 3), np.nan)
            both[:, s] = w
            try:
                probs = predict_proba(self.model, [both], MODEL_FPS)[0]
            except ValueError as exc:
                self._warn(f"action recogniser: no {side} label ({exc})")
                continue
            order = np.argsort(-probs)[: self.config.top_k]
            hyps = []
            for i in order:
                lab = self.model.labels[i]
                verb, _, noun = lab.partition("_")
                hyps.append(ActionHypothesis(label=lab, probability=float(probs[i]), verb=verb, noun=noun.replace("_", " ")))
            end = int(self._last_stamp_ns)
            start = end - int(round((len(w) - 1) / MODEL_FPS * 1e9))
            out.append(ActionEstimate(stamp_ns=end, frame_id=self._frame_id, taxonomy=self.taxonomy, hypotheses=hyps,
                                      window_start_ns=start, window_end_ns=end, side=side, is_forecast=False))
        return out


class RecognizingForecaster(MotionForecaster):
    """Any forecaster plus an :class:`OnlineActionRecognizer`: forecasts from the former, actions
    from both (the base's own, then the recogniser's per-hand labels)."""

    def __init__(self, base: MotionForecaster, recognizer: OnlineActionRecognizer) -> None:
        self.base = base
        self.recognizer = recognizer

    @property
    def last_warnings(self) -> list[str]:
        return list(getattr(self.base, "last_warnings", [])) + list(self.recognizer.last_warnings)

    def observe(self, stamp_ns: int, frame_id: str, hands: list[HandState]) -> None:
        self.base.observe(stamp_ns, frame_id, hands)
        self.recognizer.observe(stamp_ns, frame_id, hands)

    def forecast(self) -> BimanualForecast | None:
        return self.base.forecast()

    def actions(self) -> list[ActionEstimate]:
        return list(self.base.actions()) + self.recognizer.actions()

    def reset(self) -> None:
        self.base.reset()
        self.recognizer.reset()
