"""Motion forecasting stage: future of both hands plus action labels.

:class:`MotionForecaster` is the interface (the no-weights :class:`ConstantVelocityForecaster`
here; the learned G-HTT later): ``observe`` is fed every published frame of hands in stamp
order; ``forecast`` and ``actions`` may be called at any rate and describe the state after the
latest ``observe``.

:class:`ConstantVelocityForecaster` (default):

* **History**: per side, the hand of the latest frames within ``history_s`` (one hand per side
  and frame: the one continuing the current track id, else the most confident; a new track id
  clears the side's history). Bridged hands (``is_observed=False``) are kept when
  ``use_unobserved`` is true. Hands with NaN/inf or malformed arrays are dropped with a warning;
  stamps that go backwards or repeat reset the history (warning).
* **Velocities** by least squares over the samples of the last ``velocity_window_s`` (straight
  line fit with intercept, then one round of Huber reweighting on the per-sample residual norm, so a
  single outlier frame hardly moves the slope): wrist linear velocity; wrist angular velocity
  (fixed-frame, from the unwrapped cumulative log of consecutive relative rotations, exact for a
  constant angular velocity); per-joint velocity of the joints in the wrist frame (the residual
  articulation motion); per-joint angular velocity of the 15 MANO ``hand_pose`` rotations.
* **Extrapolation** from the last sample of the side with exponentially damped velocities: after
  ``tau`` s a velocity ``v`` has moved ``v * (1 - exp(-lambda tau)) / lambda`` (``v * tau`` when the
  damping ``lambda`` is 0), so a damped forecast converges to ``x + v / lambda``. Wrist position
  with ``linear_damping``, wrist orientation ``R(tau) = exp(omega d(tau)) R`` with
  ``angular_damping``; joints move rigidly with the wrist, ``J(tau) = p(tau) + R(tau) (L + u d_r(tau))``
  with ``L`` the last joints in the wrist frame and ``u`` their velocity there (``residual_damping``);
  MANO ``hand_pose`` per joint like the orientation (``pose_damping``). Without MANO parameters
  the forecast ``hand_pose`` is NaN.
* **Samples**: one per entry of ``velocity_scales`` with the matching ``sample_weights``
  (normalised to sum to 1): every velocity of both hands is multiplied by the scale (0.5 = slower,
  1.5 = faster than observed). The first scale must be 1.0; that sample is also ``mean`` (with
  probability 1), the probability-weighted mean of the samples' positions because the default
  scales (1.0, 0.5, 1.5) with weights (0.5, 0.25, 0.25) average to 1.
* Time: the forecast is stamped with the latest observed frame; step ``t`` is at
  ``stamp + (t + 1) * time_step_s``. A side whose last sample is older than ``max_staleness_s``
  (relative to the latest frame) is not forecast; otherwise its extrapolation also covers the
  time since its last sample. No side -> ``forecast()`` returns ``None``.
* **Actions**: per side observed in the latest frame, an :class:`ActionEstimate` of taxonomy
  ``"gestures"`` from :func:`~hand_perception.core.gestures.classify_gesture`, averaged over the
  observed samples of the history window with weights halving every ``gesture_half_life_s``
  (0 = latest frame only); ``window_start_ns`` is the oldest sample used.
"""

from __future__ import annotations

import abc
import logging
import math
from collections import deque
from dataclasses import dataclass, field
import numpy as np
from scipy.spatial.transform import Rotation

from .filters import normalize_quaternions
from .gestures import GESTURE_LABELS, GestureConfig, classify_gesture
from .temporal import validate_hand
from .types import (
    SIDES,
    ActionEstimate,
    ActionHypothesis,
    BimanualForecast,
    ForecastSample,
    HandState,
    HandTrajectory,
    Side,
)

__all__ = ["MotionForecaster", "ForecastConfig", "ConstantVelocityForecaster", "GESTURE_TAXONOMY"]

logger = logging.getLogger(__name__)

GESTURE_TAXONOMY = "gestures"


