"""Geometry for hand_perception: rotations, rigid transforms, camera model, alignment, metrics.

Pure, batched torch functions: any leading batch dims ``...``, any device, float32 and
float64, differentiable where meaningful.  Conventions (see each module's docstring):

* quaternions are ``(x, y, z, w)`` (ROS / scipy order);
* rotation matrices act on column vectors, ``p_a = R_ab @ p_b + t_ab``;
* 6D rotations are the first two *columns* of ``R`` (Zhou et al. 2019);
* camera points are in the optical frame (z forward, x right, y down), distortion is
  ``sensor_msgs/CameraInfo`` plumb bob ``(k1, k2, p1, p2, k3)`` or rational polynomial.
"""

from .alignment import align, kabsch, procrustes
from .camera import (
    distort_normalized,
    intrinsics_matrix,
    project_points,
    undistort_normalized,
    undistort_pixels,
    unproject_points,
    validate_intrinsics,
)
from .metrics import mpjpe, pa_mpjpe, pck, per_joint_error
from .rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_conjugate,
    quaternion_invert,
    quaternion_multiply,
    quaternion_normalize,
    quaternion_slerp,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    rotation_between_vectors,
    skew,
    so3_exp,
    so3_log,
)
from .transforms import (
    apply_rotation_translation,
    apply_transform,
    compose_transforms,
    invert_transform,
    make_transform,
    split_transform,
)

__all__ = [
    # rotations
    "skew",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "quaternion_multiply",
    "quaternion_conjugate",
    "quaternion_invert",
    "quaternion_normalize",
    "quaternion_slerp",
    "rotation_6d_to_matrix",
    "matrix_to_rotation_6d",
    "so3_exp",
    "so3_log",
    "rotation_between_vectors",
    # transforms
    "make_transform",
    "split_transform",
    "compose_transforms",
    "invert_transform",
    "apply_transform",
    "apply_rotation_translation",
    # camera
    "distort_normalized",
    "undistort_normalized",
    "project_points",
    "unproject_points",
    "undistort_pixels",
    "intrinsics_matrix",
    "validate_intrinsics",
    # alignment
    "procrustes",
    "kabsch",
    "align",
    # metrics
    "mpjpe",
    "pa_mpjpe",
    "per_joint_error",
    "pck",
]
