"""Monocular metric placement (per-track hand size, calibrated sizes, depth uncertainty) and the
2D/3D agreement of published hands (joints project onto the published keypoints; the wrist pose
follows its documented definition), on scripted and on rendered frames."""

import numpy as np
import pytest
import torch

from hand_models.fitting import ManoFitter, pose_from_angles, sample_angles
from hand_models.mano import ManoLayer
from hand_perception.core.config import EstimatorConfig, PipelineConfig, TemporalSection
from hand_perception.core.estimator import HandEstimator
from hand_perception.core.placement import (
    HandSizeTracker,
    hand_length,
    on_rays,
    place_monocular,
    project,
    spread_keypoints,
    wrist_frame,
)
from hand_perception.core.types import CameraIntrinsics, Keypoints2D

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
INTR = CameraIntrinsics(K=K, width=640, height=480)


def _hand(side, seed, transl=(0.0, 0.0, 0.5)):
    rng = np.random.default_rng(seed)
    layer = ManoLayer(side, dtype=torch.float64)
    pose = pose_from_angles(sample_angles(rng, 1), ManoFitter(side).frames)
    go = np.array([[0.0, 0.0, np.pi / 2]])  # fingers up, palm to the camera
    out = layer(global_orient=torch.tensor(go), hand_pose=torch.tensor(pose), transl=torch.tensor([transl]))
    return out.joints[0].numpy()


class ScriptedTracker:
    """Reports given hands: exact keypoints, metric shape scaled by ``shape_scale`` (the network's size error)."""

    def __init__(self, frames, shape_scale=1.0):
        self.frames, self.i, self.shape_scale = list(frames), 0, shape_scale

    def reset(self):
        pass

    def process(self, image, stamp_ns, still=False):
        hands = self.frames[min(self.i, len(self.frames) - 1)]
        self.i += 1
        out = []
        for track_id, (side, joints) in enumerate(hands):
            uv = project(joints, INTR)
            out.append(Keypoints2D(keypoints=uv, confidence=np.ones(21), side=side, side_score=0.99, score=0.95,
                                   bbox=np.r_[uv.min(0), uv.max(0)],
                                   landmarks_3d=(joints - joints.mean(0)) * self.shape_scale, track_id=track_id))
        return out


def _quat_matrix(q):
    from scipy.spatial.transform import Rotation

    return Rotation.from_quat(q).as_matrix()


def _angle_deg(Ra, Rb):
    return float(np.degrees(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1, 1))))


def test_hand_size_tracker_is_a_running_median_and_calibration_wins():
    t = HandSizeTracker(window=5)
    assert np.isnan(t.value)
    for v in (0.18, 0.19, 0.50, 0.20, float("nan"), 0.185):
        t.update(v)
    assert t.value == pytest.approx(0.19) and t.count == 5  # the outlier and the NaN do not move it
    for v in (0.2, 0.2, 0.2, 0.2, 0.2):
        t.update(v)
    assert t.value == pytest.approx(0.2)  # the window forgets old frames
    cal = HandSizeTracker(calibrated=0.17)
    cal.update(0.25)
    assert cal.value == 0.17 and cal.rel_std < t.rel_std


def test_spread_keypoints_and_rays_round_trip_with_distortion():
    kp = np.random.default_rng(0).uniform(100, 400, (21, 2))
    out = spread_keypoints(kp, 0.9)
    np.testing.assert_allclose(out.mean(0), kp.mean(0))
    np.testing.assert_allclose(out - out.mean(0), (kp - kp.mean(0)) / 0.9)
    np.testing.assert_allclose(spread_keypoints(kp, 1.0), kp)
    intr = CameraIntrinsics(K=K, dist=np.array([-0.2, 0.05, 0.001, -0.001, 0.0]), width=640, height=480)
    P = on_rays(kp, np.linspace(0.4, 0.6, 21), intr)
    np.testing.assert_allclose(P[:, 2], np.linspace(0.4, 0.6, 21))
    np.testing.assert_allclose(project(P, intr), kp, atol=1e-3)


def test_place_monocular_uses_the_tracks_hand_size():
    truth = _hand("right", 3, (0.05, 0.0, 0.6))
    uv = project(truth, INTR)
    conf = np.ones(21)
    # the network's hand is 12 % too large, but the calibrated hand length fixes the depth
    size = HandSizeTracker(calibrated=hand_length(truth))
    placed = place_monocular((truth - truth[0]) * 1.12, uv, conf, INTR, size, spread=1.0)
    assert placed.depth == pytest.approx(truth[0, 2], rel=1e-3)
    np.testing.assert_allclose(placed.joints, truth, atol=1e-3)
    assert 0 < placed.depth_std < 0.1 * placed.depth
    # estimated: one frame's size jitter no longer moves the hand once the track knows its size
    est = HandSizeTracker()
    depths = [place_monocular((truth - truth[0]) * s, uv, conf, INTR, est, spread=1.0).depth
              for s in (1.0, 1.0, 1.0, 1.0, 1.15)]
    assert depths[-1] == pytest.approx(depths[0], rel=1e-6)
    assert est.rel_std > size.rel_std
    # the keypoint spread correction brings a hand placed on compact keypoints closer by that factor
    c = uv.mean(0)
    compact = c + (uv - c) * 0.95
    placed = place_monocular(truth - truth[0], compact, conf, INTR, HandSizeTracker(hand_length(truth)), spread=0.95)
    assert placed.depth == pytest.approx(truth[0, 2], rel=0.01)


