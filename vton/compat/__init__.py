"""Other projects' checkpoints, ported: the seed's (DCI-VITON-style) warper, UNet and sampler, HR-VITON's
condition generator.

Each origin has one file. A *port* reproduces its original number for number (same state-dict keys, same
inputs and outputs); an *adapter* around it takes our inputs and conventions and returns ours, so the
pipeline and the lab never see the other project's grid convention, flow units or input scaling.
"""
from __future__ import annotations

from vton._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "SeedWarpingProcess": "vton.compat.seed",
    "SeedUNet": "vton.compat.seed",
    "SeedScheduler": "vton.compat.seed",
    "SeedWarper": "vton.compat.seed",
    "SeedDenoiser": "vton.compat.seed",
    "HRVitonConditionGenerator": "vton.compat.hrviton",
    "HRVitonWarper": "vton.compat.hrviton",
})
