"""The person and cloth the lab works on, from a bundled sample, an upload or a dataset folder.

Each input gets a *key*: a hash of what defines it (the decoded pixels, or the
dataset file and working size). Stage caches are keyed on these strings, never
on the arrays themselves (Streamlit would sample large arrays when hashing).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from lab.library import require
from lab.settings import INPUT_FOLDER, INPUT_SAMPLE, INPUT_UPLOAD, PHOTO_SAMPLE, PHOTOS, SYNTHETIC_ROOT, InputChoice
from vton.errors import InputError
from vton.types import Pair, Size


def digest(*parts: bytes | str | np.ndarray | None) -> str:
    """A short hex digest of bytes, strings and arrays (shape and dtype included)."""
    h = hashlib.sha256()
    for p in parts:
        if p is None:
            h.update(b"\x00none")
        elif isinstance(p, np.ndarray):
            h.update(f"{p.dtype}{p.shape}".encode())
            h.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, str):
            h.update(p.encode())
        else:
            h.update(bytes(p))
        h.update(b"\x1f")
    return h.hexdigest()[:20]


@dataclass(frozen=True)
class LabInput:
    """A person photo and a cloth photo at the working size, with the dataset pair when there is one."""

    label: str  # what the user picked, for captions and the export manifest
    person_image: np.ndarray  # uint8 (H, W, 3)
    cloth_image: np.ndarray  # uint8 (H, W, 3)
    person_key: str  # hash of the person pixels (+ dataset maps)
    cloth_key: str
    pair: Pair | None = None  # dataset pair: maps from the dataset and ground truth
    padding: Any = None  # vton.diffusion.pipeline.Padding: where the person photo sits in the working size

    def to_photo(self, image: np.ndarray) -> np.ndarray:
        """A working-size result back in the person photo's geometry (its aspect and size), the padding cut off."""
        return image if self.padding is None else self.padding.to_photo(image)

    @property
    def key(self) -> str:
        return digest(self.person_key, self.cloth_key)

    @property
    def size(self) -> Size:
        return self.person_image.shape[:2]

    @property
    def truth_image(self) -> np.ndarray | None:
        """The ground-truth try-on: in a paired dataset example the person wears the cloth."""
        return self.pair.person.image if self.pair is not None else None


def fit_photo(image: np.ndarray, size: Size, fill: str | None = None):
    """``image`` at the working ``size`` (H, W), as the pipeline fits a photo (`vton.diffusion.pipeline.Padding`):
    padded to the working aspect (``fill``: `vton.diffusion.pipeline.PAD_FILLS`; None: the person photos' fill,
    `PAD_FILL`), then scaled. Returns the image and its `Padding`, with which a result goes back to the
    photo's aspect."""
    import cv2

    Padding, pad_image = require("vton.diffusion.pipeline", "Padding", "pad_image")
    padding = Padding.fit(image.shape[:2], size)
    padded = pad_image(image, padding.pad, fill)
    interp = cv2.INTER_AREA if padded.shape[0] > size[0] else cv2.INTER_CUBIC
    return cv2.resize(padded, (size[1], size[0]), interpolation=interp), padding


# ----------------------------------------------------------------------------- cached readers


@st.cache_data(max_entries=32, show_spinner=False)
def decode_image(key: str, _data: bytes, size: Size, fill: str | None = None):
    """Decode an uploaded / bundled image (`vton.io.load_image`) and fit it to ``size`` (`fit_photo`: the image
    and its padding); keyed by ``key``."""
    from vton.io import load_image

    return fit_photo(load_image(_data), size, fill)


def _dataset(root: str, split: str, size: Size | None = None):
    VitonHD = require("vton.data", "VitonHD")
    if not Path(root).is_dir():
        raise InputError(f"dataset folder not found: {root}")
    return VitonHD(root, split=split, size=size) if size else VitonHD(root, split=split)


@st.cache_data(max_entries=8, show_spinner=False)
def dataset_names(root: str, split: str) -> list[str]:
    """Person file names of a VITON-HD layout split, in pair order."""
    ds = _dataset(root, split)
    pairs = getattr(ds, "pairs", None)
    if pairs is not None:
        return [p[0] if isinstance(p, (tuple, list)) else str(p) for p in pairs]
    return [ds[i].name for i in range(len(ds))]


@st.cache_data(max_entries=32, show_spinner=False)
def dataset_pair(root: str, split: str, index: int, size: Size) -> Pair:
    """One pair of a VITON-HD layout folder at ``size``, with its maps and ground truth."""
    ds = _dataset(root, split, size)
    if not 0 <= index < len(ds):
        raise InputError(f"pair index {index} is out of range: {root}/{split} has {len(ds)} pairs")
    return ds[index]


def _from_pair(label: str, pair: Pair, source: str) -> LabInput:
    p = pair.person
    person_key = digest(source, p.image, p.parse, p.densepose, p.keypoints)
    return LabInput(label, p.image, pair.cloth.image, person_key, digest(source, pair.cloth.image, pair.cloth.mask),
                    pair)


def _from_bytes(label: str, person: bytes, cloth: bytes, size: Size) -> LabInput:
    pk, ck = digest(person, str(size)), digest(cloth, str(size))
    try:
        person_image, padding = decode_image(pk, person, size)
    except InputError as e:
        raise InputError(f"person photo: {e}") from None
    try:
        cloth_image, _ = decode_image(ck, cloth, size, require("vton.diffusion.pipeline", "CLOTH_PAD_FILL"))
    except InputError as e:
        raise InputError(f"cloth photo: {e}") from None
    return LabInput(label, person_image, cloth_image, pk, ck, padding=padding)


def load_input(choice: InputChoice, size: Size) -> LabInput:
    """The `LabInput` for the sidebar's choice at the working ``size``.

    Raises:
        InputError: a bad upload or dataset folder (shown with ``st.error``).
        StageUnavailable: the dataset reader is missing.
    """
    if choice.kind == INPUT_SAMPLE:
        if choice.sample in (None, PHOTO_SAMPLE):
            paths = [PHOTOS / "astronaut.png", PHOTOS / "cloth_tee.png"]
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                raise InputError(f"the bundled sample photos are missing ({', '.join(missing)})")
            person, cloth = (p.read_bytes() for p in paths)
            return _from_bytes(PHOTO_SAMPLE, person, cloth, size)
        name = choice.sample.removeprefix("synthetic: ")
        names = dataset_names(str(SYNTHETIC_ROOT), "test")
        if name not in names:
            raise InputError(f"sample {name!r} is not in {SYNTHETIC_ROOT}")
        return _from_pair(choice.sample, dataset_pair(str(SYNTHETIC_ROOT), "test", names.index(name), size), "sample")
    if choice.kind == INPUT_UPLOAD:
        person, cloth = st.session_state.get("upload_person"), st.session_state.get("upload_cloth")
        if person is None or cloth is None:
            raise InputError("upload a person photo and a cloth photo in the sidebar")
        return _from_bytes(f"upload: {person.name} + {cloth.name}", person.getvalue(), cloth.getvalue(), size)
    if choice.kind == INPUT_FOLDER:
        if not choice.folder:
            raise InputError("type the path of a VITON-HD layout folder in the sidebar")
        pair = dataset_pair(choice.folder, choice.split, choice.index, size)
        return _from_pair(f"{choice.folder} [{choice.split} #{choice.index}: {pair.name}]", pair, choice.folder)
    raise ValueError(f"unknown input kind {choice.kind!r}")