class MotionForecaster(abc.ABC):
    """Interface of the forecasting stage (constant velocity default, learned G-HTT).

    ``observe`` takes each published frame (stamp in ns, frame id, hands) in stamp order;
    ``forecast`` returns the K-sample future of both hands after the latest frame (or ``None`` when
    there is nothing to forecast); ``actions`` the ranked action labels; ``reset`` forgets all.
    Implementations must not raise for bad stamps or bad hands (warn and recover).
    """

    @abc.abstractmethod
    def observe(self, stamp_ns: int, frame_id: str, hands: list[HandState]) -> None:
        """Add one frame of hands."""

    @abc.abstractmethod
    def forecast(self) -> BimanualForecast | None:
        """Future of both hands after the latest observed frame."""

    @abc.abstractmethod
    def actions(self) -> list[ActionEstimate]:
        """Action estimates for the latest frame."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget all state."""

    # -- shared stamp handling for implementations (they keep ``_last_stamp_ns`` and
    #    ``last_warnings``) ---------------------------------------------------------------------
    def _warn(self, msg: str) -> None:
        logger.warning(msg)
        self.last_warnings.append(msg)

    def _accept_stamp(self, stamp_ns, who: str) -> int | None:
        """The stamp as int, or None (frame ignored) when it is not an integer; a stamp that
        repeats or goes backwards resets the history with a warning."""
        try:
            stamp_ns = int(stamp_ns)
        except (TypeError, ValueError, OverflowError):
            self._warn(f"{who}: stamp {stamp_ns!r} is not an integer; frame ignored")
            return None
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            what = "repeats" if stamp_ns == self._last_stamp_ns else "goes backwards"
            self._warn(f"{who}: stamp {stamp_ns} {what} (previous {self._last_stamp_ns}); history reset")
            self.reset()
        self._last_stamp_ns = stamp_ns
        return stamp_ns

    def _hands_by_side(self, hands: list[HandState] | None, who: str) -> dict[str, list[HandState]]:
        """Valid hands per side (invalid ones dropped with a warning; unobserved ones only when
        ``config.use_unobserved``)."""
        by_side: dict[str, list[HandState]] = {s: [] for s in SIDES}
        for hand in hands or []:
            reason = validate_hand(hand)
            if reason is not None:
                self._warn(f"{who}: dropping hand (track {getattr(hand, 'track_id', '?')}): {reason}")
                continue
            if not hand.is_observed and not self.config.use_unobserved:
                continue
            by_side[hand.side].append(hand)
        return by_side


# How the default damping and velocity window were chosen (``python benchmarks/eval_forecasting.py
# --tune-core-cv --stride-s 0.5`` reproduces it): a grid over linear = angular damping, residual =
# pose damping and velocity windows, selected on the official F-PHAB **training half** (every third
# sequence; 0.5 s observed, 1 s forecast, a window every 0.5 s) by ADE@1s relative to zero velocity,
# reported on the official **test-half** sequences present (the 45 Subject_1 repetition-1 files,
# never used for the choice). Held out, mm (ADE over 0.5 s / ADE over 1 s / FDE at 1 s): damping
# 20/s, window 0.1 s: 23.8 / 34.0 / 52.1; zero velocity 24.8 / 34.6 / 52.3; the previous 12/s
# 23.9 / 34.3 / 52.5 (its FDE lost to zero velocity; on the training half 12/s also lost at 1 s
# once all 600 training sequences were there). The gain over zero velocity is small (~2 % at
# 1 s): a hand keeps its velocity for ~1/20 s on this real motion. The articulation residual is
# best held (1000/s).


@dataclass
class ForecastConfig:
    """Settings of :class:`ConstantVelocityForecaster` (seconds, 1/s for damping rates)."""

    #: history kept per side (also the gesture window)
    history_s: float = 0.5
    #: recent part of the history used to fit velocities
    velocity_window_s: float = 0.1
    horizon_s: float = 1.0
    time_step_s: float = 0.1
    #: velocity decay rates (1/s); 0 = undamped constant velocity. Strong by default: a hand keeps
    #: its velocity for ~1/20 s on real motion (see the note above); weak damping (1/s) was
    #: worse than predicting no motion at all.
    linear_damping: float = 20.0
    angular_damping: float = 20.0
    residual_damping: float = 1000.0
    pose_damping: float = 1000.0
    #: velocity multipliers of the K samples; the first must be 1.0 (the mean sample)
    velocity_scales: tuple[float, ...] = (1.0, 0.5, 1.5)
    #: sample probabilities (normalised to sum to 1)
    sample_weights: tuple[float, ...] = (0.5, 0.25, 0.25)
    #: a side whose last sample is older than this (relative to the latest frame) is not forecast
    max_staleness_s: float = 0.25
    #: keep hands the temporal stage bridged (is_observed=False) in the history
    use_unobserved: bool = True
    #: gesture probabilities averaged over the window with this half-life (0 = latest only)
    gesture_half_life_s: float = 0.1
    gesture: GestureConfig = field(default_factory=GestureConfig)

    def __post_init__(self) -> None:
        for name in ("history_s", "velocity_window_s", "horizon_s", "time_step_s"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"ForecastConfig.{name} must be > 0, got {v}")
        for name in ("linear_damping", "angular_damping", "residual_damping", "pose_damping",
                     "max_staleness_s", "gesture_half_life_s"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"ForecastConfig.{name} must be >= 0, got {v}")
        if len(self.velocity_scales) == 0 or len(self.velocity_scales) != len(self.sample_weights):
            raise ValueError("velocity_scales and sample_weights must be non-empty and equally long")
        if self.velocity_scales[0] != 1.0:
            raise ValueError("the first velocity scale must be 1.0 (the mean sample)")
        if any(not (w > 0 and math.isfinite(w)) for w in self.sample_weights):
            raise ValueError("sample_weights must be positive")

    @property
    def num_steps(self) -> int:
        return max(1, int(round(self.horizon_s / self.time_step_s)))

    @property
    def probabilities(self) -> np.ndarray:
        w = np.asarray(self.sample_weights, dtype=np.float64)
        return w / w.sum()


