"""Outputs in another frame: rigid transforms of hands, frames of hands and forecasts (no ROS).

A :class:`RigidTransform` maps points of its ``source_frame`` (the camera optical frame of the
image) into its ``target_frame`` (e.g. a robot's ``base_link``): ``p_target = R p_source + t``,
as ``tf2_ros.Buffer.lookup_transform(target_frame, source_frame, stamp)`` returns it.

What moves with the frame:

* points (joints (21, 3), wrist position (3,), forecast joints (T, 21, 3) ...): ``R p + t``;
* orientations (wrist quaternions (x, y, z, w)): ``q_R * q``;
* MANO ``global_orient`` (axis-angle): ``R R_go``; ``hand_pose`` and ``betas`` are local to the
  hand and do not change;
* MANO ``transl`` is NOT simply ``R transl + t``: MANO rotates about its root (wrist) joint at
  rest, ``J0(betas)``: ``x = R_go (x_rest - J0) + J0 + transl``. Applying ``(R, t)`` gives
  ``R R_go (x_rest - J0) + R J0 + R transl + t``, i.e. ``transl' = R (J0 + transl) + t - J0``.
  ``J0`` is linear in ``betas`` (``J_regressor[0] @ (v_template + shapedirs @ betas)``):
  :class:`RootJoint` holds it per side.

:class:`TargetFrameTransformer` wraps a lookup function (tf2 in the nodes, anything in tests):
it skips an output whose transform is unavailable (missing frame, no path, TF loop, stale or
too old data), counts each reason and remembers the latest, for ``/diagnostics``.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from .types import BimanualForecast, ForecastSample, FrameResult, HandState, HandTrajectory, ManoParams

NS_PER_S = 1_000_000_000

#: Reasons an output could not be transformed (keys of :attr:`TargetFrameTransformer.skipped`).
SKIP_REASONS = ("missing", "no_path", "loop", "stale", "extrapolation", "invalid")


# =========================================================================== transforms


@dataclass(frozen=True)
class RigidTransform:
    """``p_target = rotation @ p_source + translation``: rotation (3, 3), translation (3,) metres."""

    rotation: np.ndarray
    translation: np.ndarray
    target_frame: str = ""
    source_frame: str = ""
    stamp_ns: int = 0

    @classmethod
    def from_quaternion(cls, translation: Any, xyzw: Any, target_frame: str = "", source_frame: str = "",
                        stamp_ns: int = 0) -> "RigidTransform":
        """From a translation (3,) and a quaternion (x, y, z, w) (normalised here). Raises
        ValueError for non-finite values or a zero quaternion."""
        t = np.asarray(translation, dtype=np.float64).reshape(-1)
        q = np.asarray(xyzw, dtype=np.float64).reshape(-1)
        if t.shape != (3,) or q.shape != (4,):
            raise ValueError(f"transform: translation (3,) and quaternion (4,) expected, got {t.shape}, {q.shape}")
        if not (np.isfinite(t).all() and np.isfinite(q).all()):
            raise ValueError("transform: non-finite translation or rotation")
        n = float(np.linalg.norm(q))
        if n < 1e-9:
            raise ValueError("transform: zero quaternion")
        return cls(Rotation.from_quat(q / n).as_matrix(), t, target_frame, source_frame, int(stamp_ns))

    @classmethod
    def identity(cls, frame: str = "", stamp_ns: int = 0) -> "RigidTransform":
        return cls(np.eye(3), np.zeros(3), frame, frame, int(stamp_ns))

    @property
    def quaternion(self) -> np.ndarray:
        """Rotation as a unit quaternion (x, y, z, w)."""
        return Rotation.from_matrix(self.rotation).as_quat()

    def apply(self, points: Any) -> np.ndarray:
        """Points (..., 3) in the source frame -> (..., 3) in the target frame."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.rotation.T + self.translation

    def rotate_quaternions(self, xyzw: Any) -> np.ndarray:
        """Orientations (..., 4) (x, y, z, w) relative to the source frame -> relative to the target
        frame (``q_R * q``). NaN quaternions stay NaN."""
        q = np.asarray(xyzw, dtype=np.float64)
        flat = q.reshape(-1, 4)
        out = np.full_like(flat, np.nan)
        ok = np.isfinite(flat).all(axis=1) & (np.linalg.norm(flat, axis=1) > 1e-12)
        if ok.any():
            # quaternion product (scipy keeps the sign: consecutive forecast steps stay continuous)
            out[ok] = (Rotation.from_matrix(self.rotation) * Rotation.from_quat(flat[ok])).as_quat()
        return out.reshape(q.shape)

    def rotate_rotvecs(self, rotvecs: Any) -> np.ndarray:
        """Axis-angle rotations (..., 3) relative to the source frame -> relative to the target."""
        rv = np.asarray(rotvecs, dtype=np.float64)
        flat = rv.reshape(-1, 3)
        out = np.full_like(flat, np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            out[ok] = (Rotation.from_matrix(self.rotation) * Rotation.from_rotvec(flat[ok])).as_rotvec()
        return out.reshape(rv.shape)


def transform_from_msg(msg: Any) -> RigidTransform:
    """:class:`RigidTransform` of a ``geometry_msgs/TransformStamped`` (read by attribute, any
    implementation): header.frame_id is the target frame, child_frame_id the source frame."""
    tr, rot = msg.transform.translation, msg.transform.rotation
    stamp = msg.header.stamp
    return RigidTransform.from_quaternion(
        [tr.x, tr.y, tr.z], [rot.x, rot.y, rot.z, rot.w], str(msg.header.frame_id), str(msg.child_frame_id),
        int(stamp.sec) * NS_PER_S + int(stamp.nanosec))


# =========================================================================== MANO root joint


@dataclass(frozen=True)
class RootJoint:
    """Rest position of one side's MANO root (wrist) joint as a function of betas:
    ``J0 = offset + basis @ betas`` (offset (3,), basis (3, 10)), metres."""

    offset: np.ndarray
    basis: np.ndarray

    def __call__(self, betas: Any) -> np.ndarray:
        b = np.asarray(betas, dtype=np.float64).reshape(-1)
        n = min(b.size, self.basis.shape[1])
        return self.offset + self.basis[:, :n] @ b[:n]

    @classmethod
    def from_model(cls, v_template: np.ndarray, shapedirs: np.ndarray, j_regressor: np.ndarray) -> "RootJoint":
        """From MANO arrays: v_template (778, 3), shapedirs (778, 3, B), J_regressor (16, 778)."""
        row = np.asarray(j_regressor, dtype=np.float64)[0]
        return cls(row @ np.asarray(v_template, dtype=np.float64),
                   np.einsum("v,vcb->cb", row, np.asarray(shapedirs, dtype=np.float64)))


def mano_root_joints(model_dir: str | None = None) -> dict[str, RootJoint]:
    """Root joint models of both sides of the MANO model the estimator uses (``model_dir``:
    licensed MANO files; None: $HAND_PERCEPTION_MANO_DIR or the procedural model)."""
    from hand_models.mano import load_mano_model

    out = {}
    for side in ("left", "right"):
        data = load_mano_model(side, model_dir)
        out[side] = RootJoint.from_model(data.v_template, data.shapedirs, data.J_regressor)
    return out


def transform_mano(mano: ManoParams, tf: RigidTransform, root: np.ndarray) -> ManoParams:
    """MANO parameters expressed in the target frame (``root``: the rest root joint J0 (3,) of
    this hand's betas): global_orient' = R R_go, transl' = R (J0 + transl) + t - J0."""
    j0 = np.asarray(root, dtype=np.float64).reshape(3)
    transl = np.asarray(mano.transl, dtype=np.float64).reshape(3)
    return ManoParams(
        global_orient=tf.rotate_rotvecs(np.asarray(mano.global_orient, dtype=np.float64).reshape(3)),
        hand_pose=np.array(mano.hand_pose, dtype=np.float64, copy=True),
        betas=np.array(mano.betas, dtype=np.float64, copy=True),
        transl=tf.rotation @ (j0 + transl) + tf.translation - j0,
    )


RootJointFn = Callable[[str, np.ndarray], np.ndarray]


def root_joint_fn(models: Mapping[str, RootJoint]) -> RootJointFn:
    """``(side, betas) -> J0`` from per-side :class:`RootJoint` models."""
    return lambda side, betas: models[side](betas)


class LazyRootJoint:
    """``(side, betas) -> J0`` of the MANO model in ``model_dir``, loaded on first use (only
    hands with MANO parameters need it)."""

    def __init__(self, model_dir: str | None = None) -> None:
        self.model_dir = model_dir
        self._models: dict[str, RootJoint] | None = None
        self._lock = threading.Lock()

    def __call__(self, side: str, betas: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._models is None:
                self._models = mano_root_joints(self.model_dir)
        return self._models[side](betas)


# =========================================================================== hands, frames, forecasts


def transform_hand(hand: HandState, tf: RigidTransform, root_joint: RootJointFn | None = None) -> HandState:
    """A hand in the target frame: joints, wrist pose and MANO global_orient/transl move; 2D
    keypoints, bbox and confidences stay (they belong to the image). ``depth`` stays the wrist
    depth in the camera. A hand with MANO parameters needs ``root_joint`` (ValueError otherwise)."""
    mano = None
    if hand.mano is not None:
        if root_joint is None:
            raise ValueError("transforming MANO parameters needs the MANO root joint (root_joint)")
        mano = transform_mano(hand.mano, tf, root_joint(hand.side, np.asarray(hand.mano.betas, dtype=np.float64)))
    return dataclasses.replace(
        hand,
        joints=tf.apply(hand.joints),
        wrist_position=tf.apply(hand.wrist_position),
        wrist_orientation_xyzw=tf.rotate_quaternions(hand.wrist_orientation_xyzw),
        mano=mano,
    )


def transform_frame(frame: FrameResult, tf: RigidTransform, root_joint: RootJointFn | None = None) -> FrameResult:
    """A FrameResult in ``tf.target_frame`` (same stamp; every hand transformed)."""
    return dataclasses.replace(frame, frame_id=tf.target_frame,
                               hands=[transform_hand(h, tf, root_joint) for h in frame.hands],
                               stage_latency_s=dict(frame.stage_latency_s), warnings=list(frame.warnings))


def transform_trajectory(traj: HandTrajectory, tf: RigidTransform) -> HandTrajectory:
    """A forecast trajectory in the target frame (hand_pose is local: unchanged)."""
    return HandTrajectory(side=traj.side, wrist_position=tf.apply(traj.wrist_position),
                          wrist_orientation_xyzw=tf.rotate_quaternions(traj.wrist_orientation_xyzw),
                          joints=tf.apply(traj.joints), hand_pose=np.array(traj.hand_pose, dtype=np.float64, copy=True))


def transform_forecast(forecast: BimanualForecast, tf: RigidTransform) -> BimanualForecast:
    """A forecast in ``tf.target_frame`` (the transform at the forecast's stamp, its last observation)."""
    def sample(s: ForecastSample) -> ForecastSample:
        return ForecastSample(probability=s.probability, hands=[transform_trajectory(h, tf) for h in s.hands])

    return dataclasses.replace(forecast, frame_id=tf.target_frame, samples=[sample(s) for s in forecast.samples],
                               mean=None if forecast.mean is None else sample(forecast.mean))


# =========================================================================== lookups with bookkeeping


class TransformUnavailable(Exception):
    """A lookup failed; ``kind`` is one of :data:`SKIP_REASONS`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind if kind in SKIP_REASONS else "invalid"


def tf2_error_kind(exception_name: str, message: str) -> str:
    """Skip reason of a tf2 exception (by class name and message, so no tf2 import here):
    LookupException -> 'missing' ('loop' when tf2 reports a loop in the tree: it does so with a
    LookupException), ConnectivityException -> 'no_path', ExtrapolationException -> 'stale' when
    the stamp is newer than the latest data (the transform's publisher stopped or lags more than
    the timeout), 'extrapolation' when older than the buffer holds; anything else 'invalid'."""
    text = message.lower()
    if "loop" in text:
        return "loop"
    if exception_name == "LookupException":
        return "missing"
    if exception_name == "ConnectivityException":
        return "no_path"
    if exception_name == "ExtrapolationException":
        return "stale" if "future" in text else "extrapolation"
    return "invalid"


#: lookup(target_frame, source_frame, stamp_ns, wait) -> RigidTransform, or raises
#: TransformUnavailable; ``wait=False``: do not wait for the data (answer from what is there)
Lookup = Callable[[str, str, int, bool], RigidTransform]

#: Failures about the shape of the TF tree: waiting for the data of one stamp does not fix them,
#: so after one the next lookups do not wait (no latency added per frame while the robot's TF is
#: absent) until a lookup succeeds again.
STRUCTURAL_REASONS = ("missing", "no_path", "loop")


class TargetFrameTransformer:
    """Puts frames of hands and forecasts into ``target_frame`` through ``lookup``.

    ``frame``/``forecast`` return the transformed output, or None when the transform at its stamp
    is unavailable: the output is skipped, ``skipped[reason]`` counted and ``last_error`` kept.
    A returned transform whose stamp is set (not 0, i.e. not static) and differs from the
    requested one by more than ``max_age_s`` is treated as ``stale``. Outputs already in the
    target frame pass unchanged. After a structural failure (:data:`STRUCTURAL_REASONS`) lookups
    stop waiting for data until one succeeds. Thread-safe counters (the worker transforms, the diagnostics
    timer reads).
    """

    def __init__(self, target_frame: str, lookup: Lookup, root_joint: RootJointFn | None = None,
                 max_age_s: float = 0.5) -> None:
        if not target_frame:
            raise ValueError("target_frame must not be empty")
        self.target_frame = str(target_frame)
        self.lookup = lookup
        self.root_joint = root_joint
        self.max_age_ns = int(round(max_age_s * NS_PER_S))
        self._lock = threading.Lock()
        self.transformed = 0
        self.skipped: dict[str, int] = {k: 0 for k in SKIP_REASONS}
        self.last_error = ""
        self._recent_skips = 0  # since the last diagnostics report
        self._recent_total = 0
        self._structural_failure = False

    def transform_for(self, source_frame: str, stamp_ns: int) -> RigidTransform | None:
        """The transform source -> target at ``stamp_ns``, or None (counted) when unavailable."""
        if source_frame == self.target_frame:
            return RigidTransform.identity(self.target_frame, stamp_ns)
        try:
            tf = self.lookup(self.target_frame, source_frame, int(stamp_ns), not self._structural_failure)
            if tf.stamp_ns and self.max_age_ns and abs(int(tf.stamp_ns) - int(stamp_ns)) > self.max_age_ns:
                raise TransformUnavailable(
                    "stale", f"transform {source_frame!r} -> {self.target_frame!r} is from "
                    f"{tf.stamp_ns / 1e9:.3f} s, {abs(tf.stamp_ns - stamp_ns) / 1e9:.3f} s from the stamp {stamp_ns / 1e9:.3f} s")
        except TransformUnavailable as exc:
            self._structural_failure = exc.kind in STRUCTURAL_REASONS
            self._count_skip(exc.kind, str(exc))
            return None
        except ValueError as exc:  # a malformed transform (NaN, zero quaternion)
            self._count_skip("invalid", str(exc))
            return None
        self._structural_failure = False
        return dataclasses.replace(tf, target_frame=self.target_frame, source_frame=source_frame)

    def _count_skip(self, kind: str, message: str) -> None:
        with self._lock:
            self.skipped[kind] = self.skipped.get(kind, 0) + 1
            self.last_error = f"{kind}: {message}"
            self._recent_skips += 1
            self._recent_total += 1

    def _count_ok(self) -> None:
        with self._lock:
            self.transformed += 1
            self._recent_total += 1

    def frame(self, frame: FrameResult) -> FrameResult | None:
        tf = self.transform_for(frame.frame_id, frame.stamp_ns)
        if tf is None:
            return None
        out = transform_frame(frame, tf, self.root_joint)
        self._count_ok()
        return out

    def forecast(self, forecast: BimanualForecast) -> BimanualForecast | None:
        tf = self.transform_for(forecast.frame_id, forecast.stamp_ns)
        if tf is None:
            return None
        out = transform_forecast(forecast, tf)
        self._count_ok()
        return out

    def report(self) -> tuple[dict[str, Any], str | None]:
        """(values for /diagnostics, the current problem or None) and start a new report period:
        the problem describes only the outputs since the previous report (current state)."""
        with self._lock:
            values: dict[str, Any] = {"target_frame": self.target_frame, "target_frame_outputs": self.transformed,
                                      "target_frame_skipped": sum(self.skipped.values())}
            values.update({f"target_frame_skipped_{k}": v for k, v in self.skipped.items() if v})
            if self.last_error:
                values["target_frame_last_error"] = self.last_error
            problem = None
            if self._recent_skips:
                problem = (f"{self._recent_skips} of {self._recent_total} outputs not published in "
                           f"{self.target_frame!r} ({self.last_error})")
            self._recent_skips = self._recent_total = 0
        return values, problem


__all__ = ["LazyRootJoint", "Lookup", "RigidTransform", "RootJoint", "SKIP_REASONS", "TargetFrameTransformer", "TransformUnavailable",
           "mano_root_joints", "root_joint_fn", "transform_forecast", "transform_frame", "transform_from_msg",
           "tf2_error_kind", "transform_hand", "transform_mano", "transform_trajectory"]
