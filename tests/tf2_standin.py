"""A tf2_ros stand-in for the stubbed node tests: ``Buffer`` and ``TransformListener`` with the Jazzy
Python API, and exceptions shaped like tf2_py's (same class names and hierarchy, tf2's messages).

* ``Buffer(cache_time=None, node=None)``: ``set_transform(msg, authority)``,
  ``set_transform_static(msg, authority)``, ``can_transform(target, source, time, timeout)``,
  ``lookup_transform(target, source, time, timeout=Duration())`` (waits up to ``timeout`` for the
  data, as the real one polls, then looks up). Dynamic transforms are interpolated between the
  two stored stamps around the requested time (linear translation, normalised linear quaternion);
  a time after the newest data raises ExtrapolationException "...into the future...", before the
  oldest "...into the past..."; time 0 takes the latest. Static transforms hold at any time.
* an unknown frame raises LookupException (tf2: ``"x" passed to lookupTransform argument
  target_frame does not exist``); frames in two trees ConnectivityException; a loop in the
  parent chain LookupException "The tf tree is invalid because it contains a loop." (tf2 reports
  it as a LOOKUP_ERROR).
* ``TransformListener(buffer, node, *, spin_thread=False, qos=None, static_qos=None)`` subscribes
  to /tf and /tf_static on the node and feeds the buffer; ``unregister()`` destroys them.
* ``Buffer(node=node)`` creates the node's ``tf2_frames`` service (``buffer.srv``) and a clock
  jump callback (``buffer.jump_handle``), as tf2_ros does; ``rclpy.time.Time`` refuses negatives.
"""

from __future__ import annotations

import sys
import threading
import time as _time
import types

import numpy as np


class TransformException(Exception):
    pass


class LookupException(TransformException):
    pass


class ConnectivityException(TransformException):
    pass


class ExtrapolationException(TransformException):
    pass


class InvalidArgumentException(TransformException):
    pass


class TimeoutException(TransformException):
    pass


class Time:
    """rclpy.time.Time (nanoseconds, clock_type); like rclpy it refuses negative parts."""

    def __init__(self, *, seconds=0, nanoseconds=0, clock_type=None):
        if seconds < 0:
            raise ValueError("Seconds value must not be negative")
        if nanoseconds < 0:
            raise ValueError("Nanoseconds value must not be negative")
        self.nanoseconds = int(seconds * 10**9) + int(nanoseconds)
        self.clock_type = clock_type


class Duration:
    """rclpy.duration.Duration (nanoseconds)."""

    def __init__(self, *, seconds=0, nanoseconds=0):
        self.nanoseconds = int(seconds * 10**9) + int(nanoseconds)


def _quat_mul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz])


def _rotate(q, v):
    qv = np.array([v[0], v[1], v[2], 0.0])
    conj = np.array([-q[0], -q[1], -q[2], q[3]])
    return _quat_mul(_quat_mul(q, qv), conj)[:3]


class _Pose:
    """child -> parent: p_parent = q p_child + t."""

    def __init__(self, t, q):
        self.t, self.q = np.asarray(t, dtype=np.float64), np.asarray(q, dtype=np.float64) / np.linalg.norm(q)

    def compose(self, other):  # self after other
        return _Pose(_rotate(self.q, other.t) + self.t, _quat_mul(self.q, other.q))

    def inverse(self):
        conj = np.array([-self.q[0], -self.q[1], -self.q[2], self.q[3]])
        return _Pose(-_rotate(conj, self.t), conj)


class _JumpHandle:
    """rclpy.clock.JumpHandle: ``unregister()`` removes the clock's jump callback."""

    def __init__(self):
        self.registered = True

    def unregister(self):
        self.registered = False


