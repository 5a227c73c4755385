"""Track bookkeeping of the MediaPipe tracker (``core.hand_tracking``) without the models, and the
layout of the modules split out of ``core.mediapipe_hands`` (old import paths keep working).

Hands are synthetic ``HandResult`` s: a 21-point square "hand" of a given size at a given centre (px),
with the landmark model's handedness probability; stamps in ns.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from hand_perception.core import hand_tracking as ht
from hand_perception.core.handedness import HandednessEvidence
from hand_perception.core.mediapipe_models import LandmarkOutput
from hand_perception.core.roi import RotatedRect

MS = 1_000_000


def _hand(cx: float, cy: float, size: float = 100.0, right_prob: float = 0.5, track=None) -> ht.HandResult:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 0.5, (21, 2)) * size
    pts[0], pts[1] = (-size / 2, -size / 2), (size / 2, size / 2)  # keypoint box exactly size x size
    pts = pts - pts.mean(axis=0) + (cx, cy)
    out = LandmarkOutput(pts, np.zeros(21), 0.9, right_prob, np.zeros((21, 3)), RotatedRect(cx, cy, 2 * size, 2 * size))
    lo, hi = pts.min(0), pts.max(0)
    return ht.HandResult(ht.Candidate(out.rect, track), out, np.array([lo[0], lo[1], hi[0], hi[1]]))


def _track(track_id: int, cx: float, cy: float, stamp: int, size: float = 100.0, right: bool | None = None,
           velocity=(0.0, 0.0)) -> ht.Track:
    ev = HandednessEvidence(0.9)
    if right is not None:
        for _ in range(5):
            ev.update(0.95 if right else 0.05)
    tr = ht.Track(track_id, RotatedRect(cx, cy, 2 * size, 2 * size), ev, age=5)
    tr.centre, tr.size, tr.stamp, tr.velocity = np.array([cx, cy], float), size, stamp, np.array(velocity, float)
    return tr


def test_prediction_follows_damped_velocity():
    tr = _track(0, 100.0, 100.0, 0, velocity=(120.0, 0.0))
    assert np.allclose(tr.predict_centre(0), (100.0, 100.0))
    # damped constant velocity: x(t) = x0 + v (1 - exp(-k t)) / k, k = 12/s -> at most v / k = 10 px ahead
    assert tr.predict_centre(100 * MS)[0] == pytest.approx(100.0 + 120.0 * (1 - np.exp(-1.2)) / 12.0)
    assert tr.predict_centre(10_000 * MS)[0] == pytest.approx(110.0)
    assert ht.prediction_error(tr, _hand(160.0, 100.0), 10_000 * MS) == pytest.approx(0.5)


def test_revive_pairs_closest_first_and_gates_far_small_and_wrong_side_hands():
    lost = [_track(3, 100.0, 100.0, 0, right=True), _track(7, 400.0, 100.0, 0, right=False)]
    near_7, near_3 = _hand(420.0, 110.0, right_prob=0.2), _hand(130.0, 100.0, right_prob=0.7)
    far = _hand(250.0, 400.0)
    left = ht.revive([near_7, near_3, far], lost, 200 * MS, revive_distance=0.75, memory_s=1.0)
    assert left == []
    assert near_7.cand.track.track_id == 7 and near_3.cand.track.track_id == 3 and far.cand.track is None
    # gates: too far (> 0.75 hand sizes), size off by more than 2x, confidently the other side
    tr = _track(3, 100.0, 100.0, 0, right=True)
    assert ht.revive_cost(tr, _hand(180.0, 100.0), 0, 0.75) is None
    assert ht.revive_cost(tr, _hand(110.0, 100.0, size=40.0), 0, 0.75) is None
    assert ht.revive_cost(tr, _hand(110.0, 100.0, right_prob=0.02), 0, 0.75) is None
    assert ht.revive_cost(tr, _hand(130.0, 100.0), 0, 0.75) == pytest.approx(30.0 / 75.0)
    # memory off: nothing is revived and the lost list is returned as it is
    h = _hand(100.0, 100.0)
    assert ht.revive([h], lost, 0, 0.75, memory_s=0.0) is lost and h.cand.track is None


def test_update_tracks_keeps_ids_remembers_lost_and_never_reuses_ids():
    a, b = _track(0, 100.0, 100.0, 0), _track(1, 400.0, 100.0, 0)
    kept = _hand(105.0, 100.0, track=a)
    new = _hand(250.0, 300.0)
    tracks, lost, next_id = ht.update_tracks([kept, new], [a, b], [], 33 * MS, 2, 0.9, 1.0, 0.75)
    assert [t.track_id for t in tracks] == [0, 2] and next_id == 3
    assert lost == [b] and a.age == 6 and a.stamp == 33 * MS
    assert np.allclose(a.centre, (105.0, 100.0))
    # b's hand comes back near where it was lost -> id 1 again; lost tracks are forgotten after memory_s
    back = _hand(410.0, 100.0)
    tracks, lost, next_id = ht.update_tracks([back], tracks, lost, 500 * MS, next_id, 0.9, 1.0, 0.75)
    assert back.cand.track is b and [t.track_id for t in tracks] == [1] and next_id == 3
    assert {t.track_id for t in lost} == {0, 2}
    assert ht.forget_lost(lost, 1033 * MS, 1.0) == lost and ht.forget_lost(lost, 1034 * MS, 1.0) == []  # seen at 33 ms


def test_swap_drifted_hands_a_confidently_other_side_hand_back_to_the_lost_track():
    right_track = _track(0, 300.0, 100.0, 0, right=True)
    lost_left = _track(1, 320.0, 110.0, 0, right=False)
    r = _hand(310.0, 100.0, right_prob=0.02, track=right_track)  # the right track drifted onto the left hand
    lost = [lost_left]
    assert ht.swap_drifted([r], lost, 100 * MS, revive_distance=0.75)
    assert r.cand.track is lost_left and lost == []
    # a hand of the track's own side is left alone
    r2 = _hand(310.0, 100.0, right_prob=0.98, track=right_track)
    lost = [_track(1, 320.0, 110.0, 0, right=False)]
    assert not ht.swap_drifted([r2], lost, 100 * MS, 0.75) and r2.cand.track is right_track and len(lost) == 1


def test_duplicates_inside_and_overlap_weights():
    a, same, inner, apart = _hand(100.0, 100.0), _hand(110.0, 100.0), _hand(100.0, 100.0, size=30.0), _hand(400.0, 100.0)
    assert ht.is_duplicate(same, [a], 0.2) and not ht.is_duplicate(apart, [a], 0.2)
    assert ht.is_inside(inner, [a], 0.7) and not ht.is_inside(apart, [a], 0.7)
    assert ht.box_iou(a.box, apart.box) == 0.0 and ht.box_iou(a.box, a.box) == pytest.approx(1.0)
    w = ht.overlap_weights([a, same, apart])
    assert w[2] == pytest.approx(0.9) and w[0] == pytest.approx(0.9 * (1 - ht.box_iou(a.box, same.box)))


# --------------------------------------------------------------------------------------------------
# layout

CORE = Path(ht.__file__).resolve().parent
OLD_NAMES = [
    "MediaPipeHandTracker", "MediaPipeHandsBaseline", "ModelFileError", "prepare_image", "tile_regions",
    "DEFAULT_MAX_IMAGE_SIDE", "DEFAULT_MAX_IMAGE_PIXELS", "NUM_JOINTS", "PalmDetector", "HandLandmarkModel",
    "LandmarkOutput", "mediapipe_model_path", "PALM_MODEL", "LANDMARK_MODEL", "MEDIAPIPE_REQUIREMENT",
    "_Track", "_Candidate", "_Result", "_other_side", "_box_iou", "_check_stamp",
]


def test_old_import_paths_still_resolve():
    mp = importlib.import_module("hand_perception.core.mediapipe_hands")
    for name in OLD_NAMES:
        assert hasattr(mp, name), f"hand_perception.core.mediapipe_hands.{name} no longer resolves"
    from hand_perception.core.image_input import prepare_image
    from hand_perception.core.mediapipe_baseline import MediaPipeHandsBaseline

    assert mp.MediaPipeHandsBaseline is MediaPipeHandsBaseline and mp.prepare_image is prepare_image
    assert mp._Track is ht.Track and mp._Result is ht.HandResult
    star: dict[str, object] = {}
    exec("from hand_perception.core.mediapipe_hands import *", star)  # noqa: S102
    assert set(mp.__all__) <= set(star)


@pytest.mark.parametrize("name", ["mediapipe_hands", "hand_tracking", "image_input", "mediapipe_baseline"])
def test_split_modules_are_small_and_documented(name):
    mod = importlib.import_module(f"hand_perception.core.{name}")
    lines = (CORE / f"{name}.py").read_text(encoding="utf-8").count("\n")
    assert lines < 600, f"core/{name}.py has {lines} lines: split it by job"
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40
