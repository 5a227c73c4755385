"""Inference backends: per-model latency p50/p99, throughput and peak memory for each available backend.

Usage: python benchmarks/bench_backends.py [--quick] [any `hand-perception bench` option]
Same as `hand-perception bench` (hand_models.inference.bench.bench_main): every registered, importable
model (the MediaPipe palm detector and hand landmark networks, plus UniHand / G-HTT once they exist)
on tflite (MediaPipe only, the reference), torch, onnxruntime, and on GPU machines torch:cuda,
onnxruntime:cuda and tensorrt; each cell in its own process. Prints a table, then a JSON object with
the figures as its last line. --quick: 30 iterations per cell (under a minute on 2 cores for the
MediaPipe nets; ONNX artefacts are exported into the cache on first use).
"""

from __future__ import annotations

import sys

from hand_models.inference.bench import bench_main

if __name__ == "__main__":
    sys.exit(bench_main(sys.argv[1:]))
