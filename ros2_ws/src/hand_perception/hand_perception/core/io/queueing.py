"""Backpressure between the subscription callbacks and the processing thread.

:class:`FrameQueue` is a bounded FIFO that drops the OLDEST frame when full (a slow model never
builds up latency) and counts the drops; :class:`QueueWorker` runs the processing of queued items
in its own thread and survives any exception of the handler. No ROS needed.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class FrameQueue:
    """Bounded FIFO that drops the OLDEST item when full (and counts it). Thread-safe."""

    def __init__(self, maxsize: int = 2) -> None:
        if int(maxsize) < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = int(maxsize)
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.pushed = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: Any) -> Any | None:
        """Add ``item``; returns the item dropped to make room (None when nothing was dropped)."""
        with self._cond:
            dropped = None
            if len(self._items) >= self.maxsize:
                dropped = self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.pushed += 1
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> Any | None:
        """Oldest item, waiting up to ``timeout`` s (None: forever); None on timeout or close."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                return self._items.popleft()
            return None

    def clear(self) -> int:
        with self._cond:
            n = len(self._items)
            self._items.clear()
            return n

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed


class QueueWorker:
    """Thread that takes items from a :class:`FrameQueue` and calls ``handler(item)``.

    Exceptions from the handler are passed to ``on_error(exc, item)`` (default: logged) and the
    worker goes on with the next item: bad input never stops the node.
    """

    def __init__(self, queue: FrameQueue, handler: Callable[[Any], None],
                 on_error: Callable[[BaseException, Any], None] | None = None,
                 name: str = "hand_perception_worker") -> None:
        self.queue = queue
        self.handler = handler
        self.on_error = on_error or (lambda exc, item: log.exception("processing failed: %s", exc))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name = name
        self.errors = 0
        self.busy = False

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.queue.reopen()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self.queue.get(timeout=0.1)
            if item is None:
                continue
            self.busy = True
            try:
                self.handler(item)
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything
                self.errors += 1
                try:
                    self.on_error(exc, item)
                except Exception:  # noqa: BLE001
                    log.exception("error handler failed")
            finally:
                self.busy = False

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop and join; returns False if the thread is still running after ``timeout``."""
        self._stop.set()
        self.queue.close()
        t = self._thread
        if t is not None:
            t.join(timeout)
            alive = t.is_alive()
            if not alive:
                self._thread = None
            return not alive
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


__all__ = [
    "FrameQueue",
    "QueueWorker",
]
