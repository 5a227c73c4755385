"""``hand-perception replay`` and ``hand-perception make-bag`` (wired in ``hand_perception.cli``).

replay::

    hand-perception replay IN --out OUT.mcap [--gt GT.json|GT.npz | --gt-topic /hands_gt]
                              [--report DIR] [--config pipeline.yaml] [--image-topic T] ...

``IN`` is a rosbag2 (folder, ``.mcap`` or ``.db3``), a video file or an image folder. Every frame
goes through the same core as the nodes (``HandPerceptionPipeline``: estimator, temporal stage,
forecaster at its configured rate), in order, with nothing dropped, so a replay is deterministic
(the measured latency aside: ``--no-latency`` writes 0 into ``HandArray.processing_latency`` for
byte-identical bags). The output rosbag2 mcap holds ``hands``, ``hands/markers``, ``/tf``,
``hands/forecast`` and ``hands/action`` stamped like the input images (``--copy-inputs`` adds the
input image and camera_info topics), ready for ``ros2 bag play``. Bad or truncated input
messages are counted, reported and skipped. With ``--report`` a folder gets ``metrics.json`` and
plots; ground truth adds accuracy metrics (formats in :mod:`hand_perception.replay.evaluate`).
An image folder written by ``hand_models.render.write_sequence`` brings its own
``ground_truth.json``, camera and frame rate, used unless given otherwise.

make-bag::

    hand-perception make-bag IN --out OUT [--intrinsics fx,fy,cx,cy|camera.yaml] [--fps 30]
                                [--compressed] [--encoding rgb8|bgr8|mono8]

turns a video or an image folder into a rosbag2 mcap with ``sensor_msgs/Image`` (or
``CompressedImage``) and ``sensor_msgs/CameraInfo``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hand_perception.core.node_logic import StampMonitor
from hand_perception.replay.readers import (
    DEFAULT_START_NS,
    BagSource,
    FolderSource,
    VideoSource,
    is_bag,
    open_source,
    parse_intrinsics,
    read_hand_arrays,
)

log = logging.getLogger("hand_perception.replay")


@dataclass
class ReplayResult:
    """What a replay did: counts, the input report, output paths, metrics."""

    frames_processed: int = 0
    frames_skipped: int = 0
    duplicates: int = 0
    stamp_resets: int = 0
    processing_errors: int = 0
    output_bag: str | None = None
    output_counts: dict[str, int] = field(default_factory=dict)
    input_report: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    report_files: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    loop_s: float = 0.0
    stream_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = self.metrics.get("latency", {})
        out = {
            "frames_processed": self.frames_processed,
            "frames_skipped": self.frames_skipped,
            "bad_input_messages": self.input_report.get("bad_frames", 0),
            "bad_by_reason": self.input_report.get("bad_by_reason", {}),
            "input_truncated": self.input_report.get("truncated", False),
            "duplicates": self.duplicates,
            "stamp_resets": self.stamp_resets,
            "processing_errors": self.processing_errors,
            "output_bag": self.output_bag,
            "output_counts": self.output_counts,
            "latency_p50_ms": lat.get("p50_ms"),
            "latency_p99_ms": lat.get("p99_ms"),
            "wall_s": round(self.wall_s, 3),
            # stream seconds per second of processing (model loading excluded); > 1 = faster than real time
            "realtime_factor": round(self.stream_s / self.loop_s, 3) if self.loop_s > 0 and self.stream_s > 0 else None,
        }
        pose = self.metrics.get("pose", {})
        for key in ("mpjpe_mm", "pa_mpjpe_mm", "mpjpe_ra_mm"):
            if key in pose:
                out[key] = round(pose[key], 2)
        if "detection" in self.metrics:
            out["detection_rate"] = self.metrics["detection"].get("rate")
        if self.report_files:
            out["report"] = str(Path(self.report_files[0]).parent)
        return out


def _make_pipeline(config_path: str | None) -> Any:
    from hand_perception.core.config import load_pipeline_config
    from hand_perception.core.pipeline import HandPerceptionPipeline

    return HandPerceptionPipeline(load_pipeline_config(config_path))


def run_replay(
    source_path: str | Path,
    out: str | Path | None = None,
    report_dir: str | Path | None = None,
    *,
    pipeline: Any = None,
    config_path: str | None = None,
    gt: str | Path | None = None,
    gt_topic: str | None = None,
    gt_bag: str | Path | None = None,
    gt_match: str = "auto",
    image_topic: str | None = None,
    camera_info_topic: str | None = None,
    camera_info_mode: str = "cache",
    slop_s: float = 0.02,
    intrinsics: str | None = None,
    fps: float | None = None,
    start_ns: int = DEFAULT_START_NS,
    frame_id: str = "camera",
    namespace: str = "",
    markers: bool = True,
    tf: bool = True,
    tf_prefix: str = "hand_",
    copy_inputs: bool = False,
    max_frames: int | None = None,
    overwrite: bool = False,
    record_latency: bool = True,
    progress: bool = True,
    depth_topic: str | None = None,
    depth: str | Path | None = None,
    depth_scale: float = 0.001,
    depth_max_age_s: float = 0.02,
) -> ReplayResult:
    """Run the pipeline over a source; see the module docstring. Returns a :class:`ReplayResult`.

    RGB-D: ``depth_topic`` (a bag's registered depth topic, paired by stamp within
    ``depth_max_age_s``) or ``depth`` (a folder / 16-bit video beside a video or image folder,
    paired by index); 16-bit depth is in ``depth_scale`` metres. Frames without usable depth run
    monocular; the counts are in the input report (``depth_*``)."""
    from tqdm import tqdm

    from hand_perception.core.conversions import RosbagsTypes
    from hand_perception.replay.evaluate import Evaluator, GroundTruth
    from hand_perception.replay.report import write_metrics, write_report
    from hand_perception.replay.writer import ReplayBagWriter

    t_start = time.perf_counter()
    types = RosbagsTypes()
    intr = parse_intrinsics(intrinsics) if intrinsics else None
    source = open_source(source_path, image_topic=image_topic, camera_info_topic=camera_info_topic,
                         intrinsics=intr, fps=fps, start_ns=start_ns, frame_id=frame_id,
                         camera_info_mode=camera_info_mode, slop_s=slop_s, types=types, depth_topic=depth_topic,
                         depth_scale=depth_scale, depth_max_age_s=depth_max_age_s)
    depth_files = None
    if depth is not None:
        from hand_perception.replay.depth_reader import DepthFiles

        if isinstance(source, BagSource):
            raise ValueError("--depth is for videos and image folders; a bag's depth comes from --depth-topic")
        depth_files = DepthFiles(depth, depth_scale, source.report.depth)

    truth = None
    if gt_topic:
        bag = gt_bag or source_path
        truth = GroundTruth.from_frame_results(read_hand_arrays(bag, gt_topic, types, source.report),
                                               source=f"{bag}:{gt_topic}")
    elif gt:
        truth = GroundTruth.load(gt)
    elif isinstance(source, FolderSource) and (Path(source_path) / "ground_truth.json").is_file():
        truth = GroundTruth.load(Path(source_path) / "ground_truth.json")
        log.info("using the folder's ground_truth.json")
    evaluator = Evaluator(gt=truth, match=gt_match)
    if truth is not None and isinstance(source, FolderSource):
        evaluator.set_mode_from([], [p.name for p in source.files[:20]])

    if pipeline is None:
        pipeline = _make_pipeline(config_path)
    forecast_model = ""
    cfg = getattr(pipeline, "config", None)
    if cfg is not None and getattr(cfg, "forecast", None) is not None:
        forecast_model = str(getattr(cfg.forecast, "model", ""))

    writer = None
    if out is not None:
        writer = ReplayBagWriter(out, types=types, namespace=namespace, markers=markers, tf=tf,
                                 tf_prefix=tf_prefix, overwrite=overwrite, forecast_model=forecast_model)
    result = ReplayResult(output_bag=str(writer.path) if writer else None)
    stamps = StampMonitor()
    first_stamp = last_stamp = None
    total = len(source) or None
    if max_frames is not None and total is not None:
        total = min(total, max_frames)
    t_loop = time.perf_counter()
    try:
        bar = tqdm(total=total, unit="frame", desc="replay", disable=not progress, dynamic_ncols=True)
        seen = 0
        for frame in source:
            if max_frames is not None and seen >= max_frames:
                break
            seen += 1
            bar.update(1)
            if frame.image is None:
                result.frames_skipped += 1
                continue
            order = stamps.check(frame.stamp_ns)
            if order == "repeat":
                result.duplicates += 1
                result.frames_skipped += 1
                continue
            if order == "backwards":
                result.stamp_resets += 1
                log.warning("stamp %d went backwards: pipeline reset", frame.stamp_ns)
                pipeline.reset()
            frame_depth = frame.depth
            if depth_files is not None:
                frame_depth, _ = depth_files.get(frame.index, frame.image.shape[1], frame.image.shape[0])
            t0 = time.perf_counter()
            try:
                extra = {"depth": frame_depth} if frame_depth is not None else {}  # any pipeline-like object
                output = pipeline.process(frame.image, frame.stamp_ns, frame.intrinsics,
                                          frame_id=frame.frame_id, color_order="rgb", **extra)
            except (ValueError, TypeError) as exc:
                result.processing_errors += 1
                result.frames_skipped += 1
                source.report.add_error("process", f"frame {frame.index}: {exc}")
                continue
            latency = time.perf_counter() - t0
            output.frame.latency_s = latency if record_latency else 0.0
            result.frames_processed += 1
            first_stamp = frame.stamp_ns if first_stamp is None else first_stamp
            last_stamp = frame.stamp_ns
            evaluator.add(frame.index, frame.stamp_ns, output.frame, latency, frame.name)
            evaluator.add_forecast(output.forecast)
            if writer is not None:
                writer.write_frame(output.frame)
                if output.forecast is not None:
                    writer.write_forecast(output.forecast)
                if output.actions:
                    writer.write_actions(output.actions)
        bar.close()
        result.loop_s = time.perf_counter() - t_loop
        if writer is not None and copy_inputs and isinstance(source, BagSource):
            topics = {source.image_topic} | ({source.camera_info_topic} if source.camera_info_topic else set())
            for raw in source.bag.messages(topics):
                writer.copy_message(raw.topic, raw.msgtype, raw.log_time_ns, raw.data)
    finally:
        if writer is not None:
            writer.close()
    result.output_counts = dict(writer.counts) if writer else {}
    result.input_report = source.report.to_dict()
    metrics, series = evaluator.compute()
    result.wall_s = time.perf_counter() - t_start
    if first_stamp is not None and last_stamp is not None and last_stamp > first_stamp:
        result.stream_s = (last_stamp - first_stamp) / 1e9
    metrics["input"] = result.input_report
    metrics["replay"] = {k: v for k, v in result.summary().items() if k not in ("bad_by_reason",)}
    info = getattr(pipeline, "model_info", None)
    if callable(info):
        metrics["models"] = info()
    result.metrics = metrics
    if report_dir is not None:
        result.report_files = [str(p) for p in write_report(metrics, series, report_dir)]
    elif writer is not None:
        # keep the numbers next to the bag even without a report folder
        write_metrics(metrics, Path(writer.path) / "replay_metrics.json")
    return result


# =========================================================================== argument parsing


def build_replay_parser(prog: str = "hand-perception replay") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run hand perception over a rosbag2, video or image folder; "
                                "write a rosbag2 mcap with the node outputs and an evaluation report.")
    p.add_argument("input", help="rosbag2 folder / .mcap / .db3, video file, or image folder")
    p.add_argument("--out", help="output rosbag2 (a folder; OUT.mcap writes the folder OUT)")
    p.add_argument("--report", help="report folder: metrics.json and plots")
    p.add_argument("--gt", help="ground truth JSON (hand_models.render ground_truth.json format) or NPZ")
    p.add_argument("--gt-topic", help="ground-truth HandArray topic (in the input bag or --gt-bag)")
    p.add_argument("--gt-bag", help="bag holding --gt-topic (default: the input bag)")
    p.add_argument("--gt-match", choices=("auto", "stamp", "index", "name"), default="auto",
                   help="how frames are matched to ground truth (default: auto)")
    p.add_argument("--config", help="pipeline YAML (hand_perception.core.config); default: built-in")
    p.add_argument("--image-topic", help="image topic in the bag (default: the only Image/CompressedImage topic)")
    p.add_argument("--camera-info-topic", help="CameraInfo topic (default: camera_info next to the image topic)")
    p.add_argument("--camera-info-mode", choices=("cache", "sync"), default="cache")
    p.add_argument("--slop", type=float, default=0.02, help="sync mode: largest image/CameraInfo stamp gap (s)")
    p.add_argument("--depth-topic", help="registered depth topic of the bag (16UC1/32FC1, e.g. "
                   "/camera/aligned_depth_to_color/image_raw), paired with the images by stamp")
    p.add_argument("--depth", help="depth folder (16-bit PNG/TIFF, .npy) or 16-bit video beside a video / image folder")
    p.add_argument("--depth-scale", type=float, default=0.001, help="metres per unit of 16-bit depth (default 0.001)")
    p.add_argument("--depth-max-age", type=float, default=0.02,
                   help="largest colour/depth stamp gap (s) for pairing (default 0.02)")
    p.add_argument("--intrinsics", help="'fx,fy,cx,cy' or a camera YAML/JSON; overrides camera_info")
    p.add_argument("--fps", type=float, help="frame rate of a video / image folder (default: its own, else 30)")
    p.add_argument("--start-time", type=float, default=DEFAULT_START_NS / 1e9,
                   help="first stamp (s) of a video / image folder (default: %(default).0f)")
    p.add_argument("--frame-id", default="camera", help="frame_id of a video / image folder (default: camera)")
    p.add_argument("--namespace", default="", help="namespace of the output topics")
    p.add_argument("--no-markers", action="store_true", help="do not write hands/markers")
    p.add_argument("--no-tf", action="store_true", help="do not write /tf wrist frames")
    p.add_argument("--tf-prefix", default="hand_")
    p.add_argument("--copy-inputs", action="store_true", help="copy the input image/camera_info topics into the output")
    p.add_argument("--max-frames", type=int, help="stop after this many input frames")
    p.add_argument("--no-latency", action="store_true", help="write 0 as processing_latency (byte-identical bags)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output bag")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def replay_main(argv: Sequence[str] | None = None) -> int:
    parser = build_replay_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.out and not args.report:
        parser.error("give --out (output bag) and/or --report (metrics folder)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run_replay(
            args.input, args.out, args.report, config_path=args.config, gt=args.gt, gt_topic=args.gt_topic,
            gt_bag=args.gt_bag, gt_match=args.gt_match, image_topic=args.image_topic,
            camera_info_topic=args.camera_info_topic, camera_info_mode=args.camera_info_mode, slop_s=args.slop,
            intrinsics=args.intrinsics, fps=args.fps, start_ns=int(round(args.start_time * 1e9)),
            frame_id=args.frame_id, namespace=args.namespace, markers=not args.no_markers, tf=not args.no_tf,
            tf_prefix=args.tf_prefix, copy_inputs=args.copy_inputs, max_frames=args.max_frames,
            overwrite=args.overwrite, record_latency=not args.no_latency, progress=not args.quiet,
            depth_topic=args.depth_topic, depth=args.depth, depth_scale=args.depth_scale,
            depth_max_age_s=args.depth_max_age,
        )
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"hand-perception replay: error: {exc}", file=sys.stderr)
        return 1
    s = result.summary()
    rep = result.input_report
    print(f"replayed {s['frames_processed']} frames ({s['frames_skipped']} skipped) in {s['wall_s']:.1f} s")
    if rep.get("bad_frames") or rep.get("truncated"):
        print(f"input problems: {rep.get('bad_by_reason')}; truncated={rep.get('truncated')} {rep.get('recovery', '')}")
    if result.output_bag:
        print(f"output bag: {result.output_bag} ({sum(result.output_counts.values())} messages: {result.output_counts})")
    if result.report_files:
        print(f"report: {Path(result.report_files[0]).parent}")
    print(json.dumps(s))
    return 0


#: make-bag's topics: the launch files' defaults, so ``ros2 launch hand_perception full.launch.py
#: bag:=OUT`` plays a made bag into the nodes without topic arguments
DEFAULT_IMAGE_TOPIC = "/image_raw"
DEFAULT_CAMERA_INFO_TOPIC = "/camera_info"
#: make-bag's depth topic: realsense2_camera's registered depth (relative to its namespace)
DEFAULT_DEPTH_TOPIC = "/aligned_depth_to_color/image_raw"


def build_make_bag_parser(prog: str = "hand-perception make-bag") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Turn a video or image folder into a rosbag2 mcap with "
                                "sensor_msgs/Image (or CompressedImage) and sensor_msgs/CameraInfo.")
    p.add_argument("input", help="video file or image folder")
    p.add_argument("--out", required=True, help="output rosbag2 folder (OUT.mcap writes the folder OUT)")
    p.add_argument("--intrinsics", help="'fx,fy,cx,cy' or a camera YAML/JSON (a renderer folder brings its own)")
    p.add_argument("--fps", type=float, help="frame rate (default: the video's / renderer's, else 30)")
    p.add_argument("--start-time", type=float, default=DEFAULT_START_NS / 1e9, help="first stamp in seconds")
    p.add_argument("--frame-id", default="camera", help="header.frame_id (the camera's optical frame)")
    p.add_argument("--image-topic", default=DEFAULT_IMAGE_TOPIC,
                   help=f"default {DEFAULT_IMAGE_TOPIC}, as full.launch.py's image_topic (and v4l2_camera / usb_cam)")
    p.add_argument("--camera-info-topic", default=DEFAULT_CAMERA_INFO_TOPIC,
                   help=f"default {DEFAULT_CAMERA_INFO_TOPIC}, as full.launch.py's camera_info_topic")
    p.add_argument("--encoding", default="rgb8", choices=("rgb8", "bgr8", "mono8", "rgba8", "bgra8", "yuv422", "yuv422_yuy2"))
    p.add_argument("--compressed", action="store_true", help="write CompressedImage (JPEG) on <image-topic>/compressed")
    p.add_argument("--jpeg-quality", type=int, default=90)
    p.add_argument("--max-frames", type=int)
    p.add_argument("--depth", help="depth folder (16-bit PNG/TIFF, .npy) or 16-bit video beside the input, "
                   "written as a registered depth topic (a renderer folder's depth/ is used by default)")
    p.add_argument("--depth-topic", default=DEFAULT_DEPTH_TOPIC, help=f"default {DEFAULT_DEPTH_TOPIC}")
    p.add_argument("--depth-encoding", default="16UC1", choices=("16UC1", "32FC1"))
    p.add_argument("--depth-scale", type=float, default=0.001, help="metres per unit of 16-bit depth (default 0.001)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    return p


def make_bag(source_path: str | Path, out: str | Path, *, intrinsics: str | None = None, fps: float | None = None,
             start_ns: int = DEFAULT_START_NS, frame_id: str = "camera", image_topic: str = DEFAULT_IMAGE_TOPIC,
             camera_info_topic: str = DEFAULT_CAMERA_INFO_TOPIC, encoding: str = "rgb8", compressed: bool = False,
             jpeg_quality: int = 90, max_frames: int | None = None, overwrite: bool = False,
             progress: bool = True, depth: str | Path | None = None, depth_topic: str = DEFAULT_DEPTH_TOPIC,
             depth_encoding: str = "16UC1", depth_scale: float = 0.001) -> dict[str, Any]:
    """Video / image folder -> rosbag2 mcap. Returns a summary dict.

    ``depth``: a depth folder or 16-bit video (frame i pairs with image i) written on
    ``depth_topic`` as ``sensor_msgs/Image`` (``depth_encoding``) with the image's stamp; a
    renderer folder (``write_sequence(..., depth=True)``) brings its ``depth/`` folder."""
    from tqdm import tqdm

    from hand_perception.replay.writer import InputBagWriter

    src = Path(source_path)
    if is_bag(src):
        raise ValueError(f"{src} is already a rosbag2")
    intr = parse_intrinsics(intrinsics) if intrinsics else None
    source = (FolderSource(src, intr, fps, start_ns, frame_id) if src.is_dir()
              else VideoSource(src, intr, fps, start_ns, frame_id))
    total = len(source) or None
    if max_frames is not None and total is not None:
        total = min(total, max_frames)
    written = skipped = 0
    if depth is None and src.is_dir() and (src / "depth").is_dir():
        depth = src / "depth"
    depth_files = None
    if depth is not None:
        from hand_perception.replay.depth_reader import DepthFiles

        depth_files = DepthFiles(depth, depth_scale, source.report.depth)
    with InputBagWriter(out, image_topic, camera_info_topic, compressed, encoding, jpeg_quality, overwrite,
                        depth_topic=depth_topic if depth_files is not None else None) as writer:
        bar = tqdm(total=total, unit="frame", desc="make-bag", disable=not progress, dynamic_ncols=True)
        for i, frame in enumerate(source):
            if max_frames is not None and i >= max_frames:
                break
            bar.update(1)
            if frame.image is None:
                skipped += 1
                continue
            frame_depth = None
            if depth_files is not None:
                frame_depth, problem = depth_files.get(i, frame.image.shape[1], frame.image.shape[0])
                if problem:
                    log.warning("frame %d: no depth written (%s)", i, problem)
            writer.write(frame.image, frame.stamp_ns, frame.frame_id, frame.intrinsics, depth=frame_depth,
                         depth_encoding=depth_encoding, depth_scale=depth_scale)
            written += 1
        bar.close()
        path = writer.path
        topic = writer.image_topic
    return {"bag": str(path), "frames": written, "skipped": skipped, "image_topic": topic,
            "depth_topic": depth_topic if depth_files is not None else None,
            "camera_info_topic": camera_info_topic if intr is not None or source.intrinsics is not None else None,
            "fps": source.fps, "report": source.report.to_dict()}


def make_bag_main(argv: Sequence[str] | None = None) -> int:
    args = build_make_bag_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        summary = make_bag(args.input, args.out, intrinsics=args.intrinsics, fps=args.fps,
                           start_ns=int(round(args.start_time * 1e9)), frame_id=args.frame_id,
                           image_topic=args.image_topic, camera_info_topic=args.camera_info_topic,
                           encoding=args.encoding, compressed=args.compressed, jpeg_quality=args.jpeg_quality,
                           max_frames=args.max_frames, overwrite=args.overwrite, progress=not args.quiet,
                           depth=args.depth, depth_topic=args.depth_topic, depth_encoding=args.depth_encoding,
                           depth_scale=args.depth_scale)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"hand-perception make-bag: error: {exc}", file=sys.stderr)
        return 1
    if summary["camera_info_topic"] is None:
        print("note: no intrinsics given: the bag has no CameraInfo (the estimator will assume a default focal length)")
    print(f"wrote {summary['frames']} frames to {summary['bag']} ({summary['image_topic']})")
    print(json.dumps({k: v for k, v in summary.items() if k != "report"}))
    return 0


__all__ = ["ReplayResult", "build_make_bag_parser", "build_replay_parser", "make_bag", "make_bag_main",
           "replay_main", "run_replay"]
