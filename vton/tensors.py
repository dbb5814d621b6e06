"""Crossing the I/O boundary: numpy stage results <-> model tensors, and the batch models train on.

Every conversion between ``uint8`` arrays and ``[-1, 1]`` tensors lives here, so
the convention in `vton.types` is written once.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from vton.types import NUM_GROUPS, DensePoseEncoding, Pair, check_image, check_mask, cihp_to_groups


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8 (H, W, 3)`` -> float ``(3, H, W)`` in ``[-1, 1]``."""
    check_image(image)
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """float ``(3, H, W)`` or ``(1, 3, H, W)`` in ``[-1, 1]`` -> ``uint8 (H, W, 3)``."""
    if tensor.ndim == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected an image tensor (3, H, W), got {tuple(tensor.shape)}")
    t = tensor.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return t.to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def mask_to_tensor(mask: np.ndarray) -> torch.Tensor:
    """``uint8 (H, W)`` in {0, 1} -> float ``(1, H, W)`` in {0, 1}."""
    check_mask(mask)
    return torch.from_numpy(np.ascontiguousarray(mask)).float()[None]


def tensor_to_mask(tensor: torch.Tensor) -> np.ndarray:
    """float ``(1, H, W)`` or ``(H, W)`` -> ``uint8 (H, W)`` thresholded at 0.5."""
    t = tensor.detach().float().squeeze()
    if t.ndim != 2:
        raise ValueError(f"expected a mask tensor (1, H, W), got {tuple(tensor.shape)}")
    return (t > 0.5).to(torch.uint8).cpu().numpy()


def densepose_to_tensor(iuv: np.ndarray, encoding: DensePoseEncoding | str = DensePoseEncoding.IUV) -> torch.Tensor:
    """IUV ``uint8 (H, W, 3)`` -> float ``(3, H, W)`` in ``[-1, 1]``, in the encoding a warper was trained on.

    * ``IUV``: I / 24, U / 255, V / 255, each rescaled to ``[-1, 1]``.
    * ``DP_SEGM``: the dp_segm colour render of the part map I
      (`vton.preprocess.densepose.render_dp_segm`), ``rgb / 127.5 - 1`` as HR-VITON reads
      VITON-HD's ``image-densepose`` (black background -> -1). U and V play no part.
    """
    check_image(iuv, "densepose")
    encoding = DensePoseEncoding(encoding)
    if encoding is DensePoseEncoding.DP_SEGM:
        from vton.preprocess.densepose import render_dp_segm

        return image_to_tensor(render_dp_segm(np.ascontiguousarray(iuv[..., 0])))
    t = torch.from_numpy(np.ascontiguousarray(iuv)).permute(2, 0, 1).float()
    scale = torch.tensor([24.0, 255.0, 255.0]).view(3, 1, 1)
    return (t / scale).clamp(0, 1) * 2 - 1


def labels_to_tensor(labels: np.ndarray) -> torch.Tensor:
    """Label map ``uint8 (H, W)`` -> float ``(1, H, W)`` holding the label values."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"expected a label map (H, W), got shape {labels.shape}")
    return torch.from_numpy(np.ascontiguousarray(labels)).float()[None]


def groups_one_hot(parse_cihp: np.ndarray) -> torch.Tensor:
    """CIHP labels ``uint8 (H, W)`` -> HR-VITON groups one-hot float ``(13, H, W)``."""
    groups = torch.from_numpy(cihp_to_groups(parse_cihp).astype(np.int64))
    return F.one_hot(groups, NUM_GROUPS).permute(2, 0, 1).float()


@dataclass
class TryOnBatch:
    """A batch of try-on examples as model tensors (shapes for batch size B).

    Optional fields are ``None`` when the data has no ground truth.
    """

    person: torch.Tensor  # (B, 3, H, W) [-1, 1], the ground-truth try-on in paired data
    cloth: torch.Tensor  # (B, 3, H, W) [-1, 1]
    cloth_mask: torch.Tensor  # (B, 1, H, W) {0, 1}
    densepose: torch.Tensor  # (B, 3, H, W) [-1, 1] in the encoding asked for, see `densepose_to_tensor`
    parse_agnostic: torch.Tensor  # (B, 13, H, W) one-hot groups
    parse: torch.Tensor  # (B, 13, H, W) one-hot groups of the full parse (segmentation target)
    agnostic: torch.Tensor  # (B, 3, H, W) [-1, 1]
    agnostic_mask: torch.Tensor  # (B, 1, H, W) {0, 1}
    parse_agnostic_labels: torch.Tensor  # (B, 1, H, W) float, CIHP label values 0..19 of the parse-agnostic
    gt_flow: torch.Tensor | None = None  # (B, 2, H, W) normalized offsets
    gt_warped_cloth: torch.Tensor | None = None  # (B, 3, H, W) [-1, 1]
    gt_warped_mask: torch.Tensor | None = None  # (B, 1, H, W) {0, 1}

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.person.shape[-2:])

    def __len__(self) -> int:
        return self.person.shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "TryOnBatch":
        def move(t):
            if t is None:
                return None
            return t.to(device=device, dtype=dtype) if dtype is not None and t.is_floating_point() else t.to(device)

        return TryOnBatch(**{f.name: move(getattr(self, f.name)) for f in fields(self)})


def pair_to_tensors(pair: Pair, densepose_encoding: DensePoseEncoding | str = DensePoseEncoding.IUV) -> dict[str, torch.Tensor]:
    """One `Pair` -> a dict of unbatched tensors keyed like `TryOnBatch` fields (ground truth when present).

    ``densepose_encoding``: the encoding of the ``densepose`` tensor (the one the warper was trained on),
    whatever encoding the person's DensePose image came in.
    """
    p, c, gt = pair.person, pair.cloth, pair.truth
    out = {
        "person": image_to_tensor(p.image),
        "cloth": image_to_tensor(c.image),
        "cloth_mask": mask_to_tensor(c.mask),
        "densepose": densepose_to_tensor(p.densepose, densepose_encoding),
        "parse_agnostic": groups_one_hot(p.parse_agnostic),
        "parse": groups_one_hot(p.parse),
        "agnostic": image_to_tensor(p.agnostic),
        "agnostic_mask": mask_to_tensor(p.agnostic_mask),
        "parse_agnostic_labels": labels_to_tensor(p.parse_agnostic),
    }
    if gt.flow is not None:
        out["gt_flow"] = torch.from_numpy(np.ascontiguousarray(gt.flow, dtype=np.float32))
    if gt.warped_cloth is not None:
        out["gt_warped_cloth"] = image_to_tensor(gt.warped_cloth)
    if gt.warped_mask is not None:
        out["gt_warped_mask"] = mask_to_tensor(gt.warped_mask)
    return out


def collate(items: list[dict[str, torch.Tensor]]) -> TryOnBatch:
    """Stack `pair_to_tensors` dicts into a `TryOnBatch` (use as a DataLoader ``collate_fn``).

    A ground-truth field is kept only when every item has it.
    """
    names = [f.name for f in fields(TryOnBatch)]
    stacked = {}
    for name in names:
        values = [it.get(name) for it in items]
        stacked[name] = torch.stack(values) if all(v is not None for v in values) else None
    return TryOnBatch(**stacked)


def pairs_to_batch(pairs: list[Pair], densepose_encoding: DensePoseEncoding | str = DensePoseEncoding.IUV) -> TryOnBatch:
    """Several `Pair` s of one size -> a `TryOnBatch` (``densepose`` in ``densepose_encoding``)."""
    return collate([pair_to_tensors(p, densepose_encoding) for p in pairs])
