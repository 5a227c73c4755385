"""Pipeline configuration: one YAML file chooses and tunes every stage.

Sections: ``estimator`` (detection, placement, MANO fit), ``temporal`` (``TemporalConfig``),
``forecast`` (``ForecastConfig``). Unknown keys are errors, so typos do not pass silently.
Example (all keys optional)::

    estimator:
      max_hands: 2
      mano_dir: null          # folder with MANO_RIGHT.pkl / MANO_LEFT.pkl; null = procedural model
      small_hand_pass: true
    temporal:
      model: one_euro         # the no-weights default
      max_gap_s: 0.3
    forecast:
      model: constant_velocity
      horizon_s: 1.0
      time_step_s: 0.1
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from hand_perception.core.forecasting import ForecastConfig
from hand_perception.core.gestures import GestureConfig
from hand_perception.core.temporal import TemporalConfig


@dataclass
class EstimatorConfig:
    """Per-frame estimation settings.

    max_hands: most hands per frame; min_detection_score / min_presence: MediaPipe palm and
    landmark thresholds; small_hand_pass: tiled second detector pass for small hands;
    redetect_interval: detector cadence while fewer than max_hands are tracked; num_threads:
    TFLite threads per model; mano_dir: MANO folder (None: $HAND_PERCEPTION_MANO_DIR or the
    procedural model); fit_mano: run the inverse kinematics; ik_iterations: LM steps from the
    analytic start; ik_warm_iterations: LM steps when a tracked hand starts from its previous
    frame's fit (0 = always start afresh); ik_warm_max_error_m: a warm-started fit whose mean
    joint error exceeds this is redone from the analytic start; ik_pixel_sigma: keypoint noise (px) of the
    reprojection term of the fit (0 = fit the placed 3D joints only);
    min_keypoint_confidence: keypoints below it are treated as missing in placement and IK;
    backend: where the MediaPipe networks run: 'tflite' (LiteRT, default), 'torch',
    'onnxruntime', 'tensorrt' (our torch port, ``hand_models.inference``); device: 'cpu' or
    'cuda' for backends that support it; hand_length_left_m / hand_length_right_m: calibrated
    hand length per side (m, wrist crease to the middle fingertip of the flat hand; 0 = estimate
    it per track over time from the landmark network's metric hands); size_window: frames in that
    running estimate (median); keypoint_spread: how far the 2D keypoints spread compared with
    skeleton joints (``placement.KEYPOINT_SPREAD``; 1 = take the keypoints as joints).
    """

    max_hands: int = 2
    min_detection_score: float = 0.5
    min_presence: float = 0.5
    small_hand_pass: bool = True
    redetect_interval: int = 2
    num_threads: int = 2
    mano_dir: str | None = None
    fit_mano: bool = True
    ik_iterations: int = 4
    ik_warm_iterations: int = 1
    ik_warm_max_error_m: float = 0.008
    ik_pixel_sigma: float = 0.0
    min_keypoint_confidence: float = 0.2
    backend: str = "tflite"
    device: str = "cpu"
    hand_length_left_m: float = 0.0
    hand_length_right_m: float = 0.0
    size_window: int = 90
    keypoint_spread: float = 0.945


@dataclass
class TemporalSection(TemporalConfig):
    """TemporalConfig plus the choice of model: 'one_euro' (no weights, default), 'unihand'
    (learned, needs ``checkpoint``: a UniHand model saved by hand_training; the One-Euro settings
    above are its fallback), or 'none' (raw per-frame fits). window: UniHand frames;
    latency_budget_s: UniHand time per frame before it runs every k-th frame."""

    model: str = "one_euro"
    checkpoint: str | None = None
    window: int = 48
    latency_budget_s: float = 0.030


@dataclass
class ForecastSection(ForecastConfig):
    """ForecastConfig plus the choice of model and rate: 'constant_velocity' (no weights,
    default) or a learned model 'ghtt' / 'ghtt_pa' / 'ghtt_pb' (G-HTT prediction paths) /
    'diffusion', which needs ``checkpoint`` (trained by hand_training) and draws ``num_samples``
    futures. horizon_s, time_step_s and max_staleness_s apply to every model.
    ``recognizer``: optional action-recogniser checkpoint (``python -m hand_training.actions``);
    when set, its per-hand labels (taxonomy ``recognizer_taxonomy``, refused if the checkpoint's
    differs; '' accepts any) over the last ``recognizer_window_s`` join the forecaster's actions."""

    model: str = "constant_velocity"
    rate_hz: float = 10.0
    checkpoint: str | None = None
    num_samples: int = 20
    recognizer: str | None = None
    recognizer_taxonomy: str = "fpha"
    recognizer_window_s: float = 2.0


@dataclass
class PipelineConfig:
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    temporal: TemporalSection = field(default_factory=TemporalSection)
    forecast: ForecastSection = field(default_factory=ForecastSection)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls, values: dict[str, Any], where: str):
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown keys in {where}: {unknown}; known: {sorted(known)}")
    kwargs = {}
    for key, value in values.items():
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            value = _build(type(default), value, f"{where}.{key}")
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def pipeline_config_from_dict(data: dict[str, Any] | None) -> PipelineConfig:
    data = data or {}
    if not isinstance(data, dict):
        raise ValueError("pipeline config must be a mapping with sections estimator/temporal/forecast")
    unknown = sorted(set(data) - {"estimator", "temporal", "forecast"})
    if unknown:
        raise ValueError(f"unknown sections in pipeline config: {unknown}")
    cfg = PipelineConfig(
        estimator=_build(EstimatorConfig, data.get("estimator"), "estimator"),
        temporal=_build(TemporalSection, data.get("temporal"), "temporal"),
        forecast=_build(ForecastSection, data.get("forecast"), "forecast"),
    )
    if cfg.temporal.model not in ("one_euro", "unihand", "none"):
        raise ValueError(f"temporal.model must be 'one_euro', 'unihand' or 'none', got {cfg.temporal.model!r}")
    if cfg.temporal.model == "unihand" and not cfg.temporal.checkpoint:
        raise ValueError("temporal.model 'unihand' needs temporal.checkpoint (a model trained by hand_training)")
    forecasters = ("constant_velocity", "ghtt", "ghtt_pa", "ghtt_pb", "diffusion")
    if cfg.forecast.model not in forecasters:
        raise ValueError(f"forecast.model must be one of {forecasters}, got {cfg.forecast.model!r}")
    if cfg.forecast.model != "constant_velocity" and not cfg.forecast.checkpoint:
        raise ValueError(f"forecast.model {cfg.forecast.model!r} needs forecast.checkpoint (trained by hand_training)")
    return cfg


def load_pipeline_config(path: str | os.PathLike | None = None) -> PipelineConfig:
    """Read a pipeline YAML (None: defaults). Errors name the file and the bad key."""
    if path is None:
        return PipelineConfig()
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ValueError(f"cannot read pipeline config {path}: {exc}") from exc
    try:
        return pipeline_config_from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


__all__ = ["EstimatorConfig", "ForecastSection", "GestureConfig", "PipelineConfig", "TemporalSection",
           "load_pipeline_config", "pipeline_config_from_dict"]
