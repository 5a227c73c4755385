"""Skeleton action recognition (one hand's 3D joints over time -> action label): features,
networks and checkpoints shared by training (hand_training.actions) and the ROS-free core."""

from .features import FEATURE_GROUPS, JOINT_LAYOUT, FeatureConfig, window_features
from .model import (ActionRecognizerNet, CheckpointMismatch, EnsembleRecognizer, RecognizerConfig, load_checkpoint,
                    predict_proba, save_checkpoint)

__all__ = ["FEATURE_GROUPS", "JOINT_LAYOUT", "FeatureConfig", "window_features", "ActionRecognizerNet",
           "EnsembleRecognizer", "CheckpointMismatch", "RecognizerConfig", "load_checkpoint", "predict_proba", "save_checkpoint"]
