"""tf2 wiring of the ``target_frame`` parameter (rclpy side; the math is in core.frames).

One :class:`TargetFrameOutputs` per node: a ``tf2_ros.Buffer`` filled by a
``tf2_ros.TransformListener`` on the node (its /tf and /tf_static subscriptions are served by the
node's executor while the worker thread waits in ``lookup_transform``), the core
:class:`~hand_perception.core.frames.TargetFrameTransformer`, and, in mode ``also``, the
publishers of the target-frame copies (``hands/target``, ``hands/markers/target``,
``hands/forecast/target``; see ``node_logic.TARGET_FRAME_TOPICS``).

``frames``/``forecasts`` say what to publish where:

* no target_frame: the output on its own topic (as before);
* ``also``: the camera-frame output on its own topic, plus the target-frame copy on the
  ``.../target`` topic when the transform at its stamp is available;
* ``instead``: only the target-frame output, on the output's own topic.

A missing, looping, stale or otherwise unavailable transform skips the target-frame output,
counts it (diagnostics ``target_frame_skipped_<reason>``) and logs a throttled warning; the node
keeps running.
"""

from __future__ import annotations

from typing import Any, Iterator

from hand_perception.core import frames as fr
from hand_perception.core import node_logic as nl
from hand_perception.core.types import BimanualForecast, FrameResult


def tf2_lookup(buffer: Any, timeout_s: float) -> fr.Lookup:
    """core.frames lookup through ``buffer.lookup_transform(target, source, time, timeout)``;
    tf2 exceptions become :class:`~hand_perception.core.frames.TransformUnavailable`."""
    from rclpy.clock import ClockType
    from rclpy.duration import Duration
    from rclpy.time import Time
    from tf2_ros import TransformException

    timeout = Duration(nanoseconds=int(round(max(0.0, float(timeout_s)) * 1e9)))

    def lookup(target: str, source: str, stamp_ns: int, wait: bool = True) -> fr.RigidTransform:
        try:
            msg = buffer.lookup_transform(target, source, Time(nanoseconds=int(stamp_ns), clock_type=ClockType.ROS_TIME),
                                          timeout=timeout if wait else Duration())
        except TransformException as exc:
            raise fr.TransformUnavailable(fr.tf2_error_kind(type(exc).__name__, str(exc)), str(exc).strip()) from None
        return fr.transform_from_msg(msg)

    return lookup


class TargetFrameOutputs:
    """target_frame of one node; ``enabled`` is False when the parameter is empty."""

    def __init__(self, node: Any, params: dict[str, Any], qos: Any, with_hands: bool, with_forecast: bool,
                 mano_dir: str | None = None) -> None:
        self.node = node
        self.target_frame = str(params.get("target_frame", "") or "").strip()
        self.mode = str(params.get("target_frame_mode", "also"))
        self.enabled = bool(self.target_frame)
        self.transformer: fr.TargetFrameTransformer | None = None
        self.buffer = self.listener = None
        self.pub_hands = self.pub_markers = self.pub_forecast = None
        if not self.enabled:
            return
        from tf2_ros import Buffer, TransformListener

        self.buffer = Buffer(node=node)
        self.listener = TransformListener(self.buffer, node)
        self.transformer = fr.TargetFrameTransformer(
            self.target_frame, tf2_lookup(self.buffer, float(params.get("target_frame_timeout_s", 0.05))),
            root_joint=fr.LazyRootJoint(mano_dir))
        if self.mode == "also":
            from hand_perception_msgs.msg import BimanualForecast as ForecastMsg
            from hand_perception_msgs.msg import HandArray
            from visualization_msgs.msg import MarkerArray

            names = nl.TARGET_FRAME_TOPICS
            if with_hands:
                self.pub_hands = node.create_lifecycle_publisher(HandArray, names["hands"], qos)
                if params.get("publish_markers", False):
                    self.pub_markers = node.create_lifecycle_publisher(MarkerArray, names["hands/markers"], qos)
            if with_forecast:
                self.pub_forecast = node.create_lifecycle_publisher(ForecastMsg, names["hands/forecast"], qos)

    def _warn(self, what: str, stamp_ns: int) -> None:
        assert self.transformer is not None
        self.node.warn_throttled("target_frame", f"{what} {stamp_ns} not published in {self.target_frame!r}: "
                                                 f"{self.transformer.last_error}")

    def frames(self, frame: FrameResult, pub_hands: Any, pub_markers: Any) -> Iterator[tuple[FrameResult, Any, Any]]:
        """(frame, hands publisher, markers publisher or None) pairs to publish for one frame."""
        if not self.enabled:
            yield frame, pub_hands, pub_markers
            return
        if self.mode == "also":
            yield frame, pub_hands, pub_markers
        assert self.transformer is not None
        moved = self.transformer.frame(frame)
        if moved is None:
            self._warn("hands of", frame.stamp_ns)
            return
        if self.mode == "also":
            yield moved, self.pub_hands, self.pub_markers
        else:
            yield moved, pub_hands, pub_markers

    def forecasts(self, forecast: BimanualForecast, pub_forecast: Any) -> Iterator[tuple[BimanualForecast, Any]]:
        """(forecast, publisher) pairs to publish for one forecast."""
        if not self.enabled:
            yield forecast, pub_forecast
            return
        if self.mode == "also":
            yield forecast, pub_forecast
        assert self.transformer is not None
        moved = self.transformer.forecast(forecast)
        if moved is None:
            self._warn("forecast of", forecast.stamp_ns)
            return
        yield moved, (self.pub_forecast if self.mode == "also" else pub_forecast)

    def report(self) -> tuple[dict[str, Any], str | None]:
        """Diagnostics values and the current problem (None when all recent outputs went out)."""
        if self.transformer is None:
            return {}, None
        return self.transformer.report()

    def cleanup(self) -> None:
        from hand_perception.nodes.common import destroy_lifecycle_publisher

        for pub in (self.pub_hands, self.pub_markers, self.pub_forecast):
            destroy_lifecycle_publisher(self.node, pub)
        self.pub_hands = self.pub_markers = self.pub_forecast = None
        if self.listener is not None:
            try:
                self.listener.unregister()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass
        if self.buffer is not None:
            # Buffer(node=...) made a 'tf2_frames' service on the node and a jump callback on its
            # clock: without this a configure after a cleanup adds a second service of that name
            srv = getattr(self.buffer, "srv", None)
            jump = getattr(self.buffer, "jump_handle", None)
            try:
                if srv is not None:
                    self.node.destroy_service(srv)
                if jump is not None:
                    jump.unregister()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass
        self.listener = self.buffer = None


__all__ = ["TargetFrameOutputs", "tf2_lookup"]
