"""Shared rclpy plumbing of the hand_perception nodes (the only place, with its siblings, that
imports rclpy).

Every decision lives in :mod:`hand_perception.core.node_logic` (tested without ROS); this module
turns its data into rclpy objects: QoS profiles, parameter declarations with descriptors and
ranges, lifecycle publishers and subscriptions, a worker thread, and messages built through
:class:`~hand_perception.core.conversions.RclpyTypes`.

Node structure (all three executables):

* :class:`HandPerceptionNode` (``rclpy.lifecycle.Node``): declares parameters in ``__init__``;
  ``on_configure`` builds the pipeline (models load here), publishers and the diagnostics timer;
  ``on_activate`` creates the subscriptions and starts the worker thread; ``on_deactivate`` stops
  them; ``on_cleanup``/``on_shutdown`` release everything. With ``autostart: true`` a one-shot
  timer configures and activates the node right after start-up, so ``ros2 launch`` needs no
  lifecycle manager.
* :class:`EstimatorPart`: image (+ camera_info) in -> ``hands``, ``hands/markers``, ``/tf``.
* :class:`ForecasterPart`: frames of hands in -> ``hands/forecast``, ``hands/action``.

Subscription callbacks only enqueue the message (a bounded queue that drops the oldest); the
worker thread decodes, runs the model and publishes, so a slow model drops frames instead of
queueing them, and bad input is logged and counted, never fatal.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

from hand_perception.core import node_health, node_logic as nl
from hand_perception.core.conversions import (
    RclpyTypes,
    action_to_msg,
    forecast_to_msg,
    frame_result_to_hand_array,
    hand_array_to_frame_result,
    time_to_ns,
)
from hand_perception.core.types import FrameResult
from hand_perception.nodes.depth_input import DepthInput

_TYPES = RclpyTypes()

# --------------------------------------------------------------------------- QoS, parameters


def qos_profile(spec: nl.QosSpec) -> QoSProfile:
    """rclpy QoSProfile of a :class:`~hand_perception.core.node_logic.QosSpec`."""
    if spec == nl.SENSOR_DATA_QOS:
        return qos_profile_sensor_data
    return QoSProfile(
        reliability=ReliabilityPolicy.RELIABLE if spec.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=(DurabilityPolicy.TRANSIENT_LOCAL if spec.durability == "transient_local"
                    else DurabilityPolicy.VOLATILE),
        history=HistoryPolicy.KEEP_LAST if spec.history == "keep_last" else HistoryPolicy.KEEP_ALL,
        depth=int(spec.depth),
    )


def parameter_descriptor(spec: nl.ParamSpec) -> ParameterDescriptor:
    """ParameterDescriptor with description, range (FloatingPointRange/IntegerRange) and choices."""
    desc = ParameterDescriptor(description=spec.describe(), read_only=bool(spec.read_only))
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.min is not None and spec.max is not None:
        if spec.type == "double":
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(spec.min), to_value=float(spec.max), step=float(spec.step or 0.0))]
        elif spec.type == "integer":
            desc.integer_range = [IntegerRange(
                from_value=int(spec.min), to_value=int(spec.max), step=int(spec.step or 0))]
    return desc


def declare_parameters(node: Any, specs: tuple[nl.ParamSpec, ...]) -> list[str]:
    """Declare ``specs`` on ``node``. A value from a parameter file or the command line that has
    the wrong type or is out of range is reported and replaced by the default (the node still
    starts). Returns the problems found."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    problems = []
    for spec in specs:
        if node.has_parameter(spec.name):
            continue
        desc = parameter_descriptor(spec)
        try:
            node.declare_parameter(spec.name, spec.default, desc)
        except (InvalidParameterTypeException, InvalidParameterValueException, TypeError, ValueError) as exc:
            problems.append(f"parameter {spec.name}: {exc}; using the default {spec.default!r}")
            node.declare_parameter(spec.name, spec.default, desc, ignore_override=True)
    return problems


