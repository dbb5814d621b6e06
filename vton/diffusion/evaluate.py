"""Scores of the diffusion stage on a VITON-HD-layout split, as plain dicts (the CLI prints JSON).

- `evaluate_vae`: PSNR (dB) and SSIM of VAE reconstructions of the person images.
- `evaluate_tryon`: SSIM and PSNR of the full try-on against the ground-truth person
  (paired data), beside the same scores of the composite it started from: the
  diffusion is worth running only where it beats its own input. With ``ceiling``, also the
  scores of the ground truth itself through the VAE (encoded, decoded, the unmasked region
  pasted back as for a try-on): the most any UNet can reach with this VAE.

SSIM is scikit-image's on uint8 RGB (``channel_axis=2``, ``data_range=255``).
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from vton.errors import InputError
from vton.types import DEFAULT_SIZE, Size

Progress = Callable[[int, int, str], None]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (inf when equal)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def evaluate_vae(data: str, vae_folder: str, *, size: Size = DEFAULT_SIZE, split: str = "test", batch_size: int = 8,
                 limit: int | None = None, device: str = "cpu", progress: Progress | None = None) -> dict:
    """Reconstruct the split's person images (posterior mean) and score them."""
    from vton.data import VitonHD
    from vton.diffusion.vae import decode, encode, load_vae
    from vton.tensors import image_to_tensor, tensor_to_image

    vae = load_vae(vae_folder, device=device)
    reader = VitonHD(data, split, size=size)
    n = len(reader) if limit is None else min(limit, len(reader))
    if n == 0:
        raise InputError(f"no pairs in {data} ({split})")
    psnrs, ssims = [], []
    t0 = time.perf_counter()
    for start in range(0, n, batch_size):
        images = [reader.person_image(i) for i in range(start, min(n, start + batch_size))]
        x = torch.stack([image_to_tensor(im) for im in images]).to(device)
        with torch.no_grad():
            recon = decode(vae, encode(vae, x))
        for im, r in zip(images, recon):
            out = tensor_to_image(r)
            psnrs.append(psnr(out, im))
            ssims.append(ssim(out, im))
        if progress:
            progress(len(psnrs), n, f"PSNR {np.mean(psnrs):.2f}")
    return {"vae": str(vae_folder), "split": split, "size": list(size), "n": n, "psnr": _mean(psnrs), "ssim": _mean(ssims),
            "scaling_factor": float(vae.config.scaling_factor), "seconds": round(time.perf_counter() - t0, 2)}


def evaluate_tryon(data: str, weights: str, *, size: Size = DEFAULT_SIZE, split: str = "test", steps: int = 50,
                   eta: float = 0.0, strength: float = 1.0, seed: int = 0, limit: int | None = None, device: str = "cpu",
                   progress: Progress | None = None, per_sample: bool = False, ceiling: bool = False) -> dict:
    """Run the pipeline on every paired example and score try-on and composite (and with ``ceiling`` the
    VAE's reconstruction of the ground truth) against the photo."""
    from vton.data import VitonHD
    from vton.diffusion.pipeline import load_pipeline, to_canvas
    from vton.diffusion.vae import encode

    pipe = load_pipeline(weights, device=device)
    reader = VitonHD(data, split, size=size, paired=True)
    n = len(reader) if limit is None else min(limit, len(reader))
    if n == 0:
        raise InputError(f"no pairs in {data} ({split})")
    rows = []
    seconds = []
    for i in range(n):
        pair = reader[i]
        t0 = time.perf_counter()
        cond = pipe.prepare(pair.person, pair.cloth, size)
        result = pipe.sample(cond, num_inference_steps=steps, eta=eta, strength=strength, seeds=[seed])
        seconds.append(time.perf_counter() - t0)
        truth = pair.person.image
        rows.append({
            "name": pair.name,
            "tryon_ssim": ssim(result.images[0], truth), "tryon_psnr": psnr(result.images[0], truth),
            "composite_ssim": ssim(result.composite, truth), "composite_psnr": psnr(result.composite, truth),
        })
        if ceiling:
            with torch.no_grad():
                z = encode(pipe.vae, to_canvas(cond.person.to(pipe.vae.dtype), pipe.canvas_size))
            recon = pipe.decoder_for(cond)(z)[0]
            rows[-1] |= {"ceiling_ssim": ssim(recon, truth), "ceiling_psnr": psnr(recon, truth)}
        if progress:
            progress(i + 1, n, f"SSIM {np.mean([r['tryon_ssim'] for r in rows]):.3f}")
    out = {"weights": str(weights), "split": split, "size": list(size), "n": n, "steps": steps, "eta": eta,
           "strength": strength, "seed": seed}
    for key in ("tryon_ssim", "tryon_psnr", "composite_ssim", "composite_psnr") + (("ceiling_ssim", "ceiling_psnr") if ceiling else ()):
        out[key] = _mean([r[key] for r in rows])
    out["seconds_per_pair"] = _mean(seconds)
    if per_sample:
        out["per_sample"] = rows
    return out
