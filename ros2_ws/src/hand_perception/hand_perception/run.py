"""``hand-perception run``: the estimator over a video, an image folder, a camera or the demo scene.

Writes one JSON object per input frame to ``OUT/hands.jsonl`` (contract in README.md), annotated
output (``OUT/annotated.mp4`` for streams, ``OUT/annotated/`` for image folders), and prints a
summary: frames, hands found, accuracy against ground truth when there is one (the demo scene
has exact ground truth), frames per second and where the outputs are.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from hand_models.joints import BONES
from hand_perception.core.config import load_pipeline_config
from hand_perception.core.pipeline import HandPerceptionPipeline
from hand_perception.core.types import CameraIntrinsics, FrameResult

log = logging.getLogger("hand_perception.run")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
SIDE_COLOURS_BGR = {"left": (255, 140, 30), "right": (40, 60, 240)}


@dataclass
class InputFrame:
    """One frame to process: image (H, W, 3) uint8 RGB (or None if unreadable), its stamp, its
    intrinsics (None: default focal length), and ground-truth hands when known
    (list of dicts with side, joints_3d (21, 3) m, keypoints_2d (21, 2) px, visibility (21,))."""

    source: str | int
    image: np.ndarray | None
    stamp_ns: int
    intrinsics: CameraIntrinsics | None
    ground_truth: list[dict] | None = None
    error: str | None = None
    depth: np.ndarray | None = None  # (H, W) metres registered to image (the demo scene's rendered depth)


def parse_camera_k(text: str | None, width: int = 0, height: int = 0) -> CameraIntrinsics | None:
    """'fx,fy,cx,cy' -> intrinsics; None stays None. Raises ValueError on a malformed value."""
    if text is None:
        return None
    try:
        fx, fy, cx, cy = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise ValueError(f"--camera-k must be 'fx,fy,cx,cy' (four numbers), got {text!r}") from exc
    values = np.array([fx, fy, cx, cy])
    if not np.isfinite(values).all() or fx <= 0 or fy <= 0:
        raise ValueError(f"--camera-k needs finite values and positive focal lengths, got {text!r}")
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return CameraIntrinsics(K=K, dist=np.zeros(5), width=width, height=height)


def _read_image(path: Path) -> tuple[np.ndarray | None, str | None]:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        return None, f"cannot decode image {path.name}"
    return np.ascontiguousarray(image[..., ::-1]), None


def image_folder_frames(folder: Path, intrinsics: CameraIntrinsics | None, fps: float = 30.0) -> Iterator[InputFrame]:
    """Every image in ``folder`` (sorted by name) as a still; stamps 1/fps apart."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    for i, path in enumerate(paths):
        image, error = _read_image(path)
        yield InputFrame(path.name, image, int(i * 1e9 / fps), intrinsics, error=error)


