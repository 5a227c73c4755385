"""RGB-D input end to end without ROS: renderer depth folder -> make-bag depth topic -> replay paired
by stamp; ``hand-perception run --depth``; bad depth (8-bit files, far stamps) falls back to monocular."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hand_models.render import write_sequence
from hand_perception.core.conversions import RosbagsTypes
from hand_perception.replay.depth_reader import DepthFiles, write_depth_folder
from hand_perception.replay.readers import read_hand_arrays

DEPTH_TOPIC = "/aligned_depth_to_color/image_raw"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rgbd_scene")
    write_sequence(folder, num_frames=3, width=320, height=240, seed=0, depth=True)
    return folder


def test_renderer_folder_has_millimetre_depth(scene):
    gt = json.loads((scene / "ground_truth.json").read_text())
    assert gt["depth"].startswith("depth/")
    d = cv2.imread(str(scene / "depth" / "depth_000000.png"), cv2.IMREAD_UNCHANGED)
    assert d.dtype == np.uint16 and d.shape == (240, 320)
    z = [h["joints_3d"][0][2] for h in gt["frames"][0]["hands"]]
    assert 200 < np.median(d[d > 0]) < 3000 and all(0.2 < v < 1.0 for v in z)


def test_make_bag_writes_depth_and_replay_pairs_it(scene, tmp_path):
    from hand_perception.replay.cli import make_bag, run_replay

    summary = make_bag(scene, tmp_path / "bag", progress=False)
    assert summary["depth_topic"] == DEPTH_TOPIC and summary["frames"] == 3
    result = run_replay(tmp_path / "bag", tmp_path / "out", depth_topic=DEPTH_TOPIC, progress=False)
    assert result.input_report["depth_paired"] == 3 and result.input_report["depth_missing"] == 0
    frames = read_hand_arrays(tmp_path / "out", "/hands", RosbagsTypes())
    sources = [h.placement_source for f in frames for h in f.hands]
    assert sources and all(s in ("depth", "fused") for s in sources)
    assert all(0 < h.depth_std < 0.03 for f in frames for h in f.hands)
    # without --depth-topic the same bag runs monocular (and picks the colour topic by itself)
    mono = run_replay(tmp_path / "bag", tmp_path / "out_mono", progress=False)
    assert mono.frames_processed == 3 and not mono.input_report["depth_enabled"]
    frames = read_hand_arrays(tmp_path / "out_mono", "/hands", RosbagsTypes())
    assert all(h.placement_source == "monocular" for f in frames for h in f.hands)


def test_replay_falls_back_when_depth_stamps_are_far(scene, tmp_path):
    from hand_perception.core import node_logic as nl
    from hand_perception.replay.cli import run_replay
    from hand_perception.replay.readers import FolderSource
    from hand_perception.replay.writer import InputBagWriter, _header

    src = FolderSource(scene)
    with InputBagWriter(tmp_path / "bag", depth_topic=DEPTH_TOPIC) as w:
        for frame in src:
            w.write(frame.image, frame.stamp_ns, frame.frame_id, frame.intrinsics)
            late = frame.stamp_ns + 200_000_000  # depth stamped 0.2 s after the colour image
            depth = np.full(frame.image.shape[:2], 0.6)
            from hand_perception.core.depth import encode_depth

            msg = nl.make_message(w.types, nl.IMAGE_TYPE, header=_header(w.types, late, frame.frame_id),
                                  **encode_depth(depth))
            w._writer.write(w._depth, late, w.types.serialize(msg))
    result = run_replay(tmp_path / "bag", None, tmp_path / "rep", depth_topic=DEPTH_TOPIC, depth_max_age_s=0.05,
                        progress=False)
    rep = result.input_report
    assert result.frames_processed == 3 and rep["depth_paired"] == 0 and rep["depth_missing"] == 3
    assert "s from the colour image" in rep["depth_last_problem"]


def test_run_cli_with_depth_folder_and_bad_depth(scene, tmp_path, capsys):
    from hand_perception.run import main

    assert main([str(scene), "--depth", str(scene / "depth"), "--out", str(tmp_path / "a"), "--quiet",
                 "--no-annotate"]) == 0
    records = [json.loads(line) for line in (tmp_path / "a" / "hands.jsonl").read_text().splitlines()]
    hands = [h for r in records for h in r["hands"]]
    assert hands and all(h["placement_source"] in ("depth", "fused") and h["depth_std"] > 0 for h in hands)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["depth"]["depth_paired"] == 3
    # 8-bit "depth" files: every frame says why and runs monocular, nothing is lost
    bad = tmp_path / "bad_depth"
    bad.mkdir()
    for i in range(3):
        cv2.imwrite(str(bad / f"d_{i}.png"), np.full((240, 320), 100, np.uint8))
    assert main([str(scene), "--depth", str(bad), "--out", str(tmp_path / "b"), "--quiet", "--no-annotate"]) == 0
    records = [json.loads(line) for line in (tmp_path / "b" / "hands.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all("8-bit" in r["depth_error"] for r in records)
    assert all(h["placement_source"] == "monocular" for r in records for h in r["hands"])
    # a depth path that does not exist: one clear line, exit code 2
    assert main([str(scene), "--depth", str(tmp_path / "nope"), "--out", str(tmp_path / "c"), "--quiet"]) == 2
    assert "error: depth source" in capsys.readouterr().err


def test_depth_files_npy_and_sizes(tmp_path):
    write_depth_folder(tmp_path / "d", [np.full((120, 160), 0.5), np.full((120, 160), 0.75)])
    np.save(tmp_path / "d" / "depth_000002.npy", np.full((240, 320), 1.25, np.float32))
    files = DepthFiles(tmp_path / "d")
    assert len(files) == 3
    d0, p0 = files.get(0, 320, 240)  # half resolution, same aspect: resized
    assert p0 is None and d0.shape == (240, 320) and np.allclose(d0, 0.5)
    d2, _ = files.get(2, 320, 240)
    assert np.allclose(d2, 1.25)
    d, problem = files.get(1, 300, 240)  # other aspect ratio: refused
    assert d is None and "aspect ratio" in problem
    d, problem = files.get(5, 320, 240)
    assert d is None and "no depth frame 5" in problem
    assert files.status.paired == 2 and files.status.bad == 1 and files.status.missing == 1


def test_measure_rgbd_depth_beats_monocular():
    from hand_perception.rgbd_eval import measure_rgbd

    out = measure_rgbd(num_frames=3, seeds=(0,), width=320, height=240)
    mono, rgbd = out["monocular"], out["rgbd"]
    assert out["frames"] == 3 and rgbd["detected"] >= 3
    assert rgbd["mpjpe_camera_mm"] < 25.0 < mono["mpjpe_camera_mm"]
    assert rgbd["wrist_depth_error_mm"] < mono["wrist_depth_error_mm"]
    assert set(rgbd["placement_sources"]) <= {"depth", "fused"}


def test_depth_video_16bit(tmp_path):
    from hand_perception.replay.depth_reader import write_depth_video

    depths = [np.full((48, 64), 0.5 + 0.1 * i) for i in range(3)]
    depths[1][:, :10] = 0  # holes stay holes
    path = write_depth_video(tmp_path / "depth.mkv", depths)
    files = DepthFiles(path)
    for i in range(3):
        d, problem = files.get(i, 64, 48)
        assert problem is None and np.allclose(d[:, 10:], 0.5 + 0.1 * i, atol=1e-3)
        assert np.isnan(d[:, :10]).all() == (i == 1)
    d, problem = files.get(0, 64, 48)  # a video is read in order
    assert d is None and "in order" in problem
    d, problem = files.get(7, 64, 48)
    assert d is None and "no depth frame 7" in problem
    files.close()
