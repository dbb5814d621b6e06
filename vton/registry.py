"""Model folders by the class their config names: ours, and the ports of other projects' models.

A model on disk is a diffusers-style folder (``config.json`` + ``*.safetensors``; a scheduler has
``scheduler_config.json``). The config's ``_class_name`` says which class rebuilds it; this module
maps those names to where the classes live, so a warper folder written by
``python -m vton convert hrviton`` loads wherever one of ours does, and the pipeline, the CLI and the
lab depend on the small warper / denoiser interface (`vton.warp.network.WarpOutput`,
``warp(batch)``, ``multiple``, ``densepose_encoding``; ``forward(sample, t, cloth_latents)``,
``downsampling``, ``canvas_size``), never on our own classes.

    >>> warper = load_warper("assets/weights/warper")      # FlowWarpNet, SeedWarper or HRVitonWarper
    >>> warper.origin, warper.densepose_encoding
    ('vton', 'iuv')
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import torch

from vton import checks
from vton.errors import InputError

WARPERS: dict[str, str] = {
    "FlowWarpNet": "vton.warp.network",
    "SeedWarper": "vton.compat.seed",
    "HRVitonWarper": "vton.compat.hrviton",
}
DENOISERS: dict[str, str] = {
    "TryOnUNet": "vton.diffusion.unet",
    "SeedDenoiser": "vton.compat.seed",
}
SCHEDULERS: dict[str, str] = {
    "DDIMScheduler": "diffusers",
    "SeedScheduler": "vton.compat.seed",
}

ORIGINS: dict[str, str] = {
    "vton": "trained with vton",
    "seed": "the seed's release (DCI-VITON-style), ported",
    "hrviton": "HR-VITON's condition generator, ported",
}


def _class_name(folder: Path, config_name: str, what: str) -> str:
    if not folder.is_dir():
        raise InputError(f"{what} folder not found: {folder}")
    config = folder / config_name
    if not config.is_file():
        raise InputError(f"{folder} is not a {what} folder: it has no {config_name}")
    try:
        name = json.loads(config.read_text()).get("_class_name")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
        raise InputError(f"{config} is not a readable JSON config ({e})") from None
    if not isinstance(name, str):
        raise InputError(f"{config} names no model class (_class_name)")
    return name


def _resolve(name: str, table: dict[str, str], folder: Path, what: str):
    if name not in table:
        raise InputError(f"{folder} holds a {name}, which is not a {what}; {what}s are: {', '.join(sorted(table))}")
    return getattr(importlib.import_module(table[name]), name)


def warper_class(folder: str | Path):
    """The class that rebuilds the warper in ``folder`` (from its ``config.json``)."""
    folder = Path(folder)
    return _resolve(_class_name(folder, "config.json", "warper"), WARPERS, folder, "warper")


def denoiser_class(folder: str | Path):
    """The class that rebuilds the denoiser (UNet) in ``folder``."""
    folder = Path(folder)
    return _resolve(_class_name(folder, "config.json", "UNet"), DENOISERS, folder, "UNet")


def scheduler_class(folder: str | Path):
    """The scheduler class ``folder/scheduler_config.json`` names."""
    folder = Path(folder)
    return _resolve(_class_name(folder, "scheduler_config.json", "scheduler"), SCHEDULERS, folder, "scheduler")


def _load(cls, folder: Path, what: str, device, dtype):
    if not any(folder.glob("*.safetensors")):
        raise InputError(f"{what} folder {folder} has a config but no .safetensors weights")
    # ports of other projects' models are large (the seed's UNet: 738 M parameters): load them without a
    # random initialisation first; ours are small and load the plain way
    low_memory = getattr(cls, "origin", "vton") != "vton"
    try:
        model = cls.from_pretrained(str(folder), local_files_only=True, low_cpu_mem_usage=low_memory)
    except InputError:
        raise
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot load the {what} in {folder}: {first}") from None
    model.requires_grad_(False).eval()
    return model.to(device=device, dtype=dtype)


def _arguments(folder, device, dtype) -> Path:
    """Check a loader's arguments (`InputError` naming the bad one); return the folder as a `Path`."""
    checks.device_argument("device", device)
    checks.dtype_argument("dtype", dtype)
    return checks.path_argument("folder", folder)


def load_warper(folder: str | Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """Any warper folder (ours or a converted one), in eval mode on ``device``.

    Raises:
        InputError: ``folder`` not a path; missing folder, no config or weights, a class that is not a warper,
            weights that do not fit the config; ``device`` not a device of this machine; ``dtype`` not a floating
            torch dtype.
    """
    folder = _arguments(folder, device, dtype)
    return _load(warper_class(folder), folder, "warper", device, dtype)


def load_denoiser(folder: str | Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """Any denoiser (UNet) folder, in eval mode on ``device``.

    Raises:
        InputError: as `load_warper`, for a UNet.
    """
    folder = _arguments(folder, device, dtype)
    return _load(denoiser_class(folder), folder, "UNet", device, dtype)


def load_scheduler(folder: str | Path):
    """The scheduler saved in ``folder`` (``scheduler_config.json``)."""
    folder = Path(folder)
    cls = scheduler_class(folder)
    try:
        return cls.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise InputError(f"cannot load the scheduler in {folder}: {e}") from None


def origin_of(model) -> str:
    """``"vton"``, ``"seed"`` or ``"hrviton"``: who trained ``model`` (a warper or a denoiser)."""
    return str(getattr(model, "origin", "vton"))


def describe_origin(model) -> str:
    """A short phrase for the lab and ``run.json``: the origin and, for warpers, the DensePose input."""
    text = ORIGINS.get(origin_of(model), origin_of(model))
    encoding = getattr(model, "densepose_encoding", None)
    if encoding is not None:
        encoding = getattr(encoding, "value", encoding)
        text += f"; DensePose input: {'IUV' if encoding == 'iuv' else 'the dp_segm colour render'}"
    return text


def assemble_pipeline(pipeline: str | Path | None = None, *, warper: str | Path | None = None,
                      vae: str | Path | None = None, unet: str | Path | None = None,
                      device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """A `TryOnPipeline` from a pipeline folder with any of its components replaced by other folders (e.g. our VAE
    and UNet with HR-VITON's converted warper). Without a pipeline folder, all three component folders are needed
    and the sampler is our DDIM.

    Raises:
        InputError: a folder argument that is not a path (or None), a folder that does not load, components that
            do not fit together; ``device`` / ``dtype`` as `load_warper`.
    """
    from vton.diffusion.pipeline import TryOnPipeline, default_scheduler, load_pipeline
    from vton.diffusion.vae import load_vae

    for name, value in (("pipeline", pipeline), ("warper", warper), ("vae", vae), ("unet", unet)):
        if value is not None:
            checks.path_argument(name, value)
    checks.device_argument("device", device)
    checks.dtype_argument("dtype", dtype)

    if pipeline is None and not (warper and vae and unet):
        raise InputError("give a pipeline folder, or a warper, a VAE and a UNet folder")
    base = load_pipeline(pipeline, device=device, dtype=dtype) if pipeline is not None else None
    if base is not None and not (warper or vae or unet):
        return base
    return TryOnPipeline(
        warper=load_warper(warper, device=device, dtype=dtype) if warper else base.warper,
        vae=load_vae(vae, device=device, dtype=dtype) if vae else base.vae,
        unet=load_denoiser(unet, device=device, dtype=dtype) if unet else base.unet,
        scheduler=base.scheduler if base is not None else default_scheduler(),
    )
