"""RGB-D input of the estimator nodes: colour and registered depth paired by stamp (rclpy side).

With the parameter ``depth_topic`` set, the colour subscription is a ``message_filters.Subscriber``
and a second one takes the depth topic; ``message_filters.ApproximateTimeSynchronizer`` (slop =
``depth_max_age_s``) pairs them and the pair is queued as one item ``(image_msg, depth_msg)``.
Colour frames are never held hostage by depth: :class:`hand_perception.core.depth.DepthGate`
lets a colour frame wait for its depth only while pairs keep coming, and at most ``wait_s``;
otherwise (the depth topic stopped, or its stamps are too far from the colour ones) the frame
goes on alone, monocular, in stamp order, and the diagnostics say why.

Decoding (16UC1 with ``depth_scale`` / 32FC1, size checks, all-invalid images) happens in the
worker through :func:`hand_perception.core.depth.prepare_depth`; a bad depth image costs the
frame its depth, never the frame.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hand_perception.core.conversions import time_to_ns
from hand_perception.core.depth import DepthGate, prepare_depth


def synchronizer_slop_s(max_age_s: float) -> float:
    """``slop`` for message_filters' ApproximateTimeSynchronizer that pairs stamps at most
    ``max_age_s`` apart, as :func:`hand_perception.core.depth.pair_depth` (replay) does.

    The Jazzy synchronizer converts ``slop`` to whole nanoseconds (``Duration(seconds=slop)``) and
    pairs only when the stamps differ by strictly less, so ``depth_max_age_s`` 0 would never pair
    even equal stamps, and a depth exactly ``max_age_s`` away would not pair. Half a nanosecond
    over the next whole nanosecond makes the strict test an inclusive one.
    """
    ns = int(np.floor(max(0.0, float(max_age_s)) * 1e9 + 1e-6))
    return (ns + 1.5) / 1e9


class DepthInput:
    """Subscriptions and pairing of colour + depth for one :class:`EstimatorPart`."""

    def __init__(self, node: Any, params: dict[str, Any]) -> None:
        self.node = node
        self.topic = str(params["depth_topic"])
        self.scale = float(params["depth_scale"])
        self.max_age_s = float(params["depth_max_age_s"])
        # pairs within live_s keep frames waiting for their depth (at most wait_s)
        self.gate = DepthGate(live_s=max(0.5, 10.0 * self.max_age_s), wait_s=max(0.1, 3.0 * self.max_age_s))
        self._pending: dict[int, tuple[str, Any]] = {}  # colour frames waiting for depth, by stamp
        self.status = self.gate.status
        self._filters: list[Any] = []
        self._sync = None
        self._latest: tuple[int, str] | None = None  # newest colour frame: (stamp, why it has no depth or "")

    @staticmethod
    def wanted(params: dict[str, Any]) -> bool:
        return bool(str(params.get("depth_topic", "") or "").strip())

    # -- subscriptions -----------------------------------------------------------------------
    def activate(self, image_type: Any, image_topic: str, image_kind: str, qos: Any) -> list[Any]:
        """Subscribe colour + depth; returns the underlying rclpy subscriptions (to destroy later)."""
        import message_filters
        from sensor_msgs.msg import Image

        image_sub = message_filters.Subscriber(self.node, image_type, image_topic, qos_profile=qos)
        depth_sub = message_filters.Subscriber(self.node, Image, self.topic, qos_profile=qos)
        self._sync = message_filters.ApproximateTimeSynchronizer([image_sub, depth_sub], 10,
                                                                 synchronizer_slop_s(self.max_age_s))
        # the synchronizer calls this holding its lock and releases it without try/finally
        # (message_filters, Jazzy): an exception escaping it would block every later pair
        self._sync.registerCallback(lambda img, depth: self._guarded("pair", self._on_pair, image_kind, img, depth))
        # registered after the synchronizer's own callback: a frame that pairs on arrival is
        # already claimed when this runs
        image_sub.registerCallback(lambda img: self._guarded("image", self._on_image, image_kind, img))
        depth_sub.registerCallback(lambda _msg: self._guarded("depth", self.gate.on_depth, time.monotonic()))
        self._filters = [image_sub, depth_sub]
        return [f.sub for f in self._filters]

    def deactivate(self) -> None:
        """Forget the filters (the node destroys their subscriptions) and the colour frames that
        still wait for depth: after a deactivate they are stale and must not be published on the
        next activate. The counters (``status``) stay."""
        self._filters = []
        self._sync = None
        self._pending.clear()
        self.gate = DepthGate(live_s=self.gate.live_s, wait_s=self.gate.wait_s, status=self.status)

    def _guarded(self, what: str, fn: Any, *args: Any) -> None:
        """Run a message_filters callback; a failure is logged (throttled), never raised into
        message_filters or the executor (which would stop the node)."""
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - bad input must not stop the node
            self.status.last_problem = f"depth input ({what}) failed: {type(exc).__name__}: {exc}"
            self.node.warn_throttled("depth_callback", self.status.last_problem)

    def _release(self, stamps: list[int]) -> None:
        """Queue waiting colour frames without depth (oldest first)."""
        for s in stamps:
            item = self._pending.pop(s, None)
            if item is not None:
                self._note(s, self.status.last_problem or "no depth")
                self.node.enqueue(*item)
        if stamps:
            self.node.warn_throttled("depth_fallback", f"running monocular: {self.status.last_problem}")

    def _on_pair(self, kind: str, image: Any, depth: Any) -> None:
        stamp = time_to_ns(image.header.stamp)
        older, use = self.gate.on_pair(stamp, time.monotonic())
        self._release(older)
        if use:
            self._pending.pop(stamp, None)
            self._note(stamp, "")
            self.node.enqueue(kind, (image, depth))

    def _on_image(self, kind: str, image: Any) -> None:
        stamp = time_to_ns(image.header.stamp)
        if not self.gate.was_paired(stamp):
            self._pending[stamp] = (kind, image)
            while len(self._pending) > 64:  # never grows without bound, whatever the gate says
                self._pending.pop(min(self._pending))
        self._release(self.gate.on_image(stamp, time.monotonic()))

    # -- worker ------------------------------------------------------------------------------
    def _note(self, stamp: int, reason: str) -> None:
        if self._latest is None or stamp >= self._latest[0]:
            self._latest = (stamp, reason)

    def decode(self, depth_msg: Any, width: int, height: int, stamp_ns: int | None = None) -> np.ndarray | None:
        """Depth (metres, NaN invalid) registered to a ``width x height`` image, or None (counted)."""
        depth, problem = prepare_depth(depth_msg, width, height, self.scale)
        if depth is None:
            self.status.bad += 1
            self.status.last_problem = f"bad depth image: {problem}"
            if stamp_ns is not None:
                self._note(int(stamp_ns), self.status.last_problem)
            self.node.warn_throttled("depth_bad", f"depth not used ({problem}); running monocular")
            return None
        self.status.paired += 1
        return depth

    # -- diagnostics -------------------------------------------------------------------------
    def diagnostics(self) -> tuple[dict[str, Any], str | None]:
        """Values for /diagnostics and a problem line when the newest colour frame had no usable
        depth (None otherwise), with the reason recorded for it."""
        values = {k: v for k, v in self.status.as_dict().items() if k != "depth_enabled"}
        values["depth_topic"] = self.topic
        reason = self._latest[1] if self._latest is not None else ""
        return values, (f"depth: running monocular ({reason})" if reason else None)
