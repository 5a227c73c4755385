"""Replay without ROS (hand_perception.replay): rosbag2 mcap and sqlite3 inputs with raw and
compressed images and CameraInfo, corrupt and truncated messages and files, video files and
image folders, ground truth as a topic / JSON / NPZ, output bags read back with rosbags, the
report folder, make-bag, and one run of the real pipeline on the synthetic renderer's frames."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rosbags")

from rosbags.highlevel import AnyReader  # noqa: E402
from rosbags.rosbag2 import StoragePlugin, Writer  # noqa: E402

from hand_perception.core import node_logic as nl  # noqa: E402
from hand_perception.core.config import PipelineConfig  # noqa: E402
from hand_perception.core.conversions import (  # noqa: E402
    HAND_ARRAY,
    RosbagsTypes,
    frame_result_to_hand_array,
    hand_array_to_frame_result,
    time_to_ns,
)
from hand_perception.core.forecasting import ConstantVelocityForecaster  # noqa: E402
from hand_perception.core.image_codec import camera_info_to_intrinsics  # noqa: E402
from hand_perception.core.pipeline import PipelineOutput  # noqa: E402
from hand_perception.core.types import FrameResult, HandState  # noqa: E402
from hand_perception.replay import cli  # noqa: E402
from hand_perception.replay.evaluate import GroundTruth  # noqa: E402
from hand_perception.replay.readers import BagSource, parse_intrinsics  # noqa: E402
from hand_perception.replay.writer import camera_info_message, image_message  # noqa: E402

W, H, N = 128, 96, 10
FPS = 30.0
T0 = 1_700_000_000 * 10**9
K = np.array([[120.0, 0.0, 64.0], [0.0, 120.0, 48.0], [0.0, 0.0, 1.0]])
OFFSET = np.array([0.01, 0.0, 0.0])  # the fake estimator's error: 1 cm along x


def stamp(i: int) -> int:
    return T0 + int(round(i * 1e9 / FPS))


def canonical_joints(side: str, t: float) -> np.ndarray:
    """A simple 21-joint hand (metres, camera frame) moving with time ``t``."""
    j = np.zeros((21, 3))
    sign = -1.0 if side == "left" else 1.0
    for f in range(5):
        for k in range(4):
            j[1 + 4 * f + k] = [sign * (f - 2) * 0.018, -0.03 - 0.022 * k, 0.004 * k]
    j += [sign * 0.08 + 0.05 * t, 0.02, 0.5 + 0.1 * t]
    return j


def gt_hands(i: int) -> list[dict]:
    t = i / FPS
    out = []
    for side in ("left", "right"):
        j = canonical_joints(side, t)
        uv = (K @ j.T).T
        out.append({"side": side, "joints_3d": j, "keypoints_2d": uv[:, :2] / uv[:, 2:], "visibility": np.ones(21, bool)})
    return out


def hand_state(h: dict, offset: np.ndarray = np.zeros(3), track: int = 0) -> HandState:
    j = h["joints_3d"] + offset
    return HandState(side=h["side"], track_id=track, confidence=0.9, keypoints_2d=h["keypoints_2d"].copy(),
                     keypoint_confidence=np.ones(21), joints=j, wrist_position=j[0].copy(),
                     wrist_orientation_xyzw=np.array([0.0, 0.0, 0.0, 1.0]), mano=None,
                     bbox=np.array([0.0, 0.0, 10.0, 10.0]), depth=float(j[0, 2]))


def synthetic_image(i: int) -> np.ndarray:
    img = np.full((H, W, 3), 40, np.uint8)
    cv2.circle(img, (20 + 6 * i, 48), 12, (230, 180, 150), -1)
    cv2.rectangle(img, (80, 20 + 3 * i), (110, 50 + 3 * i), (90, 160, 220), -1)
    return img


class FakePipeline:
    """Stands in for HandPerceptionPipeline: hands = ground truth (found by stamp or, for sources
    stamped by index, by the image's frame number) + OFFSET; the real constant-velocity forecaster."""

    def __init__(self, by_stamp: bool = True) -> None:
        self.config = PipelineConfig()
        self.forecaster = ConstantVelocityForecaster(self.config.forecast)
        self.limiter = nl.StreamRateLimiter(self.config.forecast.rate_hz)
        self.calls: list[tuple[int, tuple, bool]] = []
        self.resets = 0
        self.by_stamp = by_stamp

    def reset(self) -> None:
        self.resets += 1
        self.forecaster.reset()
        self.limiter.reset()

    def model_info(self) -> dict[str, str]:
        return {"backend": "fake", "forecaster": "constant_velocity"}

    def process(self, image, stamp_ns, intrinsics=None, frame_id="camera", color_order="rgb"):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        self.calls.append((stamp_ns, image.shape, intrinsics is not None))
        i = int(round((stamp_ns - T0) * FPS / 1e9)) % N
        hands = [hand_state(h, OFFSET, track=k) for k, h in enumerate(gt_hands(i))]
        frame = FrameResult(stamp_ns, frame_id, hands, intrinsics_default=intrinsics is None, latency_s=0.001)
        self.forecaster.observe(stamp_ns, frame_id, hands)
        out = PipelineOutput(frame=frame)
        if self.limiter.due(stamp_ns):
            out.forecast = self.forecaster.forecast()
            out.actions = self.forecaster.actions()
        return out


# =========================================================================== bag fixtures

RAW, COMP, INFO, GT = "/cam/image_raw", "/cam/image_raw/compressed", "/cam/camera_info", "/hands_gt"
ENCODINGS = ("rgb8", "bgr8", "yuv422", "rgba8", "mono8")
BAD_CDR, BAD_STEP, BAD_JPEG, BAD_INFO = 3, 5, 4, 7


def write_bag(path: Path, storage: StoragePlugin, corrupt: bool = True, stamps: list[int] | None = None) -> dict:
    """Image (raw, mixed encodings, one with row padding), CompressedImage (JPEG), CameraInfo and
    a ground-truth HandArray per frame; with ``corrupt``: a truncated CDR image, an image whose step
    disagrees with its size, a truncated JPEG and a NaN CameraInfo."""
    t = RosbagsTypes()
    ts = t.typestore
    intr = camera_info_to_intrinsics(K.reshape(-1), [], W, H, "plumb_bob")
    stamps = stamps or [stamp(i) for i in range(N)]
    with Writer(path, version=8, storage_plugin=storage) as w:
        c_raw = w.add_connection(RAW, "sensor_msgs/msg/Image", typestore=ts)
        c_comp = w.add_connection(COMP, "sensor_msgs/msg/CompressedImage", typestore=ts)
        c_info = w.add_connection(INFO, "sensor_msgs/msg/CameraInfo", typestore=ts)
        c_gt = w.add_connection(GT, HAND_ARRAY, typestore=ts)
        for i, s in enumerate(stamps):
            rgb = synthetic_image(i)
            info = camera_info_message(t, intr, s, "cam")
            if corrupt and i == BAD_INFO:
                info.k[0] = np.nan
            w.write(c_info, s, t.serialize(info))
            msg = image_message(t, rgb, s, "cam", ENCODINGS[i % len(ENCODINGS)], row_padding=4 if i % 2 else 0)
            if corrupt and i == BAD_STEP:
                msg.step = msg.step + 2  # data size no longer equals step * height
            data = t.serialize(msg)
            if corrupt and i == BAD_CDR:
                data = data[: len(data) // 3]
            w.write(c_raw, s, data)
            comp = t.serialize(image_message(t, rgb, s, "cam", compressed=True))
            if corrupt and i == BAD_JPEG:
                comp = t.serialize(image_message(t, rgb, s, "cam", compressed=True))
                m = t.deserialize(comp, "sensor_msgs/msg/CompressedImage")
                m.data = m.data[: len(m.data) // 2]
                comp = t.serialize(m)
            w.write(c_comp, s, comp)
            gt = FrameResult(s, "cam", [hand_state(h) for h in gt_hands(i)])
            w.write(c_gt, s, t.serialize(frame_result_to_hand_array(gt, t)))
    return {"stamps": stamps}


@pytest.fixture(scope="module")
def mcap_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bags") / "in_mcap"
    write_bag(path, StoragePlugin.MCAP)
    return path


@pytest.fixture(scope="module")
def sqlite_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bags") / "in_sqlite"
    write_bag(path, StoragePlugin.SQLITE3)
    return path


def read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    """topic -> [(log time, message)] of an output bag, deserialized with our message types."""
    t = RosbagsTypes()
    out: dict[str, list] = {}
    with AnyReader([Path(path)], default_typestore=t.typestore) as r:
        for conn, ts_, raw in r.messages():
            out.setdefault(conn.topic, []).append((ts_, t.deserialize(raw, conn.msgtype)))
    return out


# =========================================================================== tests


def test_replay_raw_mcap_with_ground_truth_topic(mcap_bag, tmp_path):
    pipe = FakePipeline()
    res = cli.run_replay(mcap_bag, tmp_path / "out.mcap", tmp_path / "report", pipeline=pipe, image_topic=RAW,
                         gt_topic=GT, progress=False)
    good = [i for i in range(N) if i not in (BAD_CDR, BAD_STEP)]
    # bad messages counted and skipped, everything else processed
    rep = res.input_report
    assert rep["frames"] == N and rep["bad_frames"] == 2
    assert rep["bad_by_reason"] == {"deserialize": 1, "decode": 1, "camera_info_invalid": 1}
    assert rep["camera_info_invalid"] == 1 and rep["camera_info_topic"] == INFO
    assert res.frames_processed == len(good) and res.frames_skipped == 2
    assert [c[0] for c in pipe.calls] == [stamp(i) for i in good]
    assert all(c[1] == (H, W, 3) and c[2] for c in pipe.calls)  # decoded and paired with CameraInfo
    # the output bag: same stamps as the inputs, all topics, readable with the .msg definitions
    out = read_bag(tmp_path / "out")
    assert (tmp_path / "out" / "out.mcap").is_file() and (tmp_path / "out" / "metadata.yaml").is_file()
    hands = out["/hands"]
    assert [ts_ for ts_, _ in hands] == [stamp(i) for i in good]
    assert [time_to_ns(m.header.stamp) for _, m in hands] == [stamp(i) for i in good]
    assert all(len(m.hands) == 2 and m.header.frame_id == "cam" for _, m in hands)
    assert [ts_ for ts_, _ in out["/hands/markers"]] == [stamp(i) for i in good]
    assert {tf.child_frame_id for _, m in out["/tf"] for tf in m.transforms} == {"hand_left_wrist", "hand_right_wrist"}
    assert len(out["/hands/forecast"]) >= 2 and len(out["/hands/action"]) >= 2
    for ts_, m in out["/hands/forecast"]:
        assert time_to_ns(m.header.stamp) == ts_ and m.model == "constant_velocity"
    assert res.output_counts["/hands"] == len(good)
    # metrics against the ground-truth topic: the fake's error is exactly OFFSET
    m = json.loads((tmp_path / "report" / "metrics.json").read_text())
    pose = m["pose"]
    assert pose["mpjpe_m"] == pytest.approx(0.01, abs=1e-6)
    assert pose["mpjpe_ra_m"] == pytest.approx(0.0, abs=1e-6)
    assert pose["pa_mpjpe_m"] == pytest.approx(0.0, abs=1e-5)
    assert pose["pck_2d"]["5px"] == pytest.approx(1.0)
    assert m["detection"]["rate"] == 1.0 and m["ground_truth"]["match"] == "stamp"
    assert m["input"]["bad_by_reason"] == {"deserialize": 1, "decode": 1, "camera_info_invalid": 1}
    assert len(pose["per_joint_error_m"]) == 21
    fc = m["forecast"]
    assert fc["forecasts"] >= 2 and len(fc["horizon_s"]) == len(fc["mpjpe_m"]) >= 1
    for name in ("latency_histogram.png", "per_joint_error.png", "error_over_time.png", "pck_curve.png",
                 "forecast_error_vs_horizon.png"):
        assert (tmp_path / "report" / name).stat().st_size > 1000, name


def test_replay_compressed_sqlite3(sqlite_bag, tmp_path):
    pipe = FakePipeline()
    res = cli.run_replay(sqlite_bag, tmp_path / "out", None, pipeline=pipe, image_topic=COMP, progress=False,
                         copy_inputs=True)
    rep = res.input_report
    assert rep["bad_by_reason"] == {"decode": 1, "camera_info_invalid": 1} and res.frames_processed == N - 1
    assert "truncated JPEG" in " ".join(rep["errors"])
    out = read_bag(tmp_path / "out")
    assert len(out["/hands"]) == N - 1
    assert len(out[COMP]) == N and len(out[INFO]) == N  # --copy-inputs
    assert (tmp_path / "out" / "replay_metrics.json").is_file()


def test_ambiguous_topics_and_missing_topic(mcap_bag):
    with pytest.raises(ValueError, match="not in"):
        BagSource(mcap_bag, image_topic="/nope")
    src = BagSource(mcap_bag)  # raw wins over compressed when there is one of each
    assert src.image_topic == RAW and src.camera_info_topic == INFO and len(src) == N


def _truncate(path: Path, fraction: float) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * fraction))


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_truncated_bag_files_are_recovered(tmp_path, storage):
    bag = tmp_path / "cut"
    write_bag(bag, storage, corrupt=False)
    file = next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
    _truncate(file, 0.6)
    pipe = FakePipeline()
    res = cli.run_replay(bag, tmp_path / "out", None, pipeline=pipe, image_topic=RAW, progress=False)
    rep = res.input_report
    assert rep["truncated"] and rep["recovery"]
    assert 1 <= res.frames_processed < N
    out = read_bag(tmp_path / "out")
    assert len(out["/hands"]) == res.frames_processed
    stamps = [ts_ for ts_, _ in out["/hands"]]
    assert stamps == sorted(stamps) and set(stamps) <= {stamp(i) for i in range(N)}


def test_looped_bag_resets_the_pipeline(tmp_path):
    bag = tmp_path / "loop"
    stamps = [stamp(i) for i in range(5)] + [stamp(i) for i in range(5)]  # recorded twice: stamps go back
    t = RosbagsTypes()
    with Writer(bag, version=8, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection(RAW, "sensor_msgs/msg/Image", typestore=t.typestore)
        for k, s in enumerate(stamps):
            w.write(c, T0 + k * 10**7, t.serialize(image_message(t, synthetic_image(k % 5), s, "cam")))
    pipe = FakePipeline()
    res = cli.run_replay(bag, tmp_path / "out", None, pipeline=pipe, progress=False)
    assert res.stamp_resets == 1 and pipe.resets == 1 and res.frames_processed == 10
    assert res.input_report["frames_without_camera_info"] == 10  # no CameraInfo: default intrinsics
    assert not any(c[2] for c in pipe.calls)


def write_gt_files(folder: Path) -> tuple[Path, Path]:
    frames = []
    joints = np.full((N, 2, 21, 3), np.nan)
    kps = np.full((N, 2, 21, 2), np.nan)
    for i in range(N):
        hands = gt_hands(i)
        frames.append({"index": i, "file": f"frame_{i:06d}.png", "stamp_ns": int(i * 1e9 / FPS),
                       "hands": [{"side": h["side"], "joints_3d": h["joints_3d"].tolist(),
                                  "keypoints_2d": h["keypoints_2d"].tolist(),
                                  "visibility": h["visibility"].tolist()} for h in hands]})
        for s, h in enumerate(hands):
            joints[i, s] = h["joints_3d"]
            kps[i, s] = h["keypoints_2d"]
    gt_json = folder / "gt.json"
    gt_json.write_text(json.dumps({"format": "hand_perception.synthetic/1", "fps": FPS, "width": W, "height": H,
                                   "camera": {"K": K.tolist(), "dist": [0.0] * 5}, "frames": frames}))
    gt_npz = folder / "gt.npz"
    np.savez(gt_npz, joints_3d=joints, keypoints_2d=kps, index=np.arange(N))
    return gt_json, gt_npz


@pytest.fixture()
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(N):
        cv2.imwrite(str(folder / f"frame_{i:06d}.png"), synthetic_image(i)[..., ::-1])
    (folder / "frame_000004.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return folder


def test_image_folder_with_json_and_npz_ground_truth(image_folder, tmp_path):
    gt_json, gt_npz = write_gt_files(tmp_path)
    results = {}
    for name, gt in (("json", gt_json), ("npz", gt_npz)):
        pipe = FakePipeline()
        res = cli.run_replay(image_folder, tmp_path / f"out_{name}", None, pipeline=pipe,
                             gt=gt, intrinsics="120,120,64,48", progress=False)
        assert res.frames_processed == N - 1 and res.input_report["bad_by_reason"] == {"decode": 1}
        assert [c[0] for c in pipe.calls] == [stamp(i) for i in range(N) if i != 4]
        results[name] = res.metrics
    assert results["json"]["ground_truth"]["match"] == "name"
    assert results["npz"]["ground_truth"]["match"] == "index"
    for m in results.values():
        assert m["pose"]["mpjpe_m"] == pytest.approx(0.01, abs=1e-6)
        assert m["detection"]["left"]["detected"] == N - 1


def test_ground_truth_loading_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"frames": [{"hands": [{"side": "middle"}]}]}))
    with pytest.raises(ValueError, match="side"):
        GroundTruth.load(bad)
    bad.write_text(json.dumps({"frames": [{"hands": [{"side": "left", "joints_3d": [[0, 0, 0]]}]}]}))
    with pytest.raises(ValueError, match="shape"):
        GroundTruth.load(bad)
    np.savez(tmp_path / "bad.npz", joints_3d=np.zeros((3, 21, 3)))
    with pytest.raises(ValueError, match="N, 2, 21, 3"):
        GroundTruth.load(tmp_path / "bad.npz")


