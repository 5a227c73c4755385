"""The rclpy nodes run here against the in-process rclpy stand-in of ``rclpy_standin`` (no ROS on
this machine): parameters, lifecycle, outputs, bad input, shutdown and diagnostics.

The same node code is tested against real rclpy in ``tests/ros/`` where ROS 2 is installed.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from rclpy_standin import (  # noqa: F401 - fixtures used by name
    T0,
    Parameter,
    TransitionCallbackReturn,
    _active_estimator,
    _diag,
    _Rclpy,
    compressed_msg,
    image_msg,
    info_msg,
    main_interrupted_mid_frame,
    pub,
    rclpy_context,
    rendered,
    ros,
    sub,
    wait,
)

# the stand-in's skip: with rclpy installed the nodes are tested for real in tests/ros/
from rclpy_standin import pytestmark  # noqa: F401


# =========================================================================== tests


def test_parameters_declared_with_descriptors_and_ranges(ros):
    from hand_perception.core import node_logic as nl

    node = ros.est.HandEstimatorNode(parameter_overrides=[
        Parameter("autostart", value=False),
        Parameter("queue_size", value=0),  # out of range: error logged, default kept
        Parameter("marker_lifetime_s", value=1),  # integer for a double: error logged, default kept
        Parameter("tf_prefix", value="cam1_"),
        Parameter("pipeline.forecast.horizon_s", value=0.5),
    ])
    try:
        for spec in nl.node_parameters("hand_estimator"):
            d = node._descriptors[spec.name]
            assert d.description
            if spec.min is not None and spec.type == "double":
                assert d.floating_point_range[0].from_value == spec.min
            if spec.min is not None and spec.type == "integer":
                assert d.integer_range[0].to_value == spec.max
        assert node.get_parameter("queue_size").value == 2
        assert node.get_parameter("marker_lifetime_s").value == 0.2
        assert node.get_parameter("tf_prefix").value == "cam1_"
        errors = node.get_logger().text("error")
        assert "queue_size" in errors and "marker_lifetime_s" in errors
        assert node.has_parameter("pipeline.estimator.max_hands")
        assert not node.timers  # autostart off
    finally:
        node.close()


def test_combined_node_autostart_outputs_and_bad_input(ros, rendered):
    node = ros.both.HandPerceptionCombinedNode(parameter_overrides=[
        Parameter("pipeline.forecast.rate_hz", value=0.0), Parameter("queue_size", value=10)])
    try:
        assert len(node.timers) == 1
        node.timers[0].fire()  # the one-shot autostart timer
        assert node.lifecycle_state == "active", node.get_logger().text("error")
        assert node.timers[0].canceled
        assert all(t.clock.clock_type.name == "STEADY_TIME" for t in node.timers)
        assert node.model_info["backend"]
        topics = {p.topic for p in node.publishers if not p.destroyed}
        assert {"hands", "hands/markers", "hands/forecast", "hands/action", "/diagnostics", "/tf"} <= topics
        assert {s.topic for s in node.subscriptions if not s.destroyed} == {"image", "camera_info"}
        assert sub(node, "image").qos.reliability.name == "BEST_EFFORT"
        assert pub(node, "hands").qos.reliability.name == "RELIABLE"

        sub(node, "camera_info").callback(info_msg(ros, rendered[0].K, T0))
        for i, f in enumerate(rendered):
            sub(node, "image").callback(image_msg(ros, f.image, T0 + i * 33_333_333))
        hands = pub(node, "hands")
        assert wait(lambda: len(hands.messages) == 3), node.get_logger().text("warning")
        assert wait(lambda: node.stats.processed == 3)  # everything of the 3rd frame is published
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in hands.messages]
        assert stamps == [T0 + i * 33_333_333 for i in range(3)]
        assert all(not m.intrinsics_default for m in hands.messages)
        assert max(len(m.hands) for m in hands.messages) >= 1
        markers = pub(node, "hands/markers").messages
        assert len(markers) == 3 and any(len(m.markers) > 1 for m in markers)
        assert any(t.child_frame_id.endswith("_wrist") for m in pub(node, "/tf").messages for t in m.transforms)
        assert len(pub(node, "hands/forecast").messages) >= 1
        assert len(pub(node, "hands/action").messages) >= 1

        # bad inputs: wrong step, NaN CameraInfo; the node keeps running
        sub(node, "image").callback(image_msg(ros, rendered[0].image, T0 + 10**9, step=7))
        sub(node, "camera_info").callback(info_msg(ros, rendered[0].K, T0 + 10**9, nan=True))
        sub(node, "image").callback(image_msg(ros, rendered[1].image, T0 + 2 * 10**9))
        assert wait(lambda: node.stats.processed == 4)
        assert node.stats.bad == 1 and len(hands.messages) == 4
        assert hands.messages[-1].intrinsics_default  # the latest CameraInfo is invalid

        # diagnostics (timer): rate, latency, drops, backend
        diag_timer = [t for t in node.timers if t is not node.timers[0]][0]
        diag_timer.fire()
        status = pub(node, "/diagnostics").messages[-1].status[0]
        keys = {kv.key: kv.value for kv in status.values}
        assert status.level in (b"\x00", b"\x01")
        for key in ("output_rate_hz", "latency_p50_ms", "latency_p99_ms", "frames_dropped", "bad_frames", "backend"):
            assert key in keys
        assert keys["bad_frames"] == "1"

        # deactivate: no more processing; cleanup releases everything
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert not [s for s in node.subscriptions if not s.destroyed]
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.pipeline is None and all(p.destroyed for p in node.publishers)
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS  # configurable again
        assert node.trigger_shutdown() == TransitionCallbackReturn.SUCCESS
    finally:
        node.close()


def test_estimator_compressed_and_backpressure(ros, rendered):
    node = ros.est.HandEstimatorNode(parameter_overrides=[
        Parameter("autostart", value=False), Parameter("image_transport", value="compressed"),
        Parameter("queue_size", value=1), Parameter("publish_tf", value=False)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        real = node.pipeline.estimator.process

        def slow(*a, **kw):
            time.sleep(0.15)
            return real(*a, **kw)

        node.pipeline.estimator.process = slow
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert "/tf" not in {p.topic for p in node.publishers}
        cb = sub(node, "image/compressed").callback
        for i in range(8):
            cb(compressed_msg(ros, rendered[i % 3].image, T0 + i * 10**7))
        assert wait(lambda: node.stats.processed + node.stats.dropped == 8, 20)
        s = node.stats
        assert s.dropped >= 4 and s.processed + s.dropped == s.received == 8
        assert len(pub(node, "hands").messages) == s.processed
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    finally:
        node.close()


def test_forecaster_node(ros):
    from hand_perception.core.conversions import RclpyTypes, frame_result_to_hand_array
    from hand_perception.core.types import FrameResult, HandState

    node = ros.fc.HandForecasterNode(parameter_overrides=[Parameter("autostart", value=False),
                                                          Parameter("queue_size", value=20)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.pipeline is None  # no estimator models loaded
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        cb = sub(node, "hands").callback
        types_ = RclpyTypes()
        for k in range(12):
            j = np.zeros((21, 3))
            j[1:] = np.linspace([0, -0.02, 0], [0, -0.09, 0], 20)
            j += [0.1 * k / 30, 0.0, 0.5]
            hand = HandState(side="right", track_id=1, confidence=0.9, keypoints_2d=np.zeros((21, 2)),
                             keypoint_confidence=np.ones(21), joints=j, wrist_position=j[0].copy(),
                             wrist_orientation_xyzw=np.array([0.0, 0.0, 0.0, 1.0]), mano=None, bbox=np.zeros(4))
            cb(frame_result_to_hand_array(FrameResult(T0 + k * 33_333_333, "cam", [hand]), types_))
        assert wait(lambda: node.stats.processed == 12), node.get_logger().records[-5:]
        fc = pub(node, "hands/forecast").messages
        assert len(fc) >= 3 and fc[-1].model == "constant_velocity" and fc[-1].has_mean and len(fc[-1].hands) == 1
        assert len(pub(node, "hands/action").messages) >= 3
        # a looped input: stamps go back -> forecaster reset, keeps publishing
        cb(frame_result_to_hand_array(FrameResult(T0, "cam", [hand]), types_))
        assert wait(lambda: node.stats.processed == 13) and node.stats.stamp_resets == 1
    finally:
        node.close()


def test_run_node_main_exits_cleanly(ros, monkeypatch):
    class Exec:
        def add_node(self, node):
            self.node = node

        def spin(self):
            raise KeyboardInterrupt

    _Rclpy.try_shutdown()  # a fresh process: run_node initialises rclpy itself
    monkeypatch.setattr(ros.common, "SingleThreadedExecutor", Exec)
    assert ros.fc.main([]) == 0
    assert not _Rclpy.ok()  # and shuts it down


def test_failed_activate_is_undone(ros):
    """rclpy returns the node to inactive on FAILURE: no subscription or worker may be left behind,
    so the next activate subscribes exactly once."""
    node = ros.est.HandEstimatorNode(parameter_overrides=[Parameter("autostart", value=False)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        worker_start = node.worker.start

        def broken_start():
            raise RuntimeError("no thread for you")

        node.worker.start = broken_start
        assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
        assert node.lifecycle_state == "inactive" and node._state == "inactive"
        assert not [s for s in node.subscriptions if not s.destroyed]
        assert "activate failed" in node.get_logger().text("error")
        node.worker.start = worker_start
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        sub(node, "image")  # exactly one live image subscription
        sub(node, "camera_info")
        assert node.worker.running
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    finally:
        node.close()


# =========================================================================== shutdown, diagnostics, bad input


@pytest.mark.parametrize("how", ["context_shutdown", "signal_handler"])
def test_ctrl_c_while_the_worker_publishes_is_quiet(ros, rendered, monkeypatch, how):
    """Ctrl-C: rclpy invalidates the context before our code runs, while the worker is in the
    middle of a frame; its publish then raises RCLError. No traceback, no 'processing failed'
    warning, no thread exception; the worker is stopped and main() returns 0."""
    import threading

    def interrupt(node, gate):
        if how == "context_shutdown":  # rclpy.shutdown(): on_shutdown callbacks run after rcl's shutdown
            threading.Timer(0.3, gate.set).start()
            node.context.shutdown()
        else:  # rclpy's SIGINT handler: the rcl context is gone, then KeyboardInterrupt
            node.context._ok = False
            threading.Timer(0.3, gate.set).start()
        raise KeyboardInterrupt

    node, thread_errors = main_interrupted_mid_frame(ros, rendered, monkeypatch, interrupt)
    logged = "\n".join(m for level, m in node.get_logger().records if level in ("warning", "error"))
    assert "context" not in logged and "Traceback" not in logged and "processing failed" not in logged, logged
    assert not thread_errors
    assert node.stats.bad == 0 and node.worker is None and node.destroyed
    assert not [t for t in threading.enumerate() if t.name.endswith("_worker")]


def test_diagnostics_report_the_current_state_and_the_namespace(ros, rendered):
    """A bag without camera_info: WARN naming the reason; once CameraInfo arrives the status
    recovers to OK (it used to stay WARN for the whole run). The status name carries the
    namespace, so estimators in two namespaces report under two names."""
    node = _active_estimator(ros, namespace="robot1")
    other = ros.est.HandEstimatorNode(parameter_overrides=[Parameter("autostart", value=False)], namespace="/robot2")
    try:
        image = sub(node, "image").callback
        image(image_msg(ros, rendered[0].image, T0))
        hands = pub(node, "hands")
        assert wait(lambda: len(hands.messages) == 1) and hands.messages[0].intrinsics_default
        status = _diag(node)
        assert status.name == "robot1/hand_estimator: hand perception"
        assert status.hardware_id == "/robot1/hand_estimator"
        assert other.diagnostics_name() == "robot2/hand_estimator: hand perception"
        assert status.level == b"\x01" and "default intrinsics (no camera_info received)" in status.message
        keys = {kv.key: kv.value for kv in status.values}
        assert keys["camera_info_received"] == "0" and keys["intrinsics_source"] == "default"

        sub(node, "camera_info").callback(info_msg(ros, rendered[1].K, T0 + 33_333_333))
        image(image_msg(ros, rendered[1].image, T0 + 33_333_333))
        assert wait(lambda: len(hands.messages) == 2) and not hands.messages[1].intrinsics_default
        assert wait(lambda: node.stats.processed == 2)
        status = _diag(node)
        assert status.level == b"\x00", status.message
        keys = {kv.key: kv.value for kv in status.values}
        assert keys["frames_default_intrinsics"] == "1" and keys["intrinsics_source"] == "camera_info"
    finally:
        other.close()
        node.close()


def test_wrong_message_type_on_an_input_topic_is_reported_once_and_the_node_waits(ros, rendered):
    node = _active_estimator(ros)
    try:
        _Rclpy.graph_publishers["/image"] = [("usb_cam", "/", "sensor_msgs/msg/CompressedImage")]
        first = _diag(node)
        _diag(node)
        _diag(node)
        lines = [m for level, m in node.get_logger().records if level == "warning" and "/image" in m]
        assert len(lines) == 1, lines
        assert "/usb_cam publishes sensor_msgs/msg/CompressedImage" in lines[0]
        assert "expects sensor_msgs/msg/Image" in lines[0] and "waiting" in lines[0]
        assert first.level == b"\x01" and "sensor_msgs/msg/CompressedImage" in first.message
        assert node.lifecycle_state == "active" and sub(node, "image")  # still subscribed, waiting

        # the right publisher comes: the problem is reported resolved and frames flow
        _Rclpy.graph_publishers["/image"] = [("camera", "/", "sensor_msgs/msg/Image")]
        assert _diag(node).message == "waiting for input"
        assert "no publisher of another type any more" in node.get_logger().text("warning").splitlines()[-1]
        sub(node, "image").callback(image_msg(ros, rendered[0].image, T0))
        assert wait(lambda: len(pub(node, "hands").messages) == 1)
    finally:
        node.close()


def test_two_publishers_with_different_frame_ids_on_the_image_topic(ros, rendered):
    """Frames of both are processed; one warning per new pair of frame_ids; diagnostics WARN
    while the switching goes on."""
    node = _active_estimator(ros)
    try:
        image = sub(node, "image").callback
        frames = ["cam_left", "cam_right", "cam_left", "cam_right", "cam_left", "cam_top"]
        for i, frame_id in enumerate(frames):
            msg = image_msg(ros, rendered[i % 3].image, T0 + i * 33_333_333)
            msg.header.frame_id = frame_id
            image(msg)
        hands = pub(node, "hands")
        assert wait(lambda: len(hands.messages) == len(frames)), node.get_logger().text("warning")
        assert [m.header.frame_id for m in hands.messages] == frames
        warned = [m for level, m in node.get_logger().records if level == "warning" and "frame_id changed" in m]
        assert len(warned) == 2, warned  # left<->right once, left->top once
        assert "'cam_left' to 'cam_right'" in warned[0] and "'cam_left' to 'cam_top'" in warned[1]
        assert node.stats.frame_id_switches == 5
        status = _diag(node)
        assert status.level == b"\x01" and "frame_id switched 5 times" in status.message
        assert {kv.key: kv.value for kv in status.values}["image_frame_ids"] == "cam_left,cam_right,cam_top"
    finally:
        node.close()