def test_calibrated_hand_length_per_side_in_the_estimator():
    truth = _hand("right", 4, (0.0, 0.02, 0.55))
    img = np.zeros((480, 640, 3), np.uint8)
    depth = {}
    for calibrated in (0.0, hand_length(truth)):
        cfg = EstimatorConfig(keypoint_spread=1.0, hand_length_right_m=calibrated)
        est = HandEstimator(cfg, TemporalSection(model="none"), tracker=ScriptedTracker([[("right", truth)]], 1.1))
        hand = est.process(img, 1, INTR).hands[0]
        depth[calibrated] = hand.depth
        assert hand.placement_source == "monocular" and np.isfinite(hand.depth_std) and hand.depth_std > 0
    assert depth[0.0] == pytest.approx(1.1 * truth[0, 2], rel=0.02)  # trusts the network's size
    assert depth[hand_length(truth)] == pytest.approx(truth[0, 2], rel=0.01)


def test_streaming_publishes_this_frames_keypoints_without_lag():
    """A hand moving at 1.2 m/s: the published 2D are this frame's keypoints (a low-pass filter
    would trail them by pixels), and the joints still project onto them."""
    truth = _hand("right", 5, (-0.1, 0.0, 0.5))
    frames = [[("right", truth + [0.04 * i, 0.0, 0.0])] for i in range(8)]
    est = HandEstimator(EstimatorConfig(keypoint_spread=1.0), tracker=ScriptedTracker(frames))
    img = np.zeros((480, 640, 3), np.uint8)
    for i in range(8):
        hand = est.process(img, (i + 1) * 33_333_333, INTR).hands[0]
        expected = project(frames[i][0][1], INTR)
        np.testing.assert_allclose(hand.keypoints_2d, expected, atol=1e-6)
        assert np.abs(project(hand.joints, INTR) - hand.keypoints_2d).max() < 1e-6
        assert _angle_deg(_quat_matrix(hand.wrist_orientation_xyzw), wrist_frame(hand.joints, "right")) < 1e-3


@pytest.mark.parametrize("still", [False, True])
def test_rendered_hands_agree_in_2d_and_3d(still):
    """On rendered frames (streaming and stills): published joints projected with the intrinsics
    land on the published keypoints (<= 2 px mean; was 11.9 px) and the published wrist pose
    is the documented wrist frame of the published joints (<= 1 degree; was up to 8)."""
    from hand_models.render import render_sequence

    frames = list(render_sequence(8, width=640, height=480, seed=3))
    est = HandEstimator(PipelineConfig().estimator, PipelineConfig().temporal)
    n = 0
    for f in frames:
        intr = CameraIntrinsics(K=np.asarray(f.K, float), dist=np.asarray(f.dist, float), width=640, height=480)
        for h in est.process(f.image, int(f.stamp_ns) + 1, intr, still=still).hands:
            reproj = np.linalg.norm(project(h.joints, intr) - h.keypoints_2d, axis=1)
            assert reproj.mean() <= 2.0 and reproj.max() <= 4.0
            assert _angle_deg(_quat_matrix(h.wrist_orientation_xyzw), wrist_frame(h.joints, h.side)) <= 1.0
            np.testing.assert_allclose(h.wrist_position, h.joints[0])
            assert np.isfinite(h.depth_std) and 0 < h.depth_std < h.depth
            n += 1
    assert n >= 8  # both hands in most frames


def test_bone_length_depth_recovers_the_depth_from_known_bones():
    from hand_perception.core.placement import bone_length_depth, bone_lengths

    truth = _hand("left", 7, (0.03, -0.02, 0.65))
    uv = project(truth, INTR)
    z = bone_length_depth(uv, truth[:, 2] - truth[0, 2], bone_lengths(truth), np.ones(21), INTR, z0=0.5)
    assert z == pytest.approx(truth[0, 2], abs=1e-4)
    # bones 10 % longer: the hand must be 10 % farther to project the same
    z = bone_length_depth(uv, (truth[:, 2] - truth[0, 2]) * 1.1, 1.1 * bone_lengths(truth), np.ones(21), INTR, z0=0.5)
    assert z == pytest.approx(1.1 * truth[0, 2], rel=1e-3)
