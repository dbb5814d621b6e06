"""The sampling settings a pipeline folder recommends, read from its model card.

A model card (``MODEL_CARD.md`` in the pipeline folder) states them as plain lines,
so a person and the code read the same thing::

    Default DDIM steps: 50
    Default strength: 0.5
    Default eta: 0.0

Missing lines fall back to `SamplingDefaults`' own values (steps also from a
``num_inference_steps`` key in ``model_index.json`` / the scheduler config).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

MODEL_CARD = "MODEL_CARD.md"

_NUMBER = r"\W{0,5}([0-9]*\.?[0-9]+)"
_PATTERNS = {
    "steps": re.compile(r"(?im)(?:default\s+(?:ddim|sampling|inference)\s+steps|num_inference_steps)" + _NUMBER),
    "strength": re.compile(r"(?im)default\s+strength" + _NUMBER),
    "eta": re.compile(r"(?im)default\s+eta" + _NUMBER),
}


@dataclass(frozen=True)
class SamplingDefaults:
    steps: int = 50  # DDIM steps, 1..1000
    strength: float = 1.0  # (0, 1]: start at timestep ~ strength * T from the noised composite
    eta: float = 0.0  # DDIM's eta: 0 deterministic, 1 DDPM-like


def sampling_defaults(folder: str | Path | None) -> SamplingDefaults:
    """What the pipeline folder's model card recommends; `SamplingDefaults()` where it says nothing."""
    base = SamplingDefaults()
    if not folder or not Path(folder).is_dir():
        return base
    found: dict[str, float] = {}
    card = Path(folder) / MODEL_CARD
    if card.is_file():
        text = card.read_text(errors="ignore")
        for key, pattern in _PATTERNS.items():
            if m := pattern.search(text):
                found[key] = float(m.group(1))
    if "steps" not in found:
        for cfg in (Path(folder) / "model_index.json", Path(folder) / "scheduler" / "scheduler_config.json"):
            try:
                steps = json.loads(cfg.read_text()).get("num_inference_steps")
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(steps, int):
                found["steps"] = steps
                break
    steps = int(found.get("steps", base.steps))
    strength = float(found.get("strength", base.strength))
    eta = float(found.get("eta", base.eta))
    return SamplingDefaults(
        steps=steps if 1 <= steps <= 1000 else base.steps,
        strength=strength if 0 < strength <= 1 else base.strength,
        eta=eta if 0 <= eta <= 1 else base.eta,
    )
