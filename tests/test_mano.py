"""MANO layer and model files: smplx agreement, shapes, dtypes, sides and bad files."""

import pickle

import numpy as np
import pytest
import torch

from hand_models.joints import MANO_FINGERTIP_VERTICES
from hand_models.mano import ManoFileError, ManoLayer, load_mano_file, resolve_model_dir
from hand_models.mano.procedural import write_procedural_models


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_procedural_models(tmp_path_factory.mktemp("mano"))


def _params(batch, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return dict(
        global_orient=torch.randn(batch, 3, generator=g, dtype=dtype),
        hand_pose=0.4 * torch.randn(batch, 45, generator=g, dtype=dtype),
        betas=torch.randn(batch, 10, generator=g, dtype=dtype),
        transl=0.1 * torch.randn(batch, 3, generator=g, dtype=dtype),
    )


@pytest.mark.parametrize("side", ["right", "left"])
def test_matches_smplx_on_the_same_file(model_dir, side):
    smplx = pytest.importorskip("smplx")
    ours = ManoLayer(side, model_dir, dtype=torch.float64)
    ref = smplx.MANO(str(model_dir / f"MANO_{side.upper()}.pkl"), is_rhand=side == "right",
                     use_pca=False, flat_hand_mean=True).double()
    p = _params(5)
    a = ours(**p)
    b = ref(**p)
    assert torch.allclose(a.vertices, b.vertices, atol=1e-7)
    assert torch.allclose(a.joints16, b.joints, atol=1e-7)
    tips = b.vertices[:, [MANO_FINGERTIP_VERTICES[n] for n in ("thumb", "index", "middle", "ring", "pinky")]]
    assert torch.allclose(a.joints[:, [4, 8, 12, 16, 20]], tips, atol=1e-7)


def test_shapes_dtypes_and_defaults(model_dir):
    layer = ManoLayer("right", model_dir)
    out = layer(hand_pose=torch.zeros(3, 45))
    assert out.vertices.shape == (3, 778, 3) and out.vertices.dtype == torch.float32
    assert out.joints16.shape == (3, 16, 3) and out.joints.shape == (3, 21, 3)
    # rest pose: the wrist joint is the model's first joint and joints lie between vertices
    assert torch.allclose(out.joints[:, 0], out.joints16[:, 0])
    layer64 = layer.to(torch.float64)
    assert layer64(hand_pose=torch.zeros(1, 45, dtype=torch.float64)).vertices.dtype == torch.float64


def test_float32_matches_float64(model_dir):
    p = _params(4, seed=3)
    a = ManoLayer("left", model_dir, dtype=torch.float64)(**p)
    b = ManoLayer("left", model_dir, dtype=torch.float32)(**{k: v.float() for k, v in p.items()})
    assert torch.allclose(a.vertices.float(), b.vertices, atol=1e-5)


def test_translation_and_global_rotation_are_rigid(model_dir):
    layer = ManoLayer("right", model_dir, dtype=torch.float64)
    p = _params(2, seed=1)
    base = layer(hand_pose=p["hand_pose"], betas=p["betas"])
    moved = layer(**p)
    # distances between joints are invariant to global rotation and translation
    d0 = torch.cdist(base.joints, base.joints)
    d1 = torch.cdist(moved.joints, moved.joints)
    assert torch.allclose(d0, d1, atol=1e-9)


def test_pca_to_pose_uses_the_components(model_dir):
    layer = ManoLayer("right", model_dir, dtype=torch.float64)
    coeffs = torch.zeros(1, 6, dtype=torch.float64)
    coeffs[0, 0] = 1.0
    assert torch.allclose(layer.pca_to_pose(coeffs)[0], layer.hands_components[0])


def test_bad_parameters_raise(model_dir):
    layer = ManoLayer("right", model_dir)
    with pytest.raises(ValueError, match=r"hand_pose must be shaped \(B, 45\)"):
        layer(hand_pose=torch.zeros(1, 44))
    with pytest.raises(ValueError, match="NaN or inf"):
        layer(global_orient=torch.tensor([[float("nan"), 0.0, 0.0]]))
    with pytest.raises(ValueError, match="batch sizes"):
        layer(global_orient=torch.zeros(2, 3), hand_pose=torch.zeros(3, 45))
    with pytest.raises(ValueError, match="side must be 'right' or 'left'"):
        ManoLayer("middle", model_dir)


def test_missing_folder_and_file_errors(tmp_path):
    with pytest.raises(ManoFileError, match="does not exist"):
        resolve_model_dir(tmp_path / "nowhere")
    with pytest.raises(ManoFileError, match="MANO_LEFT.pkl"):
        ManoLayer("left", tmp_path)


def test_not_a_mano_model(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((10, 3))}))
    with pytest.raises(ManoFileError, match="missing"):
        load_mano_file(path, "right")
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(ManoFileError, match="not a readable MANO pickle"):
        load_mano_file(path, "right")


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickles_cannot_run_code(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Evil()}))
    with pytest.raises(ManoFileError, match="refusing to unpickle builtins.print"):
        load_mano_file(path, "right")


def test_wrong_array_shape_is_named(model_dir, tmp_path):
    with open(model_dir / "MANO_RIGHT.pkl", "rb") as fh:
        data = pickle.load(fh)
    data["weights"] = data["weights"][:, :15]
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ManoFileError, match=r"weights has shape \(778, 15\)"):
        load_mano_file(path, "right")


class _FakeCh:
    """Stands in for chumpy.ch.Ch when writing a chumpy-style pickle without chumpy."""

    def __init__(self, x):
        self.x = x

    def __reduce__(self):
        return (_rebuild_ch, (), {"x": self.x, "_dirty": True})


def _rebuild_ch():
    return object.__new__(_FakeCh)


def test_chumpy_style_arrays_load_without_chumpy(model_dir, tmp_path):
    with open(model_dir / "MANO_RIGHT.pkl", "rb") as fh:
        data = pickle.load(fh)
    raw = pickle.dumps({**data, "v_template": _FakeCh(data["v_template"]), "shapedirs": _FakeCh(data["shapedirs"])})
    # make the pickle reference chumpy.ch.Ch, as the official files do
    raw = raw.replace(b"test_mano\n_rebuild_ch", b"chumpy.ch\nCh_rebuild").replace(
        b"\x8c\ttest_mano\x94\x8c\x0b_rebuild_ch", b"\x8c\tchumpy.ch\x94\x8c\x0bCh_rebuilt_")
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(raw)
    assert b"chumpy.ch" in raw
    model = load_mano_file(path, "right")
    assert np.allclose(model.v_template, data["v_template"])
    assert np.allclose(model.shapedirs, data["shapedirs"])