def test_video_make_bag_and_replay(tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write MJPG video here")
    for i in range(N):
        writer.write(synthetic_image(i)[..., ::-1].copy())
    writer.release()
    (tmp_path / "cam.yaml").write_text(
        "image_width: 128\nimage_height: 96\ncamera_matrix:\n  rows: 3\n  cols: 3\n  data: [120, 0, 64, 0, 120, 48, 0, 0, 1]\n"
        "distortion_model: plumb_bob\ndistortion_coefficients:\n  rows: 1\n  cols: 5\n  data: [0, 0, 0, 0, 0]\n")
    assert cli.make_bag_main([str(video), "--out", str(tmp_path / "made.mcap"), "--intrinsics",
                              str(tmp_path / "cam.yaml"), "--quiet", "--compressed"]) == 0
    made = read_bag(tmp_path / "made")
    assert sorted(made) == ["/camera_info", "/image_raw/compressed"]  # full.launch.py's default topics
    assert [ts_ for ts_, _ in made["/image_raw/compressed"]] == [stamp(i) for i in range(N)]
    assert made["/camera_info"][0][1].k[0] == 120.0
    # replaying the video directly and the bag made from it sees the same frames
    pipe_v, pipe_b = FakePipeline(), FakePipeline()
    cli.run_replay(video, tmp_path / "ov", None, pipeline=pipe_v, intrinsics=str(tmp_path / "cam.yaml"), progress=False)
    cli.run_replay(tmp_path / "made", tmp_path / "ob", None, pipeline=pipe_b, progress=False)
    assert [c[0] for c in pipe_v.calls] == [c[0] for c in pipe_b.calls] == [stamp(i) for i in range(N)]
    assert all(c[2] for c in pipe_b.calls)
    # existing output without --overwrite is refused
    assert cli.make_bag_main([str(video), "--out", str(tmp_path / "made"), "--quiet"]) == 1


def test_parse_intrinsics_forms(tmp_path):
    intr = parse_intrinsics("100,110,50,40")
    assert intr.K[0, 0] == 100 and intr.K[1, 1] == 110
    (tmp_path / "k.json").write_text(json.dumps({"K": K.tolist(), "dist": [0.1, 0, 0, 0, 0], "width": W, "height": H}))
    assert parse_intrinsics(tmp_path / "k.json").dist[0] == 0.1
    with pytest.raises(ValueError):
        parse_intrinsics("1,2,3")
    (tmp_path / "nan.json").write_text(json.dumps({"K": [[float("nan")] * 3] * 3}).replace("NaN", "NaN"))
    with pytest.raises(ValueError):
        parse_intrinsics(tmp_path / "nan.json")


def test_cli_errors(tmp_path, capsys):
    assert cli.replay_main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.replay_main([str(tmp_path)])  # neither --out nor --report


# --------------------------------------------------------------------------- the real pipeline


def test_real_pipeline_on_rendered_frames_is_deterministic(tmp_path):
    """The real estimator (MediaPipe + placement + IK + temporal) and forecaster on the synthetic
    renderer's frames, written as a bag by make-bag, replayed twice: identical outputs."""
    render = pytest.importorskip("hand_models.render")
    pytest.importorskip("mediapipe")
    seq = tmp_path / "seq"
    render.write_sequence(seq, num_frames=6, width=320, height=240, fps=30.0, seed=3)
    assert cli.make_bag_main([str(seq), "--out", str(tmp_path / "seq_bag"), "--quiet"]) == 0
    outs = []
    for k in range(2):
        res = cli.run_replay(tmp_path / "seq_bag", tmp_path / f"o{k}", tmp_path / "r0" if k == 0 else None,
                             gt=seq / "ground_truth.json", record_latency=False, progress=False)
        assert res.frames_processed == 6
        outs.append(read_bag(tmp_path / f"o{k}"))
    t = RosbagsTypes()
    for topic in outs[0]:
        a = [t.serialize(m) for _, m in outs[0][topic]]
        b = [t.serialize(m) for _, m in outs[1][topic]]
        assert a == b, topic
    m = res.metrics
    assert m["ground_truth"]["match"] == "index" and m["detection"]["rate"] > 0.5
    assert m["pose"]["pa_mpjpe_m"] < 0.03 and math.isfinite(m["pose"]["mpjpe_m"])
    assert m["models"]["backend"]
    frames = [hand_array_to_frame_result(msg) for _, msg in outs[0]["/hands"]]
    assert all(f.intrinsics_default is False for f in frames)  # CameraInfo from the renderer's camera
    assert os.path.getsize(tmp_path / "r0" / "metrics.json") > 100
