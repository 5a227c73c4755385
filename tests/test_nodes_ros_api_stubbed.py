"""Node behaviour that depends on details of the real Jazzy APIs (rclpy 7.1, message_filters,
tf2_ros), checked against the stand-ins, which mirror those details (see each stand-in's
docstring for the source it follows):

* rclpy runs ``Context.on_shutdown`` callbacks holding the context's lock, which ``Context.ok()``
  takes too (rclpy/context.py): a callback that joins the worker stalls ``rclpy.shutdown()``
  until the join times out while the worker asks ``context.ok()``;
* message_filters' ApproximateTimeSynchronizer pairs stamps strictly closer than ``slop`` whole
  nanoseconds (message_filters/__init__.py): ``depth_max_age_s`` must still be inclusive, as in
  replay's ``pair_depth``, and 0 must pair equal stamps;
* ``tf2_ros.Buffer(node=...)`` creates a ``tf2_frames`` service on the node and a clock jump
  callback (tf2_ros/buffer.py): cleanup must remove both, or a configure after a cleanup adds a
  second service of that name.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import tf2_standin
from message_filters_standin import depth_msg, message_filters_standin, rgbd  # noqa: F401 - fixtures
from rclpy_standin import (  # noqa: F401 - fixtures used by name
    T0,
    Parameter,
    TransitionCallbackReturn,
    _active_estimator,
    _Rclpy,
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
from rclpy_standin import pytestmark  # noqa: E402,F401 - the same skip where rclpy exists


def test_rclpy_shutdown_mid_frame_returns_at_once_and_stays_quiet(ros, rendered, monkeypatch):
    """rclpy.shutdown() while the worker is inside a frame: the shutdown must not wait for the
    worker (it holds the context lock the worker's context_ok() needs: a joining on_shutdown
    callback stalled it for the whole join timeout, 5 s); the frame's failed publish is quiet."""
    seen = {}

    def interrupt(node, gate):
        threading.Timer(0.2, gate.set).start()  # the frame finishes during the shutdown
        start = time.monotonic()
        node.context.shutdown()  # rclpy.shutdown(): callbacks under the context's lock
        seen["shutdown_s"] = time.monotonic() - start
        assert wait(lambda: node.worker is None or not node.worker.running, 10)

    node, thread_errors = main_interrupted_mid_frame(ros, rendered, monkeypatch, interrupt)
    assert seen["shutdown_s"] < 1.0, f"rclpy.shutdown() took {seen['shutdown_s']:.1f} s"
    logged = "\n".join(m for level, m in node.get_logger().records if level in ("warning", "error"))
    assert "context" not in logged and "processing failed" not in logged, logged
    assert not thread_errors and node.stats.bad == 0 and node.worker is None


def test_context_lock_is_held_during_on_shutdown_callbacks():
    """The stand-in's Context behaves like rclpy's: ok() from another thread waits for the
    callbacks; ok() from a callback is refused (rclpy would deadlock)."""
    from rclpy_standin import Context

    ctx = Context()
    ctx.init()
    answers = []
    started = threading.Event()

    def slow_callback():
        started.set()
        time.sleep(0.3)

    ctx.on_shutdown(slow_callback)
    t = threading.Thread(target=lambda: (started.wait(5), answers.append((ctx.ok(), time.monotonic()))))
    t.start()
    ctx.shutdown()
    done = time.monotonic()
    t.join(5)
    assert answers and answers[0][0] is False and answers[0][1] >= done - 0.05

    ctx2 = Context()
    ctx2.init()
    ctx2.on_shutdown(lambda: ctx2.ok())
    with pytest.raises(AssertionError, match="deadlock"):
        ctx2.shutdown()


def test_depth_max_age_is_inclusive_like_replay(ros, rgbd, message_filters_standin):
    """A depth exactly depth_max_age_s from its colour frame pairs (replay's pair_depth: <=), one
    nanosecond more does not; depth_max_age_s 0 pairs equal stamps (the synchronizer's strict
    slop test paired nothing)."""
    from hand_perception.core.depth import pair_depth
    from hand_perception.nodes.depth_input import synchronizer_slop_s

    for max_age in (0.0, 0.01, 0.02, 0.3, 1.0):
        slop_ns = int(synchronizer_slop_s(max_age) * 1e9)  # what Duration(seconds=slop) keeps
        limit = round(max_age * 1e9)
        assert pair_depth(T0, [T0 + limit], max_age) == 0 and limit < slop_ns  # pairs in both
        assert pair_depth(T0, [T0 + limit + 1], max_age) is None and not limit + 1 < slop_ns

    for max_age, offset in ((0.0, 0), (0.01, 10_000_000)):
        node = _active_estimator(ros, depth_topic="depth", depth_max_age_s=max_age)
        try:
            (image,) = [s for s in node.subscriptions if s.topic == "image"]
            (depth,) = [s for s in node.subscriptions if s.topic == "depth"]
            sub(node, "camera_info").callback(info_msg(ros, rgbd[0].K, T0))
            depth.callback(depth_msg(ros, rgbd[0].noisy_depth(), T0 + offset))
            image.callback(image_msg(ros, rgbd[0].image, T0))
            hands = pub(node, "hands")
            assert wait(lambda: len(hands.messages) == 1), node.get_logger().text("warning")
            assert node.estimator.depth.status.paired == 1, (max_age, node.estimator.depth.status)
            assert hands.messages[0].hands and all(h.placement_source in (1, 2) for h in hands.messages[0].hands)
        finally:
            node.close()


