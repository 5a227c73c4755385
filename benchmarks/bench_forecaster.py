"""Speed of the hand_forecaster's forecasting work on CPU with a learned checkpoint configured:
every frame observed at 30 fps, ``forecast()`` at ``forecast.rate_hz`` of stream time (what
``hand_forecaster`` publishes on ``hands/forecast``), optionally with the action recogniser.

    python benchmarks/bench_forecaster.py --model ghtt_pa --checkpoint outputs/ghtt_fpha/ghtt.pt \\
        [--recognizer CKPT] [--threads 1] [--seconds 10] [--rate-hz 10] [--data ../shared/data]

Input: real F-PHAB test-half motion from ``--data`` when present (played back to back), else a
synthetic moving hand. Prints a table, then a JSON last line: ``tick_ms_mean`` / ``tick_ms_p95``
(observe + forecast [+ actions] of a publishing frame), ``observe_ms_mean`` (other frames),
``max_rate_hz`` = 1000 / p95 tick (wall clock), ``max_rate_hz_cpu_time`` the same from the
process's CPU time (what the rate would be on an otherwise idle core; ``load_average_1min`` says
how busy the machine was), ``realtime_factor`` = stream seconds / wall seconds of the whole
run (>= 1: keeps up with 30 fps input while publishing at ``rate_hz``), ``published`` forecasts and
the forecast's model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def _stream(data: Path, seconds: float, fps: float = 30.0) -> np.ndarray:
    """(N, 21, 3) right-hand joints at 30 fps: FPHA test-half sequences back to back, or synthetic."""
    n = int(seconds * fps)
    try:
        from hand_training.forecasting.fpha_split import load_half

        seqs = [s.joints[:, 1] for s in load_half(data, "test").sequences]
        seqs = [j[np.isfinite(j).all((1, 2))] for j in seqs]
        if seqs:
            out = np.concatenate(seqs)
            while len(out) < n:
                out = np.concatenate([out, out])
            return out[:n]
    except (OSError, ValueError) as exc:
        print(f"note: no FPHA test half under {data} ({exc}); timing on a synthetic stream", file=sys.stderr)
    from hand_models.networks.ghtt.representation import template_joints

    t = np.arange(n)[:, None, None] / fps
    return template_joints("right")[None] + np.concatenate([0.1 * np.sin(t), 0.05 * np.cos(2 * t), 0.5 + 0 * t], -1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="ghtt_pa", help="constant_velocity, ghtt_pa, ghtt_pb, diffusion")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--recognizer", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate-hz", type=float, default=10.0)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--data", default=os.environ.get("HAND_PERCEPTION_SHARED_DATA", str(REPO.parent / "shared" / "data")))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from hand_perception.core.config import pipeline_config_from_dict
    from hand_perception.core.learned_forecasting import hand_state_from_joints
    from hand_perception.core.pipeline import build_forecaster

    section = {"model": args.model, "rate_hz": args.rate_hz, "num_samples": args.samples}
    if args.checkpoint:
        section["checkpoint"] = args.checkpoint
    if args.recognizer:
        section.update(recognizer=args.recognizer, recognizer_taxonomy="fpha")
    try:
        fc = build_forecaster(pipeline_config_from_dict({"forecast": section}))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    joints = _stream(Path(args.data), args.seconds)
    fps = 30.0
    tick_ms, tick_cpu_ms, obs_ms, published, model = [], [], [], 0, None
    next_tick = 0.0
    wall0 = time.perf_counter()
    for i, j in enumerate(joints):
        t = i / fps
        t0, c0 = time.perf_counter(), time.process_time()
        fc.observe(int(t * 1e9) + 1, "cam", [hand_state_from_joints("right", j, track_id=1)])
        if t + 1e-9 >= next_tick:
            next_tick += 1.0 / args.rate_hz
            out = fc.forecast()
            fc.actions()
            if out is not None:
                published += 1
                model = getattr(out, "model", model)
            tick_ms.append((time.perf_counter() - t0) * 1e3)
            tick_cpu_ms.append((time.process_time() - c0) * 1e3)
        else:
            obs_ms.append((time.perf_counter() - t0) * 1e3)
    wall = time.perf_counter() - wall0
    tick = np.array(tick_ms[3:] or tick_ms)
    res = {"model": args.model, "checkpoint": args.checkpoint, "forecaster": type(getattr(fc, "forecaster", fc)).__name__,
           "recognizer": bool(args.recognizer), "threads": args.threads, "samples": args.samples,
           "rate_hz": args.rate_hz, "stream_s": round(len(joints) / fps, 2), "published": published,
           "tick_ms_mean": round(float(tick.mean()), 2), "tick_ms_p95": round(float(np.percentile(tick, 95)), 2),
           "observe_ms_mean": round(float(np.mean(obs_ms)), 3) if obs_ms else None,
           "max_rate_hz": round(1000.0 / float(np.percentile(tick, 95)), 1),
           "tick_cpu_ms_mean": round(float(np.mean(tick_cpu_ms[3:] or tick_cpu_ms)), 2),
           "max_rate_hz_cpu_time": round(1000.0 / float(np.percentile(tick_cpu_ms[3:] or tick_cpu_ms, 95)), 1),
           "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
           "realtime_factor": round(len(joints) / fps / wall, 2)}
    for k, v in res.items():
        print(f"{k:>18}: {v}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
