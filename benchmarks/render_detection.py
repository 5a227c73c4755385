"""How often MediaPipe Hands detects the synthetic renders, and how fast the renderer is.

Renders frames from several synthetic sequences (hand_models.render), runs
``mediapipe.solutions.hands.Hands(static_image_mode=True, max_num_hands=2)`` on each, and matches
detections to the ground-truth hands (protocol in hand_models.render.evaluate): detection rate
(PCK@0.2 > 0.5 counts as detected), PCK@0.2 of the detected hands, handedness agreement raw and
with MediaPipe's selfie label flipped, false positives, and the breakdown by side, palm/back
facing and hand size in the image. Also reports the render time per 640x480 two-hand frame.

Usage: python benchmarks/render_detection.py [--quick] [--frames N] [--sequences S] [--save DIR]
Prints a table, then a JSON object with the figures as its last line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="24 frames (under a minute)")
    parser.add_argument("--frames", type=int, default=None, help="frames in all (default 60, quick 24)")
    parser.add_argument("--sequences", type=int, default=None,
                        help="sequences the frames are spread over (default frames / 3)")
    parser.add_argument("--seed", type=int, default=0, help="first sequence seed")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--save", type=str, default=None, help="write annotated frames here")
    args = parser.parse_args(argv)
    # the procedural model is generated on first use; keep it out of the home folder if unset
    os.environ.setdefault("HAND_PERCEPTION_CACHE", os.path.join(tempfile.gettempdir(), "hand_perception_cache"))

    from hand_models.render import render_sequence
    from hand_models.render.evaluate import DetectionStats, MediaPipeHands, evaluate_frame

    n_frames = args.frames or (24 if args.quick else 60)
    n_seq = args.sequences or max(1, n_frames // 3)
    per_seq = int(np.ceil(n_frames / n_seq))
    seq_len = 150  # 5 s at 30 fps; frames are spread over it
    stats = DetectionStats()
    render_ms = []
    init_ms = []
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    # render first (timed alone), then detect
    frames = []
    for s in range(n_seq):
        t = time.perf_counter()
        seq = render_sequence(seq_len, args.width, args.height, seed=args.seed + s)
        init_ms.append((time.perf_counter() - t) * 1e3)
        for i in np.linspace(0, seq_len - 1, per_seq).round().astype(int):
            if len(frames) >= n_frames:
                break
            t = time.perf_counter()
            frames.append((args.seed + s, seq[int(i)]))
            render_ms.append((time.perf_counter() - t) * 1e3)
    detector = MediaPipeHands()
    for s, frame in frames:
        t = time.perf_counter()
        dets = detector(frame.image)
        stats.detector_ms.append((time.perf_counter() - t) * 1e3)
        matches = evaluate_frame(stats, frame, dets, groups=("side", "facing", "size", "gesture"))
        if save:
            _save(save / f"seq{s:03d}_frame{frame.index:04d}.png", frame, dets, matches)
    detector.close()
    summary = stats.summary()
    r = np.array(render_ms[1:] if len(render_ms) > 1 else render_ms)  # first frame warms caches up
    result = {
        "benchmark": "render_detection",
        "quick": bool(args.quick),
        "resolution": [args.width, args.height],
        "sequences": n_seq,
        "render_ms_mean": float(r.mean()),
        "render_ms_p50": float(np.percentile(r, 50)),
        "render_ms_p90": float(np.percentile(r, 90)),
        "sequence_init_ms_mean": float(np.mean(init_ms)),
        **{k: v for k, v in summary.items() if k != "groups"},
        "groups": summary["groups"],
        "machine": machine(),
    }
    print(f"frames {summary['frames']}, GT hands {summary['gt_hands']}, render {result['render_ms_mean']:.1f} ms/frame "
          f"(p90 {result['render_ms_p90']:.1f})")
    print(f"MediaPipe detection rate {summary['detection_rate']:.3f}, "
          f"PCK@0.2 of detected {summary['pck02_detected']:.3f}, "
          f"handedness raw {summary['handedness_raw']:.3f} / flipped {summary['handedness_flipped']:.3f}, "
          f"false positives {summary['false_positives']}")
    for k, v in summary["groups"].items():
        print(f"  {k:28s} n={v['gt']:4d}  detected {v['detection_rate']:.3f}  "
              f"handedness (flipped) {v['handedness_flipped']:.3f}")
    emit(result)
    return result


def _save(path: Path, frame, dets, matches) -> None:
    import cv2

    from hand_models.joints import BONES

    img = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
    for h in frame.hands:
        for a, b in BONES:
            pa, pb = h.keypoints_2d[a].astype(int), h.keypoints_2d[b].astype(int)
            cv2.line(img, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), (0, 200, 0), 1)
    for d in dets:
        for a, b in BONES:
            cv2.line(img, tuple(int(x) for x in d.keypoints[a]), tuple(int(x) for x in d.keypoints[b]), (0, 0, 255), 1)
    label = f"gt {len(frame.hands)} det {len(dets)} matched {len(matches)}"
    cv2.putText(img, label, (5, 20), 0, 0.6, (255, 255, 255), 2)
    cv2.imwrite(str(path), img)


if __name__ == "__main__":
    main()
