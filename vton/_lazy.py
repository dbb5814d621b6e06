"""Lazy package names: ``from vton.warp import FlowWarpNet`` imports only the module that defines it.

The packages re-export their main names for convenience, but loading every module
up front would make ``import vton.data`` pay for torch and ``import vton.warp.ops``
for diffusers. Each package instead declares where its names live::

    __getattr__, __all__ = lazy_names(__name__, {"FlowWarpNet": "vton.warp.network", ...})
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_names(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` that imports each of ``where``'s names from its module on first use, and ``__all__``."""

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(where)
