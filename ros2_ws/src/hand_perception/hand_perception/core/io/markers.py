"""RViz markers of the hands: skeleton lines and joint spheres per hand as data
(:class:`MarkerData`, :func:`hand_markers`) and as ``visualization_msgs/MarkerArray`` for any type
provider (:func:`markers_to_msg`). Points are in the image's frame (camera optical frame), metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ..types import SIDES, FrameResult, HandState
from .conversions import MessageTypes
from .ros_messages import _duration, _header, make_message
from .topics import MARKER_ARRAY_TYPE, MARKER_TYPE


#: RGBA per side (left blue, right orange-red); bridged hands get alpha 0.35.
SIDE_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "left": (0.15, 0.55, 1.0, 1.0),
    "right": (1.0, 0.35, 0.15, 1.0),
}
UNOBSERVED_ALPHA = 0.35

MARKER_LINE_LIST = 5  # visualization_msgs/Marker constants
MARKER_SPHERE_LIST = 7
MARKER_ADD = 0
MARKER_DELETEALL = 3


@dataclass
class MarkerData:
    """A visualization_msgs/Marker as data: points (N, 3) in ``frame_id``, colour RGBA 0..1,
    scale (x, y, z) metres, lifetime in seconds (0 = forever)."""

    ns: str
    id: int
    type: int
    action: int
    frame_id: str
    stamp_ns: int
    points: np.ndarray
    color: tuple[float, float, float, float]
    scale: tuple[float, float, float]
    lifetime_s: float


def _bone_pairs() -> np.ndarray:
    from hand_models.joints import BONES

    return np.asarray(BONES, dtype=np.int64)


def _hand_slots(hands: Sequence[HandState]) -> list[tuple[HandState, int]]:
    """(hand, slot) with slot = index among the hands of the same side (most confident first)."""
    out = []
    for side in SIDES:
        same = [h for h in hands if h.side == side]
        same.sort(key=lambda h: -float(h.confidence) if math.isfinite(float(h.confidence)) else 0.0)
        out.extend((h, i) for i, h in enumerate(same))
    return out


def hand_markers(frame: FrameResult, lifetime_s: float = 0.2, joint_diameter_m: float = 0.008,
                 line_width_m: float = 0.004, delete_all_first: bool = True) -> list[MarkerData]:
    """Skeleton lines and joint spheres per hand, one colour per side, in the image's frame.

    Marker ids are stable per (side, slot): namespace ``<side>_skeleton`` / ``<side>_joints``,
    id = slot. The array starts with a DELETEALL so hands that disappear vanish at once (the
    lifetime also ends them when the stream stops). Hands with non-finite joints are skipped.
    """
    markers: list[MarkerData] = []
    if delete_all_first:
        markers.append(MarkerData("", 0, MARKER_SPHERE_LIST, MARKER_DELETEALL, frame.frame_id, frame.stamp_ns,
                                  np.zeros((0, 3)), (0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0.0))
    bones = _bone_pairs()
    for hand, slot in _hand_slots(frame.hands):
        joints = np.asarray(hand.joints, dtype=np.float64)
        if joints.shape != (21, 3) or not np.all(np.isfinite(joints)):
            continue
        r, g, b, a = SIDE_COLOURS.get(hand.side, (0.8, 0.8, 0.8, 1.0))
        if not hand.is_observed:
            a = UNOBSERVED_ALPHA
        colour = (r, g, b, a)
        markers.append(MarkerData(f"{hand.side}_skeleton", slot, MARKER_LINE_LIST, MARKER_ADD, frame.frame_id, frame.stamp_ns,
                                  joints[bones.reshape(-1)], colour, (line_width_m, 0.0, 0.0), lifetime_s))
        markers.append(MarkerData(f"{hand.side}_joints", slot, MARKER_SPHERE_LIST, MARKER_ADD, frame.frame_id, frame.stamp_ns,
                                  joints.copy(), colour, (joint_diameter_m,) * 3, lifetime_s))
    return markers


def marker_to_msg(marker: MarkerData, types: MessageTypes) -> Any:
    point = types["geometry_msgs/msg/Point"]
    pose = make_message(
        types, "geometry_msgs/msg/Pose",
        position=make_message(types, "geometry_msgs/msg/Point", x=0.0, y=0.0, z=0.0),
        orientation=make_message(types, "geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0),
    )
    r, g, b, a = (float(c) for c in marker.color)
    sx, sy, sz = (float(s) for s in marker.scale)
    return make_message(
        types, MARKER_TYPE,
        header=_header(types, marker.stamp_ns, marker.frame_id),
        ns=str(marker.ns), id=int(marker.id), type=int(marker.type), action=int(marker.action),
        pose=pose,
        scale=make_message(types, "geometry_msgs/msg/Vector3", x=sx, y=sy, z=sz),
        color=make_message(types, "std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=a),
        lifetime=_duration(types, marker.lifetime_s),
        frame_locked=False,
        points=[point(x=x, y=y, z=z) for x, y, z in np.asarray(marker.points, dtype=np.float64).reshape(-1, 3).tolist()],
    )


def markers_to_msg(markers: Iterable[MarkerData], types: MessageTypes) -> Any:
    """visualization_msgs/MarkerArray of :func:`hand_markers` output."""
    return make_message(types, MARKER_ARRAY_TYPE, markers=[marker_to_msg(m, types) for m in markers])


__all__ = [
    "MARKER_ADD",
    "MARKER_DELETEALL",
    "MARKER_LINE_LIST",
    "MARKER_SPHERE_LIST",
    "MarkerData",
    "SIDE_COLOURS",
    "UNOBSERVED_ALPHA",
    "hand_markers",
    "marker_to_msg",
    "markers_to_msg",
]
