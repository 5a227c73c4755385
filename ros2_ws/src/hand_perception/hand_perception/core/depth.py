"""Depth images registered to the colour image: decoding, size checks and stamp pairing (no ROS).

Input format: ``sensor_msgs/Image`` as ``realsense2_camera`` publishes
``aligned_depth_to_color/image_raw``: ``16UC1`` (also ``mono16``) in units of ``depth_scale``
metres (1 mm by default) or ``32FC1`` in metres. 0 (16-bit) and 0 / NaN / +-inf (float) mean
"no depth". Everything here returns a float32 (H, W) array in **metres with NaN where invalid**,
registered to (same pixels as) the colour image.

* :func:`decode_depth` / :func:`depth_msg_to_metres`: raw fields or a message (rclpy, rosbags, or
  anything with the same attributes) -> metres. Unknown encodings raise ``ValueError``.
* :func:`match_depth_size`: a depth image of another size than the colour image is resized
  (nearest neighbour: no depth is invented across edges) when the aspect ratio matches, refused
  with a clear ``ValueError`` otherwise.
* :func:`prepare_depth`: the above plus the all-invalid check, never raising: ``(depth | None,
  problem | None)`` so callers fall back to monocular and say why.
* :func:`pair_depth` and :class:`DepthBuffer`: the pairing rule shared by replay and the nodes'
  fallback: the depth image whose stamp is nearest to the colour stamp, if it is at most
  ``max_age_s`` away (ties go to the older depth).
* :class:`DepthStatus`: counters of what happened to depth (paired, missing, stale, bad) and the
  last reason, for diagnostics.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .image_codec import _buffer

#: Encodings accepted for depth (case-insensitive). 16-bit ones are scaled by ``depth_scale``.
DEPTH_ENCODINGS: tuple[str, ...] = ("16UC1", "mono16", "32FC1")

#: Relative aspect-ratio difference up to which a depth image of another size is resized.
ASPECT_TOLERANCE = 0.01


def decode_depth(height: int, width: int, encoding: str, step: int, data: Any,
                 is_bigendian: bool | int = False, depth_scale: float = 0.001) -> np.ndarray:
    """Raw ``sensor_msgs/Image`` fields -> (H, W) float32 metres, NaN where invalid.

    ``16UC1``/``mono16``: ``value * depth_scale`` (0 -> NaN). ``32FC1``: metres as they are
    (``depth_scale`` does not apply); 0, negative, NaN and +-inf -> NaN. Raises ``ValueError``
    for unknown encodings, a bad ``depth_scale`` and fields that do not add up.
    """
    enc = str(encoding).strip()
    kind = enc.lower()
    if kind in ("16uc1", "mono16"):
        size = 2
    elif kind == "32fc1":
        size = 4
    else:
        raise ValueError(f"unsupported depth encoding {encoding!r}; supported: {', '.join(DEPTH_ENCODINGS)}")
    if not (math.isfinite(float(depth_scale)) and float(depth_scale) > 0):
        raise ValueError(f"depth_scale must be a positive number of metres per unit, got {depth_scale!r}")
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ValueError(f"depth image has zero or negative size {width}x{height}")
    if step < width * size or step % size:
        raise ValueError(f"depth image step {step} does not fit {width} px of {enc} ({width * size} bytes per row)")
    buf = _buffer(data)
    if buf.size != step * height:
        what = "truncated" if buf.size < step * height else "too long"
        raise ValueError(f"depth image data is {what}: {buf.size} bytes, expected {step}*{height} = {step * height}")
    rows = np.ascontiguousarray(buf.reshape(height, step)[:, :width * size])
    order = ">" if bool(is_bigendian) else "<"
    if size == 2:
        raw = rows.view(np.dtype(order + "u2")).reshape(height, width)
        out = raw.astype(np.float32) * np.float32(depth_scale)
        out[raw == 0] = np.nan
        return out
    out = rows.view(np.dtype(order + "f4")).reshape(height, width).astype(np.float32)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def depth_msg_to_metres(msg: Any, depth_scale: float = 0.001) -> np.ndarray:
    """``sensor_msgs/Image`` depth message -> (H, W) float32 metres (NaN invalid); see :func:`decode_depth`."""
    try:
        h, w, step = int(msg.height), int(msg.width), int(msg.step)
    except (AttributeError, TypeError, ValueError):
        raise ValueError("depth message lacks height/width/step") from None
    return decode_depth(h, w, str(getattr(msg, "encoding", "")), step, getattr(msg, "data", b""),
                        bool(getattr(msg, "is_bigendian", 0)), depth_scale)


def encode_depth(depth_m: np.ndarray, encoding: str = "16UC1", depth_scale: float = 0.001) -> dict[str, Any]:
    """(H, W) metres (NaN/inf/<=0 invalid) -> the ``sensor_msgs/Image`` fields (``height``,
    ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data`` as uint8 numpy). ``16UC1`` in
    units of ``depth_scale`` (0 invalid, saturating), ``32FC1`` in metres (NaN invalid)."""
    z = np.asarray(depth_m, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {z.shape}")
    ok = np.isfinite(z) & (z > 0)
    if encoding.lower() == "16uc1":
        data = np.clip(np.round(np.where(ok, z, 0.0) / depth_scale), 0, 65535).astype("<u2")
        enc, size = "16UC1", 2
    elif encoding.lower() == "32fc1":
        data = np.where(ok, z, np.nan).astype("<f4")
        enc, size = "32FC1", 4
    else:
        raise ValueError(f"unsupported depth encoding {encoding!r}; supported: 16UC1, 32FC1")
    h, w = z.shape
    return {"height": h, "width": w, "encoding": enc, "is_bigendian": 0, "step": w * size,
            "data": np.ascontiguousarray(data).view(np.uint8).reshape(-1)}


def match_depth_size(depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """``depth`` (h, w) resized to (height, width) when needed (nearest neighbour, so no depth is
    interpolated across edges). Raises ``ValueError`` when the aspect ratios differ: such a depth
    image is not registered to this colour image (crop or align it first)."""
    import cv2

    h, w = depth.shape[:2]
    if (h, w) == (int(height), int(width)):
        return depth
    if abs((w / h) / (width / height) - 1.0) > ASPECT_TOLERANCE:
        raise ValueError(f"depth image {w}x{h} is not registered to the {width}x{height} colour image "
                         f"(aspect ratio {w / h:.3f} vs {width / height:.3f}); refused, running monocular")
    return cv2.resize(depth, (int(width), int(height)), interpolation=cv2.INTER_NEAREST)


def prepare_depth(depth: Any, width: int, height: int, depth_scale: float = 0.001
                  ) -> tuple[np.ndarray | None, str | None]:
    """A depth message or array -> ``(metres (height, width) float32 NaN-invalid, None)``, or
    ``(None, reason)`` when it cannot be used (unknown encoding, bad fields, other aspect ratio,
    no valid pixel). Arrays are taken as metres (float) or ``depth_scale`` units (integers);
    non-finite values and values <= 0 become NaN. Never raises for bad data."""
    try:
        if isinstance(depth, np.ndarray):
            if depth.ndim == 3 and depth.shape[2] == 1:
                depth = depth[..., 0]
            if depth.ndim != 2:
                return None, f"depth array must be (H, W), got shape {depth.shape}"
            if depth.dtype.kind in "iu":
                z = depth.astype(np.float32) * np.float32(depth_scale)
            elif depth.dtype.kind == "f":
                z = depth.astype(np.float32, copy=True)
            else:
                return None, f"depth array of dtype {depth.dtype} is not a depth image"
            with np.errstate(invalid="ignore"):
                z[~np.isfinite(z) | (z <= 0)] = np.nan
        else:
            z = depth_msg_to_metres(depth, depth_scale)
        z = match_depth_size(z, width, height)
    except ValueError as exc:
        return None, str(exc)
    if not np.isfinite(z).any():
        return None, "depth image has no valid pixel (all zero, NaN or inf)"
    return z, None


# --------------------------------------------------------------------------- pairing


def pair_depth(image_stamp_ns: int, depth_stamps_ns: list[int] | np.ndarray, max_age_s: float) -> int | None:
    """Index of the depth stamp nearest to ``image_stamp_ns`` if at most ``max_age_s`` away
    (ties go to the earlier one), else None. ``depth_stamps_ns`` need not be sorted."""
    if len(depth_stamps_ns) == 0:
        return None
    d = np.abs(np.asarray(depth_stamps_ns, dtype=np.int64) - np.int64(image_stamp_ns))
    order = np.lexsort((np.asarray(depth_stamps_ns, dtype=np.int64), d))
    best = int(order[0])
    return best if d[best] <= max_age_s * 1e9 else None


@dataclass
class DepthStatus:
    """What happened to depth so far (for diagnostics): frames paired with depth, frames without
    depth (none near enough in time, or the topic silent), bad depth images, and the last reason."""

    paired: int = 0
    missing: int = 0
    received: int = 0  # depth messages that arrived (nodes)
    bad: int = 0
    last_problem: str = ""
    enabled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"depth_enabled": self.enabled, "depth_received": self.received, "depth_paired": self.paired,
                "depth_missing": self.missing,
                "depth_bad": self.bad, "depth_last_problem": self.last_problem}


@dataclass
class DepthBuffer:
    """Recent depth images by stamp, and the pairing rule (:func:`pair_depth`) for colour frames.

    ``add(stamp_ns, depth)`` stores any payload (message or array); ``take(stamp_ns)`` returns
    ``(payload, None)`` or ``(None, reason)``. Keeps the newest ``capacity`` entries.
    """

    max_age_s: float = 0.02
    capacity: int = 30
    _stamps: list[int] = field(default_factory=list)
    _items: deque = field(default_factory=deque)

    def add(self, stamp_ns: int, payload: Any) -> None:
        i = bisect.bisect_right(self._stamps, int(stamp_ns))
        self._stamps.insert(i, int(stamp_ns))
        items = list(self._items)
        items.insert(i, payload)
        while len(self._stamps) > self.capacity:
            self._stamps.pop(0)
            items.pop(0)
        self._items = deque(items)

    def clear(self) -> None:
        self._stamps.clear()
        self._items.clear()

    def __len__(self) -> int:
        return len(self._stamps)

    def take(self, stamp_ns: int) -> tuple[Any, str | None]:
        if not self._stamps:
            return None, "no depth image received"
        i = pair_depth(stamp_ns, self._stamps, self.max_age_s)
        if i is None:
            nearest = min(self._stamps, key=lambda s: abs(s - int(stamp_ns)))
            return None, (f"nearest depth image is {abs(nearest - int(stamp_ns)) / 1e9:.3f} s from the colour "
                          f"image (depth_max_age_s {self.max_age_s:g})")
        return self._items[i], None


@dataclass
class DepthGate:
    """When a node waits for depth and when it goes on monocular (pure logic; the nodes pair colour
    and depth with message_filters' ApproximateTimeSynchronizer and feed this gate).

    Feed it every depth message (:meth:`on_depth`), every colour frame (:meth:`on_image`) and every
    pair the synchronizer emits (:meth:`on_pair`); both return the stamps of colour frames to
    process *now without depth*, oldest first, and :meth:`on_pair` also whether to process the pair.
    While pairs keep coming (one within ``live_s``) a colour frame waits for its depth, at most
    ``wait_s``; after that, or when pairs stopped (the depth topic is silent, or its stamps are too
    far from the colour ones to pair), it goes on monocular, counted in ``status`` with the reason.
    A pair never overtakes an older waiting frame (the older one is released first), so stamps
    reach the estimator in order and no colour frame is lost.
    """

    live_s: float = 0.5
    wait_s: float = 0.1
    status: DepthStatus = field(default_factory=lambda: DepthStatus(enabled=True))
    _last_depth: float | None = None
    _last_pair: float | None = None
    _pending: dict = field(default_factory=dict)  # stamp -> arrival time
    _mono: deque = field(default_factory=lambda: deque(maxlen=64))
    _paired: deque = field(default_factory=lambda: deque(maxlen=64))

    def was_paired(self, image_stamp_ns: int) -> bool:
        """True when the synchronizer already paired this colour frame (it runs before on_image)."""
        return int(image_stamp_ns) in self._paired

    def on_depth(self, now_s: float) -> None:
        self._last_depth = float(now_s)
        self.status.received += 1

    def live(self, now_s: float) -> bool:
        """True while pairs keep coming (frames wait for their depth)."""
        return self._last_pair is not None and now_s - self._last_pair <= self.live_s

    def _release(self, stamps: list[int], reason: str) -> list[int]:
        for s in stamps:
            self._pending.pop(s, None)
            self._mono.append(s)
        if stamps:
            self.status.missing += len(stamps)
            self.status.last_problem = reason
        return sorted(stamps)

    def on_image(self, image_stamp_ns: int, now_s: float) -> list[int]:
        stamp = int(image_stamp_ns)
        expired = [s for s, t in self._pending.items() if now_s - t > self.wait_s]
        out = self._release(expired, f"no depth paired within {self.wait_s:g} s")
        if stamp in self._paired or stamp in self._mono:
            return out
        if self.live(now_s):
            self._pending[stamp] = float(now_s)
            return out
        older = [s for s in self._pending if s < stamp]  # keep the order
        return self._release(out + older + [stamp], self.reason(now_s))

    def on_pair(self, image_stamp_ns: int, now_s: float) -> tuple[list[int], bool]:
        self._last_pair = float(now_s)
        stamp = int(image_stamp_ns)
        if stamp in self._mono:
            return [], False
        self._pending.pop(stamp, None)
        self._paired.append(stamp)
        older = [s for s in self._pending if s < stamp]
        return self._release(older, "a newer frame paired first (its depth was lost)"), True

    def reason(self, now_s: float) -> str:
        """Why frames run monocular now ('' while depth pairs)."""
        if self.live(now_s):
            return ""
        if self._last_depth is None:
            return "no depth image received yet"
        silent = now_s - self._last_depth
        if silent > self.live_s:
            return f"depth topic silent for {silent:.1f} s"
        return "depth stamps too far from the colour stamps to pair (depth_max_age_s)"
