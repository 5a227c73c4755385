"""Estimator frame rate and per-stage latency on 640x480 two-hand frames, beside MediaPipe Hands
alone on the same frames in the same run.

Frames: the project's rendered two-hand scene (hand_models.render), so accuracy against exact
ground truth is reported too. Usage: python benchmarks/bench_estimator.py [--quick] [--frames N]
Targets (DESIGN.md): >= 30 frames/s and >= 0.8x MediaPipe Hands alone on this 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine  # noqa: E402

from hand_perception.core.config import PipelineConfig  # noqa: E402
from hand_perception.core.mediapipe_hands import MediaPipeHandsBaseline  # noqa: E402
from hand_perception.core.pipeline import HandPerceptionPipeline  # noqa: E402
from hand_perception.core.types import CameraIntrinsics, FrameResult, HandState  # noqa: E402
from hand_perception.run import AccuracyTracker  # noqa: E402

FPS_TARGET = 30.0
RATIO_TARGET = 0.8


def stats(values_ms: list[float]) -> dict[str, float]:
    a = np.asarray(values_ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3),
            "mean_ms": round(float(a.mean()), 3)}


def baseline_result(kps, stamp: int) -> FrameResult:
    """MediaPipe's 2D output as a FrameResult (no 3D) for the 2D accuracy figures."""
    hands = [HandState(side=k.side, track_id=k.track_id, confidence=k.score, keypoints_2d=k.keypoints,
                       keypoint_confidence=k.confidence, joints=np.full((21, 3), np.nan), wrist_position=np.zeros(3),
                       wrist_orientation_xyzw=np.array([0, 0, 0, 1.0]), mano=None, bbox=k.bbox) for k in kps]
    return FrameResult(stamp_ns=stamp, frame_id="camera", hands=hands)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 frames (under a minute)")
    parser.add_argument("--frames", type=int, default=None, help="number of frames (default 300, quick 60)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = args.frames or (60 if args.quick else 300)

    from hand_models.render import render_sequence

    t = time.perf_counter()
    frames = list(render_sequence(n, width=640, height=480, seed=args.seed))
    render_s = time.perf_counter() - t
    intr = CameraIntrinsics(K=np.asarray(frames[0].K, float), dist=np.zeros(5), width=640, height=480)

    def gt_of(frame):
        return [dict(side=h.side, joints_3d=np.asarray(h.joints_3d), keypoints_2d=np.asarray(h.keypoints_2d),
                     visibility=np.asarray(h.visibility, bool)) for h in frame.hands]

    # --- ours ---------------------------------------------------------------------------------
    pipe = HandPerceptionPipeline(PipelineConfig())
    pipe.process(frames[0].image, int(frames[0].stamp_ns) - 1, intr)  # warm-up (model load, first alloc)
    pipe.reset()
    total, stage_ms, tracker_ms = [], {}, {}
    acc_ours = AccuracyTracker()
    for f in frames:
        t = time.perf_counter()
        out = pipe.process(f.image, int(f.stamp_ns), intr)
        total.append((time.perf_counter() - t) * 1e3)
        for k, v in out.frame.stage_latency_s.items():
            stage_ms.setdefault(k, []).append(v * 1e3)
        for k, v in getattr(pipe.estimator.tracker, "last_timing_ms", {}).items():
            tracker_ms.setdefault(k, []).append(v)
        acc_ours.add(out.frame, gt_of(f))
    ours_fps = 1e3 / np.mean(total)

    # --- MediaPipe Hands alone ------------------------------------------------------------------
    base = MediaPipeHandsBaseline(max_hands=2)
    base.process(frames[0].image, int(frames[0].stamp_ns) - 1)
    base.reset()
    base_ms = []
    acc_base = AccuracyTracker()
    for f in frames:
        t = time.perf_counter()
        kps = base.process(f.image, int(f.stamp_ns))
        base_ms.append((time.perf_counter() - t) * 1e3)
        acc_base.add(baseline_result(kps, int(f.stamp_ns)), gt_of(f))
    base.close()
    base_fps = 1e3 / np.mean(base_ms)

    result = {
        "benchmark": "estimator", "quick": args.quick, "frames": n, "resolution": "640x480", **machine(),
        "render_ms_per_frame": round(render_s / n * 1e3, 2),
        "ours_fps": round(float(ours_fps), 2), "mediapipe_fps": round(float(base_fps), 2),
        "ratio_to_mediapipe": round(float(ours_fps / base_fps), 3),
        "ours_latency": stats(total), "mediapipe_latency": stats(base_ms),
        "ours_stages": {k: stats(v) for k, v in stage_ms.items()},
        "ours_keypoint_substages": {k: stats(v) for k, v in tracker_ms.items()},
        "ours_accuracy": acc_ours.summary(), "mediapipe_accuracy": acc_base.summary(),
        "fps_target": FPS_TARGET, "ratio_target": RATIO_TARGET,
        "meets_fps_target": bool(ours_fps >= FPS_TARGET), "meets_ratio_target": bool(ours_fps / base_fps >= RATIO_TARGET),
    }
    print(f"ours:      {ours_fps:6.1f} frames/s  p50 {result['ours_latency']['p50_ms']} ms  p99 {result['ours_latency']['p99_ms']} ms")
    print(f"mediapipe: {base_fps:6.1f} frames/s  p50 {result['mediapipe_latency']['p50_ms']} ms  p99 {result['mediapipe_latency']['p99_ms']} ms")
    print(f"ratio ours/mediapipe: {ours_fps / base_fps:.2f} (target >= {RATIO_TARGET}); fps target {FPS_TARGET}: "
          f"{'met' if ours_fps >= FPS_TARGET else 'NOT met'}")
    for k, v in result["ours_stages"].items():
        print(f"  stage {k:10s} p50 {v['p50_ms']:7.2f} ms  p99 {v['p99_ms']:7.2f} ms")
    print(f"accuracy ours: {result['ours_accuracy']}")
    print(f"accuracy mediapipe: {result['mediapipe_accuracy']}")
    emit(result)
    return result


if __name__ == "__main__":
    main()