@dataclass
class _Sample:
    stamp_ns: int
    track_id: int
    position: np.ndarray  # (3,)
    rotation: Rotation
    joints: np.ndarray  # (21, 3)
    hand_pose: Rotation | None  # 15 rotations
    is_observed: bool
    gestures: dict[str, float]


@dataclass
class _Motion:
    """Last state and fitted velocities of one side."""

    stamp_ns: int
    position: np.ndarray
    rotation: Rotation
    local_joints: np.ndarray  # (21, 3) in the wrist frame
    hand_pose: Rotation | None
    v: np.ndarray  # (3,) m/s
    omega: np.ndarray  # (3,) rad/s, fixed frame
    u: np.ndarray  # (21, 3) m/s, wrist frame
    pose_omega: np.ndarray | None  # (15, 3) rad/s


def _disp(tau: np.ndarray, damping: float) -> np.ndarray:
    if damping <= 0:
        return tau
    return (1.0 - np.exp(-damping * tau)) / damping


def fit_velocity(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Slope of a robust straight-line fit ``y ~ a + b t`` (t (N,), y (N, D)) -> b (D,).

    Least squares, then one Huber reweighting round on the per-sample residual norms
    (threshold 1.345 robust sigmas). Fewer than two samples -> zeros.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(t), -1)
    if len(t) < 2 or np.ptp(t) <= 0:
        return np.zeros(y.shape[1])
    tc = t - t.mean()
    a = np.stack([np.ones_like(tc), tc], axis=1)

    def solve(w: np.ndarray) -> np.ndarray:
        sw = np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(a * sw, y * sw, rcond=None)
        return coef

    coef = solve(np.ones_like(t))
    if len(t) >= 4:
        r = np.linalg.norm(y - a @ coef, axis=1)
        sigma = 1.4826 * np.median(np.abs(r - np.median(r)))
        if sigma > 1e-12:
            k = 1.345 * sigma
            w = np.where(r <= k, 1.0, k / np.maximum(r, 1e-300))
            coef = solve(w)
    return coef[1]


def _unwrapped_logs(rots: list[Rotation]) -> np.ndarray:
    """(N, M, 3) cumulative sum of ``log(R_{i+1} R_i^-1)``: an unwrapped rotation trajectory."""
    quats = np.stack([r.as_quat().reshape(-1, 4) for r in rots])  # (N, M, 4)
    n, m = quats.shape[:2]
    steps = np.zeros((n, m, 3))
    if n > 1:
        cur = Rotation.from_quat(quats[1:].reshape(-1, 4))
        prev = Rotation.from_quat(quats[:-1].reshape(-1, 4))
        steps[1:] = (cur * prev.inv()).as_rotvec().reshape(n - 1, m, 3)
    return np.cumsum(steps, axis=0)


