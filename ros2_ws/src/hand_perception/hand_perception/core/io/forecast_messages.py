"""Forecast messages: core :class:`BimanualForecast` <-> ``hand_perception_msgs/BimanualForecast``.

Packed layout (see HandTrajectory.msg): per side, the mean trajectory in float32 and the S
samples as int8 codes of their deviation from it (:mod:`.forecast_packing`). Wrist position and
joints share one scale per sample (metres), orientation and hand_pose have their own. Works with
any type provider of :mod:`.conversions` (rosbags, rclpy); re-exported there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .conversions import (
    BIMANUAL_FORECAST,
    HAND_POSE_DIM,
    HAND_TRAJECTORY,
    NUM_JOINTS,
    MessageTypes,
    _f64,
    _header,
    _side_code,
    _side_name,
    _UINT32_MAX,
    time_to_ns,
)
from ..types import BimanualForecast, ForecastSample, HandTrajectory, Side


_POS_DIM = 3 + NUM_JOINTS * 3  # wrist position + joints, packed together


def _trajectory_arrays(traj: HandTrajectory, steps: int, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions (T, 66), orientations (T, 4), hand_pose (T, 45)) of a trajectory, shapes checked."""
    position = _f64(traj.wrist_position, (steps, 3), f"{name}.wrist_position")
    orientation = _f64(traj.wrist_orientation_xyzw, (steps, 4), f"{name}.wrist_orientation_xyzw")
    joints = _f64(traj.joints, (steps, NUM_JOINTS, 3), f"{name}.joints")
    hand_pose = _f64(traj.hand_pose, (steps, HAND_POSE_DIM), f"{name}.hand_pose")
    return np.concatenate([position, joints.reshape(steps, NUM_JOINTS * 3)], axis=1), orientation, hand_pose


def _steps_of(traj: HandTrajectory, name: str) -> int:
    position = np.asarray(traj.wrist_position)
    if position.ndim != 2 or position.shape[1] != 3:
        raise ValueError(f"{name}.wrist_position: expected shape (T, 3), got {position.shape}")
    if position.shape[0] > _UINT32_MAX:
        raise ValueError(f"{name}.wrist_position: {position.shape[0]} steps do not fit in uint32")
    return int(position.shape[0])


def hand_forecast_to_msg(side: Side, mean: HandTrajectory | None, samples: list[HandTrajectory],
                         steps: int, types: MessageTypes) -> Any:
    """``hand_perception_msgs/HandTrajectory`` of one side: ``mean`` (or None: the samples'
    average is sent as the reference) and the S ``samples``, each with ``steps`` steps."""
    from .forecast_packing import pack_samples

    arrays = [_trajectory_arrays(t, steps, f"samples[{k}].{side}") for k, t in enumerate(samples)]
    mean_arrays = _trajectory_arrays(mean, steps, f"mean.{side}") if mean is not None else (None, None, None)
    dims = (_POS_DIM, 4, HAND_POSE_DIM)
    packed = []
    for q, dim in enumerate(dims):
        stack = np.stack([a[q] for a in arrays]) if arrays else np.zeros((0, steps, dim))
        packed.append(pack_samples(stack, mean_arrays[q]))
    pos, ori, pose = packed
    no_pose = bool(np.isnan(pose.mean).all() and (pose.codes == -128).all())
    empty_f, empty_i = np.zeros(0, np.float32), np.zeros(0, np.int8)
    seq = types.sequence
    return types[HAND_TRAJECTORY](
        side=_side_code(side),
        mean_wrist_position=seq(np.ascontiguousarray(pos.mean[:, :3]).reshape(-1)),
        mean_wrist_orientation=seq(ori.mean.reshape(-1)),
        mean_joints=seq(np.ascontiguousarray(pos.mean[:, 3:]).reshape(-1)),
        mean_hand_pose=seq(empty_f if no_pose else pose.mean.reshape(-1)),
        wrist_position=seq(np.ascontiguousarray(pos.codes[:, :, :3]).reshape(-1)),
        wrist_orientation=seq(ori.codes.reshape(-1)),
        joints=seq(np.ascontiguousarray(pos.codes[:, :, 3:]).reshape(-1)),
        hand_pose=seq(empty_i if no_pose else pose.codes.reshape(-1)),
        position_scale=seq(pos.scale),
        orientation_scale=seq(ori.scale),
        hand_pose_scale=seq(pose.scale),
    )


