"""Wrist frames on ``/tf``: one transform per side (and optionally per track) as data
(:class:`TransformData`, :func:`wrist_transforms`) and as ``tf2_msgs/TFMessage`` for any type
provider (:func:`transforms_to_tf_msg`). Parent = the image's frame (camera optical frame), metres,
quaternions (x, y, z, w).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ..types import FrameResult
from .conversions import MessageTypes
from .markers import _hand_slots
from .ros_messages import _header, make_message
from .topics import TF_MESSAGE_TYPE, TRANSFORM_STAMPED_TYPE


@dataclass
class TransformData:
    """A geometry_msgs/TransformStamped as data: ``child`` expressed in ``parent``."""

    parent: str
    child: str
    stamp_ns: int
    translation: np.ndarray
    rotation_xyzw: np.ndarray


def wrist_transforms(frame: FrameResult, prefix: str = "hand_", only_observed: bool = False,
                     per_track: bool = False) -> list[TransformData]:
    """One TF per side (the most confident hand of that side): ``<prefix><side>_wrist`` in the
    image frame; with ``per_track`` also one per tracked hand (track_id >= 0, any slot):
    ``<prefix>track_<id>_wrist``. Hands with non-finite or zero-norm poses are skipped;
    quaternions normalised."""
    out = []
    for hand, slot in _hand_slots(frame.hands):
        if only_observed and not hand.is_observed:
            continue
        children = [f"{prefix}{hand.side}_wrist"] if slot == 0 else []
        if per_track and int(hand.track_id) >= 0:
            children.append(f"{prefix}track_{int(hand.track_id)}_wrist")
        if not children:
            continue
        t = np.asarray(hand.wrist_position, dtype=np.float64).reshape(-1)
        q = np.asarray(hand.wrist_orientation_xyzw, dtype=np.float64).reshape(-1)
        if t.shape != (3,) or q.shape != (4,) or not (np.all(np.isfinite(t)) and np.all(np.isfinite(q))):
            continue
        n = np.linalg.norm(q)
        if n < 1e-9:
            continue
        out.extend(TransformData(frame.frame_id, child, frame.stamp_ns, t.copy(), q / n) for child in children)
    return out


def transform_to_msg(tf: TransformData, types: MessageTypes) -> Any:
    x, y, z = (float(v) for v in tf.translation)
    qx, qy, qz, qw = (float(v) for v in tf.rotation_xyzw)
    return make_message(
        types, TRANSFORM_STAMPED_TYPE,
        header=_header(types, tf.stamp_ns, tf.parent),
        child_frame_id=str(tf.child),
        transform=make_message(
            types, "geometry_msgs/msg/Transform",
            translation=make_message(types, "geometry_msgs/msg/Vector3", x=x, y=y, z=z),
            rotation=make_message(types, "geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
        ),
    )


def transforms_to_tf_msg(transforms: Iterable[TransformData], types: MessageTypes) -> Any:
    """tf2_msgs/TFMessage (what /tf carries) of :func:`wrist_transforms` output."""
    return make_message(types, TF_MESSAGE_TYPE, transforms=[transform_to_msg(t, types) for t in transforms])


__all__ = [
    "TransformData",
    "transform_to_msg",
    "transforms_to_tf_msg",
    "wrist_transforms",
]
