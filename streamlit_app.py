"""The vton lab: ``streamlit run streamlit_app.py``.

Draws the shared sidebar (inputs, models, sampling settings), then runs the
selected page from ``pages/``. Pages are thin: they read widgets, call the cached
stage functions in `lab`, and draw with `vton.viz`.
"""
import streamlit as st

from lab import overview
from lab.settings import sidebar

st.set_page_config(page_title="vton lab", page_icon=":material/checkroom:", layout="wide")

page = st.navigation([
    st.Page(overview.render, title="Overview", icon=":material/home:", default=True),
    st.Page("pages/1_preprocessing.py", title="Preprocessing", icon=":material/accessibility_new:"),
    st.Page("pages/2_warping.py", title="Warping", icon=":material/texture:"),
    st.Page("pages/3_diffusion.py", title="Diffusion", icon=":material/blur_on:"),
    st.Page("pages/4_compare.py", title="Compare", icon=":material/compare:"),
])
sidebar()
page.run()
