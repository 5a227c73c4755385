"""Estimator core without MediaPipe: placement, wrist frame, config, and the full per-frame
path driven by a scripted tracker that 'sees' MANO hands projected into the image."""

import numpy as np
import pytest
import torch

from hand_models.fitting import ManoFitter, pose_from_angles, sample_angles
from hand_models.mano import ManoLayer
from hand_perception.core.config import EstimatorConfig, load_pipeline_config, pipeline_config_from_dict
from hand_perception.core.estimator import HandEstimator
from hand_perception.core.pipeline import HandPerceptionPipeline
from hand_perception.core.placement import default_intrinsics, place_hand, wrist_frame, wrist_pose
from hand_perception.core.types import CameraIntrinsics, Keypoints2D

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])


def _project(points, K):
    return (points[:, :2] / points[:, 2:3]) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]


def _hand(side, seed, transl=(0.0, 0.0, 0.5)):
    rng = np.random.default_rng(seed)
    layer = ManoLayer(side, dtype=torch.float64)
    pose = pose_from_angles(sample_angles(rng, 1), ManoFitter(side).frames)
    # palm towards the camera, fingers up: rotate the model's +x (fingers) to -y (image up)
    go = np.array([[0.0, 0.0, np.pi / 2]])
    out = layer(global_orient=torch.tensor(go), hand_pose=torch.tensor(pose), transl=torch.tensor([transl]))
    return out.joints[0].numpy()


def test_place_hand_recovers_translation():
    joints = _hand("right", 0)
    shape = joints - joints.mean(0)  # hand-centred metric shape, camera axes
    uv = _project(joints, K)
    placed = place_hand(shape, uv, np.ones(21), CameraIntrinsics(K=K))
    assert np.allclose(placed.joints, joints, atol=1e-6)
    assert placed.reprojection_px < 1e-3
    assert placed.depth == pytest.approx(joints[0, 2], abs=1e-6)


def test_place_hand_with_distortion_and_missing_points():
    import cv2

    joints = _hand("left", 1, transl=(0.1, -0.05, 0.7))
    dist = np.array([-0.2, 0.05, 0.001, -0.001, 0.0])
    uv, _ = cv2.projectPoints(joints, np.zeros(3), np.zeros(3), K, dist)
    conf = np.ones(21)
    conf[[4, 8]] = 0.0
    uv = uv[:, 0]
    uv[[4, 8]] = np.nan
    placed = place_hand(joints - joints[0], uv, conf, CameraIntrinsics(K=K, dist=dist))
    assert np.allclose(placed.joints, joints, atol=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        place_hand(joints, uv, np.zeros(21), CameraIntrinsics(K=K))


@pytest.mark.parametrize("side", ["left", "right"])
def test_wrist_frame_is_a_right_handed_frame_with_palm_normal(side):
    joints = _hand(side, 2)
    R = wrist_frame(joints, side)
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.linalg.det(R) == pytest.approx(1.0)
    x = joints[9] - joints[0]
    assert np.dot(R[:, 0], x / np.linalg.norm(x)) == pytest.approx(1.0)
    pos, q = wrist_pose(joints, side)
    assert np.allclose(pos, joints[0]) and np.linalg.norm(q) == pytest.approx(1.0) and q[3] >= 0


def test_default_intrinsics_documented_value():
    intr = default_intrinsics(640, 480)
    assert intr.is_default and intr.K[0, 0] == 640 and intr.K[1, 2] == 240


def test_config_rejects_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="unknown keys in estimator"):
        pipeline_config_from_dict({"estimator": {"max_handz": 2}})
    with pytest.raises(ValueError, match="unknown sections"):
        pipeline_config_from_dict({"estimatorr": {}})
    path = tmp_path / "p.yaml"
    path.write_text("estimator:\n  max_hands: 1\ntemporal:\n  max_gap_s: 0.2\nforecast:\n  horizon_s: 0.5\n")
    cfg = load_pipeline_config(path)
    assert cfg.estimator.max_hands == 1 and cfg.temporal.max_gap_s == 0.2 and cfg.forecast.horizon_s == 0.5
    with pytest.raises(ValueError, match="cannot read pipeline config"):
        load_pipeline_config(tmp_path / "missing.yaml")


class ScriptedTracker:
    """Stands in for MediaPipe: reports given hands as keypoints with a noisy metric shape."""

    def __init__(self, hands_per_frame):
        self.frames = list(hands_per_frame)
        self.i = 0
        self.resets = 0

    def reset(self):
        self.resets += 1

    def process(self, image, stamp_ns, still=False):
        hands = self.frames[min(self.i, len(self.frames) - 1)]
        self.i += 1
        out = []
        for track_id, (side, joints) in enumerate(hands):
            uv = _project(joints, K)
            out.append(Keypoints2D(keypoints=uv, confidence=np.ones(21), side=side, side_score=0.99, score=0.95,
                                   bbox=np.r_[uv.min(0), uv.max(0)], landmarks_3d=joints - joints.mean(0),
                                   track_id=track_id))
        return out


