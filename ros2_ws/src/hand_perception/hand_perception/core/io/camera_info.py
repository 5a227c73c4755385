"""Pairing of images with CameraInfo (:class:`CameraInfoPairer`), keyed by frame_id.

``cache`` mode: the latest CameraInfo of the image's frame_id; ``sync`` mode: the CameraInfo closest
in time within a tolerance. Invalid CameraInfo is kept with its reason so the frame that meets it
can say why it runs with default intrinsics (or is dropped). No ROS needed.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

from ..types import CameraIntrinsics
from .ros_messages import NS_PER_S


@dataclass
class _Info:
    stamp_ns: int
    intrinsics: CameraIntrinsics | None
    error: str | None


class CameraInfoPairer:
    """Pairs images with CameraInfo, keyed by frame_id.

    ``mode='cache'``: the latest CameraInfo of the image's frame_id (or, when the camera publishes
    a single frame_id that differs from the image's, that one, with a warning). ``mode='sync'``:
    the CameraInfo of that frame_id whose stamp is closest to the image's, if within ``slop_s``.

    Invalid CameraInfo (NaN, zero focal length, unsupported model) is stored with its error, so an
    image paired with it gets ``None`` and the reason (the caller falls back to default
    intrinsics or drops the frame). Thread-safe (callbacks add, the worker pairs).
    """

    def __init__(self, mode: str = "cache", slop_s: float = 0.02, history: int = 30) -> None:
        if mode not in ("cache", "sync"):
            raise ValueError(f"camera_info mode must be 'cache' or 'sync', got {mode!r}")
        if not slop_s >= 0:
            raise ValueError("slop_s must be >= 0")
        self.mode = mode
        self.slop_ns = int(round(slop_s * NS_PER_S))
        self._infos: dict[str, collections.deque[_Info]] = {}
        self._history = max(1, int(history))
        self._lock = threading.Lock()
        self.received = 0
        self.invalid = 0

    def add(self, stamp_ns: int, frame_id: str, intrinsics: CameraIntrinsics | None,
            error: str | None = None) -> None:
        """Store one CameraInfo (already converted; ``error`` when conversion failed)."""
        with self._lock:
            self.received += 1
            if error is not None or intrinsics is None:
                self.invalid += 1
            q = self._infos.setdefault(str(frame_id), collections.deque(maxlen=self._history))
            if q and stamp_ns < q[-1].stamp_ns:  # looped bag: forget the future
                q.clear()
            q.append(_Info(int(stamp_ns), intrinsics, error))

    def add_msg(self, msg: Any, use_projection: bool = False) -> str | None:
        """Convert and store a CameraInfo message; returns the conversion error, if any."""
        from .conversions import time_to_ns
        from .image_codec import camera_info_msg_to_intrinsics

        try:
            intr, err = camera_info_msg_to_intrinsics(msg, use_projection=use_projection), None
        except (ValueError, TypeError, AttributeError) as exc:
            intr, err = None, f"invalid camera_info: {exc}"
        self.add(time_to_ns(msg.header.stamp), str(msg.header.frame_id), intr, err)
        return err

    def clear(self) -> None:
        with self._lock:
            self._infos.clear()

    def match(self, stamp_ns: int, frame_id: str) -> tuple[CameraIntrinsics | None, str | None]:
        """(intrinsics, problem) for an image. ``problem`` is None when a valid CameraInfo was
        paired, else why not ('no camera_info received', 'no camera_info within ...', or the
        conversion error of the paired CameraInfo)."""
        with self._lock:
            q = self._infos.get(str(frame_id))
            note = None
            if not q:
                if len(self._infos) == 1:
                    other, q = next(iter(self._infos.items()))
                    note = f"camera_info frame_id {other!r} differs from the image's {frame_id!r}"
                else:
                    return None, ("no camera_info received" if not self._infos else
                                  f"no camera_info for frame_id {frame_id!r} (have {sorted(self._infos)})")
            if self.mode == "cache":
                info = q[-1]
            else:
                info = min(q, key=lambda i: abs(i.stamp_ns - stamp_ns))
                if abs(info.stamp_ns - stamp_ns) > self.slop_ns:
                    return None, (f"no camera_info within {self.slop_ns / 1e9:g} s of the image "
                                  f"(closest {abs(info.stamp_ns - stamp_ns) / 1e9:.3f} s)")
            if info.error is not None or info.intrinsics is None:
                return None, info.error or "invalid camera_info"
            return info.intrinsics, note


__all__ = [
    "CameraInfoPairer",
]
