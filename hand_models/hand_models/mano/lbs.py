"""Linear blend skinning for MANO-format models, as pure batched torch functions.

Frames: the model's own frame (for a fitted hand, the camera optical frame once ``transl`` and
``global_orient`` are applied). Shapes use B for the batch, V = 778 vertices, J = 16 joints.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hand_models.geometry import axis_angle_to_matrix


def blend_shapes(betas: Tensor, shapedirs: Tensor) -> Tensor:
    """Shape offsets (B, V, 3) from betas (B, S) and shape directions (V, 3, S)."""
    return torch.einsum("bs,vcs->bvc", betas, shapedirs)


def pose_feature(rot_mats: Tensor) -> Tensor:
    """MANO's pose-corrective input (B, 9 * (J - 1)): ``R_j - I`` of every non-root joint, row-major.

    rot_mats: (B, J, 3, 3) local rotations.
    """
    eye = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
    return (rot_mats[:, 1:] - eye).flatten(1)


def rigid_chain(rot_mats: Tensor, joints: Tensor, parents: Tensor) -> tuple[Tensor, Tensor]:
    """Forward kinematics of a kinematic tree.

    rot_mats (B, J, 3, 3) local rotations; joints (B, J, 3) rest joint positions; parents (J,)
    with -1 at the root and every parent before its children.
    Returns posed joints (B, J, 3) and the skinning transforms (B, J, 4, 4) that take a rest-pose
    point to its posed position for each joint (``G_j @ [I | -J_j]``).
    """
    B, J = joints.shape[:2]
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    global_rot: list[Tensor] = [rot_mats[:, 0]]
    global_pos: list[Tensor] = [joints[:, 0]]
    for j in range(1, J):
        p = int(parents[j])
        global_rot.append(global_rot[p] @ rot_mats[:, j])
        global_pos.append(global_pos[p] + (global_rot[p] @ rel[:, j, :, None])[..., 0])
    R = torch.stack(global_rot, 1)
    posed = torch.stack(global_pos, 1)
    t = posed - (R @ joints[..., None])[..., 0]
    top = torch.cat([R, t[..., None]], -1)
    bottom = torch.zeros(B, J, 1, 4, dtype=joints.dtype, device=joints.device)
    bottom[..., 3] = 1.0
    return posed, torch.cat([top, bottom], -2)


def skin_vertices(vertices: Tensor, weights: Tensor, transforms: Tensor) -> Tensor:
    """Blend per-joint transforms (B, J, 4, 4) with weights (V, J) and apply to (B, V, 3)."""
    T = torch.einsum("vj,bjmn->bvmn", weights, transforms)
    return (T[..., :3, :3] @ vertices[..., None])[..., 0] + T[..., :3, 3]


def lbs(
    betas: Tensor,
    full_pose: Tensor,
    v_template: Tensor,
    shapedirs: Tensor,
    posedirs: Tensor,
    J_regressor: Tensor,
    parents: Tensor,
    weights: Tensor,
) -> tuple[Tensor, Tensor]:
    """MANO forward pass without translation.

    betas (B, S); full_pose (B, J * 3) axis-angle (root first); v_template (V, 3); shapedirs
    (V, 3, S); posedirs (V, 3, 9 * (J - 1)) as stored in the pkl; J_regressor (J, V);
    parents (J,); weights (V, J). Returns vertices (B, V, 3) and joints (B, J, 3).
    """
    B = betas.shape[0]
    v_shaped = v_template + blend_shapes(betas, shapedirs)
    rest_joints = torch.einsum("jv,bvc->bjc", J_regressor, v_shaped)
    rot_mats = axis_angle_to_matrix(full_pose.reshape(B, -1, 3))
    offsets = torch.einsum("bp,vcp->bvc", pose_feature(rot_mats), posedirs)
    posed_joints, transforms = rigid_chain(rot_mats, rest_joints, parents)
    vertices = skin_vertices(v_shaped + offsets, weights, transforms)
    return vertices, posed_joints
