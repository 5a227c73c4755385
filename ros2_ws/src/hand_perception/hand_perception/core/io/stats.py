"""Stream bookkeeping of a node: counters, rates and latency, stamp order, output and log pacing.

* :class:`RunningStats`: input/output rate and latency p50/p99 over a window, counters of dropped,
  bad, duplicate frames etc. with their recent values (what ``/diagnostics`` reports, see
  :mod:`.diagnostics`).
* :class:`StampMonitor`: stamps going backwards (a looped bag) -> reset + warning; a repeated stamp
  -> the frame is a duplicate.
* :class:`StreamRateLimiter`: at most N outputs per second of stream time.
* :class:`ThrottledLog`: one log line per key and period (counts the suppressed ones).

No ROS needed; times are ``time.monotonic()`` seconds unless given.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np

from .node_health import RecentCounter, init_recent_counters, recent_count
from .ros_messages import NS_PER_S


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default); NaN for no values."""
    if len(values) == 0:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


class RunningStats:
    """Counts, rates and latency percentiles over the last ``window`` events (thread-safe).

    ``on_input(now)`` for every received frame, ``on_output(latency_s, now)`` for every processed
    one; ``now`` is a monotonic wall time in seconds (default ``time.monotonic()``). Counters for
    dropped/bad/duplicate frames, stamp resets, frames without camera_info and image frame_id
    switches are attributes the caller increments (``stats.bad += 1``); they also remember when
    they grew, so :meth:`as_dict` reports both the totals and the last ``recent_s`` seconds
    (``recent_<key>``), and diagnostics describe the current state, not the history.
    ``intrinsics_source`` ('camera_info' | 'default' | '' before any frame) and
    ``intrinsics_problem`` describe the latest processed frame.
    """

    dropped = RecentCounter()
    bad = RecentCounter()
    duplicates = RecentCounter()
    stamp_resets = RecentCounter()
    no_camera_info = RecentCounter()
    default_intrinsics = RecentCounter()
    frame_id_switches = RecentCounter()

    #: as_dict key -> counter attribute (the counters with a ``recent_<key>`` figure)
    COUNTERS = {"frames_dropped": "dropped", "bad_frames": "bad", "duplicate_frames": "duplicates",
                "stamp_resets": "stamp_resets", "frames_without_camera_info": "no_camera_info",
                "frames_default_intrinsics": "default_intrinsics", "frame_id_switches": "frame_id_switches"}

    def __init__(self, window: int = 300, recent_s: float = 5.0) -> None:
        init_recent_counters(self)
        self.window = max(2, int(window))
        self.recent_s = float(recent_s)
        self.intrinsics_source = ""
        self.intrinsics_problem = ""
        self._lock = threading.Lock()
        self._in_times: collections.deque[float] = collections.deque(maxlen=self.window)
        self._out_times: collections.deque[float] = collections.deque(maxlen=self.window)
        self._latencies: collections.deque[float] = collections.deque(maxlen=self.window)
        self.received = 0
        self.processed = 0
        self.dropped = 0
        self.bad = 0
        self.duplicates = 0
        self.stamp_resets = 0
        self.no_camera_info = 0
        self.default_intrinsics = 0
        self.last_error: str = ""
        self.last_warning: str = ""

    def on_input(self, now: float | None = None) -> None:
        with self._lock:
            self.received += 1
            self._in_times.append(time.monotonic() if now is None else float(now))

    def on_output(self, latency_s: float, now: float | None = None) -> None:
        with self._lock:
            self.processed += 1
            self._out_times.append(time.monotonic() if now is None else float(now))
            if math.isfinite(latency_s):
                self._latencies.append(float(latency_s))

    @staticmethod
    def _rate(times: Sequence[float], now: float) -> float:
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        # a stream that stopped has no rate: use the time since the first event up to now when
        # the last event is older than the typical period
        period = span / (len(times) - 1) if span > 0 else 0.0
        if period > 0 and now - times[-1] > 3 * period:
            span = now - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0

    def latencies(self) -> list[float]:
        with self._lock:
            return list(self._latencies)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        """Plain dict of the current figures (rates Hz, latencies ms, counters)."""
        now = time.monotonic() if now is None else float(now)
        with self._lock:
            lat = list(self._latencies)
            return {
                "input_rate_hz": self._rate(list(self._in_times), now),
                "output_rate_hz": self._rate(list(self._out_times), now),
                "latency_p50_ms": percentile(lat, 50) * 1e3,
                "latency_p99_ms": percentile(lat, 99) * 1e3,
                "latency_max_ms": (max(lat) * 1e3) if lat else float("nan"),
                "frames_received": self.received,
                "frames_processed": self.processed,
                "frames_dropped": self.dropped,
                "bad_frames": self.bad,
                "duplicate_frames": self.duplicates,
                "stamp_resets": self.stamp_resets,
                "frames_without_camera_info": self.no_camera_info,
                "frames_default_intrinsics": self.default_intrinsics,
                "frame_id_switches": self.frame_id_switches,
                "last_error": self.last_error,
                "last_warning": self.last_warning,
                "intrinsics_source": self.intrinsics_source,
                "intrinsics_problem": self.intrinsics_problem,
                "recent_s": self.recent_s,
                "recent_frames_received": sum(1 for t in self._in_times if t >= now - self.recent_s),
                **{f"recent_{key}": recent_count(self, attr, time.monotonic() - self.recent_s)
                   for key, attr in self.COUNTERS.items()},
            }


class StreamRateLimiter:
    """``due(stamp_ns)`` is true at most ``rate_hz`` times per second of stream time (0: always);
    a stamp going backwards restarts it."""

    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = float(rate_hz)
        self._last: int | None = None

    def reset(self) -> None:
        self._last = None

    def due(self, stamp_ns: int) -> bool:
        if self.rate_hz <= 0:
            return True
        if self._last is None or stamp_ns < self._last or stamp_ns - self._last >= int(NS_PER_S / self.rate_hz) - 1:
            self._last = int(stamp_ns)
            return True
        return False


class StampMonitor:
    """Stamp order of one stream: ``check(stamp_ns)`` -> 'first' | 'ok' | 'repeat' | 'backwards'.

    'backwards' (a looped bag, a restarted camera) means: reset all state and warn; the stamp is
    then the new reference. 'repeat' means a duplicate frame (skip it).
    """

    def __init__(self) -> None:
        self.last: int | None = None
        self.resets = 0
        self.repeats = 0

    def reset(self) -> None:
        self.last = None

    def check(self, stamp_ns: int) -> str:
        stamp_ns = int(stamp_ns)
        if self.last is None:
            self.last = stamp_ns
            return "first"
        if stamp_ns == self.last:
            self.repeats += 1
            return "repeat"
        if stamp_ns < self.last:
            self.resets += 1
            self.last = stamp_ns
            return "backwards"
        self.last = stamp_ns
        return "ok"


class ThrottledLog:
    """Logs a message key at most once per ``period_s`` (counts the suppressed ones)."""

    def __init__(self, emit: Callable[[str], None], period_s: float = 5.0) -> None:
        self.emit = emit
        self.period_s = period_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = collections.defaultdict(int)

    def __call__(self, key: str, message: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            self._suppressed[key] += 1
            return False
        n = self._suppressed.pop(key, 0)
        self._last[key] = now
        self.emit(message + (f" (+{n} similar)" if n else ""))
        return True


__all__ = [
    "RunningStats",
    "StampMonitor",
    "StreamRateLimiter",
    "ThrottledLog",
    "percentile",
]
