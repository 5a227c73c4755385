"""A message_filters stand-in for the stubbed node tests, with the Jazzy Python API
(``Subscriber(node, msg_type, topic, qos_profile=...)``, ``ApproximateTimeSynchronizer(fs,
queue_size, slop)``, ``registerCallback``), and the RGB-D inputs those tests feed it: the
``rgbd`` frames of the synthetic renderer and ``depth_msg`` (a depth Image of the rclpy stand-in).

Test modules import the fixtures by name: ``message_filters_standin``, ``rgbd``.
"""

from __future__ import annotations

import sys
import threading
import types

import numpy as np
import pytest

from rclpy_standin import _header


class _SimpleFilter:
    def __init__(self):
        self.callbacks = []

    def registerCallback(self, cb, *args):  # noqa: N802 - message_filters API
        self.callbacks.append((cb, args))
        return len(self.callbacks) - 1

    def signalMessage(self, *msg):  # noqa: N802
        for cb, args in self.callbacks:
            cb(*(msg + args))


class _Subscriber(_SimpleFilter):
    """message_filters.Subscriber (Jazzy): ``Subscriber(node, msg_type, topic, **kwargs)`` passes
    everything after the node to ``node.create_subscription`` with ``qos_profile`` (default 10)
    as a keyword; ``sub`` is the rclpy subscription (no destroy of its own: the node destroys it)."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.node, self.topic = args[0], args[2]
        kwargs.setdefault("qos_profile", 10)
        self.sub = self.node.create_subscription(*args[1:], self.callback, **kwargs)

    def callback(self, msg):
        self.signalMessage(msg)


class _ApproximateTimeSynchronizer(_SimpleFilter):
    """Pairs the newest messages of two inputs whose stamps differ by less than ``slop`` seconds,
    counted in whole nanoseconds as Jazzy's ``Duration(seconds=slop)`` does (strictly less: a pair
    exactly ``slop`` apart, or any pair with ``slop`` 0, does not pair)."""

    def __init__(self, fs, queue_size, slop, allow_headerless=False):
        super().__init__()
        self.queues = [{} for _ in fs]
        self.queue_size, self.slop_ns = queue_size, int(slop * 1e9)
        self.lock = threading.Lock()
        for i, f in enumerate(fs):
            f.registerCallback(self.add, i)

    def add(self, msg, i):
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        # like Jazzy's: the lock is released by hand, not in a finally (an exception from a
        # callback leaves it held, and the next message would wait forever: here it fails)
        assert self.lock.acquire(timeout=2.0), "ApproximateTimeSynchronizer lock still held: a callback raised"
        q = self.queues[i]
        q[stamp] = msg
        while len(q) > self.queue_size:
            del q[min(q)]
        other = self.queues[1 - i]
        near = [s for s in other if abs(s - stamp) < self.slop_ns]
        if not near:
            self.lock.release()
            return
        s = min(near, key=lambda s: abs(s - stamp))
        msgs = [None, None]
        msgs[i], msgs[1 - i] = q.pop(stamp), other.pop(s)
        self.signalMessage(*msgs)
        self.lock.release()


@pytest.fixture
def message_filters_standin(monkeypatch):
    mod = types.ModuleType("message_filters")
    mod.Subscriber = _Subscriber
    mod.ApproximateTimeSynchronizer = _ApproximateTimeSynchronizer
    monkeypatch.setitem(sys.modules, "message_filters", mod)
    return mod


@pytest.fixture(scope="module")
def rgbd():
    render = pytest.importorskip("hand_models.render")
    return list(render.render_sequence(4, width=320, height=240, fps=30.0, seed=0))


def depth_msg(ros, depth_m, ns, encoding="16UC1", claimed_encoding=None):
    """A depth Image (``claimed_encoding`` overrides the header's encoding: a mislabelled image)."""
    from hand_perception.core.depth import encode_depth

    f = encode_depth(depth_m, encoding)
    if claimed_encoding is not None:
        f["encoding"] = claimed_encoding
    return ros.msgs["sensor_msgs.msg"].Image(
        header=_header(ros, ns), height=int(f["height"]), width=int(f["width"]), encoding=f["encoding"],
        is_bigendian=int(f["is_bigendian"]), step=int(f["step"]), data=bytes(np.asarray(f["data"]).tobytes()))
