"""Diffusion forecaster: history of both hands -> K sampled futures (diffusion loss, DDIM)."""

from .model import DiffusionForecaster, DiffusionForecasterConfig

__all__ = ["DiffusionForecaster", "DiffusionForecasterConfig"]
