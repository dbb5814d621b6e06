"""Stage results, cached by a hash of the inputs and the parameters that change them.

The cache graph (each arrow is one cached call; a slider re-runs only what is downstream of it)::

    input bytes ──► person (keypoints, masks, parse, IUV, agnostic)   key: person pixels + user maps
                                                                       (+ human parser weights, device)
                └─► cloth (mask)                                       key: cloth pixels
    person, cloth, warper ──► warp (flows, warped cloth/mask)          key: + warper weights
    person, cloth ──► TPS baseline
    person, cloth, pipeline ──► conditioning ──► sample(steps, eta, strength, seeds)
    sample ──► decoded trajectory frame (step, x_t | x0)               key: run key + step

Array-valued arguments carry a leading underscore so Streamlit does not hash
them; the string ``key`` argument stands for them. Sampling results keep
tensors and a decoder, so they live in `st.cache_resource` (no pickling) and are
treated as read-only.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import numpy as np
import streamlit as st

from lab.inputs import LabInput, digest
from lab.library import require
from vton.types import Cloth, DensePoseEncoding, Person, Size, Source

Progress = Callable[[int, int, str], None]


def progress_in(bar) -> Progress:
    """A library progress callback ``(done, total, message)`` that updates the ``st.progress`` element ``bar``."""

    start = time.perf_counter()

    def report(done: int, total: int, message: str = "") -> None:
        left = ""
        if 0 < done < total:
            seconds = (time.perf_counter() - start) / done * (total - done)
            left = f", about {seconds:.0f} s left" if seconds < 120 else f", about {seconds / 60:.1f} min left"
        bar.progress(min(max(done / max(total, 1), 0.0), 1.0), text=f"{message} ({done}/{total}{left})")

    return report


@contextlib.contextmanager
def progress_bar(text: str) -> Iterator[Progress]:
    """A progress bar for the duration of a long call, removed afterwards.

    Used *inside* cached functions: Streamlit records the bar's messages with the
    result and replays them on a cache hit (create, ..., remove: nothing shows),
    which only works for elements the cached function creates itself.
    """
    bar = st.progress(0.0, text=text)
    try:
        yield progress_in(bar)
    finally:
        bar.empty()


# ----------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class UserMaps:
    """Maps the user uploaded on the preprocessing page, and the human parser folder of the sidebar, replacing
    the built-in maps (an uploaded parse file wins over the parser)."""

    parse: np.ndarray | None = None  # uint8 (H, W) CIHP labels
    densepose: np.ndarray | None = None  # uint8 (H, W, 3) as uploaded: IUV or a dp_segm colour render (detected)
    parser: str | None = None  # a human parser folder (vton.preprocess.parser), run on ``device``
    device: str = "cpu"

    @property
    def uses_parser(self) -> bool:
        return self.parser is not None and self.parse is None

    @property
    def key(self) -> str:
        if self.parser is None:
            return digest(self.parse, self.densepose)
        from lab.models import fingerprint

        return digest(self.parse, self.densepose, self.parser, fingerprint(self.parser), self.device)


@st.cache_resource(max_entries=2, show_spinner="Loading the human parser...")
def human_parser(folder: str, device: str, weights: str | None):
    """The `vton.preprocess.parser.HumanParser` in ``folder`` (``weights``: its fingerprint, so a rewritten folder
    loads again). ``transformers`` is imported here, the first time a parser folder is set."""
    load_parser = require("vton.preprocess.parser", "load_parser")
    return load_parser(folder, device=device)


def parser_of(maps: UserMaps):
    """The human parser ``maps`` use, or None."""
    if not maps.uses_parser:
        return None
    from lab.models import fingerprint

    return human_parser(maps.parser, maps.device, fingerprint(maps.parser))


@st.cache_data(max_entries=16, show_spinner=False)
def _person(key: str, _inp: LabInput, _maps: UserMaps) -> Person:
    preprocess_person = require("vton.preprocess", "preprocess_person")
    parser = parser_of(_maps)
    if _inp.pair is not None and _maps.parse is None and _maps.densepose is None and parser is None:
        return _inp.pair.person  # the dataset's own maps
    parse, densepose = _maps.parse, _maps.densepose
    if _inp.pair is not None:  # dataset maps stand in for what the user did not replace
        parse = _inp.pair.person.parse if parse is None and parser is None else parse
        densepose = _inp.pair.person.densepose if densepose is None else densepose
    with progress_bar("Preprocessing the person photo") as progress:
        person = preprocess_person(_inp.person_image, parse=parse, densepose=densepose, progress=progress,
                                   parser=parser)
    if _maps.parser is not None and parser is None:
        person = replace(person, notes=person.notes + ["the human parser folder is not used: your own parse file "
                                                       "replaces the parse map"])
    if _inp.pair is not None:
        sources, kept = dict(person.sources), _inp.pair.person.sources
        if _maps.parse is None and parser is None:
            sources["parse"] = kept.get("parse", Source.DATASET)
        if _maps.densepose is None:  # the dataset's map, passed on as IUV: keep the encoding its file was in
            sources["densepose"] = kept.get("densepose", Source.DATASET)
            sources["densepose_encoding"] = kept.get("densepose_encoding", DensePoseEncoding.IUV)
        person = replace(person, sources=sources)
    return person


def person_stage(inp: LabInput, maps: UserMaps) -> Person:
    """The preprocessed person; dataset inputs keep their maps unless the user replaced one."""
    return _person(digest(inp.person_key, maps.key), inp, maps)


@st.cache_data(max_entries=16, show_spinner=False)
def _cloth(key: str, _inp: LabInput) -> Cloth:
    if _inp.pair is not None:
        return _inp.pair.cloth
    preprocess_cloth = require("vton.preprocess", "preprocess_cloth")
    return preprocess_cloth(_inp.cloth_image)


def cloth_stage(inp: LabInput) -> Cloth:
    """The cloth with its mask (the dataset's mask for dataset inputs)."""
    return _cloth(inp.cloth_key, inp)


def stage_key(inp: LabInput, maps: UserMaps) -> str:
    """The key of the (person, cloth) pair after preprocessing."""
    return digest(inp.person_key, maps.key, inp.cloth_key)


# ----------------------------------------------------------------------------- warping


@dataclass(frozen=True)
class WarpView:
    """A warp result as numpy arrays for drawing (batch of one)."""

    flows: list[np.ndarray]  # coarse -> fine, float32 (2, h, w) normalized offsets
    warped_cloth: np.ndarray  # uint8 (H, W, 3), before occlusion handling
    warped_mask: np.ndarray  # float32 (H, W) in [0, 1]
    aligned_cloth: np.ndarray  # uint8 (H, W, 3), after occlusion handling
    aligned_mask: np.ndarray  # float32 (H, W) in [0, 1]
    segmentation: np.ndarray | None  # uint8 (H, W) HR-VITON group per pixel; None: the warper has no such head
    seconds: float


def _np(t) -> np.ndarray:
    return t.detach().float().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


@st.cache_data(max_entries=16, show_spinner=False)
def _warp(key: str, _net, _person: Person, _cloth: Cloth, device: str, dtype: str) -> WarpView:
    import torch

    from lab.models import torch_dtype
    from vton.tensors import pairs_to_batch, tensor_to_image
    from vton.types import Pair

    # the DensePose tensor in the warper's own encoding, whichever the person's came in
    pair = Pair(name="", cloth_name="", person=_person, cloth=_cloth)
    batch = pairs_to_batch([pair], densepose_encoding=_net.densepose_encoding).to(device, torch_dtype(dtype))
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = _net.warp(batch)
    seconds = time.perf_counter() - t0
    return WarpView(
        flows=[_np(f[0]) for f in out.flows],
        warped_cloth=tensor_to_image(out.warped_cloth[0]),
        warped_mask=_np(out.warped_mask[0, 0]),
        aligned_cloth=tensor_to_image(out.aligned_cloth[0]),
        aligned_mask=_np(out.aligned_mask[0, 0]),
        segmentation=None if out.seg_logits is None else _np(out.seg_logits[0].argmax(0)).astype(np.uint8),
        seconds=seconds,
    )


def warp_stage(key: str, net, weights_id: str, person: Person, cloth: Cloth, device: str, dtype: str) -> WarpView:
    """Run the warper once per (pair, weights, device, dtype)."""
    return _warp(digest(key, weights_id, device, dtype), net, person, cloth, device, dtype)


@dataclass(frozen=True)
class TPSView:
    flow: np.ndarray  # float32 (2, H, W) normalized offsets
    warped_cloth: np.ndarray  # uint8 (H, W, 3)
    warped_mask: np.ndarray  # uint8 (H, W) {0, 1}
    src_points: np.ndarray
    dst_points: np.ndarray
    seconds: float


@st.cache_data(max_entries=16, show_spinner=False)
def _tps(key: str, _person: Person, _cloth: Cloth) -> TPSView:
    from vton.viz import warp_image

    tps_flow = require("vton.warp.tps", "tps_flow")
    t0 = time.perf_counter()
    res = tps_flow(_cloth.mask, _person.keypoints, _person.size)
    flow = _np(res.flow).astype(np.float32)
    flow = flow[0] if flow.ndim == 4 else flow
    seconds = time.perf_counter() - t0
    warped = warp_image(_cloth.image, flow)
    mask = (warp_image(_cloth.mask * 255, flow) > 127).astype(np.uint8)
    return TPSView(flow, warped, mask, _np(res.src_points), _np(res.dst_points), seconds)


def tps_stage(key: str, person: Person, cloth: Cloth) -> TPSView:
    """The training-free TPS baseline (garment corners -> shoulders and hips)."""
    return _tps(key, person, cloth)


# ----------------------------------------------------------------------------- diffusion


@dataclass(frozen=True)
class RunParams:
    """Everything that changes a sampling result."""

    steps: int
    eta: float
    strength: float
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Run:
    """A finished sampling run (read-only: it is shared through `st.cache_resource`)."""

    key: str  # cache key of this run; decoded trajectory frames are cached under it
    params: RunParams
    result: Any  # vton.diffusion.pipeline.TryOnResult, with its trajectory recorded
    seconds: float  # wall time of the sampling call

    @property
    def images(self) -> list[np.ndarray]:
        """One ``uint8 (H, W, 3)`` try-on per seed, in ``params.seeds`` order."""
        return list(self.result.images)

    @property
    def composite(self) -> np.ndarray:
        """``uint8 (H, W, 3)``: the agnostic image with the warped cloth pasted in (the starting point)."""
        return self.result.composite


@st.cache_resource(max_entries=8, show_spinner=False)
def _conditioning(key: str, _pipe, _person: Person, _cloth: Cloth, size: Size):
    return _pipe.prepare(_person, _cloth, size)


@st.cache_resource(max_entries=24, show_spinner=False)
def _sample(key: str, _params: RunParams, _pipe, _cond) -> Run:
    p = _params
    seeds = ", ".join(map(str, p.seeds))
    with progress_bar(f"Sampling {p.steps} DDIM steps, seed {seeds}") as progress:
        t0 = time.perf_counter()
        result = _pipe.sample(_cond, num_inference_steps=p.steps, eta=p.eta, strength=p.strength, seeds=list(p.seeds),
                              record_trajectory=True, progress=progress)
    return Run(key, p, result, time.perf_counter() - t0)


def sample_stage(pair_key: str, model_id: str, pipe, person: Person, cloth: Cloth, size: Size,
                 params: RunParams) -> Run:
    """Prepare the conditioning once per (pair, model, size), then sample once per ``params``."""
    cond_key = digest(pair_key, model_id, str(size))
    cond = _conditioning(cond_key, pipe, person, cloth, size)
    return _sample(digest(cond_key, repr(params)), params, pipe, cond)


@st.cache_data(max_entries=512, show_spinner=False)
def decode_frame(run_key: str, step: int, which: str, _run: Run, index: int = 0) -> np.ndarray:
    """Decode one trajectory step (``which`` is ``"x0"`` or ``"xt"``) of sample ``index`` to ``uint8``."""
    return _run.result.trajectory.decode(step, which=which)[index]
