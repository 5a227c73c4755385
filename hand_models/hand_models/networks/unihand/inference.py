"""Running a trained UniHand on windows of keypoint observations (used by the estimator's
streaming temporal stage and by the evaluation scripts).

:class:`UniHandPredictor` takes observations of one hand in camera pixels/metres (either side),
mirrors left hands into the right-hand network (paper B.1/C.2) and back, normalises 2D keypoints
as the model was trained, pads short windows by repeating the last frame's conditions (paper
B.1), samples with DDIM + CFG, and returns MANO vectors of that side plus their 21 joints.
The canonical space is the camera of the window's first frame; for a static camera this is the
camera frame itself, so outputs are directly in the camera frame.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from hand_models.mano import ManoLayer

from .config import UniHandConfig
from .mano_joints import ManoJoints
from .model import UniHand

_FLIP = torch.tensor([1.0, -1.0, -1.0])


def load_checkpoint(path: str | os.PathLike, backbone=None, map_location: str = "cpu") -> UniHand:
    """Model saved as {"config": dict, "model": state_dict} (weights_only load)."""
    ck = torch.load(path, map_location=map_location, weights_only=True)
    model = UniHand(UniHandConfig.from_dict(ck["config"]), backbone=backbone)
    missing, unexpected = model.load_state_dict(ck["model"], strict=False)
    missing = [k for k in missing if not k.startswith(("backbone.", "mano."))]
    if missing or unexpected:
        raise RuntimeError(f"checkpoint {path} does not match: missing {missing}, unexpected {unexpected}")
    return model.eval()


class UniHandPredictor:
    def __init__(self, model: UniHand, steps: int | None = None, cfg_scale: float | None = None,
                 seed: int = 0, model_dir: str | None = None):
        self.model = model.eval()
        self.steps, self.cfg_scale, self.seed = steps, cfg_scale, seed
        self.joints = {s: ManoJoints(ManoLayer(s, model_dir)) for s in ("left", "right")}

    @property
    def window(self) -> int:
        return self.model.cfg.seq_len

    def _flip_x(self, x: torch.Tensor, from_side: str) -> torch.Tensor:
        """Mirror MANO vectors (..., 61) of from_side into the other side's model."""
        to_side = "left" if from_side == "right" else "right"
        out = x.clone()
        out[..., :48] = (x[..., :48].reshape(*x.shape[:-1], 16, 3) * _FLIP).reshape(*x.shape[:-1], 48)
        wrist = self.joints[from_side].rest_wrist(x[..., 48:58]) + x[..., 58:61]
        out[..., 58:61] = wrist * torch.tensor([-1.0, 1.0, 1.0]) - self.joints[to_side].rest_wrist(x[..., 48:58])
        return out

    @torch.no_grad()
    def predict(self, side: str, K: np.ndarray, image_size: tuple[int, int], kp2d: np.ndarray | None,
                vis: np.ndarray | None, mask: np.ndarray, kp3d: np.ndarray | None = None,
                x1: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One window of one hand.

        kp2d (T, 21, 2) px; vis (T, 21); mask (T,) 1 where the hand was detected; kp3d (T, 21, 3)
        metres in the (static) camera frame or None; x1 (61,) initial MANO pose of this side at
        the window's first frame or None.  T <= seq_len.  Returns MANO vectors (T, 61) of
        ``side`` and joints (T, 21, 3), camera frame.
        """
        cfg = self.model.cfg
        T = int(mask.shape[0])
        N = cfg.seq_len
        if T > N or T < 1:
            raise ValueError(f"window of {T} frames; the model takes 1..{N}")
        pad = lambda a: np.concatenate([a, np.repeat(a[-1:], N - T, 0)], 0) if T < N else a  # noqa: E731
        f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))[None]  # noqa: E731
        mask = np.asarray(mask, dtype=np.float64)
        vis = np.ones((T, 21)) if vis is None else np.asarray(vis, dtype=np.float64)
        vis = vis * mask[:, None]
        mirror = side == "left"
        batch: dict[str, torch.Tensor] = {}
        if kp2d is not None:
            uv = np.asarray(kp2d, dtype=np.float64).copy()
            if mirror:
                uv[..., 0] = 2.0 * K[0, 2] - uv[..., 0]
            if cfg.kp2d_norm == "resolution":
                n = uv / np.array(image_size, dtype=np.float64)
            else:
                n = (uv - K[[0, 1], [2, 2]]) / np.array([K[0, 0], K[1, 1]])
            batch.update(kp2d=f32(pad(n * vis[..., None])), kp2d_vis=f32(pad(vis)), kp2d_mask=f32(pad(mask)))
        if kp3d is not None:
            p = np.asarray(kp3d, dtype=np.float64).copy()
            if mirror:
                p[..., 0] *= -1
            batch.update(kp3d=f32(pad(p * mask[:, None, None])), kp3d_vis=f32(pad(vis)), kp3d_mask=f32(pad(mask)))
        if x1 is not None:
            x1t = torch.as_tensor(np.asarray(x1, dtype=np.float32))[None]
            batch["x1"] = self._flip_x(x1t, "left") if mirror else x1t
            batch["x1_known"] = torch.ones(1)
        g = torch.Generator().manual_seed(self.seed)
        x = self.model.sample(batch, steps=self.steps, cfg_scale=self.cfg_scale, generator=g,
                              batch_size=1, num_frames=N)[0, :T]
        if mirror:
            x = self._flip_x(x, "right")
        joints = self.joints[side](x)
        return x.numpy().astype(np.float64), joints.numpy().astype(np.float64)
