"""The nodes' topics and QoS profiles as data (no ROS needed).

* :class:`QosSpec`: a QoS profile; :data:`SENSOR_DATA_QOS` (``rclpy.qos.qos_profile_sensor_data``:
  best effort, keep last 5, volatile) on every input, :data:`OUTPUT_QOS` (reliable, keep last 10) on
  every output, :data:`TF_QOS` for ``/tf``; :func:`qos_compatible` is the DDS request/offered rule.
* :class:`TopicSpec` and :data:`TOPICS`: every topic of each executable (relative names, full message
  type names, direction, QoS); :data:`TARGET_FRAME_TOPICS`: the outputs' copies in ``target_frame``.

The nodes turn these into rclpy QoSProfiles and subscriptions; launch files, the smoke test and the
docs list the same topics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QosSpec:
    """A QoS profile as data. ``reliability``: 'best_effort' | 'reliable'; ``durability``:
    'volatile' | 'transient_local'; ``history``: 'keep_last' | 'keep_all'; ``depth`` (keep_last)."""

    reliability: str
    durability: str
    history: str
    depth: int

    def __post_init__(self) -> None:
        if self.reliability not in ("best_effort", "reliable"):
            raise ValueError(f"reliability {self.reliability!r}")
        if self.durability not in ("volatile", "transient_local"):
            raise ValueError(f"durability {self.durability!r}")
        if self.history not in ("keep_last", "keep_all"):
            raise ValueError(f"history {self.history!r}")
        if self.history == "keep_last" and self.depth < 1:
            raise ValueError("keep_last needs depth >= 1")


#: Equal to ``rclpy.qos.qos_profile_sensor_data`` (rmw_qos_profile_sensor_data).
SENSOR_DATA_QOS = QosSpec("best_effort", "volatile", "keep_last", 5)
#: Outputs: reliable, volatile, keep last 10 (what ``ros2 topic echo`` / rosbag2 / RViz expect).
OUTPUT_QOS = QosSpec("reliable", "volatile", "keep_last", 10)
#: tf2_ros.TransformBroadcaster's own default (reliable, keep last 100).
TF_QOS = QosSpec("reliable", "volatile", "keep_last", 100)


def qos_compatible(publisher: QosSpec, subscription: QosSpec) -> bool:
    """DDS request/offered rule: a reliable subscription needs a reliable publisher; a
    transient_local subscription needs a transient_local publisher."""
    if subscription.reliability == "reliable" and publisher.reliability != "reliable":
        return False
    if subscription.durability == "transient_local" and publisher.durability != "transient_local":
        return False
    return True


@dataclass(frozen=True)
class TopicSpec:
    """One topic of a node: relative name (absolute for /tf, /diagnostics), type, direction, QoS."""

    name: str
    msg_type: str
    direction: str  # "in" | "out"
    qos: QosSpec


IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
MARKER_ARRAY_TYPE = "visualization_msgs/msg/MarkerArray"
MARKER_TYPE = "visualization_msgs/msg/Marker"
TF_MESSAGE_TYPE = "tf2_msgs/msg/TFMessage"
TRANSFORM_STAMPED_TYPE = "geometry_msgs/msg/TransformStamped"
DIAGNOSTIC_ARRAY_TYPE = "diagnostic_msgs/msg/DiagnosticArray"
HAND_ARRAY_TYPE = "hand_perception_msgs/msg/HandArray"
FORECAST_TYPE = "hand_perception_msgs/msg/BimanualForecast"
ACTION_TYPE = "hand_perception_msgs/msg/ActionEstimate"

_ESTIMATOR_TOPICS = (
    TopicSpec("image", IMAGE_TYPE, "in", SENSOR_DATA_QOS),
    TopicSpec("image/compressed", COMPRESSED_IMAGE_TYPE, "in", SENSOR_DATA_QOS),
    TopicSpec("camera_info", CAMERA_INFO_TYPE, "in", SENSOR_DATA_QOS),
    TopicSpec("hands", HAND_ARRAY_TYPE, "out", OUTPUT_QOS),
    TopicSpec("hands/markers", MARKER_ARRAY_TYPE, "out", OUTPUT_QOS),
    # with target_frame set and target_frame_mode 'also' (see TARGET_FRAME_TOPICS)
    TopicSpec("hands/target", HAND_ARRAY_TYPE, "out", OUTPUT_QOS),
    TopicSpec("hands/markers/target", MARKER_ARRAY_TYPE, "out", OUTPUT_QOS),
    TopicSpec("/tf", TF_MESSAGE_TYPE, "out", TF_QOS),
    TopicSpec("/diagnostics", DIAGNOSTIC_ARRAY_TYPE, "out", OUTPUT_QOS),
)
_FORECASTER_TOPICS = (
    TopicSpec("hands", HAND_ARRAY_TYPE, "in", SENSOR_DATA_QOS),
    TopicSpec("hands/forecast", FORECAST_TYPE, "out", OUTPUT_QOS),
    TopicSpec("hands/forecast/target", FORECAST_TYPE, "out", OUTPUT_QOS),
    TopicSpec("hands/action", ACTION_TYPE, "out", OUTPUT_QOS),
    TopicSpec("/diagnostics", DIAGNOSTIC_ARRAY_TYPE, "out", OUTPUT_QOS),
)
_COMBINED_TOPICS = tuple(t for t in _ESTIMATOR_TOPICS) + tuple(
    t for t in _FORECASTER_TOPICS if t.direction == "out" and t.name != "/diagnostics"
)

#: Output topic -> its copy in target_frame (published when target_frame is set and
#: target_frame_mode is 'also'; with 'instead' the output topic itself carries the target frame).
TARGET_FRAME_TOPICS: dict[str, str] = {
    "hands": "hands/target",
    "hands/markers": "hands/markers/target",
    "hands/forecast": "hands/forecast/target",
}

#: Topics per executable (``hand_perception_node`` runs estimator + forecaster in one process,
#: so it has no ``hands`` input).
TOPICS: dict[str, tuple[TopicSpec, ...]] = {
    "hand_estimator": _ESTIMATOR_TOPICS,
    "hand_forecaster": _FORECASTER_TOPICS,
    "hand_perception_node": _COMBINED_TOPICS,
}


def topic(node: str, name: str) -> TopicSpec:
    for t in TOPICS[node]:
        if t.name == name:
            return t
    raise KeyError(f"{node} has no topic {name!r}")


__all__ = [
    "ACTION_TYPE",
    "CAMERA_INFO_TYPE",
    "COMPRESSED_IMAGE_TYPE",
    "DIAGNOSTIC_ARRAY_TYPE",
    "FORECAST_TYPE",
    "HAND_ARRAY_TYPE",
    "IMAGE_TYPE",
    "MARKER_ARRAY_TYPE",
    "MARKER_TYPE",
    "OUTPUT_QOS",
    "QosSpec",
    "SENSOR_DATA_QOS",
    "TARGET_FRAME_TOPICS",
    "TF_MESSAGE_TYPE",
    "TF_QOS",
    "TOPICS",
    "TRANSFORM_STAMPED_TYPE",
    "TopicSpec",
    "qos_compatible",
    "topic",
]
