"""The ``/diagnostics`` status of a node as data (:class:`DiagnosticData`), how its level and
message are decided from :class:`~.stats.RunningStats` figures (:func:`diagnostic_status`), and the
``diagnostic_msgs/DiagnosticArray`` built from it for any type provider (:func:`diagnostics_to_msg`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .conversions import MessageTypes
from .ros_messages import _byte, _header, make_message
from .topics import DIAGNOSTIC_ARRAY_TYPE


DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE = 0, 1, 2, 3


@dataclass
class DiagnosticData:
    """A diagnostic_msgs/DiagnosticStatus as data (level 0 OK, 1 WARN, 2 ERROR, 3 STALE)."""

    level: int
    name: str
    message: str
    hardware_id: str
    values: list[tuple[str, str]] = field(default_factory=list)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def diagnostic_status(name: str, hardware_id: str, stats: dict[str, Any],
                      model_info: dict[str, str] | None = None, state: str = "active",
                      extra: dict[str, Any] | None = None, stale_after_s: float | None = None,
                      seconds_since_input: float | None = None,
                      input_problems: Sequence[str] = ()) -> DiagnosticData:
    """Status of a node from :meth:`RunningStats.as_dict` plus model information.

    It describes the current state, not the history: the counters' ``recent_*`` figures (the
    last ``recent_s`` seconds) and the latest frame decide the level, the totals are values.
    Level: ERROR when the node is not active; STALE when no input arrived for ``stale_after_s``;
    WARN when recently more than 10 % of the received frames were dropped, frames were bad, the
    image frame_id switched (two publishers on one topic), the latest frame ran with default
    intrinsics (no valid camera_info; the reason is in the message), or ``input_problems`` (e.g.
    a wrong message type on an input topic) is not empty; else OK. Stats dicts without the
    ``recent_*`` keys (older callers) are judged on their totals.
    """
    values: list[tuple[str, str]] = [("state", state)]
    for key in ("input_rate_hz", "output_rate_hz", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
                "frames_received", "frames_processed", "frames_dropped", "bad_frames", "duplicate_frames",
                "stamp_resets", "frames_without_camera_info", "frames_default_intrinsics", "frame_id_switches",
                "intrinsics_source", "intrinsics_problem"):
        if key in stats:
            values.append((key, _fmt(stats[key])))
    for key, value in (model_info or {}).items():
        values.append((key, _fmt(value)))
    for key, value in (extra or {}).items():
        values.append((key, _fmt(value)))

    def recent(key: str) -> int:
        return int(stats.get(f"recent_{key}", stats.get(key, 0)) or 0)

    received = int(stats.get("frames_received", 0))
    recent_received = int(stats.get("recent_frames_received", received))
    window = f" in the last {_fmt_s(stats['recent_s'])}" if "recent_s" in stats else ""
    problems = []
    level = DIAG_OK
    if state != "active":
        level, problems = DIAG_ERROR, [f"node is {state}"]
    elif stale_after_s is not None and seconds_since_input is not None and seconds_since_input > stale_after_s:
        level, problems = DIAG_STALE, [f"no input for {seconds_since_input:.1f} s"]
    else:
        dropped = recent("frames_dropped")
        if dropped and dropped > 0.1 * max(recent_received, 1):
            problems.append(f"{dropped} of {recent_received} frames dropped{window} (processing slower than input)")
        bad = recent("bad_frames")
        if bad:
            error = f" (last error: {stats['last_error']})" if stats.get("last_error") else ""
            problems.append(f"{bad} bad frames{window}{error}")
        source = stats.get("intrinsics_source", "default" if stats.get("frames_default_intrinsics") else "")
        if source == "default":
            why = stats.get("intrinsics_problem") or "no valid camera_info"
            problems.append(f"running with default intrinsics ({why})")
        elif source == "missing":
            why = stats.get("intrinsics_problem") or "no valid camera_info"
            problems.append(f"frames dropped until a valid camera_info arrives ({why}; require_camera_info)")
        if recent("frame_id_switches"):
            problems.append(f"image frame_id switched {recent('frame_id_switches')} times{window} "
                            "(several publishers on the image topic?)")
        problems.extend(str(p) for p in input_problems)
        if problems:
            level = DIAG_WARN
    if state == "active" and not problems:
        message = (f"{_fmt(stats.get('output_rate_hz', 0.0))} Hz, p50 {_fmt(stats.get('latency_p50_ms', float('nan')))} ms"
                   if received else "waiting for input")
    else:
        message = "; ".join(problems)
    return DiagnosticData(level, name, message, hardware_id, values)


def _fmt_s(seconds: Any) -> str:
    return f"{float(seconds):g} s"


def diagnostics_to_msg(statuses: Iterable[DiagnosticData], stamp_ns: int, types: MessageTypes) -> Any:
    """diagnostic_msgs/DiagnosticArray of :func:`diagnostic_status` output."""
    out = []
    for s in statuses:
        out.append(make_message(
            types, "diagnostic_msgs/msg/DiagnosticStatus",
            level=_byte(types, s.level), name=str(s.name), message=str(s.message),
            hardware_id=str(s.hardware_id),
            values=[make_message(types, "diagnostic_msgs/msg/KeyValue", key=str(k), value=str(v)) for k, v in s.values],
        ))
    return make_message(types, DIAGNOSTIC_ARRAY_TYPE, header=_header(types, stamp_ns, ""), status=out)


__all__ = [
    "DIAG_ERROR",
    "DIAG_OK",
    "DIAG_STALE",
    "DIAG_WARN",
    "DiagnosticData",
    "diagnostic_status",
    "diagnostics_to_msg",
]
