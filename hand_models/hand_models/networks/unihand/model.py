"""UniHand: Joint VAE + latent diffusion denoiser + (optional) hand perceptron, with the two
training objectives (stage 1: Joint VAE, eq. 5-13; stage 2: denoiser, eq. 15-16) and sampling
(DDIM, classifier-free guidance with per-modality unconditional tokens, per-frame masks).

Batches are dicts of tensors (B batch, N frames), all in the canonical first-frame camera space
of a right hand (left hands are mirrored by the data pipeline):

* ``mano`` (B, N, 61) target MANO vectors [global_orient, hand_pose, betas, transl] (training)
* ``x1`` (B, 61) initial pose for the decoder anchor and ``x1_known`` (B,) (optional)
* ``mano_cond`` (B, N, 61) with ``mano_cond_mask`` (B, N): MANO parameters given as a condition
* ``kp2d`` (B, N, 21, 2) normalised 2D keypoints, ``kp2d_vis`` (B, N, 21), ``kp2d_mask`` (B, N)
* ``kp3d`` (B, N, 21, 3) 3D keypoints (m), ``kp3d_vis`` (B, N, 21), ``kp3d_mask`` (B, N)
* ``images`` (B, N, 3, H, W) in [0, 1] and ``image_mask`` (B, N) (vision condition)

Missing keys mean "condition absent".  The diffusion latent is [g, z^1..z^N] (N+1 tokens): the
paper's z_0 in R^{N x d} plus the global token the decoder needs (our reading of sec. 3.2/3.3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import MANO_DIM, STRUCTURED, UniHandConfig
from .denoiser import Diffusion, LatentDenoiser
from .joint_vae import JointVAE
from .mano_joints import ManoJoints
from .perceptron import HandPerceptron, VisionBackbone


class UniHand(nn.Module):
    def __init__(self, cfg: UniHandConfig | None = None, backbone: VisionBackbone | None = None,
                 mano: ManoJoints | None = None):
        super().__init__()
        self.cfg = cfg = cfg or UniHandConfig()
        self.vae = JointVAE(cfg)
        self.denoiser = LatentDenoiser(cfg)
        self.diffusion = Diffusion(cfg.diffusion.train_steps)
        self.mano = mano if mano is not None else ManoJoints(side="right")
        for p in self.mano.parameters():
            p.requires_grad_(False)
        self.perceptron: HandPerceptron | None = None
        self.backbone = None
        if cfg.perceptron.enabled:
            if backbone is None:
                raise ValueError("perceptron.enabled needs a vision backbone")
            self.backbone = backbone.freeze()
            self.perceptron = HandPerceptron(cfg, backbone.out_dim, MANO_DIM)
        self.register_buffer("latent_mean", torch.zeros(cfg.vae.latent_dim))
        self.register_buffer("latent_std", torch.ones(cfg.vae.latent_dim))

    def forward(self, batch: dict, stage: str = "vae") -> dict[str, Tensor]:
        """Training losses of a stage ('vae' or 'denoiser'); a forward() so DDP can wrap it."""
        if stage == "vae":
            return self.vae_losses(batch)
        if stage == "denoiser":
            return self.denoiser_losses(batch)
        raise ValueError(f"unknown stage {stage!r}")

    # ------------------------------------------------------------------ parameter groups
    def stage_parameters(self, stage: str) -> list[nn.Parameter]:
        """Trainable parameters of a stage: 'vae' (Joint VAE) or 'denoiser' (denoiser + perceptron)."""
        if stage == "vae":
            return list(self.vae.parameters())
        if stage == "denoiser":
            ps = list(self.denoiser.parameters())
            if self.perceptron is not None:
                ps += list(self.perceptron.parameters())
            return ps
        raise ValueError(f"unknown stage {stage!r}")

    def set_stage(self, stage: str) -> None:
        """Freeze everything but the stage's parameters (stage 2 freezes the Joint VAE)."""
        keep = {id(p) for p in self.stage_parameters(stage)}
        for p in self.parameters():
            p.requires_grad_(id(p) in keep)

    # ------------------------------------------------------------------ helpers
    def joints(self, x: Tensor) -> Tensor:
        return self.mano(x)

    def _rec_loss(self, x_hat: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """(L_mano_rec, L_joint_rec): smooth-L1 on normalised MANO vectors and on joints."""
        lc = self.cfg.loss
        mano = F.smooth_l1_loss(self.vae.normalize(x_hat), self.vae.normalize(x))
        u = lc.joint_unit_m
        joint = F.smooth_l1_loss(self.mano(x_hat) / u, self.mano(x) / u)
        return mano, joint

    def _anchor(self, batch: dict, B: int, device, train: bool) -> tuple[Tensor | None, Tensor | None]:
        x1 = batch.get("x1")
        known = batch.get("x1_known")
        if x1 is None and "mano" in batch and train:
            x1 = batch["mano"][:, 0]
        if x1 is None:
            return None, None
        known = torch.ones(B, device=device) if known is None else known.float()
        p = self.cfg.vae.anchor_drop_prob
        if train and p > 0:
            known = known * (torch.rand(B, device=device) >= p).float()
        return x1, known

    def encode_conditions(self, batch: dict, B: int, N: int, device) -> tuple[Tensor, Tensor]:
        """Structured conditions -> normalised latents (B, M, N, dl) and masks (B, M, N)."""
        dl = self.cfg.vae.latent_dim
        conds = torch.zeros(B, len(STRUCTURED), N, dl, device=device)
        masks = torch.zeros(B, len(STRUCTURED), N, device=device)
        for m, name in enumerate(STRUCTURED):
            if name == "mano":
                if "mano_cond" not in batch:
                    continue
                mask = batch["mano_cond_mask"].float()
                z, _, _ = self.vae.encode_motion(batch["mano_cond"], mask)
            else:
                if name not in batch:
                    continue
                mask = batch[f"{name}_mask"].float()
                z = self.vae.encode_condition(name, batch[name], batch[f"{name}_vis"].float(), mask)
            conds[:, m] = self.normalize_latent(z)
            masks[:, m] = mask
        return conds, masks

    def hand_tokens(self, batch: dict, x1: Tensor | None, known: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        if self.perceptron is None or "images" not in batch:
            return None, None
        imgs = batch["images"]
        B, N = imgs.shape[:2]
        with torch.no_grad():
            tok = self.backbone(imgs.flatten(0, 1))
        tok = tok.reshape(B, N, *tok.shape[1:])
        mask = batch.get("image_mask", torch.ones(B, N, device=imgs.device)).float()
        init = None
        if x1 is not None:
            init = self.vae.normalize(x1) * known[:, None] if known is not None else self.vae.normalize(x1)
        return self.perceptron(tok, mask, init), mask

    def normalize_latent(self, z: Tensor) -> Tensor:
        return (z - self.latent_mean) / self.latent_std

    def denormalize_latent(self, z: Tensor) -> Tensor:
        return z * self.latent_std + self.latent_mean

    @torch.no_grad()
    def set_latent_stats(self, mean: Tensor, std: Tensor) -> None:
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std.clamp_min(1e-4))

    @torch.no_grad()
    def motion_latent(self, x: Tensor) -> Tensor:
        """Clean diffusion latent z_0 (B, N+1, dl) of a motion (unnormalised: [mu_g, z])."""
        z, mu, _ = self.vae.encode_motion(x)
        return torch.cat([mu[:, None], z], 1)

    def decode_latent(self, zn: Tensor, x1: Tensor | None = None, known: Tensor | None = None) -> Tensor:
        """Normalised diffusion latent (B, N+1, dl) -> MANO vectors (B, N, 61)."""
        z = self.denormalize_latent(zn)
        return self.vae.decode(z[:, 1:], z[:, 0], x1, known)

    # ------------------------------------------------------------------ stage 1: Joint VAE
    def vae_losses(self, batch: dict) -> dict[str, Tensor]:
        lc = self.cfg.loss
        x = batch["mano"]
        B = x.shape[0]
        z, mu, logvar = self.vae.encode_motion(x)
        g = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        x1, known = self._anchor(batch, B, x.device, self.training)
        x_hat = self.vae.decode(z, g, x1, known)
        mano, joint = self._rec_loss(x_hat, x)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)).mean()
        latent = x.new_zeros(())
        aux = x.new_zeros(())
        out = {}
        for name in ("kp2d", "kp3d"):
            if name not in batch:
                continue
            zc = self.vae.encode_condition(name, batch[name], batch[f"{name}_vis"].float(), batch[f"{name}_mask"].float())
            l_lat = F.mse_loss(zc, z)
            xc = self.vae.decode(zc, g, x1, known)
            l_aux = F.smooth_l1_loss(self.vae.normalize(xc), self.vae.normalize(x))
            latent, aux = latent + l_lat, aux + l_aux
            out[f"latent_{name}"], out[f"aux_{name}"] = l_lat.detach(), l_aux.detach()
        rec = mano + lc.joint_rec * joint
        loss = rec + lc.kl * kl + lc.latent * latent + lc.aux * aux
        out.update(loss=loss, rec=rec.detach(), mano_rec=mano.detach(), joint_rec=joint.detach(), kl=kl.detach(),
                   latent=latent.detach(), aux=aux.detach())
        return out

    # ------------------------------------------------------------------ stage 2: denoiser
    def denoiser_losses(self, batch: dict) -> dict[str, Tensor]:
        x = batch["mano"]
        B, N = x.shape[:2]
        dev = x.device
        with torch.no_grad():
            z0 = self.normalize_latent(self.motion_latent(x))
            conds, masks = self.encode_conditions(batch, B, N, dev)
        if self.training and self.cfg.denoiser.cond_drop_prob > 0:
            keep = (torch.rand(B, len(STRUCTURED), 1, device=dev) >= self.cfg.denoiser.cond_drop_prob).float()
            masks = masks * keep
        x1, known = self._anchor(batch, B, dev, self.training)
        hand, hmask = self.hand_tokens(batch, x1, known)
        if hand is not None and self.training and self.cfg.denoiser.cond_drop_prob > 0:
            hmask = hmask * (torch.rand(B, 1, device=dev) >= self.cfg.denoiser.cond_drop_prob).float()
        t = torch.randint(0, self.diffusion.T, (B,), device=dev)
        z_t = self.diffusion.q_sample(z0, t, torch.randn_like(z0))
        z0_hat = self.denoiser(z_t, t, conds, masks, hand, hmask)
        simple = F.mse_loss(z0_hat, z0)
        x_hat = self.decode_latent(z0_hat, x1, known)
        mano, joint = self._rec_loss(x_hat, x)
        rec = mano + self.cfg.loss.joint_rec * joint
        loss = simple + self.cfg.loss.denoiser_rec * rec
        return {"loss": loss, "simple": simple.detach(), "rec": rec.detach(), "mano_rec": mano.detach(),
                "joint_rec": joint.detach()}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def sample(self, batch: dict, steps: int | None = None, cfg_scale: float | None = None,
               generator: torch.Generator | None = None, batch_size: int | None = None,
               num_frames: int | None = None) -> Tensor:
        """Generate MANO vectors (B, N, 61) from the conditions in ``batch`` (DDIM + CFG)."""
        dc = self.cfg.diffusion
        steps = dc.sample_steps if steps is None else steps
        w = dc.cfg_scale if cfg_scale is None else cfg_scale
        ref = next((v for v in batch.values() if isinstance(v, Tensor) and v.ndim >= 2), None)
        B = batch_size or ref.shape[0]
        N = num_frames or (ref.shape[1] if ref is not None else self.cfg.seq_len)
        dev = self.latent_mean.device
        conds, masks = self.encode_conditions(batch, B, N, dev)  # run once (sec. B.3)
        x1, known = self._anchor(batch, B, dev, False)
        hand, hmask = self.hand_tokens(batch, x1, known)
        dl = self.cfg.vae.latent_dim
        z = torch.randn(B, N + 1, dl, generator=generator, device=dev) if generator is not None else torch.randn(B, N + 1, dl, device=dev)
        guided = w != 1.0
        if guided:  # conditional and unconditional passes in one batch
            conds2 = torch.cat([conds, conds])
            masks2 = torch.cat([masks, torch.zeros_like(masks)])
            hand2 = None if hand is None else torch.cat([hand, hand])
            hmask2 = None if hmask is None else torch.cat([hmask, torch.zeros_like(hmask)])
        ts = self.diffusion.ddim_timesteps(steps)
        for i, t in enumerate(ts):
            tt = torch.full((B,), t, device=dev, dtype=torch.long)
            if guided:
                out = self.denoiser(torch.cat([z, z]), torch.cat([tt, tt]), conds2, masks2, hand2, hmask2)
                c, u = out.chunk(2)
                z0_hat = u + w * (c - u)
            else:
                z0_hat = self.denoiser(z, tt, conds, masks, hand, hmask)
            z = self.diffusion.ddim_step(z, z0_hat, t, ts[i + 1] if i + 1 < len(ts) else None)
        return self.decode_latent(z, x1, known)
