"""The lab's home page: what is loaded, which stages exist, and the input pair."""
from __future__ import annotations

import streamlit as st

from lab import models, ui
from lab.library import stage_status
from lab.session import get_input
from lab.settings import current

PAGES = [
    ("pages/1_preprocessing.py", "Preprocessing", "keypoints, masks, parse, DensePose, agnostic; upload your own maps"),
    ("pages/2_warping.py", "Warping", "flows at five scales, folds, warped cloth, TPS baseline, error vs ground truth"),
    ("pages/3_diffusion.py", "Diffusion", "DDIM sampling, trajectory scrubber, seed grid, steps sweep, export"),
    ("pages/4_compare.py", "Compare", "two runs side by side, difference image, SSIM / PSNR"),
]


def render() -> None:
    s = current()
    st.title("vton lab")
    st.markdown(
        "Virtual try-on, one stage at a time: **preprocess** the person and the garment, **warp** the garment "
        "with a multi-scale flow, then refine the composite with **latent diffusion** (DDIM). Every page shows "
        "the intermediate outputs of one stage for the input chosen in the sidebar; moving a slider re-runs "
        "only what it changes."
    )
    st.info(models.describe_weights(s.models), icon=":material/memory:")

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Input")
        inp = get_input(s)
        if inp is not None:
            st.caption(f"{inp.label} · working size {s.size[0]} x {s.size[1]} (H x W)")
            cols = st.columns(3)
            ui.image(inp.person_image, "Person", container=cols[0], key="overview_person")
            ui.image(inp.cloth_image, "Cloth", container=cols[1], key="overview_cloth")
            if inp.truth_image is not None:
                cols[2].caption("This is a paired example: the person already wears the cloth, so the photo is the "
                                "ground-truth try-on, and the synthetic data also knows the true warp.")
    with right:
        st.subheader("Pages")
        for path, title, what in PAGES:
            st.page_link(path, label=title, icon=":material/arrow_forward:")
            st.caption(what)
        st.subheader("Library stages")
        for stage, reason in stage_status().items():
            if reason is None:
                st.markdown(f":material/check_circle: {stage}")
            else:
                st.markdown(f":material/hourglass_empty: {stage} — {reason}")
