"""The person and cloth the lab works on, from a bundled sample, an upload or a dataset folder.

Each input gets a *key*: a hash of what defines it (the decoded pixels, or the
dataset file and working size). Stage caches are keyed on these strings, never
on the arrays themselves (Streamlit would sample large arrays when hashing).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

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


def fit_to_size(image: np.ndarray, size: Size, fill: int = 255) -> np.ndarray:
    """Scale ``image`` to fit inside ``size`` (H, W) keeping its aspect, then pad (centred) with ``fill``."""
    import cv2

    h, w = size
    ih, iw = image.shape[:2]
    scale = min(h / ih, w / iw)
    nh, nw = max(1, round(ih * scale)), max(1, round(iw * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    small = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.full((h, w, 3), fill, np.uint8)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[top : top + nh, left : left + nw] = small
    return out


# ----------------------------------------------------------------------------- cached readers


@st.cache_data(max_entries=32, show_spinner=False)
def decode_image(key: str, _data: bytes, size: Size) -> np.ndarray:
    """Decode an uploaded / bundled image (`vton.io.load_image`) and fit it to ``size``; keyed by ``key``."""
    from vton.io import load_image

    return fit_to_size(load_image(_data), size)


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
        person_image = decode_image(pk, person, size)
    except InputError as e:
        raise InputError(f"person photo: {e}") from None
    try:
        cloth_image = decode_image(ck, cloth, size)
    except InputError as e:
        raise InputError(f"cloth photo: {e}") from None
    return LabInput(label, person_image, cloth_image, pk, ck)


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
