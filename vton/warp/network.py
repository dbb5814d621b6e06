"""FlowWarpNet: HR-VITON's condition generator, cleaned up.

Two encoders (cloth + cloth mask; DensePose + parse-agnostic one-hot) build
feature pyramids over ``num_levels`` levels (level ``i`` is at ``1 / 2**(i+1)`` of
the input). From the coarsest level up, a flow path and a segmentation path run
side by side and feed each other:

1. flow path: the cloth pyramid (fused top-down, FPN style) is warped by the
   upsampled coarser flow; a small head predicts a *residual* flow from the
   warped cloth features, the body features and the segmentation features;
2. segmentation path: a decoder over the body features and the cloth encoder
   features warped by the new flow, ending at input resolution in a head over
   HR-VITON's 13 groups (`vton.types.Group`).

The finest flow (at half resolution) is upsampled to warp the input cloth; its
warped mask is then *aligned* with the predicted segmentation (occlusion
handling): the probability of hair, face and arms is removed from it, since
those lie in front of the garment.

Flows follow the convention of `vton.warp.ops`: normalized sampling offsets,
``(B, 2, h, w)``, ``warped(p) = cloth(p + flow(p))``, so upsampling a flow needs no
rescaling (HR-VITON's pixel-unit flows needed a different divisor per scale).
Unlike the original, any batch size and any ``H, W`` divisible by
``2**num_levels`` work, square or not.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from vton.errors import InputError
from vton.nn.statedict import check_folder_weights
from vton.types import NUM_GROUPS, Cloth, DensePoseEncoding, Group, Pair, Person, Size
from vton.warp.ops import apply_flow, resize_flow

OCCLUDING_GROUPS: tuple[Group, ...] = (Group.HAIR, Group.FACE, Group.LEFT_ARM, Group.RIGHT_ARM)
"""Parse groups that lie in front of an upper garment; removed from the warped mask."""

BACKGROUND_VALUE = 1.0
"""What the aligned cloth shows outside its mask: white in ``[-1, 1]`` (VITON-HD cloth photos are on white)."""


# ----------------------------------------------------------------------------- output


@dataclass
class WarpOutput:
    """What `FlowWarpNet` returns, for an input ``(B, *, H, W)`` and ``L`` levels."""

    flows: list[torch.Tensor]  # L tensors (B, 2, H/2**(L-k), W/2**(L-k)), coarse -> fine, normalized offsets
    warped_cloth: torch.Tensor  # (B, 3, H, W) [-1, 1], cloth warped by the upsampled finest flow
    warped_mask: torch.Tensor  # (B, 1, H, W) [0, 1], cloth mask warped likewise (soft at edges)
    seg_logits: torch.Tensor  # (B, 13, H, W) logits over HR-VITON groups
    aligned_mask: torch.Tensor  # (B, 1, H, W) [0, 1], warped mask minus P(hair, face, arms)
    aligned_cloth: torch.Tensor  # (B, 3, H, W) [-1, 1], warped cloth inside aligned_mask, white outside

    @property
    def flow(self) -> torch.Tensor:
        """The finest flow ``(B, 2, H/2, W/2)``."""
        return self.flows[-1]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.warped_cloth.shape[-2:])

    def full_flow(self, size: tuple[int, int] | None = None) -> torch.Tensor:
        """The finest flow resized to ``size`` (default: input resolution), ``(B, 2, H, W)``."""
        return resize_flow(self.flow, size or self.size)

    def aligned_seg(self) -> torch.Tensor:
        """Segmentation probabilities ``(B, 13, H, W)`` with the upper-garment channel limited to the warped mask
        (HR-VITON's condition aligning); the removed probability goes to background."""
        probs = self.seg_logits.softmax(dim=1)
        upper = probs[:, Group.UPPER : Group.UPPER + 1]
        kept = upper * self.warped_mask
        probs = probs.clone()
        probs[:, Group.UPPER : Group.UPPER + 1] = kept
        probs[:, Group.BACKGROUND : Group.BACKGROUND + 1] += upper - kept
        return probs


def occlusion_aligned(
    warped_cloth: torch.Tensor, warped_mask: torch.Tensor, seg_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove the predicted occluders (hair, face, arms) from a warped cloth and mask.

    Returns ``(aligned_cloth, aligned_mask)``: ``mask * (1 - P(occluders))`` and the
    cloth composited on white with it.
    """
    probs = seg_logits.softmax(dim=1)
    occluders = probs[:, [int(g) for g in OCCLUDING_GROUPS]].sum(dim=1, keepdim=True)
    mask = warped_mask * (1 - occluders)
    cloth = warped_cloth * mask + BACKGROUND_VALUE * (1 - mask)
    return cloth, mask


def warp_full_resolution(out: WarpOutput, image: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Warp a higher-resolution image (e.g. the 1024x768 cloth) with the network's finest flow.

    Args:
        out: a `WarpOutput` computed at any resolution of the same aspect ratio.
        image: ``(B, C, H', W')``; pass the cloth mask with ``padding_mode="zeros"``.

    Returns:
        ``(B, C, H', W')``.
    """
    return apply_flow(image, out.flow, padding_mode=padding_mode, size=tuple(image.shape[-2:]))


@torch.no_grad()
def warp_pair(net, person: Person, cloth: Cloth, *, size: Size | None = None,
              device: torch.device | str = "cpu") -> WarpOutput:
    """The warp stage on preprocessed numpy results: run a warper on one person and one cloth.

    Args:
        net: any warper (`FlowWarpNet` or a port: ``warp(batch)``, ``multiple``, ``densepose_encoding``;
            its device and dtype are used as they are after ``.to(device)``). Its DensePose input is
            built in its own ``densepose_encoding``, whichever encoding the person's came in.
        person, cloth: `vton.types.Person` and `vton.types.Cloth`, of any (equal or not) sizes.
        size: ``(H, W)`` the network runs at (divisible by ``net.multiple``); default: the person's size.

    Returns:
        A `WarpOutput` for a batch of 1 at ``size``. Use `warp_full_resolution` for a sharper
        cloth at the photo's resolution.
    """
    from vton.tensors import collate, pair_to_tensors

    size = tuple(size or person.size)
    if size[0] % net.multiple or size[1] % net.multiple:
        raise InputError(f"the warp network needs H and W divisible by {net.multiple}, got {size[0]}x{size[1]}")
    smooth = {"person", "cloth", "agnostic"}  # images; the other tensors are masks and labels

    def fit(name: str, t: torch.Tensor) -> torch.Tensor:
        if tuple(t.shape[-2:]) == size:
            return t
        if name in smooth:
            return F.interpolate(t[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
        return F.interpolate(t[None], size=size, mode="nearest-exact")[0]

    tensors = pair_to_tensors(Pair(name="", cloth_name="", person=person, cloth=cloth), net.densepose_encoding)
    batch = collate([{k: fit(k, v) for k, v in tensors.items() if not k.startswith("gt_")}])
    dtype = next((p.dtype for p in net.parameters()), torch.float32)
    net.eval()
    return net.warp(batch.to(device, dtype))


# ----------------------------------------------------------------------------- blocks


def _up(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _norm(channels: int) -> nn.GroupNorm:
    """Per-sample normalisation (batch-size independent, unlike HR-VITON's BatchNorm)."""
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)


class ResBlock(nn.Module):
    """A residual block that halves (``"down"``), keeps (``"same"``) or doubles (``"up"``) the resolution."""

    def __init__(self, in_channels: int, out_channels: int, scale: str):
        super().__init__()
        if scale == "down":
            self.scale = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        elif scale == "same":
            self.scale = nn.Conv2d(in_channels, out_channels, 1)
        elif scale == "up":
            self.scale = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(in_channels, out_channels, 1))
        else:
            raise ValueError(f"scale must be 'down', 'same' or 'up', got {scale!r}")
        self.block = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            _norm(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            _norm(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scale(x)
        return F.relu(x + self.block(x))


class FlowHead(nn.Module):
    """Features -> a 2-channel flow (residual), zero-initialised so training starts from the identity warp."""

    def __init__(self, in_channels: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, 2, 3, padding=1)
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ----------------------------------------------------------------------------- the model


class FlowWarpNet(ModelMixin, ConfigMixin):
    """Multi-scale flow warping network with a segmentation head (see the module docstring).

    Args:
        cloth_channels: cloth encoder input, RGB cloth + mask (4).
        body_channels: body encoder input, DensePose IUV (3) + parse-agnostic one-hot (13).
        num_classes: segmentation classes, HR-VITON's 13 groups.
        base_channels: width of the first level; level ``i`` has ``base * channel_mults[i]``.
        num_levels: pyramid levels (flows at ``1/2**num_levels`` .. ``1/2`` of the input);
            H and W must be divisible by ``2**num_levels``.
        channel_mults: one multiplier per level (default ``1, 2, 4, 8, 8, ...``). The default
            model (widths 8..64, 1.1M parameters, ~3.6 GFLOP forward+backward per 256x192
            sample) trains on two CPU cores; use ``base_channels=16`` or more on a GPU.
        flow_hidden: hidden width of the residual flow heads.

    Example:
        >>> net = FlowWarpNet()
        >>> out = net(torch.rand(2, 3, 256, 192), torch.ones(2, 1, 256, 192),
        ...           torch.rand(2, 3, 256, 192), torch.rand(2, 13, 256, 192))
        >>> [tuple(f.shape) for f in out.flows][-1], tuple(out.seg_logits.shape)
        ((2, 2, 128, 96), (2, 13, 256, 192))
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        cloth_channels: int = 4,
        body_channels: int = 16,
        num_classes: int = NUM_GROUPS,
        base_channels: int = 8,
        num_levels: int = 5,
        channel_mults: tuple[int, ...] | None = None,
        flow_hidden: int = 32,
        working_size: tuple[int, int] | None = None,
        densepose_encoding: str = DensePoseEncoding.IUV.value,
    ):
        """``working_size`` ``(H, W)``: when set, inputs of another size are resized to it, the flows are
        predicted there, and the finest flow (normalized, so it needs no rescaling) warps the cloth
        at the input's resolution, as HR-VITON ran its condition generator at 256x192 for 1024x768.

        ``densepose_encoding``: the DensePose tensor the model was trained on, ``"iuv"`` or ``"dp_segm"``
        (`vton.types.DensePoseEncoding`; folders saved before this field existed were IUV).
        """
        super().__init__()
        try:
            DensePoseEncoding(getattr(densepose_encoding, "value", densepose_encoding))
        except ValueError:
            raise ValueError(f"densepose_encoding must be one of {[e.value for e in DensePoseEncoding]}, "
                             f"got {densepose_encoding!r}") from None
        if working_size is not None and (len(working_size) != 2 or any(int(v) % 2**num_levels for v in working_size)):
            raise ValueError(f"working_size must be (H, W) divisible by {2**num_levels}, got {working_size}")
        if channel_mults is None:
            channel_mults = tuple(min(2**i, 8) for i in range(num_levels))  # 1, 2, 4, 8, 8, ...
        if len(channel_mults) != num_levels or num_levels < 2:
            raise ValueError(f"need num_levels >= 2 and one channel multiplier per level, got "
                             f"num_levels={num_levels}, channel_mults={tuple(channel_mults)}")
        widths = [base_channels * m for m in channel_mults]
        top = widths[-1]
        hidden = flow_hidden
        levels = num_levels

        # 1. encoders: level i at 1 / 2**(i+1) of the input
        self.cloth_encoder = nn.ModuleList(
            ResBlock(cloth_channels if i == 0 else widths[i - 1], widths[i], "down") for i in range(levels)
        )
        self.body_encoder = nn.ModuleList(
            ResBlock(body_channels if i == 0 else widths[i - 1], widths[i], "down") for i in range(levels)
        )
        # 2. top-down pyramid fusion, levels 0..L-2: upsample, match the level's width, add the lateral
        self.cloth_lateral = nn.ModuleList(nn.Conv2d(widths[i], widths[i], 1) for i in range(levels - 1))
        self.body_lateral = nn.ModuleList(nn.Conv2d(widths[i], widths[i], 1) for i in range(levels - 1))
        self.cloth_reduce = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 1) for i in range(levels - 1))
        self.body_reduce = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 1) for i in range(levels - 1))
        # 3. flow heads, coarse -> fine: the first sees (cloth, body), the others (warped cloth, body, seg features)
        self.flow_heads = nn.ModuleList(
            [FlowHead(2 * top, hidden)] + [FlowHead(3 * widths[i], hidden) for i in reversed(range(levels - 1))]
        )
        self.seg_to_flow = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i], 3, padding=1), nn.ReLU(inplace=True))
            for i in reversed(range(levels - 1))
        )
        # 4. segmentation decoder, coarse -> fine, each step doubling the resolution
        self.seg_middle = ResBlock(top, 2 * top, "same")
        self.seg_decoder = nn.ModuleList(
            [ResBlock(2 * top, widths[-2], "up")]
            + [ResBlock(3 * widths[i], widths[max(i - 1, 0)], "up") for i in reversed(range(levels - 1))]
        )
        self.seg_head = nn.Sequential(
            ResBlock(widths[0] + cloth_channels + body_channels, widths[0], "same"), nn.Conv2d(widths[0], num_classes, 1)
        )

    # -- properties ---------------------------------------------------------------------------

    @property
    def num_levels(self) -> int:
        return self.config.num_levels

    @property
    def multiple(self) -> int:
        """Input height and width must be divisible by this (``2**num_levels``)."""
        return 2**self.num_levels

    @property
    def densepose_encoding(self) -> DensePoseEncoding:
        """The DensePose tensor this model takes (`vton.tensors.densepose_to_tensor` of that encoding)."""
        value = self.config.get("densepose_encoding", DensePoseEncoding.IUV.value)
        return DensePoseEncoding(getattr(value, "value", value))

    @property
    def origin(self) -> str:
        """Who trained it: ``"vton"`` (this project)."""
        return "vton"

    def describe(self) -> str:
        """One line for people: what the model is, what it takes, what it was trained at."""
        params = sum(p.numel() for p in self.parameters())
        work = self.config.working_size
        at = f", predicts at {int(work[0])}x{int(work[1])}" if work is not None else ""
        return (f"FlowWarpNet (trained with vton): {params / 1e6:.1f}M parameters, {self.num_levels} levels, "
                f"DensePose input {self.densepose_encoding.label}{at}")

    def warp(self, batch) -> WarpOutput:
        """The warper interface: `forward` on a `vton.tensors.TryOnBatch` whose ``densepose`` is in
        `densepose_encoding` (reads ``cloth``, ``cloth_mask``, ``densepose``, ``parse_agnostic``)."""
        return self(batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic)

    # -- input checks -------------------------------------------------------------------------

    def check_inputs(self, cloth, cloth_mask, densepose, parse_agnostic) -> None:
        """Raise `InputError` naming the expected and the given shape of the first wrong input."""
        if not isinstance(cloth, torch.Tensor) or cloth.ndim != 4:
            got = tuple(cloth.shape) if isinstance(cloth, torch.Tensor) else type(cloth).__name__
            raise InputError(f"cloth must be a (B, 3, H, W) tensor, got {got}")
        b, _, h, w = cloth.shape
        m = self.multiple
        if h % m or w % m or h == 0 or w == 0:
            raise InputError(f"FlowWarpNet needs H and W divisible by {m} ({self.num_levels} levels), got {h}x{w}")
        body_parse = self.config.body_channels - 3
        expected = {
            "cloth": (cloth, (b, self.config.cloth_channels - 1, h, w)),
            "cloth_mask": (cloth_mask, (b, 1, h, w)),
            "densepose": (densepose, (b, 3, h, w)),
            "parse_agnostic": (parse_agnostic, (b, body_parse, h, w)),
        }
        for name, (t, shape) in expected.items():
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            if got != shape:
                raise InputError(f"{name} must have shape {shape} (B, C, H, W) to match the cloth, got {got}")

    # -- forward ------------------------------------------------------------------------------

    def forward(
        self, cloth: torch.Tensor, cloth_mask: torch.Tensor, densepose: torch.Tensor, parse_agnostic: torch.Tensor
    ) -> WarpOutput:
        """Warp ``cloth`` onto the body described by ``densepose`` and ``parse_agnostic``.

        Args:
            cloth: ``(B, 3, H, W)`` in ``[-1, 1]``.
            cloth_mask: ``(B, 1, H, W)`` in ``{0, 1}``.
            densepose: ``(B, 3, H, W)`` in ``[-1, 1]`` (`vton.tensors.densepose_to_tensor`).
            parse_agnostic: ``(B, 13, H, W)`` one-hot groups.
        """
        work = self.config.working_size
        if work is not None and tuple(cloth.shape[-2:]) != tuple(work):
            return self._forward_resized(cloth, cloth_mask, densepose, parse_agnostic, (int(work[0]), int(work[1])))
        self.check_inputs(cloth, cloth_mask, densepose, parse_agnostic)
        cloth_in = torch.cat([cloth, cloth_mask], dim=1)
        body_in = torch.cat([densepose, parse_agnostic], dim=1)
        levels = self.num_levels

        # 1. feature pyramids
        cloth_feats, body_feats = [], []
        c, p = cloth_in, body_in
        for cloth_block, body_block in zip(self.cloth_encoder, self.body_encoder):
            c, p = cloth_block(c), body_block(p)
            cloth_feats.append(c)
            body_feats.append(p)

        # 2. coarsest level: the first flow and the start of the segmentation path
        t_cloth, t_body = cloth_feats[-1], body_feats[-1]
        flow = self.flow_heads[0](torch.cat([t_cloth, t_body], dim=1))
        flows = [flow]
        x = self.seg_decoder[0](self.seg_middle(t_body))

        # 3. coarse -> fine: residual flow refinement fused with the segmentation path
        for k, i in enumerate(reversed(range(levels - 1)), start=1):
            size = tuple(cloth_feats[i].shape[-2:])
            t_cloth = self.cloth_reduce[i](_up(t_cloth, size)) + self.cloth_lateral[i](cloth_feats[i])
            t_body = self.body_reduce[i](_up(t_body, size)) + self.body_lateral[i](body_feats[i])
            flow = resize_flow(flow, size)
            warped_t = apply_flow(t_cloth, flow)
            flow = flow + self.flow_heads[k](torch.cat([warped_t, t_body, self.seg_to_flow[k - 1](x)], dim=1))
            flows.append(flow)
            warped_feats = apply_flow(cloth_feats[i], flow)
            x = self.seg_decoder[k](torch.cat([x, body_feats[i], warped_feats], dim=1))

        # 4. warp the input cloth at full resolution with the upsampled finest flow
        size = tuple(cloth.shape[-2:])
        warped_cloth = apply_flow(cloth, flow, size=size, padding_mode="border")
        warped_mask = apply_flow(cloth_mask, flow, size=size, padding_mode="zeros")

        # 5. segmentation at full resolution, then occlusion handling
        seg_logits = self.seg_head(torch.cat([x, body_in, warped_cloth, warped_mask], dim=1))
        aligned_cloth, aligned_mask = occlusion_aligned(warped_cloth, warped_mask, seg_logits)
        return WarpOutput(flows, warped_cloth, warped_mask, seg_logits, aligned_mask, aligned_cloth)

    def _forward_resized(self, cloth, cloth_mask, densepose, parse_agnostic, work: Size) -> WarpOutput:
        """Predict at ``work`` (H, W), then warp and segment at the inputs' own size."""
        if not all(isinstance(t, torch.Tensor) and t.ndim == 4 for t in (cloth, cloth_mask, densepose, parse_agnostic)):
            raise InputError("FlowWarpNet inputs must be (B, C, H, W) tensors")
        size = tuple(cloth.shape[-2:])
        shapes = {tuple(t.shape[-2:]) for t in (cloth_mask, densepose, parse_agnostic)} | {size}
        if len(shapes) != 1:
            raise InputError(f"cloth, cloth_mask, densepose and parse_agnostic must share one (H, W), got {sorted(shapes)}")
        smooth = lambda t: F.interpolate(t, size=work, mode="bilinear", align_corners=False, antialias=True)  # noqa: E731
        labels = lambda t: F.interpolate(t, size=work, mode="nearest-exact")  # noqa: E731
        small = self.forward(smooth(cloth), smooth(cloth_mask), labels(densepose), labels(parse_agnostic))
        warped_cloth = apply_flow(cloth, small.flows[-1], size=size, padding_mode="border")
        warped_mask = apply_flow(cloth_mask, small.flows[-1], size=size, padding_mode="zeros")
        seg_logits = F.interpolate(small.seg_logits, size=size, mode="bilinear", align_corners=False)
        aligned_cloth, aligned_mask = occlusion_aligned(warped_cloth, warped_mask, seg_logits)
        return WarpOutput(small.flows, warped_cloth, warped_mask, seg_logits, aligned_mask, aligned_cloth)

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, **kwargs) -> "FlowWarpNet":
        """Load a model folder (``config.json`` + safetensors) written by ``save_pretrained``.

        Only local folders; weights must match the config exactly.

        Raises:
            InputError: the folder is missing, has no config or weights, or its weights
                do not fit the config (the message names the first mismatch).
        """
        path = Path(folder)
        if not path.is_dir():
            raise InputError(f"warp model folder not found: {path}")
        if not (path / cls.config_name).is_file():
            raise InputError(f"{path} is not a FlowWarpNet folder: it has no {cls.config_name}")
        if not any(path.glob("*.safetensors")):
            raise InputError(f"{path} has a config but no .safetensors weights")
        kwargs.setdefault("low_cpu_mem_usage", False)
        try:
            kwargs.setdefault("local_files_only", True)
            model = super().from_pretrained(str(path), **kwargs)
        except InputError:
            raise
        except (ValueError, RuntimeError, OSError, TypeError, KeyError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"cannot load the warp model in {path}: its weights do not match its config ({first})") from e
        check_folder_weights(model, path)
        return model
