"""The pipeline's no-weights default forecaster (``hand_perception.core.forecasting``) as an
evaluation method: observed joints ``(L, 2, 21, 3)`` at 30 fps (metres, NaN = missing) ->
``(1, F, 2, 21, 3)``, the mean sample of its shipped defaults fed frame by frame through the public
``observe`` / ``forecast`` API (F = 30, 1 s)."""

from __future__ import annotations

import numpy as np

FPS = 30.0
NS = 1_000_000_000


def core_default(obs: np.ndarray, horizon: int = 30, fps: float = FPS, **config) -> np.ndarray:
    from hand_perception.core.forecasting import ConstantVelocityForecaster, ForecastConfig
    from hand_perception.core.learned_forecasting import hand_state_from_joints

    fc = ConstantVelocityForecaster(ForecastConfig(time_step_s=1.0 / fps, horizon_s=horizon / fps,
                                                   history_s=len(obs) / fps + 0.01, max_staleness_s=1.0, **config))
    sides = ("left", "right")
    for i, fr in enumerate(obs):
        hands = [hand_state_from_joints(sides[s], fr[s], track_id=s) for s in range(2) if np.isfinite(fr[s]).all()]
        fc.observe(int(round(i / fps * NS)) + 1, "eval", hands)
    out = fc.forecast()
    pred = np.full((1, horizon, 2, 21, 3), np.nan)
    if out is None:
        raise ValueError("no hand to forecast")
    for h in out.mean.hands:
        pred[0, :, sides.index(h.side)] = h.joints[:horizon]
    return pred