def parameter_values(node: Any, names: list[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = node.get_parameter(name).value
        if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
            value = list(value)
        out[name] = value
    return out


def destroy_lifecycle_publisher(node: Any, publisher: Any) -> None:
    """``destroy_lifecycle_publisher`` where rclpy has it (it also forgets the managed entity)."""
    if publisher is None:
        return
    destroy = getattr(node, "destroy_lifecycle_publisher", None)
    if destroy is not None:
        destroy(publisher)
    else:  # pragma: no cover - older rclpy
        node.destroy_publisher(publisher)


# --------------------------------------------------------------------------- parts


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
        if self.depth is not None:  # colour + depth paired by message_filters (nodes/depth_input.py)
            kind, name = (("image_compressed", "image/compressed") if self.params["image_transport"] == "compressed"
                          else ("image", "image"))
            self._subs.extend(self.depth.activate(self._msg_types["compressed" if kind == "image_compressed" else "image"],
                                                  name, kind, qos_profile(topics[name].qos)))
        elif self.params["image_transport"] == "compressed":
            self._subs.append(node.create_subscription(
                self._msg_types["compressed"], "image/compressed", lambda m: node.enqueue("image_compressed", m),
                qos_profile(topics["image/compressed"].qos)))
        else:
            self._subs.append(node.create_subscription(
                self._msg_types["image"], "image", lambda m: node.enqueue("image", m),
                qos_profile(topics["image"].qos)))
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


# --------------------------------------------------------------------------- the node


class HandPerceptionNode(LifecycleNode):
    """Lifecycle node base of the three executables; subclasses set ``EXECUTABLE`` and the parts
    (``WITH_ESTIMATOR``, ``WITH_FORECASTER``)."""

    EXECUTABLE = "hand_perception_node"
    WITH_ESTIMATOR = True
    WITH_FORECASTER = True

    def __init__(self, node_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(node_name or nl.NODE_NAMES[self.EXECUTABLE], **kwargs)
        self.stats = nl.RunningStats()
        self._throttle = nl.ThrottledLog(lambda m: self.get_logger().warning(m), period_s=5.0)
        self.queue: nl.FrameQueue | None = None
        self.worker: nl.QueueWorker | None = None
        self.estimator: EstimatorPart | None = None
        self.forecaster: ForecasterPart | None = None
        self.pipeline: Any = None
        self.model_info: dict[str, str] = {}
        self.params: dict[str, Any] = {}
        self._state = "unconfigured"
        self._diag_pub = None
        self._diag_timer = None
        self._last_input = None
        self.target: Any = None  # nodes.target_frame.TargetFrameOutputs, made in on_configure
        self._topic_types = node_health.TopicTypeMonitor()

        for problem in declare_parameters(self, nl.node_parameters(self.EXECUTABLE)):
            self.get_logger().error(problem)
        base = self._file_pipeline_config(log_errors=True)
        for problem in declare_parameters(self, nl.pipeline_parameter_specs(base)):
            self.get_logger().error(problem)
        # timers run on the steady clock: with use_sim_time they must fire before any /clock
        # arrives, and a looped bag's clock jumping back must not stall them
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._autostart_timer = None
        if self.get_parameter("autostart").value:
            self._autostart_timer = self.create_timer(0.05, self._autostart, clock=self._steady)

    # -- helpers -----------------------------------------------------------------------------
    def warn_throttled(self, key: str, message: str) -> None:
        self._throttle(key, message)

    def _file_pipeline_config(self, log_errors: bool = False) -> Any:
        from hand_perception.core.config import PipelineConfig, load_pipeline_config

        path = self.get_parameter("pipeline_config").value
        try:
            resolved = nl.resolve_config_path(path, nl.package_config_dirs())
            return load_pipeline_config(resolved)
        except (OSError, ValueError) as exc:
            if log_errors:
                self.get_logger().error(f"pipeline_config {path!r}: {exc}; using the defaults for now")
                return PipelineConfig()
            raise

    def _autostart(self) -> None:
        if self._autostart_timer is not None:
            self._autostart_timer.cancel()
        if self._state != "unconfigured":
            return
        self.get_logger().info("autostart: configuring")
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            self.get_logger().error("autostart: configure failed; the node stays unconfigured")
            return
        self.get_logger().info("autostart: activating")
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            self.get_logger().error("autostart: activate failed; the node stays inactive")

    def enqueue(self, kind: str, msg: Any) -> None:
        """Subscription callback: queue the message (dropping the oldest when full)."""
        queue = self.queue
        if queue is None or self._state != "active":
            return
        self.stats.on_input()
        self._last_input = time.monotonic()
        if queue.put(_Item(kind, msg)) is not None:
            self.stats.dropped += 1

    def reset_pipeline(self) -> None:
        if self.pipeline is not None:
            self.pipeline.reset()
        if self.forecaster is not None:
            self.forecaster.reset()

    def context_ok(self) -> bool:
        """False once rclpy shut the context down (Ctrl-C: rclpy's signal handler does it before
        any of our code runs); publishing then raises, so the worker stops quietly."""
        try:
            return bool(self.context.ok())
        except Exception:  # noqa: BLE001 - no context: shutting down
            return False

    def _handle(self, item: _Item) -> None:
        if not self.context_ok():
            return  # shutting down: nothing may be published any more
        frame = None
        if item.kind in ("image", "image_compressed"):
            assert self.estimator is not None
            frame = self.estimator.process(item)
        elif item.kind == "hands":
            frame = hand_array_to_frame_result(item.msg)
            frame.latency_s = time.monotonic() - item.arrival
        if frame is None:
            return
        if self.forecaster is not None:
            self.forecaster.process(frame)
        self.stats.on_output(time.monotonic() - item.arrival)

    def _on_worker_error(self, exc: BaseException, item: Any) -> None:
        if not self.context_ok():
            return  # publishing raced the context's shutdown (Ctrl-C): not a processing error
        self.stats.bad += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self.warn_throttled("worker_error", f"processing failed, frame skipped: {type(exc).__name__}: {exc}\n"
                            + "".join(traceback.format_exception(exc)[-3:]))

    def input_types(self) -> dict[str, str]:
        """Fully resolved name -> type (``pkg/msg/Type``) of every live subscription."""
        out = {}
        for sub in self.subscriptions:
            cls = sub.msg_type
            out[str(sub.topic_name)] = f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"
        return out

    def check_input_types(self) -> None:
        """Compare the graph's types on our input topics with ours; log each new problem in one
        line (the subscription stays: DDS connects it once a publisher of the right type comes)."""
        expected = self.input_types()
        publishers: dict[str, list[tuple[str, str]]] = {}
        try:
            for name in expected:
                publishers[name] = [
                    (f"{info.node_namespace.rstrip('/')}/{info.node_name}", str(info.topic_type))
                    for info in self.get_publishers_info_by_topic(name)]
        except Exception as exc:  # noqa: BLE001 - a graph query failing must not stop diagnostics
            self.get_logger().debug(f"topic type check skipped: {type(exc).__name__}: {exc}")
            return
        for line in self._topic_types.update(expected, publishers):
            self.get_logger().warning(line)

    def diagnostics_name(self) -> str:
        """Status name with the node's namespace: '<ns>/<name>: hand perception' (no leading '/')."""
        return f"{self.get_fully_qualified_name().lstrip('/')}: hand perception"

    def _publish_diagnostics(self) -> None:
        """Diagnostics timer callback. rclpy's SingleThreadedExecutor re-raises a callback's
        exception out of spin(), which would end the node: a failure is logged instead."""
        try:
            self._publish_diagnostics_now()
        except Exception as exc:  # noqa: BLE001 - diagnostics must never stop the node
            if self.context_ok():
                self.warn_throttled("diagnostics_error", f"diagnostics failed: {type(exc).__name__}: {exc}")

    def _publish_diagnostics_now(self) -> None:
        if self._diag_pub is None:
            return
        if self._state == "active":
            self.check_input_types()
        stats = self.stats.as_dict()
        since = None if self._last_input is None else time.monotonic() - self._last_input
        extra: dict[str, Any] = {"queue_size": self.params.get("queue_size", ""), "namespace": self.get_namespace()}
        if self.estimator is not None:
            extra["camera_info_received"] = self.estimator.pairer.received
            extra["image_frame_ids"] = ",".join(self.estimator.frame_ids.frame_ids)
        problems = list(self._topic_types.problems.values()) if self._state == "active" else []
        if self.target is not None:  # target_frame: outputs skipped for want of a transform
            values, problem = self.target.report()
            extra.update(values)
            problems += [problem] if problem and self._state == "active" else []
        if self.estimator is not None and self.estimator.depth is not None:  # RGB-D: pairs, fallbacks
            values, problem = self.estimator.depth.diagnostics()
            extra.update(values)
            problems += [problem] if problem and self._state == "active" else []
        status = nl.diagnostic_status(
            self.diagnostics_name(), self.get_fully_qualified_name(), stats, self.model_info, state=self._state,
            extra=extra, stale_after_s=5.0, seconds_since_input=since, input_problems=problems)
        self._diag_pub.publish(nl.diagnostics_to_msg([status], self.get_clock().now().nanoseconds, _TYPES))

    # -- lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._configure()
        except Exception as exc:  # noqa: BLE001 - report and stay unconfigured
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        self._state = "inactive"
        self.get_logger().info(f"configured: {self.model_info}")
        return TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        specs = nl.node_parameters(self.EXECUTABLE)
        params = parameter_values(self, [s.name for s in specs])
        problems = nl.validate_parameters(params, specs)
        if problems:
            raise ValueError("; ".join(problems))
        pipeline_names = [s.name for s in nl.pipeline_parameter_specs()]
        values = {**parameter_values(self, pipeline_names), "backend": params["backend"], "device": params["device"]}
        config = nl.pipeline_config_from_parameters(values, base=self._file_pipeline_config())
        self.params = params
        self.stats = nl.RunningStats(window=int(params["stats_window"]))
        self.queue = nl.FrameQueue(int(params["queue_size"]))
        self.model_info = {}
        from hand_perception.nodes.target_frame import TargetFrameOutputs

        self.target = TargetFrameOutputs(self, params, qos_profile(nl.OUTPUT_QOS), self.WITH_ESTIMATOR,
                                         self.WITH_FORECASTER, mano_dir=getattr(config.estimator, "mano_dir", None))
        if self.WITH_ESTIMATOR:
            from hand_perception.core.pipeline import HandPerceptionPipeline

            self.pipeline = HandPerceptionPipeline(config)
            self.model_info.update(self.pipeline.model_info())
            self.estimator = EstimatorPart(self, self.pipeline, params)
        if self.WITH_FORECASTER:
            if self.pipeline is not None:
                forecaster = self.pipeline.forecaster
            else:
                forecaster = nl.build_forecaster(config)
                self.model_info["forecaster"] = str(config.forecast.model)
            self.forecaster = ForecasterPart(self, forecaster, config)
        if params["device"]:
            self.model_info.setdefault("device", params["device"])
        self.worker = nl.QueueWorker(self.queue, self._handle, self._on_worker_error,
                                     name=f"{self.get_name()}_worker")
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", qos_profile(nl.OUTPUT_QOS))
        self._diag_timer = self.create_timer(float(params["diagnostics_period_s"]), self._publish_diagnostics,
                                             clock=self._steady)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        try:
            if self.estimator is not None:
                self.estimator.activate()
            if self.EXECUTABLE == "hand_forecaster":
                from hand_perception_msgs.msg import HandArray

                spec = nl.topic("hand_forecaster", "hands")
                self._hands_sub = self.create_subscription(
                    HandArray, "hands", lambda m: self.enqueue("hands", m), qos_profile(spec.qos))
            assert self.worker is not None
            self.worker.start()
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"activate failed: {type(exc).__name__}: {exc}")
            # FAILURE returns the node to inactive: undo what was set up, so a later activate
            # does not subscribe twice or find the worker already running
            try:
                self._stop_inputs()
            except Exception as undo_exc:  # noqa: BLE001
                self.get_logger().error(f"undoing the failed activate: {type(undo_exc).__name__}: {undo_exc}")
            return TransitionCallbackReturn.FAILURE
        self._state = "active"
        self.get_logger().info("active")
        return super().on_activate(state)  # activates the lifecycle publishers

    def _stop_inputs(self) -> None:
        self._state = "inactive" if self._state == "active" else self._state
        if self.estimator is not None:
            self.estimator.deactivate()
        sub = getattr(self, "_hands_sub", None)
        if sub is not None:
            self.destroy_subscription(sub)
            self._hands_sub = None
        if self.worker is not None and not self.worker.stop(timeout=10.0):
            self.get_logger().warning("worker thread did not stop within 10 s")
        if self.queue is not None:
            self.queue.clear()

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_inputs()
        self.reset_pipeline()
        if self.estimator is not None:
            self.estimator.reset()
        return super().on_deactivate(state)

    def _release(self) -> None:
        self._stop_inputs()
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
        if self.estimator is not None:
            self.estimator.cleanup()
        if self.forecaster is not None:
            self.forecaster.cleanup()
        if self.target is not None:
            self.target.cleanup()
            self.target = None
        close = getattr(getattr(getattr(self.pipeline, "estimator", None), "tracker", None), "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - best effort
                pass
        self._diag_timer = self._diag_pub = None
        self.estimator = self.forecaster = None
        self.pipeline = self.worker = self.queue = None

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._release()
        self._state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._release()
        self._state = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in state {state.label}; releasing resources")
        self._release()
        self._state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def stop_worker(self, timeout: float = 5.0) -> None:
        """Stop taking frames and join the worker thread (on Ctrl-C / shutdown, first thing);
        ``timeout`` 0 only tells the worker to stop."""
        self._state = "finalized" if self._state == "active" else self._state
        worker = self.worker
        if worker is not None:
            try:
                worker.stop(timeout=timeout)
            except Exception:  # noqa: BLE001 - exiting anyway
                pass

    def on_context_shutdown(self) -> None:
        """``Context.on_shutdown`` callback (``rclpy.shutdown()`` / ``try_shutdown()``): tell the
        worker to stop, without waiting for it. rclpy runs these callbacks holding the context's
        lock, which ``Context.ok()`` takes too: a worker finishing a frame calls ``context_ok()``
        and would block until the join timed out. It sees False once the shutdown is over and
        stops; :meth:`close` joins it."""
        self.stop_worker(timeout=0.0)

    def close(self) -> None:
        """Stop the worker and release everything (used on process exit)."""
        # the worker first: after an external shutdown the context is gone and destroying ROS
        # entities may raise, which must not leave the worker running into interpreter exit
        self.stop_worker()
        try:
            self._release()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass


def run_node(cls: type[HandPerceptionNode], args: list[str] | None = None) -> int:
    """``main()`` of the executables: init, spin until Ctrl-C / shutdown, clean up."""
    rclpy.init(args=args)
    node = None
    try:
        node = cls()
        # rclpy.shutdown()/try_shutdown() from anywhere: stop the worker with the context (rclpy's
        # SIGINT handler shuts the rcl context down without these callbacks: see the except below)
        node.context.on_shutdown(node.on_context_shutdown)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        # Ctrl-C: rclpy's signal handler has already shut the context down; the worker stops
        # now, before anything else, and a publish that raced the shutdown is dropped quietly
        if node is not None:
            node.stop_worker()
    finally:
        if node is not None:
            node.close()
            try:
                node.destroy_node()
            except Exception:  # noqa: BLE001 - the context may already be shut down
                pass
        rclpy.try_shutdown()
    return 0


__all__ = ["EstimatorPart", "ForecasterPart", "HandPerceptionNode", "declare_parameters", "parameter_descriptor",
           "parameter_values", "qos_profile", "run_node"]
