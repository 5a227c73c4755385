"""Motion readers: FPHA and SFINGE3D (real files in ../shared/data), H2O and AssemblyHands
(fixtures written in their released layouts), labelled synthetic motion, resampling."""

import json

import numpy as np
import pytest

from hand_training.datasets_motion import assemblyhands, fpha, h2o, sfinge3d
from hand_training.datasets_motion.common import MotionSequence, resample, split_verb_noun
from hand_training.datasets_motion.synthetic import SYNTH_ACTIONS, generate_dataset


def test_fpha_real(shared_data):
    root = shared_data / "motion" / "orig" / "fpha"
    if not root.is_dir():
        pytest.skip(f"FPHA skeletons not found under {root}")
    seqs = fpha.read_fpha(root)
    # the official 1:1 training half (600) + the 45 Subject_1 repetition-1 test sequences
    assert len(seqs) == 645 and len(fpha.labels(seqs)) == 45
    assert sum(q.meta["subject"] == "Subject_1" and q.meta["repetition"] == "1" for q in seqs) == 45
    s = next(q for q in seqs if q.label == "stir" and q.name.endswith("Subject_1/stir/1"))
    assert s.fps == 30 and s.sides_present() == ["right"] and np.isnan(s.joints[:, 0]).all()
    # same joints as the converted copy (mm, canonical21)
    z = np.load(shared_data / "motion" / "uniform" / "fpha__Subject_1__stir__1.npz")
    assert np.allclose(s.joints[:, 1], z["joints"][:, 0] / 1000.0, atol=1e-6)
    bone = np.linalg.norm(s.joints[:, 1, 9] - s.joints[:, 1, 0], axis=-1)
    assert 0.06 < bone.mean() < 0.11
    assert split_verb_noun("take_letter_from_enveloppe", fpha.FPHA_VERBS) == ("take letter from", "enveloppe")
    assert (s.verb, s.noun) == ("stir", "")


def test_sfinge3d_real(shared_data):
    root = shared_data / "motion" / "orig" / "sfinge3d"
    if not root.is_dir():
        pytest.skip(f"SFINGE3D not found under {root}")
    d = sfinge3d.read_dictionary(root)
    assert len(d) == 26 and {s.label for s in d} == set(sfinge3d.CLASSES.values())
    s = next(q for q in d if q.name == "sfinge3d/dict/3/2")
    z = np.load(shared_data / "motion" / "uniform" / "sfinge3d__dict_c03_three_02.npz")
    ref = z["joints"][:, 0] / 1000.0
    ref[..., 2] *= -1  # the reader turns the left-handed world right-handed
    assert np.allclose(s.joints[:, 1, 2:], ref[:, 2:], atol=1e-6)
    assert np.isnan(s.joints[:, 1, 1]).all()                           # thumb CMC not tracked
    assert s.imputed[:, 1, 0].all() and not s.gt_valid[:, 1, 0].any()  # wrist imputed, never scored
    seqs = sfinge3d.read_sequences(root)
    assert len(seqs) == 5
    assert seqs[0].segments[0] == ("expand", 51, 94)
    clips = seqs[0].trimmed()
    assert len(clips) == 4 and clips[0].num_frames == 43 and clips[0].label == "expand"


def test_h2o_fixture_layout(tmp_path):
    rng = np.random.default_rng(0)
    j = rng.normal(size=(12, 2, 21, 3)) * 0.05 + 0.4
    j[3:5, 0] = np.nan  # left hand invalid in two frames
    labels = np.array([0, 0, 5, 5, 5, 5, 0, 18, 18, 18, 0, 0])
    cam = tmp_path / "subject1" / "h1" / "0" / "cam4"
    h2o.write_take_fixture(cam, j, labels)
    (tmp_path / "label_split").mkdir()
    (tmp_path / "label_split" / "action_train.txt").write_text(
        "id path action_label start_act end_act start_frame end_frame\n1 subject1/h1/0/cam4 5 2 5 2 5\n")
    seqs = h2o.read_h2o(tmp_path)
    assert len(seqs) == 1
    s = seqs[0]
    assert np.allclose(s.joints, j, atol=1e-6, equal_nan=True)
    assert s.segments == [("grab milk", 2, 6), ("open milk", 7, 10)]
    clips = h2o.read_action_split(tmp_path, "train")
    assert len(clips) == 1 and clips[0].num_frames == 4 and (clips[0].verb, clips[0].noun) == ("grab", "milk")
    assert h2o.action_name(24) == "take out espresso"
    assert split_verb_noun("take out espresso", h2o.VERBS) == ("take out", "espresso")


def test_assemblyhands_fixture_layout(tmp_path):
    rng = np.random.default_rng(1)
    j = rng.normal(size=(10, 2, 21, 3)) * 0.05 + [0.1, 0.2, 0.5]
    j[:4, 0] = np.nan  # left hand not annotated at first
    seq = "nusar-2021_action_both_9081-c11b_9081_user_id_2021-02-12_161433"
    actions = [{"video": f"{seq}/C10118_rgb.mp4", "start_frame": 102, "end_frame": 106, "action_cls": "screw with screwdriver",
                "verb_cls": "screw", "noun_cls": "screwdriver"}]
    assemblyhands.write_fixture(tmp_path, "val", {seq: j}, actions, first_frame=100)
    data = json.loads(assemblyhands.joint_file(tmp_path, "val").read_text())
    assert len(data["annotations"][seq]["000100"]["world_coord"]) == 42
    seqs = assemblyhands.read_assemblyhands(tmp_path, "val")
    assert len(seqs) == 1
    s = seqs[0]
    assert np.allclose(s.joints, j, atol=1e-6, equal_nan=True)
    assert s.segments == [("screw with screwdriver", 2, 7)]
    clips = assemblyhands.trimmed_with_verb_noun(s)
    assert clips[0].num_frames == 5 and (clips[0].verb, clips[0].noun) == ("screw", "screwdriver")


def test_synthetic_is_labelled_deterministic_and_plausible():
    a = generate_dataset(19, seed=4)
    b = generate_dataset(19, seed=4)
    assert [s.label for s in a] == list(SYNTH_ACTIONS)
    for x, y in zip(a, b):
        assert np.array_equal(x.joints, y.joints, equal_nan=True)
    for s in a:
        assert s.fps == 30 and 2.0 <= s.duration_s <= 4.01
        assert s.sides_present()
        right = s.joints[:, 1]
        ok = np.isfinite(right).all((-1, -2))
        if ok.any():
            bone = np.linalg.norm(right[ok, 9] - right[ok, 0], axis=-1)
            assert 0.06 < bone.mean() < 0.13


def test_resample_and_container():
    j = np.arange(5, dtype=float)[:, None, None, None] * np.ones((5, 2, 21, 3))
    j[2, 0] = np.nan
    r, imp = resample(j, 20.0, 40.0, np.zeros((5, 2, 21), bool))
    assert r.shape[0] == 9 and np.allclose(r[1, 1], 0.5)
    assert np.isnan(r[3, 0]).all() and np.isfinite(r[3, 1]).all()
    with pytest.raises(ValueError):
        MotionSequence("bad", np.zeros((3, 21, 3)), 30.0)
