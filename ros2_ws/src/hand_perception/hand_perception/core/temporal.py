"""Temporal stage: per-track smoothing and short-gap filling of the per-frame hands.

:class:`TemporalModel` is the interface every temporal stage implements (the no-weights
:class:`OneEuroTemporalModel` here, the learned UniHand model later): it is fed the hands of each
frame in stamp order and returns the hands to publish for that frame.

:class:`OneEuroTemporalModel` (default):

* Tracks are keyed by ``HandState.track_id`` (hands with ``track_id < 0`` are keyed by side). A
  track whose side changes is restarted (MANO parameters are per-side models).
* Observed hands are filtered per track: One-Euro on ``joints`` (21, 3), ``wrist_position``,
  ``mano.transl`` (metres; speed = point speed), ``keypoints_2d`` and ``bbox`` (pixels),
  ``mano.betas`` (slow, no speed term); SO(3) One-Euro on ``wrist_orientation_xyzw``,
  ``mano.global_orient`` and each of the 15 joint rotations of ``mano.hand_pose`` (filtered as
  rotations, not as raw axis-angle numbers). ``confidence`` and ``keypoint_confidence`` pass
  through; ``depth`` becomes the filtered wrist z when the input had one.
* A track that is not observed in a frame is bridged for up to ``max_gap_s`` after its last
  observation by constant-velocity prediction: every field continues from its last raw
  observation with the filter's smoothed velocity (linear, or angular for rotations), optionally
  damped, and the prediction is fed through the same filter so the output stays smooth. Bridged
  hands have ``is_observed=False`` and their confidences decay with half-life
  ``confidence_half_life_s``. After ``max_gap_s`` the track is dropped.
* A new track id that appears near the prediction of a bridged track of the same side takes that
  track over (the detector re-acquired the same hand) and is published under the bridged track's
  (older) id. "Near" is gated in the image and in 3D: the new hand's box centre lies within
  ``reassociate_image_distance`` hand sizes of the predicted box centre, and its wrist within
  ``reassociate_distance_m + reassociate_depth_fraction * z + 0.5 * speed * gap`` of the predicted
  wrist (monocular depth is uncertain in proportion to z; the prediction in proportion to speed
  and gap).
* One hand per side (``one_hand_per_side``, on by default: one person in front of the camera) and at
  most ``max_hands`` hands are published per frame: of two observed hands with the same side the
  more confident is kept; a bridged track whose side is observed in this frame (and was not taken
  over) ends; observed hands come before bridged ones, then higher confidence.
* Stamps that go backwards or repeat reset all tracks (logged warning); the frame is then
  processed as the first one. Hands with NaN/inf values or malformed arrays are dropped with a
  warning. ``update`` never raises for bad hands or stamps; ``last_warnings`` lists what happened
  in the latest call (the estimator can copy it into ``FrameResult.warnings``).

Output order: observed hands in input order, then bridged hands ordered by track key.
:func:`limit_hands` applies the per-side and ``max_hands`` caps to any list of hands (the estimator
uses it after any temporal model).
"""

from __future__ import annotations

import abc
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from .filters import AxisAngleOneEuroFilter, OneEuroFilter, RotationOneEuroFilter, normalize_quaternions
from .types import SIDES, HandState, ManoParams

__all__ = ["TemporalModel", "TemporalConfig", "OneEuroTemporalModel", "validate_hand", "limit_hands"]

logger = logging.getLogger(__name__)


class TemporalModel(abc.ABC):
    """Interface of the temporal stage (no-weights One-Euro model, learned UniHand model).

    ``update`` receives the hands estimated in one frame (any order, possibly none) with the
    frame's stamp in ns, and returns the hands to publish for that frame: smoothed observed hands
    plus any hands the model fills in (``is_observed=False``). Implementations must not modify
    the input objects and must not raise for bad stamps or bad hands (warn and recover instead).
    ``reset`` forgets all tracks.
    """

    @abc.abstractmethod
    def update(self, stamp_ns: int, hands: list[HandState]) -> list[HandState]:
        """Process one frame; returns the hands to publish for ``stamp_ns``."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget all state."""


