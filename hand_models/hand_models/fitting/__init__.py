"""Fitting MANO to observations: anatomical priors and inverse kinematics from 21 metric joints."""

from hand_models.fitting.anatomy import (
    anatomical_frames,
    angles_from_pose,
    joint_limits,
    pose_from_angles,
    sample_angles,
)
from hand_models.fitting.ik import IKConfig, IKResult, ManoFitter, fit_mano

__all__ = [
    "IKConfig", "IKResult", "ManoFitter", "fit_mano", "anatomical_frames", "angles_from_pose",
    "joint_limits", "pose_from_angles", "sample_angles",
]