class Buffer:
    """tf2_ros.Buffer: with ``node`` it creates the node's 'tf2_frames' service (``srv``); it always
    registers a time-jump callback (``jump_handle``) on its clock."""

    def __init__(self, cache_time=None, node=None):
        if node is not None:
            self.srv = node.create_service(object, "tf2_frames", lambda req, res: res)
        self.jump_handle = _JumpHandle()
        self._lock = threading.Lock()
        self._parents: dict[str, str] = {}
        self._static: dict[str, _Pose] = {}
        self._dynamic: dict[str, list[tuple[int, _Pose]]] = {}
        self.lookups: list[tuple[str, str, int, int]] = []

    # -- data ---------------------------------------------------------------------------------
    @staticmethod
    def _pose(msg):
        tr, r = msg.transform.translation, msg.transform.rotation
        return _Pose([tr.x, tr.y, tr.z], [r.x, r.y, r.z, r.w])

    def set_transform(self, msg, authority):
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        with self._lock:
            self._parents[msg.child_frame_id] = msg.header.frame_id
            self._static.pop(msg.child_frame_id, None)
            data = self._dynamic.setdefault(msg.child_frame_id, [])
            data.append((stamp, self._pose(msg)))
            data.sort(key=lambda e: e[0])

    def set_transform_static(self, msg, authority):
        with self._lock:
            self._parents[msg.child_frame_id] = msg.header.frame_id
            self._dynamic.pop(msg.child_frame_id, None)
            self._static[msg.child_frame_id] = self._pose(msg)

    # -- lookups ------------------------------------------------------------------------------
    def _frames(self):
        return set(self._parents) | set(self._parents.values())

    def _edge(self, child, stamp, source, target):
        if child in self._static:
            return self._static[child]
        data = self._dynamic[child]
        if stamp == 0:
            return data[-1][1]
        if stamp > data[-1][0]:
            raise ExtrapolationException(
                f"Lookup would require extrapolation into the future.  Requested time {stamp / 1e9:.6f} but the "
                f"latest data is at time {data[-1][0] / 1e9:.6f}, when looking up transform from frame [{source}] "
                f"to frame [{target}]")
        if stamp < data[0][0]:
            raise ExtrapolationException(
                f"Lookup would require extrapolation into the past.  Requested time {stamp / 1e9:.6f} but the "
                f"earliest data is at time {data[0][0] / 1e9:.6f}, when looking up transform from frame [{source}] "
                f"to frame [{target}]")
        for (s0, p0), (s1, p1) in zip(data, data[1:] + [data[-1]]):
            if s0 <= stamp <= s1:
                w = 0.0 if s1 == s0 else (stamp - s0) / (s1 - s0)
                q1 = p1.q if np.dot(p0.q, p1.q) >= 0 else -p1.q
                return _Pose((1 - w) * p0.t + w * p1.t, (1 - w) * p0.q + w * q1)
        return data[-1][1]

    def _to_root(self, frame, stamp, source, target):
        pose, seen = _Pose([0, 0, 0], [0, 0, 0, 1]), [frame]
        while frame in self._parents:
            pose = self._edge(frame, stamp, source, target).compose(pose)
            frame = self._parents[frame]
            if frame in seen:
                raise LookupException("The tf tree is invalid because it contains a loop.\n"
                                      + " ".join(f"{c} -> {p}" for c, p in self._parents.items()))
            seen.append(frame)
        return frame, pose

    def lookup_transform_core(self, target, source, time):
        stamp = int(time.nanoseconds)
        with self._lock:
            for name, frame in (("target_frame", target), ("source_frame", source)):
                if frame not in self._frames():
                    raise LookupException(f'"{frame}" passed to lookupTransform argument {name} does not exist. ')
            if target == source:
                pose = _Pose([0, 0, 0], [0, 0, 0, 1])
            else:
                root_s, s = self._to_root(source, stamp, source, target)
                root_t, t = self._to_root(target, stamp, source, target)
                if root_s != root_t:
                    raise ConnectivityException(
                        f"Could not find a connection between '{target}' and '{source}' because they are not part "
                        "of the same tree.Tf has two or more unconnected trees.")
                pose = t.inverse().compose(s)
        m = sys.modules["geometry_msgs.msg"]
        header = sys.modules["std_msgs.msg"].Header(
            stamp=sys.modules["builtin_interfaces.msg"].Time(sec=stamp // 10**9, nanosec=stamp % 10**9),
            frame_id=target)
        x, y, z = (float(v) for v in pose.t)
        qx, qy, qz, qw = (float(v) for v in pose.q)
        return m.TransformStamped(header=header, child_frame_id=source, transform=m.Transform(
            translation=m.Vector3(x=x, y=y, z=z), rotation=m.Quaternion(x=qx, y=qy, z=qz, w=qw)))

    def can_transform(self, target, source, time, timeout=None):
        try:
            self.lookup_transform_core(target, source, time)
            return True
        except TransformException:
            return False

    def lookup_transform(self, target, source, time, timeout=Duration()):
        self.lookups.append((target, source, int(time.nanoseconds), int(timeout.nanoseconds)))
        end = _time.monotonic() + timeout.nanoseconds / 1e9
        while not self.can_transform(target, source, time) and _time.monotonic() < end:
            _time.sleep(0.002)
        return self.lookup_transform_core(target, source, time)


class TransformListener:
    def __init__(self, buffer, node, *, spin_thread=False, qos=None, static_qos=None, **kwargs):
        from tf2_msgs.msg import TFMessage

        self.buffer, self.node = buffer, node
        group = object()  # tf2_ros: a ReentrantCallbackGroup of its own
        self.tf_sub = node.create_subscription(TFMessage, "/tf", self.callback, qos or 100, callback_group=group)
        self.tf_static_sub = node.create_subscription(TFMessage, "/tf_static", self.static_callback,
                                                      static_qos or 100, callback_group=group)

    def unregister(self):
        self.node.destroy_subscription(self.tf_sub)
        self.node.destroy_subscription(self.tf_static_sub)

    def callback(self, data):
        for t in data.transforms:
            self.buffer.set_transform(t, "default_authority")

    def static_callback(self, data):
        for t in data.transforms:
            self.buffer.set_transform_static(t, "default_authority")


def install(monkeypatch, tf2_module) -> None:
    """Add the stand-in to the rclpy stand-in's ``tf2_ros`` module and provide rclpy.time/duration."""
    for name in ("TransformException", "LookupException", "ConnectivityException", "ExtrapolationException",
                 "InvalidArgumentException", "TimeoutException", "Buffer", "TransformListener"):
        monkeypatch.setattr(tf2_module, name, globals()[name], raising=False)
    time_mod = types.ModuleType("rclpy.time")
    time_mod.Time = Time
    duration_mod = types.ModuleType("rclpy.duration")
    duration_mod.Duration = Duration
    monkeypatch.setitem(sys.modules, "rclpy.time", time_mod)
    monkeypatch.setitem(sys.modules, "rclpy.duration", duration_mod)