def video_frames(source: str | int, intrinsics: CameraIntrinsics | None, live: bool = False) -> Iterator[InputFrame]:
    """Frames of a video file (stamps from its timestamps) or a camera device (wall clock)."""
    import cv2

    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise ValueError(f"cannot open {'camera' if live else 'video'} {source!r}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    index, last_stamp = 0, -1
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if live:
                stamp = time.time_ns()
            else:
                msec = cap.get(cv2.CAP_PROP_POS_MSEC)
                stamp = int(msec * 1e6) if msec > 0 else int(index * 1e9 / fps)
                if stamp <= last_stamp:  # some containers report 0 for every frame
                    stamp = int(index * 1e9 / fps)
            last_stamp = stamp
            yield InputFrame(index, np.ascontiguousarray(frame[..., ::-1]), stamp, intrinsics)
            index += 1
    finally:
        cap.release()


def ground_truth_hands(frame) -> list[dict]:
    """Ground truth of a rendered frame's hands as :class:`AccuracyTracker` reads it: ``side``,
    ``joints_3d`` (21, 3) m camera frame, ``keypoints_2d`` (21, 2) px, ``visibility`` (21,) bool."""
    return [dict(side=h.side, joints_3d=np.asarray(h.joints_3d), keypoints_2d=np.asarray(h.keypoints_2d),
                 visibility=np.asarray(h.visibility, dtype=bool)) for h in frame.hands]


def demo_scene_frames(folder: Path, num_frames: int, seed: int = 0, depth: bool = False) -> Iterator[InputFrame]:
    """The project's own rendered two-hand scene, with exact ground truth (rendered on demand);
    ``depth``: with its registered depth through the RealSense-like error model."""
    from hand_models.render import render_sequence

    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(render_sequence(num_frames, seed=seed)):
        intr = CameraIntrinsics(K=np.asarray(frame.K, dtype=np.float64), dist=np.asarray(frame.dist, dtype=np.float64),
                                width=frame.image.shape[1], height=frame.image.shape[0])
        gt = ground_truth_hands(frame)
        yield InputFrame(i, frame.image, int(frame.stamp_ns), intr, gt, depth=frame.noisy_depth() if depth else None)


def hand_to_json(hand) -> dict:
    """One hand in the JSON-lines contract (metres, camera optical frame, our joint order)."""
    mano = hand.mano
    return {
        "side": hand.side,
        "track_id": int(hand.track_id),
        "confidence": round(float(hand.confidence), 4),
        "keypoints_2d": np.round(hand.keypoints_2d, 2).tolist(),
        "joints": np.round(hand.joints, 5).tolist(),
        "wrist": {"position": np.round(hand.wrist_position, 5).tolist(),
                  "orientation_xyzw": np.round(hand.wrist_orientation_xyzw, 6).tolist()},
        "mano": None if mano is None else {
            "global_orient": np.round(mano.global_orient, 6).tolist(),
            "hand_pose": np.round(mano.hand_pose, 6).tolist(),
            "betas": np.round(mano.betas, 6).tolist(),
            "transl": np.round(mano.transl, 6).tolist(),
        },
        "bbox": np.round(hand.bbox, 2).tolist(),
        "is_observed": bool(hand.is_observed),
        "depth": _finite_or_none(hand.depth, 5),
        "depth_std": _finite_or_none(getattr(hand, "depth_std", float("nan")), 5),
        "placement_source": str(getattr(hand, "placement_source", "monocular")),
    }


def _finite_or_none(value: float, digits: int) -> float | None:
    value = float(value)
    return round(value, digits) if np.isfinite(value) else None


def draw_hands(image_rgb: np.ndarray, result: FrameResult) -> np.ndarray:
    """BGR copy of the image with each hand's skeleton, side label and depth drawn on it."""
    import cv2

    canvas = np.ascontiguousarray(image_rgb[..., ::-1])
    scale = max(1, int(round(max(canvas.shape[:2]) / 640)))
    for hand in result.hands:
        colour = SIDE_COLOURS_BGR[hand.side]
        if not hand.is_observed:
            colour = tuple(int(c * 0.5) for c in colour)
        pts = np.round(hand.keypoints_2d).astype(int)
        for a, b in BONES:
            cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), colour, 2 * scale, cv2.LINE_AA)
        for p in pts:
            cv2.circle(canvas, tuple(p), 3 * scale, (255, 255, 255), -1, cv2.LINE_AA)
        label = f"{hand.side} #{hand.track_id} {hand.depth:.2f}m"
        x1, y1 = int(hand.bbox[0]), int(hand.bbox[1])
        cv2.putText(canvas, label, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, colour, scale,
                    cv2.LINE_AA)
    return canvas


