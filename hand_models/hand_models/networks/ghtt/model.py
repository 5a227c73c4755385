"""G-HTT (Wen et al., "Generative Hierarchical Temporal Transformer for hand action recognition
and motion prediction"): the pose block P, the action block A and the object aggregator E^PO.

* **P** (:class:`PoseBlock`): encoder E^P over ``(mu~, Sigma~, gamma~_1..t)`` -> ``(mu^P, Sigma^P,
  gamma_1..t)``; ``m^P ~ N(mu^P, Sigma^P)``; refined poses ``H_i = MLP_1(gamma_i)``; parallel decoder
  D^P with sinusoidal queries for t positions cross-attending to ``m^P`` (and ``gamma_1..t`` as
  optional skip connections), outputs mapped by the same MLP_1 to ``H_{t+1..2t}``.
* **A** (:class:`ActionBlock`): encoder E^A over ``(mu~A, Sigma~A, m_1+phi_1, omega_1+phi_1, ...)``
  -> ``(mu^A, Sigma^A, eta_m1, eta_o1, ...)``; ``alpha ~ N(mu^A, Sigma^A)``; parallel decoder D^A with
  the phase encodings ``phi_{n+1..n+nbar}`` as queries cross-attending to ``alpha`` (and
  ``eta_m`` as optional skips) -> future mid-level features ``m^A``. Label embeddings
  ``a = FC_1(text embedding)``; recognition = the label whose ``a`` is closest (cosine) to mu^A.
* **E^PO** (:class:`ObjectAggregator`): 2 transformer encoder layers that aggregate per-frame
  object features (text-embedding space) of a clip into the clip feature ``omega``.

``Sigma`` tokens are read as log-variances of a diagonal Gaussian. Sampling for prediction uses
``N(mu, (s sigma)^2)`` with ``s = sample_scale`` (the paper's "N(mu, 5 Sigma)", written
"mu, 5 sigma" in its tables; 5 by default).

All tensors here are in the normalised feature space of :class:`FeatureNormalizer` (the network
input is ``concat(normalised H * mask, flags)``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .layers import Decoder, Encoder, sinusoidal
from .representation import FEATURE_DIM, NUM_FLAGS, P_DIM


@dataclass
class GHTTConfig:
    """Sizes and training settings. :meth:`paper` gives the published ones."""

    name: str = "small"
    clip_len: int = 16  # t
    max_clips: int = 16  # T <= 256 at 30 fps
    fps: float = 30.0
    d_model: int = 96
    heads: int = 4
    pose_layers: int = 2
    action_layers: int = 2
    object_layers: int = 2
    dropout: float = 0.1
    text_dim: int = 384
    pose_skip: bool = True
    #: D^P predicts the palm-frame joints p as offsets from the last input frame (anchor) rather
    #: than absolutely; v and r stay absolute (they are already relative quantities)
    residual_p: bool = True
    action_skip: bool = True
    #: probability of hiding D^P's skip connections in training, so it can decode m^A (no gammas)
    skip_drop: float = 0.5
    tau: float = 0.07
    sample_scale: float = 5.0
    num_samples: int = 20
    future_clips: int = 2  # nbar used in training A
    # losses (paper: lambda1 = lambda2 = 1, lambda3 = 1e-5; lambda4 = 1, lambda5 = 0.1, lambda6 = 1e-5)
    lambda_comp: float = 1.0
    lambda_trj: float = 1.0
    lambda_kl_p: float = 1e-5
    lambda_mid: float = 1.0
    lambda_action: float = 0.1
    lambda_kl_a: float = 1e-5
    #: translation scale in L_trj (metres -> decimetres, comparable to the 6D rotation entries)
    trj_translation_scale: float = 10.0
    # optimiser (paper: AdamW, lr 1e-4, weight decay 0.01, batch 256, 80 / 200 epochs)
    lr: float = 1e-4
    weight_decay: float = 0.01
    batch_size: int = 256  # paper; the small YAML trains with 64
    epochs_p: int = 80
    epochs_a: int = 200
    #: input noise augmentation (normalised units) for P's input and A's mid-level input
    noise_p: float = 0.05
    noise_mid: float = 0.05

    @classmethod
    def paper(cls, **kw) -> "GHTTConfig":
        base = dict(name="paper", d_model=512, heads=8, pose_layers=9, action_layers=9)
        base.update(kw)
        return cls(**base)

    @classmethod
    def small(cls, **kw) -> "GHTTConfig":
        return cls(**kw)

    def to_dict(self) -> dict:
        return asdict(self)


class FeatureNormalizer(nn.Module):
    """Per-feature mean/std of H (masked statistics over a training set), stored as buffers."""

    def __init__(self, dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, feats: Tensor, mask: Tensor, min_std: float = 1e-3) -> None:
        m = mask.reshape(-1, feats.shape[-1]).float()
        f = feats.reshape(-1, feats.shape[-1]).float()
        n = m.sum(0).clamp_min(1.0)
        mean = (f * m).sum(0) / n
        var = (((f - mean) ** 2) * m).sum(0) / n
        self.mean.copy_(mean)
        self.std.copy_(var.sqrt().clamp_min(min_std))

    def norm(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def denorm(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean


def reparameterize(mu: Tensor, logvar: Tensor, scale: float | Tensor = 1.0, noise: Tensor | None = None) -> Tensor:
    if noise is None:
        noise = torch.randn_like(mu)
    return mu + scale * torch.exp(0.5 * logvar) * noise


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) summed over the last dim, mean over the rest."""
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)).mean()