def _array(values: Any, dtype: Any, size: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype).reshape(-1)
    if arr.size != size:
        raise ValueError(f"{name}: expected {size} values, got {arr.size}")
    return arr


def msg_to_hand_forecast(msg: Any, num_samples: int, num_steps: int) -> tuple[HandTrajectory, list[HandTrajectory]]:
    """(mean, samples) of a ``HandTrajectory`` message of a forecast with ``num_samples`` samples
    of ``num_steps`` steps. Sample quaternions are renormalised after decoding."""
    from .forecast_packing import PackedSamples, unpack_samples

    side = _side_name(msg.side)
    S, T = int(num_samples), int(num_steps)
    name = f"hands[{side}]"
    m_pos = _array(msg.mean_wrist_position, np.float32, T * 3, f"{name}.mean_wrist_position").reshape(T, 3)
    m_joints = _array(msg.mean_joints, np.float32, T * NUM_JOINTS * 3, f"{name}.mean_joints").reshape(T, NUM_JOINTS * 3)
    m_ori = _array(msg.mean_wrist_orientation, np.float32, T * 4, f"{name}.mean_wrist_orientation").reshape(T, 4)
    c_pos = _array(msg.wrist_position, np.int8, S * T * 3, f"{name}.wrist_position").reshape(S, T, 3)
    c_joints = _array(msg.joints, np.int8, S * T * NUM_JOINTS * 3, f"{name}.joints").reshape(S, T, NUM_JOINTS * 3)
    c_ori = _array(msg.wrist_orientation, np.int8, S * T * 4, f"{name}.wrist_orientation").reshape(S, T, 4)
    scales = [_array(getattr(msg, f), np.float32, S, f"{name}.{f}")
              for f in ("position_scale", "orientation_scale", "hand_pose_scale")]
    if len(msg.mean_hand_pose) == 0 and len(msg.hand_pose) == 0:
        m_pose = np.full((T, HAND_POSE_DIM), np.nan, np.float32)
        c_pose = np.full((S, T, HAND_POSE_DIM), -128, np.int8)
    else:
        m_pose = _array(msg.mean_hand_pose, np.float32, T * HAND_POSE_DIM, f"{name}.mean_hand_pose").reshape(T, HAND_POSE_DIM)
        c_pose = _array(msg.hand_pose, np.int8, S * T * HAND_POSE_DIM, f"{name}.hand_pose").reshape(S, T, HAND_POSE_DIM)
    pos = unpack_samples(PackedSamples(np.concatenate([m_pos, m_joints], 1), np.concatenate([c_pos, c_joints], 2),
                                       scales[0]))
    ori = unpack_samples(PackedSamples(m_ori, c_ori, scales[1]))
    ori /= np.where((n := np.linalg.norm(ori, axis=-1, keepdims=True)) > 0, n, 1.0)
    pose = unpack_samples(PackedSamples(m_pose, c_pose, scales[2]))

    def traj(p: np.ndarray, q: np.ndarray, h: np.ndarray) -> HandTrajectory:
        p = np.asarray(p, dtype=np.float64)
        return HandTrajectory(side=side, wrist_position=p[:, :3].copy(),
                              wrist_orientation_xyzw=np.asarray(q, dtype=np.float64).copy(),
                              joints=p[:, 3:].reshape(T, NUM_JOINTS, 3).copy(),
                              hand_pose=np.asarray(h, dtype=np.float64).copy())

    mean = traj(np.concatenate([m_pos, m_joints], 1), m_ori, m_pose)
    return mean, [traj(pos[s], ori[s], pose[s]) for s in range(S)]


