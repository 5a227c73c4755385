"""Gesture rules on synthetic kinematic hands (both sides, random orientations, scales, noise)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import hand_pose_factory as F
from hand_perception.core.gestures import (
    GESTURE_LABELS,
    GestureConfig,
    classify_gesture,
    hand_features,
)


def _top(joints, side, **kw):
    hyps = classify_gesture(joints, side, **kw)
    return hyps[0].label, {h.label: h.probability for h in hyps}


def test_labels_are_the_documented_set():
    assert set(GESTURE_LABELS) == set(F.LABELS) | {"none"}
    assert len(GESTURE_LABELS) == 13


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("label", F.LABELS)
def test_canonical_pose_is_top1_for_random_orientations(label, side):
    rng = np.random.default_rng(2 * F.LABELS.index(label) + (side == "left"))
    for _ in range(25):
        rot = F.rotation_for(label, side, rng)
        joints = F.make_hand(label, side, rot, translation=rng.normal(size=3) * 0.2 + [0, 0, 0.6],
                             scale=rng.uniform(0.75, 1.3))
        top, probs = _top(joints, side)
        assert top == label, (label, side, sorted(probs.items(), key=lambda kv: -kv[1])[:3])
        assert probs[label] > 0.8


@pytest.mark.parametrize("label", F.LABELS)
def test_top1_survives_joint_noise(label):
    """3 mm isotropic noise per joint (hands scaled 0.75-1.3): still top-1 (measured: 100 % at
    3 mm; at 5 mm ~99.6 %, the misses being pinch/ok/open_palm/fist on the smallest hands)."""
    rng = np.random.default_rng(1000 + F.LABELS.index(label))
    for i in range(20):
        side = ("left", "right")[i % 2]
        rot = F.rotation_for(label, side, rng)
        joints = F.make_hand(label, side, rot, scale=rng.uniform(0.75, 1.3), noise_m=0.003, rng=rng)
        assert _top(joints, side)[0] == label


def test_mirrored_hand_gives_the_same_answer():
    rng = np.random.default_rng(3)
    for label in F.LABELS:
        rot = F.rotation_for(label, "right", rng)
        right = F.make_hand(label, "right", rot)
        left = right * np.array([-1.0, 1.0, 1.0])  # a mirror image is a left hand
        pr = dict((h.label, h.probability) for h in classify_gesture(right, "right"))
        pl = dict((h.label, h.probability) for h in classify_gesture(left, "left"))
        for k in GESTURE_LABELS:
            assert pr[k] == pytest.approx(pl[k], abs=1e-9)


def test_thumb_direction_decides_up_or_down_and_up_is_minus_y():
    rng = np.random.default_rng(4)
    rot = F.rotation_for("thumbs_up", "right", rng, max_tilt_deg=0.0)
    up = F.make_hand("thumbs_up", "right", rot)
    assert _top(up, "right")[0] == "thumbs_up"
    # turn the camera upside down (180 deg about the optical axis): now a thumbs down
    flip = Rotation.from_rotvec([0.0, 0.0, math.pi])
    assert _top(flip.apply(up), "right")[0] == "thumbs_down"
    # with a custom "up" (e.g. gravity from an IMU) the same pose reads the other way
    assert _top(up, "right", up=np.array([0.0, 1.0, 0.0]))[0] == "thumbs_down"
    # thumb horizontal: neither up nor down
    sideways = Rotation.from_rotvec([0.0, 0.0, math.pi / 2]).apply(up)
    top, probs = _top(sideways, "right")
    assert top not in ("thumbs_up", "thumbs_down")


def test_relaxed_half_curled_hand_is_none():
    flex = (45.0, 45.0, 30.0)
    F.CANONICAL["_relaxed"] = (dict(index=flex, middle=flex, ring=flex, pinky=flex),
                               ((45.0, 30.0), (30.0, 35.0), (20.0, 35.0)), {})
    try:
        rng = np.random.default_rng(5)
        tops = [_top(F.make_hand("_relaxed", "right", F.rotation_for("_relaxed", "right", rng)), "right")[0]
                for _ in range(20)]
    finally:
        del F.CANONICAL["_relaxed"]
    assert tops.count("none") >= 18


def test_output_is_a_sorted_distribution():
    j = F.make_hand("victory", "left", Rotation.random(random_state=7))
    hyps = classify_gesture(j, "left")
    assert [h.label for h in hyps].count("none") == 1 and len(hyps) == 13
    probs = [h.probability for h in hyps]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) == pytest.approx(1.0)
    assert all(h.verb == "" and h.noun == "" for h in hyps)
    # lower temperature -> sharper
    sharp = classify_gesture(j, "left", GestureConfig(temperature=0.02))
    assert sharp[0].probability > hyps[0].probability


def test_random_poses_do_not_crash():
    rng = np.random.default_rng(8)
    for i in range(200):
        scale = 10.0 ** rng.uniform(-4, 1)
        j = rng.normal(size=(21, 3)) * scale
        if i % 10 == 0:
            j[rng.integers(21)] = j[0]  # coincident joints
        hyps = classify_gesture(j, ("left", "right")[i % 2])
        p = np.array([h.probability for h in hyps])
        assert np.all(np.isfinite(p)) and p.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("joints", [np.full((21, 3), np.nan), np.zeros((21, 3)), np.full((21, 3), np.inf)])
def test_degenerate_input_is_none(joints):
    hyps = classify_gesture(joints, "right")
    assert hyps[0].label == "none" and hyps[0].probability == 1.0
    assert hand_features(joints) is None


def test_bad_arguments_raise():
    j = F.make_hand("fist")
    with pytest.raises(ValueError):
        classify_gesture(j[:20], "right")
    with pytest.raises(ValueError):
        classify_gesture(j, "both")
    with pytest.raises(ValueError):
        classify_gesture(j, "right", up=np.zeros(3))


def test_features_are_scale_invariant():
    j = F.make_hand("ok", "right", Rotation.random(random_state=9))
    a, b = hand_features(j), hand_features(j * 3.0)
    assert a.extension == pytest.approx(b.extension)
    assert a.thumb_index_distance == pytest.approx(b.thumb_index_distance)
    assert b.hand_size == pytest.approx(3 * a.hand_size)
