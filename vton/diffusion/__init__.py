"""Latent diffusion: the VAE, `TryOnUNet`, the DDIM `TryOnPipeline` and its trajectory.

Import the pieces from their modules (``vton.diffusion.pipeline`` pulls in the warper);
the names below are loaded lazily so ``import vton.diffusion`` stays cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
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
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vton.diffusion' has no attribute {name!r}")
