"""`hand-perception run` on image folders: JSON-lines contract, bad files reported, summary."""

import json

import numpy as np
import pytest

from hand_perception.cli import main as cli_main
from hand_perception.run import parse_camera_k, run


def test_parse_camera_k():
    intr = parse_camera_k("500,510,320,240")
    assert intr.K[0, 0] == 500 and intr.K[1, 1] == 510 and intr.K[0, 2] == 320
    assert parse_camera_k(None) is None
    with pytest.raises(ValueError, match="fx,fy,cx,cy"):
        parse_camera_k("500,500,320")
    with pytest.raises(ValueError, match="positive focal"):
        parse_camera_k("0,500,320,240")


def test_run_on_real_images_writes_the_contract(shared_data, tmp_path):
    import shutil

    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted((shared_data / "images" / "orig" / "freihand").glob("*.jpg"))[:3]:
        shutil.copy(p, folder / p.name)
    (folder / "zz_broken.jpg").write_bytes(b"not a jpeg")
    summary = run(["--images", str(folder), "--out", str(tmp_path / "out"), "--quiet"])
    lines = [json.loads(line) for line in (tmp_path / "out" / "hands.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and summary["frames"] == 4 and summary["frames_skipped"] == 1
    assert lines[-1]["source"] == "zz_broken.jpg" and "error" in lines[-1] and lines[-1]["hands"] == []
    hands = [h for line in lines[:3] for h in line["hands"]]
    assert len(hands) >= 2  # FreiHAND crops show one right hand each
    h = hands[0]
    assert set(h) == {"side", "track_id", "confidence", "keypoints_2d", "joints", "wrist", "mano", "bbox",
                      "is_observed", "depth", "depth_std", "placement_source"}
    assert h["placement_source"] == "monocular" and h["depth"] == pytest.approx(h["joints"][0][2], abs=1e-4)
    assert np.array(h["keypoints_2d"]).shape == (21, 2) and np.array(h["joints"]).shape == (21, 3)
    assert len(h["mano"]["hand_pose"]) == 45 and len(h["mano"]["betas"]) == 10
    assert len(h["wrist"]["orientation_xyzw"]) == 4 and h["side"] in ("left", "right")
    assert all(line.get("intrinsics_default") for line in lines[:3])
    assert (tmp_path / "out" / "annotated").is_dir()


def test_cli_usage_and_errors(tmp_path, capsys):
    assert cli_main([]) == 2
    assert cli_main(["nope"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["run", "--images", str(empty), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no images" in capsys.readouterr().err


def test_run_on_a_video_tracks_hands_and_scores_nothing_without_gt(tmp_path):
    import cv2

    from hand_models.render import render_sequence

    path = tmp_path / "clip.mp4"
    frames = render_sequence(12, seed=3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    for f in frames:
        writer.write(np.ascontiguousarray(f.image[..., ::-1]))
    writer.release()
    K = frames[0].K
    summary = run([str(path), "--out", str(tmp_path / "out"), "--quiet",
                   "--camera-k", f"{K[0, 0]},{K[1, 1]},{K[0, 2]},{K[1, 2]}"])
    lines = [json.loads(line) for line in (tmp_path / "out" / "hands.jsonl").read_text().splitlines()]
    assert summary["frames"] == 12 and len(lines) == 12 and "accuracy" not in summary
    assert [line["source"] for line in lines] == list(range(12))
    stamps = [line["stamp_ns"] for line in lines]
    assert stamps == sorted(stamps) and len(set(stamps)) == 12
    assert not any(line.get("intrinsics_default") for line in lines)
    # the two rendered hands are found and keep their track ids once tracked
    later = [line["hands"] for line in lines[4:]]
    assert all(len(h) >= 1 for h in later)
    ids = {h["side"]: h["track_id"] for h in later[0]}
    for hands in later[1:]:
        for h in hands:
            if h["side"] in ids:
                assert h["track_id"] == ids[h["side"]]
    assert (tmp_path / "out" / "annotated.mp4").stat().st_size > 0
