"""Joint tables: permutations, round trips and agreement with the MANO skeleton."""

import numpy as np
import pytest

from hand_models import joints as J


def test_every_table_is_a_permutation_of_21():
    for name, table in J.DATASET_TO_OURS.items():
        assert sorted(table.tolist()) == list(range(21)), name


def test_round_trip_every_dataset():
    x = np.random.default_rng(0).normal(size=(4, 21, 3))
    for name in J.DATASET_TO_OURS:
        assert np.array_equal(J.to_ours(J.from_ours(x, name), name), x)


def test_parents_and_bones_follow_finger_chains():
    for finger, idx in J.FINGER_JOINTS.items():
        assert J.PARENTS[idx[0]] == 0
        for a, b in zip(idx[:-1], idx[1:]):
            assert J.PARENTS[b] == a, finger
    assert len(J.BONES) == 20


def test_mano_to_ours_maps_named_joints():
    mano21 = list(J.MANO_JOINT_NAMES) + [f"{f}_tip" for f in ("thumb", "index", "middle", "ring", "pinky")]
    mapped = [mano21[i] for i in J.MANO_TO_OURS]
    # MANO names finger joints 1..3 from the base; ours names them anatomically
    expected_prefix = [n.split("_")[0] for n in J.JOINT_NAMES]
    got_prefix = [m.rstrip("123").split("_")[0] for m in mapped]
    assert got_prefix == expected_prefix


def test_rhd_and_interhand_orders_put_wrist_and_tips_right():
    rhd = np.arange(21)  # rhd keypoint k has value k
    ours = J.to_ours(rhd[:, None], "rhd")[:, 0]
    assert ours[0] == 0 and ours[4] == 1 and ours[1] == 4  # thumb tip is RHD 1, thumb MCP-ish base is RHD 4
    ih = J.to_ours(np.arange(21)[:, None], "interhand")[:, 0]
    assert ih[0] == 20 and ih[4] == 0 and ih[8] == 4


def test_bad_input_errors():
    with pytest.raises(KeyError, match="unknown joint order"):
        J.to_ours(np.zeros((21, 3)), "nope")
    with pytest.raises(ValueError, match=r"\(\.\.\., 21, D\)"):
        J.to_ours(np.zeros((20, 3)), "rhd")
