"""Streamlit-side glue for the lab: cached loaders, the shared sidebar, session state, small widgets.

Only this package and ``pages/`` import Streamlit; everything they show is computed
by `vton` (stages) and drawn by `vton.viz` (pictures). Import flow:
``streamlit_app.py / pages -> lab -> vton``.
"""
