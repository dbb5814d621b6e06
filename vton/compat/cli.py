"""``python -m vton convert seed`` and ``python -m vton convert hrviton``: other projects' checkpoints as our folders.

Both read the original ``.pth`` files safely (``torch.load(weights_only=True)``), check that each file
holds the model it is given as, and write a folder of configs + safetensors (no pickle) atomically:
on any error nothing is left at ``--out``. They print one JSON line describing what was written.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vton import checks
from vton.cli import command


def _summary(kind: str, out: Path) -> str:
    from vton.registry import describe_origin, load_warper

    info: dict = {"converted": kind, "out": str(out)}
    warper_dir = out / "warper" if (out / "warper").is_dir() else out
    info["warper"] = describe_origin(load_warper(warper_dir))
    return json.dumps(info)


def add_seed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warper", type=checks.weights_file("seed warper checkpoint"), required=True,
                   help="the seed's warper checkpoint file (WarpingProcess, e.g. 3000imgs_warping_..._epoch_30.pth)")
    p.add_argument("--unet", type=checks.weights_file("seed UNet checkpoint"), required=True,
                   help="the seed's UNet checkpoint file (UNet(9, 4), e.g. latent512_1500img_..._epoch_300.pth)")
    p.add_argument("--vae", type=checks.existing_folder("VAE"), required=True,
                   help="a local diffusers AutoencoderKL folder: Stable Diffusion 1.5's vae/ (the seed's VAE)")
    p.add_argument("--out", type=checks.new_folder, required=True,
                   help="the pipeline folder to write (must not exist or be empty)")


@command(add_seed_arguments)
def seed(args: argparse.Namespace) -> int:
    """Write the seed's warper, UNet and sampler, with the given VAE, as one pipeline folder."""
    checks.model_on_meta("--vae", args.vae, "vae")
    from vton.compat.seed import convert_seed

    out = convert_seed(args.warper, args.unet, args.vae, args.out)
    print(_summary("seed", Path(out)))
    return 0


def add_hrviton_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tocg", type=checks.weights_file("HR-VITON checkpoint"), required=True,
                   help="HR-VITON's condition generator checkpoint file (mtviton.pth)")
    p.add_argument("--out", type=checks.new_folder, required=True, help="the warper folder to write (must not exist or be empty)")


@command(add_hrviton_arguments)
def hrviton(args: argparse.Namespace) -> int:
    """Write HR-VITON's condition generator as a warper folder."""
    from vton.compat.hrviton import convert_hrviton

    out = convert_hrviton(args.tocg, args.out)
    print(_summary("hrviton", Path(out)))
    return 0
