"""Checks of arguments, in one place: the command line's (issue 17) and the library entry points'.

Every command refuses a bad argument with one line ``error: ...`` and exit code 2, before it loads
data or builds a model; every library entry point the lab calls raises one `InputError` naming the
argument, the value and what would be accepted. The checks live here, used by all of them rather than
copied:

``type=`` functions for `argparse`
    They see one value: `positive_int`, `non_negative_int`, `at_least`, `positive_float`,
    `non_negative_float`, `learning_rate`, `unit_interval`, `strength`, `decay`, `size`,
    `size_at_least`, `json_object`, `split_name`, `existing_folder`, `existing_file`,
    `image_file`, `weights_file`, `output_folder`, `new_folder`, `output_file`. A bad value
    raises `argparse.ArgumentTypeError`; its message is written to follow the option's name
    (``--lr must be ...``), which is how `vton.cli` prints it.
early checks of a command
    They need several arguments or a model folder's config: `check_size`, `check_runs` (with
    `vae_runs`, `denoiser_runs`, `warper_runs`, `pipeline_runs`), `check_dataset`, `model_on_meta`,
    `new_model_on_meta`, `pipeline_on_meta`, `check_unet_fits_vae`, `sampling`, `distinct`. They read
    configs and file listings only; a model is built on PyTorch's ``meta`` device (no memory, no
    weights) to learn what sizes it accepts, whether its config builds at all, and whether it runs
    at the requested size (its shapes, computed without any arithmetic). They raise `BadArgument`;
    `early` turns a library `InputError` raised while checking into one.
arguments of the library's entry points
    `path_argument`, `size_argument`, `device_argument`, `dtype_argument`, `bool_argument`,
    `instance_argument`, `image_argument`, `person_argument`, `cloth_argument`: each returns the
    value (normalised) or raises `InputError` ("size must be (H, W), two positive whole numbers, got ...").

Every process of a ``torchrun`` launch gets the same arguments, so only rank 0 reports a
`BadArgument` (`vton.cli`); an error that only one rank can meet (a corrupt file in its share of
the data) stays an `InputError`, which every rank reports.

This module imports only the standard library at first; numpy, torch and the models are imported by
the checks that need them, so ``python -m vton --help`` stays quick.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from vton.errors import InputError

MAX_SIDE = 8192  # the largest H or W a size option accepts (VITON-HD is 1024x768)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")  # what `vton.io.atomic_save_image` writes


class BadArgument(InputError):
    """A bad command-line argument (or combination). Every process of a launch sees the same one, so only rank 0
    of a ``torchrun`` run reports it."""


Bad = argparse.ArgumentTypeError


@contextmanager
def early(prefix: str | None = None) -> Iterator[None]:
    """Run checks of the arguments: an `InputError` raised inside (by the library) becomes a `BadArgument`,
    its message prefixed with ``prefix`` (e.g. the option) when given."""
    try:
        yield
    except BadArgument:
        raise
    except InputError as e:
        raise BadArgument(f"{prefix} {e}" if prefix else str(e)) from None


def _named(fn: Callable, name: str) -> Callable:
    fn.__name__ = fn.__qualname__ = name
    return fn


# ----------------------------------------------------------------------------- numbers


def _int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise Bad(f"must be a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise Bad(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise Bad(f"must be a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """1, 2, 3, ... (steps, batch sizes, counts, intervals)."""
    value = _int(text)
    if value < 1:
        raise Bad(f"must be positive, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """0, 1, 2, ... (seeds, worker processes)."""
    value = _int(text)
    if value < 0:
        raise Bad(f"must be 0 or more, got {value}")
    return value


def at_least(minimum: int) -> Callable[[str], int]:
    """A whole number ``>= minimum``."""
    def check(text: str) -> int:
        value = _int(text)
        if value < minimum:
            raise Bad(f"must be at least {minimum}, got {value}")
        return value

    return _named(check, f"int_at_least_{minimum}")


def positive_float(text: str) -> float:
    """A finite number > 0 (timeouts, in seconds)."""
    value = _float(text)
    if value <= 0:
        raise Bad(f"must be positive, got {value:g}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (loss weights: 0 turns a term off)."""
    value = _float(text)
    if value < 0:
        raise Bad(f"must be 0 or more, got {value:g}")
    return value


