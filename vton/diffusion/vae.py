"""The VAE: diffusers' `AutoencoderKL`, f=8, 4 latent channels, loaded from a local folder.

Convention (`vton.types`): images are ``(B, 3, H, W)`` in ``[-1, 1]``; latents are
``(B, 4, H/8, W/8)`` *already multiplied* by the VAE's ``scaling_factor`` (and
shifted by ``shift_factor`` when the config has one, or centred and scaled per channel
when it has ``latents_mean`` / ``latents_std``), so they have roughly unit variance and
the diffusion schedule applies to them as it is.

Any diffusers AutoencoderKL folder works (Stable Diffusion's VAE, scaling 0.18215);
`small_vae_config` describes the small one we train from scratch for users without
one (``python -m vton train vae``).

Example::

    vae = load_vae("assets/weights/vae")
    z = encode(vae, images)        # (B, 4, H/8, W/8)
    images_back = decode(vae, z)   # (B, 3, H, W), not clamped
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL

from vton.errors import InputError
from vton.types import LATENT_CHANNELS, VAE_FACTOR


def small_vae_config(
    block_out_channels: tuple[int, ...] = (16, 32, 64, 64),
    layers_per_block: int = 1,
    norm_num_groups: int = 8,
    mid_block_add_attention: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for a small from-scratch `AutoencoderKL` (f=8: four blocks, 4 latent channels).

    The default (16, 32, 64, 64) keeps the full-resolution layers narrow: decoding one
    256x192 image costs ~7 GFLOP (Stable Diffusion's VAE: ~300 at 256x192).

    ``scaling_factor`` starts at 1.0; ``train vae`` replaces it with ``1 / std`` of the
    trained encoder's latents, as Stable Diffusion did for 0.18215.
    """
    n = len(block_out_channels)
    if 2 ** (n - 1) != VAE_FACTOR:
        raise ValueError(f"f={VAE_FACTOR} needs {VAE_FACTOR.bit_length()} blocks, got block_out_channels={block_out_channels}")
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=norm_num_groups,
        scaling_factor=1.0,
        force_upcast=False,
        mid_block_add_attention=mid_block_add_attention,
    )


def sd_vae_config() -> dict[str, Any]:
    """Keyword arguments of Stable Diffusion's VAE architecture (for tests and shape checks; no weights)."""
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=512,
        scaling_factor=0.18215,
    )


def check_vae_config(config: dict[str, Any], where: str = "the VAE") -> None:
    """Raise `InputError` unless ``config`` describes an f=8, 4-channel AutoencoderKL."""
    cls = config.get("_class_name", "AutoencoderKL")
    if cls != "AutoencoderKL":
        raise InputError(f"{where} is a {cls}, not a diffusers AutoencoderKL")
    channels = config.get("latent_channels")
    if channels != LATENT_CHANNELS:
        raise InputError(f"{where} has {channels} latent channels; the try-on UNet needs {LATENT_CHANNELS}")
    blocks = config.get("block_out_channels") or ()
    factor = 2 ** (len(blocks) - 1) if blocks else None
    if factor != VAE_FACTOR:
        raise InputError(f"{where} downsamples by {factor} ({len(blocks)} blocks); the pipeline needs f={VAE_FACTOR}")


def load_vae(folder: str | Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> AutoencoderKL:
    """Load an `AutoencoderKL` from a local diffusers folder (``config.json`` + weights), in eval mode.

    Raises `InputError` for a missing folder, a folder that is not an f=8 4-channel
    AutoencoderKL, or weights that do not match the config.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    if not folder.is_dir():
        raise InputError(f"VAE folder not found: {folder}")
    if not config_path.is_file():
        if (folder / "vae" / "config.json").is_file():  # a whole pipeline folder was given
            return load_vae(folder / "vae", device=device, dtype=dtype)
        raise InputError(f"{folder} is not a diffusers model folder (no config.json)")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"could not read {config_path}: {e}") from None
    check_vae_config(config, where=f"the model in {folder}")
    try:
        vae = AutoencoderKL.from_pretrained(folder, local_files_only=True, low_cpu_mem_usage=False, torch_dtype=dtype)
    except (OSError, ValueError, RuntimeError) as e:
        raise InputError(f"could not load the VAE from {folder}: {e}") from None
    return vae.to(device).eval().requires_grad_(False)


def _normalisation(vae: AutoencoderKL, like: torch.Tensor) -> tuple[torch.Tensor | float, torch.Tensor | float]:
    """``(offset, spread)`` with ``scaled = (z - offset) * scaling_factor / spread``.

    Per channel (shaped ``(1, C, 1, 1)``) from the config's ``latents_mean`` / ``latents_std``
    when it has both, as diffusers' SDXL configs do; otherwise ``(shift_factor or 0, 1)``.
    """
    mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
    if mean is None or std is None:
        return float(vae.config.shift_factor or 0.0), 1.0
    as_tensor = lambda v: torch.tensor(v, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)  # noqa: E731
    return as_tensor(mean), as_tensor(std)


def encode(vae: AutoencoderKL, images: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images ``(B, 3, H, W)`` in ``[-1, 1]`` (H, W divisible by 8) -> scaled latents ``(B, 4, H/8, W/8)``.

    Returns the posterior mean unless ``sample`` (then a draw using ``generator``).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"encode expects images (B, 3, H, W), got {tuple(images.shape)}")
    if images.shape[-2] % VAE_FACTOR or images.shape[-1] % VAE_FACTOR:
        raise ValueError(f"image size {tuple(images.shape[-2:])} is not divisible by the VAE factor {VAE_FACTOR}")
    posterior = vae.encode(images.to(vae.dtype)).latent_dist
    z = posterior.sample(generator) if sample else posterior.mean
    offset, spread = _normalisation(vae, z)
    return (z - offset) * vae.config.scaling_factor / spread


def decode(vae: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """Scaled latents ``(B, 4, h, w)`` -> images ``(B, 3, 8h, 8w)``, roughly in ``[-1, 1]`` (not clamped).

    Keeps the autograd graph when called with gradients enabled (the UNet's
    perceptual branch trains through it).
    """
    if latents.ndim != 4 or latents.shape[1] != LATENT_CHANNELS:
        raise ValueError(f"decode expects latents (B, {LATENT_CHANNELS}, h, w), got {tuple(latents.shape)}")
    z = latents.to(vae.dtype)
    offset, spread = _normalisation(vae, z)
    return vae.decode(z * spread / vae.config.scaling_factor + offset).sample
