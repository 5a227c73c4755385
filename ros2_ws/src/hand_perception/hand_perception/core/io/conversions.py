"""Core dataclasses <-> ``hand_perception_msgs`` messages, for rclpy and ``rosbags`` alike.

The same functions build and read messages of either implementation. Building goes through a
*type provider* (``types``) that maps full type names (``'hand_perception_msgs/msg/Hand'``,
``'geometry_msgs/msg/Pose'``, ``'std_msgs/msg/Header'``, ``'builtin_interfaces/msg/Time'``, ...)
to message constructors and knows how that implementation wants unbounded primitive sequences:

* :class:`RosbagsTypes` registers the ``.msg`` files of ``hand_perception_msgs`` (read from
  :func:`msg_dir`) in a ``rosbags`` typestore and hands out its dataclasses. Used by replay,
  tests and anything that writes bags without ROS.
* :class:`RclpyTypes` imports the rosidl-generated classes (``hand_perception_msgs.msg`` ...)
  lazily. Used by the nodes only.

Every message is constructed with keyword arguments for *all* of its fields (rosbags dataclasses
need all of them; rclpy classes accept them). Primitive values are plain Python ``int``,
``float``, ``bool`` and ``str`` (rclpy rejects numpy scalars); fixed-size primitive arrays are
numpy arrays of the exact dtype (both accept those); unbounded primitive sequences go through
``types.sequence`` (numpy for rosbags, ``array.array`` for rclpy, which in Jazzy rejects numpy
arrays there). Reading only uses attribute access and ``np.asarray``, so it works on messages of
both implementations (and on any object with the same attributes).

Shapes are checked before a message is built: a wrong-sized array raises ``ValueError`` naming
the field, instead of an assertion deep inside rclpy or a serialisation error in rosbags.

Conventions (see the ``.msg`` files): camera optical frame, metres, radians, quaternions
(x, y, z, w), joint order ``hand_models.joints.JOINT_NAMES``. A hand without a MANO fit carries
NaN MANO arrays; a forecast is packed (float32 mean, int8 sample codes: see
``core.forecast_packing`` and HandTrajectory.msg).
"""

from __future__ import annotations

import array
import importlib
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..types import (
    ActionEstimate,
    ActionHypothesis,
    FrameResult,
    HandState,
    ManoParams,
    Side,
)

MSG_PACKAGE = "hand_perception_msgs"

# Full type names used here.
HAND = f"{MSG_PACKAGE}/msg/Hand"
HAND_ARRAY = f"{MSG_PACKAGE}/msg/HandArray"
HAND_TRAJECTORY = f"{MSG_PACKAGE}/msg/HandTrajectory"
BIMANUAL_FORECAST = f"{MSG_PACKAGE}/msg/BimanualForecast"
ACTION_HYPOTHESIS = f"{MSG_PACKAGE}/msg/ActionHypothesis"
ACTION_ESTIMATE = f"{MSG_PACKAGE}/msg/ActionEstimate"
HEADER = "std_msgs/msg/Header"
TIME = "builtin_interfaces/msg/Time"
POSE = "geometry_msgs/msg/Pose"
POINT = "geometry_msgs/msg/Point"
QUATERNION = "geometry_msgs/msg/Quaternion"

# Constants of the `side` fields (checked against the .msg files by the tests).
SIDE_LEFT = 0
SIDE_RIGHT = 1
SIDE_BOTH = 2  # ActionEstimate only
_SIDE_CODES: dict[str, int] = {"left": SIDE_LEFT, "right": SIDE_RIGHT}
_SIDE_NAMES: dict[int, Side] = {SIDE_LEFT: "left", SIDE_RIGHT: "right"}

# Constants of Hand.placement_source (checked against Hand.msg by the tests).
PLACEMENT_MONOCULAR = 0
PLACEMENT_DEPTH = 1
PLACEMENT_FUSED = 2
_PLACEMENT_CODES: dict[str, int] = {"monocular": PLACEMENT_MONOCULAR, "depth": PLACEMENT_DEPTH,
                                    "fused": PLACEMENT_FUSED}
_PLACEMENT_NAMES: dict[int, str] = {v: k for k, v in _PLACEMENT_CODES.items()}

NUM_JOINTS = 21
HAND_POSE_DIM = 45
BETAS_DIM = 10