class AccuracyTracker:
    """Accumulates detection rate, 2D PCK and 3D errors against ground truth per frame."""

    def __init__(self) -> None:
        self.gt_hands = 0
        self.matched = 0
        self.side_correct = 0
        self.errors_3d: list[float] = []
        self.errors_pa: list[float] = []
        self.errors_root_rel: list[float] = []
        self.pck_hits = 0
        self.pck_total = 0

    def add(self, result: FrameResult, gt: list[dict]) -> None:
        from hand_models.geometry import pa_mpjpe
        import torch

        self.gt_hands += len(gt)
        used: set[int] = set()
        for g in gt:
            vis = g["visibility"]
            if vis.sum() < 3:
                continue
            best, best_d = None, np.inf
            for k, h in enumerate(result.hands):
                if k in used or not h.is_observed:
                    continue
                d = np.median(np.linalg.norm(h.keypoints_2d[vis] - g["keypoints_2d"][vis], axis=1))
                if d < best_d:
                    best, best_d = k, d
            size = np.ptp(g["keypoints_2d"][vis], axis=0).max()
            if best is None or best_d > 0.5 * size:
                continue
            used.add(best)
            h = result.hands[best]
            self.matched += 1
            self.side_correct += int(h.side == g["side"])
            err2d = np.linalg.norm(h.keypoints_2d[vis] - g["keypoints_2d"][vis], axis=1)
            self.pck_hits += int((err2d < 0.2 * size).sum())
            self.pck_total += int(vis.sum())
            if not np.isfinite(h.joints).all():  # 2D-only result (e.g. MediaPipe alone)
                continue
            self.errors_3d.append(float(np.linalg.norm(h.joints - g["joints_3d"], axis=1).mean()))
            rel_p, rel_g = h.joints - h.joints[:1], g["joints_3d"] - g["joints_3d"][:1]
            self.errors_root_rel.append(float(np.linalg.norm(rel_p - rel_g, axis=1).mean()))
            self.errors_pa.append(float(pa_mpjpe(torch.from_numpy(h.joints[None]), torch.from_numpy(g["joints_3d"][None]))[0]))

    def summary(self) -> dict:
        def mm(values: list[float]) -> float | None:
            return round(float(np.mean(values)) * 1000, 2) if values else None

        return {
            "gt_hands": self.gt_hands,
            "detected": self.matched,
            "detection_rate": round(self.matched / self.gt_hands, 4) if self.gt_hands else None,
            "handedness_accuracy": round(self.side_correct / self.matched, 4) if self.matched else None,
            "pck@0.2": round(self.pck_hits / self.pck_total, 4) if self.pck_total else None,
            "mpjpe_camera_mm": mm(self.errors_3d),
            "mpjpe_root_relative_mm": mm(self.errors_root_rel),
            "pa_mpjpe_mm": mm(self.errors_pa),
        }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hand-perception run", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("input", nargs="?", help="video file or image folder (default: the rendered demo scene)")
    src.add_argument("--video", help="video file")
    src.add_argument("--images", help="image folder; each image is a still (no tracking)")
    src.add_argument("--camera", type=int, help="camera device index (e.g. 0 for /dev/video0)")
    p.add_argument("--camera-k", help="intrinsics 'fx,fy,cx,cy' in pixels (default: f = max(w, h), flagged)")
    p.add_argument("--depth", help="registered depth beside the input: a folder (16-bit PNG/TIFF in --depth-scale "
                   "units, or .npy metres; one per frame in name order) or a 16-bit video")
    p.add_argument("--depth-scale", type=float, default=0.001, help="metres per unit of 16-bit depth (default 0.001)")
    p.add_argument("--demo-depth", action="store_true",
                   help="demo scene with its rendered depth (RealSense-like noise): RGB-D placement")
    p.add_argument("--config", help="pipeline YAML (see hand_perception.core.config)")
    p.add_argument("--out", default="outputs/run", help="output folder (default: outputs/run)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--demo-frames", type=int, default=90, help="frames of the demo scene (default 90)")
    p.add_argument("--no-annotate", action="store_true", help="skip the annotated video/images")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    intrinsics = parse_camera_k(args.camera_k)
    still = False
    if args.images or (args.input and Path(args.input).is_dir()):
        folder = Path(args.images or args.input)
        frames = image_folder_frames(folder, intrinsics)
        source_desc, still = f"image folder {folder}", True
    elif args.video or args.input:
        path = args.video or args.input
        if not Path(path).is_file():
            raise SystemExit(f"error: {path} is neither a file nor a folder")
        frames = video_frames(path, intrinsics)
        source_desc = f"video {path}"
    elif args.camera is not None:
        frames = video_frames(args.camera, intrinsics, live=True)
        source_desc = f"camera {args.camera}"
    else:
        frames = demo_scene_frames(out / "scene", args.demo_frames, depth=args.demo_depth)
        source_desc = (f"rendered demo scene ({args.demo_frames} frames, exact ground truth"
                       + (", RGB-D)" if args.demo_depth else ")"))
    depth_files = None
    if args.depth:
        from hand_perception.replay.depth_reader import DepthFiles

        if args.camera is not None or not (args.images or args.video or args.input):
            raise ValueError("--depth goes with a video or an image folder")
        depth_files = DepthFiles(args.depth, args.depth_scale)

    pipeline = HandPerceptionPipeline(load_pipeline_config(args.config))
    accuracy = AccuracyTracker()
    jsonl_path = out / "hands.jsonl"
    annotated_dir = out / "annotated"
    writer = None
    n_frames = n_hands = n_skipped = 0
    proc_time = 0.0
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    iterator = frames
    if tqdm is not None and not args.quiet:
        iterator = tqdm(frames, desc="hand-perception", unit="frame", total=args.max_frames or (
            args.demo_frames if source_desc.startswith("rendered") else None))
    with open(jsonl_path, "w", encoding="utf-8") as jsonl:
        for frame in iterator:
            if args.max_frames is not None and n_frames >= args.max_frames:
                break
            n_frames += 1
            record = {"source": frame.source, "stamp_ns": int(frame.stamp_ns), "hands": []}
            if frame.image is None:
                n_skipped += 1
                record["error"] = frame.error
                log.warning("skipping %s: %s", frame.source, frame.error)
                jsonl.write(json.dumps(record) + "\n")
                continue
            depth = frame.depth
            if depth_files is not None:
                depth, problem = depth_files.get(n_frames - 1, frame.image.shape[1], frame.image.shape[0])
                if problem:
                    record["depth_error"] = problem
                    log.warning("%s: no depth (%s); monocular", frame.source, problem)
            t = time.perf_counter()
            try:
                if still:
                    result = pipeline.estimator.process(frame.image, frame.stamp_ns, frame.intrinsics or intrinsics,
                                                        still=True, depth=depth)
                else:
                    result = pipeline.process(frame.image, frame.stamp_ns, frame.intrinsics or intrinsics,
                                              depth=depth).frame
            except (ValueError, TypeError) as exc:
                n_skipped += 1
                record["error"] = str(exc)
                log.warning("skipping %s: %s", frame.source, exc)
                jsonl.write(json.dumps(record) + "\n")
                continue
            proc_time += time.perf_counter() - t
            n_hands += len(result.hands)
            record["hands"] = [hand_to_json(h) for h in result.hands]
            if result.intrinsics_default:
                record["intrinsics_default"] = True
            jsonl.write(json.dumps(record) + "\n")
            if frame.ground_truth is not None:
                accuracy.add(result, frame.ground_truth)
            if not args.no_annotate:
                canvas = draw_hands(frame.image, result)
                if still:
                    import cv2

                    annotated_dir.mkdir(exist_ok=True)
                    cv2.imwrite(str(annotated_dir / f"{Path(str(frame.source)).stem}.jpg"), canvas)
                else:
                    writer = writer or _video_writer(out / "annotated.mp4", canvas.shape, 30.0)
                    writer.write(canvas)
    if writer is not None:
        writer.release()
    processed = n_frames - n_skipped
    summary = {
        "source": source_desc,
        "frames": n_frames,
        "frames_skipped": n_skipped,
        "hands_found": n_hands,
        "frames_per_second": round(processed / proc_time, 2) if proc_time > 0 else None,
        "outputs": {"jsonl": str(jsonl_path)} | ({} if args.no_annotate else {
            "annotated": str(annotated_dir if still else out / "annotated.mp4")}),
    }
    if depth_files is not None:
        summary["depth"] = depth_files.status.as_dict()
        depth_files.close()
    if accuracy.gt_hands:
        summary["accuracy"] = accuracy.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary)
    return summary


def _video_writer(path: Path, shape: tuple[int, ...], fps: float):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (shape[1], shape[0]))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write video {path}")
    return writer


def _print_summary(summary: dict) -> None:
    print(f"\nsource:       {summary['source']}")
    print(f"frames:       {summary['frames']} ({summary['frames_skipped']} skipped)")
    print(f"hands found:  {summary['hands_found']}")
    print(f"frames/s:     {summary['frames_per_second']} (estimator incl. forecaster, this CPU)")
    acc = summary.get("accuracy")
    if acc:
        print(f"accuracy:     detection {acc['detection_rate']}, handedness {acc['handedness_accuracy']}, "
              f"PCK@0.2 {acc['pck@0.2']}, MPJPE {acc['mpjpe_camera_mm']} mm (camera frame), "
              f"{acc['mpjpe_root_relative_mm']} mm (root-relative), PA-MPJPE {acc['pa_mpjpe_mm']} mm")
    for name, path in summary["outputs"].items():
        print(f"{name + ':':13s} {path}")


def main(argv: list[str] | None = None) -> int:
    try:
        run(argv)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
