"""Which parts of the library exist in this checkout, so a page can say so instead of crashing.

The lab is built while the library grows; a stage whose module is missing (or
fails to import) is reported with `StageUnavailable`, which pages show as one
``st.info`` naming what is missing.
"""
from __future__ import annotations

import importlib
from typing import Any


class StageUnavailable(RuntimeError):
    """A library stage the page needs is not available in this installation."""


def require(module: str, *names: str) -> Any | tuple[Any, ...]:
    """Import ``module`` and return its attributes ``names`` (one value, or a tuple for several).

    Raises:
        StageUnavailable: the module or one of the names is missing, with the reason.
    """
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise StageUnavailable(f"`{module}` is not available yet ({e.name} not found).") from e
    except ImportError as e:
        raise StageUnavailable(f"`{module}` could not be imported: {e}") from e
    values = []
    for name in names:
        try:
            values.append(getattr(mod, name))
        except AttributeError as e:
            raise StageUnavailable(f"`{module}.{name}` is not available yet.") from e
    return values[0] if len(values) == 1 else tuple(values)


STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "inputs": ("vton.data", ("VitonHD",)),
    "preprocessing": ("vton.preprocess", ("preprocess_person", "preprocess_cloth")),
    "warping": ("vton.warp", ("FlowWarpNet",)),
    "tps baseline": ("vton.warp.tps", ("tps_flow",)),
    "diffusion": ("vton.diffusion.pipeline", ("TryOnPipeline", "load_pipeline")),
}
"""Stage name -> (module, the names the lab calls)."""


def stage_status() -> dict[str, str | None]:
    """Stage name -> ``None`` when importable, else the reason it is not."""
    out: dict[str, str | None] = {}
    for stage, (module, names) in STAGES.items():
        try:
            require(module, *names)
            out[stage] = None
        except StageUnavailable as e:
            out[stage] = str(e)
    return out
