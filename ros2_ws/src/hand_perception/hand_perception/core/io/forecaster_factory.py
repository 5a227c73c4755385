"""The forecaster a pipeline configuration asks for, for the standalone forecaster node
(:func:`build_forecaster`)."""

from __future__ import annotations

from typing import Any


def build_forecaster(config: Any) -> Any:
    """The forecaster a PipelineConfig asks for (standalone forecaster node: no estimator).

    Uses ``hand_perception.core.pipeline.build_forecaster`` when the pipeline module provides one
    (learned forecasters), so the node and the pipeline always agree; else the no-weights
    constant-velocity forecaster."""
    from .. import pipeline as _pipeline
    from ..forecasting import ConstantVelocityForecaster

    factory = getattr(_pipeline, "build_forecaster", None)
    if callable(factory):
        return factory(config)
    model = str(config.forecast.model)
    if model == "constant_velocity":
        return ConstantVelocityForecaster(config.forecast)
    raise ValueError(f"unknown forecast model {model!r}")


__all__ = [
    "build_forecaster",
]
