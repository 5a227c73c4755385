"""MANO layer for both sides: parameters -> 778 vertices, 16 native joints and our 21 joints."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from hand_models.joints import MANO_FINGERTIP_VERTICES, MANO_TO_OURS
from hand_models.mano.lbs import lbs
from hand_models.mano.model_file import ManoModelData, load_mano_model

FINGERTIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")


@dataclass
class ManoOutput:
    """vertices (B, 778, 3); joints16 (B, 16, 3) MANO order; joints (B, 21, 3) our order (metres)."""

    vertices: Tensor
    joints16: Tensor
    joints: Tensor


class ManoLayer(nn.Module):
    """One side's MANO model as a torch module.

    Parameters are axis-angle, full 45-D hand pose relative to the flat hand (no PCA, no mean
    pose added), ``global_orient`` rotates about the wrist joint, ``transl`` is added last;
    results are in the frame the parameters are expressed in (camera optical frame for fitted
    hands). Works batched, on any device, in float32 or float64 (``layer.to(...)``).

    side: 'right' or 'left'; model_dir: folder with MANO_RIGHT.pkl / MANO_LEFT.pkl (None: the
    $HAND_PERCEPTION_MANO_DIR folder, else the procedural model); or pass ``data`` directly.
    """

    NUM_BETAS = 10

    def __init__(
        self,
        side: str = "right",
        model_dir: str | os.PathLike | None = None,
        data: ManoModelData | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        data = data if data is not None else load_mano_model(side, model_dir)
        self.side = side
        self.model_name = data.name
        self.model_path = data.path

        def buf(name: str, value: np.ndarray, dt: torch.dtype = dtype) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(value), dtype=dt))

        buf("v_template", data.v_template)
        buf("shapedirs", data.shapedirs)
        buf("posedirs", data.posedirs)
        buf("J_regressor", data.J_regressor)
        buf("weights", data.weights)
        buf("hands_components", data.hands_components)
        buf("hands_mean", data.hands_mean)
        buf("faces", data.faces, torch.int64)
        buf("parents", data.parents, torch.int64)
        tips = [MANO_FINGERTIP_VERTICES[n] for n in FINGERTIP_ORDER]
        buf("tip_vertices", np.array(tips), torch.int64)
        buf("to_ours", MANO_TO_OURS, torch.int64)

    @property
    def dtype(self) -> torch.dtype:
        return self.v_template.dtype

    def pca_to_pose(self, coeffs: Tensor, add_mean: bool = False) -> Tensor:
        """Full 45-D hand pose (B, 45) from PCA coefficients (B, K), K <= 45 (flat-hand relative
        unless ``add_mean``)."""
        pose = coeffs @ self.hands_components[: coeffs.shape[-1]]
        return pose + self.hands_mean if add_mean else pose

    def _check(self, name: str, x: Tensor | None, dim: int, batch: int | None) -> Tensor:
        if x is None:
            if batch is None:
                raise ValueError(f"{name} is required")
            return torch.zeros(batch, dim, dtype=self.dtype, device=self.v_template.device)
        x = torch.as_tensor(x, dtype=self.dtype, device=self.v_template.device)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[-1] != dim:
            raise ValueError(f"{name} must be shaped (B, {dim}), got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf")
        return x

    def forward(
        self,
        global_orient: Tensor | None = None,
        hand_pose: Tensor | None = None,
        betas: Tensor | None = None,
        transl: Tensor | None = None,
    ) -> ManoOutput:
        """global_orient (B, 3), hand_pose (B, 45), betas (B, 10), transl (B, 3); missing -> zeros."""
        given = [x for x in (global_orient, hand_pose, betas, transl) if x is not None]
        batch = int(torch.as_tensor(given[0]).reshape(-1, torch.as_tensor(given[0]).shape[-1]).shape[0]) if given else 1
        global_orient = self._check("global_orient", global_orient, 3, batch)
        hand_pose = self._check("hand_pose", hand_pose, 45, batch)
        betas = self._check("betas", betas, self.NUM_BETAS, batch)
        transl = self._check("transl", transl, 3, batch)
        sizes = {t.shape[0] for t in (global_orient, hand_pose, betas, transl)}
        if len(sizes) != 1:
            raise ValueError(f"batch sizes of the parameters differ: {sorted(sizes)}")
        full_pose = torch.cat([global_orient, hand_pose], -1)
        verts, joints16 = lbs(betas, full_pose, self.v_template, self.shapedirs, self.posedirs,
                              self.J_regressor, self.parents, self.weights)
        verts = verts + transl[:, None]
        joints16 = joints16 + transl[:, None]
        joints = torch.cat([joints16, verts[:, self.tip_vertices]], 1)[:, self.to_ours]
        return ManoOutput(vertices=verts, joints16=joints16, joints=joints)


class BimanualMano(nn.Module):
    """Both sides' layers under one module: ``model['left']`` / ``model['right']``."""

    def __init__(self, model_dir: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({s: ManoLayer(s, model_dir, dtype=dtype) for s in ("left", "right")})

    def __getitem__(self, side: str) -> ManoLayer:
        if side not in self.layers:
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        return self.layers[side]
