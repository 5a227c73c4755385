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
* :class:`~hand_perception.nodes.parts.EstimatorPart`: image (+ camera_info) in -> ``hands``,
  ``hands/markers``, ``/tf`` (:mod:`hand_perception.nodes.parts`).
* :class:`~hand_perception.nodes.parts.ForecasterPart`: frames of hands in -> ``hands/forecast``,
  ``hands/action``.

QoS profiles and parameter declarations are built in :mod:`hand_perception.nodes.ros_params`.

Subscription callbacks only enqueue the message (a bounded queue that drops the oldest); the
worker thread decodes, runs the model and publishes, so a slow model drops frames instead of
queueing them, and bad input is logged and counted, never fatal.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn

from hand_perception.core import node_health, node_logic as nl
from hand_perception.core.conversions import RclpyTypes, hand_array_to_frame_result
from hand_perception.nodes.parts import EstimatorPart, ForecasterPart, _Item
from hand_perception.nodes.ros_params import (  # noqa: F401 - re-exported (tests, target_frame.py)
    declare_parameters,
    destroy_lifecycle_publisher,
    parameter_descriptor,
    parameter_values,
    qos_profile,
)

_TYPES = RclpyTypes()


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


__all__ = ["EstimatorPart", "ForecasterPart", "HandPerceptionNode", "declare_parameters", "destroy_lifecycle_publisher",
           "parameter_descriptor", "parameter_values", "qos_profile", "run_node"]
