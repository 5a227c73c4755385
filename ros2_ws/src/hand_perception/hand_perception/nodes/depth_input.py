"""RGB-D input of the estimator nodes: colour and registered depth paired by stamp (rclpy side).

With the parameter ``depth_topic`` set, the colour subscription is a ``message_filters.Subscriber``
and a second one takes the depth topic; ``message_filters.ApproximateTimeSynchronizer`` (slop =
``depth_max_age_s``) pairs them and the pair is queued as one item ``(image_msg, depth_msg)``.
Colour frames are never held hostage by depth: :class:`hand_perception.core.depth.DepthGate`
lets a colour frame through alone (monocular) when no pair came out for a while (the depth topic
stopped, or its stamps are too far from the colour ones), and the diagnostics say so.

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


class DepthInput:
    """Subscriptions and pairing of colour + depth for one :class:`EstimatorPart`."""

    def __init__(self, node: Any, params: dict[str, Any]) -> None:
        self.node = node
        self.topic = str(params["depth_topic"])
        self.scale = float(params["depth_scale"])
        self.max_age_s = float(params["depth_max_age_s"])
        self.gate = DepthGate(timeout_s=max(0.25, 10.0 * self.max_age_s))
        self.status = self.gate.status
        self._filters: list[Any] = []
        self._sync = None
        self._last_bad: float | None = None

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
        self._sync = message_filters.ApproximateTimeSynchronizer([image_sub, depth_sub], 10, self.max_age_s)
        self._sync.registerCallback(lambda img, depth: self._on_pair(image_kind, img, depth))
        # registered after the synchronizer's own callback: a frame that pairs on arrival is
        # already claimed when this runs
        image_sub.registerCallback(lambda img: self._on_image(image_kind, img))
        depth_sub.registerCallback(lambda _msg: self.gate.on_depth(time.monotonic()))
        self._filters = [image_sub, depth_sub]
        return [f.sub for f in self._filters]

    def deactivate(self) -> None:
        self._filters = []
        self._sync = None

    def _on_pair(self, kind: str, image: Any, depth: Any) -> None:
        if self.gate.on_pair(time_to_ns(image.header.stamp), time.monotonic()):
            self.node.enqueue(kind, (image, depth))

    def _on_image(self, kind: str, image: Any) -> None:
        if self.gate.on_image(time_to_ns(image.header.stamp), time.monotonic()):
            self.node.enqueue(kind, image)
            self.node.warn_throttled("depth_fallback", f"running monocular: {self.status.last_problem}")

    # -- worker ------------------------------------------------------------------------------
    def decode(self, depth_msg: Any, width: int, height: int) -> np.ndarray | None:
        """Depth (metres, NaN invalid) registered to a ``width x height`` image, or None (counted)."""
        depth, problem = prepare_depth(depth_msg, width, height, self.scale)
        if depth is None:
            self.status.bad += 1
            self.status.last_problem = f"bad depth image: {problem}"
            self._last_bad = time.monotonic()
            self.node.warn_throttled("depth_bad", f"depth not used ({problem}); running monocular")
            return None
        self.status.paired += 1
        return depth

    # -- diagnostics -------------------------------------------------------------------------
    def diagnostics(self) -> tuple[dict[str, Any], str | None]:
        """Values for /diagnostics and a problem line while frames run monocular (None otherwise)."""
        values = {k: v for k, v in self.status.as_dict().items() if k != "depth_enabled"}
        values["depth_topic"] = self.topic
        now = time.monotonic()
        reason = self.gate.reason(now)
        if not reason and self._last_bad is not None and now - self._last_bad <= max(1.0, self.gate.timeout_s):
            reason = self.status.last_problem
        return values, (f"depth: running monocular ({reason})" if reason else None)