def learning_rate(text: str) -> float:
    """A learning rate in (0, 1]."""
    value = _float(text)
    if not 0 < value <= 1:
        raise Bad(f"must be a learning rate in (0, 1], e.g. 1e-3; got {value:g}")
    return value


def unit_interval(text: str) -> float:
    """A number in [0, 1] (DDIM's eta: 0 deterministic, 1 DDPM-like)."""
    value = _float(text)
    if not 0 <= value <= 1:
        raise Bad(f"must be in [0, 1], got {value:g}")
    return value


def strength(text: str) -> float:
    """A number in (0, 1] (how far from the composite sampling starts)."""
    value = _float(text)
    if not 0 < value <= 1:
        raise Bad(f"must be in (0, 1], got {value:g}")
    return value


def decay(text: str) -> float:
    """A number in [0, 1) (an EMA decay: 0 = off)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise Bad(f"must be in [0, 1) (0 = off, e.g. 0.999), got {value:g}")
    return value


# ----------------------------------------------------------------------------- sizes, JSON, names


def size(text: str) -> tuple[int, int]:
    """``"256x192"`` (H x W) -> ``(256, 192)``: positive, at most `MAX_SIDE` per side. What a model needs on top
    (divisibility) depends on the model: `check_size`."""
    from vton.types import parse_size

    try:
        h, w = parse_size(text)
    except ValueError as e:
        raise Bad(str(e)) from None
    if max(h, w) > MAX_SIDE:
        raise Bad(f"size must be at most {MAX_SIDE} per side, got {text!r}")
    return h, w


def size_at_least(minimum: tuple[int, int]) -> Callable[[str], tuple[int, int]]:
    """A `size` of at least ``minimum`` (H, W)."""
    def check(text: str) -> tuple[int, int]:
        h, w = size(text)
        if h < minimum[0] or w < minimum[1]:
            raise Bad(f"size must be at least {minimum[0]}x{minimum[1]} (H x W), got {text}")
        return h, w

    return _named(check, "size")


def json_object(text: str) -> dict:
    """A JSON object (``--model`` overrides); which keys it may name is the model's business (`new_model_on_meta`)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise Bad(f"is not JSON ({e.msg} at column {e.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise Bad(f"must be a JSON object, e.g. '{{\"block_channels\": [32, 64, 128]}}', got {text!r}")
    return value


def split_name(text: str) -> str:
    """A split: one folder name inside the dataset (``train``, ``test``)."""
    if not text or text.strip() != text or "/" in text or "\\" in text or text in (".", ".."):
        raise Bad(f"must name a split folder inside the dataset (e.g. test), got {text!r}")
    return text


# ----------------------------------------------------------------------------- paths


def _path(text: str) -> Path:
    if not text or not text.strip():
        raise Bad(f"must name a path, got {text!r}")
    return Path(text)


def existing_folder(noun: str) -> Callable[[str], Path]:
    """A folder that exists, can be read and is not empty; messages say ``<noun> folder not found: ...``."""
    def check(text: str) -> Path:
        path = _path(text)
        if not path.exists():
            raise Bad(f"{noun} folder not found: {path}")
        if not path.is_dir():
            raise Bad(f"{noun} {path} is a file, not a folder")
        try:
            empty = not any(path.iterdir())
        except OSError as e:
            raise Bad(f"cannot read the {noun} folder {path}: {e.strerror or e}") from None
        if empty:
            raise Bad(f"{noun} folder {path} is empty")
        return path

    return _named(check, "folder")


def _readable_file(path: Path, noun: str) -> Path:
    if not path.exists():
        raise Bad(f"{noun} file not found: {path}")
    if path.is_dir():
        raise Bad(f"{noun} {path} is a folder, not a file")
    try:
        with open(path, "rb") as f:
            first = f.read(1)
    except OSError as e:
        raise Bad(f"cannot read the {noun} file {path}: {e.strerror or e}") from None
    if not first:
        raise Bad(f"{noun} file {path} is empty (0 bytes)")
    return path


def existing_file(noun: str) -> Callable[[str], Path]:
    """A file that exists, can be read and is not empty."""
    return _named(lambda text: _readable_file(_path(text), noun), "file")


def image_file(noun: str) -> Callable[[str], Path]:
    """An image file that decodes completely (truncated, corrupt or non-image files are refused; `vton.io.load_image`)."""
    def check(text: str) -> Path:
        path = _readable_file(_path(text), noun)
        from vton.io import load_image

        try:
            load_image(path, min_side=1)
        except InputError as e:
            raise Bad(f"{noun} {e}") from None
        return path

    return _named(check, "image")


def weights_intact(path: Path) -> None:
    """Raise `InputError` unless ``path`` looks like a whole weights file: a safetensors file whose header and
    tensors are all there, a PyTorch zip archive whose index (at its end) can be read, or a legacy pickle-format
    PyTorch file (whose end cannot be checked without reading it all). Reads a header or an index, never the tensors."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
        if head[:2] == b"PK":  # torch.save's zip archive
            try:
                zipfile.ZipFile(path).close()
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
                raise InputError(f"{path} is truncated or damaged ({e})") from None
            return
        if head[:1] == b"\x80":  # a legacy (pickle protocol 2+) torch.save file
            return
        n = int.from_bytes(head[:8], "little") if len(head) == 9 else 0
        if head[8:9] == b"{" and n > size - 8:
            raise InputError(f"{path} is truncated: its safetensors header alone is {n} bytes, the file has {size}")
        if head[8:9] == b"{":
            f.seek(8)
            try:
                header = json.loads(f.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError):
                header = None
            if isinstance(header, dict):
                end = max((int(v["data_offsets"][1]) for k, v in header.items()
                           if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v), default=0)
                if 8 + n + end > size:
                    raise InputError(f"{path} is truncated: its header describes {8 + n + end} bytes, the file has {size}")
                return
    raise InputError(f"{path} is not a PyTorch (.pth) or safetensors weights file")


def weights_file(noun: str) -> Callable[[str], Path]:
    """A weights file (``.pth`` / ``.safetensors``) that is whole (`weights_intact`)."""
    def check(text: str) -> Path:
        path = _readable_file(_path(text), noun)
        try:
            weights_intact(path)
        except InputError as e:
            raise Bad(f"{noun} {e}") from None
        return path

    return _named(check, "weights")


def _creatable(path: Path) -> None:
    """The nearest existing ancestor of ``path`` is a folder this process can write in."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise Bad(f"cannot create {path}: {parent} is a file")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise Bad(f"cannot create {path}: {parent} is not writable")
            return


def output_folder(text: str) -> Path:
    """A folder to write into: it exists as a writable folder, or can be created (nothing is created here)."""
    path = _path(text)
    if path.exists():
        if not path.is_dir():
            raise Bad(f"{path} exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise Bad(f"{path} is not writable")
        return path
    _creatable(path)
    return path


def new_folder(text: str) -> Path:
    """An `output_folder` that does not exist yet or is empty (converters write a whole model folder)."""
    path = output_folder(text)
    if path.is_dir() and any(path.iterdir()):
        raise Bad(f"{path} exists and is not an empty folder; choose a new folder")
    return path


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """A file to write: not a folder, in a folder that exists or can be created, ending in one of ``suffixes``
    (any when none)."""
    def check(text: str) -> Path:
        path = _path(text)
        if path.is_dir():
            raise Bad(f"{path} is a folder; give a file name")
        if suffixes and path.suffix.lower() not in suffixes:
            raise Bad(f"must name a {' / '.join(suffixes)} file, got {path.name!r}")
        if path.exists() and not os.access(path, os.W_OK):
            raise Bad(f"{path} is not writable")
        _creatable(path)
        return path

    return _named(check, "file")


# ----------------------------------------------------------------------------- early checks (several arguments, configs)


def check_size(flag: str, value: tuple[int, int], multiple: int, models: str) -> None:
    """``value`` (H, W) divisible by ``multiple``; the message names the value, what the models need and one
    accepted size."""
    h, w = int(value[0]), int(value[1])
    if h % multiple or w % multiple:
        near = f"{max(multiple, h // multiple * multiple)}x{max(multiple, w // multiple * multiple)}"
        raise BadArgument(f"{flag} {h}x{w} must be divisible by {multiple} for {models}; e.g. {near}")


def check_runs(flag: str, value: tuple[int, int], models: str, run: Callable[[tuple[int, int]], None],
               multiple: int = 1) -> None:
    """``run(size)`` puts the models through their shapes at ``size`` (on the meta device: no memory, no compute);
    if it fails (the size is divisible but too small for a model, e.g. a normalisation over one value at its
    coarsest level), raise `BadArgument` with the model's reason and the nearest larger size that runs."""
    h, w = int(value[0]), int(value[1])
    try:
        run((h, w))
        return
    except Exception as e:
        reason = _first_line(e)
    larger = sorted(((h + i * multiple, w + j * multiple) for i in range(4) for j in range(4) if i or j),
                    key=lambda s: (s[0] * s[1], -s[0]))  # the smallest; taller first (photos are portrait)
    works = None
    for candidate in larger:
        try:
            run(candidate)
            works = candidate
            break
        except Exception:
            continue
    hint = f"; e.g. {works[0]}x{works[1]} runs" if works else ""
    raise BadArgument(f"{flag} {h}x{w}: {models} cannot run at this size ({reason}){hint}")


def _zeros(*shape: int):
    import torch

    return torch.zeros(*shape, device="meta")


def vae_runs(vae) -> Callable[[tuple[int, int]], None]:
    """Encode and decode an image of the size; the reconstruction must come back at that size."""
    def run(size: tuple[int, int]) -> None:
        z = vae.encode(_zeros(1, 3, *size)).latent_dist.mean
        back = tuple(vae.decode(z).sample.shape[-2:])
        if back != tuple(size):
            raise InputError(f"it decodes {size[0]}x{size[1]} images back at {back[0]}x{back[1]}")

    return run


def denoiser_runs(unet, factor: int = 8) -> Callable[[tuple[int, int]], None]:
    """One denoising step on latents of the image size / ``factor`` (or of the denoiser's fixed canvas)."""
    import torch

    def run(size: tuple[int, int]) -> None:
        canvas = getattr(unet, "canvas_size", None) or size
        h, w = int(canvas[0]) // factor, int(canvas[1]) // factor
        latent = int(unet.config.out_channels)
        cloth = _zeros(1, latent, h, w) if getattr(unet, "uses_cloth_latents", False) else None
        unet(_zeros(1, int(unet.config.in_channels), h, w), torch.zeros(1, dtype=torch.long, device="meta"), cloth)

    return run


def warper_runs(warper) -> Callable[[tuple[int, int]], None]:
    """Our `FlowWarpNet` on inputs of the size (ports of other projects resize to their own size: nothing to run)."""
    def run(size: tuple[int, int]) -> None:
        if type(warper).__name__ == "FlowWarpNet":
            c = warper.config
            warper(_zeros(1, 3, *size), _zeros(1, c.cloth_channels - 3, *size), _zeros(1, 3, *size),
                   _zeros(1, c.body_channels - 3, *size))

    return run


def pipeline_runs(pipe) -> Callable[[tuple[int, int]], None]:
    """The warper, the VAE and the denoiser of a (meta) `TryOnPipeline` at the working size."""
    runs = [warper_runs(pipe.warper), vae_runs(pipe.vae) if pipe.canvas_size is None else (lambda size: None),
            denoiser_runs(pipe.unet)]

    def run(size: tuple[int, int]) -> None:
        for r in runs:
            r(size)

    return run


def check_dataset(flag: str, root: Path, split: str, size: tuple[int, int] | None = None, *, paired: bool = True):
    """The dataset's split lists its pairs and every file they need (`vton.data.VitonHD`: file names only, no image
    is read); returns the reader."""
    from vton.data.vitonhd import VitonHD
    from vton.types import DEFAULT_SIZE

    with early(f"{flag}:"):
        return VitonHD(root, split, size=size or DEFAULT_SIZE, paired=paired)


def _init_parameters(cls) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _build_on_meta(cls, config: dict, what: str):
    import torch

    try:
        with torch.device("meta"):
            return cls(**config) if not hasattr(cls, "from_config") else cls.from_config(config)
    except InputError as e:
        raise BadArgument(f"{what}: {e}") from None
    except Exception as e:  # a config the class cannot build: its own error, in one line
        raise BadArgument(f"{what} does not build a model of class {cls.__name__}: {_first_line(e)}") from None


def new_model_on_meta(flag: str, cls, overrides: dict, base: dict | None = None):
    """The model ``cls(**(base | overrides))`` built on the meta device, after checking that ``overrides`` (a
    ``--model`` JSON) names only ``cls``'s parameters."""
    known = _init_parameters(cls)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise BadArgument(f"{flag} names {', '.join(map(repr, unknown))}, not {'a parameter' if len(unknown) == 1 else 'parameters'} "
                          f"of {cls.__name__}; it takes: {', '.join(sorted(known))}")
    return _build_on_meta(cls, (base or {}) | overrides, f"{flag} {json.dumps(overrides)}")


def _folder_config(folder: Path, name: str = "config.json") -> dict:
    path = folder / name
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not a readable JSON config ({e})") from None
    if not isinstance(config, dict):
        raise InputError(f"{path} is not a JSON object")
    return config


def _weights_whole(folder: Path, what: str, suffixes: tuple[str, ...] = (".safetensors",)) -> None:
    files = sorted(p for p in folder.iterdir() if p.suffix in suffixes and p.is_file())
    if not files:
        raise InputError(f"{what} folder {folder} has a config but no {' or '.join(suffixes)} weights")
    for path in files:
        weights_intact(path)


def model_on_meta(flag: str, folder: Path, kind: str):
    """The model in ``folder`` (``kind``: "warper", "unet" or "vae"), built from its config on the meta device: the
    folder has a config naming a class of that kind and whole safetensors weights. Nothing is loaded."""
    from vton import registry

    folder = Path(folder)
    with early(f"{flag}:"):
        if kind == "vae":
            from diffusers import AutoencoderKL

            from vton.diffusion.vae import check_vae_config

            if not folder.is_dir():
                raise InputError(f"VAE folder not found: {folder}")
            if not (folder / "config.json").is_file() and (folder / "vae" / "config.json").is_file():
                folder = folder / "vae"  # a whole pipeline folder was given
            if not (folder / "config.json").is_file():
                raise InputError(f"{folder} is not a diffusers model folder (no config.json)")
            config = _folder_config(folder)
            check_vae_config(config, where=f"the model in {folder}")
            cls = AutoencoderKL
        else:
            cls = registry.warper_class(folder) if kind == "warper" else registry.denoiser_class(folder)
            config = _folder_config(folder)
        # diffusers reads a VAE's .bin too (SD-1.5's vae/ often comes so); our loaders want safetensors
        _weights_whole(folder, {"warper": "warper", "unet": "UNet", "vae": "VAE"}[kind],
                       (".safetensors", ".bin") if kind == "vae" else (".safetensors",))
    return _build_on_meta(cls, {k: v for k, v in config.items() if not k.startswith("_")} if cls.__name__ == "AutoencoderKL"
                          else config, f"{flag} {folder}")


def pipeline_on_meta(flag: str, folder: Path | None, *, warper: Path | None = None, vae: Path | None = None,
                     unet: Path | None = None):
    """The `TryOnPipeline` that ``folder`` (with components replaced by other folders, as
    `vton.registry.assemble_pipeline` does) would load, built on the meta device, so its ``size_multiple`` is known
    and its components were checked to fit (`TryOnPipeline.check_components`)."""
    from vton import registry
    from vton.diffusion.pipeline import TryOnPipeline, default_scheduler

    if folder is not None:
        with early(f"{flag}:"):
            folder = Path(folder)
            if not folder.is_dir():
                raise InputError(f"weights folder not found: {folder} (a TryOnPipeline folder)")
            if not (folder / "model_index.json").is_file():
                raise InputError(f"{folder} is not a try-on pipeline folder (no model_index.json)")
            _folder_config(folder, "model_index.json")
            missing = [c for c in ("warper", "vae", "unet", "scheduler") if not (folder / c).is_dir()]
            if missing:
                raise InputError(f"pipeline folder {folder} lacks {', '.join(missing)}")
    elif not (warper and vae and unet):
        raise BadArgument("give a pipeline folder, or a warper, a VAE and a UNet folder")
    parts = {}
    for name, replacement, kind in (("warper", warper, "warper"), ("vae", vae, "vae"), ("unet", unet, "unet")):
        source = replacement if replacement is not None else folder / name
        parts[name] = model_on_meta(f"--{name}" if replacement is not None else flag, source, kind)
    replaced = [f"--{n} {p}" for n, p in (("warper", warper), ("vae", vae), ("unet", unet)) if p is not None]
    what = f"{flag} {folder}" + (f" with {', '.join(replaced)}" if replaced else "") if folder is not None else ", ".join(replaced)
    with early(f"{what}:"):
        scheduler = registry.load_scheduler(folder / "scheduler") if folder is not None else default_scheduler()
        return TryOnPipeline(scheduler=scheduler, **parts)


def check_unet_fits_vae(flag: str, unet, vae) -> None:
    """The denoiser takes ``2 * latent + 1`` channels and predicts ``latent`` ones (x_t, composite latent, mask)."""
    latent = int(vae.config.latent_channels)
    if int(unet.config.in_channels) != 2 * latent + 1 or int(unet.config.out_channels) != latent:
        raise BadArgument(f"{flag}: the UNet takes {unet.config.in_channels} channels and predicts "
                          f"{unet.config.out_channels}; with a {latent}-channel VAE it must take {2 * latent + 1} "
                          f"(x_t, composite latent, mask) and predict {latent}")


def sampling(steps: int, strength: float, eta: float, train_steps: int) -> None:
    """The sampler settings fit the scheduler (`vton.diffusion.pipeline.check_steps`), as a `BadArgument`."""
    from vton.diffusion.pipeline import check_steps

    with early():
        check_steps(steps, strength, eta, train_steps)


def distinct(flag: str, values: list[Any]) -> None:
    """No value given twice (seeds: each names its own output)."""
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise BadArgument(f"{flag} lists {seen[0]} twice; give each value once")


# ----------------------------------------------------------------------------- arguments of the library's entry points


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def path_argument(name: str, value: Any) -> Path:
    """A path (``str`` or ``os.PathLike``, not empty) -> `Path`."""
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise InputError(f"{name} must be a path to a folder (str or os.PathLike), got {_shown(value)}")
    return Path(value)


def size_argument(name: str, value: Any, *, maximum: int = MAX_SIDE) -> tuple[int, int]:
    """``(H, W)``: two positive whole numbers (ints, numpy ints, or floats with no fraction), at most ``maximum``."""
    import numbers

    try:
        items = list(value) if not isinstance(value, (str, bytes)) else None
    except TypeError:
        items = None
    ok = items is not None and len(items) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v).is_integer() and 0 < v <= maximum
        for v in items)
    if not ok:
        raise InputError(f"{name} must be (H, W), two whole numbers from 1 to {maximum}, e.g. (256, 192); "
                         f"got {_shown(value)}")
    return int(items[0]), int(items[1])


