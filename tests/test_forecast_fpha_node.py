"""hand_forecaster with a learned FPHA-style checkpoint configured (``pipeline.forecast.model`` +
``checkpoint``) publishes the learned model's K-sample forecasts at the configured rate; checked
against the rclpy stand-in of tests/rclpy_standin.py with a tiny checkpoint made by the FPHA
training code's saver (same fields as a train_fpha checkpoint)."""

from __future__ import annotations

import numpy as np
import torch

from rclpy_standin import (T0, Parameter, TransitionCallbackReturn, pub, pytestmark, rclpy_context, ros,  # noqa: F401
                            sub, wait)


def test_forecaster_node_publishes_learned_forecasts(ros, tmp_path):
    from hand_models.networks.ghtt.model import GHTT, GHTTConfig
    from hand_perception.core.conversions import RclpyTypes, frame_result_to_hand_array
    from hand_perception.core.learned_forecasting import hand_state_from_joints
    from hand_perception.core.types import FrameResult
    from hand_training.forecasting.train_fpha import JOINT_LAYOUT, LICENCE
    from hand_training.forecasting.train_ghtt import save_ghtt

    torch.manual_seed(0)
    ckpt = tmp_path / "ghtt.pt"
    save_ghtt(ckpt, GHTT(GHTTConfig(d_model=16, heads=2, pose_layers=1, action_layers=1, object_layers=1, num_samples=4)),
              {"taxonomy": "", "joint_layout": JOINT_LAYOUT, "training_data": "fpha_train_half", "licence": LICENCE})
    node = ros.fc.HandForecasterNode(parameter_overrides=[
        Parameter("autostart", value=False), Parameter("queue_size", value=60),
        Parameter("pipeline.forecast.model", value="ghtt_pa"), Parameter("pipeline.forecast.checkpoint", value=str(ckpt)),
        Parameter("pipeline.forecast.num_samples", value=4)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        cb = sub(node, "hands").callback
        types_ = RclpyTypes()
        base = np.random.default_rng(0).normal(scale=0.03, size=(21, 3)) + [0.0, 0.0, 0.5]
        n = 45  # 1.5 s at 30 fps
        for k in range(n):
            j = base + [0.1 * k / 30, 0.0, 0.0]
            cb(frame_result_to_hand_array(FrameResult(T0 + k * 33_333_333, "cam", [hand_state_from_joints("right", j, 1)]),
                                          types_))
        assert wait(lambda: node.stats.processed == n), node.get_logger().records[-5:]
        fc = pub(node, "hands/forecast").messages
        # the model needs 16 frames (0.53 s) of observation; then a forecast per 0.1 s of stream time
        assert len(fc) >= 8, len(fc)
        assert fc[-1].model == "ghtt_pa" and fc[-1].has_mean and len(fc[-1].hands) == 1
    finally:
        node.close()
