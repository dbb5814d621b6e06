"""The warping network's training losses (HR-VITON's condition-generator terms, plus flow supervision).

Targets, from a `vton.tensors.TryOnBatch`:

- the *true cloth region*: ``gt_warped_mask`` when the data has it (synthetic),
  otherwise the upper-garment group of the person's parse (VITON-HD);
- the *true warped cloth*: ``gt_warped_cloth`` when present, otherwise the person
  photo, compared only inside the true cloth region;
- the *visible* cloth region (what the occlusion-aligned mask should be): the
  parse's upper-garment group, which already excludes arms and hair in front;
- the segmentation target: the full parse, as HR-VITON groups;
- ``gt_flow`` when present: end-point error of every scale's flow, inside the
  (slightly dilated) true cloth region, where the flow matters (optionally with a
  small weight outside it, ``epe_outside``).

Terms for the coarser scales (the flow upsampled to full size, then the same
mask/cloth L1, and EPE) are weighted ``2**-(levels - 1 - k)`` like HR-VITON's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from vton.tensors import TryOnBatch
from vton.types import Group
from vton.warp.network import WarpOutput
from vton.warp.ops import apply_flow, jacobian_determinant, resize_flow, total_variation


@dataclass(frozen=True)
class WarpLossWeights:
    """Weights of each term; a zero weight skips the term."""

    mask: float = 1.0  # warped mask vs true cloth region, aligned mask vs visible region (L1)
    cloth: float = 1.0  # warped cloth vs true warped cloth inside the true region (L1)
    vgg: float = 0.2  # VGG19 perceptual on the same (only with a VGG loss given)
    tv: float = 0.5  # total variation of every flow (normalized units)
    seg: float = 1.0  # segmentation cross-entropy
    epe: float = 10.0  # end-point error vs gt_flow, in normalized units (1 unit = W/2 px)
    epe_outside: float = 0.0  # relative weight of the EPE outside the dilated true region (0.1 smooths the
    # flow there for pictures but cost 0.9 px EPE inside after 400 CPU steps)
    intermediate: float = 1.0  # multiplier of the coarser scales' mask/cloth/EPE terms
    fold: float = 0.0  # hinge on the finest flow's Jacobian determinant inside the true region (0 = off)
    fold_margin: float = 0.1  # determinants below this are penalized

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def cloth_targets(batch: TryOnBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(true_region (B,1,H,W), true_cloth (B,3,H,W), visible_region (B,1,H,W))`` for a batch."""
    visible = batch.parse[:, Group.UPPER : Group.UPPER + 1]
    region = batch.gt_warped_mask if batch.gt_warped_mask is not None else visible
    cloth = batch.gt_warped_cloth if batch.gt_warped_cloth is not None else batch.person
    return region, cloth, visible


def _masked_l1(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean ``|a - b|`` over the pixels (and channels) inside ``region``."""
    weight = region.expand_as(a)
    return ((a - b).abs() * weight).sum() / weight.sum().clamp_min(1.0)


def _flow_epe(flow: torch.Tensor, gt: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance (normalized units) between ``flow`` and ``gt`` inside ``region``, at gt's size.

    A Charbonnier-smoothed norm keeps the gradient finite where the error is zero.
    """
    diff = resize_flow(flow, tuple(gt.shape[-2:])) - gt
    epe = (diff.pow(2).sum(dim=1, keepdim=True) + 1e-8).sqrt()
    return (epe * region).sum() / region.sum().clamp_min(1.0)


def warp_losses(
    out: WarpOutput,
    batch: TryOnBatch,
    weights: WarpLossWeights = WarpLossWeights(),
    vgg: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Every loss term (already weighted) and their sum under ``"total"``.

    Args:
        out: the network's output for ``batch``.
        batch: a `TryOnBatch` at the network's input size.
        vgg: a perceptual loss ``vgg(x, y)`` on ``[-1, 1]`` images (`vton.nn.vgg.VGGPerceptualLoss`).
    """
    region, true_cloth, visible = cloth_targets(batch)
    size = out.size
    levels = len(out.flows)
    terms: dict[str, torch.Tensor] = {}

    # 1. final scale: warped mask and cloth, aligned mask
    if weights.mask:
        terms["mask"] = weights.mask * (
            F.l1_loss(out.warped_mask, region) + F.l1_loss(out.aligned_mask, visible)
        )
    if weights.cloth:
        terms["cloth"] = weights.cloth * _masked_l1(out.warped_cloth, true_cloth, region)
    if weights.vgg and vgg is not None:
        terms["vgg"] = weights.vgg * vgg(out.warped_cloth * region, true_cloth * region)

    # 2. coarser scales, upsampled to full size (HR-VITON's intermediate terms)
    if weights.intermediate and (weights.mask or weights.cloth):
        inter = out.warped_mask.new_zeros(())
        cloth_in = None
        for k, flow in enumerate(out.flows[:-1]):
            scale = 2.0 ** -(levels - 1 - k)
            if cloth_in is None:
                cloth_in = _unwarped_inputs(out, batch)
            warped = apply_flow(cloth_in, flow, size=size, padding_mode="zeros")
            if weights.mask:
                inter = inter + scale * weights.mask * F.l1_loss(warped[:, 3:], region)
            if weights.cloth:
                inter = inter + scale * weights.cloth * _masked_l1(warped[:, :3], true_cloth, region)
        terms["intermediate"] = weights.intermediate * inter

    # 3. smoothness
    if weights.tv:
        terms["tv"] = weights.tv * sum(total_variation(f) for f in out.flows)

    # 4. segmentation
    if weights.seg:
        terms["seg"] = weights.seg * F.cross_entropy(out.seg_logits, batch.parse.argmax(dim=1))

    # 5. ground-truth flow, every scale, inside the dilated true region
    if weights.epe and batch.gt_flow is not None:
        near = F.max_pool2d(region, kernel_size=9, stride=1, padding=4)
        near = near + weights.epe_outside * (1 - near)
        epe = out.warped_mask.new_zeros(())
        for k, flow in enumerate(out.flows):
            scale = 1.0 if k == levels - 1 else weights.intermediate * 2.0 ** -(levels - 1 - k)
            epe = epe + scale * _flow_epe(flow, batch.gt_flow, near)
        terms["epe"] = weights.epe * epe

    # 6. folds: the sampling map should not mirror the cloth (det J <= 0) where the cloth is
    if weights.fold:
        det = jacobian_determinant(resize_flow(out.flows[-1], size))
        hinge = F.relu(weights.fold_margin - det)
        terms["fold"] = weights.fold * (hinge * region).sum() / region.sum().clamp_min(1.0)

    terms["total"] = sum(terms.values()) if terms else out.warped_mask.new_zeros(())
    return terms


def _unwarped_inputs(out: WarpOutput, batch: TryOnBatch) -> torch.Tensor:
    """The cloth and its mask, ``(B, 4, H, W)``, to be warped by a coarser flow."""
    return torch.cat([batch.cloth, batch.cloth_mask], dim=1).to(out.warped_cloth.dtype)
