"""Shared by tests/test_messages.py: the expected hand_perception_msgs package, the ``rb`` and
``fielddefs`` fixtures (the parsed .msg files), factories of core values for every message
(``make_hand``, ``make_forecast``, ...), the generic checks of a message against its .msg
definition and of core values after a round trip, the conversion ``CASES`` under test, and the
strict rclpy-like keyword classes (``FakeRclpyTypes``) that behave like Jazzy's generated ones.
"""

from __future__ import annotations

import array
import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

rosbags = pytest.importorskip("rosbags")

from rosbags.typesys.base import Nodetype  # noqa: E402

from hand_perception.core import conversions as conv  # noqa: E402
from hand_perception.core.types import (  # noqa: E402
    ActionEstimate,
    ActionHypothesis,
    BimanualForecast,
    ForecastSample,
    FrameResult,
    HandState,
    HandTrajectory,
    ManoParams,
)

PKG = "hand_perception_msgs"
EXPECTED_MSGS = {
    "ActionEstimate",
    "ActionHypothesis",
    "BimanualForecast",
    "Hand",
    "HandArray",
    "HandTrajectory",
}

# ROS 2 field types -> numpy dtype / Python type / integer range
_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "uint8": (0, 2**8 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "byte": (0, 255),
    "char": (0, 255),
}
_FLOATS = {"float32", "float64"}
_TYPECODES = {
    "float32": "f",
    "float64": "d",
    "int8": "b",
    "uint8": "B",
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
}
_FLOAT32_MAX = 3.402823466e38


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rb() -> conv.RosbagsTypes:
    return conv.RosbagsTypes()


@pytest.fixture(scope="module")
def fielddefs(rb: conv.RosbagsTypes) -> dict[str, Any]:
    """Parsed field definitions of our messages and of every type they use (Jazzy store)."""
    return rb.typestore.fielddefs