def test_estimator_end_to_end_with_scripted_tracker():
    left, right = _hand("left", 3, (-0.12, 0.0, 0.55)), _hand("right", 4, (0.12, 0.0, 0.6))
    tracker = ScriptedTracker([[("left", left), ("right", right)]] * 5)
    # the scripted keypoints are exact joint projections, not MediaPipe's compact keypoints
    est = HandEstimator(EstimatorConfig(keypoint_spread=1.0), tracker=tracker)
    image = np.zeros((480, 640, 3), np.uint8)
    intr = CameraIntrinsics(K=K, width=640, height=480)
    for i in range(5):
        result = est.process(image, (i + 1) * 33_000_000, intr, frame_id="cam")
    assert [h.side for h in result.hands] == ["left", "right"]
    for hand, truth in zip(result.hands, (left, right)):
        assert np.linalg.norm(hand.joints - truth, axis=1).mean() < 2e-3
        assert hand.mano is not None and hand.mano.hand_pose.shape == (45,)
        assert hand.model.startswith("procedural_mano")
        assert hand.depth == pytest.approx(truth[0, 2], abs=5e-3)
    assert set(result.stage_latency_s) == {"keypoints", "placement", "mano_fit", "temporal"}
    assert result.frame_id == "cam" and not result.intrinsics_default


def test_estimator_bad_input_handling():
    right = _hand("right", 5)
    tracker = ScriptedTracker([[("right", right)]])
    est = HandEstimator(tracker=tracker)
    img = np.zeros((480, 640, 3), np.uint8)
    r = est.process(img, 10, CameraIntrinsics(K=np.full((3, 3), np.nan)))
    assert r.intrinsics_default and any("invalid camera intrinsics" in w for w in r.warnings)
    r = est.process(img, 5, CameraIntrinsics(K=K))  # stamp went backwards
    assert any("tracks reset" in w for w in r.warnings) and tracker.resets == 1
    with pytest.raises(TypeError, match="uint8"):
        est.process(np.zeros((480, 640, 3), np.float32), 20)
    with pytest.raises(ValueError, match="empty"):
        est.process(np.zeros((0, 640, 3), np.uint8), 21)
    with pytest.raises(ValueError, match="3 channels"):
        est.process(np.zeros((480, 640, 5), np.uint8), 22)
    with pytest.raises(TypeError, match="stamp_ns"):
        est.process(img, 23.5)
    # a non-contiguous BGR view still works
    r = est.process(np.zeros((480, 1280, 3), np.uint8)[:, ::2], 30, CameraIntrinsics(K=K), color_order="bgr")
    assert len(r.hands) == 1


def test_pipeline_forecasts_and_actions_at_its_rate():
    right = _hand("right", 6)
    frames = [[("right", right + [0.002 * i, 0.0, 0.0])] for i in range(12)]
    pipe = HandPerceptionPipeline(tracker=ScriptedTracker(frames))
    outs = [pipe.process(np.zeros((480, 640, 3), np.uint8), int(i * 1e9 / 30), CameraIntrinsics(K=K))
            for i in range(12)]
    with_forecast = [o for o in outs if o.forecast is not None]
    assert 3 <= len(with_forecast) <= 5  # 10 Hz forecasts on a 30 Hz stream over 0.4 s
    fc = with_forecast[-1].forecast
    traj = fc.samples[0].hands[0]
    assert traj.side == "right" and traj.joints.shape[1:] == (21, 3)
    # the hand moves +x at 6 cm/s: the forecast continues that way from the frame it was made on
    # (later frames of the stream have moved on: the damped forecast travels only ~v / damping)
    last = with_forecast[-1].frame.hands[0].wrist_position[0]
    assert traj.wrist_position[0, 0] > last and traj.wrist_position[-1, 0] > traj.wrist_position[0, 0]
    assert with_forecast[-1].actions and with_forecast[-1].actions[0].taxonomy == "gestures"


def test_temporal_model_selection():
    from hand_perception.core.estimator import make_temporal_model
    from hand_perception.core.temporal import OneEuroTemporalModel

    cfg = pipeline_config_from_dict({"temporal": {"model": "none"}})
    assert make_temporal_model(cfg.temporal) is None
    cfg = pipeline_config_from_dict({"temporal": {"max_gap_s": 0.2}})
    model = make_temporal_model(cfg.temporal)
    assert isinstance(model, OneEuroTemporalModel)
    with pytest.raises(ValueError, match="needs temporal.checkpoint"):
        pipeline_config_from_dict({"temporal": {"model": "unihand"}})
    with pytest.raises(ValueError, match="temporal.model must be"):
        pipeline_config_from_dict({"temporal": {"model": "kalman"}})


def test_forecaster_selection():
    from hand_perception.core.forecasting import ConstantVelocityForecaster
    from hand_perception.core.pipeline import make_forecaster

    cfg = pipeline_config_from_dict({"forecast": {"horizon_s": 0.5, "time_step_s": 0.05}})
    fc = make_forecaster(cfg.forecast)
    assert isinstance(fc, ConstantVelocityForecaster) and fc.config.horizon_s == 0.5
    with pytest.raises(ValueError, match="needs forecast.checkpoint"):
        pipeline_config_from_dict({"forecast": {"model": "ghtt"}})
    with pytest.raises(ValueError, match="forecast.model must be one of"):
        pipeline_config_from_dict({"forecast": {"model": "lstm"}})


def test_warm_started_fit_falls_back_when_the_hand_jumps():
    from hand_perception.core.config import EstimatorConfig, TemporalSection

    first, second = _hand("right", 20, (0.0, 0.0, 0.5)), _hand("right", 21, (0.05, 0.02, 0.45))
    tracker = ScriptedTracker([[("right", first)], [("right", second)]])
    est = HandEstimator(EstimatorConfig(keypoint_spread=1.0), TemporalSection(model="none"), tracker=tracker)
    img = np.zeros((480, 640, 3), np.uint8)
    est.process(img, 1, CameraIntrinsics(K=K))
    result = est.process(img, 2, CameraIntrinsics(K=K))  # same track, very different pose
    assert np.linalg.norm(result.hands[0].joints - second, axis=1).mean() < 2e-3
