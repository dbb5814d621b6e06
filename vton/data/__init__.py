"""Data: the VITON-HD-layout reader, its torch Dataset, and the synthetic generator.

Names are imported lazily (``vton.data.X`` loads only X's module), so the
``synth`` command never pays for torch and the reader never for the generator.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "VitonHD": "vton.data.vitonhd",
    "TryOnDataset": "vton.data.dataset",
    "generate_pair": "vton.data.synth",
    "write_dataset": "vton.data.synth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vton.data' has no attribute {name!r}")