class PoseBlock(nn.Module):
    """G-HTT pose block P (E^P, MLP_1, D^P)."""

    def __init__(self, cfg: GHTTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.normalizer = FeatureNormalizer()
        self.inp = nn.Linear(FEATURE_DIM + NUM_FLAGS, d)
        self.mu_token = nn.Parameter(torch.randn(d) * 0.02)
        self.sigma_token = nn.Parameter(torch.randn(d) * 0.02)
        self.encoder = Encoder(d, cfg.heads, cfg.pose_layers, cfg.dropout)
        self.to_mu = nn.Linear(d, d)
        self.to_logvar = nn.Linear(d, d)
        self.mlp1 = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, FEATURE_DIM))
        self.m_in = nn.Linear(d, d)
        self.decoder = Decoder(d, cfg.heads, cfg.pose_layers, cfg.dropout)
        self.register_buffer("pos", sinusoidal(torch.arange(cfg.clip_len), d), persistent=False)
        self.register_buffer("dec_queries", sinusoidal(torch.arange(cfg.clip_len), d), persistent=False)
        p_mask = torch.zeros(FEATURE_DIM)
        p_mask[:2 * P_DIM] = 1.0
        self.register_buffer("p_mask", p_mask, persistent=False)

    @property
    def latent_dim(self) -> int:
        return self.cfg.d_model

    def encode(self, x: Tensor, flags: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, t, 153) normalised & masked H, flags (B, t, 5) -> mu (B, d), logvar (B, d), gamma (B, t, d)."""
        B, t, _ = x.shape
        tok = self.inp(torch.cat([x, flags], -1)) + self.pos[:t]
        special = torch.stack([self.mu_token, self.sigma_token]).expand(B, 2, -1)
        out = self.encoder(torch.cat([special, tok], 1))
        return self.to_mu(out[:, 0]), self.to_logvar(out[:, 1]).clamp(-20.0, 10.0), out[:, 2:]

    def refine(self, gamma: Tensor) -> Tensor:
        return self.mlp1(gamma)

    def decode(self, m: Tensor, gamma: Tensor | None = None, skip_mask: Tensor | None = None,
               anchor: Tensor | None = None) -> Tensor:
        """m (B, d) -> future H (B, t, 153) normalised. gamma (B, t, d) as skip connections when
        the config has them; skip_mask (B,) bool False hides a sample's skips; anchor (B, 153) the
        normalised last frame before the predicted clip (p offsets are added to it when
        ``residual_p``)."""
        B = m.shape[0]
        mem = self.m_in(m)[:, None]
        mem_mask = None
        if self.cfg.pose_skip:
            t = self.cfg.clip_len
            if gamma is None:
                gamma = torch.zeros(B, t, m.shape[-1], dtype=m.dtype, device=m.device)
                keep = torch.zeros(B, t, dtype=torch.bool, device=m.device)
            else:
                keep = torch.ones(B, t, dtype=torch.bool, device=m.device)
                if skip_mask is not None:
                    keep = keep & skip_mask[:, None]
            mem = torch.cat([mem, gamma], 1)
            mem_mask = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=m.device), keep], 1)
        q = self.dec_queries.expand(B, -1, -1)
        out = self.mlp1(self.decoder(q, mem, None, mem_mask))
        if self.cfg.residual_p and anchor is not None:
            out = out + (anchor * self.p_mask)[:, None]
        return out

    def forward(self, x: Tensor, flags: Tensor, sample_scale: float = 1.0, skip_mask: Tensor | None = None):
        mu, logvar, gamma = self.encode(x, flags)
        m = reparameterize(mu, logvar, sample_scale) if sample_scale > 0 else mu
        return {"mu": mu, "logvar": logvar, "m": m, "refined": self.refine(gamma),
                "future": self.decode(m, gamma, skip_mask, x[:, -1])}


class ObjectAggregator(nn.Module):
    """E^PO: per-frame object features (B, t, text_dim) -> clip feature omega (B, text_dim)."""

    def __init__(self, cfg: GHTTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.inp = nn.Linear(cfg.text_dim, d)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.encoder = Encoder(d, cfg.heads, cfg.object_layers, cfg.dropout)
        self.out = nn.Linear(d, cfg.text_dim)
        self.register_buffer("pos", sinusoidal(torch.arange(cfg.clip_len), d), persistent=False)

    def forward(self, obj: Tensor, mask: Tensor | None = None) -> Tensor:
        B, t, _ = obj.shape
        tok = self.inp(obj) + self.pos[:t]
        x = torch.cat([self.cls.expand(B, 1, -1), tok], 1)
        if mask is not None:
            mask = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=obj.device), mask], 1)
        return self.out(self.encoder(x, mask)[:, 0])


class ActionBlock(nn.Module):
    """G-HTT action block A (E^A, D^A, FC_1)."""

    def __init__(self, cfg: GHTTConfig, mid_dim: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.mid_dim = mid_dim or d
        self.m_in = nn.Linear(self.mid_dim, d)
        self.o_in = nn.Linear(cfg.text_dim, d)
        self.mu_token = nn.Parameter(torch.randn(d) * 0.02)
        self.sigma_token = nn.Parameter(torch.randn(d) * 0.02)
        self.encoder = Encoder(d, cfg.heads, cfg.action_layers, cfg.dropout)
        self.to_mu = nn.Linear(d, d)
        self.to_logvar = nn.Linear(d, d)
        self.alpha_in = nn.Linear(d, d)
        self.decoder = Decoder(d, cfg.heads, cfg.action_layers, cfg.dropout)
        self.m_out = nn.Linear(d, self.mid_dim)
        self.fc1 = nn.Linear(cfg.text_dim, d)  # FC_1: text embedding -> label embedding a

    def phase(self, idx: Tensor) -> Tensor:
        return sinusoidal(idx.to(torch.float32), self.cfg.d_model)

    def encode(self, m: Tensor, omega: Tensor, clip_mask: Tensor, phase0: Tensor | None = None):
        """m (B, n, mid), omega (B, n, text_dim), clip_mask (B, n) bool (True = observed clip),
        phase0 (B,) clips since the action started before the first one (default 0).
        -> mu^A (B, d), logvar^A (B, d), eta_m (B, n, d)."""
        B, n, _ = m.shape
        idx = torch.arange(n, device=m.device)[None].expand(B, n)
        if phase0 is not None:
            idx = idx + phase0[:, None]
        phi = self.phase(idx)
        tm = self.m_in(m) + phi
        to = self.o_in(omega) + phi
        tok = torch.stack([tm, to], 2).reshape(B, 2 * n, -1)  # m_1, o_1, m_2, o_2, ...
        special = torch.stack([self.mu_token, self.sigma_token]).expand(B, 2, -1)
        mask = torch.cat([torch.ones(B, 2, dtype=torch.bool, device=m.device),
                          clip_mask[:, :, None].expand(B, n, 2).reshape(B, 2 * n)], 1)
        out = self.encoder(torch.cat([special, tok], 1), mask)
        eta = out[:, 2:].reshape(B, n, 2, -1)
        return self.to_mu(out[:, 0]), self.to_logvar(out[:, 1]).clamp(-20.0, 10.0), eta[:, :, 0]

    def decode(self, alpha: Tensor, n_obs: Tensor, n_future: int, eta_m: Tensor | None = None,
               clip_mask: Tensor | None = None, phase0: Tensor | None = None) -> Tensor:
        """alpha (B, d); n_obs (B,) observed clips; -> m^A (B, n_future, mid) for clips n+1..n+nbar."""
        B = alpha.shape[0]
        start = n_obs if phase0 is None else n_obs + phase0
        idx = start[:, None] + torch.arange(n_future, device=alpha.device)[None]
        q = self.phase(idx)
        mem = self.alpha_in(alpha)[:, None]
        mem_mask = None
        if self.cfg.action_skip and eta_m is not None:
            mem = torch.cat([mem, eta_m], 1)
            cm = clip_mask if clip_mask is not None else torch.ones(eta_m.shape[:2], dtype=torch.bool, device=alpha.device)
            mem_mask = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=alpha.device), cm], 1)
        return self.m_out(self.decoder(q, mem, None, mem_mask))

    def label_embeddings(self, text: Tensor) -> Tensor:
        return self.fc1(text)

    def logits(self, z: Tensor, labels: Tensor) -> Tensor:
        """Cosine similarity / tau between z (B, d) and label embeddings (N_A, d)."""
        zn = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        an = labels / labels.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        return zn @ an.T / self.cfg.tau

    def forward(self, m: Tensor, omega: Tensor, clip_mask: Tensor, n_obs: Tensor, n_future: int,
                sample_scale: float = 1.0, phase0: Tensor | None = None):
        mu, logvar, eta = self.encode(m, omega, clip_mask, phase0)
        alpha = reparameterize(mu, logvar, sample_scale) if sample_scale > 0 else mu
        return {"mu": mu, "logvar": logvar, "alpha": alpha,
                "future_mid": self.decode(alpha, n_obs, n_future, eta, clip_mask, phase0)}


class GHTT(nn.Module):
    """P + A + E^PO with the prediction paths P.a and P.b and action recognition."""

    def __init__(self, cfg: GHTTConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or GHTTConfig()
        self.pose = PoseBlock(self.cfg)
        self.action = ActionBlock(self.cfg, self.pose.latent_dim)
        self.objects = ObjectAggregator(self.cfg)
        #: taxonomy text embeddings (N_A, text_dim); set with :meth:`set_taxonomy`
        self.register_buffer("label_text", torch.zeros(0, self.cfg.text_dim))
        self.labels: list[str] = []
        self.register_buffer("default_object", torch.zeros(self.cfg.text_dim))

    def set_taxonomy(self, labels: list[str], text_embeddings: Tensor) -> None:
        self.labels = list(labels)
        self.label_text = torch.as_tensor(text_embeddings, dtype=torch.float32).clone()

    # -- helpers ---------------------------------------------------------------------------------
    def clip_inputs(self, feats: Tensor, mask: Tensor, flags: Tensor) -> Tensor:
        """Raw H (..., 153), mask, flags -> network input (normalised H * mask)."""
        return self.pose.normalizer.norm(feats) * mask

    @torch.no_grad()
    def mid_level(self, x: Tensor, flags: Tensor) -> Tensor:
        """Clips x (B, n, t, 153) normalised-masked, flags (B, n, t, 5) -> mu^P (B, n, d)."""
        B, n, t, D = x.shape
        mu, _, _ = self.pose.encode(x.reshape(B * n, t, D), flags.reshape(B * n, t, -1))
        return mu.reshape(B, n, -1)

    @staticmethod
    def _future_flags(last_flags: Tensor, t: int) -> Tensor:
        """Flags of predicted frames: presence of the last observed frame; v valid where present."""
        pres = last_flags[..., :2]
        f = torch.cat([pres, pres, (pres[..., :1] * pres[..., 1:2])], -1)
        return f[:, None].expand(-1, t, -1)

    # -- prediction paths ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_pa(self, x: Tensor, flags: Tensor, num_samples: int, num_clips: int,
                   sample_scale: float | None = None) -> Tensor:
        """P.a: last observed clip x (B, t, 153) normalised -> (B, K, num_clips * t, 153) normalised,
        sampling m^P from N(mu, (s sigma)^2) and feeding each decoded clip back to P."""
        s = self.cfg.sample_scale if sample_scale is None else sample_scale
        B, t, D = x.shape
        K = num_samples
        xk = x[:, None].expand(B, K, t, D).reshape(B * K, t, D)
        fk = flags[:, None].expand(B, K, t, flags.shape[-1]).reshape(B * K, t, -1)
        fut_flags = self._future_flags(fk[:, -1], t)
        outs = []
        for _ in range(num_clips):
            mu, logvar, gamma = self.pose.encode(xk, fk)
            y = self.pose.decode(reparameterize(mu, logvar, s), gamma, anchor=xk[:, -1])
            outs.append(y)
            xk, fk = y * self._flag_mask(fut_flags), fut_flags
        return torch.cat(outs, 1).reshape(B, K, num_clips * t, D)

    def _flag_mask(self, flags: Tensor) -> Tensor:
        """Feature mask implied by flags (B, t, 5) -> (B, t, 153) (p by presence, v, r by validity)."""
        from .representation import P_DIM
        parts = [flags[..., 0:1].expand(*flags.shape[:-1], P_DIM), flags[..., 1:2].expand(*flags.shape[:-1], P_DIM),
                 flags[..., 2:3].expand(*flags.shape[:-1], 9), flags[..., 3:4].expand(*flags.shape[:-1], 9),
                 flags[..., 4:5].expand(*flags.shape[:-1], 9)]
        return torch.cat(parts, -1)

    @torch.no_grad()
    def predict_pb(self, clips: Tensor, flags: Tensor, omega: Tensor, clip_mask: Tensor, num_samples: int,
                   num_future_clips: int, sample_scale: float | None = None) -> tuple[Tensor, Tensor]:
        """P.b: observed clips (B, n, t, 153) normalised, flags (B, n, t, 5), omega (B, n, text_dim),
        clip_mask (B, n) (observed clips first, right-padded). Clip n+1 is D^P(m^P_n) with m^P_n
        sampled from P; clips n+2.. are D^P(m^A) with alpha sampled from N(mu^A, (s sigma^A)^2).
        -> futures (B, K, num_future_clips * t, 153) normalised, mu^A (B, d)."""
        s = self.cfg.sample_scale if sample_scale is None else sample_scale
        B, n, t, D = clips.shape
        K = num_samples
        n_obs = clip_mask.sum(1).long()
        last = clips[torch.arange(B), n_obs - 1]
        last_flags = flags[torch.arange(B), n_obs - 1]
        mu_p, logvar_p, gamma = self.pose.encode(last, last_flags)
        m_all = self.mid_level(clips, flags)
        mu_a, logvar_a, eta = self.action.encode(m_all, omega, clip_mask)
        rep = lambda z: z[:, None].expand(B, K, *z.shape[1:]).reshape(B * K, *z.shape[1:])  # noqa: E731
        first = self.pose.decode(reparameterize(rep(mu_p), rep(logvar_p), s), rep(gamma), anchor=rep(last[:, -1]))
        outs = [first]
        if num_future_clips > 1:
            alpha = reparameterize(rep(mu_a), rep(logvar_a), s)
            m_fut = self.action.decode(alpha, rep(n_obs), num_future_clips - 1, rep(eta), rep(clip_mask))
            for j in range(num_future_clips - 1):
                outs.append(self.pose.decode(m_fut[:, j], None, anchor=outs[-1][:, -1]))
        return torch.cat(outs, 1).reshape(B, K, num_future_clips * t, D), mu_a

    @torch.no_grad()
    def recognize(self, clips: Tensor, flags: Tensor, omega: Tensor, clip_mask: Tensor) -> Tensor:
        """Action logits (B, N_A): cosine of mu^A to the label embeddings FC_1(text) / tau."""
        m_all = self.mid_level(clips, flags)
        mu_a, _, _ = self.action.encode(m_all, omega, clip_mask)
        return self.action.logits(mu_a, self.action.label_embeddings(self.label_text))
