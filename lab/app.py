"""The lab's page list, shared by ``streamlit_app.py`` and the pages' self-repair (see `lab.settings.current`)."""
from __future__ import annotations

import streamlit as st

from lab import overview

PAGE_FILES = ["pages/1_preprocessing.py", "pages/2_warping.py", "pages/3_diffusion.py", "pages/4_compare.py"]


def navigation():
    """Register the pages with ``st.navigation`` and return the one to run."""
    return st.navigation([
        st.Page(overview.render, title="Overview", icon=":material/home:", default=True),
        st.Page("pages/1_preprocessing.py", title="Preprocessing", icon=":material/accessibility_new:"),
        st.Page("pages/2_warping.py", title="Warping", icon=":material/texture:"),
        st.Page("pages/3_diffusion.py", title="Diffusion", icon=":material/blur_on:"),
        st.Page("pages/4_compare.py", title="Compare", icon=":material/compare:"),
    ])
