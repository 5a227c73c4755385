"""Datasets: synthetic motion generator, readers for DexYCB, HOT3D and HO3D in their released layouts."""
