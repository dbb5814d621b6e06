"""Preprocessing: a person photo -> keypoints, masks, parse, IUV, agnostic; a cloth photo -> cloth mask.

`preprocess_person` and `preprocess_cloth` are the entry points; `Preprocessor`
holds the MediaPipe models (created once, shared, thread-safe). MediaPipe is
imported only when a model is first needed, so `vton.preprocess.agnostic` and
`vton.preprocess.densepose` stay cheap to import.
"""
from __future__ import annotations

from vton._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {name: "vton.preprocess.pipeline" for name in (
    "Preprocessor", "preprocess_person", "preprocess_cloth", "default_preprocessor")})
