"""What every page starts from: the current input, its preprocessed person and cloth, the models.

Each getter draws its own failure (one ``st.error`` for bad input, one ``st.info``
for a stage that does not exist yet) and returns ``None``, so a page reads as a
sequence of "if we have it, draw it".
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lab import models, stages
from lab.inputs import LabInput, load_input
from lab.settings import LabSettings
from lab.stages import UserMaps
from lab.ui import guard
from vton.types import Cloth, Person

USER_PARSE, USER_DENSEPOSE = "user_parse", "user_densepose"


def user_maps(s: LabSettings | None = None) -> UserMaps:
    """The parse / DensePose files the user uploaded on the preprocessing page (kept across pages), and the
    sidebar's human parser folder."""
    parser = (s.parser, s.models.device) if s is not None and s.parser else (None, "cpu")
    return UserMaps(st.session_state.get(USER_PARSE), st.session_state.get(USER_DENSEPOSE), *parser)


@dataclass(frozen=True)
class Prepared:
    """An input with its preprocessed person and cloth."""

    inp: LabInput
    person: Person
    cloth: Cloth
    maps: UserMaps

    @property
    def key(self) -> str:
        return stages.stage_key(self.inp, self.maps)


def get_input(s: LabSettings) -> LabInput | None:
    with guard("Input"):
        return load_input(s.inputs, s.size)
    return None


def get_prepared(s: LabSettings) -> Prepared | None:
    """Input + preprocessing, with a progress bar while MediaPipe runs (cached afterwards)."""
    inp = get_input(s)
    if inp is None:
        return None
    maps = user_maps(s)
    with guard("Preprocessing"):
        person = stages.person_stage(inp, maps)
        cloth = stages.cloth_stage(inp)
        return Prepared(inp, person, cloth, maps)
    return None


def get_warper(s: LabSettings):
    """``(net, weights_id)`` for the warper in use, or ``None`` (with the reason shown)."""
    folder = s.models.warper_folder
    if folder is None:
        st.info("No warper weights: the embedded weights are not trained yet and no warper folder is set "
                "in the sidebar. The TPS baseline below still works.", icon=":material/hourglass_empty:")
        return None
    with guard("Warper"):
        net = models.load_warper(folder, s.models.device, s.models.dtype)
        return net, models.fingerprint(folder) or folder
    return None


def get_pipeline(s: LabSettings):
    """``(pipeline, model_id)`` or ``None`` (with the reason shown)."""
    m = s.models
    if not m.pipeline and not (m.warper and m.vae and m.unet):
        st.info(models.describe_weights(m) + " Set a pipeline folder (or a warper, a VAE and a UNet folder) in the "
                "sidebar to sample.", icon=":material/hourglass_empty:")
        return None
    with guard("Diffusion models"):
        pipe = models.load_pipeline(s.models)
        ids = models.model_versions(s.models)
        model_id = "|".join(str(ids[k]["weights"] or ids[k]["folder"]) for k in ("warper", "vae", "unet"))
        return pipe, model_id + f"|{s.models.device}|{s.models.dtype}"
    return None


def run_sampling(s: LabSettings, prep: Prepared, pipe, model_id: str, params: stages.RunParams):
    """One cached sampling run with a progress bar (guarded: returns ``None`` on bad settings)."""
    with guard("Sampling"):
        return stages.sample_stage(prep.key, model_id, pipe, prep.person, prep.cloth, s.size, params)
    return None
