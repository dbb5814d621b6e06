"""Small drawing helpers shared by the pages: images with download buttons, error guards, status lines."""
from __future__ import annotations

import contextlib
import re
from typing import Iterator

import numpy as np
import streamlit as st

from lab.library import StageUnavailable
from vton.errors import InputError
from vton.viz import mask_to_image, png_bytes


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "image"


def image(img: np.ndarray, caption: str, *, source: object | None = None, key: str | None = None,
          download: bool = True, container=None, width: int | str = "stretch") -> None:
    """Show an image (or a {0, 1} mask) with its caption, its source, and a PNG download button."""
    where = container or st
    if img.ndim == 2:
        img = mask_to_image(img) if img.dtype == np.uint8 and img.max(initial=0) <= 1 else img
    src = getattr(source, "value", source)
    where.image(img, caption=caption + (f" · source: {src}" if src else ""), width=width)
    if download:
        name = _slug(key or caption)
        where.download_button("Download PNG", lambda img=img: png_bytes(img), file_name=f"{name}.png",
                               mime="image/png", key=f"dl_{name}", icon=":material/download:", type="tertiary",
                               on_click="ignore")


@contextlib.contextmanager
def guard(what: str) -> Iterator[None]:
    """Show bad input as one ``st.error`` and a missing stage as one ``st.info``; the page goes on after it."""
    try:
        yield
    except InputError as e:
        st.error(f"{what}: {e}", icon=":material/error:")
    except StageUnavailable as e:
        st.info(f"{what} is not available yet: {e}", icon=":material/hourglass_empty:")


def notes(messages: list[str]) -> None:
    for m in messages:
        st.warning(m, icon=":material/warning:")
