"""Replay speed: ``hand-perception replay`` over a 30 Hz rosbag2 (mcap) of 640x480 two-hand frames.

The bag is made the way users make one (``make-bag`` from a rendered sequence: sensor_msgs/Image
rgb8 + CameraInfo, or CompressedImage JPEG with ``--compressed``); the replay runs the default
pipeline over every frame, writes the output bag (hands, markers, TF, forecasts, actions) and the
metrics against the sequence's exact ground truth. ``realtime_factor`` = stream seconds per second
of processing (model loading excluded); DESIGN.md's target: faster than real time (> 1) on CPU.

Usage: python benchmarks/bench_replay.py [--quick] [--frames N] [--compressed]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine  # noqa: E402

TARGET_REALTIME_FACTOR = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 frames (under a minute)")
    parser.add_argument("--frames", type=int, default=None, help="number of frames (default 300, quick 60)")
    parser.add_argument("--compressed", action="store_true", help="JPEG CompressedImage input instead of raw rgb8")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = args.frames or (60 if args.quick else 300)

    from hand_models.render import write_sequence
    from hand_perception.replay.cli import make_bag, run_replay

    with tempfile.TemporaryDirectory(prefix="bench_replay_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        gt_json = write_sequence(tmp / "frames", num_frames=n, width=640, height=480, fps=30.0, seed=args.seed)
        render_s = time.perf_counter() - t
        t = time.perf_counter()
        made = make_bag(tmp / "frames", tmp / "input", compressed=args.compressed, progress=False)
        make_bag_s = time.perf_counter() - t
        bag_mb = sum(f.stat().st_size for f in (tmp / "input").rglob("*") if f.is_file()) / 2**20
        result = run_replay(tmp / "input", tmp / "output.mcap", tmp / "report", gt=gt_json, progress=False)
        s = result.summary()
        out_mb = sum(f.stat().st_size for f in (tmp / "output").rglob("*") if f.is_file()) / 2**20

    rtf = s["realtime_factor"] or 0.0
    res = {
        "benchmark": "replay", "quick": args.quick, "frames": n, "resolution": "640x480", "fps": 30.0,
        "input": "CompressedImage (JPEG)" if args.compressed else "Image rgb8", **machine(),
        "input_bag_mb": round(bag_mb, 1), "output_bag_mb": round(out_mb, 2),
        "render_s": round(render_s, 1), "make_bag_s": round(make_bag_s, 2),
        "frames_processed": s["frames_processed"], "frames_skipped": s["frames_skipped"],
        "realtime_factor": rtf, "replay_wall_s": s["wall_s"],
        "latency_p50_ms": s["latency_p50_ms"], "latency_p99_ms": s["latency_p99_ms"],
        "output_counts": s["output_counts"], "detection_rate": s.get("detection_rate"),
        "mpjpe_mm": s.get("mpjpe_mm"), "pa_mpjpe_mm": s.get("pa_mpjpe_mm"),
        "target_realtime_factor": TARGET_REALTIME_FACTOR, "meets_target": bool(rtf > TARGET_REALTIME_FACTOR),
        "made_bag_frames": made["frames"],
    }
    print(f"replay of {n} frames at 30 Hz ({res['input']}, {bag_mb:.0f} MB bag): {rtf:.2f}x real time "
          f"(target > {TARGET_REALTIME_FACTOR}); per frame p50 {s['latency_p50_ms']} ms, p99 {s['latency_p99_ms']} ms; "
          f"outputs {s['output_counts']}")
    emit(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