def _rotation_quat(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def make_hand(rng: np.random.Generator, side: str, variant: int, with_mano: bool = True) -> HandState:
    mano = (
        ManoParams(
            global_orient=rng.normal(size=3),
            hand_pose=rng.normal(scale=0.3, size=45),
            betas=rng.normal(size=10),
            transl=rng.normal(size=3) + [0.0, 0.0, 0.6],
        )
        if with_mano
        else None
    )
    return HandState(
        side=side,
        track_id=7 + 10 * variant,
        confidence=0.5 + 0.1 * rng.random(),
        keypoints_2d=rng.uniform(0, 640, size=(21, 2)),
        keypoint_confidence=rng.uniform(0.1, 1.0, size=21),
        joints=rng.normal(scale=0.05, size=(21, 3)) + [0.1, -0.05, 0.5],
        wrist_position=rng.normal(scale=0.1, size=3) + [0.0, 0.0, 0.5],
        wrist_orientation_xyzw=_rotation_quat(rng, 1)[0],
        mano=mano,
        bbox=np.sort(rng.uniform(0, 480, size=4)),
        is_observed=bool(variant == 0),
        depth=0.4 + rng.random(),
        model=f"procedural_mano_v{variant}",
        placement_source=("monocular", "fused", "depth")[variant % 3],
        depth_std=0.002 + 0.01 * rng.random(),
    )


def make_frame_result(rng: np.random.Generator, variant: int = 0) -> FrameResult:
    return FrameResult(
        stamp_ns=1_700_000_000_123_456_789 + 1_033_000_007 * variant,
        frame_id=f"camera{variant}_color_optical_frame",
        hands=[make_hand(rng, side, variant) for side in (("left", "right"), ("right", "left"))[variant % 2]],
        intrinsics_default=bool(variant == 1),
        latency_s=0.0123 + 0.01 * variant,
    )


def make_trajectory(rng: np.random.Generator, side: str, steps: int) -> HandTrajectory:
    return HandTrajectory(
        side=side,
        wrist_position=rng.normal(scale=0.1, size=(steps, 3)) + [0.0, 0.0, 0.5],
        wrist_orientation_xyzw=_rotation_quat(rng, steps),
        joints=rng.normal(scale=0.05, size=(steps, 21, 3)) + [0.0, 0.0, 0.5],
        hand_pose=rng.normal(scale=0.3, size=(steps, 45)),
    )


def make_sample(rng: np.random.Generator, steps: int, probability: float, flip: bool = False) -> ForecastSample:
    sides = ("right", "left") if flip else ("left", "right")
    return ForecastSample(probability=probability, hands=[make_trajectory(rng, s, steps) for s in sides])


def make_forecast(rng: np.random.Generator, variant: int = 0, with_mean: bool = True) -> BimanualForecast:
    steps = 5 + variant
    k = 3 + variant
    probs = rng.dirichlet(np.ones(k))
    return BimanualForecast(
        stamp_ns=1_700_000_001_000_000_000 + 2_000_000_007 * variant,
        frame_id=f"cam{variant}_optical",
        time_step_s=0.1 / (1 + variant),
        horizon_s=steps * 0.1 / (1 + variant),
        samples=[make_sample(rng, steps, float(p), flip=bool(variant)) for p in probs],
        mean=make_sample(rng, steps, 1.0 - 0.5 * variant, flip=bool(variant)) if with_mean else None,
    )


def make_action(rng: np.random.Generator, variant: int = 0, side: str | None = "right") -> ActionEstimate:
    probs = np.sort(rng.dirichlet(np.ones(3)))[::-1]
    labels = [("open bottle", "open", "bottle"), ("pour water", "pour", "water"), ("pinch", "pinch", "")]
    return ActionEstimate(
        stamp_ns=1_700_000_002_500_000_000 + 3_000_000_001 * variant,
        frame_id=f"cam{variant}",
        taxonomy="h2o" if variant == 0 else "gestures",
        hypotheses=[
            ActionHypothesis(label=f"{lab}{variant}", probability=float(p), verb=f"{v}{variant}", noun=f"{n}{variant}")
            for (lab, v, n), p in zip(labels, probs)
        ],
        window_start_ns=1_700_000_000_000_000_000 + 1_000_000_003 * variant,
        window_end_ns=1_700_000_002_500_000_000 + 4_000_000_002 * variant,
        side=side,
        is_forecast=bool(variant == 1),
    )


# --------------------------------------------------------------------------- generic checks


def assert_core_equal(a: Any, b: Any, path: str = "") -> None:
    """Recursive equality of core dataclasses, float32 tolerance on floats and arrays."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            assert_core_equal(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_core_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a == b, path
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        assert a_arr.shape == b_arr.shape, f"{path}: {a_arr.shape} != {b_arr.shape}"
        np.testing.assert_allclose(b_arr, a_arr, rtol=2e-7, atol=1e-6, equal_nan=True, err_msg=path)
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=2e-7, abs_tol=1e-6) or (math.isnan(a) and math.isnan(b)), (
            f"{path}: {a} != {b}"
        )
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _quantity_groups(traj: HandTrajectory) -> list[tuple[str, np.ndarray]]:
    """(name, values (T, D)) of the packed quantity groups of a trajectory (one scale each)."""
    steps = np.asarray(traj.wrist_position).shape[0]
    positions = np.concatenate([np.asarray(traj.wrist_position, dtype=np.float64),
                                np.asarray(traj.joints, dtype=np.float64).reshape(steps, 63)], axis=1)
    return [("position", positions), ("orientation", np.asarray(traj.wrist_orientation_xyzw, dtype=np.float64)),
            ("hand_pose", np.asarray(traj.hand_pose, dtype=np.float64))]


def assert_hand_forecast_close(a: tuple[HandTrajectory | None, list[HandTrajectory]],
                               b: tuple[HandTrajectory, list[HandTrajectory]], path: str = "") -> None:
    """Sent (mean or None, samples) vs decoded (mean, samples): the mean to float32 precision, every
    sample within half a code step of its largest deviation from the mean (the packing's bound;
    orientations within one step, as they are renormalised after decoding)."""
    mean_a, samples_a = a
    mean_b, samples_b = b
    assert len(samples_a) == len(samples_b), path
    if mean_a is not None:
        assert_core_equal(mean_a, mean_b, f"{path}.mean")
    ref = dict(_quantity_groups(mean_b))
    for k, (x, y) in enumerate(zip(samples_a, samples_b)):
        assert x.side == y.side and y.side == mean_b.side, f"{path}.samples[{k}].side"
        for (name, xa), (_, ya) in zip(_quantity_groups(x), _quantity_groups(y)):
            assert xa.shape == ya.shape, f"{path}.samples[{k}].{name}"
            assert np.array_equal(np.isnan(xa), np.isnan(ya)), f"{path}.samples[{k}].{name}: NaN pattern"
            dev = np.abs(xa - ref[name])
            largest = dev[np.isfinite(dev)].max(initial=0.0)
            step = largest / 127.0
            tol = (1.0 if name == "orientation" else 0.5) * step * (1 + 1e-4) + 1e-6
            err = np.abs(xa - ya)
            assert err[np.isfinite(err)].max(initial=0.0) <= tol, f"{path}.samples[{k}].{name}: {err.max()} > {tol}"


def assert_forecast_close(a: BimanualForecast, b: BimanualForecast) -> None:
    """A forecast and its decoded message: metadata exact, means float32, samples within the bound."""
    strip = lambda f: dataclasses.replace(f, samples=[dataclasses.replace(s, hands=[]) for s in f.samples],  # noqa: E731
                                          mean=None if f.mean is None else dataclasses.replace(f.mean, hands=[]))
    assert_core_equal(strip(a), strip(b))
    assert (a.mean is None) == (b.mean is None)
    sides = [h.side for h in (a.samples[0].hands if a.samples else a.mean.hands if a.mean else [])]
    for side in sides:
        pick = lambda sample: next(h for h in sample.hands if h.side == side)  # noqa: E731
        mean_b = pick(b.mean) if b.mean is not None else None
        if mean_b is None:  # the decoder still knows the reference: rebuild it from the message side
            mean_b = _reference_of(a, side)
        assert_hand_forecast_close((pick(a.mean) if a.mean is not None else None, [pick(s) for s in a.samples]),
                                   (mean_b, [pick(s) for s in b.samples]), f"forecast.{side}")


def _reference_of(forecast: BimanualForecast, side: str) -> HandTrajectory:
    """The element-wise sample average the packing uses as reference when there is no mean."""
    trajs = [next(h for h in s.hands if h.side == side) for s in forecast.samples]
    avg = lambda f: np.nanmean(np.stack([np.asarray(getattr(t, f), dtype=np.float64) for t in trajs]), axis=0)  # noqa: E731
    return HandTrajectory(side=side, wrist_position=avg("wrist_position"), wrist_orientation_xyzw=avg("wrist_orientation_xyzw"),
                          joints=avg("joints"), hand_pose=avg("hand_pose"))


def _msg_field_names(msg: Any, constants: set[str]) -> list[str]:
    if dataclasses.is_dataclass(msg):  # rosbags (constants and __msgtype__ appear as defaulted fields)
        return [f.name for f in dataclasses.fields(msg) if f.name not in constants and f.name != "__msgtype__"]
    return list(msg.FIELDS)  # FakeRclpy classes below


def check_against_defs(msg: Any, typename: str, fielddefs: dict[str, Any], path: str = "") -> None:
    """Assert ``msg`` has exactly the fields of ``typename``'s .msg, each of the right type and size."""
    consts, fields = fielddefs[typename]
    names = [name for name, _ in fields]
    assert _msg_field_names(msg, {c for c, _, _ in consts}) == names, f"{path or typename}: fields differ from the .msg"
    for name, (kind, spec) in fields:
        check_value(getattr(msg, name), kind, spec, fielddefs, f"{path or typename}.{name}")


def check_value(value: Any, kind: Nodetype, spec: Any, fielddefs: dict[str, Any], path: str) -> None:
    if kind == Nodetype.BASE:
        typ = spec[0]
        if typ == "bool":
            assert isinstance(value, bool), f"{path}: {type(value)} is not bool"
        elif typ == "string":
            assert isinstance(value, str), f"{path}: {type(value)} is not str"
        elif typ in _FLOATS:
            assert isinstance(value, float), f"{path}: {type(value)} is not a Python float"
        else:
            assert isinstance(value, int) and not isinstance(value, bool), f"{path}: not int"
            lo, hi = _INT_RANGES[typ]
            assert lo <= value <= hi, f"{path}: {value} outside {typ}"
    elif kind == Nodetype.NAME:
        assert getattr(value, "__msgtype__", None) == spec, f"{path}: {value!r} is not a {spec}"
        check_against_defs(value, spec, fielddefs, path)
    elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        (sub_kind, sub_spec), size = spec
        if kind == Nodetype.ARRAY:
            assert len(value) == size, f"{path}: length {len(value)} != {size}"
        if sub_kind == Nodetype.BASE:
            typ = sub_spec[0]
            if isinstance(value, np.ndarray):
                assert value.dtype == np.dtype(typ), f"{path}: dtype {value.dtype} != {typ}"
                assert value.ndim == 1, path
            else:
                assert isinstance(value, array.array) and value.typecode == _TYPECODES[typ], path
        else:
            assert isinstance(value, list), f"{path}: {type(value)} is not a list"
            for i, item in enumerate(value):
                check_value(item, sub_kind, sub_spec, fielddefs, f"{path}[{i}]")
    else:  # pragma: no cover
        raise AssertionError(f"{path}: unknown node type {kind}")


def leaves(msg: Any, typename: str, fielddefs: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{path: value}`` of every primitive leaf (primitive arrays as tuples)."""
    out: dict[str, Any] = {}
    for name, (kind, spec) in fielddefs[typename][1]:
        value = getattr(msg, name)
        path = f"{prefix}{name}"
        if kind == Nodetype.BASE:
            out[path] = value
        elif kind == Nodetype.NAME:
            out.update(leaves(value, spec, fielddefs, path + "."))
        else:
            (sub_kind, sub_spec), _ = spec
            if sub_kind == Nodetype.BASE:
                out[path] = tuple(np.asarray(value).tolist())
            else:
                for i, item in enumerate(value):
                    out.update(leaves(item, sub_spec, fielddefs, f"{path}[{i}]."))
    return out


def _pattern(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def field_patterns(typename: str, fielddefs: dict[str, Any], prefix: str = "") -> set[str]:
    """Every leaf path pattern a message of ``typename`` can have, from the .msg definitions."""
    out: set[str] = set()
    for name, (kind, spec) in fielddefs[typename][1]:
        path = f"{prefix}{name}"
        if kind == Nodetype.BASE:
            out.add(path)
        elif kind == Nodetype.NAME:
            out |= field_patterns(spec, fielddefs, path + ".")
        else:
            (sub_kind, sub_spec), _ = spec
            if sub_kind == Nodetype.BASE:
                out.add(path)
            else:
                out |= field_patterns(sub_spec, fielddefs, path + "[].")
    return out


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return len(a) != len(b) or any(_differs(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return not (isinstance(b, float) and math.isnan(b))
    return a != b


# --------------------------------------------------------------------------- conversions under test

# (message type, core -> msg, msg -> core, core factory(rng, variant))
CASES = {
    "HandArray": (
        conv.frame_result_to_hand_array,
        conv.hand_array_to_frame_result,
        lambda rng, v: make_frame_result(rng, v),
    ),
    "Hand": (
        lambda h, t: conv.hand_to_msg(h, 1_234_567_890_123 + 5, "cam_optical", t),
        conv.msg_to_hand,
        lambda rng, v: make_hand(rng, ("left", "right")[v % 2], v),
    ),
    "BimanualForecast": (
        lambda f, t: conv.forecast_to_msg(f, t, model="constant_velocity"),
        conv.msg_to_forecast,
        lambda rng, v: make_forecast(rng, v, with_mean=v == 0),
    ),
    "HandTrajectory": (  # core: (mean, samples) of one side
        lambda ms, t: conv.hand_forecast_to_msg(ms[1][0].side, ms[0], ms[1], len(ms[1][0].wrist_position), t),
        lambda m: conv.msg_to_hand_forecast(m, len(m.position_scale), len(m.mean_wrist_position) // 3),
        lambda rng, v: make_hand_forecast(rng, ("left", "right")[v % 2], 3 + v, 2 + v),
    ),
    "ActionEstimate": (
        conv.action_to_msg,
        conv.msg_to_action,
        lambda rng, v: make_action(rng, v, side=("left", "right")[v % 2]),
    ),
    "ActionHypothesis": (
        conv.hypothesis_to_msg,
        conv.msg_to_hypothesis,
        lambda rng, v: ActionHypothesis(label=f"grasp{v}", probability=0.3 + 0.4 * v, verb=f"take{v}", noun=f"cup{v}"),
    ),
}


# Decoded vs sent: forecasts carry their samples as int8 codes (within half a code step).
COMPARE = {"BimanualForecast": assert_forecast_close, "HandTrajectory": assert_hand_forecast_close}


def make_hand_forecast(rng: np.random.Generator, side: str, steps: int, k: int) -> tuple[HandTrajectory, list[HandTrajectory]]:
    return make_trajectory(rng, side, steps), [make_trajectory(rng, side, steps) for _ in range(k)]


# Message fields that have no core-type counterpart and come from an argument instead.
# (Hand's header comes from the FrameResult; the HandArray case covers it.)
NOT_FROM_CORE = {
    "BimanualForecast": {"model"},
    "Hand": {"header.stamp.sec", "header.stamp.nanosec", "header.frame_id"},
}


def _full(name: str) -> str:
    return f"{PKG}/msg/{name}"


# --------------------------------------------------------------------------- rclpy-like classes


class _FakeRclpyMessage:
    """Base of keyword-only classes that check values like rosidl_generator_py (Jazzy) does."""

    FIELDS: tuple[str, ...] = ()
    SPECS: dict[str, Any] = {}
    __msgtype__ = ""

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self.FIELDS)
        assert not unknown, f"Invalid arguments passed to constructor: {', '.join(sorted(unknown))}"
        # Like the tests' contract (stricter than rclpy, which would default them): all fields given.
        missing = set(self.FIELDS) - set(kwargs)
        assert not missing, f"{self.__msgtype__}: fields not set: {sorted(missing)}"
        for name in self.FIELDS:
            setattr(self, name, kwargs[name])

    def __setattr__(self, name: str, value: Any) -> None:
        kind, spec = self.SPECS[name]
        object.__setattr__(self, name, self._check(name, kind, spec, value))

    def _check(self, name: str, kind: Nodetype, spec: Any, value: Any) -> Any:
        where = f"{self.__msgtype__}.{name}"
        if kind == Nodetype.BASE:
            _check_base(where, spec[0], value)
            return value
        if kind == Nodetype.NAME:
            assert isinstance(value, self.PROVIDER[spec]), f"{where}: not a {spec}"
            return value
        (sub_kind, sub_spec), size = spec
        fixed = kind == Nodetype.ARRAY
        if sub_kind == Nodetype.BASE:
            typ = sub_spec[0]
            if fixed and isinstance(value, np.ndarray):
                assert value.dtype == np.dtype(typ), f"{where}: numpy dtype must be {typ}"
                assert value.size == size, f"{where}: numpy array must have a size of {size}"
                return value
            if not fixed and isinstance(value, array.array):
                assert value.typecode == _TYPECODES[typ], f"{where}: array typecode"
                return value
            # Jazzy accepts only Sequence/Set/UserList here; numpy arrays are not Sequences.
            assert isinstance(value, Sequence) and not isinstance(value, str), (
                f"{where}: must be a set or sequence (got {type(value).__name__})"
            )
            if fixed:
                assert len(value) == size, f"{where}: length must be {size}"
            for v in value:
                _check_base(where, typ, v)
            return np.array(value, dtype=typ) if fixed else array.array(_TYPECODES[typ], value)
        cls = self.PROVIDER[sub_spec]
        assert isinstance(value, Sequence) and not isinstance(value, str), f"{where}: must be a sequence"
        if fixed:
            assert len(value) == size, f"{where}: length must be {size}"
        assert all(isinstance(v, cls) for v in value), f"{where}: items must be {sub_spec}"
        return value


def _check_base(where: str, typ: str, value: Any) -> None:
    if typ == "bool":
        assert isinstance(value, bool), f"{where}: must be of type 'bool'"
    elif typ == "string":
        assert isinstance(value, str), f"{where}: must be of type 'str'"
    elif typ in _FLOATS:
        assert isinstance(value, float), f"{where}: must be of type 'float' (got {type(value).__name__})"
        if typ == "float32":
            assert not (value < -_FLOAT32_MAX or value > _FLOAT32_MAX) or math.isinf(value), where
    else:
        assert isinstance(value, int), f"{where}: must be of type 'int' (got {type(value).__name__})"
        lo, hi = _INT_RANGES[typ]
        assert lo <= value <= hi, f"{where}: out of range for {typ}"


class FakeRclpyTypes(conv.RclpyTypes):
    """RclpyTypes whose classes are built from the parsed .msg field lists instead of imported."""

    def __init__(self, fielddefs: dict[str, Any]) -> None:
        super().__init__()
        self._defs = fielddefs

    def _load(self, name: str) -> Any:
        consts, fields = self._defs[name]
        attrs = {
            "FIELDS": tuple(f for f, _ in fields),
            "SPECS": dict(fields),
            "__msgtype__": name,
            "PROVIDER": self,
            **{c: v for c, _, v in consts},
        }
        return type(name.split("/")[-1], (_FakeRclpyMessage,), attrs)
