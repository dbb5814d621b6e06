"""The shared sidebar: inputs, models, sampling settings -> one frozen `LabSettings`.

The sidebar is drawn by ``streamlit_app.py`` before the page runs, so its widgets
(and their values, kept under stable keys in ``st.session_state``) are the same on
every page. Pages read the result with `current()`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from vton.types import Size

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "assets" / "samples"
SYNTHETIC_ROOT = SAMPLES / "synthetic"
PHOTOS = SAMPLES / "photos"
DEFAULT_WEIGHTS = ROOT / "assets" / "weights"

SIZES: dict[str, Size] = {"128 x 96": (128, 96), "256 x 192": (256, 192), "512 x 384": (512, 384),
                          "1024 x 768": (1024, 768)}
DEFAULT_SIZE_LABEL = "256 x 192"
MAX_SEED = 2**31 - 1

_SETTINGS, _ENTRY_RAN = "lab_settings", "_lab_entry_ran"
INPUT_SAMPLE, INPUT_UPLOAD, INPUT_FOLDER = "Bundled sample", "Upload photos", "Dataset folder"
PHOTO_SAMPLE = "photo: astronaut + tee (no ground truth)"


@dataclass(frozen=True)
class InputChoice:
    """Which person and cloth the lab works on."""

    kind: str  # INPUT_SAMPLE, INPUT_UPLOAD or INPUT_FOLDER
    sample: str | None = None  # for INPUT_SAMPLE: a synthetic pair name or PHOTO_SAMPLE
    folder: str | None = None  # for INPUT_FOLDER: a VITON-HD layout root
    split: str = "test"
    index: int = 0


@dataclass(frozen=True)
class ModelChoice:
    """Where the models come from; empty folders mean "from the pipeline folder"."""

    pipeline: str | None  # a TryOnPipeline folder (warper/ vae/ unet/ scheduler/), or None
    warper: str | None = None
    vae: str | None = None
    unet: str | None = None
    device: str = "cpu"
    dtype: str = "float32"

    @property
    def warper_folder(self) -> str | None:
        if self.warper:
            return self.warper
        return str(Path(self.pipeline) / "warper") if self.pipeline else None


@dataclass(frozen=True)
class Sampling:
    """DDIM settings shared by the diffusion and compare pages."""

    steps: int
    eta: float
    strength: float
    seed: int


@dataclass(frozen=True)
class LabSettings:
    inputs: InputChoice
    models: ModelChoice
    sampling: Sampling
    size: Size  # working size (H, W) every stage runs at
    parser: str | None = None  # a human parser folder (transformers semantic segmentation) replacing the geometric parse


def default_pipeline_folder() -> str | None:
    """``assets/weights`` when it holds a pipeline (any of its component folders), else None."""
    if any((DEFAULT_WEIGHTS / part).is_dir() for part in ("warper", "vae", "unet")):
        return str(DEFAULT_WEIGHTS)
    return None


def synthetic_names() -> list[str]:
    """Names of the bundled synthetic pairs (person file names in ``assets/samples/synthetic/test``)."""
    from lab.inputs import dataset_names

    return dataset_names(str(SYNTHETIC_ROOT), "test")


def _random_seed() -> None:
    st.session_state["seed"] = random.randrange(MAX_SEED)


def _inputs_ui() -> InputChoice:
    st.header("Input")
    kind = st.radio("Person and cloth", [INPUT_SAMPLE, INPUT_UPLOAD, INPUT_FOLDER], key="input_kind",
                    label_visibility="collapsed")
    if kind == INPUT_SAMPLE:
        try:
            names = synthetic_names()
        except Exception as e:  # no sample folder / no data reader yet: the photo still works
            names = []
            st.caption(f"Synthetic samples unavailable: {e}")
        options = [f"synthetic: {n}" for n in names] + [PHOTO_SAMPLE]
        sample = st.selectbox("Sample", options, key="sample",
                              help="Synthetic pairs carry ground truth (flow, warped cloth, try-on).")
        return InputChoice(kind, sample=sample)
    if kind == INPUT_UPLOAD:
        st.caption("Any common image format, up to 20 MB each; a photo is padded to the working size's 4:3.")
        st.file_uploader("Person photo", type=None, key="upload_person")
        st.file_uploader("Cloth photo (in-shop, on a plain background)", type=None, key="upload_cloth")
        return InputChoice(kind)
    folder = st.text_input("VITON-HD layout folder", key="dataset_folder", placeholder="/data/viton-hd",
                           help="A folder with train/ and test/ (image, cloth, cloth-mask, image-parse-v3, ...).")
    split = st.selectbox("Split", ["test", "train"], key="dataset_split")
    index = st.number_input("Pair index", min_value=0, value=0, step=1, key="dataset_index")
    return InputChoice(kind, folder=folder.strip() or None, split=split, index=int(index))


def _models_ui() -> ModelChoice:
    import torch

    st.header("Models")
    default = default_pipeline_folder()
    pipeline = st.text_input("Pipeline folder", value=default or "", key="pipeline_folder",
                             help="A TryOnPipeline folder with warper/ vae/ unet/ scheduler/. "
                                  "Default: the embedded weights in assets/weights.")
    with st.expander("Replace a component"):
        warper = st.text_input("Warper folder", key="warper_folder")
        vae = st.text_input("VAE folder (e.g. Stable Diffusion's vae/)", key="vae_folder")
        unet = st.text_input("UNet folder", key="unet_folder")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    c1, c2 = st.columns(2)
    device = c1.selectbox("Device", devices, key="device")
    # half precision only on CUDA: on a CPU, bfloat16 convolutions are many times slower than float32
    dtypes = ["float32"] + (["float16", "bfloat16"] if device == "cuda" else [])
    dtype = c2.selectbox("dtype", dtypes, key="dtype")
    return ModelChoice(pipeline.strip() or None, warper.strip() or None, vae.strip() or None,
                       unet.strip() or None, device, dtype)


def _parser_ui() -> str | None:
    folder = st.text_input(
        "Human parser folder", key="parser_folder", placeholder="/models/segformer-b2-human-parse-24",
        help="Optional: a transformers semantic-segmentation model folder (config.json + safetensors), e.g. the "
             "seed's SegFormer human parser or ATR's segformer_b2_clothes. Its map replaces the geometric parse (and "
             "a dataset's); its labels are mapped to CIHP's by name, shown on the Preprocessing page. Runs on the "
             "device above. Empty: the geometric parse.")
    return folder.strip() or None


def _sampling_ui(defaults) -> Sampling:
    st.header("Sampling")
    if "seed" not in st.session_state:
        st.session_state["seed"] = 0
    card = "from the model card" if defaults != type(defaults)() else "no model card values; built-in"
    steps = st.slider("DDIM steps", 1, 200, min(defaults.steps, 200), key="steps",
                      help=f"Default {defaults.steps} ({card}).")
    eta = st.slider("eta (0 = deterministic DDIM)", 0.0, 1.0, float(defaults.eta), 0.05, key="eta",
                    help=f"Default {defaults.eta:g} ({card}).")
    strength = st.slider("strength (1 = start from pure noise)", 0.05, 1.0, float(defaults.strength), 0.05, key="strength",
                         help=f"Default {defaults.strength:g} ({card}): sampling starts at t = strength x 1000 "
                              "from the noised composite.")
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    seed = c1.number_input("Seed", min_value=0, max_value=MAX_SEED, step=1, key="seed")
    c2.button("Random", on_click=_random_seed, key="seed_random", help="Draw a new seed")
    return Sampling(int(steps), float(eta), float(strength), int(seed))


def sidebar() -> LabSettings:
    """Draw the shared sidebar and store the settings for the page (see `current`)."""
    from lab.models import sampling_defaults_for

    with st.sidebar:
        inputs = _inputs_ui()
        size = SIZES[st.selectbox("Working size (H x W)", list(SIZES), index=list(SIZES).index(DEFAULT_SIZE_LABEL),
                                  key="size", help="Every stage runs at this size (4:3, divisible by 32).")]
        models = _models_ui()
        parser = _parser_ui()
        sampling = _sampling_ui(sampling_defaults_for(models))
    settings = LabSettings(inputs, models, sampling, size, parser)
    st.session_state[_SETTINGS] = settings
    st.session_state[_ENTRY_RAN] = True
    return settings


def current() -> LabSettings:
    """The settings the sidebar holds for this run (drawn by ``streamlit_app.py`` before the page).

    When a fresh server's first request is a page's URL, Streamlit's legacy ``pages/``
    mode runs that page file alone, without ``streamlit_app.py`` (so without sidebar).
    The page then registers the real navigation and reruns through it.
    """
    if st.session_state.pop(_ENTRY_RAN, False):
        return st.session_state[_SETTINGS]
    from lab.app import navigation

    navigation()
    st.rerun()
