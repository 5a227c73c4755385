"""Training package for hand_perception models: datasets, losses, trainers, metrics and export."""

__version__ = "0.1.0"
