"""The estimator node's per-image decisions (:func:`prepare_frame`): frame id, stamp order, decoding,
CameraInfo pairing and size check, in that order, giving a :class:`PreparedFrame` ready for the
pipeline or the reason it is skipped. Never raises for bad input; counts go to
:class:`~.stats.RunningStats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..types import CameraIntrinsics
from .camera_info import CameraInfoPairer
from .node_health import FrameIdMonitor
from .stats import RunningStats, StampMonitor


@dataclass
class PreparedFrame:
    """An input image ready for the pipeline, or the reason it cannot be processed."""

    stamp_ns: int
    frame_id: str
    image: np.ndarray | None
    intrinsics: CameraIntrinsics | None
    warnings: list[str] = field(default_factory=list)
    skip_reason: str | None = None
    #: warnings already limited by their source (one per new image frame_id pair): log each
    notices: list[str] = field(default_factory=list)


def prepare_frame(decode: Callable[[], np.ndarray], stamp_ns: int, frame_id: str, pairer: CameraInfoPairer,
                  stamps: StampMonitor, stats: RunningStats, require_camera_info: bool = False,
                  frame_id_fallback: str = "", frame_ids: FrameIdMonitor | None = None) -> PreparedFrame:
    """The node's per-image decisions, in order: frame id (a switch to another frame_id, e.g. two
    cameras on one topic, is counted and warned about once per pair of ids when ``frame_ids`` is
    given; the frame is still processed), stamp order (duplicate -> skip; backwards -> 'reset'
    warning, the caller resets its pipeline), decoding (bad -> skip and count), CameraInfo pairing
    and size check (missing -> default intrinsics with a warning, or skip when
    ``require_camera_info``). Sets ``stats.intrinsics_source``/``intrinsics_problem`` for the
    diagnostics. Never raises for bad input."""
    from .image_codec import try_intrinsics_for_image

    frame_id = str(frame_id) or frame_id_fallback or "camera"
    warnings: list[str] = []
    notices: list[str] = []
    if frame_ids is not None:
        switched = frame_ids.last not in (None, frame_id)
        note = frame_ids.check(frame_id)
        if switched:
            stats.frame_id_switches += 1
        if note:
            notices.append(note)
    order = stamps.check(stamp_ns)
    if order == "repeat":
        stats.duplicates += 1
        return PreparedFrame(stamp_ns, frame_id, None, None, skip_reason=f"duplicate stamp {stamp_ns}",
                             notices=notices)
    if order == "backwards":
        stats.stamp_resets += 1
        warnings.append(f"stamp {stamp_ns} went backwards (looped bag or restarted camera): state reset")
    try:
        image = decode()
    except (ValueError, TypeError, AttributeError) as exc:
        stats.bad += 1
        stats.last_error = f"bad image: {exc}"
        return PreparedFrame(stamp_ns, frame_id, None, None, warnings, skip_reason=f"bad image: {exc}",
                             notices=notices)
    intr, problem = pairer.match(stamp_ns, frame_id)
    if intr is not None:
        intr, note = try_intrinsics_for_image(intr, image.shape[1], image.shape[0])
        if intr is None:
            problem = note
        elif note:
            warnings.append(note)
    if problem is not None and intr is not None:  # paired, with a note (e.g. frame_id mismatch)
        warnings.append(problem)
    if intr is None:
        stats.no_camera_info += 1
        stats.intrinsics_problem = str(problem)
        if require_camera_info:
            stats.intrinsics_source = "missing"
            return PreparedFrame(stamp_ns, frame_id, None, None, warnings,
                                 skip_reason=f"{problem}; frame dropped (require_camera_info)", notices=notices)
        stats.default_intrinsics += 1
        stats.intrinsics_source = "default"
        warnings.append(f"{problem}: using a default focal length")
    else:
        stats.intrinsics_source, stats.intrinsics_problem = "camera_info", ""
    return PreparedFrame(stamp_ns, frame_id, image, intr, warnings, notices=notices)


__all__ = [
    "PreparedFrame",
    "prepare_frame",
]