@dataclass
class TemporalConfig:
    """Settings of :class:`OneEuroTemporalModel` (One-Euro: cutoffs in Hz, beta in Hz per unit/s).

    Defaults are tuned on simulated 30-60 Hz hand motion with MediaPipe-like noise (5 mm on
    joints, 0.03 rad on rotations): at rest positions are smoothed with a 1 Hz cutoff; the cutoff
    opens by 40 Hz per m/s of point speed (MediaPipe's own world-landmark smoother uses beta 40
    too), so a hand moving at 0.5 m/s is followed at 21 Hz (lag ~4 mm). In those simulations the
    defaults cut frame-to-frame jitter ~4-5x and the error against the truth ~1.8x; smaller
    ``beta`` smooths more but lags more.
    """

    #: joints, wrist position and MANO transl (metres)
    position_min_cutoff: float = 1.0
    position_beta: float = 40.0
    position_d_cutoff: float = 1.0
    #: 2D keypoints and bbox (pixels): 0.03 Hz per px/s (~ the metric beta at f=600 px, z=0.5 m)
    pixel_min_cutoff: float = 1.0
    pixel_beta: float = 0.03
    pixel_d_cutoff: float = 1.0
    #: wrist orientation and MANO global_orient (radians)
    rotation_min_cutoff: float = 1.0
    rotation_beta: float = 5.0
    rotation_d_cutoff: float = 1.0
    #: MANO hand_pose, per joint rotation (radians)
    pose_min_cutoff: float = 1.0
    pose_beta: float = 5.0
    pose_d_cutoff: float = 1.0
    #: MANO betas (shape): plain low-pass, shape should not move
    betas_cutoff: float = 0.3
    #: longest gap (s since the last observation) bridged by prediction; later the track is dropped
    max_gap_s: float = 0.3
    #: confidence of a bridged hand halves every this many seconds of gap
    confidence_half_life_s: float = 0.1
    #: velocity decay rate (1/s) during a gap; 0 = pure constant velocity. 12/s as the forecaster:
    #: on real FPHA motion (odd-indexed sequences, a gap every second) the bridged joints' error was
    #: 12.9 / 18.1 mm for 0.2 / 0.3 s gaps vs 13.6 / 20.3 mm undamped and 14.0 / 18.9 mm held still
    gap_velocity_damping: float = 12.0
    #: a new track id adopts a bridged track of the same side when its wrist lies within
    #: reassociate_distance_m + reassociate_depth_fraction * z (+ half the predicted travel) of the
    #: bridged track's predicted wrist (m) and its box centre within reassociate_image_distance hand
    #: sizes (box side, px) of the predicted box centre (reassociate_distance_m <= 0 disables)
    reassociate_distance_m: float = 0.08
    reassociate_depth_fraction: float = 0.15
    reassociate_image_distance: float = 1.0
    #: publish at most one hand per side (one person); of two, observed beats bridged, then confidence
    one_hand_per_side: bool = True
    #: most hands published per frame (observed first)
    max_hands: int = 2

    def __post_init__(self) -> None:
        for name in ("max_gap_s", "confidence_half_life_s"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"TemporalConfig.{name} must be > 0, got {v}")
        if not self.gap_velocity_damping >= 0:
            raise ValueError("TemporalConfig.gap_velocity_damping must be >= 0")
        if int(self.max_hands) < 1:
            raise ValueError(f"TemporalConfig.max_hands must be >= 1, got {self.max_hands}")
        for name in ("reassociate_depth_fraction", "reassociate_image_distance"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TemporalConfig.{name} must be >= 0")


def limit_hands(hands: list[HandState], max_hands: int = 2, one_per_side: bool = True) -> list[HandState]:
    """At most ``max_hands`` hands and (with ``one_per_side``) one per side, input order kept.

    Priority: observed before bridged (``is_observed=False``), then higher confidence, then input
    order. Returns a new list with the same objects.
    """
    rank = sorted(range(len(hands)), key=lambda i: (not hands[i].is_observed, -float(hands[i].confidence), i))
    keep: list[int] = []
    sides: set[str] = set()
    for i in rank:
        if len(keep) >= max(0, int(max_hands)):
            break
        if one_per_side and hands[i].side in sides:
            continue
        keep.append(i)
        sides.add(hands[i].side)
    return [hands[i] for i in sorted(keep)]


def validate_hand(hand: HandState) -> str | None:
    """Return why ``hand`` cannot be used (bad side, shape or non-finite values) or ``None``."""
    if hand.side not in SIDES:
        return f"side {hand.side!r} is not one of {SIDES}"
    checks: list[tuple[str, Any, tuple[int, ...]]] = [
        ("joints", hand.joints, (21, 3)),
        ("keypoints_2d", hand.keypoints_2d, (21, 2)),
        ("keypoint_confidence", hand.keypoint_confidence, (21,)),
        ("wrist_position", hand.wrist_position, (3,)),
        ("wrist_orientation_xyzw", hand.wrist_orientation_xyzw, (4,)),
        ("bbox", hand.bbox, (4,)),
        ("confidence", hand.confidence, ()),
    ]
    if hand.mano is not None:
        checks += [
            ("mano.global_orient", hand.mano.global_orient, (3,)),
            ("mano.hand_pose", hand.mano.hand_pose, (45,)),
            ("mano.betas", hand.mano.betas, (10,)),
            ("mano.transl", hand.mano.transl, (3,)),
        ]
    for name, value, shape in checks:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return f"{name} is not numeric"
        if arr.shape != shape:
            return f"{name} has shape {arr.shape}, expected {shape}"
        if not np.all(np.isfinite(arr)):
            return f"{name} contains NaN or inf"
    if np.linalg.norm(np.asarray(hand.wrist_orientation_xyzw, dtype=np.float64)) < 1e-9:
        return "wrist_orientation_xyzw is a zero quaternion"
    return None


def _f64(x: Any) -> np.ndarray:
    return np.array(x, dtype=np.float64, copy=True)


def _disp(dt: float, damping: float) -> float:
    """Displacement factor of an exponentially damped constant velocity after ``dt`` s."""
    if damping <= 0:
        return dt
    return (1.0 - math.exp(-damping * dt)) / damping


class _Track:
    """Filters and last observation of one track."""

    def __init__(self, key: Any, side: str, cfg: TemporalConfig, out_id: int = -1) -> None:
        self.key = key
        self.side = side
        #: the id this track is published under (kept when a new input id takes the track over)
        self.out_id = int(out_id)
        self.cfg = cfg
        c = cfg
        self.f_joints = OneEuroFilter(c.position_min_cutoff, c.position_beta, c.position_d_cutoff, speed_axis=-1)
        self.f_wrist = OneEuroFilter(c.position_min_cutoff, c.position_beta, c.position_d_cutoff, speed_axis=-1)
        self.f_kp2d = OneEuroFilter(c.pixel_min_cutoff, c.pixel_beta, c.pixel_d_cutoff, speed_axis=-1)
        self.f_bbox = OneEuroFilter(c.pixel_min_cutoff, c.pixel_beta, c.pixel_d_cutoff, speed_axis=-1)
        self.f_orient = RotationOneEuroFilter(c.rotation_min_cutoff, c.rotation_beta, c.rotation_d_cutoff)
        self.f_go = AxisAngleOneEuroFilter(c.rotation_min_cutoff, c.rotation_beta, c.rotation_d_cutoff)
        self.f_pose = AxisAngleOneEuroFilter(c.pose_min_cutoff, c.pose_beta, c.pose_d_cutoff)
        self.f_transl = OneEuroFilter(c.position_min_cutoff, c.position_beta, c.position_d_cutoff, speed_axis=-1)
        self.f_betas = OneEuroFilter(c.betas_cutoff, 0.0, c.position_d_cutoff)
        self.last_hand: HandState | None = None  # last observed input (raw)
        self.last_obs_t = -math.inf
        # raw values and velocities at the last observation, for gap prediction
        self.snap: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _mano_filters(self) -> list:
        return [self.f_go, self.f_pose, self.f_transl, self.f_betas]

    # -- observation ---------------------------------------------------------------------------
    def observe(self, hand: HandState, t: float) -> HandState:
        joints = self.f_joints(_f64(hand.joints), t)
        wrist = self.f_wrist(_f64(hand.wrist_position), t)
        kp2d = self.f_kp2d(_f64(hand.keypoints_2d), t)
        bbox = self.f_bbox(_f64(hand.bbox).reshape(2, 2), t).reshape(4)
        q_in = normalize_quaternions(hand.wrist_orientation_xyzw)
        orient = self.f_orient(q_in, t)
        mano = None
        if hand.mano is not None:
            m = hand.mano
            mano = ManoParams(
                global_orient=self.f_go(_f64(m.global_orient).reshape(1, 3), t).reshape(3),
                hand_pose=self.f_pose(_f64(m.hand_pose).reshape(15, 3), t).reshape(45),
                betas=self.f_betas(_f64(m.betas), t),
                transl=self.f_transl(_f64(m.transl), t),
            )
        else:
            for f in self._mano_filters():
                f.reset()
        self.side = hand.side
        self.last_hand = hand
        self.last_obs_t = t
        self.snap = {
            "joints": (_f64(hand.joints), self.f_joints.velocity),
            "wrist": (_f64(hand.wrist_position), self.f_wrist.velocity),
            "kp2d": (_f64(hand.keypoints_2d), self.f_kp2d.velocity),
            "bbox": (_f64(hand.bbox).reshape(2, 2), self.f_bbox.velocity),
            "orient": (q_in.reshape(1, 4), self.f_orient.angular_velocity.reshape(1, 3)),
        }
        if hand.mano is not None:
            m = hand.mano
            self.snap.update(
                go=(Rotation.from_rotvec(_f64(m.global_orient).reshape(1, 3)).as_quat(), self.f_go.angular_velocity),
                pose=(Rotation.from_rotvec(_f64(m.hand_pose).reshape(15, 3)).as_quat(), self.f_pose.angular_velocity),
                betas=(_f64(m.betas), np.zeros(10)),
                transl=(_f64(m.transl), self.f_transl.velocity),
            )
        depth = float(wrist[2]) if math.isfinite(float(hand.depth)) else float(hand.depth)
        return HandState(
            side=hand.side,
            track_id=self.out_id,
            confidence=float(hand.confidence),
            keypoints_2d=kp2d,
            keypoint_confidence=_f64(hand.keypoint_confidence),
            joints=joints,
            wrist_position=wrist,
            wrist_orientation_xyzw=orient,
            mano=mano,
            bbox=bbox,
            is_observed=bool(hand.is_observed),
            depth=depth,
            model=hand.model,
        )

    # -- prediction ----------------------------------------------------------------------------
    def _lin(self, name: str, dt: float) -> np.ndarray:
        x, v = self.snap[name]
        return x + v * _disp(dt, self.cfg.gap_velocity_damping)

    def _rot(self, name: str, dt: float) -> np.ndarray:
        q, w = self.snap[name]
        step = Rotation.from_rotvec(w.reshape(-1, 3) * _disp(dt, self.cfg.gap_velocity_damping))
        return (step * Rotation.from_quat(q.reshape(-1, 4))).as_quat()

    def predict_wrist(self, t: float) -> np.ndarray:
        return self._lin("wrist", t - self.last_obs_t)

    def predict_box(self, t: float) -> np.ndarray:
        """Predicted bbox (2, 2) px (top-left, bottom-right) at ``t``."""
        return self._lin("bbox", t - self.last_obs_t)

    def wrist_speed(self) -> float:
        """Speed (m/s) of the wrist at the last observation."""
        return float(np.linalg.norm(self.snap["wrist"][1])) if "wrist" in self.snap else 0.0

    def predict(self, t: float) -> HandState:
        """Bridged hand at ``t`` (> last observation): predictions fed through the filters."""
        assert self.last_hand is not None
        dt = t - self.last_obs_t
        h = self.last_hand
        joints = self.f_joints(self._lin("joints", dt), t)
        wrist = self.f_wrist(self._lin("wrist", dt), t)
        kp2d = self.f_kp2d(self._lin("kp2d", dt), t)
        bbox = self.f_bbox(self._lin("bbox", dt), t).reshape(4)
        orient = self.f_orient(self._rot("orient", dt).reshape(4), t)
        mano = None
        if h.mano is not None and "pose" in self.snap:
            go_q = self._rot("go", dt)
            pose_q = self._rot("pose", dt)
            mano = ManoParams(
                global_orient=self.f_go(Rotation.from_quat(go_q).as_rotvec(), t).reshape(3),
                hand_pose=self.f_pose(Rotation.from_quat(pose_q).as_rotvec(), t).reshape(45),
                betas=self.f_betas(self._lin("betas", dt), t),
                transl=self.f_transl(self._lin("transl", dt), t),
            )
        decay = 0.5 ** (dt / self.cfg.confidence_half_life_s)
        depth = float(wrist[2]) if math.isfinite(float(h.depth)) else float(h.depth)
        return HandState(
            side=h.side,
            track_id=self.out_id,
            confidence=float(h.confidence) * decay,
            keypoints_2d=kp2d,
            keypoint_confidence=_f64(h.keypoint_confidence) * decay,
            joints=joints,
            wrist_position=wrist,
            wrist_orientation_xyzw=orient,
            mano=mano,
            bbox=bbox,
            is_observed=False,
            depth=depth,
            model=h.model,
        )


class OneEuroTemporalModel(TemporalModel):
    """Default temporal stage: One-Euro / SO(3) One-Euro filtering plus constant-velocity gap filling.

    See the module docstring for the behaviour; ``config`` is a :class:`TemporalConfig`.
    """

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config or TemporalConfig()
        self._tracks: dict[Any, _Track] = {}
        self._last_stamp_ns: int | None = None
        self._t0_ns: int | None = None
        self.last_warnings: list[str] = []
        #: input track id -> published track id of the observed hands of the latest call (they
        #: differ after a new input id took a bridged track over and kept its older id)
        self.last_id_map: dict[int, int] = {}

    def reset(self) -> None:
        self._tracks.clear()
        self._last_stamp_ns = None
        self._t0_ns = None

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    def _warn(self, msg: str) -> None:
        logger.warning(msg)
        self.last_warnings.append(msg)

    @staticmethod
    def _key(hand: HandState) -> Any:
        tid = int(hand.track_id)
        return tid if tid >= 0 else ("side", hand.side)

    def update(self, stamp_ns: int, hands: list[HandState]) -> list[HandState]:
        self.last_warnings = []
        self.last_id_map = {}
        try:
            stamp_ns = int(stamp_ns)
        except (TypeError, ValueError, OverflowError):
            self._warn(f"temporal: stamp {stamp_ns!r} is not an integer; frame passed through unfiltered")
            return [h for h in (hands or []) if validate_hand(h) is None]
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            what = "repeats" if stamp_ns == self._last_stamp_ns else "goes backwards"
            self._warn(
                f"temporal: stamp {stamp_ns} {what} (previous {self._last_stamp_ns}); resetting {len(self._tracks)} track(s)"
            )
            self.reset()
        if self._t0_ns is None:
            self._t0_ns = stamp_ns
        self._last_stamp_ns = stamp_ns
        t = (stamp_ns - self._t0_ns) * 1e-9

        # validate, then keep one hand per key (the most confident)
        chosen: dict[Any, HandState] = {}
        order: list[Any] = []
        for hand in hands or []:
            reason = validate_hand(hand)
            if reason is not None:
                self._warn(f"temporal: dropping hand (track {getattr(hand, 'track_id', '?')}): {reason}")
                continue
            key = self._key(hand)
            if key in chosen:
                self._warn(f"temporal: two hands with track key {key!r} in one frame; keeping the more confident")
                if float(hand.confidence) <= float(chosen[key].confidence):
                    continue
            else:
                order.append(key)
            chosen[key] = hand
        if self.config.one_hand_per_side:
            # one person: two observed hands of one side cannot both be right; keep the more confident
            best: dict[str, Any] = {}
            for key in order:
                side = chosen[key].side
                if side not in best or float(chosen[key].confidence) > float(chosen[best[side]].confidence):
                    best[side] = key
            dropped = [k for k in order if best[chosen[k].side] != k]
            if dropped:
                self._warn(f"temporal: {len(order)} observed hands for {len(best)} side(s); keeping the most "
                           f"confident per side, dropping track(s) {dropped}")
                order = [k for k in order if k not in dropped]
                chosen = {k: chosen[k] for k in order}

        out: list[HandState] = []
        observed_keys: set[Any] = set()
        for key in order:
            hand = chosen[key]
            track = self._tracks.get(key)
            if track is not None and track.side != hand.side:
                track = None  # handedness changed: MANO parameters refer to another model
            if track is None:
                track = self._adopt(key, hand, t, set(chosen))
            if track is None:
                track = _Track(key, hand.side, self.config, out_id=int(hand.track_id))
            self._tracks[key] = track
            observed_keys.add(key)
            self.last_id_map[int(hand.track_id)] = track.out_id
            try:
                out.append(track.observe(hand, t))
            except (ValueError, FloatingPointError) as exc:  # defensive: never kill the stream
                self._warn(f"temporal: filtering failed for track {key!r} ({exc}); track restarted")
                track = _Track(key, hand.side, self.config, out_id=track.out_id)
                self._tracks[key] = track
                out.append(track.observe(hand, t))

        observed_sides = {chosen[k].side for k in order}
        bridged: list[HandState] = []
        for key in sorted((k for k in self._tracks if k not in observed_keys), key=repr):
            track = self._tracks[key]
            if t - track.last_obs_t > self.config.max_gap_s or track.last_hand is None:
                del self._tracks[key]
                continue
            if self.config.one_hand_per_side and track.side in observed_sides:
                # its side is observed now and the observation did not take it over: another hand
                # (or the same one the gates could not confirm) is that side now; the track ends
                logger.debug("temporal: bridged track %r ends: side %s is observed", key, track.side)
                del self._tracks[key]
                continue
            try:
                bridged.append(track.predict(t))
            except (ValueError, FloatingPointError) as exc:
                self._warn(f"temporal: prediction failed for track {key!r} ({exc}); track dropped")
                del self._tracks[key]
        return limit_hands(out + bridged, self.config.max_hands, self.config.one_hand_per_side)

    def _adoption_distance(self, track: _Track, hand: HandState, t: float) -> float | None:
        """How far ``hand`` is from ``track``'s prediction at ``t`` relative to the gates (< 1 passes both),
        or None when it fails a gate."""
        cfg = self.config
        dt = max(0.0, t - track.last_obs_t)
        pred_wrist = track.predict_wrist(t)
        wrist = np.asarray(hand.wrist_position, dtype=np.float64)
        travel = track.wrist_speed() * _disp(dt, cfg.gap_velocity_damping)
        radius = cfg.reassociate_distance_m + cfg.reassociate_depth_fraction * max(float(pred_wrist[2]), 0.0)
        radius += 0.5 * travel
        d3 = float(np.linalg.norm(pred_wrist - wrist)) / radius
        box = track.predict_box(t)
        size = float(max(box[1, 0] - box[0, 0], box[1, 1] - box[0, 1], 1.0))
        new_box = np.asarray(hand.bbox, dtype=np.float64).reshape(2, 2)
        d2 = float(np.linalg.norm(box.mean(0) - new_box.mean(0))) / max(cfg.reassociate_image_distance * size, 1e-9)
        if d3 >= 1.0 or d2 >= 1.0:
            return None
        return max(d3, d2)

    def _adopt(self, key: Any, hand: HandState, t: float, keys_this_frame: set) -> _Track | None:
        """Hand a bridged track of the same side near ``hand`` over to the new ``key`` (the track
        keeps its published id)."""
        if self.config.reassociate_distance_m <= 0:
            return None
        best, best_d = None, math.inf
        for k, tr in self._tracks.items():
            if k in keys_this_frame or tr.side != hand.side or tr.last_hand is None:
                continue
            if t - tr.last_obs_t > self.config.max_gap_s:
                continue
            d = self._adoption_distance(tr, hand, t)
            if d is not None and d < best_d:
                best, best_d = k, d
        if best is None:
            return None
        track = self._tracks.pop(best)
        track.key = key
        logger.debug("temporal: track %r continues as %r (published id %d, gate ratio %.2f)",
                     best, key, track.out_id, best_d)
        return track
