"""Data: the VITON-HD-layout reader, its torch Dataset, and the synthetic generator.

Names are imported lazily (``vton.data.X`` loads only X's module), so the
``synth`` command never pays for torch and the reader never for the generator.
"""
from __future__ import annotations

from vton._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "VitonHD": "vton.data.vitonhd",
    "TryOnDataset": "vton.data.dataset",
    "generate_pair": "vton.data.synth",
    "write_dataset": "vton.data.synth",
})
