"""UniHand (unified diffusion model for 4D hand motion): Joint VAE, latent denoiser, hand
perceptron with 3D RoPE, DDIM sampling with classifier-free guidance.  See ``model.py``."""

from .config import MANO_DIM, SLICES, STRUCTURED, UniHandConfig
from .denoiser import Diffusion, LatentDenoiser, cosine_alphas_cumprod
from .joint_vae import JointVAE
from .mano_joints import ManoJoints
from .model import UniHand
from .perceptron import HandPerceptron, SmallCNNBackbone, VisionBackbone, WrappedBackbone, load_backbone

__all__ = [
    "MANO_DIM", "SLICES", "STRUCTURED", "UniHandConfig", "Diffusion", "LatentDenoiser", "cosine_alphas_cumprod",
    "JointVAE", "ManoJoints", "UniHand", "HandPerceptron", "SmallCNNBackbone", "VisionBackbone",
    "WrappedBackbone", "load_backbone",
]
