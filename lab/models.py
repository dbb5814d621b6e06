"""Models, loaded once per process (`st.cache_resource`) from local folders only.

A model choice that cannot be loaded (missing folder, wrong shapes) raises
`vton.errors.InputError`; the page shows it with ``st.error`` and the rest of the
lab keeps working. `describe_weights` says in plain words which weights are in use.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import streamlit as st

from lab.library import require
from lab.settings import DEFAULT_WEIGHTS, ModelChoice
from vton.diffusion.defaults import SamplingDefaults, sampling_defaults
from vton.errors import InputError


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


@st.cache_resource(max_entries=4, show_spinner="Loading the warper...")
def load_warper(folder: str, device: str, dtype: str):
    """Any warper folder (ours, or one written by ``python -m vton convert``), in eval mode on ``device``."""
    load = require("vton.registry", "load_warper")
    return load(folder, device=device, dtype=torch_dtype(dtype))


@st.cache_resource(max_entries=3, show_spinner="Loading the try-on pipeline...")
def load_pipeline(choice: ModelChoice):
    """`vton.diffusion.pipeline.TryOnPipeline` for ``choice``: a pipeline folder with components replaced.

    Without a pipeline folder, a warper, a VAE and a UNet folder build one with the default DDIM scheduler.
    Components that do not fit together raise `InputError` (the pipeline checks them).
    """
    pipeline = require("vton.diffusion.pipeline", "TryOnPipeline", "load_pipeline", "default_scheduler")
    TryOnPipeline, load_folder, default_scheduler = pipeline
    load_vae = require("vton.diffusion.vae", "load_vae")
    load_denoiser = require("vton.registry", "load_denoiser")
    device, dtype = choice.device, torch_dtype(choice.dtype)
    if choice.pipeline:
        pipe = load_folder(choice.pipeline, device=device, dtype=dtype)
    elif choice.warper and choice.vae and choice.unet:
        pipe = None
    else:
        raise InputError("no diffusion weights: set a pipeline folder, or a warper, a VAE and a UNet folder, "
                         "in the sidebar")
    warper = load_warper(choice.warper, choice.device, choice.dtype) if choice.warper else pipe.warper
    vae = load_vae(choice.vae, device=device, dtype=dtype) if choice.vae else pipe.vae
    unet = load_denoiser(choice.unet, device=device, dtype=dtype) if choice.unet else pipe.unet
    if pipe is None or choice.warper or choice.vae or choice.unet:
        pipe = TryOnPipeline(warper=warper, vae=vae, unet=unet,
                             scheduler=pipe.scheduler if pipe is not None else default_scheduler())
    return pipe


@st.cache_data(show_spinner=False)
def _sampling_defaults(folder: str | None, mtime: float) -> SamplingDefaults:
    return sampling_defaults(folder)


def sampling_defaults_for(choice: ModelChoice) -> SamplingDefaults:
    """The DDIM steps, strength and eta the pipeline folder's model card recommends (50, 1.0, 0.0 when silent)."""
    folder = choice.pipeline
    card = Path(folder) / "MODEL_CARD.md" if folder else None
    mtime = card.stat().st_mtime if card is not None and card.is_file() else 0.0
    return _sampling_defaults(folder, mtime)


@st.cache_data(show_spinner=False)
def _folder_fingerprint(folder: str, mtimes: tuple[float, ...]) -> str:
    h = hashlib.sha256()
    for f in sorted(Path(folder).rglob("*.safetensors")):
        with open(f, "rb") as fh:
            h.update(fh.read(1 << 20))  # the header and first tensors are enough to tell versions apart
        h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:12]


def fingerprint(folder: str | None) -> str | None:
    """A short id of the weights in ``folder`` (for cache keys and the export manifest)."""
    if not folder or not Path(folder).is_dir():
        return None
    mtimes = tuple(f.stat().st_mtime for f in sorted(Path(folder).rglob("*.safetensors")))
    return _folder_fingerprint(folder, mtimes) if mtimes else None


def model_versions(choice: ModelChoice) -> dict[str, Any]:
    """Folders and weight fingerprints of every model in use (for the export manifest)."""
    parts = {"warper": choice.warper_folder}
    for name in ("vae", "unet"):
        parts[name] = getattr(choice, name) or (str(Path(choice.pipeline) / name) if choice.pipeline else None)
    out: dict[str, Any] = {name: {"folder": f, "weights": fingerprint(f)} for name, f in parts.items()}
    out["pipeline"] = choice.pipeline
    out["device"], out["dtype"] = choice.device, choice.dtype
    card = Path(choice.pipeline) / "MODEL_CARD.md" if choice.pipeline else None
    if card is not None and card.is_file():
        out["model_card"] = card.read_text(errors="ignore").strip().splitlines()[0][:200]
    return out


def describe_weights(choice: ModelChoice) -> str:
    """One sentence: which weights the lab uses right now."""
    if choice.pipeline is None and not choice.warper:
        return ("No weights are available: the embedded weights (assets/weights) are not trained yet and no folder "
                "is set. Preprocessing and the TPS baseline still work.")
    where = "the embedded weights in assets/weights" if choice.pipeline and Path(choice.pipeline) == DEFAULT_WEIGHTS \
        else f"the pipeline in {choice.pipeline}" if choice.pipeline else "no pipeline folder"
    replaced = [f"{n} from {getattr(choice, n)}" for n in ("warper", "vae", "unet") if getattr(choice, n)]
    return f"Using {where}" + (f", with {', '.join(replaced)}" if replaced else "") + \
        f" on {choice.device} ({choice.dtype})."


AUTO_RUN_LIMIT_S = 20.0
"""Above this estimated sampling time, the Diffusion page waits for the Run button instead of sampling on every
slider move (the seed's 738 M-parameter UNet on a CPU takes seconds per step)."""


@st.cache_resource(max_entries=8, show_spinner="Timing one denoising step of these models...")
def _time_costs(model_id: str, size: tuple[int, int], batch: int, _pipe) -> dict[str, float]:
    return _pipe.time_costs(size, batch)


def estimated_seconds(pipe, model_id: str, size, steps: int, strength: float, batch: int = 1) -> float:
    """Expected seconds of a sampling run with ``pipe`` (one step at this batch and one decode, timed once per
    model, size and batch)."""
    costs = _time_costs(model_id, tuple(int(v) for v in size), int(batch), pipe)
    return pipe.estimate_seconds(costs, steps, strength, batch)


def describe_models(pipe) -> str:
    """Which origin each model has, and which DensePose encoding the warper gets (for the pages' captions)."""
    describe = require("vton.registry", "describe_origin")
    scheduler = type(pipe.scheduler).__name__
    return (f"Warper: {type(pipe.warper).__name__} ({describe(pipe.warper)}). UNet: {type(pipe.unet).__name__} "
            f"({describe(pipe.unet)}). Sampler: {scheduler}.")
