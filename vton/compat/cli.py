"""``python -m vton convert seed`` and ``python -m vton convert hrviton``: other projects' checkpoints as our folders.

Both read the original ``.pth`` files safely (``torch.load(weights_only=True)``), check that each file
holds the model it is given as, and write a folder of configs + safetensors (no pickle) atomically:
on any error nothing is left at ``--out``. They print one JSON line describing what was written.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vton.cli import command
from vton.errors import InputError


def _existing_file(path: Path, flag: str) -> Path:
    if not path.exists():
        raise InputError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; give the checkpoint file (.pth)")
    return path


def _free_out(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out} exists and is not an empty folder; choose a new folder")
    return out


def _summary(kind: str, out: Path) -> str:
    from vton.registry import describe_origin, load_warper

    info: dict = {"converted": kind, "out": str(out)}
    warper_dir = out / "warper" if (out / "warper").is_dir() else out
    info["warper"] = describe_origin(load_warper(warper_dir))
    return json.dumps(info)


def add_seed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warper", type=Path, required=True,
                   help="the seed's warper checkpoint (WarpingProcess, e.g. 3000imgs_warping_..._epoch_30.pth)")
    p.add_argument("--unet", type=Path, required=True,
                   help="the seed's UNet checkpoint (UNet(9, 4), e.g. latent512_1500img_..._epoch_300.pth)")
    p.add_argument("--vae", type=Path, required=True,
                   help="a local diffusers AutoencoderKL folder: Stable Diffusion 1.5's vae/ (the seed's VAE)")
    p.add_argument("--out", type=Path, required=True, help="the pipeline folder to write (must not exist or be empty)")


@command(add_seed_arguments)
def seed(args: argparse.Namespace) -> int:
    """Write the seed's warper, UNet and sampler, with the given VAE, as one pipeline folder."""
    _existing_file(args.warper, "--warper")
    _existing_file(args.unet, "--unet")
    if not args.vae.is_dir():
        raise InputError(f"--vae {args.vae} is not a folder (give a diffusers AutoencoderKL folder, e.g. SD-1.5's vae/)")
    from vton.compat.seed import convert_seed

    out = convert_seed(args.warper, args.unet, args.vae, _free_out(args.out))
    print(_summary("seed", Path(out)))
    return 0


def add_hrviton_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tocg", type=Path, required=True, help="HR-VITON's condition generator checkpoint (mtviton.pth)")
    p.add_argument("--out", type=Path, required=True, help="the warper folder to write (must not exist or be empty)")


@command(add_hrviton_arguments)
def hrviton(args: argparse.Namespace) -> int:
    """Write HR-VITON's condition generator as a warper folder."""
    _existing_file(args.tocg, "--tocg")
    from vton.compat.hrviton import convert_hrviton

    out = convert_hrviton(args.tocg, _free_out(args.out))
    print(_summary("hrviton", Path(out)))
    return 0
