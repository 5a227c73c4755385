"""HandPerceptionPipeline: estimator + forecaster in one object, as the nodes and replay use them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import dataclasses

from hand_perception.core.config import ForecastSection, PipelineConfig
from hand_perception.core.estimator import HandEstimator
from hand_perception.core.forecasting import ConstantVelocityForecaster, ForecastConfig, MotionForecaster
from hand_perception.core.types import ActionEstimate, BimanualForecast, CameraIntrinsics, FrameResult


@dataclass
class PipelineOutput:
    """One frame's results: the hands, and (at the forecast rate) a forecast and action labels."""

    frame: FrameResult
    forecast: BimanualForecast | None = None
    actions: list[ActionEstimate] = field(default_factory=list)


def make_forecaster(section: ForecastSection) -> MotionForecaster:
    """The forecaster the config asks for (the pipeline paces it with ``rate_hz``)."""
    if section.model == "constant_velocity":
        fields = {f.name for f in dataclasses.fields(ForecastConfig)}
        return ConstantVelocityForecaster(ForecastConfig(**{k: getattr(section, k) for k in fields}))
    from hand_perception.core.learned_forecasting import make_learned_forecaster

    if not section.checkpoint:
        raise ValueError(f"forecast.model {section.model!r} needs forecast.checkpoint")
    return make_learned_forecaster(section.model, section.checkpoint, num_samples=section.num_samples,
                                   horizon_s=section.horizon_s, time_step_s=section.time_step_s,
                                   max_staleness_s=section.max_staleness_s)


def with_recognizer(forecaster: MotionForecaster, section: ForecastSection) -> MotionForecaster:
    """``forecaster`` plus the action recogniser of ``section.recognizer`` (unchanged when unset)."""
    if not section.recognizer:
        return forecaster
    from hand_perception.core.action_recognition import (ActionRecognitionConfig, OnlineActionRecognizer,
                                                         RecognizingForecaster)

    cfg = ActionRecognitionConfig(checkpoint=section.recognizer, taxonomy=section.recognizer_taxonomy,
                                  window_s=section.recognizer_window_s, max_staleness_s=section.max_staleness_s)
    return RecognizingForecaster(forecaster, OnlineActionRecognizer(cfg))


def build_forecaster(config: PipelineConfig) -> MotionForecaster:
    """The forecaster (plus action recogniser) of a whole pipeline config; the standalone
    forecaster node builds its forecaster with this (see node_logic.build_forecaster)."""
    return with_recognizer(make_forecaster(config.forecast), config.forecast)


class HandPerceptionPipeline:
    """Runs the estimator on every frame and the forecaster at ``forecast.rate_hz`` (stream time)."""

    def __init__(self, config: PipelineConfig | None = None, tracker=None) -> None:
        self.config = config or PipelineConfig()
        self.estimator = HandEstimator(self.config.estimator, self.config.temporal, tracker=tracker)
        self.forecaster: MotionForecaster = build_forecaster(self.config)
        self._last_forecast_ns: int | None = None

    def reset(self) -> None:
        self.estimator.reset()
        self.forecaster.reset()
        self._last_forecast_ns = None

    def model_info(self) -> dict[str, str]:
        return {**self.estimator.model_info(), "forecaster": self.config.forecast.model}

    def _forecast_due(self, stamp_ns: int) -> bool:
        rate = self.config.forecast.rate_hz
        if rate <= 0:
            return True
        if self._last_forecast_ns is None or stamp_ns < self._last_forecast_ns:
            return True
        return stamp_ns - self._last_forecast_ns >= int(1e9 / rate) - 1

    def process(self, image: np.ndarray, stamp_ns: int, intrinsics: CameraIntrinsics | None = None,
                frame_id: str = "camera", color_order: str = "rgb", depth: np.ndarray | None = None) -> PipelineOutput:
        """One frame through estimator and forecaster; ``depth``: optional (H, W) depth image in
        metres registered to ``image`` (see ``HandEstimator.process``)."""
        frame = self.estimator.process(image, stamp_ns, intrinsics, frame_id=frame_id, color_order=color_order,
                                       depth=depth)
        if any("tracks reset" in w for w in frame.warnings):
            self.forecaster.reset()
            self._last_forecast_ns = None
        self.forecaster.observe(frame.stamp_ns, frame.frame_id, frame.hands)
        out = PipelineOutput(frame=frame)
        if self._forecast_due(frame.stamp_ns):
            out.forecast = self.forecaster.forecast()
            out.actions = self.forecaster.actions()
            self._last_forecast_ns = frame.stamp_ns
        return out
