"""Differentiable MANO joint regressor J(x) used by UniHand's losses: MANO parameter vectors
(..., 61) -> our 21 joints (..., 21, 3), without skinning the whole mesh (only the 16 kinematic
joints and the 5 fingertip vertices are computed), so it is cheap enough for every training
step.  Equal to ``ManoLayer(...).joints`` (tested)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hand_models.geometry import axis_angle_to_matrix
from hand_models.joints import MANO_TO_OURS
from hand_models.mano.layer import ManoLayer

#: MANO native joints grouped by finger (index, middle, pinky, ring, thumb), base -> distal
_GROUPS = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12], [13, 14, 15]])


class ManoJoints(nn.Module):
    """J(x): MANO parameter vectors [global_orient, hand_pose, betas, transl] -> 21 joints."""

    def __init__(self, layer: ManoLayer | None = None, side: str = "right"):
        super().__init__()
        layer = layer if layer is not None else ManoLayer(side)
        self.side = layer.side
        with torch.no_grad():
            Jr = layer.J_regressor
            tips = layer.tip_vertices  # thumb, index, middle, ring, pinky
            self.register_buffer("rest_joints", Jr @ layer.v_template)  # (16, 3)
            self.register_buffer("joint_shapedirs", torch.einsum("jv,vcs->jcs", Jr, layer.shapedirs))
            self.register_buffer("tip_rest", layer.v_template[tips])  # (5, 3)
            self.register_buffer("tip_shapedirs", layer.shapedirs[tips])  # (5, 3, 10)
            self.register_buffer("tip_posedirs", layer.posedirs[tips])  # (5, 3, 135)
            self.register_buffer("tip_weights", layer.weights[tips])  # (5, 16)
        level_order = torch.cat([torch.zeros(1, dtype=torch.long), _GROUPS.T.reshape(-1)])
        self.register_buffer("level_to_native", level_order.argsort(), persistent=False)
        self.register_buffer("to_ours", torch.as_tensor(MANO_TO_OURS), persistent=False)

    def rest_wrist(self, betas: Tensor) -> Tensor:
        """Wrist joint (..., 3) of the unposed, untranslated hand with shape ``betas`` (..., 10)."""
        return self.rest_joints[0] + torch.einsum("cs,...s->...c", self.joint_shapedirs[0], betas)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])
        B = x.shape[0]
        go, pose, betas, transl = x[:, :3], x[:, 3:48], x[:, 48:58], x[:, 58:61]
        R = axis_angle_to_matrix(torch.cat([go, pose], -1).reshape(B, 16, 3))
        J = self.rest_joints + torch.einsum("jcs,bs->bjc", self.joint_shapedirs, betas)
        G_par, P_par, J_par = R[:, :1], (J[:, 0] + transl)[:, None], J[:, :1]
        Gs, Ps = [G_par], [P_par]
        for level in range(3):  # the five fingers at once, one level at a time
            idx = _GROUPS[:, level]
            G_l = G_par @ R[:, idx]
            P_l = P_par + (G_par @ (J[:, idx] - J_par)[..., None])[..., 0]
            Gs.append(G_l)
            Ps.append(P_l)
            G_par, P_par, J_par = G_l, P_l, J[:, idx]
        G = torch.cat(Gs, 1)[:, self.level_to_native]
        P = torch.cat(Ps, 1)[:, self.level_to_native]
        eye = torch.eye(3, dtype=R.dtype, device=R.device)
        feat = (R[:, 1:] - eye).reshape(B, 135)
        vt = (self.tip_rest + torch.einsum("kcs,bs->bkc", self.tip_shapedirs, betas)
              + torch.einsum("kcp,bp->bkc", self.tip_posedirs, feat))  # (B, 5, 3)
        local = vt[:, :, None, :] - J[:, None, :, :]  # (B, 5, 16, 3) tip relative to each joint
        moved = torch.einsum("bjcd,bkjd->bkjc", G, local) + P[:, None]
        tips = torch.einsum("kj,bkjc->bkc", self.tip_weights, moved)  # thumb, index, middle, ring, pinky
        joints = torch.cat([P, tips], 1)[:, self.to_ours]
        return joints.reshape(shape + (21, 3))
