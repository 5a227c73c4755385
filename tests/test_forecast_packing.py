"""Lean forecast messages: the int8 sample packing, its error bound, and the CDR size (issue 11).

The size reference is the previous message layout (float64 ``geometry_msgs/Point`` per joint,
``Pose[]`` per step, one ``HandTrajectory`` per side and sample), measured on main 5384f3e with
3 samples + mean of both hands over 10 steps (the default horizon 1 s at 0.1 s):
``len(RosbagsTypes().serialize(forecast_to_msg(...)))`` = 59,510 bytes (14,950 for 1 sample of
one hand; 312,062 for 20 samples of both hands).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hand_perception.core import forecast_packing as fp
from hand_perception.core.types import BimanualForecast, ForecastSample, HandState, HandTrajectory, ManoParams

#: CDR bytes of a 3-sample (+ mean) forecast of both hands, 10 steps, in the previous layout
#: (measured on 5384f3e, frame_id "camera_color_optical_frame", model "constant_velocity").
OLD_LAYOUT_3_SAMPLES_BYTES = 59_510


# --------------------------------------------------------------------------- packing


def test_pack_round_trip_within_half_a_code_step():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(10, 66))
    samples = mean[None] + rng.normal(scale=[[[0.01]], [[0.1]], [[0.5]]], size=(3, 10, 66))
    packed = fp.pack_samples(samples, mean)
    assert packed.codes.dtype == np.int8 and packed.codes.shape == (3, 10, 66)
    assert packed.mean.dtype == np.float32 and packed.scale.dtype == np.float32 and packed.scale.shape == (3,)
    assert np.abs(packed.codes).max() == fp.CODE_MAX  # the full code range is used
    err = np.abs(fp.unpack_samples(packed) - samples).reshape(3, -1).max(axis=1)
    largest = np.abs(samples - packed.mean.astype(np.float64)).reshape(3, -1).max(axis=1)
    assert np.all(err <= largest / 127 / 2 * (1 + 1e-4))
    assert np.all(err <= fp.error_bound(packed))
    # the scale follows each sample's own scatter: a close sample is sent more precisely
    assert err[0] < err[1] < err[2]


def test_pack_nan_and_missing_mean():
    samples = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)
    samples[0, 1, 0] = np.nan
    samples[:, 2, 1] = np.nan  # NaN in every sample
    packed = fp.pack_samples(samples, None)
    assert packed.codes[0, 1, 0] == fp.CODE_NAN and (packed.codes[:, 2, 1] == fp.CODE_NAN).all()
    # no mean: the element-wise average of the finite samples is the reference
    np.testing.assert_allclose(packed.mean[0], [3.0, 4.0])
    assert packed.mean[1, 0] == samples[1, 1, 0] and math.isnan(packed.mean[2, 1])
    out = fp.unpack_samples(packed)
    assert np.array_equal(np.isnan(out), np.isnan(samples))
    np.testing.assert_allclose(out[np.isfinite(out)], samples[np.isfinite(samples)], atol=6 / 127)
    # a NaN in the given mean where samples are finite: those samples are still sent
    mean = fp.pack_samples(samples).mean.astype(np.float64)  # the samples' average
    mean[0, 0] = np.nan
    packed = fp.pack_samples(samples, mean)
    assert np.isfinite(packed.mean[0, 0]) and (packed.codes[:, 0, 0] != fp.CODE_NAN).all()
    # identical samples: scale 0, codes 0, exact
    same = np.ones((4, 2, 3))
    packed = fp.pack_samples(same, same[0])
    assert (packed.scale == 0).all() and (packed.codes == 0).all()
    np.testing.assert_array_equal(fp.unpack_samples(packed), same)


def test_pack_rejects_bad_input():
    with pytest.raises(ValueError, match="infinite"):
        fp.pack_samples(np.array([[[np.inf]]]))
    with pytest.raises(ValueError, match="shape"):
        fp.pack_samples(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="mean"):
        fp.pack_samples(np.zeros((2, 3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="do not match"):
        fp.unpack_samples(fp.PackedSamples(np.zeros((3, 4), np.float32), np.zeros((2, 3, 4), np.int8),
                                           np.zeros(3, np.float32)))


# --------------------------------------------------------------------------- messages

rosbags = pytest.importorskip("rosbags")

from hand_perception.core import conversions as conv  # noqa: E402


@pytest.fixture(scope="module")
def rb():
    return conv.RosbagsTypes()


def _hand(side: str, k: int) -> HandState:
    """A hand moving right at 0.3 m/s and turning, with a MANO hand pose that closes."""
    t = k / 30.0
    joints = np.zeros((21, 3))
    joints[1:] = np.linspace([0.0, -0.02, 0.0], [0.01, -0.09, 0.01], 20)
    joints += [(-0.15 if side == "left" else 0.15) + 0.3 * t, 0.05 * t, 0.5]
    angle = 0.8 * t
    quat = np.array([0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2)])
    pose = np.full(45, 0.1 + 0.5 * t)
    mano = ManoParams(global_orient=np.array([0.0, 0.0, angle]), hand_pose=pose, betas=np.zeros(10),
                      transl=joints[0].copy())
    return HandState(side=side, track_id=1 if side == "left" else 2, confidence=0.9, keypoints_2d=np.zeros((21, 2)),
                     keypoint_confidence=np.ones(21), joints=joints, wrist_position=joints[0].copy(),
                     wrist_orientation_xyzw=quat, mano=mano, bbox=np.zeros(4))


def _cv_forecast(num_samples: int) -> BimanualForecast:
    """A real forecast of the constant-velocity forecaster with ``num_samples`` velocity scales."""
    from hand_perception.core.forecasting import ConstantVelocityForecaster, ForecastConfig

    scales = (1.0,) + tuple(np.linspace(0.4, 1.6, num_samples - 1)) if num_samples > 1 else (1.0,)
    cfg = ForecastConfig(velocity_scales=tuple(float(s) for s in scales), sample_weights=(1.0,) * num_samples)
    forecaster = ConstantVelocityForecaster(cfg)
    for k in range(12):
        forecaster.observe(1_700_000_000_000_000_000 + k * 33_333_333, "camera_color_optical_frame",
                           [_hand("left", k), _hand("right", k)])
    forecast = forecaster.forecast()
    assert forecast is not None and len(forecast.samples) == num_samples
    return forecast


def test_twenty_samples_of_both_hands_are_smaller_than_three_in_the_old_layout(rb):
    """Issue 11: 20 samples of both hands (10 steps, MANO hand_pose included) in fewer CDR bytes
    than 3 samples in the previous layout."""
    forecast = _cv_forecast(20)
    assert forecast.samples[0].hands[0].joints.shape == (10, 21, 3)
    assert np.isfinite(forecast.samples[3].hands[1].hand_pose).all()  # every quantity is carried
    data = rb.serialize(conv.forecast_to_msg(forecast, rb, model="constant_velocity"))
    print(f"20 samples x 2 hands x 10 steps: {len(data)} bytes (previous layout, 3 samples: "
          f"{OLD_LAYOUT_3_SAMPLES_BYTES})")
    assert len(data) < OLD_LAYOUT_3_SAMPLES_BYTES
    # and 3 samples are less than a third of before
    assert len(rb.serialize(conv.forecast_to_msg(_cv_forecast(3), rb, model="constant_velocity"))) < \
        OLD_LAYOUT_3_SAMPLES_BYTES / 3


def test_real_forecast_decodes_to_sub_millimetre(rb):
    """On a real forecast (samples scattered by the velocity scales) the decoded joints are within
    0.1 mm, orientations within 0.05 degrees, hand poses within 1 mrad; the mean is float32-exact."""
    forecast = _cv_forecast(20)
    msg = rb.deserialize(rb.serialize(conv.forecast_to_msg(forecast, rb)), conv.BIMANUAL_FORECAST)
    out = conv.msg_to_forecast(msg)
    assert out.stamp_ns == forecast.stamp_ns and out.frame_id == forecast.frame_id
    np.testing.assert_allclose([s.probability for s in out.samples], [s.probability for s in forecast.samples],
                               rtol=1e-6)
    joint_err, angle_err, pose_err = 0.0, 0.0, 0.0
    for a, b in zip(forecast.samples, out.samples):
        for ha, hb in zip(a.hands, b.hands):
            assert ha.side == hb.side
            joint_err = max(joint_err, float(np.abs(ha.joints - hb.joints).max()),
                            float(np.abs(ha.wrist_position - hb.wrist_position).max()))
            dots = np.abs(np.sum(ha.wrist_orientation_xyzw * hb.wrist_orientation_xyzw, axis=1)).clip(max=1.0)
            angle_err = max(angle_err, float(np.degrees(2 * np.arccos(dots)).max()))
            pose_err = max(pose_err, float(np.abs(ha.hand_pose - hb.hand_pose).max()))
    print(f"decoding error: joints {joint_err * 1e3:.4f} mm, orientation {angle_err:.4f} deg, "
          f"hand_pose {pose_err * 1e3:.4f} mrad")
    assert joint_err < 1e-4 and angle_err < 0.05 and pose_err < 1e-3
    for ha, hb in zip(forecast.mean.hands, out.mean.hands):
        np.testing.assert_allclose(hb.joints, ha.joints, rtol=1e-6, atol=1e-7)


def test_forecast_without_mano_sends_no_hand_pose(rb):
    forecast = _cv_forecast(3)
    for part in forecast.samples + [forecast.mean]:
        for h in part.hands:
            h.hand_pose = np.full_like(h.hand_pose, np.nan)
    msg = conv.forecast_to_msg(forecast, rb)
    assert all(len(h.hand_pose) == 0 and len(h.mean_hand_pose) == 0 for h in msg.hands)
    out = conv.msg_to_forecast(rb.deserialize(rb.serialize(msg), conv.BIMANUAL_FORECAST))
    assert all(np.isnan(h.hand_pose).all() and h.hand_pose.shape == (10, 45) for s in out.samples for h in s.hands)


def test_layout_is_row_major_samples_steps_joints(rb):
    """Element [s, t, j, c] of joints is joints[((s * T + t) * 21 + j) * 3 + c], as the .msg says."""
    rng = np.random.default_rng(5)
    T, S = 4, 3
    trajs = [HandTrajectory("right", rng.normal(size=(T, 3)), np.tile([0.0, 0.0, 0.0, 1.0], (T, 1)),
                            rng.normal(size=(T, 21, 3)), rng.normal(size=(T, 45))) for _ in range(S + 1)]
    fc = BimanualForecast(5, "cam", 0.1, 0.4, [ForecastSample(1 / S, [t]) for t in trajs[1:]],
                          ForecastSample(1.0, [trajs[0]]))
    msg = conv.forecast_to_msg(fc, rb)
    (hand,) = msg.hands
    assert msg.num_samples == S and msg.num_steps == T
    mean = np.asarray(hand.mean_joints, dtype=np.float64).reshape(T, 21, 3)
    codes = np.asarray(hand.joints).reshape(S, T, 21, 3)
    scale = np.asarray(hand.position_scale, dtype=np.float64)
    s, t, j, c = 2, 3, 17, 1
    flat = np.asarray(hand.joints)[((s * T + t) * 21 + j) * 3 + c]
    assert flat == codes[s, t, j, c]
    value = mean[t, j, c] + scale[s] * flat
    assert abs(value - trajs[s + 1].joints[t, j, c]) <= scale[s] / 2 * (1 + 1e-4)
