"""RGB-D input of the estimator node with real rclpy and message_filters (needs ROS 2 Jazzy and the
built workspace; skipped elsewhere). The same behaviour runs against the stand-in in
``tests/test_nodes_depth_stubbed.py`` on machines without ROS.

A rendered colour frame and its registered depth (16UC1, same stamp) are placed from depth; when
the depth topic goes quiet the node keeps publishing, monocular, and /diagnostics says why.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("message_filters")
pytest.importorskip("hand_perception_msgs.msg")

from hand_perception_msgs.msg import Hand  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from hand_perception.core.conversions import RclpyTypes, stamp_to_time  # noqa: E402
from hand_perception.core.depth import encode_depth  # noqa: E402
from hand_perception.core.image_codec import encode_image  # noqa: E402
from hand_perception.nodes.hand_estimator import HandEstimatorNode  # noqa: E402
from test_nodes_rclpy import Harness  # noqa: E402

T0 = 1_700_000_000 * 10**9
TYPES = RclpyTypes()


@pytest.fixture(scope="module", autouse=True)
def ros_context():
    if not rclpy.ok():
        rclpy.init()
    yield
    rclpy.try_shutdown()


def _image_msg(f: dict, stamp_ns: int) -> Image:
    """An Image from the fields of ``encode_image``/``encode_depth``, in frame ``cam``."""
    msg = Image()
    msg.header.stamp = stamp_to_time(stamp_ns, TYPES)
    msg.header.frame_id = "cam"
    msg.height, msg.width, msg.encoding = int(f["height"]), int(f["width"]), f["encoding"]
    msg.is_bigendian, msg.step, msg.data = int(f["is_bigendian"]), int(f["step"]), f["data"].tobytes()
    return msg


def _image(rgb, stamp_ns: int) -> Image:
    return _image_msg(encode_image(rgb, "rgb8"), stamp_ns)


def _depth(depth_m, stamp_ns: int) -> Image:
    return _image_msg(encode_depth(depth_m, "16UC1"), stamp_ns)


def _info(K, stamp_ns: int, w: int, h: int) -> CameraInfo:
    msg = CameraInfo()
    msg.header.stamp = stamp_to_time(stamp_ns, TYPES)
    msg.header.frame_id = "cam"
    msg.width, msg.height = w, h
    msg.k = [float(v) for v in np.asarray(K).reshape(-1)]
    msg.d = [0.0] * 5
    msg.distortion_model = "plumb_bob"
    return msg


def test_estimator_places_hands_from_depth_and_falls_back():
    render = pytest.importorskip("hand_models.render")
    frames = list(render.render_sequence(3, width=320, height=240, fps=30.0, seed=0))
    node = HandEstimatorNode(parameter_overrides=[
        Parameter("autostart", value=False), Parameter("diagnostics_period_s", value=0.2),
        Parameter("depth_topic", value="depth"), Parameter("depth_max_age_s", value=0.01)])
    h = Harness(node)
    pub_depth = h.probe.create_publisher(Image, "depth", 10)
    try:
        node.trigger_configure()
        node.trigger_activate()
        assert h.spin_until(lambda: h.probe.count_subscribers("image") >= 1
                            and h.probe.count_subscribers("depth") >= 1, 5)
        h.pub_info.publish(_info(frames[0].K, T0, 320, 240))
        h.spin_until(lambda: node.estimator.pairer.received >= 1, 5)
        for k in range(2):  # colour and depth with the same stamp
            stamp = T0 + k * 33_333_333
            pub_depth.publish(_depth(frames[k].noisy_depth(), stamp))
            # the first colour frame waits only while pairs come: let its depth arrive first
            assert h.spin_until(lambda k=k: node.estimator.depth.status.received >= k + 1, 5)
            h.pub_image.publish(_image(frames[k].image, stamp))
            assert h.spin_until(lambda k=k: len(h.got.get("hands", [])) >= k + 1, 20)
        placed = [hand.placement_source for m in h.got["hands"] for hand in m.hands]
        assert placed and all(p in (Hand.DEPTH, Hand.FUSED) for p in placed)
        # the depth topic stops: after the gate's timeout the colour frames go on monocular
        time.sleep(node.estimator.depth.gate.live_s + 0.1)
        h.pub_image.publish(_image(frames[2].image, T0 + 2 * 33_333_333))
        assert h.spin_until(lambda: len(h.got.get("hands", [])) >= 3, 20)
        assert all(hand.placement_source == Hand.MONOCULAR for hand in h.got["hands"][-1].hands)
        assert h.spin_until(lambda: any("depth: running monocular" in s.message
                                        for m in h.got.get("/diagnostics", []) for s in m.status), 5)
    finally:
        h.close()