_NS_PER_S = 1_000_000_000
_INT32 = (-(2**31), 2**31 - 1)
_UINT32_MAX = 2**32 - 1


# --------------------------------------------------------------------------- msg folder


def msg_dir() -> Path:
    """The ``msg`` folder of ``hand_perception_msgs``.

    Order: the ``HAND_PERCEPTION_MSGS_DIR`` environment variable; the source tree next to this
    package (``ros2_ws/src/hand_perception_msgs/msg``, also found through a colcon
    ``--symlink-install``); the installed package's share folder via ``ament_index_python``.
    """
    env = os.environ.get("HAND_PERCEPTION_MSGS_DIR")
    if env:
        path = Path(env)
        if not path.is_dir():
            raise FileNotFoundError(f"HAND_PERCEPTION_MSGS_DIR={env!r} is not a folder")
        return path
    # .../ros2_ws/src/hand_perception/hand_perception/core/io/conversions.py -> .../ros2_ws/src
    source = Path(__file__).resolve().parents[4] / MSG_PACKAGE / "msg"
    if source.is_dir():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        get_package_share_directory = None
    if get_package_share_directory is not None:
        try:
            share = Path(get_package_share_directory(MSG_PACKAGE)) / "msg"
        except (KeyError, LookupError, ValueError):  # PackageNotFoundError is a KeyError
            share = None
        if share is not None and share.is_dir():
            return share
    raise FileNotFoundError(
        f"cannot find the {MSG_PACKAGE} msg folder: not in the source tree ({source}), not "
        "installed (ament index); set HAND_PERCEPTION_MSGS_DIR"
    )


def msg_files(path: str | os.PathLike | None = None) -> dict[str, Path]:
    """Full type name -> ``.msg`` file, for every message of the package."""
    folder = Path(path) if path is not None else msg_dir()
    return {f"{MSG_PACKAGE}/msg/{p.stem}": p for p in sorted(folder.glob("*.msg"))}


