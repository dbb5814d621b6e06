"""Latent diffusion: the VAE, `TryOnUNet`, the DDIM `TryOnPipeline` and its trajectory.

Import the pieces from their modules (``vton.diffusion.pipeline`` pulls in the warper);
the names below are loaded lazily so ``import vton.diffusion`` stays cheap.
"""
from __future__ import annotations

from vton._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "TryOnUNet": "vton.diffusion.unet",
    "TryOnPipeline": "vton.diffusion.pipeline",
    "TryOnResult": "vton.diffusion.pipeline",
    "Conditioning": "vton.diffusion.pipeline",
    "load_pipeline": "vton.diffusion.pipeline",
    "default_scheduler": "vton.diffusion.pipeline",
    "Trajectory": "vton.diffusion.trajectory",
    "load_vae": "vton.diffusion.vae",
    "encode": "vton.diffusion.vae",
    "decode": "vton.diffusion.vae",
    "small_vae_config": "vton.diffusion.vae",
})
