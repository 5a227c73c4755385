"""Synthetic scene renderer: MANO-format hands (both sides) with skin-like shading, arms,
procedural backgrounds and lighting, articulated motion over time, rendered on the CPU into
image sequences with exact ground truth (2D keypoints, 3D joints, MANO parameters, intrinsics)
and metric depth registered to the colour image, with a RealSense-like error model
(:mod:`hand_models.render.depth_noise`).

Entry points: :func:`render_sequence` / :class:`SyntheticSequence` (frames in memory, lazily),
:func:`write_sequence` (PNG files + ``ground_truth.json`` [+ mp4]), :func:`read_ground_truth`,
and the rasterizer itself (:func:`rasterize`).
"""

from hand_models.render.background import make_background
from hand_models.render.depth_noise import DepthNoiseConfig, depth_noise_std, depth_to_16uc1, realsense_depth
from hand_models.render.motion import GESTURES, MotionConfig, gesture_angles
from hand_models.render.rasterizer import Fragments, downsample, rasterize, supersampled_intrinsics, vertex_normals
from hand_models.render.scene import (
    GROUND_TRUTH_FORMAT,
    HandGroundTruth,
    SceneConfig,
    SyntheticFrame,
    SyntheticSequence,
    read_ground_truth,
    render_sequence,
    write_sequence,
)

__all__ = [
    "DepthNoiseConfig", "Fragments", "GESTURES", "GROUND_TRUTH_FORMAT", "HandGroundTruth", "MotionConfig", "SceneConfig",
    "SyntheticFrame", "SyntheticSequence", "downsample", "gesture_angles", "make_background",
    "depth_noise_std", "depth_to_16uc1", "rasterize", "read_ground_truth", "realsense_depth", "render_sequence",
    "supersampled_intrinsics", "vertex_normals",
    "write_sequence",
]
