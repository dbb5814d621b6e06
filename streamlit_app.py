"""The vton lab: ``streamlit run streamlit_app.py``.

Registers the pages (`lab.app.navigation`: an overview, then ``pages/``), draws
the shared sidebar (inputs, models, sampling settings), then runs the selected
page. Pages are thin: they read widgets, call the cached stage functions in
`lab`, and draw with `vton.viz`.
"""
import streamlit as st

from lab.app import navigation
from lab.settings import sidebar

st.set_page_config(page_title="vton lab", page_icon=":material/checkroom:", layout="wide")
page = navigation()
sidebar()
page.run()
