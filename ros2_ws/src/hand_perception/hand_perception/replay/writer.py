"""rosbag2 (mcap) output of a replay, written with ``rosbags`` (no ROS), playable by ``ros2 bag play``.

Topics (``namespace`` prefixed; the names the nodes publish):

=====================  =========================================  ==========================
topic                  type                                       stamp / log time
=====================  =========================================  ==========================
``hands``              hand_perception_msgs/msg/HandArray         the input image's stamp
``hands/markers``      visualization_msgs/msg/MarkerArray         the input image's stamp
``hands/forecast``     hand_perception_msgs/msg/BimanualForecast  its last observation
``hands/action``       hand_perception_msgs/msg/ActionEstimate    its latest observation
``/tf``                tf2_msgs/msg/TFMessage (wrist frames)      the input image's stamp
=====================  =========================================  ==========================

Every message's bag timestamp (log time) is the stamp of the image it came from, so a replayed
output lines up with the input bag. Connections carry the full message definitions (our ``.msg``
files included, registered in the ``rosbags`` typestore), so the bag is self-describing; ``ros2
bag play`` needs ``hand_perception_msgs`` built in the workspace to publish the custom types.
Optionally the input Image/CameraInfo messages are copied too (``copy_topic``).
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from hand_perception.core import node_logic as nl
from hand_perception.core.conversions import (
    ACTION_ESTIMATE,
    BIMANUAL_FORECAST,
    HAND_ARRAY,
    RosbagsTypes,
    action_to_msg,
    forecast_to_msg,
    frame_result_to_hand_array,
)
from hand_perception.core.types import ActionEstimate, BimanualForecast, FrameResult

#: rosbag2 metadata version written (Jazzy's rosbag2 reads versions up to 9; Humble up to 5+).
BAG_VERSION = 8


def offered_qos(spec: nl.QosSpec = nl.OUTPUT_QOS) -> list[Any]:
    """``offered_qos_profiles`` for a connection, as rosbag2's recorder stores them (an explicit
    profile rather than an empty string, so every rosbag2 version parses it): the QoS the nodes
    publish with, which ``ros2 bag play`` then offers."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    return [Qos(
        QosHistory.KEEP_LAST if spec.history == "keep_last" else QosHistory.KEEP_ALL,
        int(spec.depth),
        QosReliability.RELIABLE if spec.reliability == "reliable" else QosReliability.BEST_EFFORT,
        QosDurability.TRANSIENT_LOCAL if spec.durability == "transient_local" else QosDurability.VOLATILE,
        QosTime(0, 0), QosTime(0, 0), QosLiveliness.AUTOMATIC, QosTime(0, 0), False,
    )]


def _fresh_bag_directory(path: str | Path, overwrite: bool) -> Path:
    """The bag folder for ``path``, emptied when ``overwrite`` (else it must not exist yet)."""
    folder = bag_directory(path)
    if folder.exists():
        if not overwrite:
            raise FileExistsError(f"{folder} exists (use --overwrite)")
        shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def bag_directory(path: str | Path) -> Path:
    """rosbag2 folder for an output path: ``OUT.mcap`` -> ``OUT`` (rosbag2 writes a folder with
    ``OUT.mcap`` and ``metadata.yaml`` inside); other names are used as given."""
    p = Path(path)
    return p.with_suffix("") if p.suffix == ".mcap" else p


def _topic(namespace: str, name: str) -> str:
    if name.startswith("/"):
        return name
    ns = namespace.strip("/")
    return f"/{ns}/{name}" if ns else f"/{name}"


