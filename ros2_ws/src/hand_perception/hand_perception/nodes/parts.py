"""The two jobs a hand perception node can do (:class:`hand_perception.nodes.common.HandPerceptionNode`
holds one or both):

* :class:`EstimatorPart`: image (+ camera_info) in -> ``hands``, ``hands/markers``, ``/tf``.
* :class:`ForecasterPart`: frames of hands in -> ``hands/forecast``, ``hands/action``.

Both run on the node's worker thread; decisions live in :mod:`hand_perception.core.node_logic`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from hand_perception.core import node_health, node_logic as nl
from hand_perception.core.conversions import (
    RclpyTypes,
    action_to_msg,
    forecast_to_msg,
    frame_result_to_hand_array,
    time_to_ns,
)
from hand_perception.core.types import FrameResult
from hand_perception.nodes.depth_input import DepthInput
from hand_perception.nodes.ros_params import destroy_lifecycle_publisher, qos_profile

if TYPE_CHECKING:
    from hand_perception.nodes.common import HandPerceptionNode

_TYPES = RclpyTypes()


class _Item:
    """A queued input: the message and its arrival time (monotonic seconds)."""

    __slots__ = ("kind", "msg", "arrival")

    def __init__(self, kind: str, msg: Any) -> None:
        self.kind = kind
        self.msg = msg
        self.arrival = time.monotonic()


class EstimatorPart:
    """Images (+ CameraInfo) -> HandArray, MarkerArray, TF. Runs the estimator of ``pipeline``."""

    def __init__(self, node: "HandPerceptionNode", pipeline: Any, params: dict[str, Any]) -> None:
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
        from hand_perception_msgs.msg import HandArray
        from tf2_ros import TransformBroadcaster
        from visualization_msgs.msg import MarkerArray

        self.node = node
        self.pipeline = pipeline
        self.params = params
        self._msg_types = {"image": Image, "compressed": CompressedImage, "camera_info": CameraInfo}
        topics = {t.name: t for t in nl.TOPICS["hand_estimator"]}
        self.pairer = nl.CameraInfoPairer(params["camera_info_mode"], params["camera_info_slop_s"])
        self.stamps = nl.StampMonitor()
        self.frame_ids = node_health.FrameIdMonitor()
        self.pub_hands = node.create_lifecycle_publisher(HandArray, "hands", qos_profile(topics["hands"].qos))
        self.pub_markers = None
        if params["publish_markers"]:
            self.pub_markers = node.create_lifecycle_publisher(
                MarkerArray, "hands/markers", qos_profile(topics["hands/markers"].qos))
        self.tf = TransformBroadcaster(node, qos=qos_profile(nl.TF_QOS)) if params["publish_tf"] else None
        self._subs: list[Any] = []
        self.depth = DepthInput(node, params) if DepthInput.wanted(params) else None  # RGB-D (nodes/depth_input.py)
        mono16 = float(params["mono16_max"])
        self._mono16_max = mono16 if mono16 > 0 else None

    # -- lifecycle ---------------------------------------------------------------------------
    def activate(self) -> None:
        node = self.node
        topics = {t.name: t for t in nl.TOPICS["hand_estimator"]}
        if self.params["image_transport"] == "compressed":
            kind, name, msg_type = "image_compressed", "image/compressed", self._msg_types["compressed"]
        else:
            kind, name, msg_type = "image", "image", self._msg_types["image"]
        qos = qos_profile(topics[name].qos)
        if self.depth is not None:  # colour + depth paired by message_filters (nodes/depth_input.py)
            self._subs.extend(self.depth.activate(msg_type, name, kind, qos))
        else:
            self._subs.append(node.create_subscription(msg_type, name, lambda m: node.enqueue(kind, m), qos))
        # CameraInfo is tiny: converted in the callback so the worker always sees the latest one
        self._subs.append(node.create_subscription(
            self._msg_types["camera_info"], "camera_info", self._on_camera_info,
            qos_profile(topics["camera_info"].qos)))

    def deactivate(self) -> None:
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []
        if self.depth is not None:  # forget colour frames still waiting for depth (stale after a pause)
            self.depth.deactivate()

    def cleanup(self) -> None:
        self.deactivate()
        destroy_lifecycle_publisher(self.node, self.pub_hands)
        destroy_lifecycle_publisher(self.node, self.pub_markers)
        if self.tf is not None:
            self.node.destroy_publisher(self.tf.pub_tf)
        self.pub_hands = self.pub_markers = self.tf = None

    def reset(self) -> None:
        self.stamps.reset()
        self.pairer.clear()
        self.frame_ids.reset()

    # -- callbacks ---------------------------------------------------------------------------
    def _on_camera_info(self, msg: Any) -> None:
        err = self.pairer.add_msg(msg, use_projection=bool(self.params["use_rectified_projection"]))
        if err:
            self.node.warn_throttled("camera_info", f"{err} (frame_id {msg.header.frame_id!r})")

    # -- worker ------------------------------------------------------------------------------
    def process(self, item: _Item) -> FrameResult | None:
        """Decode, pair, estimate and publish one image; None when the frame was skipped."""
        from hand_perception.core.image_codec import compressed_to_rgb, image_to_rgb

        node, msg = self.node, item.msg
        depth_msg = None
        if isinstance(msg, tuple):  # (image, depth) paired by DepthInput
            msg, depth_msg = msg
        stats = node.stats
        if item.kind == "image_compressed":
            decode: Callable[[], Any] = lambda: compressed_to_rgb(msg)  # noqa: E731
        else:
            decode = lambda: image_to_rgb(msg, mono16_max=self._mono16_max)  # noqa: E731
        stamp_ns = time_to_ns(msg.header.stamp)
        frame_id = str(msg.header.frame_id) or self.params["camera_frame_id"]
        prepared = nl.prepare_frame(decode, stamp_ns, frame_id, self.pairer, self.stamps, stats,
                                    require_camera_info=bool(self.params["require_camera_info"]),
                                    frame_id_fallback=self.params["camera_frame_id"], frame_ids=self.frame_ids)
        for w in prepared.notices:  # already one per occurrence that matters (new frame_id pair)
            stats.last_warning = w
            node.get_logger().warning(w)
        for w in prepared.warnings:
            stats.last_warning = w
            node.warn_throttled(w.split(":")[0][:40], w)
        if any("went backwards" in w for w in prepared.warnings):
            node.reset_pipeline()
        if prepared.skip_reason is not None:
            node.warn_throttled(prepared.skip_reason[:40], f"frame {stamp_ns} skipped: {prepared.skip_reason}")
            return None
        depth = None
        if depth_msg is not None and self.depth is not None:
            depth = self.depth.decode(depth_msg, prepared.image.shape[1], prepared.image.shape[0], prepared.stamp_ns)
        frame = self.pipeline.estimator.process(prepared.image, prepared.stamp_ns, prepared.intrinsics,
                                                frame_id=prepared.frame_id, color_order="rgb", depth=depth)
        frame.latency_s = time.monotonic() - item.arrival
        for w in frame.warnings:
            node.warn_throttled(w[:40], w)
        self.publish(frame)
        return frame

    def publish(self, frame: FrameResult) -> None:
        p = self.params
        # camera frame and/or target_frame (nodes/target_frame.py decides; skips are counted there)
        for out, pub_hands, pub_markers in self.node.target.frames(frame, self.pub_hands, self.pub_markers):
            pub_hands.publish(frame_result_to_hand_array(out, _TYPES))
            if pub_markers is not None:
                markers = nl.hand_markers(out, lifetime_s=p["marker_lifetime_s"],
                                          joint_diameter_m=p["marker_joint_diameter_m"],
                                          line_width_m=p["marker_line_width_m"])
                pub_markers.publish(nl.markers_to_msg(markers, _TYPES))
        if self.tf is not None:  # wrist frames are children of the camera frame (tf2 chains them)
            transforms = nl.wrist_transforms(frame, prefix=p["tf_prefix"], only_observed=p["tf_only_observed"],
                                             per_track=bool(p["tf_per_track"]))
            if transforms:
                self.tf.sendTransform([nl.transform_to_msg(t, _TYPES) for t in transforms])


class ForecasterPart:
    """Frames of hands -> BimanualForecast and ActionEstimate (at ``forecast.rate_hz``)."""

    def __init__(self, node: "HandPerceptionNode", forecaster: Any, config: Any) -> None:
        from hand_perception_msgs.msg import ActionEstimate, BimanualForecast

        self.node = node
        self.forecaster = forecaster
        self.model = str(config.forecast.model)
        self.limiter = nl.StreamRateLimiter(float(config.forecast.rate_hz))
        self.stamps = nl.StampMonitor()
        topics = {t.name: t for t in nl.TOPICS["hand_forecaster"]}
        self.pub_forecast = node.create_lifecycle_publisher(
            BimanualForecast, "hands/forecast", qos_profile(topics["hands/forecast"].qos))
        self.pub_action = node.create_lifecycle_publisher(
            ActionEstimate, "hands/action", qos_profile(topics["hands/action"].qos))

    def reset(self) -> None:
        self.forecaster.reset()
        self.limiter.reset()
        self.stamps.reset()

    def cleanup(self) -> None:
        destroy_lifecycle_publisher(self.node, self.pub_forecast)
        destroy_lifecycle_publisher(self.node, self.pub_action)

    def process(self, frame: FrameResult) -> None:
        order = self.stamps.check(frame.stamp_ns)
        if order == "repeat":
            self.node.stats.duplicates += 1
            return
        if order == "backwards":
            self.node.stats.stamp_resets += 1
            self.node.warn_throttled("forecast_reset", f"hands stamp {frame.stamp_ns} went backwards: forecaster reset")
            self.reset()
            self.stamps.check(frame.stamp_ns)
        self.forecaster.observe(frame.stamp_ns, frame.frame_id, frame.hands)
        if not self.limiter.due(frame.stamp_ns):
            return
        forecast = self.forecaster.forecast()
        if forecast is not None:
            for out, pub in self.node.target.forecasts(forecast, self.pub_forecast):
                pub.publish(forecast_to_msg(out, _TYPES, model=self.model))
        for action in self.forecaster.actions():
            self.pub_action.publish(action_to_msg(action, _TYPES))


__all__ = ["EstimatorPart", "ForecasterPart"]
