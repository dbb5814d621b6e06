"""Preprocessing: a person photo -> keypoints, masks, parse, IUV, agnostic; a cloth photo -> cloth mask.

`preprocess_person` and `preprocess_cloth` are the entry points; `Preprocessor`
holds the MediaPipe models (created once, shared, thread-safe). MediaPipe is
imported only when a model is first needed, so `vton.preprocess.agnostic` and
`vton.preprocess.densepose` stay cheap to import.
"""
from __future__ import annotations

__all__ = ["Preprocessor", "preprocess_person", "preprocess_cloth", "default_preprocessor"]


def __getattr__(name: str):
    if name in __all__:
        from vton.preprocess import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'vton.preprocess' has no attribute {name!r}")
