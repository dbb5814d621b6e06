"""A results folder (what ``python -m vton generate`` writes) in the lab: its pairs, one pair's images, its numbers.

The Compare page opens a folder with `open_results`, lists the pairs whose result is finished and
shows one with `pair_view`: the result beside its person and cloth photos, the ground truth
(paired: the person photo) and that pair's SSIM / PSNR (`vton.metrics`, the numbers
``python -m vton score`` averages). Both are cached on the folder's modification time, so a
folder that ``generate`` is still filling is re-listed when it changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from vton.errors import InputError
from vton.types import Size


@dataclass(frozen=True)
class ResultsView:
    """A results folder read against its dataset."""

    folder: str
    data: str
    data_from: str  # where the dataset folder came from, for the caption
    pairs: str  # "paired" / "unpaired"
    split: str
    names: list[str]  # finished results, in pairs-list order
    persons: list[str]
    cloths: list[str]
    indices: list[int]  # their positions in the dataset's pairs list
    total: int  # pairs in the list
    size: Size | None  # the results' (H, W), from the first one
    params: dict | None
    run: dict | None


def _stamp(folder: str) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return 0


@st.cache_data(max_entries=8, show_spinner="Reading the results folder ...")
def _open(folder: str, data: str | None, sidebar_data: str | None, stamp: int) -> ResultsView:
    from vton.data import VitonHD
    from vton.diffusion.generate import make_jobs
    from vton.diffusion.score import ResultsFolder, image_size, resolve_mode

    results = ResultsFolder.open(folder)
    if data:
        chosen, data_from = data, "this page's field"
    elif sidebar_data:
        chosen, data_from = sidebar_data, "the sidebar's dataset folder"
    elif results.data:
        chosen, data_from = results.data, "the results' params.json"
    else:
        raise InputError(f"{folder} has no params.json naming its dataset: type the dataset folder above")
    if not Path(chosen).is_dir():
        raise InputError(f"dataset folder not found: {chosen} (from {data_from})")
    pairs, split = resolve_mode(results, None, None) if results.pairs else ("paired", "test")
    reader = VitonHD(chosen, split, paired=pairs == "paired")
    done = [j for j in make_jobs(reader.pairs, 0) if results.is_done(j)]
    size = image_size(results.folder / done[0].name) if done else None
    return ResultsView(folder, chosen, data_from, pairs, split, [j.name for j in done], [j.person for j in done],
                       [j.cloth for j in done], [j.index for j in done], len(reader.pairs), size, results.params,
                       results.run)


def open_results(folder: str, data: str | None = None, sidebar_data: str | None = None) -> ResultsView:
    """Read ``folder`` against ``data`` (else the sidebar's dataset folder, else its params.json's).

    A folder without params.json (results of another tool, named ``person_cloth.png``) is read as paired.

    Raises:
        InputError: a missing folder, no dataset folder, a split or pairs file the dataset lacks.
    """
    if not folder:
        raise InputError("type the path of a results folder (what `python -m vton generate --out` wrote)")
    return _open(folder, data or None, sidebar_data or None, _stamp(folder))


@st.cache_data(max_entries=16, show_spinner=False)
def _pair(_view: ResultsView, folder: str, data: str, name: str, k: int, stamp: int) -> dict:
    view = _view  # not hashed: the key is the folder, the dataset, the result's name and its modification time
    from vton import metrics
    from vton.data import VitonHD
    from vton.data.vitonhd import resize_image
    from vton.io import load_image

    result = load_image(Path(view.folder) / view.names[k], min_side=1)
    size = result.shape[:2]
    reader = VitonHD(view.data, view.split, size=size, paired=view.pairs == "paired")
    person = reader.person_image(view.indices[k])
    cloth = resize_image(load_image(reader.files["cloth"][Path(view.cloths[k]).stem], min_side=1), size)
    out = {"result": result, "person": person, "cloth": cloth, "truth": None, "ssim": None, "psnr": None}
    if view.pairs == "paired":
        out.update(truth=person, ssim=metrics.ssim(result, person), psnr=metrics.psnr(result, person))
    return out


def pair_view(view: ResultsView, k: int) -> dict:
    """Pair ``k`` of ``view.names``: ``result``, ``person``, ``cloth``, ``truth`` (paired, else None) as
    ``uint8 (H, W, 3)`` at the result's size, and its ``ssim`` / ``psnr`` (paired, else None; PSNR may be inf)."""
    if not 0 <= k < len(view.names):
        raise InputError(f"pair {k} is out of range: {view.folder} has {len(view.names)} finished results")
    return _pair(view, view.folder, view.data, view.names[k], k, _stamp(str(Path(view.folder) / view.names[k])))


def run_summary(view: ResultsView) -> str:
    """One line: the sampling settings and the run's state."""
    settings = (view.run or {}).get("sampling") or view.params or {}
    keys = ("steps", "eta", "strength", "seed")
    text = " · ".join(f"{k} {settings[k]}" for k in keys if k in settings) or "no generate settings (no params.json)"
    state = (f"finished: {view.run['counts']['pairs']} pairs in {view.run['seconds']} s on {', '.join(view.run['device'])}"
             if view.run and "counts" in view.run else f"{len(view.names)} of {view.total} results finished")
    return f"{view.pairs} · {view.split} · {text} · {state}"


def psnr_text(value: float | None) -> str:
    return "–" if value is None else ("inf dB" if np.isinf(value) else f"{value:.2f} dB")
