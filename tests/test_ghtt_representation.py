"""G-HTT hand representation (paper 3.1): palm-frame joints, relative palm motions, missing hands."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hand_models.networks.ghtt import representation as rep


def _motion(T=30, seed=0):
    rng = np.random.default_rng(seed)
    j = np.zeros((T, 2, 21, 3))
    for s, side in enumerate(rep.SIDES):
        tm = rep.template_joints(side)
        w0 = rng.normal(size=3)
        for i in range(T):
            R = Rotation.from_rotvec(w0 + 0.03 * i * np.array([1.0, 0.5, -0.2])).as_matrix()
            j[i, s] = tm @ R.T + np.array([0.15 * s, 0.01 * i, 0.5]) + rng.normal(0, 0.001, (21, 3))
    return j


def test_encode_decode_roundtrip():
    j = _motion()
    enc = rep.encode(j)
    assert enc.features.shape == (30, rep.FEATURE_DIM) and enc.flags.shape == (30, 5)
    assert np.allclose(rep.joints_from_features(enc.features, enc.G), j, atol=1e-9)
    fut, G = rep.decode(enc.features[11:], enc.G[10])
    assert np.allclose(fut, j[11:], atol=1e-9)
    assert np.allclose(G, enc.G[11:], atol=1e-9)


def test_relative_motion_is_camera_independent():
    j = _motion()
    R = Rotation.from_rotvec([0.3, -1.0, 0.4]).as_matrix()
    moved = j @ R.T + np.array([1.0, -2.0, 3.0])
    a, b = rep.encode(j), rep.encode(moved)
    # p, v and r do not depend on where the camera is
    assert np.allclose(a.features, b.features, atol=1e-9)


def test_missing_hand_and_joint_are_explicit():
    j = _motion()
    j[5:9, 0] = np.nan          # left hand gone for 4 frames
    j[12, 1, 8] = np.nan        # one right fingertip missing
    enc = rep.encode(j)
    assert not enc.present[5:9, 0].any() and enc.present[5:9, 1].all()
    assert (enc.flags[5:10, 2] == 0).all()            # left v invalid while gone and on return
    assert (enc.flags[5:9, 4] == 0).all() and enc.flags[10, 4] == 1  # r needs both hands
    assert not enc.mask[5, rep.SL_P[0]].any()
    assert not enc.mask[12, rep.SL_P[1]][24:27].any() and enc.mask[12, rep.SL_P[1]][:24].all()
    # masked entries are filled with the template / identity, never NaN
    assert np.isfinite(enc.features).all()
    assert np.allclose(enc.features[6, rep.SL_P[0]], rep.template_joints("left").reshape(-1))


def test_too_few_palm_joints_is_absent():
    j = _motion(5)
    j[2, 1, [0, 5, 9]] = np.nan
    assert not rep.encode(j).present[2, 1]


def test_torch_accumulation_matches_decode():
    j = _motion()
    enc = rep.encode(j)
    v = torch.from_numpy(enc.features[11:27, rep.SL_V[1]])[None]
    s = rep.accumulate_rigid_t(v)[0].numpy()
    rel = np.linalg.inv(enc.G[10, 1]) @ enc.G[11:27, 1]
    assert np.allclose(s[:, 6:], rel[:, :3, 3], atol=1e-9)
    assert np.allclose(s[:, :6], rep.rot_to_6d(rel[:, :3, :3]), atol=1e-9)


def test_bad_shape_raises():
    with pytest.raises(ValueError):
        rep.encode(np.zeros((4, 21, 3)))
