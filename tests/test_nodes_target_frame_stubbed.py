"""target_frame in the nodes (issue 11, robot frames), against the rclpy stand-in of
``rclpy_standin`` plus the tf2_ros stand-in of ``tf2_standin`` (Buffer, TransformListener,
tf2's exception types and messages).

Transforms arrive on /tf_static and /tf like in a robot graph; hands, markers and forecasts come
out in the target frame at the image stamp. A missing frame, a loop in the TF tree and a stale
transform skip the target-frame output, are counted and reported in /diagnostics, and the node
keeps running.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import tf2_standin
from rclpy_standin import (  # noqa: F401 - fixtures used by name
    T0,
    Parameter,
    TransitionCallbackReturn,
    _diag,
    image_msg,
    info_msg,
    pub,
    rclpy_context,
    rendered,
    ros,
    sub,
    wait,
)
from rclpy_standin import pytestmark  # noqa: E402,F401 - the same skip where rclpy exists

DT = 33_333_333
ROT = Rotation.from_euler("xyz", [-90.0, 0.0, -90.0], degrees=True)  # optical frame -> base_link axes
TRANS = np.array([0.2, -0.1, 1.1])


@pytest.fixture
def tf2(ros, monkeypatch):
    tf2_standin.install(monkeypatch, ros.msgs["tf2_ros"])
    return tf2_standin


def _tf_msg(ros, parent, child, stamp_ns=0, rot=ROT, trans=TRANS):
    g = ros.msgs["geometry_msgs.msg"]
    x, y, z = (float(v) for v in trans)
    qx, qy, qz, qw = (float(v) for v in rot.as_quat())
    header = ros.msgs["std_msgs.msg"].Header(
        stamp=ros.msgs["builtin_interfaces.msg"].Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=parent)
    return g.TransformStamped(header=header, child_frame_id=child, transform=g.Transform(
        translation=g.Vector3(x=x, y=y, z=z), rotation=g.Quaternion(x=qx, y=qy, z=qz, w=qw)))


def _send(ros, node, topic, *transforms):
    sub(node, topic).callback(ros.msgs["tf2_msgs.msg"].TFMessage(transforms=list(transforms)))


def _hand_array(k, frame="cam"):
    from hand_perception.core.conversions import RclpyTypes, frame_result_to_hand_array
    from hand_perception.core.types import FrameResult, HandState

    j = np.zeros((21, 3))
    j[1:] = np.linspace([0, -0.02, 0], [0, -0.09, 0], 20)
    j += [0.1 * k / 30, 0.0, 0.5]
    hand = HandState(side="right", track_id=1, confidence=0.9, keypoints_2d=np.zeros((21, 2)),
                     keypoint_confidence=np.ones(21), joints=j, wrist_position=j[0].copy(),
                     wrist_orientation_xyzw=np.array([0.0, 0.0, 0.0, 1.0]), mano=None, bbox=np.zeros(4))
    return frame_result_to_hand_array(FrameResult(T0 + k * DT, frame, [hand]), RclpyTypes())


def _forecaster(ros, **params):
    overrides = [Parameter("autostart", value=False), Parameter("queue_size", value=50),
                 *(Parameter(k, value=v) for k, v in params.items())]
    node = ros.fc.HandForecasterNode(parameter_overrides=overrides)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.get_logger().text("error")
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    return node


def _joints(hand_msg):
    return np.array([[p.x, p.y, p.z] for p in hand_msg.joints])


def test_estimator_publishes_hands_and_markers_also_in_the_target_frame(ros, tf2, rendered):
    node = ros.est.HandEstimatorNode(parameter_overrides=[
        Parameter("autostart", value=False), Parameter("queue_size", value=10),
        Parameter("target_frame", value="base_link"), Parameter("tf_per_track", value=True),
        Parameter("target_frame_timeout_s", value=0.0)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.get_logger().text("error")
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        # the listener's subscriptions live on the node (served by its executor)
        _send(ros, node, "/tf_static", _tf_msg(ros, "base_link", "cam"))
        sub(node, "camera_info").callback(info_msg(ros, rendered[0].K, T0))
        for i, f in enumerate(rendered):
            sub(node, "image").callback(image_msg(ros, f.image, T0 + i * DT))
        hands, target = pub(node, "hands"), pub(node, "hands/target")
        assert wait(lambda: node.stats.processed == 3), node.get_logger().text("warning")
        assert len(hands.messages) == 3 and len(target.messages) == 3
        for cam, tgt in zip(hands.messages, target.messages):
            assert cam.header.frame_id == "cam" and tgt.header.frame_id == "base_link"
            stamp = lambda m: (m.header.stamp.sec, m.header.stamp.nanosec)  # noqa: E731
            assert stamp(tgt) == stamp(cam)  # the image stamp
            assert len(tgt.hands) == len(cam.hands) >= 1
            for hc, ht in zip(cam.hands, tgt.hands):
                assert ht.header.frame_id == "base_link"
                np.testing.assert_allclose(_joints(ht), ROT.apply(_joints(hc)) + TRANS, atol=1e-6)
                np.testing.assert_allclose(np.asarray(ht.keypoints_2d), np.asarray(hc.keypoints_2d))
        looked = node.target.buffer.lookups
        assert [(t, s, st) for t, s, st, _ in looked] == [("base_link", "cam", T0 + i * DT) for i in range(3)]
        markers = pub(node, "hands/markers/target").messages
        assert len(markers) == 3 and all(m.header.frame_id == "base_link" for m in markers[-1].markers)
        # wrist TF: per side and per track, children of the camera frame
        children = {t.child_frame_id: t.header.frame_id for m in pub(node, "/tf").messages for t in m.transforms}
        assert any(c.startswith("hand_track_") for c in children) and "cam" in children.values()
        keys = {kv.key: kv.value for kv in _diag(node).values}
        assert keys["target_frame"] == "base_link" and keys["target_frame_outputs"] == "3"
        assert keys["target_frame_skipped"] == "0"

        # the robot's TF goes away (a target frame that does not exist): camera outputs go on,
        # the target-frame output is skipped, counted and reported; the node keeps running
        node.target.transformer.target_frame = "map"
        sub(node, "image").callback(image_msg(ros, rendered[0].image, T0 + 5 * DT))
        assert wait(lambda: node.stats.processed == 4)
        assert len(hands.messages) == 4 and len(target.messages) == 3
        status = _diag(node)
        keys = {kv.key: kv.value for kv in status.values}
        assert status.level == b"\x01" and "not published in 'map'" in status.message
        assert keys["target_frame_skipped_missing"] == "1" and "does not exist" in keys["target_frame_last_error"]
        assert "target_frame" in node.get_logger().text("warning") or "map" in node.get_logger().text("warning")
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.target is None
        assert all(s.destroyed for s in node.subscriptions if s.topic in ("/tf", "/tf_static"))
    finally:
        node.close()


def test_forecaster_instead_mode_publishes_forecasts_in_the_target_frame(ros, tf2):
    from hand_perception.core.conversions import msg_to_forecast

    node = _forecaster(ros, target_frame="base_link", target_frame_mode="instead", target_frame_timeout_s=0.0)
    try:
        assert "hands/forecast/target" not in {p.topic for p in node.publishers}  # 'instead': no extra topics
        _send(ros, node, "/tf_static", _tf_msg(ros, "base_link", "cam"))
        for k in range(12):
            sub(node, "hands").callback(_hand_array(k))
        assert wait(lambda: node.stats.processed == 12), node.get_logger().records[-5:]
        forecasts = pub(node, "hands/forecast").messages
        assert len(forecasts) >= 3 and all(m.header.frame_id == "base_link" for m in forecasts)
        fc = msg_to_forecast(forecasts[-1])
        # the last observed wrist moves on in +x of the camera = ROT applied in base_link
        start = ROT.apply([0.1 * 11 / 30, 0.0, 0.5]) + TRANS
        first = fc.mean.hands[0].wrist_position[0]
        assert np.linalg.norm(first - start) < 0.02
        motion = fc.mean.hands[0].wrist_position[-1] - first
        np.testing.assert_allclose(motion / np.linalg.norm(motion), ROT.apply([1.0, 0.0, 0.0]), atol=1e-3)
    finally:
        node.close()


@pytest.mark.parametrize("case", ["missing", "loop", "stale"])
def test_bad_tf_skips_counts_and_keeps_running(ros, tf2, case):
    """No transform to the target frame, a TF tree with a loop, and a transform that stopped
    (its last data is older than the stamps): no target-frame forecast, one reason counted per
    skipped output, WARN in /diagnostics, a throttled warning, the camera-frame topic unaffected."""
    node = _forecaster(ros, target_frame="base_link", target_frame_timeout_s=0.01)
    try:
        if case == "missing":
            _send(ros, node, "/tf_static", _tf_msg(ros, "odom", "cam"))  # base_link is nowhere
        elif case == "loop":
            _send(ros, node, "/tf_static", _tf_msg(ros, "base_link", "odom"))
            _send(ros, node, "/tf", _tf_msg(ros, "rig", "cam", T0 - 10**9), _tf_msg(ros, "rig", "cam", T0 + 10**10),
                  _tf_msg(ros, "cam", "rig", T0 - 10**9), _tf_msg(ros, "cam", "rig", T0 + 10**10))
        else:  # the robot's /tf publisher stopped a second before the images
            _send(ros, node, "/tf", _tf_msg(ros, "base_link", "cam", T0 - 2 * 10**9),
                  _tf_msg(ros, "base_link", "cam", T0 - 10**9))
        for k in range(6):
            sub(node, "hands").callback(_hand_array(k))
        assert wait(lambda: node.stats.processed == 6), node.get_logger().records[-5:]
        camera = pub(node, "hands/forecast").messages
        assert len(camera) >= 2 and all(m.header.frame_id == "cam" for m in camera)
        assert pub(node, "hands/forecast/target").messages == []
        skipped = node.target.transformer.skipped
        kind = {"missing": "missing", "loop": "loop", "stale": "stale"}[case]
        assert skipped[kind] == len(camera) and sum(skipped.values()) == len(camera)
        status = _diag(node)
        keys = {kv.key: kv.value for kv in status.values}
        assert status.level == b"\x01" and "base_link" in status.message
        assert keys[f"target_frame_skipped_{kind}"] == str(len(camera))
        text = {"missing": "does not exist", "loop": "contains a loop", "stale": "into the future"}[case]
        assert text in keys["target_frame_last_error"]
        timeouts = [lk[3] for lk in node.target.buffer.lookups]
        if case == "stale":  # data may still come: every lookup waits
            assert set(timeouts) == {10_000_000}
        else:  # the tree is wrong: after the first, lookups do not wait (no latency per frame)
            assert timeouts[0] == 10_000_000 and set(timeouts[1:]) == {0}
        warnings = [m for lv, m in node.get_logger().records if lv == "warning" and "not published in" in m]
        assert 1 <= len(warnings) < len(camera) or len(camera) == 1  # throttled
        # the transform comes (back): target-frame forecasts flow, and the next report is OK again
        if case == "stale":
            _send(ros, node, "/tf", _tf_msg(ros, "base_link", "cam", T0 + 20 * DT))
            sub(node, "hands").callback(_hand_array(12))
            assert wait(lambda: node.stats.processed == 7)
            assert wait(lambda: len(pub(node, "hands/forecast/target").messages) == 1)
            assert _diag(node).level == b"\x00"
    finally:
        node.close()
