"""The procedural MANO-format model: official format, plausible anatomy, mirrored left side."""

import pickle

import numpy as np
import pytest
import scipy.sparse
import torch

from hand_models.fitting import anatomical_frames, pose_from_angles
from hand_models.joints import MANO_FINGERTIP_VERTICES
from hand_models.mano import ManoLayer, build_procedural_model
from hand_models.mano.procedural import default_model_dir, write_procedural_models

# shapes and dtypes of the official MANO_RIGHT.pkl
OFFICIAL = {
    "v_template": ((778, 3), np.float64),
    "f": ((1538, 3), np.uint32),
    "kintree_table": ((2, 16), np.int64),
    "J": ((16, 3), np.float64),
    "weights": ((778, 16), np.float64),
    "shapedirs": ((778, 3, 10), np.float64),
    "posedirs": ((778, 3, 135), np.float64),
    "hands_components": ((45, 45), np.float64),
    "hands_mean": ((45,), np.float64),
    "hands_coeffs": ((1554, 45), np.float64),
}


@pytest.fixture(scope="module")
def right():
    return build_procedural_model("right")


@pytest.fixture(scope="module")
def left():
    return build_procedural_model("left")


def test_same_arrays_shapes_and_dtypes_as_official(right):
    for key, (shape, dtype) in OFFICIAL.items():
        assert right[key].shape == shape, key
        assert right[key].dtype == dtype, key
    assert scipy.sparse.issparse(right["J_regressor"]) and right["J_regressor"].shape == (16, 778)
    assert right["kintree_table"][0, 0] == 4294967295
    assert right["bs_style"] == "lbs" and right["bs_type"] == "lrotmin"


def test_mesh_is_valid(right):
    f = right["f"].astype(np.int64)
    assert f.min() == 0 and f.max() == 777 and len(np.unique(f)) == 778  # every vertex used
    assert np.all((f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2]))
    w = right["weights"]
    assert np.allclose(w.sum(1), 1.0) and w.min() >= 0.0
    reg = right["J_regressor"].toarray()
    assert np.allclose(reg.sum(1), 1.0)
    comps = right["hands_components"]
    assert np.allclose(comps @ comps.T, np.eye(45), atol=1e-10)


def test_adult_proportions_and_fingertips(right):
    v = right["v_template"]
    wrist = right["J"][0]
    middle_tip = v[MANO_FINGERTIP_VERTICES["middle"]]
    length = np.linalg.norm(middle_tip - wrist)
    assert 0.18 <= length <= 0.20
    # each fingertip vertex is the farthest point of its finger from the wrist along the finger
    for name, idx in MANO_FINGERTIP_VERTICES.items():
        assert np.linalg.norm(v[idx] - wrist) > 0.09, name
    width = v[:, 2].max() - v[:, 2].min()
    assert 0.07 < width < 0.16  # palm + spread thumb


def test_fingers_bend_at_the_knuckles(tmp_path):
    folder = write_procedural_models(tmp_path)
    for side in ("right", "left"):
        layer = ManoLayer(side, folder, dtype=torch.float64)
        rest = layer()
        j16 = rest.joints16[0].numpy()
        tips = rest.joints[0, [8, 12, 20, 16, 4]].numpy()  # group order index, middle, pinky, ring, thumb
        frames = anatomical_frames(j16, tips, side)
        angles = np.zeros((1, 15, 3))
        angles[0, :12, 0] = 1.2  # flex every non-thumb joint
        bent = layer(hand_pose=torch.tensor(pose_from_angles(angles, frames)))
        j = bent.joints[0].numpy()
        r = rest.joints[0].numpy()
        # MCPs stay, fingertips come towards the wrist and towards the palm side
        assert np.allclose(j[[5, 9, 13, 17]], r[[5, 9, 13, 17]], atol=1e-9)
        palm_normal = frames[0, 1]  # abduction axis = palm normal (towards palm)
        for tip in (8, 12, 16, 20):
            assert np.linalg.norm(j[tip] - j[0]) < 0.75 * np.linalg.norm(r[tip] - r[0])
            assert np.dot(j[tip] - r[tip], palm_normal) > 0.02
        # skin near the knuckles moves with the bend (no vertex left behind far away)
        assert torch.isfinite(bent.vertices).all()


def test_left_mirrors_right(right, left):
    m = np.array([-1.0, 1.0, 1.0])
    assert np.allclose(left["v_template"], right["v_template"] * m)
    assert np.allclose(left["J"], right["J"] * m)
    # mirrored pose gives mirrored mesh
    rng = np.random.default_rng(0)
    pose_r = 0.3 * rng.normal(size=(1, 45))
    pose_l = pose_r * np.tile([1.0, -1.0, -1.0], 15)
    folder = default_model_dir()
    write_procedural_models(folder)
    vr = ManoLayer("right", folder, dtype=torch.float64)(hand_pose=torch.tensor(pose_r)).vertices[0].numpy()
    vl = ManoLayer("left", folder, dtype=torch.float64)(hand_pose=torch.tensor(pose_l)).vertices[0].numpy()
    assert np.allclose(vl, vr * m, atol=1e-9)


def test_shape_directions_change_size(tmp_path):
    folder = write_procedural_models(tmp_path)
    layer = ManoLayer("right", folder, dtype=torch.float64)
    betas = torch.zeros(2, 10, dtype=torch.float64)
    betas[1, 0] = 2.0  # beta 0 = overall size
    j = layer(betas=betas).joints
    lengths = (j[:, 12] - j[:, 0]).norm(dim=-1)
    assert lengths[1] > 1.05 * lengths[0]


def test_written_file_loads_through_the_official_path(tmp_path):
    folder = write_procedural_models(tmp_path)
    with open(folder / "MANO_RIGHT.pkl", "rb") as fh:
        data = pickle.load(fh)
    assert data["model_name"].startswith("procedural_mano")
    layer = ManoLayer("right", folder)
    assert layer.model_name.startswith("procedural_mano")


def test_bad_side():
    with pytest.raises(ValueError, match="side"):
        build_procedural_model("both")
