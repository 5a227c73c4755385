"""RGB-D in the estimator node, against the rclpy stand-in of ``rclpy_standin`` plus the
message_filters stand-in of ``message_filters_standin`` (Jazzy Python API: ``Subscriber(node,
msg_type, topic, qos_profile=...)``, ``ApproximateTimeSynchronizer(fs, queue_size, slop)``).

Colour + depth pairs are placed from depth; a depth topic that stops or is stamped far from the
colour images, and undecodable depth, leave the node running monocular and say so in /diagnostics.
"""

from __future__ import annotations

import time

import numpy as np

from message_filters_standin import depth_msg, message_filters_standin, rgbd  # noqa: F401 - fixtures
from rclpy_standin import (  # noqa: F401 - fixtures used by name
    T0,
    Parameter,
    _active_estimator,
    _diag,
    image_msg,
    info_msg,
    pub,
    rclpy_context,
    ros,
    wait,
)

# the same skip as there: with rclpy installed the nodes are tested for real in tests/ros/
from rclpy_standin import pytestmark  # noqa: E402,F401


def _subs(node, topic):
    return [s for s in node.subscriptions if s.topic == topic and not s.destroyed]


def test_depth_parameters_and_pairing(ros, rgbd, message_filters_standin):
    node = _active_estimator(ros, depth_topic="aligned_depth_to_color/image_raw", depth_max_age_s=0.1)
    try:
        assert node.get_parameter("depth_scale").value == 0.001
        (image,) = _subs(node, "image")
        (depth,) = _subs(node, "aligned_depth_to_color/image_raw")
        assert depth.qos.reliability.name == "BEST_EFFORT"
        _subs(node, "camera_info")[0].callback(info_msg(ros, rgbd[0].K, T0))
        hands = pub(node, "hands")
        # messages made beforehand: the callbacks below come as close together as a camera's
        d = rgbd[1].noisy_depth()
        d[d == 0] = np.inf  # 32FC1 in metres, with inf holes
        msgs = [depth_msg(ros, rgbd[0].noisy_depth(), T0 + 2_000_000), image_msg(ros, rgbd[0].image, T0),
                image_msg(ros, rgbd[1].image, T0 + 33_333_333), depth_msg(ros, d, T0 + 33_333_333, encoding="32FC1")]
        # frame 0: depth first, then colour (paired on the colour's arrival); frame 1: colour first
        depth.callback(msgs[0])
        image.callback(msgs[1])
        image.callback(msgs[2])
        depth.callback(msgs[3])
        assert wait(lambda: len(hands.messages) == 2), node.get_logger().text("warning")
        for m, f in zip(hands.messages, rgbd):
            assert m.hands and all(h.placement_source in (1, 2) for h in m.hands)  # DEPTH or FUSED
            for h in m.hands:
                truth = min(f.hands, key=lambda g: abs(g.joints_3d[0, 2] - h.depth))
                assert abs(h.depth - truth.joints_3d[0, 2]) < 0.05 and 0 < h.depth_std < 0.03
        assert wait(lambda: node.stats.processed == 2)
        status = _diag(node)
        keys = {kv.key: kv.value for kv in status.values}
        assert keys["depth_paired"] == "2" and keys["depth_missing"] == "0" and "depth" not in status.message
    finally:
        node.close()


def test_depth_that_stops_far_stamps_and_bad_depth_fall_back_to_monocular(ros, rgbd, message_filters_standin):
    node = _active_estimator(ros, depth_topic="depth", depth_max_age_s=0.01)
    try:
        (image,) = _subs(node, "image")
        (depth,) = _subs(node, "depth")
        _subs(node, "camera_info")[0].callback(info_msg(ros, rgbd[0].K, T0))
        hands = pub(node, "hands")
        timeout = node.estimator.depth.gate.live_s
        stamps = [T0 + i * 33_333_333 for i in range(6)]

        def frame(i, depth_image=None, depth_stamp=None, **depth_kw):
            if depth_image is not None:
                depth.callback(depth_msg(ros, depth_image, depth_stamp or stamps[i], **depth_kw))
            image.callback(image_msg(ros, rgbd[i % len(rgbd)].image, stamps[i]))
            assert wait(lambda: len(hands.messages) == i + 1 and node.stats.processed == i + 1), \
                node.get_logger().text("warning")
            return [h.placement_source for h in hands.messages[i].hands], _diag(node)

        # no depth yet: monocular at once, and said so
        sources, status = frame(0)
        assert set(sources) == {0} and status.level == b"\x01"
        assert "depth: running monocular (no depth image received yet)" in status.message
        # depth arrives and pairs
        sources, status = frame(1, rgbd[1].noisy_depth())
        assert sources and set(sources) <= {1, 2} and "depth" not in status.message
        # a depth image of another aspect ratio pairs but is refused: monocular, counted as bad
        sources, status = frame(2, np.full((240, 400), 0.6))
        keys = {kv.key: kv.value for kv in status.values}
        assert set(sources) == {0} and keys["depth_bad"] == "1" and "aspect ratio" in status.message
        # an unknown depth encoding: the same
        sources, status = frame(3, rgbd[3].depth, claimed_encoding="rgb8")
        assert set(sources) == {0} and "unsupported depth encoding 'rgb8'" in status.message
        # depth stamped 0.5 s away from the colour never pairs: after the timeout, monocular
        time.sleep(timeout + 0.05)
        sources, status = frame(4, rgbd[0].depth, depth_stamp=stamps[4] + 500_000_000)
        assert set(sources) == {0} and "too far from the colour stamps" in status.message
        # the depth topic stops
        time.sleep(timeout + 0.05)
        sources, status = frame(5)
        assert set(sources) == {0} and "depth: running monocular (depth topic silent for" in status.message
        keys = {kv.key: kv.value for kv in status.values}
        assert keys["depth_paired"] == "1" and keys["depth_missing"] == "3" and keys["depth_bad"] == "2"
        assert node.stats.bad == 0 and node.lifecycle_state == "active"  # depth problems never cost a frame
    finally:
        node.close()
