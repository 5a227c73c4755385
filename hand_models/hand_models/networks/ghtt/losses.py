"""G-HTT losses (paper eqs. 1-6). l1 norms sum over feature dimensions and average over frames
and samples; masked entries (missing joints / hands / relations) do not count."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .model import kl_standard_normal
from .representation import SL_V, accumulate_rigid_t


def masked_l1(pred: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """Sum over the last dim of |pred - gt| * mask, averaged over frames that have any valid entry."""
    m = mask.float()
    per_frame = ((pred - gt).abs() * m).sum(-1)
    has = (m.sum(-1) > 0).float()
    return (per_frame * has).sum() / has.sum().clamp_min(1.0)


def loss_comp(refined: Tensor, future: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """Eq. (1): l1 between GT H_{1:2t} and (refined H_{1:t}, predicted H_{t+1:2t}), normalised space."""
    return masked_l1(torch.cat([refined, future], 1), gt, mask)


def loss_trj(future_raw: Tensor, gt_raw: Tensor, v_valid: Tensor, translation_scale: float = 10.0) -> Tensor:
    """Eqs. (2)-(3): l1 between accumulated palm transforms s_i (both hands) of the predicted part.

    future_raw, gt_raw (B, t, 153) de-normalised H of frames t+1..2t; v_valid (B, t, 2) bool. The
    accumulation stops counting at the first invalid step of a hand. Translations are scaled by
    ``translation_scale`` (metres -> decimetres by default)."""
    total = future_raw.new_zeros(())
    for s in range(2):
        sp = accumulate_rigid_t(future_raw[..., SL_V[s]])
        sg = accumulate_rigid_t(gt_raw[..., SL_V[s]])
        scale = torch.ones(9, dtype=sp.dtype, device=sp.device)
        scale[6:] = translation_scale
        valid = torch.cumprod(v_valid[..., s].float(), dim=1)
        total = total + masked_l1(sp * scale, sg * scale, valid[..., None].expand_as(sp))
    return total


def loss_pose_block(out: dict, gt_norm: Tensor, mask: Tensor, future_raw: Tensor, gt_future_raw: Tensor,
                    v_valid: Tensor, cfg) -> dict[str, Tensor]:
    comp = loss_comp(out["refined"], out["future"], gt_norm, mask)
    trj = loss_trj(future_raw, gt_future_raw, v_valid, cfg.trj_translation_scale)
    kl = kl_standard_normal(out["mu"], out["logvar"])
    total = cfg.lambda_comp * comp + cfg.lambda_trj * trj + cfg.lambda_kl_p * kl
    return {"total": total, "comp": comp, "trj": trj, "kl": kl}


def loss_action(alpha: Tensor, label_emb: Tensor, target: Tensor, tau: float) -> Tensor:
    """Eqs. (4)-(5): ||alpha - a_gt||_1 - log Pr(a_gt | alpha), Pr = softmax(cos / tau)."""
    a_gt = label_emb[target]
    l1 = (alpha - a_gt).abs().sum(-1)
    an = F.normalize(label_emb, dim=-1)
    zn = F.normalize(alpha, dim=-1)
    nll = F.cross_entropy(zn @ an.T / tau, target, reduction="none")
    return (l1 + nll).mean()


def loss_mid(pred: Tensor, gt: Tensor, valid: Tensor) -> Tensor:
    """Eq. (6): sum over future clips of ||m^A_j - mbar^P_j||_1; valid (B, nbar) bool."""
    per = (pred - gt).abs().sum(-1) * valid.float()
    return per.sum(1).mean()


def loss_action_block(out: dict, label_emb: Tensor, target: Tensor, mid_gt: Tensor, mid_valid: Tensor, cfg) -> dict[str, Tensor]:
    mid = loss_mid(out["future_mid"], mid_gt, mid_valid)
    act = loss_action(out["alpha"], label_emb, target, cfg.tau)
    kl = kl_standard_normal(out["mu"], out["logvar"])
    total = cfg.lambda_mid * mid + cfg.lambda_action * act + cfg.lambda_kl_a * kl
    return {"total": total, "mid": mid, "action": act, "kl": kl}