class ConstantVelocityForecaster(MotionForecaster):
    """Damped constant-velocity forecast of both hands plus gesture rules (see module docstring)."""

    def __init__(self, config: ForecastConfig | None = None) -> None:
        self.config = config or ForecastConfig()
        self._history: dict[Side, deque[_Sample]] = {s: deque() for s in SIDES}
        self._last_stamp_ns: int | None = None
        self._frame_id = ""
        self.last_warnings: list[str] = []

    def reset(self) -> None:
        for h in self._history.values():
            h.clear()
        self._last_stamp_ns = None

    # -- observation -------------------------------------------------------------------------------
    def observe(self, stamp_ns: int, frame_id: str, hands: list[HandState]) -> None:
        self.last_warnings = []
        stamp_ns = self._accept_stamp(stamp_ns, "forecaster")
        if stamp_ns is None:
            return
        self._frame_id = str(frame_id)
        by_side = self._hands_by_side(hands, "forecaster")

        horizon_ns = int(round(self.config.history_s * 1e9))
        for side in SIDES:
            hist = self._history[side]
            cands = by_side[side]
            if cands:
                hand = self._pick(hist, cands)
                if hist and hist[-1].track_id != int(hand.track_id):
                    hist.clear()
                try:
                    hist.append(self._sample(stamp_ns, hand))
                except ValueError as exc:  # defensive: validate_hand should have caught it
                    self._warn(f"forecaster: dropping {side} hand ({exc})")
            while hist and stamp_ns - hist[0].stamp_ns > horizon_ns:
                hist.popleft()

    @staticmethod
    def _pick(hist: deque[_Sample], cands: list[HandState]) -> HandState:
        if hist:
            same = [h for h in cands if int(h.track_id) == hist[-1].track_id]
            if same:
                return max(same, key=lambda h: float(h.confidence))
        return max(cands, key=lambda h: float(h.confidence))

    def _sample(self, stamp_ns: int, hand: HandState) -> _Sample:
        joints = np.array(hand.joints, dtype=np.float64)
        pose = None
        if hand.mano is not None:
            pose = Rotation.from_rotvec(np.asarray(hand.mano.hand_pose, dtype=np.float64).reshape(15, 3))
        gestures: dict[str, float] = {}
        if hand.is_observed:
            gestures = {h.label: h.probability for h in classify_gesture(joints, hand.side, self.config.gesture)}
        return _Sample(
            stamp_ns=stamp_ns,
            track_id=int(hand.track_id),
            position=np.array(hand.wrist_position, dtype=np.float64),
            rotation=Rotation.from_quat(normalize_quaternions(hand.wrist_orientation_xyzw)),
            joints=joints,
            hand_pose=pose,
            is_observed=bool(hand.is_observed),
            gestures=gestures,
        )

    # -- motion fit --------------------------------------------------------------------------------
    def _motion(self, side: Side) -> _Motion | None:
        hist = self._history[side]
        if not hist or self._last_stamp_ns is None:
            return None
        last = hist[-1]
        if (self._last_stamp_ns - last.stamp_ns) * 1e-9 > self.config.max_staleness_s:
            return None
        win_ns = int(round(self.config.velocity_window_s * 1e9))
        win = [s for s in hist if last.stamp_ns - s.stamp_ns <= win_ns]
        t = np.array([(s.stamp_ns - last.stamp_ns) * 1e-9 for s in win])
        r_last = last.rotation
        v = fit_velocity(t, np.stack([s.position for s in win]))
        omega = fit_velocity(t, _unwrapped_logs([s.rotation for s in win]).reshape(len(win), 3))
        mats = np.stack([s.rotation.as_matrix() for s in win])  # (N, 3, 3)
        local = np.einsum("nji,nkj->nki", mats, np.stack([s.joints - s.position for s in win]))  # R^T (x - p)
        u = fit_velocity(t, local.reshape(len(win), 63)).reshape(21, 3)
        pose_omega = None
        if last.hand_pose is not None:
            # only the contiguous tail of the window that has MANO parameters
            pw: list[_Sample] = []
            for s in reversed(win):
                if s.hand_pose is None:
                    break
                pw.append(s)
            pw.reverse()
            tp = np.array([(s.stamp_ns - last.stamp_ns) * 1e-9 for s in pw])
            pose_omega = fit_velocity(tp, _unwrapped_logs([s.hand_pose for s in pw]).reshape(len(pw), 45)).reshape(15, 3)
        return _Motion(
            stamp_ns=last.stamp_ns,
            position=last.position,
            rotation=r_last,
            local_joints=r_last.inv().apply(last.joints - last.position),
            hand_pose=last.hand_pose,
            v=v,
            omega=omega,
            u=u,
            pose_omega=pose_omega,
        )

    def _trajectory(self, side: Side, m: _Motion, scale: float, stamp_ns: int) -> HandTrajectory:
        cfg = self.config
        n = cfg.num_steps
        tau = (stamp_ns - m.stamp_ns) * 1e-9 + cfg.time_step_s * np.arange(1, n + 1)
        d_lin = _disp(tau, cfg.linear_damping)[:, None]
        pos = m.position[None] + scale * m.v[None] * d_lin
        rots = Rotation.from_rotvec(scale * m.omega[None] * _disp(tau, cfg.angular_damping)[:, None]) * m.rotation
        local = m.local_joints[None] + scale * m.u[None] * _disp(tau, cfg.residual_damping)[:, None, None]
        joints = np.einsum("nij,nkj->nki", rots.as_matrix(), local) + pos[:, None, :]
        if m.hand_pose is not None and m.pose_omega is not None:
            d_pose = _disp(tau, cfg.pose_damping)
            steps = Rotation.from_rotvec((scale * m.pose_omega[None] * d_pose[:, None, None]).reshape(n * 15, 3))
            base = Rotation.from_quat(np.tile(m.hand_pose.as_quat(), (n, 1)))
            hand_pose = (steps * base).as_rotvec().reshape(n, 45)
            ref = m.hand_pose.as_rotvec().reshape(1, 15, 3)
            hand_pose = _nearest_rotvecs(hand_pose.reshape(n, 15, 3), ref).reshape(n, 45)
        else:
            hand_pose = np.full((n, 45), np.nan)
        quats = rots.as_quat()
        quats = _continuous_from(quats, m.rotation.as_quat())
        return HandTrajectory(side=side, wrist_position=pos, wrist_orientation_xyzw=quats, joints=joints, hand_pose=hand_pose)

    # -- outputs -------------------------------------------------------------------------------------
    def forecast(self) -> BimanualForecast | None:
        if self._last_stamp_ns is None:
            return None
        motions = {side: m for side in SIDES if (m := self._motion(side)) is not None}
        if not motions:
            return None
        cfg = self.config
        stamp = self._last_stamp_ns
        samples = [
            ForecastSample(
                probability=float(p),
                hands=[self._trajectory(side, m, float(scale), stamp) for side, m in motions.items()],
            )
            for scale, p in zip(cfg.velocity_scales, cfg.probabilities)
        ]
        mean = ForecastSample(probability=1.0, hands=samples[0].hands)
        return BimanualForecast(
            stamp_ns=stamp,
            frame_id=self._frame_id,
            time_step_s=cfg.time_step_s,
            horizon_s=cfg.num_steps * cfg.time_step_s,
            samples=samples,
            mean=mean,
        )

    def actions(self) -> list[ActionEstimate]:
        if self._last_stamp_ns is None:
            return []
        out: list[ActionEstimate] = []
        half = self.config.gesture_half_life_s
        for side in SIDES:
            hist = self._history[side]
            if not hist or hist[-1].stamp_ns != self._last_stamp_ns or not hist[-1].is_observed:
                continue
            used = [s for s in hist if s.is_observed and s.gestures] if half > 0 else [hist[-1]]
            acc = dict.fromkeys(GESTURE_LABELS, 0.0)
            total = 0.0
            for s in used:
                age = (self._last_stamp_ns - s.stamp_ns) * 1e-9
                w = 0.5 ** (age / half) if half > 0 else 1.0
                total += w
                for k, p in s.gestures.items():
                    acc[k] += w * p
            hyps = [ActionHypothesis(label=k, probability=v / total) for k, v in acc.items()]
            hyps.sort(key=lambda h: (-h.probability, GESTURE_LABELS.index(h.label)))
            out.append(
                ActionEstimate(
                    stamp_ns=self._last_stamp_ns,
                    frame_id=self._frame_id,
                    taxonomy=GESTURE_TAXONOMY,
                    hypotheses=hyps,
                    window_start_ns=min(s.stamp_ns for s in used),
                    window_end_ns=self._last_stamp_ns,
                    side=side,
                    is_forecast=False,
                )
            )
        return out


def _continuous_from(q: np.ndarray, q0: np.ndarray) -> np.ndarray:
    """Sign-continuous quaternion sequence (T, 4) starting from the hemisphere of ``q0``."""
    out = np.array(q, copy=True)
    prev = np.asarray(q0, dtype=np.float64)
    for i in range(len(out)):
        if np.dot(out[i], prev) < 0:
            out[i] = -out[i]
        prev = out[i]
    return out


def _nearest_rotvecs(rv: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per rotation, the axis-angle twin (theta or theta - 2 pi on the same axis) closest to ``ref``."""
    theta = np.linalg.norm(rv, axis=-1, keepdims=True)
    safe = np.where(theta > 1e-12, theta, 1.0)
    alt = rv / safe * (theta - 2.0 * math.pi)
    ref = np.broadcast_to(ref, rv.shape)
    use_alt = (np.linalg.norm(alt - ref, axis=-1) < np.linalg.norm(rv - ref, axis=-1)) & (theta[..., 0] > 1e-12)
    return np.where(use_alt[..., None], alt, rv)