def test_colour_frames_waiting_for_depth_at_deactivate_are_not_published_later(ros, rgbd, message_filters_standin):
    """A colour frame that waits for its depth when the node is deactivated is dropped with the
    queue; it used to come out after the next activate (an old stamp among new frames)."""
    node = _active_estimator(ros, depth_topic="depth", depth_max_age_s=0.02)
    try:
        sub(node, "camera_info").callback(info_msg(ros, rgbd[0].K, T0))
        hands = pub(node, "hands")
        s0, s1, s2 = T0, T0 + 33_333_333, T0 + 66_666_666
        sub(node, "depth").callback(depth_msg(ros, rgbd[0].noisy_depth(), s0))
        sub(node, "image").callback(image_msg(ros, rgbd[0].image, s0))  # pairs: depth is live
        assert wait(lambda: len(hands.messages) == 1 and node.stats.processed == 1)
        sub(node, "image").callback(image_msg(ros, rgbd[1].image, s1))  # waits for its depth
        assert node.estimator.depth._pending and len(hands.messages) == 1
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert not node.estimator.depth._pending
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        time.sleep(node.estimator.depth.gate.wait_s + 0.05)
        sub(node, "image").callback(image_msg(ros, rgbd[2].image, s2))
        assert wait(lambda: node.stats.processed == 2), node.get_logger().text("warning")
        time.sleep(0.2)
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in hands.messages]
        assert stamps == [s0, s2]
        assert node.estimator.depth.status.paired == 1  # the counters survive the pause
    finally:
        node.close()


def test_target_frame_cleanup_removes_the_buffer_service_and_jump_callback(ros, monkeypatch):
    tf2_standin.install(monkeypatch, ros.msgs["tf2_ros"])
    node = ros.fc.HandForecasterNode(parameter_overrides=[
        Parameter("autostart", value=False), Parameter("target_frame", value="base_link")])
    try:
        for _ in range(2):  # configure -> cleanup -> configure: one tf2_frames service at a time
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.get_logger().text("error")
            assert [s.srv_name for s in node.services] == ["tf2_frames"]
            buffer = node.target.buffer
            assert buffer.jump_handle.registered
            assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
            assert node.services == [] and not buffer.jump_handle.registered
    finally:
        node.close()


def test_a_failing_pair_callback_does_not_block_later_pairs(ros, rgbd, message_filters_standin, monkeypatch):
    """message_filters' synchronizer releases its lock by hand after the pair callback: an
    exception escaping that callback kept it held (every later pair waited forever) and reached
    the executor. It is logged instead and the next pairs go through."""
    node = _active_estimator(ros, depth_topic="depth", depth_max_age_s=0.02)
    try:
        sub(node, "camera_info").callback(info_msg(ros, rgbd[0].K, T0))
        depth_in = node.estimator.depth
        real_on_pair = depth_in.gate.on_pair
        calls = []

        def broken_once(*a):
            calls.append(a)
            if len(calls) == 1:
                raise RuntimeError("gate exploded")
            return real_on_pair(*a)

        monkeypatch.setattr(depth_in.gate, "on_pair", broken_once)
        for k in range(2):
            stamp = T0 + k * 33_333_333
            sub(node, "depth").callback(depth_msg(ros, rgbd[k].noisy_depth(), stamp))
            sub(node, "image").callback(image_msg(ros, rgbd[k].image, stamp))
        assert len(calls) == 2  # the second pair reached the gate: the synchronizer's lock was free
        assert wait(lambda: depth_in.status.paired == 1), node.get_logger().text("warning")
        assert "gate exploded" in node.get_logger().text("warning")
    finally:
        node.close()


def test_a_failing_diagnostics_timer_is_logged_not_raised(ros, monkeypatch):
    """rclpy's SingleThreadedExecutor re-raises timer callback exceptions out of spin() (the
    process ends): the diagnostics timer logs its failure and the next tick works again."""
    from rclpy_standin import _diag

    node = _active_estimator(ros)
    try:
        real = node.stats.as_dict
        monkeypatch.setattr(node.stats, "as_dict", lambda: (_ for _ in ()).throw(KeyError("boom")))
        timer = [t for t in node.timers if t.period == node.params["diagnostics_period_s"] and not t.destroyed][-1]
        timer.fire()  # no exception
        assert "diagnostics failed: KeyError" in node.get_logger().text("warning")
        monkeypatch.setattr(node.stats, "as_dict", real)
        assert _diag(node).name.endswith("hand_estimator: hand perception")
    finally:
        node.close()
