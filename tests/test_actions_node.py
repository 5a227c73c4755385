"""hand_forecaster with an action recogniser configured (``pipeline.forecast.recognizer``) publishes
per-hand ActionEstimates of the checkpoint's taxonomy; checked against the rclpy stand-in of
tests/rclpy_standin.py with a small randomly initialised checkpoint made here."""

from __future__ import annotations

import numpy as np
import torch

from rclpy_standin import (T0, Parameter, TransitionCallbackReturn, pub, pytestmark, rclpy_context, ros,  # noqa: F401
                            sub, wait)


def _random_fpha_checkpoint(path) -> str:
    from hand_models.networks.actions.features import FeatureConfig
    from hand_models.networks.actions.model import ActionRecognizerNet, RecognizerConfig, save_checkpoint

    torch.manual_seed(0)
    model = ActionRecognizerNet([f"verb{i}_noun{i}" for i in range(45)], FeatureConfig(length=16),
                                RecognizerConfig(hidden=16, layers=1), "fpha")
    return str(save_checkpoint(path, model))


def test_forecaster_node_publishes_fpha_actions(ros, tmp_path):
    from hand_perception.core.conversions import RclpyTypes, frame_result_to_hand_array
    from hand_perception.core.learned_forecasting import hand_state_from_joints
    from hand_perception.core.types import FrameResult

    ckpt = _random_fpha_checkpoint(tmp_path / "rec.pt")
    node = ros.fc.HandForecasterNode(parameter_overrides=[Parameter("autostart", value=False),
                                                          Parameter("queue_size", value=60),
                                                          Parameter("pipeline.forecast.recognizer", value=ckpt)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        cb = sub(node, "hands").callback
        types_ = RclpyTypes()
        rng = np.random.default_rng(0)
        base = rng.normal(scale=0.03, size=(21, 3)) + [0.0, 0.0, 0.5]
        n = 45  # 1.5 s at 30 fps
        for k in range(n):
            j = base + [0.1 * k / 30, 0.0, 0.0]
            cb(frame_result_to_hand_array(FrameResult(T0 + k * 33_333_333, "cam", [hand_state_from_joints("right", j, 1)]),
                                          types_))
        assert wait(lambda: node.stats.processed == n), node.get_logger().records[-5:]
        msgs = pub(node, "hands/action").messages
        fpha = [m for m in msgs if m.taxonomy == "fpha"]
        # labels from 0.3 s of observation on, at the 10 Hz forecast rate: ticks at 0.3 .. 1.4 s
        assert len(fpha) >= 10, [m.taxonomy for m in msgs]
        assert fpha[-1].hypotheses[0].label.startswith("verb") and fpha[-1].hypotheses[0].probability > 0
        assert len(pub(node, "hands/forecast").messages) >= 10
    finally:
        node.close()
