"""Flow-based cloth warping: flow ops, the FlowWarpNet model, the TPS baseline, training and evaluation.

Flows everywhere are normalized sampling offsets ``(B, 2, H, W)`` (see `vton.warp.ops`).
Names are imported lazily, so ``import vton.warp.ops`` does not load diffusers.
"""
from __future__ import annotations

from vton._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "apply_flow": "vton.warp.ops",
    "identity_grid": "vton.warp.ops",
    "flow_to_pixels": "vton.warp.ops",
    "pixels_to_flow": "vton.warp.ops",
    "resize_flow": "vton.warp.ops",
    "jacobian_determinant": "vton.warp.ops",
    "fold_mask": "vton.warp.ops",
    "total_variation": "vton.warp.ops",
    "end_point_error": "vton.warp.ops",
    "FlowWarpNet": "vton.warp.network",
    "WarpOutput": "vton.warp.network",
    "warp_full_resolution": "vton.warp.network",
    "warp_pair": "vton.warp.network",
    "tps_flow": "vton.warp.tps",
    "TPSResult": "vton.warp.tps",
    "evaluate_warper": "vton.warp.evaluate",
    "train_warp": "vton.warp.train",
    "WarpTrainConfig": "vton.warp.train",
})