def _forecast_sides(forecast: BimanualForecast) -> list[Side]:
    """The forecast sides in message order; every sample (and the mean) must cover exactly them."""
    parts = list(forecast.samples) + ([forecast.mean] if forecast.mean is not None else [])
    sides: list[Side] | None = None
    for k, part in enumerate(parts):
        these = [h.side for h in part.hands]
        for s in these:
            _side_code(s, "forecast side")
        if len(set(these)) != len(these):
            raise ValueError(f"forecast sample {k}: a side appears twice ({these})")
        if sides is None:
            sides = these
        elif set(these) != set(sides):
            raise ValueError(f"forecast samples cover different sides ({sides} and {these}): the packed "
                             "layout needs the same sides in every sample and the mean")
    return sides or []


def forecast_to_msg(forecast: BimanualForecast, types: MessageTypes, model: str = "") -> Any:
    """``hand_perception_msgs/BimanualForecast`` in the packed layout (see HandTrajectory.msg).

    Every trajectory must have the same number of steps; every sample and the mean the same
    sides. Samples are sent to within half a code step (``forecast_packing``); the mean in float32.
    """
    sides = _forecast_sides(forecast)
    trajs = [h for part in list(forecast.samples) + [forecast.mean] if part is not None for h in part.hands]
    steps = {_steps_of(t, f"{t.side} trajectory") for t in trajs}
    if len(steps) > 1:
        raise ValueError(f"forecast trajectories have different numbers of steps: {sorted(steps)}")
    num_steps = steps.pop() if steps else int(round(forecast.horizon_s / forecast.time_step_s)) \
        if forecast.time_step_s > 0 else 0
    hands = []
    for side in sides:
        mean = None
        if forecast.mean is not None:
            mean = next(h for h in forecast.mean.hands if h.side == side)
        samples = [next(h for h in s.hands if h.side == side) for s in forecast.samples]
        hands.append(hand_forecast_to_msg(side, mean, samples, num_steps, types))
    probabilities = np.array([float(s.probability) for s in forecast.samples], dtype=np.float32)
    return types[BIMANUAL_FORECAST](
        header=_header(forecast.stamp_ns, forecast.frame_id, types),
        time_step=float(forecast.time_step_s),
        horizon=float(forecast.horizon_s),
        num_samples=len(forecast.samples),
        num_steps=int(num_steps),
        probabilities=types.sequence(probabilities),
        has_mean=forecast.mean is not None,
        mean_probability=float(forecast.mean.probability) if forecast.mean is not None else 0.0,
        hands=hands,
        model=str(model),
    )


def msg_to_forecast(msg: Any) -> BimanualForecast:
    """:class:`BimanualForecast` of a message (``msg.model`` has no core field; read it directly).
    Sample values are the decoded codes (within half a code step of what was sent)."""
    S, T = int(msg.num_samples), int(msg.num_steps)
    probabilities = _array(msg.probabilities, np.float64, S, "probabilities")
    decoded = [msg_to_hand_forecast(h, S, T) for h in msg.hands]
    samples = [ForecastSample(probability=float(probabilities[s]), hands=[d[1][s] for d in decoded])
               for s in range(S)]
    mean = ForecastSample(probability=float(msg.mean_probability), hands=[d[0] for d in decoded]) \
        if msg.has_mean else None
    return BimanualForecast(
        stamp_ns=time_to_ns(msg.header.stamp),
        frame_id=str(msg.header.frame_id),
        time_step_s=float(msg.time_step),
        horizon_s=float(msg.horizon),
        samples=samples,
        mean=mean,
    )


__all__ = ["forecast_to_msg", "hand_forecast_to_msg", "msg_to_forecast", "msg_to_hand_forecast"]