def device_argument(name: str, value: Any):
    """A `torch.device` (or its name: ``"cpu"``, ``"cuda"``, ``"cuda:1"``) that exists on this machine."""
    import torch

    try:
        device = value if isinstance(value, torch.device) else torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"{name} must be a torch device such as 'cpu' or 'cuda:0', got {_shown(value)}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"{name} {str(device)!r}: CUDA is not available here; use 'cpu'")
        if device.index is not None and device.index >= count:
            raise InputError(f"{name} {str(device)!r}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    elif device.type not in ("cpu", "mps", "meta"):
        raise InputError(f"{name} must be 'cpu' or a CUDA device, got {str(device)!r}")
    return device


def dtype_argument(name: str, value: Any):
    """A floating-point `torch.dtype` (float32, float16, bfloat16, float64)."""
    import torch

    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise InputError(f"{name} must be a floating torch dtype (torch.float32, torch.float16, torch.bfloat16), "
                         f"got {_shown(value)}")
    return value


def bool_argument(name: str, value: Any) -> bool:
    """``True`` or ``False`` (numpy bools too), nothing truthy."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {_shown(value)}")
    return bool(value)


def positive_int_argument(name: str, value: Any) -> int:
    """A whole number 1, 2, 3, ... (numpy integers too; no bools, no floats)."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a whole number of at least 1, got {_shown(value)}")
    return int(value)