class ReplayBagWriter:
    """Writes replay outputs to a rosbag2 mcap. Use as a context manager or call :meth:`close`.

    ``overwrite``: remove an existing bag folder first (otherwise an existing path is an error).
    """

    def __init__(self, path: str | Path, types: RosbagsTypes | None = None, namespace: str = "",
                 markers: bool = True, tf: bool = True, tf_prefix: str = "hand_",
                 marker_lifetime_s: float = 0.2, overwrite: bool = False, forecast_model: str = "") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = _fresh_bag_directory(path, overwrite)
        self.types = types or RosbagsTypes()
        self.namespace = namespace
        self.markers = markers
        self.tf = tf
        self.tf_prefix = tf_prefix
        self.marker_lifetime_s = marker_lifetime_s
        self.forecast_model = forecast_model
        self.counts: Counter = Counter()
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._conns: dict[str, Any] = {}
        self._closed = False
        self.topic_names = {
            "hands": _topic(namespace, "hands"),
            "markers": _topic(namespace, "hands/markers"),
            "forecast": _topic(namespace, "hands/forecast"),
            "action": _topic(namespace, "hands/action"),
            "tf": "/tf",
        }

    # -- connections -------------------------------------------------------------------------
    def _conn(self, topic: str, msgtype: str) -> Any:
        conn = self._conns.get(topic)
        if conn is None:
            qos = offered_qos(nl.TF_QOS if topic == "/tf" else nl.OUTPUT_QOS)
            conn = self._writer.add_connection(topic, msgtype, typestore=self.types.typestore,
                                               offered_qos_profiles=qos)
            self._conns[topic] = conn
        return conn

    def _write(self, topic: str, msgtype: str, stamp_ns: int, msg: Any) -> None:
        self._writer.write(self._conn(topic, msgtype), int(stamp_ns), self.types.serialize(msg))
        self.counts[topic] += 1

    # -- outputs -----------------------------------------------------------------------------
    def write_frame(self, frame: FrameResult) -> None:
        """``hands`` (+ ``hands/markers`` and ``/tf`` when enabled) of one processed image."""
        t = self.types
        self._write(self.topic_names["hands"], HAND_ARRAY, frame.stamp_ns, frame_result_to_hand_array(frame, t))
        if self.markers:
            markers = nl.hand_markers(frame, lifetime_s=self.marker_lifetime_s)
            self._write(self.topic_names["markers"], nl.MARKER_ARRAY_TYPE, frame.stamp_ns, nl.markers_to_msg(markers, t))
        if self.tf:
            transforms = nl.wrist_transforms(frame, prefix=self.tf_prefix)
            if transforms:
                self._write("/tf", nl.TF_MESSAGE_TYPE, frame.stamp_ns, nl.transforms_to_tf_msg(transforms, t))

    def write_forecast(self, forecast: BimanualForecast) -> None:
        self._write(self.topic_names["forecast"], BIMANUAL_FORECAST, forecast.stamp_ns,
                    forecast_to_msg(forecast, self.types, model=self.forecast_model))

    def write_actions(self, actions: list[ActionEstimate]) -> None:
        for action in actions:
            self._write(self.topic_names["action"], ACTION_ESTIMATE, action.stamp_ns, action_to_msg(action, self.types))

    def copy_message(self, topic: str, msgtype: str, stamp_ns: int, data: bytes | memoryview) -> None:
        """Copy an already serialized message (e.g. the input images) into the output bag."""
        self._writer.write(self._conn(topic, msgtype), int(stamp_ns), data)
        self.counts[topic] += 1

    def write_message(self, topic: str, msgtype: str, stamp_ns: int, msg: Any) -> None:
        self._write(topic, msgtype, stamp_ns, msg)

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._writer.close()
            self._closed = True

    def __enter__(self) -> "ReplayBagWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InputBagWriter:
    """rosbag2 mcap with ``sensor_msgs/Image`` (or ``CompressedImage``) + ``CameraInfo`` (make-bag)."""

    def __init__(self, path: str | Path, image_topic: str = "/camera/image_raw",
                 camera_info_topic: str = "/camera/camera_info", compressed: bool = False,
                 encoding: str = "rgb8", jpeg_quality: int = 90, overwrite: bool = False,
                 types: RosbagsTypes | None = None, depth_topic: str | None = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = _fresh_bag_directory(path, overwrite)
        self.types = types or RosbagsTypes()
        self.compressed = compressed
        self.encoding = encoding
        self.jpeg_quality = jpeg_quality
        self.image_topic = image_topic + "/compressed" if compressed and not image_topic.endswith("/compressed") else image_topic
        self.camera_info_topic = camera_info_topic
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        ts = self.types.typestore
        qos = offered_qos(nl.OUTPUT_QOS)  # a camera driver's reliable publisher
        self._img = self._writer.add_connection(
            self.image_topic, nl.COMPRESSED_IMAGE_TYPE if compressed else nl.IMAGE_TYPE, typestore=ts,
            offered_qos_profiles=qos)
        self._info = self._writer.add_connection(self.camera_info_topic, nl.CAMERA_INFO_TYPE, typestore=ts,
                                                 offered_qos_profiles=qos)
        self.depth_topic = depth_topic
        self._depth = (self._writer.add_connection(depth_topic, nl.IMAGE_TYPE, typestore=ts, offered_qos_profiles=qos)
                       if depth_topic else None)
        self.frames = 0

    def write(self, rgb: Any, stamp_ns: int, frame_id: str, intrinsics: Any | None, depth: Any | None = None,
              depth_encoding: str = "16UC1", depth_scale: float = 0.001) -> None:
        """One frame: image, CameraInfo (when known) and, with a depth topic, ``depth`` (H, W)
        metres (NaN/0 invalid) as a registered depth Image with the image's stamp."""
        t = self.types
        msg = image_message(t, rgb, stamp_ns, frame_id, self.encoding, self.compressed, self.jpeg_quality)
        self._writer.write(self._img, int(stamp_ns), t.serialize(msg))
        if self._depth is not None and depth is not None:
            from hand_perception.core.depth import encode_depth

            fields = encode_depth(depth, depth_encoding, depth_scale)
            dmsg = nl.make_message(t, nl.IMAGE_TYPE, header=_header(t, stamp_ns, frame_id), **fields)
            self._writer.write(self._depth, int(stamp_ns), t.serialize(dmsg))
        if intrinsics is not None:
            self._writer.write(self._info, int(stamp_ns), t.serialize(camera_info_message(t, intrinsics, stamp_ns, frame_id)))
        self.frames += 1

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> "InputBagWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _header(types: RosbagsTypes, stamp_ns: int, frame_id: str) -> Any:
    from hand_perception.core.conversions import stamp_to_time

    return nl.make_message(types, "std_msgs/msg/Header", stamp=stamp_to_time(stamp_ns, types), frame_id=str(frame_id))


def image_message(types: RosbagsTypes, rgb: Any, stamp_ns: int, frame_id: str, encoding: str = "rgb8",
                  compressed: bool = False, jpeg_quality: int = 90, row_padding: int = 0) -> Any:
    """sensor_msgs/Image (``encoding``) or CompressedImage (JPEG) of an RGB uint8 image."""
    from hand_perception.core.image_codec import encode_compressed_image, encode_image

    if compressed:
        fields = encode_compressed_image(rgb, "jpeg", jpeg_quality)
        return nl.make_message(types, nl.COMPRESSED_IMAGE_TYPE, header=_header(types, stamp_ns, frame_id), **fields)
    fields = encode_image(rgb, encoding, row_padding=row_padding)
    return nl.make_message(types, nl.IMAGE_TYPE, header=_header(types, stamp_ns, frame_id), **fields)


def camera_info_message(types: RosbagsTypes, intrinsics: Any, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/CameraInfo of :class:`CameraIntrinsics`."""
    import numpy as np

    from hand_perception.core.image_codec import camera_info_fields

    f = camera_info_fields(intrinsics)
    return nl.make_message(
        types, nl.CAMERA_INFO_TYPE, header=_header(types, stamp_ns, frame_id),
        height=int(f["height"]), width=int(f["width"]), distortion_model=f["distortion_model"],
        d=np.asarray(f["d"], dtype=np.float64), k=np.asarray(f["k"], dtype=np.float64),
        r=np.asarray(f["r"], dtype=np.float64), p=np.asarray(f["p"], dtype=np.float64),
    )


__all__ = ["BAG_VERSION", "InputBagWriter", "ReplayBagWriter", "bag_directory", "camera_info_message", "image_message",
           "offered_qos"]
