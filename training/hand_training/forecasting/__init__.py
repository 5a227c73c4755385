"""Forecasting and action recognition: training of G-HTT (P, then A with P frozen, then E^PO) and of
the diffusion forecaster, the recognition network behind FID, metrics and baselines."""
