"""Input health of the ROS nodes, as plain ROS-free Python (tested without ROS).

* :class:`FrameIdMonitor`: the frame_ids seen on the image topic. A second publisher with
  another frame_id (two cameras remapped onto one topic) is reported once per new pair of
  frame_ids; the frames are still processed.
* :class:`TopicTypeMonitor`: the types of the publishers on the node's input topics
  (``Node.get_publishers_info_by_topic()``). DDS never connects a subscription to a publisher of
  another type, so a wrong type looks like silence; this names it in one line per problem
  (and one when it is resolved), while the node keeps waiting for the right type.
* :class:`RecentCounter`: a counter attribute that also remembers when it grew, so diagnostics
  report what happens now (the last few seconds), not the whole history.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Sequence

# =========================================================================== recent counters


class RecentCounter:
    """Descriptor for an ``int`` counter attribute (``stats.bad += 1`` keeps working) that
    records the monotonic time and size of each increase; :func:`recent_count` sums the
    increases of the last seconds. The owner needs ``_recent_lock`` and ``_recent_events``
    (a dict name -> deque), e.g. from :func:`init_recent_counters`."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.maxlen = maxlen
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.__dict__.get(self.name, 0)

    def __set__(self, obj: Any, value: int) -> None:
        old = obj.__dict__.get(self.name, 0)
        obj.__dict__[self.name] = value
        if value > old:
            with obj._recent_lock:
                events = obj._recent_events.setdefault(self.name, collections.deque(maxlen=self.maxlen))
                events.append((time.monotonic(), value - old))


def init_recent_counters(obj: Any) -> None:
    obj._recent_lock = threading.Lock()
    obj._recent_events = {}


def recent_count(obj: Any, name: str, since: float) -> int:
    """Sum of the increases of counter ``name`` at monotonic times >= ``since``."""
    with obj._recent_lock:
        events = obj._recent_events.get(name, ())
        return int(sum(n for t, n in events if t >= since))


# =========================================================================== frame ids


class FrameIdMonitor:
    """The frame_ids of one image stream.

    ``check(frame_id)`` returns a warning the first time the stream switches between a given
    pair of frame_ids (two publishers on one topic alternate between them), else None. Counts
    every switch (``switches``) for diagnostics. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last: str | None = None
        self.seen: dict[str, int] = {}
        self.pairs: set[tuple[str, str]] = set()
        self.switches = 0

    def reset(self) -> None:
        with self._lock:
            self.last = None
            self.seen.clear()
            self.pairs.clear()
            self.switches = 0

    def check(self, frame_id: str) -> str | None:
        frame_id = str(frame_id)
        with self._lock:
            self.seen[frame_id] = self.seen.get(frame_id, 0) + 1
            last, self.last = self.last, frame_id
            if last is None or last == frame_id:
                return None
            self.switches += 1
            pair = tuple(sorted((last, frame_id)))
            if pair in self.pairs:
                return None
            self.pairs.add(pair)  # type: ignore[arg-type]
            return (f"image frame_id changed from {last!r} to {frame_id!r}: more than one camera (publisher) on "
                    f"the image topic? Frames of both are processed; remap each camera to its own node "
                    f"(frame_ids so far: {sorted(self.seen)})")

    @property
    def frame_ids(self) -> list[str]:
        with self._lock:
            return sorted(self.seen)


# =========================================================================== topic types


def topic_type_problems(expected: dict[str, str],
                        publishers: dict[str, Sequence[tuple[str, str]]]) -> dict[str, str]:
    """Input topics that have publishers of another type than the node subscribes with.

    ``expected``: fully resolved topic name -> type (``sensor_msgs/msg/Image``); ``publishers``:
    topic -> (publishing node's full name, type) pairs, what ``Node.get_publishers_info_by_topic``
    reports (the graph's plain topic list also holds our own subscription's type, so it cannot
    tell). No publisher is not a problem (the node waits); publishers of only other types are
    (nothing can arrive), and so are extra publishers of another type beside right ones.
    """
    problems = {}
    for name, want in expected.items():
        pubs = list(publishers.get(name, ()))
        wrong = sorted({(node, typ) for node, typ in pubs if typ != want})
        if not wrong:
            continue
        who = ", ".join(f"{node} publishes {typ}" for node, typ in wrong)
        if any(typ == want for _, typ in pubs):
            problems[name] = f"topic {name}: {who}; this node takes {want} only (from the other publishers)"
        else:
            problems[name] = (f"topic {name}: {who}, this node expects {want}: no message can arrive; "
                              "waiting for a publisher of the expected type")
    return problems


class TopicTypeMonitor:
    """Checks the input topics' publisher types now and then; reports each new problem once.

    ``update(expected, publishers)`` returns the log lines to emit now: one per newly found
    problem and one per problem that went away. ``problems`` holds the current ones (for
    diagnostics).
    """

    def __init__(self) -> None:
        self.problems: dict[str, str] = {}

    def update(self, expected: dict[str, str], publishers: dict[str, Sequence[tuple[str, str]]]) -> list[str]:
        now = topic_type_problems(expected, publishers)
        lines = [msg for name, msg in now.items() if self.problems.get(name) != msg]
        lines += [f"topic {name}: no publisher of another type any more" for name in self.problems if name not in now]
        self.problems = now
        return lines


__all__ = ["FrameIdMonitor", "RecentCounter", "TopicTypeMonitor", "init_recent_counters", "recent_count",
           "topic_type_problems"]
