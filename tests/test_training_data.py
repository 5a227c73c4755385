"""Synthetic generator, canonical space and mirroring, observation model, dataset readers."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
import yaml

from hand_models.mano import ManoLayer
from hand_training.data.mano_ops import MIRROR, flip_mano, transform_mano, unwrap_rotvec
from hand_training.data.readers import read_dexycb, read_hot3d, read_hot3d_clip, read_ho3d
from hand_training.data.synthetic import SyntheticConfig, SyntheticMotionGenerator, SyntheticUniHandDataset, observe


def _joints(x, side):
    layer = ManoLayer(side, dtype=torch.float64)
    x = torch.as_tensor(x, dtype=torch.float64)
    return layer(x[:, :3], x[:, 3:48], x[:, 48:58], x[:, 58:]).joints.numpy()


def test_flip_and_transform_keep_joints():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 61)) * 0.4
    x[:, 58:] = [0.05, 0.0, 0.5]
    assert np.allclose(_joints(flip_mano(x, "left"), "right"), _joints(x, "left") @ MIRROR, atol=1e-6)
    from scipy.spatial.transform import Rotation

    R, t = Rotation.from_rotvec([0.2, -0.4, 0.3]).as_matrix(), np.array([0.1, -0.2, 0.3])
    assert np.allclose(_joints(transform_mano(x, R, t, "right"), "right"), _joints(x, "right") @ R.T + t, atol=1e-6)
    rv = np.array([[0, 0, 3.1], [0, 0, -3.1]])
    assert np.linalg.norm(unwrap_rotvec(rv)[1] - rv[0]) < 0.1


def test_generator_deterministic_both_hands_and_moving_camera():
    gen = SyntheticMotionGenerator(SyntheticConfig(num_frames=24))
    a = gen.sequence(5, sides=("left", "right"), moving=True)
    b = gen.sequence(5, sides=("left", "right"), moving=True)
    assert np.array_equal(a["hands"]["left"]["joints_cam"], b["hands"]["left"]["joints_cam"])
    assert set(a["hands"]) == {"left", "right"} and a["moving"]
    j = a["hands"]["right"]["joints_cam"]
    assert j.shape == (24, 21, 3) and (j[..., 2] > 0.1).all()
    assert np.abs(a["cam_R"][0] - np.eye(3)).max() < 1e-9 and np.abs(a["cam_R"][-1] - np.eye(3)).max() > 1e-4
    speed = np.linalg.norm(np.diff(j, axis=0), axis=-1).max() * 30
    assert speed < 5.0  # m/s: plausible hand motion
    obs = observe(j, a["K"], a["image_size"], np.random.default_rng(0))
    assert obs["kp2d"].shape == (24, 21, 2) and set(np.unique(obs["mask"])) <= {0.0, 1.0}


def test_unihand_dataset_canonical_and_right_handed():
    ds = SyntheticUniHandDataset(3, seed=2, cfg=SyntheticConfig(num_frames=16, moving_camera_prob=1.0, two_hands_prob=1.0))
    it = ds[0]
    assert it["mano"].shape == (16, 61) and it["kp3d"].shape == (16, 21, 3)
    for i in range(len(ds.items)):
        s = ds[i]  # GT joints are the right-hand model's joints of the canonical MANO vectors
        assert np.allclose(_joints(s["mano"].double().numpy(), "right"), s["joints"].double().numpy(), atol=1e-4)
        m = s["kp3d_mask"] > 0
        assert float((s["kp3d"][m] - s["joints"][m]).norm(dim=-1).mean()) < 0.06  # 3D obs. near GT in canonical space
    assert torch.equal(ds[1]["kp2d"], ds[1]["kp2d"])


def test_hot3d_reader_on_real_sample(shared_data):
    seqs = read_hot3d(shared_data / "motion" / "orig" / "hot3d")
    assert {(s.name, s.side) for s in seqs} == {("P0003_c701bd11", "left"), ("P0003_c701bd11", "right"),
                                                ("P0002_273c2819", "left"), ("P0002_273c2819", "right")}
    s = next(q for q in seqs if q.name == "P0003_c701bd11" and q.side == "right")
    assert s.mano.shape == (68, 61) and s.valid.all() and np.isfinite(s.mano).all()
    assert np.allclose(s.mano[0, 58:61], [-0.1431750158042392, 0.1256031985117482, -0.38740928483898107], atol=1e-6)
    assert "headset" in s.extra and len(s.extra["headset"]["timestamps_ns"]) > 0
    assert (np.diff(s.timestamps_ns) > 0).all()


def test_hot3d_clip_fixture(tmp_path):
    clip = tmp_path / "clip-000001"
    clip.mkdir()
    for i in range(3):
        X = np.eye(4)
        X[:3, 3] = [0.1 * i, 0, 0.4]
        (clip / f"{i:06d}.hands.json").write_text(json.dumps({"right": {"mano_pose": {"thetas": [0.0] * 15, "wrist_xform": X.tolist()},
                                                                        "mano_betas": [0.0] * 10}}))
    s = read_hot3d_clip(clip)["right"]
    assert s.mano.shape == (3, 61) and np.allclose(s.mano[2, 58:], [0.2, 0, 0.4])


def test_dexycb_fixture(tmp_path):
    root = tmp_path
    seq = root / "20200709-subject-01" / "20200709_141754"
    (seq / "836212060125").mkdir(parents=True)
    (seq / "meta.yml").write_text(yaml.safe_dump({"serials": ["836212060125"], "mano_sides": ["right"],
                                                   "mano_calib": ["20200709"], "num_frames": 2}))
    (root / "calibration" / "mano_20200709").mkdir(parents=True)
    (root / "calibration" / "mano_20200709" / "mano.yml").write_text(yaml.safe_dump({"betas": [0.1] * 10}))
    (root / "calibration" / "intrinsics").mkdir(parents=True)
    (root / "calibration" / "intrinsics" / "836212060125_640x480.yml").write_text(
        yaml.safe_dump({"color": {"fx": 615.0, "fy": 615.0, "ppx": 320.0, "ppy": 240.0}}))
    for i in range(2):
        pose = np.zeros((1, 51), np.float32)
        pose[0, :3] = [0.1, 0.2, 0.3]
        pose[0, 48:] = [0.0, 0.0, 0.5 + i * 0.01]
        np.savez(seq / "836212060125" / f"labels_{i:06d}.npz", pose_m=pose, joint_3d=np.zeros((1, 21, 3)),
                 joint_2d=np.zeros((1, 21, 2)), pose_y=np.zeros((0, 3, 4)), seg=np.zeros((480, 640)))
    (s,) = read_dexycb(root)
    assert s.side == "right" and s.mano.shape == (2, 61) and s.K[0, 0] == 615.0
    assert np.allclose(s.mano[1, 58:], [0, 0, 0.51], atol=1e-6) and np.allclose(s.mano[:, 48:58], 0.1)


def test_ho3d_fixture(tmp_path):
    meta = tmp_path / "train" / "ABF10" / "meta"
    meta.mkdir(parents=True)
    for i in range(2):
        d = {"handPose": np.zeros(48), "handBeta": np.zeros(10), "handTrans": np.array([0.0, 0.0, -0.5]),
             "handJoints3D": np.zeros((21, 3)), "camMat": np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])}
        with open(meta / f"{i:04d}.pkl", "wb") as f:
            pickle.dump(d, f)
    (s,) = read_ho3d(tmp_path)
    assert s.valid.all() and s.K[0, 0] == 600.0
    # OpenGL z = -0.5 (in front of the camera) becomes optical z = +0.5
    assert np.allclose(_joints(s.mano[:1], "right")[0, 0], [0, 0, 0.5], atol=1e-6)
