"""Tiny random-weight models and a tiny synthetic dataset, for the lab's tests and benchmark.

They let the lab be exercised end to end (warping, sampling, trajectory, export)
on any machine in seconds, before or without the embedded weights. The pictures
they produce are noise: use them to test plumbing and timing, never quality.
"""
from __future__ import annotations

from pathlib import Path


def write_tiny_pipeline(folder: str | Path, seed: int = 0) -> Path:
    """Save a randomly initialised `TryOnPipeline` (a few MB) into ``folder``; return it."""
    import torch
    from diffusers import AutoencoderKL

    from vton.diffusion.pipeline import TryOnPipeline, default_scheduler
    from vton.diffusion.unet import TryOnUNet
    from vton.diffusion.vae import small_vae_config
    from vton.warp import FlowWarpNet

    torch.manual_seed(seed)
    pipe = TryOnPipeline(
        warper=FlowWarpNet(base_channels=8),
        vae=AutoencoderKL(**small_vae_config(block_out_channels=(16, 16, 16, 16), norm_num_groups=8)),
        unet=TryOnUNet(block_channels=(32, 32, 64), attention_levels=(False, False, True), heads=2),
        scheduler=default_scheduler(),
    )
    with torch.no_grad():
        # zero-initialised output layers would give the identity warp and make every step count give one image
        for p in pipe.unet.parameters():
            if not p.any():
                p.normal_(0.0, 0.3)
        for head in pipe.warper.flow_heads:
            head.net[-1].weight.normal_(0.0, 0.005)
    pipe.save_pretrained(str(folder))
    return Path(folder)


def write_tiny_dataset(root: str | Path, n: int = 2, size: tuple[int, int] = (128, 96)) -> Path:
    """A synthetic VITON-HD-layout ``test`` split with ground truth (`vton.data.write_dataset`); return ``root``."""
    from vton.data import write_dataset

    write_dataset(root, n=n, seed=0, size=size, split="test")
    return Path(root)
