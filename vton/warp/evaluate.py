"""Scoring a warper on a dataset split: the network, the TPS baseline, or no warp at all.

Every warper is reduced to one thing, a sampling flow at the evaluation size
(`vton.warp.ops` convention), so all three are measured the same way:

- ``epe_px``: mean end-point error against ``gt-flow`` in pixels at the
  evaluation size, inside the true warped-cloth region (only where ground truth exists);
- ``cloth_l1``: mean absolute difference, in ``[0, 1]`` intensity units, between the
  warped cloth and the true one (``gt-warped-cloth``, else the person photo) inside
  the true region (``gt-warped-mask``, else the parse's upper garment);
- ``cloth_ssim``: SSIM (scikit-image) of the two, both composited on white outside the
  true region, averaged inside it;
- ``mask_iou``: IoU of the warped cloth mask (> 0.5) and the true region;
- ``fold_pct``: percentage of pixels in the true region where the sampling map
  folds (Jacobian determinant <= 0).

The network is scored on its warped cloth and mask before occlusion handling,
since the ground truth is the unoccluded warp. A network is any warper
(`FlowWarpNet` or a port: ``warp(batch)``, ``densepose_encoding``); its DensePose
input is built in the encoding it was trained on, whichever the folder holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
import torch
from skimage.metrics import structural_similarity

from vton.tensors import pairs_to_batch
from vton.types import DEFAULT_SIZE, Group, Pair, Size
from vton.warp.ops import apply_flow, end_point_error, fold_mask
from vton.warp.tps import tps_flow

Warper = Union[torch.nn.Module, Literal["tps", "identity"]]
"""A warper module (``warp(batch)``, ``densepose_encoding``), or the TPS baseline, or no warp."""
METRICS = ("epe_px", "cloth_l1", "cloth_ssim", "mask_iou", "fold_pct")


@dataclass
class SampleScore:
    name: str
    epe_px: float | None
    cloth_l1: float
    cloth_ssim: float
    mask_iou: float
    fold_pct: float


def warper_name(warper: Warper) -> str:
    return warper if isinstance(warper, str) else "network"


@torch.no_grad()
def predict_flows(warper: Warper, pairs: list[Pair], device: torch.device | str = "cpu") -> tuple[torch.Tensor, list[list[str]]]:
    """Full-size sampling flows ``(B, 2, H, W)`` for pairs of one size, and each pair's notes."""
    size = pairs[0].person.size
    if not isinstance(warper, str):
        dtype = next((p.dtype for p in warper.parameters()), torch.float32)
        batch = pairs_to_batch(pairs, densepose_encoding=warper.densepose_encoding).to(device, dtype)
        out = warper.warp(batch)
        return out.full_flow(size).float().cpu(), [[] for _ in pairs]
    if warper == "identity":
        return torch.zeros(len(pairs), 2, *size), [[] for _ in pairs]
    if warper == "tps":
        results = [tps_flow(p.cloth.mask, p.person.keypoints, size) for p in pairs]
        return torch.cat([r.flow for r in results]), [r.notes for r in results]
    raise ValueError(f"warper must be a warper module, 'tps' or 'identity', got {warper!r}")


def score_pairs(pairs: list[Pair], flows: torch.Tensor) -> list[SampleScore]:
    """Score full-size ``flows (B, 2, H, W)`` on ``pairs`` (see the module docstring)."""
    batch = pairs_to_batch(pairs)
    warped_cloth = apply_flow(batch.cloth, flows, padding_mode="border")
    warped_mask = apply_flow(batch.cloth_mask, flows, padding_mode="zeros")
    upper = batch.parse[:, Group.UPPER : Group.UPPER + 1]
    region = batch.gt_warped_mask if batch.gt_warped_mask is not None else upper
    target = batch.gt_warped_cloth if batch.gt_warped_cloth is not None else batch.person
    folds = fold_mask(flows).float()
    epe = end_point_error(flows, batch.gt_flow, region, reduction="batch") if batch.gt_flow is not None else None

    scores = []
    for i, pair in enumerate(pairs):
        r = region[i, 0] > 0.5
        n = max(int(r.sum()), 1)
        a = (warped_cloth[i].clamp(-1, 1) + 1) / 2
        b = (target[i] + 1) / 2
        l1 = float(((a - b).abs() * r).sum() / (3 * n))
        ssim = _masked_ssim(a, b, r)
        m = warped_mask[i, 0] > 0.5
        union = int((m | r).sum())
        iou = float((m & r).sum()) / union if union else 1.0
        fold = 100.0 * float((folds[i, 0] * r).sum()) / n
        scores.append(SampleScore(pair.name, None if epe is None else float(epe[i]), l1, ssim, iou, fold))
    return scores


def _masked_ssim(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> float:
    """SSIM of two ``(3, H, W)`` images in [0, 1] composited on white outside ``region``, averaged inside it."""
    r = region.numpy()
    if not r.any():
        return float("nan")
    x = np.where(r[..., None], a.permute(1, 2, 0).numpy(), 1.0)
    y = np.where(r[..., None], b.permute(1, 2, 0).numpy(), 1.0)
    _, full = structural_similarity(x, y, channel_axis=2, data_range=1.0, full=True)
    return float(full.mean(axis=2)[r].mean())


def evaluate_warper(
    data: str | Path,
    warper: Warper,
    *,
    size: Size = DEFAULT_SIZE,
    split: str = "test",
    batch_size: int = 4,
    limit: int | None = None,
    device: torch.device | str = "cpu",
    progress=None,
) -> dict:
    """Score ``warper`` on ``data``'s ``split`` at ``size``; return a JSON-ready dict.

    Keys: ``warper``, ``split``, ``size``, ``n``, the mean of each metric in `METRICS`
    (``epe_px`` is ``None`` without ground-truth flows), ``per_sample`` (one dict per pair)
    and ``notes`` (e.g. TPS fallbacks).
    """
    from vton.data import VitonHD

    reader = VitonHD(data, split, size=tuple(size))
    total = len(reader) if limit is None else min(limit, len(reader))
    if not isinstance(warper, str):
        warper = warper.to(device).eval()
    scores: list[SampleScore] = []
    notes: list[str] = []
    for start in range(0, total, batch_size):
        pairs = [reader[i] for i in range(start, min(start + batch_size, total))]
        flows, pair_notes = predict_flows(warper, pairs, device)
        scores += score_pairs(pairs, flows)
        notes += [f"{p.name}: {n}" for p, ns in zip(pairs, pair_notes) for n in ns]
        if progress is not None:
            progress(len(scores), total, warper_name(warper))

    def mean(key: str) -> float | None:
        values = [getattr(s, key) for s in scores if getattr(s, key) is not None and not np.isnan(getattr(s, key))]
        return float(np.mean(values)) if values else None

    return {
        "warper": warper_name(warper),
        "split": split,
        "size": list(size),
        "n": len(scores),
        **{k: mean(k) for k in METRICS},
        "per_sample": [s.__dict__ for s in scores],
        "notes": notes,
    }
