"""Helpers shared by the benchmarks: timing statistics and the JSON last line."""

from __future__ import annotations

import json
import platform
import time
from typing import Callable

import numpy as np


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Run ``fn`` ``warmup`` + ``repeats`` times; latency statistics in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    s = np.array(samples)
    return {"p50_ms": float(np.percentile(s, 50)), "p99_ms": float(np.percentile(s, 99)),
            "mean_ms": float(s.mean()), "repeats": repeats}


def machine() -> dict[str, str]:
    import os

    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": str(os.cpu_count())}


def emit(result: dict) -> None:
    """Print the figures; the JSON object is the last line (benchmarks' contract)."""
    print(json.dumps(result, sort_keys=True))
