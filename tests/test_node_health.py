"""Input health and current-state diagnostics of the nodes (ROS-free core; issue 11 defect 5 and
the bad inputs: a bag without camera_info, a wrong message type, two frame_ids on one topic)."""

from __future__ import annotations

import numpy as np
import pytest

from hand_perception.core import node_health as nh
from hand_perception.core import node_logic as nl
from hand_perception.core.image_codec import camera_info_to_intrinsics

K = np.array([[500.0, 0.0, 64.0], [0.0, 500.0, 48.0], [0.0, 0.0, 1.0]])


class _Clock:
    """Monotonic time under test control (node_health stamps counter increases with it)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(nh.time, "monotonic", c)
    monkeypatch.setattr(nl.time, "monotonic", c)
    return c


def _prep(stats, pairer, stamp, frame_id="cam"):
    """prepare_frame on a blank 128x96 image."""
    return nl.prepare_frame(lambda: np.zeros((96, 128, 3), np.uint8), stamp, frame_id, pairer, nl.StampMonitor(),
                            stats)


def test_recent_counter_keeps_the_attribute_api_and_forgets_old_increases(clock):
    s = nl.RunningStats(recent_s=5.0)
    s.bad += 1
    s.bad += 2
    clock.t += 3.0
    s.dropped += 1
    d = s.as_dict()
    assert (d["bad_frames"], d["recent_bad_frames"], d["recent_frames_dropped"]) == (3, 3, 1)
    clock.t += 4.0  # the bad frames are 7 s old, the drop 4 s
    d = s.as_dict()
    assert (d["bad_frames"], d["recent_bad_frames"], d["recent_frames_dropped"]) == (3, 0, 1)
    s.bad = 0  # a reset is not an increase
    assert s.as_dict()["recent_bad_frames"] == 0


def test_default_intrinsics_warning_recovers_once_camera_info_arrives(clock):
    """One frame before its CameraInfo used to leave the status WARN for the whole run."""
    stats, pairer = nl.RunningStats(), nl.CameraInfoPairer()
    for i in range(3):
        stats.on_input()
        f = _prep(stats, pairer, 10 + i)
        assert f.intrinsics is None
        stats.on_output(0.02)
    status = nl.diagnostic_status("n", "/n", stats.as_dict())
    assert status.level == nl.DIAG_WARN
    assert status.message == "running with default intrinsics (no camera_info received)"  # a bag without camera_info
    pairer.add(0, "cam", camera_info_to_intrinsics(K, [], 128, 96, "plumb_bob"))
    stats.on_input()
    assert _prep(stats, pairer, 20).intrinsics is not None
    stats.on_output(0.02)
    status = nl.diagnostic_status("n", "/n", stats.as_dict())
    assert status.level == nl.DIAG_OK, status.message
    values = dict(status.values)
    assert values["frames_default_intrinsics"] == "3" and values["intrinsics_source"] == "camera_info"


def test_require_camera_info_reports_dropped_frames_not_defaults(clock):
    stats, pairer = nl.RunningStats(), nl.CameraInfoPairer()
    f = nl.prepare_frame(lambda: np.zeros((96, 128, 3), np.uint8), 1, "cam", pairer, nl.StampMonitor(), stats,
                         require_camera_info=True)
    assert f.skip_reason is not None
    status = nl.diagnostic_status("n", "/n", {**stats.as_dict(), "frames_received": 1})
    assert status.level == nl.DIAG_WARN and "frames dropped until a valid camera_info arrives" in status.message


def test_bad_frames_and_drops_warn_only_while_they_happen(clock):
    stats = nl.RunningStats(recent_s=5.0)
    for _ in range(20):
        stats.on_input()
        stats.on_output(0.01)
    stats.bad += 1
    stats.last_error = "bad image: step 7 < width*channels"
    warn = nl.diagnostic_status("n", "/n", stats.as_dict())
    assert warn.level == nl.DIAG_WARN and "1 bad frames in the last 5 s (last error: bad image" in warn.message
    clock.t += 10.0
    for _ in range(20):
        stats.on_input()
        stats.on_output(0.01)
    ok = nl.diagnostic_status("n", "/n", stats.as_dict())
    assert ok.level == nl.DIAG_OK, ok.message
    assert dict(ok.values)["bad_frames"] == "1"  # the history stays visible as a value
    stats.dropped += 5  # 5 of the last 20 received
    assert "5 of 20 frames dropped in the last 5 s" in nl.diagnostic_status("n", "/n", stats.as_dict()).message


def test_frame_id_monitor_warns_once_per_pair():
    m = nh.FrameIdMonitor()
    seq = ["a", "a", "b", "a", "b", "b", "c", "a", "b"]
    notes = [m.check(f) for f in seq]
    warned = [(seq[i - 1] if i else None, seq[i]) for i, n in enumerate(notes) if n]
    assert warned == [("a", "b"), ("b", "c"), ("c", "a")]
    assert m.switches == 6 and m.frame_ids == ["a", "b", "c"]
    m.reset()
    assert m.check("z") is None and m.switches == 0


def test_prepare_frame_counts_frame_id_switches_and_keeps_the_frames(clock):
    stats, pairer = nl.RunningStats(), nl.CameraInfoPairer()
    pairer.add(0, "left", camera_info_to_intrinsics(K, [], 128, 96, "plumb_bob"))
    monitor = nh.FrameIdMonitor()
    out = [nl.prepare_frame(lambda: np.zeros((96, 128, 3), np.uint8), 100 + i, fid, pairer, nl.StampMonitor(),
                            stats, frame_ids=monitor) for i, fid in enumerate(["left", "right", "left", "right"])]
    assert all(f.skip_reason is None and f.image is not None for f in out)
    assert [len(f.notices) for f in out] == [0, 1, 0, 0]
    assert stats.frame_id_switches == 3
    status = nl.diagnostic_status("n", "/n", stats.as_dict())
    assert "image frame_id switched 3 times" in status.message


def test_topic_type_problems_and_monitor():
    expected = {"/cam/image": "sensor_msgs/msg/Image", "/cam/camera_info": "sensor_msgs/msg/CameraInfo"}
    none = {"/cam/image": [], "/cam/camera_info": []}
    assert nh.topic_type_problems(expected, none) == {}  # nobody publishes: just waiting
    wrong = {"/cam/image": [("/driver", "sensor_msgs/msg/CompressedImage")]}
    problems = nh.topic_type_problems(expected, wrong)
    assert list(problems) == ["/cam/image"]
    assert "/driver publishes sensor_msgs/msg/CompressedImage, this node expects sensor_msgs/msg/Image" in \
        problems["/cam/image"] and "no message can arrive" in problems["/cam/image"]
    mixed = {"/cam/image": [("/driver", "sensor_msgs/msg/Image"), ("/other", "sensor_msgs/msg/CompressedImage")]}
    assert "takes sensor_msgs/msg/Image only" in nh.topic_type_problems(expected, mixed)["/cam/image"]

    monitor = nh.TopicTypeMonitor()
    assert len(monitor.update(expected, wrong)) == 1
    assert monitor.update(expected, wrong) == []  # reported once
    assert list(monitor.problems) == ["/cam/image"]
    lines = monitor.update(expected, {"/cam/image": [("/driver", "sensor_msgs/msg/Image")]})
    assert lines == ["topic /cam/image: no publisher of another type any more"] and not monitor.problems
    status = nl.diagnostic_status("n", "/n", nl.RunningStats().as_dict(),
                                  input_problems=list(nh.topic_type_problems(expected, wrong).values()))
    assert status.level == nl.DIAG_WARN and "CompressedImage" in status.message
