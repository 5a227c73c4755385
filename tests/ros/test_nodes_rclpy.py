"""The rclpy nodes through their thin adapters (needs ROS 2 Jazzy and the built workspace:
``colcon build && source install/setup.bash``; skipped elsewhere).

Checks: lifecycle transitions (configure loads the pipeline, activate subscribes, deactivate
stops, cleanup releases), autostart, HandArray/MarkerArray/diagnostics outputs stamped like
the input image, bad images logged and skipped while the node keeps running, backpressure with
a slow model, and the forecaster publishing forecasts and actions from HandArray input.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("hand_perception_msgs.msg")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from hand_perception_msgs.msg import ActionEstimate, BimanualForecast, HandArray  # noqa: E402
from lifecycle_msgs.msg import State  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from hand_perception.core.conversions import RclpyTypes, frame_result_to_hand_array, stamp_to_time  # noqa: E402
from hand_perception.core.image_codec import encode_image  # noqa: E402
from hand_perception.core.types import FrameResult, HandState  # noqa: E402
from hand_perception.nodes.hand_estimator import HandEstimatorNode  # noqa: E402
from hand_perception.nodes.hand_forecaster import HandForecasterNode  # noqa: E402
from hand_perception.nodes.hand_perception_node import HandPerceptionCombinedNode  # noqa: E402

T0 = 1_700_000_000 * 10**9
TYPES = RclpyTypes()


@pytest.fixture(scope="module", autouse=True)
def ros_context():
    rclpy.init()
    yield
    rclpy.try_shutdown()


class Harness:
    """A probe node publishing inputs and recording outputs, spun with the node under test."""

    def __init__(self, node, ns: str = "") -> None:
        self.node = node
        self.probe = rclpy.create_node(f"probe_{id(self)}")
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(node)
        self.executor.add_node(self.probe)
        self.got: dict[str, list] = {}
        for topic, typ in (("hands", HandArray), ("hands/markers", MarkerArray), ("/diagnostics", DiagnosticArray),
                           ("hands/forecast", BimanualForecast), ("hands/action", ActionEstimate)):
            self.probe.create_subscription(typ, topic, lambda m, t=topic: self.got.setdefault(t, []).append(m), 50)
        self.pub_image = self.probe.create_publisher(Image, "image", 10)
        self.pub_info = self.probe.create_publisher(CameraInfo, "camera_info", 10)
        self.pub_hands = self.probe.create_publisher(HandArray, "hands_in", 10)

    def spin_until(self, cond, timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)
            if cond():
                return True
        return False

    def image(self, stamp_ns: int, rgb=None, **change) -> Image:
        rgb = np.zeros((120, 160, 3), np.uint8) if rgb is None else rgb
        f = {**encode_image(rgb, "rgb8"), **change}
        msg = Image()
        msg.header.stamp = stamp_to_time(stamp_ns, TYPES)
        msg.header.frame_id = "cam"
        msg.height, msg.width, msg.encoding = int(f["height"]), int(f["width"]), f["encoding"]
        msg.is_bigendian, msg.step = int(f["is_bigendian"]), int(f["step"])
        msg.data = f["data"].tobytes()
        return msg

    def info(self, stamp_ns: int) -> CameraInfo:
        msg = CameraInfo()
        msg.header.stamp = stamp_to_time(stamp_ns, TYPES)
        msg.header.frame_id = "cam"
        msg.width, msg.height = 160, 120
        msg.k = [150.0, 0.0, 80.0, 0.0, 150.0, 60.0, 0.0, 0.0, 1.0]
        msg.d = [0.0] * 5
        msg.distortion_model = "plumb_bob"
        return msg

    def close(self) -> None:
        self.executor.shutdown()
        self.node.close()
        self.node.destroy_node()
        self.probe.destroy_node()


def _state(node) -> int:
    return node._state_machine.current_state[0]


def test_estimator_lifecycle_outputs_and_bad_input():
    node = HandEstimatorNode(parameter_overrides=[Parameter("autostart", value=False),
                                                  Parameter("diagnostics_period_s", value=0.2)])
    h = Harness(node)
    try:
        assert _state(node) == State.PRIMARY_STATE_UNCONFIGURED
        h.pub_image.publish(h.image(T0))  # not subscribed yet: ignored
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.pipeline is not None and node.model_info.get("backend")
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        h.spin_until(lambda: h.probe.count_subscribers("image") >= 1 and h.probe.count_publishers("hands") >= 1, 5)
        h.pub_info.publish(h.info(T0))
        h.spin_until(lambda: node.estimator.pairer.received >= 1, 5)
        for k in range(3):
            h.pub_image.publish(h.image(T0 + k * 33_000_000))
            h.spin_until(lambda k=k: len(h.got.get("hands", [])) >= k + 1, 20)
        hands = h.got["hands"]
        assert [m.header.stamp.nanosec for m in hands] == [(T0 + k * 33_000_000) % 10**9 for k in range(3)]
        assert all(m.header.frame_id == "cam" and not m.intrinsics_default for m in hands)
        assert h.spin_until(lambda: len(h.got.get("hands/markers", [])) >= 3, 5)
        assert h.spin_until(lambda: any(s.name.startswith("hand_estimator") for m in h.got.get("/diagnostics", [])
                                        for s in m.status), 5)
        # a bad image (step disagrees with the data) is logged and skipped; the node keeps going
        h.pub_image.publish(h.image(T0 + 10 * 33_000_000, step=5))
        h.pub_image.publish(h.image(T0 + 11 * 33_000_000))
        assert h.spin_until(lambda: len(h.got["hands"]) >= 4, 20)
        assert node.stats.bad == 1
        # a looped bag: stamps go back -> reset, still processed
        h.pub_image.publish(h.image(T0))
        assert h.spin_until(lambda: len(h.got["hands"]) >= 5, 20)
        assert node.stats.stamp_resets == 1
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        n = len(h.got["hands"])
        h.pub_image.publish(h.image(T0 + 50 * 33_000_000))
        h.spin_until(lambda: False, 1.0)
        assert len(h.got["hands"]) == n
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.pipeline is None and _state(node) == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        h.close()


def test_backpressure_drops_oldest_with_a_slow_model():
    node = HandEstimatorNode(parameter_overrides=[Parameter("autostart", value=False), Parameter("queue_size", value=1)])
    h = Harness(node)
    try:
        node.trigger_configure()
        real = node.pipeline.estimator.process

        def slow(*a, **kw):
            time.sleep(0.2)
            return real(*a, **kw)

        node.pipeline.estimator.process = slow
        node.trigger_activate()
        h.spin_until(lambda: h.probe.count_subscribers("image") >= 1, 5)
        for k in range(15):
            h.pub_image.publish(h.image(T0 + k * 10_000_000))
            h.executor.spin_once(timeout_sec=0.01)
        h.spin_until(lambda: node.queue is not None and len(node.queue) == 0 and not node.worker.busy, 10)
        assert node.stats.dropped > 0
        assert node.stats.processed + node.stats.dropped == node.stats.received
        assert len(h.got.get("hands", [])) < 15
    finally:
        h.close()


def _hand(t: float, side: str) -> HandState:
    j = np.zeros((21, 3))
    j[1:] = np.linspace([0, -0.02, 0], [0, -0.09, 0], 20)
    j += [0.1 * t + (0.1 if side == "right" else -0.1), 0.0, 0.5]
    return HandState(side=side, track_id=1 if side == "right" else 2, confidence=0.9,
                     keypoints_2d=np.zeros((21, 2)), keypoint_confidence=np.ones(21), joints=j,
                     wrist_position=j[0].copy(), wrist_orientation_xyzw=np.array([0.0, 0.0, 0.0, 1.0]),
                     mano=None, bbox=np.zeros(4))


def test_forecaster_node_publishes_forecasts_and_actions():
    node = HandForecasterNode(parameter_overrides=[Parameter("autostart", value=False)],
                              cli_args=["--ros-args", "-r", "hands:=hands_in"])
    h = Harness(node)
    try:
        node.trigger_configure()
        node.trigger_activate()
        h.spin_until(lambda: h.probe.count_subscribers("hands_in") >= 1, 5)
        for k in range(12):
            s = T0 + k * 33_333_333
            frame = FrameResult(s, "cam", [_hand(k / 30, "left"), _hand(k / 30, "right")])
            h.pub_hands.publish(frame_result_to_hand_array(frame, TYPES))
            h.spin_until(lambda k=k: node.stats.processed >= k + 1, 5)
        assert h.spin_until(lambda: len(h.got.get("hands/forecast", [])) >= 2 and h.got.get("hands/action"), 10)
        fc = h.got["hands/forecast"][-1]
        assert fc.model == "constant_velocity" and fc.num_samples >= 1 and fc.has_mean and len(fc.hands) == 2
    finally:
        h.close()


def test_combined_node_autostarts():
    node = HandPerceptionCombinedNode()
    h = Harness(node)
    try:
        assert h.spin_until(lambda: _state(node) == State.PRIMARY_STATE_ACTIVE, 30)
        h.spin_until(lambda: h.probe.count_subscribers("image") >= 1, 5)
        h.pub_image.publish(h.image(T0))
        assert h.spin_until(lambda: len(h.got.get("hands", [])) >= 1, 20)
        assert h.got["hands"][0].intrinsics_default  # no CameraInfo: default focal length, flagged
    finally:
        h.close()


def test_context_shutdown_while_the_worker_publishes_is_quiet():
    """Ctrl-C / rclpy.shutdown() while a frame is in the model: the worker's publish then finds
    the context invalid (RCLError); that is dropped quietly, not counted as a bad frame."""
    import threading

    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    node = HandEstimatorNode(context=ctx, parameter_overrides=[Parameter("autostart", value=False)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        inside, gate = threading.Event(), threading.Event()
        real = node.pipeline.estimator.process

        def blocked(*a, **kw):
            inside.set()
            gate.wait(10)
            return real(*a, **kw)

        node.pipeline.estimator.process = blocked
        f = encode_image(np.zeros((120, 160, 3), np.uint8), "rgb8")
        msg = Image()
        msg.header.stamp = stamp_to_time(T0, TYPES)
        msg.header.frame_id = "cam"
        msg.height, msg.width, msg.encoding, msg.step = 120, 160, "rgb8", int(f["step"])
        msg.data = f["data"].tobytes()
        node.enqueue("image", msg)
        assert inside.wait(20)
        rclpy.shutdown(context=ctx)
        gate.set()
        node.stop_worker()
        assert node.stats.bad == 0 and node.stats.last_error == ""
    finally:
        gate.set()
        node.close()
        rclpy.try_shutdown(context=ctx)


def test_forecaster_target_frame_through_real_tf2():
    """target_frame with the real tf2_ros: a static base_link -> cam transform from the probe puts
    the forecasts in base_link (mode instead); a frame nobody publishes skips them, counted."""
    from geometry_msgs.msg import TransformStamped
    from rclpy.time import Time
    from tf2_ros import StaticTransformBroadcaster

    def node_with(target):
        return HandForecasterNode(parameter_overrides=[
            Parameter("autostart", value=False), Parameter("target_frame", value=target),
            Parameter("target_frame_mode", value="instead"), Parameter("target_frame_timeout_s", value=0.2)],
            cli_args=["--ros-args", "-r", "hands:=hands_in"])

    for target in ("base_link", "map"):
        node = node_with(target)
        h = Harness(node)
        try:
            static = StaticTransformBroadcaster(h.probe)
            tf = TransformStamped()
            tf.header.frame_id, tf.child_frame_id = "base_link", "cam"
            tf.transform.translation.z = 1.0
            tf.transform.rotation.w = 1.0
            static.sendTransform(tf)
            node.trigger_configure()
            node.trigger_activate()
            h.spin_until(lambda: h.probe.count_subscribers("hands_in") >= 1, 5)
            h.spin_until(lambda: node.target.buffer.can_transform("base_link", "cam", Time()), 5)
            for k in range(12):
                frame = FrameResult(T0 + k * 33_333_333, "cam", [_hand(k / 30, "right")])
                h.pub_hands.publish(frame_result_to_hand_array(frame, TYPES))
                h.spin_until(lambda k=k: node.stats.processed >= k + 1, 5)
            if target == "base_link":
                assert h.spin_until(lambda: len(h.got.get("hands/forecast", [])) >= 2, 10)
                fc = h.got["hands/forecast"][-1]
                assert fc.header.frame_id == "base_link"
                assert abs(fc.hands[0].mean_wrist_position[2] - 1.5) < 0.05  # z 0.5 in cam + 1.0
            else:
                h.spin_until(lambda: False, 1.0)
                assert not h.got.get("hands/forecast") and node.target.transformer.skipped["missing"] >= 1
        finally:
            h.close()
