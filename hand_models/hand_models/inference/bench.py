"""``hand-perception bench``: latency p50/p99, throughput and peak memory per model and backend.

Every (model, backend, batch) cell is measured in a fresh child process (``--no-isolate`` runs them
in this process instead), so its peak resident memory is its own: ``peak_rss_mb`` is the child's
peak RSS, ``model_rss_mb`` the part added by loading and running the model (peak minus the RSS after
imports). On CUDA backends ``cuda_peak_mb`` is torch's peak allocation (TensorRT's own workspace is
not included; ``engine_device_mb`` is reported separately). Latency is the wall time of one
``backend(inputs)`` call, numpy in to numpy out (host<->device copies included), after warm-up.

    hand-perception bench [--quick] [--models mediapipe_palm,mediapipe_landmark] [--backends torch,onnxruntime,tflite]
                          [--batch 1,4] [--threads 2] [--iters 200] [--out results.json]

The last line printed is one JSON object with every figure (``results`` list) and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Sequence

import numpy as np


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 2**20


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    info = {"cpu": _cpu_name(), "cpu_count": os.cpu_count(), "python": platform.python_version()}
    try:
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)  # other processes competing for the cores
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    for mod in ("onnxruntime", "tensorrt", "ai_edge_litert"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    return info


def _make_backend(model: str, backend: str, threads: int, artifact_dir: str | None):
    from .config import BackendConfig
    from .registry import get_export_spec
    from .runtime import create_backend

    spec = get_export_spec(model)
    cfg = BackendConfig.parse(backend)
    if cfg.kind == "tflite":
        from .mediapipe_port.adapter import TFLiteBackend

        from .mediapipe_port.models import tflite_path

        if not model.startswith("mediapipe_"):
            raise ValueError(f"the tflite backend runs only the MediaPipe networks, not {model!r}")
        path = tflite_path(model.split("_")[1], spec.config.get("variant", "full"))
        return spec, TFLiteBackend(path, num_threads=threads)
    if cfg.device == "cpu" and not cfg.threads:
        cfg = BackendConfig.parse(f"{cfg}+threads={threads}")
    return spec, create_backend(spec, cfg, artifact_dir)


def measure(model: str, backend: str, batch: int = 1, iters: int = 100, warmup: int = 10, threads: int = 2,
            artifact_dir: str | None = None, max_seconds: float = 30.0) -> dict:
    """Measure one cell in this process; returns a dict of figures (or ``error``)."""
    import torch

    torch.set_num_threads(max(1, threads))
    base_rss = _rss_mb()
    res: dict = {"model": model, "backend": backend, "batch": int(batch), "threads": threads}
    t0 = time.perf_counter()
    try:
        spec, runner = _make_backend(model, backend, threads, artifact_dir)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: other cells still run
        res["error"] = f"{type(exc).__name__}: {exc}"
        return res
    res["load_s"] = round(time.perf_counter() - t0, 3)
    dims = {k: v.opt for k, v in spec.dims.items()}
    if "batch" in dims:
        dims["batch"] = int(batch)
    inputs = spec.make_inputs(dims, seed=0)
    cuda = backend.split("+")[0].endswith("cuda") or backend.startswith(("tensorrt", "trt"))
    if cuda and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        runner(inputs)
    lat = []
    start = time.perf_counter()
    for _ in range(iters):
        t = time.perf_counter()
        runner(inputs)
        lat.append(time.perf_counter() - t)
        if time.perf_counter() - start > max_seconds and len(lat) >= 10:
            break
    a = np.asarray(lat) * 1000.0
    res.update(
        iters=len(lat),
        p50_ms=round(float(np.percentile(a, 50)), 3),
        p99_ms=round(float(np.percentile(a, 99)), 3),
        mean_ms=round(float(a.mean()), 3),
        throughput_per_s=round(float(batch * len(lat) / (a.sum() / 1000.0)), 1),
        peak_rss_mb=round(_peak_rss_mb(), 1),
        model_rss_mb=round(max(0.0, _peak_rss_mb() - base_rss), 1),
    )
    if cuda and torch.cuda.is_available():
        res["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        eng = getattr(runner, "engine", None)
        if eng is not None:
            size = getattr(eng, "device_memory_size_v2", None) or getattr(eng, "device_memory_size", 0)
            res["engine_device_mb"] = round(size / 2**20, 1)
    res["version"] = spec.version
    return res


def _run_isolated(cell: dict, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "hand_models.inference.bench", "--worker", json.dumps(cell)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(cell, error=f"timed out after {timeout:.0f} s")
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return dict(cell, error=f"worker failed (rc {p.returncode}): {p.stderr.strip()[-400:]}")
    return json.loads(lines[-1])


def default_backends(models: Sequence[str]) -> list[str]:
    from . import available_backends

    out = available_backends()
    if any(m.startswith("mediapipe_") for m in models):
        out = ["tflite"] + out
    return out


def _format_table(results: list[dict]) -> str:
    head = f"{'model':22s} {'backend':22s} {'batch':>5s} {'p50 ms':>8s} {'p99 ms':>8s} {'items/s':>8s} {'model MB':>8s}"
    rows = [head, "-" * len(head)]
    for r in results:
        if "error" in r:
            rows.append(f"{r['model']:22s} {r['backend']:22s} {r['batch']:5d}  error: {r['error'][:80]}")
        else:
            rows.append(f"{r['model']:22s} {r['backend']:22s} {r['batch']:5d} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                        f"{r['throughput_per_s']:8.1f} {r['model_rss_mb']:8.1f}")
    return "\n".join(rows)


def bench_main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hand-perception bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=None, help="comma-separated registered models (default: every available one)")
    p.add_argument("--backends", default=None,
                   help="comma-separated backend strings (default: tflite for MediaPipe nets + every available backend)")
    p.add_argument("--batch", default="1", help="comma-separated batch sizes (default 1)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per backend (default 2)")
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="30 iterations, 3 warm-up: well under a minute on 2 cores")
    p.add_argument("--no-isolate", action="store_true", help="measure in this process (peak memory then accumulates)")
    p.add_argument("--artifact-dir", default=None, help="where ONNX/engines are found or exported (default: the cache)")
    p.add_argument("--out", default=None, help="also write the JSON object to this file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))

    if a.worker:  # child process: one cell
        cell = json.loads(a.worker)
        print(json.dumps(measure(**cell)))
        return 0

    from .registry import list_models

    models = a.models.split(",") if a.models else list(list_models())
    backends = a.backends.split(",") if a.backends else default_backends(models)
    batches = [int(b) for b in str(a.batch).split(",")]
    iters, warmup = (30, 3) if a.quick else (a.iters, a.warmup)
    results = []
    t0 = time.perf_counter()
    for m in models:
        for b in backends:
            if b.startswith(("tflite", "litert")) and not m.startswith("mediapipe_"):
                continue
            for n in batches:
                cell = {"model": m, "backend": b, "batch": n, "iters": iters, "warmup": warmup, "threads": a.threads,
                        "artifact_dir": a.artifact_dir, "max_seconds": 8.0 if a.quick else 60.0}
                r = measure(**cell) if a.no_isolate else _run_isolated(cell, timeout=600)
                results.append(r)
                print(_format_table([r]).splitlines()[-1], file=sys.stderr, flush=True)
    out = {
        "benchmark": "inference_backends",
        "command": "hand-perception bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "isolated": not a.no_isolate,
        "wall_s": round(time.perf_counter() - t0, 1),
        "results": results,
    }
    print(_format_table(results))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=2)
    print(json.dumps(out))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(bench_main())