def load_msg_definitions(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Parse the package's ``.msg`` files with rosbags (``{typename: (consts, fields)}``)."""
    from rosbags.typesys import get_types_from_msg

    defs: dict[str, Any] = {}
    for name, file in msg_files(path).items():
        defs.update(get_types_from_msg(file.read_text(encoding="utf-8"), name))
    if not defs:
        raise FileNotFoundError(f"no .msg files in {path or msg_dir()}")
    return defs


# --------------------------------------------------------------------------- providers


class MessageTypes:
    """Type provider: ``types['pkg/msg/Name']`` returns that message's constructor.

    Subclasses implement :meth:`_load` and, where needed, :meth:`sequence`.
    """

    def __init__(self) -> None:
        self._cache: dict[str, Callable[..., Any]] = {}

    def __getitem__(self, name: str) -> Callable[..., Any]:
        cls = self._cache.get(name)
        if cls is None:
            cls = self._cache[name] = self._load(name)
        return cls

    def _load(self, name: str) -> Callable[..., Any]:
        raise NotImplementedError

    def fixed_array(self, values: np.ndarray) -> Any:
        """Value for a fixed-size primitive array field (``float32[45]``): numpy, exact dtype."""
        return values

    def sequence(self, values: np.ndarray) -> Any:
        """Value for an unbounded primitive sequence field (``float32[]``)."""
        return values


class RosbagsTypes(MessageTypes):
    """rosbags dataclasses, with this package's messages registered in ``self.typestore``.

    ``typestore`` defaults to a fresh ROS 2 Jazzy store (the newest store if rosbags lacks
    Jazzy). The store can be passed to ``rosbags.rosbag2.Writer.add_connection(typestore=...)``
    so that bags carry our full message definitions.
    """

    def __init__(self, typestore: Any = None, msg_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        from rosbags.typesys import Stores, get_typestore

        if typestore is None:
            store = getattr(Stores, "ROS2_JAZZY", None) or Stores.LATEST
            typestore = get_typestore(store)
        self.typestore = typestore
        self.definitions = load_msg_definitions(msg_path)
        self.typestore.register(self.definitions)

    def _load(self, name: str) -> Callable[..., Any]:
        try:
            return self.typestore.types[name]
        except KeyError:
            raise KeyError(f"message type {name!r} is not in the rosbags typestore") from None

    def serialize(self, msg: Any) -> bytes:
        """CDR bytes of a message (little endian, as rosbag2 stores them)."""
        return bytes(self.typestore.serialize_cdr(msg, msg.__msgtype__))

    def deserialize(self, data: bytes | memoryview, typename: str) -> Any:
        return self.typestore.deserialize_cdr(data, typename)


# numpy dtype name -> array.array typecode (rosidl_generator_py's mapping)
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


class RclpyTypes(MessageTypes):
    """rosidl-generated Python classes, imported on first use (needs a sourced ROS 2)."""

    def _load(self, name: str) -> Callable[..., Any]:
        package, kind, typ = name.split("/")
        module = importlib.import_module(f"{package}.{kind}")
        return getattr(module, typ)

    def sequence(self, values: np.ndarray) -> Any:
        values = np.ascontiguousarray(values)
        return array.array(_TYPECODES[values.dtype.name], values.tobytes())


# --------------------------------------------------------------------------- checks


def _f32(values: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """float32 copy of ``values`` flattened, after checking its shape."""
    arr = np.asarray(values)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)


def _f64(values: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    return arr


def _int32(value: Any, name: str) -> int:
    v = int(value)
    if not _INT32[0] <= v <= _INT32[1]:
        raise ValueError(f"{name}: {v} does not fit in int32")
    return v


def _side_code(side: Any, name: str = "side") -> int:
    try:
        return _SIDE_CODES[side]
    except (KeyError, TypeError):
        raise ValueError(f"{name}: expected 'left' or 'right', got {side!r}") from None


def _side_name(code: Any, name: str = "side") -> Side:
    try:
        return _SIDE_NAMES[int(code)]
    except KeyError:
        raise ValueError(f"{name}: unknown side code {code!r}") from None


def _read(values: Any, size: int, name: str) -> np.ndarray:
    """float64 array of a primitive array field read from a message, length checked."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != size:
        raise ValueError(f"{name}: expected {size} values, got {arr.size}")
    return arr


# --------------------------------------------------------------------------- time, header


def stamp_to_time(ns: int, types: MessageTypes) -> Any:
    """``builtin_interfaces/Time`` for a stamp in integer nanoseconds (floor division, as rclpy)."""
    sec, nanosec = divmod(int(ns), _NS_PER_S)
    if not _INT32[0] <= sec <= _INT32[1]:
        raise ValueError(f"stamp {ns} ns is outside the builtin_interfaces/Time range")
    return types[TIME](sec=int(sec), nanosec=int(nanosec))


def time_to_ns(t: Any) -> int:
    """Integer nanoseconds of a ``builtin_interfaces/Time``."""
    return int(t.sec) * _NS_PER_S + int(t.nanosec)


def _header(stamp_ns: int, frame_id: str, types: MessageTypes) -> Any:
    return types[HEADER](stamp=stamp_to_time(stamp_ns, types), frame_id=str(frame_id))


def _point(types: MessageTypes, p: np.ndarray) -> Any:
    return types[POINT](x=float(p[0]), y=float(p[1]), z=float(p[2]))


def _points(types: MessageTypes, pts: np.ndarray) -> list[Any]:
    cls = types[POINT]
    return [cls(x=x, y=y, z=z) for x, y, z in pts.tolist()]


def _pose(types: MessageTypes, position: np.ndarray, xyzw: np.ndarray) -> Any:
    x, y, z, w = (float(v) for v in xyzw)
    return types[POSE](
        position=_point(types, position),
        orientation=types[QUATERNION](x=x, y=y, z=z, w=w),
    )


def _read_pose(pose: Any) -> tuple[np.ndarray, np.ndarray]:
    p, q = pose.position, pose.orientation
    return np.array([p.x, p.y, p.z], dtype=np.float64), np.array(
        [q.x, q.y, q.z, q.w], dtype=np.float64
    )


def _read_points(points: Iterable[Any]) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in points], dtype=np.float64).reshape(-1, 3)


# --------------------------------------------------------------------------- Hand, HandArray


def hand_to_msg(hand: HandState, stamp_ns: int, frame_id: str, types: MessageTypes) -> Any:
    """``hand_perception_msgs/Hand`` of one :class:`HandState` seen in the image at ``stamp_ns``."""
    mano = hand.mano
    if mano is None:
        global_orient = np.full(3, np.nan, np.float32)
        hand_pose = np.full(HAND_POSE_DIM, np.nan, np.float32)
        betas = np.full(BETAS_DIM, np.nan, np.float32)
        transl = np.full(3, np.nan, np.float32)
    else:
        global_orient = _f32(mano.global_orient, (3,), "mano.global_orient")
        hand_pose = _f32(mano.hand_pose, (HAND_POSE_DIM,), "mano.hand_pose")
        betas = _f32(mano.betas, (BETAS_DIM,), "mano.betas")
        transl = _f32(mano.transl, (3,), "mano.transl")
    joints = _f64(hand.joints, (NUM_JOINTS, 3), "joints")
    position = _f64(hand.wrist_position, (3,), "wrist_position")
    orientation = _f64(hand.wrist_orientation_xyzw, (4,), "wrist_orientation_xyzw")
    keypoints_2d = _f32(hand.keypoints_2d, (NUM_JOINTS, 2), "keypoints_2d")
    keypoint_confidence = _f32(hand.keypoint_confidence, (NUM_JOINTS,), "keypoint_confidence")
    bbox = _f32(hand.bbox, (4,), "bbox")
    fixed = types.fixed_array
    return types[HAND](
        header=_header(stamp_ns, frame_id, types),
        track_id=_int32(hand.track_id, "track_id"),
        side=_side_code(hand.side),
        confidence=float(hand.confidence),
        is_observed=bool(hand.is_observed),
        global_orient=fixed(global_orient),
        hand_pose=fixed(hand_pose),
        betas=fixed(betas),
        transl=fixed(transl),
        wrist=_pose(types, position, orientation),
        joints=_points(types, joints),
        keypoints_2d=fixed(keypoints_2d),
        keypoint_confidence=fixed(keypoint_confidence),
        bbox=fixed(bbox),
        depth=float(hand.depth),
        depth_std=float(getattr(hand, "depth_std", float("nan"))),
        placement_source=_placement_code(getattr(hand, "placement_source", "monocular")),
        model=str(hand.model),
    )


def _placement_code(source: Any) -> int:
    try:
        return _PLACEMENT_CODES[str(source)]
    except KeyError:
        raise ValueError(f"placement_source must be one of {sorted(_PLACEMENT_CODES)}, got {source!r}") from None


def msg_to_hand(msg: Any) -> HandState:
    """:class:`HandState` of a ``Hand`` message (``mano`` is None when its arrays are all NaN)."""
    global_orient = _read(msg.global_orient, 3, "global_orient")
    hand_pose = _read(msg.hand_pose, HAND_POSE_DIM, "hand_pose")
    betas = _read(msg.betas, BETAS_DIM, "betas")
    transl = _read(msg.transl, 3, "transl")
    parts = (global_orient, hand_pose, betas, transl)
    mano = (
        None
        if all(np.isnan(p).all() for p in parts)
        else ManoParams(global_orient=global_orient, hand_pose=hand_pose, betas=betas, transl=transl)
    )
    joints = _read_points(msg.joints)
    if joints.shape != (NUM_JOINTS, 3):
        raise ValueError(f"joints: expected {NUM_JOINTS} points, got {joints.shape[0]}")
    position, orientation = _read_pose(msg.wrist)
    return HandState(
        side=_side_name(msg.side),
        track_id=int(msg.track_id),
        confidence=float(msg.confidence),
        keypoints_2d=_read(msg.keypoints_2d, 2 * NUM_JOINTS, "keypoints_2d").reshape(NUM_JOINTS, 2),
        keypoint_confidence=_read(msg.keypoint_confidence, NUM_JOINTS, "keypoint_confidence"),
        joints=joints,
        wrist_position=position,
        wrist_orientation_xyzw=orientation,
        mano=mano,
        bbox=_read(msg.bbox, 4, "bbox"),
        is_observed=bool(msg.is_observed),
        depth=float(msg.depth),
        model=str(msg.model),
        placement_source=_PLACEMENT_NAMES.get(int(getattr(msg, "placement_source", 0)), "monocular"),
        depth_std=float(getattr(msg, "depth_std", float("nan"))),
    )


def frame_result_to_hand_array(result: FrameResult, types: MessageTypes) -> Any:
    """``hand_perception_msgs/HandArray`` of a :class:`FrameResult`.

    ``stage_latency_s`` and ``warnings`` are not part of the message (they go to /diagnostics).
    """
    return types[HAND_ARRAY](
        header=_header(result.stamp_ns, result.frame_id, types),
        hands=[hand_to_msg(h, result.stamp_ns, result.frame_id, types) for h in result.hands],
        processing_latency=float(result.latency_s),
        intrinsics_default=bool(result.intrinsics_default),
    )


def hand_array_to_frame_result(msg: Any) -> FrameResult:
    """:class:`FrameResult` of a ``HandArray`` message."""
    return FrameResult(
        stamp_ns=time_to_ns(msg.header.stamp),
        frame_id=str(msg.header.frame_id),
        hands=[msg_to_hand(h) for h in msg.hands],
        intrinsics_default=bool(msg.intrinsics_default),
        latency_s=float(msg.processing_latency),
    )


# --------------------------------------------------------------------------- actions


def hypothesis_to_msg(hyp: ActionHypothesis, types: MessageTypes) -> Any:
    return types[ACTION_HYPOTHESIS](
        label=str(hyp.label), verb=str(hyp.verb), noun=str(hyp.noun), probability=float(hyp.probability)
    )


def msg_to_hypothesis(msg: Any) -> ActionHypothesis:
    return ActionHypothesis(
        label=str(msg.label), probability=float(msg.probability), verb=str(msg.verb), noun=str(msg.noun)
    )


def _rank(hyps: Iterable[ActionHypothesis]) -> list[ActionHypothesis]:
    """Most likely first (stable; NaN probabilities last)."""

    def key(h: ActionHypothesis) -> float:
        p = float(h.probability)
        return math.inf if math.isnan(p) else -p

    return sorted(hyps, key=key)


def action_to_msg(estimate: ActionEstimate, types: MessageTypes) -> Any:
    """``hand_perception_msgs/ActionEstimate``; hypotheses sorted, ``side=None`` becomes BOTH."""
    side = SIDE_BOTH if estimate.side is None else _side_code(estimate.side)
    return types[ACTION_ESTIMATE](
        header=_header(estimate.stamp_ns, estimate.frame_id, types),
        taxonomy=str(estimate.taxonomy),
        side=side,
        hypotheses=[hypothesis_to_msg(h, types) for h in _rank(estimate.hypotheses)],
        window_start=stamp_to_time(estimate.window_start_ns, types),
        window_end=stamp_to_time(estimate.window_end_ns, types),
        is_forecast=bool(estimate.is_forecast),
    )


def msg_to_action(msg: Any) -> ActionEstimate:
    side = None if int(msg.side) == SIDE_BOTH else _side_name(msg.side)
    return ActionEstimate(
        stamp_ns=time_to_ns(msg.header.stamp),
        frame_id=str(msg.header.frame_id),
        taxonomy=str(msg.taxonomy),
        hypotheses=[msg_to_hypothesis(h) for h in msg.hypotheses],
        window_start_ns=time_to_ns(msg.window_start),
        window_end_ns=time_to_ns(msg.window_end),
        side=side,
        is_forecast=bool(msg.is_forecast),
    )


# Forecasts live in their own module (packed layout); imported last because it uses the helpers
# above. Re-exported so ``conversions`` stays the one entry point for every message.
from .forecast_messages import (  # noqa: E402
    forecast_to_msg,
    hand_forecast_to_msg,
    msg_to_forecast,
    msg_to_hand_forecast,
)

__all__ = [
    "MSG_PACKAGE",
    "MessageTypes",
    "RclpyTypes",
    "RosbagsTypes",
    "action_to_msg",
    "forecast_to_msg",
    "frame_result_to_hand_array",
    "hand_array_to_frame_result",
    "hand_forecast_to_msg",
    "hand_to_msg",
    "hypothesis_to_msg",
    "load_msg_definitions",
    "msg_dir",
    "msg_files",
    "msg_to_action",
    "msg_to_forecast",
    "msg_to_hand",
    "msg_to_hypothesis",
    "msg_to_hand_forecast",
    "stamp_to_time",
    "time_to_ns",
]