def instance_argument(name: str, value: Any, cls: type, hint: str = "") -> Any:
    """``value`` is a ``cls``."""
    if not isinstance(value, cls):
        raise InputError(f"{name} must be a {cls.__name__}{hint}, got {_shown(value)}")
    return value


def image_argument(name: str, value: Any):
    """A boundary image ``uint8 (H, W, 3)`` RGB (`vton.types.check_image`), at least 1x1."""
    from vton.types import check_image

    try:
        check_image(value, name)
    except ValueError as e:
        raise InputError(str(e)) from None
    if min(value.shape[:2]) < 1:
        raise InputError(f"{name} is empty: {value.shape[1]}x{value.shape[0]} px")
    return value


def _maps(name: str, value: Any, size: tuple[int, int], images: tuple[str, ...], masks: tuple[str, ...],
          labels: tuple[str, ...]) -> None:
    import numpy as np

    from vton.types import check_mask

    for field in images:
        array = getattr(value, field)
        image_argument(f"{name}.{field}", array)
        if array.shape[:2] != tuple(size):
            raise InputError(f"{name}.{field} is {array.shape[1]}x{array.shape[0]} (W x H); it must match "
                             f"{name}.image, {size[1]}x{size[0]}")
    for field in masks:
        try:
            check_mask(getattr(value, field), f"{name}.{field}", size)
        except ValueError as e:
            raise InputError(str(e)) from None
    for field in labels:
        array = getattr(value, field)
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.shape != tuple(size):
            got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else _shown(array)
            raise InputError(f"{name}.{field} must be uint8 {tuple(size)} CIHP labels like {name}.image, got {got}")


def person_argument(name: str, value: Any):
    """A `vton.types.Person` whose maps share its photo's size, with BODY_25 keypoints ``(25, 3)``."""
    import numpy as np

    from vton.types import NUM_KEYPOINTS, Person

    instance_argument(name, value, Person, " (from vton.preprocess.preprocess_person or a dataset reader)")
    image_argument(f"{name}.image", value.image)
    size = value.image.shape[:2]
    _maps(name, value, size, ("agnostic", "densepose"), ("person_mask", "agnostic_mask"), ("parse", "parse_agnostic"))
    kp = np.asarray(value.keypoints)
    if kp.shape != (NUM_KEYPOINTS, 3) or not np.isfinite(kp.astype(np.float64)).all():
        raise InputError(f"{name}.keypoints must be finite BODY_25 keypoints ({NUM_KEYPOINTS}, 3), got shape {kp.shape}")
    return value


def cloth_argument(name: str, value: Any):
    """A `vton.types.Cloth` whose mask matches its photo."""
    from vton.types import Cloth

    instance_argument(name, value, Cloth, " (from vton.preprocess.preprocess_cloth or a dataset reader)")
    image_argument(f"{name}.image", value.image)
    _maps(name, value, value.image.shape[:2], (), ("mask",), ())
    return value
