"""Moved to :mod:`hand_perception.core.io.node_health` (recent counters, frame_id and topic type monitors).

This module keeps the old import path working for one release; import from
``hand_perception.core.io.node_health`` in new code.
"""

# ``time`` stays importable from here: tests patch ``node_health.time.monotonic`` (the time module).
import time  # noqa: F401

from hand_perception.core.io.node_health import *  # noqa: F401,F403
from hand_perception.core.io.node_health import __all__  # noqa: F401
