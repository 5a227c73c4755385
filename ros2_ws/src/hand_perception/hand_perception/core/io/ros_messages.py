"""Build any ROS message (std_msgs, geometry_msgs, visualization_msgs, ...) for either type
provider: rclpy classes in the nodes, ``rosbags`` dataclasses in replay and tests
(:func:`make_message`; :func:`default_message` fills every field a rosbags dataclass needs from
the typestore definitions). ``hand_perception_msgs`` conversions live in :mod:`.conversions`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .conversions import MessageTypes, RosbagsTypes, stamp_to_time

NS_PER_S = 1_000_000_000


def _default_value(types: RosbagsTypes, spec: tuple[Any, Any]) -> Any:
    from rosbags.typesys.base import Nodetype

    kind, sub = spec
    if kind == Nodetype.BASE:
        name = sub[0]
        if name == "string":
            return ""
        if name == "bool":
            return False
        if name in ("float32", "float64"):
            return 0.0
        return 0
    if kind == Nodetype.NAME:
        return default_message(types, sub)
    if kind == Nodetype.ARRAY:
        (ikind, isub), count = sub
        if ikind == Nodetype.BASE and isub[0] != "string":
            return np.zeros(count, dtype=_NP_DTYPES.get(isub[0], np.uint8))
        return [_default_value(types, (ikind, isub)) for _ in range(count)]
    if kind == Nodetype.SEQUENCE:
        (ikind, isub), _bound = sub
        if ikind == Nodetype.BASE and isub[0] != "string":
            return np.zeros(0, dtype=_NP_DTYPES.get(isub[0], np.uint8))
        return []
    raise ValueError(f"unknown field kind {kind}")


_NP_DTYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
    "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}


def default_message(types: RosbagsTypes, typename: str, /, **fields: Any) -> Any:
    """A rosbags message of type ``typename`` with every field defaulted, then ``fields`` set."""
    name = typename
    _consts, fielddefs = types.typestore.fielddefs[name]
    kwargs = {fname: (fields[fname] if fname in fields else _default_value(types, fspec))
              for fname, fspec in fielddefs}
    unknown = set(fields) - set(kwargs)
    if unknown:
        raise ValueError(f"{name} has no fields {sorted(unknown)}")
    return types[name](**kwargs)


def make_message(types: MessageTypes, typename: str, /, **fields: Any) -> Any:
    """Build message ``typename`` with ``fields`` for any type provider: rclpy classes default the
    missing fields themselves; rosbags dataclasses get them from the typestore definitions."""
    if isinstance(types, RosbagsTypes):
        return default_message(types, typename, **fields)
    return types[typename](**fields)


def _byte(types: MessageTypes, value: int) -> Any:
    """A ``byte`` field value: bytes of length 1 for rclpy, an int for rosbags."""
    return int(value) if isinstance(types, RosbagsTypes) else bytes([int(value)])


def _header(types: MessageTypes, stamp_ns: int, frame_id: str) -> Any:
    return make_message(types, "std_msgs/msg/Header", stamp=stamp_to_time(stamp_ns, types), frame_id=str(frame_id))


def _duration(types: MessageTypes, seconds: float) -> Any:
    ns = max(0, int(round(float(seconds) * NS_PER_S)))
    return make_message(types, "builtin_interfaces/msg/Duration", sec=ns // NS_PER_S, nanosec=ns % NS_PER_S)


__all__ = [
    "NS_PER_S",
    "default_message",
    "make_message",
]
