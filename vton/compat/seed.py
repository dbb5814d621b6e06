"""The seed's release (DCI-VITON-style, `DanMenCas/DCI-VITON`), ported: its warper, its UNet, its sampler.

Three *ports* reproduce the originals number for number, with the originals' state-dict keys and shapes,
so the released ``.pth`` files load as they are (`from_checkpoint`, ``torch.load(weights_only=True)``):

- `SeedWarpingProcess`: ``warpingnetwork.py``'s ``WarpingProcess(oc)``, ``(input_1, input_2) ->
  (warped_c, warped_cm, flow_list)`` in the seed's own conventions (inputs in ``[0, 1]``, flows
  ``(N, h, w, 2)`` offsets from its ``linspace(-1, 1)`` grid);
- `SeedUNet`: ``diffusionmodel.py``'s ``UNet(in, out, hidden_channels, time_emb_dim)``, ``(x, t) -> eps``;
- `SeedScheduler`: the 200-step loop of ``viton_pipeline.py`` as a diffusers scheduler.

Two *adapters* put the ports behind our interfaces (`vton.registry`): `SeedWarper` (``warp(batch) ->
WarpOutput``, our flow convention) and `SeedDenoiser` (``forward(sample, t)`` with our ``{0, 1}`` mask);
both are diffusers ``ModelMixin`` + ``ConfigMixin`` folders (``config.json`` + safetensors).
`convert_seed` writes the seed's whole release, with a local Stable Diffusion VAE, as one pipeline folder.

The released files: ``WarpingProcess(96)`` (71.5 M parameters) and ``UNet(9, 4)`` with
``hidden_channels=64, time_emb_dim=256`` (737.7 M), each saved as
``torch.save({"model_state_dict": ..., "optimizer_state_dict": ...})``.
"""
from __future__ import annotations

import json
import math
import operator
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from einops import rearrange

from vton.errors import InputError
from vton.nn.gemmconv import GemmConv2d, GemmConvTranspose2d
from vton.nn.statedict import check_folder_weights, layout_mismatch
from vton.types import VAE_FACTOR
from vton.warp.network import WarpOutput
from vton.warp.ops import apply_flow, identity_grid, resize_flow

WARP_SIZE: tuple[int, int] = (256, 256)
"""``(H, W)`` the seed's warper sees: every input is squashed to it (``WarpingCloth((256, 256))``)."""

CANVAS_SIZE: tuple[int, int] = (512, 512)
"""``(H, W)`` the seed's UNet works at: the composite is squashed to it before the VAE (64x64 latents)."""

LATENT_SCALE = 0.18215
"""The seed multiplies VAE latents by this, whatever the VAE's config says (Stable Diffusion 1.5's factor)."""

LABEL_SCALE = 15.0 / 255.0
"""The seed's parse map input: CIHP label values as ``uint8 / 255`` (``ToTensor``), times 15."""

DENSEPOSE_ALPHA = 0.7
"""detectron2's ``DensePoseResultsFineSegmentationVisualizer`` blends its colormap at this alpha over the image
(the seed draws over black, then min-max normalises the result)."""


def _up2(x: torch.Tensor) -> torch.Tensor:
    """The seed's ``F.interpolate(x, scale_factor=2, mode="bilinear")`` (``align_corners=False``)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------- reading the seed's .pth files


def _load_pth(path: str | os.PathLike, what: str) -> object:
    """``torch.load(path, weights_only=True)`` with every failure as one `InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}" + (" (it is a folder; give the .pth file)" if path.is_dir() else "")
                         + f"; expected {what}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on odd pickle protocols: the error below says enough
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled objects weights_only refuses, ...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(f"{path} is not a readable PyTorch checkpoint of tensors (torch.load(weights_only=True) "
                         f"failed: {first}); expected {what}") from None


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _recognise(state: dict[str, torch.Tensor]) -> str | None:
    """Which model a state dict belongs to, by its characteristic keys (None: not one we know)."""
    keys = set(state)
    if {"clothingencoder.resnet1.scale.weight", "posencoder.resnet1.scale.weight"} <= keys:
        return "warper"
    if {"upfeature.conv.weight", "time_mlp.1.weight"} <= keys:
        return "unet"
    if any(k.startswith(("ClothEncoder.", "PoseEncoder.", "flow_conv.")) for k in keys):
        return "hrviton"
    if any(k.startswith(("cloth_encoder.", "body_encoder.")) for k in keys):
        return "flowwarpnet"
    return None


_FOUND = {
    "warper": "the seed's warper weights (WarpingProcess)",
    "unet": "the seed's UNet weights (UNet(9, 4))",
    "hrviton": "HR-VITON's condition generator weights (e.g. mtviton.pth; convert it with `convert hrviton`)",
    "flowwarpnet": "a vton FlowWarpNet state dict",
}


def _describe(obj) -> str:
    """What a loaded checkpoint holds, in a few words, for error messages."""
    if _is_state_dict(obj):
        kind = _recognise(obj)
        keys = list(obj)[:2]
        return f"a plain state dict of {len(obj)} tensors: {_FOUND[kind] if kind else f'keys like {keys}'}"
    if isinstance(obj, dict):
        inner = obj.get("model_state_dict")
        if _is_state_dict(inner):
            kind = _recognise(inner)
            what = _FOUND[kind] if kind else f"{len(inner)} tensors with keys like {list(inner)[:2]}"
            return f"a dict with model_state_dict holding {what}"
        return f"a dict with keys {sorted(map(str, obj))[:6]}"
    return f"a {type(obj).__name__}"


def read_seed_state_dict(path: str | os.PathLike, kind: str) -> dict[str, torch.Tensor]:
    """The model weights of one of the seed's ``.pth`` files, checked to be of the ``kind`` asked for.

    The seed saves ``{"model_state_dict": ..., "optimizer_state_dict": ...}``; the optimizer state is
    ignored. A plain state dict of the same model is accepted too.

    Args:
        path: the ``.pth`` file.
        kind: ``"warper"`` (``WarpingProcess``) or ``"unet"`` (``UNet``).

    Raises:
        InputError: missing, truncated or unreadable file, or the weights of another model; the
            message says what was expected and what was found.
    """
    expected = {
        "warper": "the seed's warper checkpoint: torch.save({'model_state_dict': WarpingProcess weights (keys like "
                  "'clothingencoder.resnet1.scale.weight'), 'optimizer_state_dict': ...})",
        "unet": "the seed's UNet checkpoint: torch.save({'model_state_dict': UNet weights (keys like "
                "'upfeature.conv.weight', 'time_mlp.1.weight'), 'optimizer_state_dict': ...})",
    }[kind]
    obj = _load_pth(path, expected)
    state = obj.get("model_state_dict") if isinstance(obj, dict) and "model_state_dict" in obj else obj
    if not _is_state_dict(state) or _recognise(state) != kind:
        raise InputError(f"{path} is not {expected}; it holds {_describe(obj)}")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _build_loaded(cls, kwargs: dict, state: dict[str, torch.Tensor], path, what: str):
    """``cls(**kwargs)`` holding ``state`` exactly, without a random initialisation first (a 738 M model)."""
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero-sized SE layers at small widths warn on init
        model = cls(**kwargs)
    found = {k: tuple(v.shape) for k, v in state.items()}
    if (problem := layout_mismatch({k: tuple(v.shape) for k, v in model.state_dict().items()}, found)) is not None:
        raise InputError(f"{path} does not hold {what}: its tensors do not fit ({problem})")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


# ----------------------------------------------------------------------------- the warper port


def seed_grid(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The seed's base sampling grid ``(1, H, W, 2)``: ``x = linspace(-1, 1, W)``, ``y = linspace(-1, 1, H)``.

    Its ``make_grid(N, iW, iH)`` is called with ``(H, W)`` in the ``(iW, iH)`` slots, which only works for
    square inputs (anything else fails to broadcast); for squares this grid is the same. Its flows are
    offsets from this grid, read by ``grid_sample(align_corners=False)``, so the absolute sampling location
    of pixel ``j`` is ``-1 + 2 j / (W - 1) + flow`` (not our pixel centre ``(2 j + 1) / W - 1``).
    """
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1)[None]


def _normalise_pixel_flow(flow: torch.Tensor) -> torch.Tensor:
    """The seed's ``flow_norm``: a raw ``(N, 2, h, w)`` flow in pixels -> ``(N, h, w, 2)`` in its grid units."""
    h, w = flow.shape[-2:]
    scale = torch.tensor([(w - 1.0) / 2.0, (h - 1.0) / 2.0], device=flow.device, dtype=flow.dtype)
    return rearrange(flow, "n two h w -> n h w two") / scale


def _seed_warp(x: torch.Tensor, flow_norm: torch.Tensor) -> torch.Tensor:
    """``grid_sample`` of ``x`` at the seed's grid plus ``flow_norm`` (border padding), as the seed warps."""
    grid = seed_grid(*x.shape[-2:], device=x.device, dtype=x.dtype) + flow_norm
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class _ResBlock(nn.Module):
    """The seed's ``ResNetEncoderBlock``: rescale (stride-2 conv, 1x1 conv, or bilinear x2 + conv), then two 3x3
    convs with instance norm (no affine parameters) and a residual ReLU."""

    def __init__(self, in_channels: int, out_channels: int, scale: str = "down"):
        super().__init__()
        if scale == "down":
            self.scale = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        elif scale == "up":
            self.scale = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(in_channels, out_channels, 3, padding=1)
            )
        else:
            self.scale = nn.Conv2d(in_channels, out_channels, 1)
        self.norm = nn.InstanceNorm2d(out_channels)  # no parameters; the original shares one for both convs
        self.conv_1 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.scale(x)
        x = F.relu(self.norm(self.conv_1(residual)))
        return F.relu(self.norm(self.conv_2(x)) + residual)


class _Encoder(nn.Module):
    """Five stride-2 blocks (widths ``oc, 2oc, 4oc, 4oc, 4oc``, at 1/2 .. 1/32); the pose encoder adds a 1x1
    block to ``8oc`` and an up block back to ``4oc`` at 1/16. Returns every block's output."""

    def __init__(self, in_channels: int, oc: int, pose: bool):
        super().__init__()
        widths = [in_channels, oc, 2 * oc, 4 * oc, 4 * oc, 4 * oc]
        blocks = [_ResBlock(widths[i], widths[i + 1], "down") for i in range(5)]
        if pose:
            blocks += [_ResBlock(4 * oc, 8 * oc, "same"), _ResBlock(8 * oc, 4 * oc, "up")]
        for i, block in enumerate(blocks, start=1):
            self.add_module(f"resnet{i}", block)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.children():
            x = block(x)
            feats.append(x)
        return feats


class SeedWarpingProcess(nn.Module):
    """The seed's warper (``WarpingProcess(oc)``), number for number, in its own conventions.

    A cloth encoder (cloth + mask) and a pose encoder (DensePose + parse map) build pyramids at 1/2 .. 1/32.
    A first flow comes from the two 1/32 features; four refinements (1/16 .. 1/2) each upsample the flow
    (bilinear, x2, its values in pixels *not* rescaled), warp an FPN-fused cloth feature with it, and add a
    residual from the warped feature and a pose-path feature; a fifth upsampling warps the input itself.

    Conventions (the seed's, kept): inputs in ``[0, 1]``; flows are offsets from `seed_grid` in normalised
    units, ``(N, h, w, 2)``, at 1/16, 1/8, 1/4, 1/2 and 1/1 of the input; warping uses
    ``grid_sample(padding_mode="border", align_corners=False)``. `seed_flow_to_ours` converts a flow.
    Unlike the original, no ``device`` argument, and non-square inputs get the grid its ``make_grid`` meant
    (the original fails on them). H and W must be divisible by 32.

    Args:
        base_channels: the original's ``oc`` (96 in the release).

    Example:
        >>> net = SeedWarpingProcess(8)
        >>> warped_c, warped_cm, flows = net(torch.rand(2, 4, 64, 64), torch.rand(2, 6, 64, 64))
        >>> tuple(warped_c.shape), [tuple(f.shape[1:3]) for f in flows]
        ((2, 3, 64, 64), [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)])
    """

    def __init__(self, base_channels: int = 96):
        super().__init__()
        oc = self.base_channels = int(base_channels)
        # registration order = the original's state-dict order
        self.conv_after_concat_1 = nn.Conv2d(8 * oc, 2, 3, padding=1)  # first flow, from [cloth, pose] at 1/32
        self.convs_clothing = nn.ModuleList(nn.Conv2d(c, 4 * oc, 1) for c in (4 * oc, 4 * oc, 2 * oc, oc))  # FPN laterals
        self.convs_segment = nn.ModuleList(nn.Conv2d(4 * oc, 4 * oc, 3, padding=1) for _ in range(4))
        self.conv_after_concat_2 = nn.ModuleList(nn.Conv2d(8 * oc, 2, 3, padding=1) for _ in range(4))  # residual flows
        self.convs_segment_after_concat = nn.ModuleList(
            _ResBlock(c, 4 * oc, "up") for c in (12 * oc, 12 * oc, 10 * oc, 9 * oc))  # the last one's output is unused
        self.clothingencoder = _Encoder(4, oc, pose=False)
        self.posencoder = _Encoder(6, oc, pose=True)

    def _check(self, input_1: torch.Tensor, input_2: torch.Tensor) -> None:
        if not (isinstance(input_1, torch.Tensor) and input_1.ndim == 4 and input_1.shape[1] == 4):
            raise InputError(f"input_1 must be (N, 4, H, W) (cloth RGB + mask), got {tuple(getattr(input_1, 'shape', ()))}")
        n, _, h, w = input_1.shape
        if not (isinstance(input_2, torch.Tensor) and tuple(input_2.shape) == (n, 6, h, w)):
            got = tuple(getattr(input_2, "shape", ()))
            raise InputError(f"input_2 must be ({n}, 6, {h}, {w}) (DensePose + parse map), got {got}")
        if h % 32 or w % 32 or h == 0 or w == 0:
            raise InputError(f"the seed's warper needs H and W divisible by 32, got {h}x{w}")

    def forward(self, input_1: torch.Tensor, input_2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Warp the cloth onto the pose.

        Args:
            input_1: ``(N, 4, H, W)``: cloth RGB in ``[0, 1]`` and cloth mask.
            input_2: ``(N, 6, H, W)``: the DensePose render in ``[0, 1]`` and the parse map (label / 255 * 15, x3).

        Returns:
            ``warped_c (N, 3, H, W)``, ``warped_cm (N, 1, H, W)`` and ``flow_list``: five ``(N, h, w, 2)``
            flows, coarse to fine, in the seed's grid units.
        """
        self._check(input_1, input_2)
        cloth = self.clothingencoder(input_1)  # 1/2 .. 1/32
        pose = self.posencoder(input_2)  # 1/2 .. 1/32, then 8oc at 1/32, then 4oc at 1/16

        # 1. the first flow (pixels at 1/32)
        flow = self.conv_after_concat_1(torch.cat([cloth[4], pose[4]], dim=1))
        cloth_up, pose_path, flow_list = cloth[4], pose[6], []

        # 2. four refinements, 1/16 .. 1/2
        for i in range(4):
            cloth_up = self.convs_clothing[i](cloth[3 - i]) + _up2(cloth_up)
            flow = _up2(flow)
            flow_norm = _normalise_pixel_flow(flow)
            warped = _seed_warp(cloth_up, flow_norm)
            flow_list.append(flow_norm)
            flow = flow + self.conv_after_concat_2[i](torch.cat([self.convs_segment[i](pose_path), warped], dim=1))
            if i < 3:  # the original also runs block 3, whose output nothing reads
                pose_path = self.convs_segment_after_concat[i](torch.cat([pose_path, warped, pose[3 - i]], dim=1))

        # 3. the finest flow, at the input's size, warps the input
        flow_norm = _normalise_pixel_flow(_up2(flow))
        warped = _seed_warp(input_1, flow_norm)
        flow_list.append(flow_norm)
        return warped[:, :-1], warped[:, -1:], flow_list

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "SeedWarpingProcess":
        """The port holding the weights of the seed's warper file, its width read from the file.

        Raises:
            InputError: unreadable or truncated file, or another model's weights (e.g. HR-VITON's, or the
                seed's UNet).
        """
        state = read_seed_state_dict(path, "warper")
        oc = int(state["clothingencoder.resnet1.scale.weight"].shape[0])
        return _build_loaded(cls, {"base_channels": oc}, state, path, f"the seed's WarpingProcess({oc})")


def seed_flow_to_ours(flow: torch.Tensor) -> torch.Tensor:
    """One of the seed's flows ``(N, h, w, 2)`` -> our normalised sampling offsets ``(N, 2, h, w)``.

    Exact: our offset = the seed's absolute sampling location (`seed_grid` + its flow) minus our identity
    grid (`vton.warp.ops.identity_grid`), both read by ``grid_sample(align_corners=False)``, so
    ``apply_flow(x, seed_flow_to_ours(f))`` samples ``x`` where the seed does.
    """
    if flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"a seed flow is (N, h, w, 2), got {tuple(flow.shape)}")
    n, h, w, _ = flow.shape
    absolute = seed_grid(h, w, device=flow.device, dtype=flow.dtype) + flow
    return rearrange(absolute - identity_grid(1, h, w, device=flow.device, dtype=flow.dtype), "n h w two -> n two h w")


# ----------------------------------------------------------------------------- the UNet port


class _TimeEmbedding(nn.Module):
    """The seed's ``SinusoidalPositionalEmbedding(dim)``: ``[sin(t f), cos(t f)]``,
    ``f = exp(-log(10000) k / (dim/2 - 1))``, in float32 (no parameters)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
        angles = t.float()[:, None] * freqs
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


class _AdaGroupNorm(nn.Module):
    """GroupNorm(8) without affine parameters, then ``x (1 + scale) + shift`` from the time embedding."""

    def __init__(self, channels: int, time_dim: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels, affine=False)
        self.time_proj = nn.Linear(time_dim, 2 * channels)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        scale, shift = rearrange(self.time_proj(temb), "b c -> b c 1 1").chunk(2, dim=1)
        return self.norm(x) * (1 + scale) + shift


class _SqueezeExcite(nn.Module):
    """Channel gates ``sigmoid(W2 relu(W1 mean(x)))``, bottleneck ``C // 16`` (0 at C < 16: every gate is 0.5)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = channels // reduction
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # hidden = 0 at small widths: "initializing zero-element tensors"
            self.fc = nn.Sequential(
                nn.Linear(channels, hidden, bias=False), nn.ReLU(inplace=True), nn.Linear(hidden, channels, bias=False),
                nn.Sigmoid(),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * rearrange(self.fc(x.mean(dim=(2, 3))), "b c -> b c 1 1")


class _DownBlock(nn.Module):
    """The seed's ``ContractingBlock``: two conv + AdaGN + SiLU, SE, a 1x1 residual, then a stride-2 conv."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int):
        super().__init__()
        self.conv1 = GemmConv2d(in_channels, out_channels, 3, padding=1)
        self.norm1 = _AdaGroupNorm(out_channels, time_dim)
        self.conv2 = GemmConv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = _AdaGroupNorm(out_channels, time_dim)
        self.residual_conv = GemmConv2d(in_channels, out_channels, 1)
        self.downsample = GemmConv2d(out_channels, out_channels, 3, stride=2, padding=1)
        self.se = _SqueezeExcite(out_channels)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        identity = self.residual_conv(x)
        x = F.silu(self.norm1(self.conv1(x), temb))
        x = F.silu(self.norm2(self.conv2(x), temb))
        return self.downsample(self.se(x) + identity)


class _UpBlock(nn.Module):
    """The seed's ``ExpandingBlock``: transposed conv x2 (nearest-resized to the skip if they differ), concat
    the skip, two conv + AdaGN + SiLU, SE, plus a 1x1 residual of the concatenation."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int):
        super().__init__()
        self.upsample = GemmConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv1 = GemmConv2d(2 * out_channels, out_channels, 3, padding=1)
        self.norm1 = _AdaGroupNorm(out_channels, time_dim)
        self.conv2 = GemmConv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = _AdaGroupNorm(out_channels, time_dim)
        self.residual_conv = GemmConv2d(in_channels, out_channels, 1)
        self.se = _SqueezeExcite(out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        x = self.upsample(x)
        if x.shape[-2:] != skip.shape[-2:]:
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        x = torch.cat([x, skip], dim=1)
        identity = self.residual_conv(x)
        x = F.silu(self.norm1(self.conv1(x), temb))
        x = F.silu(self.norm2(self.conv2(x), temb))
        return self.se(x) + identity


class _Conv1x1(nn.Module):
    """The seed's ``FeatureMapBlock`` (its key is ``.conv``)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SeedUNet(nn.Module):
    """The seed's denoising UNet (``UNet(in, out, hidden_channels, time_emb_dim)``), number for number.

    A 1x1 conv to ``hidden``; six down blocks doubling the width (``2h .. 64h``) and halving the size
    (each block downsamples at its end, so the skips are the block outputs); six up blocks back to
    ``hidden`` at full size; a 1x1 conv out. No attention. The time embedding (sinusoidal, then
    ``Linear(d, 4d) - SiLU - Linear(4d, d)``) drives every AdaGN. The original's inputs: ``x = [x_t,
    composite latent, agnostic mask in {-1, 1}]`` (9 channels for 4-channel latents), ``t (B,)`` long.

    Args:
        in_channels, out_channels: 9 and 4 in the release.
        hidden_channels: 64 in the release (a multiple of 8: GroupNorm(8)).
        time_emb_dim: 256 in the release.

    Example:
        >>> unet = SeedUNet(9, 4, hidden_channels=8, time_emb_dim=32)
        >>> unet(torch.randn(2, 9, 64, 64), torch.tensor([999, 10])).shape
        torch.Size([2, 4, 64, 64])
    """

    def __init__(self, in_channels: int = 9, out_channels: int = 4, hidden_channels: int = 64, time_emb_dim: int = 256):
        super().__init__()
        h, d = int(hidden_channels), int(time_emb_dim)
        if h % 8 or h <= 0:
            raise InputError(f"hidden_channels must be a positive multiple of 8 (GroupNorm(8)), got {h}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.hidden_channels, self.time_emb_dim = h, d
        self.time_mlp = nn.Sequential(_TimeEmbedding(d), nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d))
        self.upfeature = _Conv1x1(in_channels, h)
        widths = [h * 2**i for i in range(7)]  # h, 2h, ..., 64h
        for i in range(1, 7):
            self.add_module(f"contract{i}", _DownBlock(widths[i - 1], widths[i], d))
        for i in range(6):
            self.add_module(f"expand{i}", _UpBlock(widths[6 - i], widths[5 - i], d))
        self.downfeature = _Conv1x1(h, out_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """``x (B, in, h, w)``, ``t`` int or ``(B,)`` -> ``eps (B, out, h, w)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(f"the seed's UNet takes (B, {self.in_channels}, h, w), got {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(x.shape[0]) if t.ndim == 0 else t.reshape(-1)
        if t.shape[0] != x.shape[0]:
            raise InputError(f"got {t.shape[0]} timesteps for a batch of {x.shape[0]}")

        # 1. time embedding (sinusoids in float32, the MLP in the model's dtype)
        temb = self.time_mlp[1:](self.time_mlp[0](t).to(x.dtype))

        # 2. down: the skips are x0 (after the 1x1 conv) and each block's output
        skips = [self.upfeature(x)]
        for i in range(1, 7):
            skips.append(getattr(self, f"contract{i}")(skips[-1], temb))

        # 3. up: from the bottom (x6), popping x5 .. x0
        y = skips.pop()
        for i in range(6):
            y = getattr(self, f"expand{i}")(y, skips.pop(), temb)
        return self.downfeature(y)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "SeedUNet":
        """The port holding the weights of the seed's UNet file; widths and channels read from the file.

        Raises:
            InputError: unreadable or truncated file, or another model's weights (e.g. the seed's warper).
        """
        state = read_seed_state_dict(path, "unet")
        kwargs = unet_args_from_state_dict(state)
        if kwargs["hidden_channels"] % 8:
            raise InputError(f"{path}: hidden width {kwargs['hidden_channels']} is not a multiple of 8; not the seed's UNet")
        return _build_loaded(cls, kwargs, state, path, "the seed's UNet({in_channels}, {out_channels}, "
                             "hidden_channels={hidden_channels}, time_emb_dim={time_emb_dim})".format(**kwargs))


def unet_args_from_state_dict(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """`SeedUNet`'s constructor arguments read from the shapes of its state dict (never assumed)."""
    up = state["upfeature.conv.weight"].shape  # (hidden, in, 1, 1)
    return dict(in_channels=int(up[1]), out_channels=int(state["downfeature.conv.weight"].shape[0]),
                hidden_channels=int(up[0]), time_emb_dim=int(state["time_mlp.1.weight"].shape[1]))


# ----------------------------------------------------------------------------- the sampler


@dataclass
class SeedSchedulerOutput(BaseOutput):
    """One step of `SeedScheduler` (shapes of the sample, ``(B, C, h, w)``)."""

    prev_sample: torch.Tensor  # x at the previous timestep, clamped to [-1, 1] unless clamp_sample=False
    pred_original_sample: torch.Tensor  # the x0 prediction (never clamped; the seed decodes it)


class SeedScheduler(SchedulerMixin, ConfigMixin):
    """The seed's sampler (``viton_pipeline.py``), with diffusers' scheduler interface.

    The seed's loop, for its ``NoiseScheduler(1000, "linear")`` (betas ``linspace(1e-4, 0.02, 1000)`` in
    float32, ``abar = cumprod(1 - beta)``):

    1. timesteps ``linspace(999, 0, n).long()`` (truncated: 999, 993, 988, ... for n = 200);
    2. start ``x_T = sqrt(abar[999]) z + sqrt(1 - abar[999]) noise`` (`add_noise`);
    3. per timestep ``t`` with ``t_prev`` the next one in the list (0 after the last):
       ``x0 = (x_t - sqrt(1 - abar[t]) eps) / sqrt(abar[t])``, then
       ``x_prev = sqrt(abar[t_prev]) x0 + sqrt(1 - abar[t_prev]) eps`` (deterministic DDIM), then
       ``x_prev`` clamped to ``[-1, 1]`` (a latent clamp the seed applies every step; ``clamp_sample=False``
       turns it off). ``x0`` itself is never clamped; the seed decodes the last step's ``x0``.

    ``eta > 0`` adds DDIM's noise: ``sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t /
    abar_prev)``, ``x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z``; ``eta = 0``
    is exactly the seed's step.

    diffusers' ``DDIMScheduler`` cannot reproduce this: its step goes to ``t - T // n`` (999 -> 994 at
    n = 200) while the seed goes to the next entry of its list (999 -> 993; the gaps are 5 or 6, since
    999 / 199 is not whole); its ``"linspace"`` spacing rounds (``993.98 -> 994``) where the seed
    truncates, its other spacings give other lists; its ``clip_sample`` clips x0, not x_t; and its last
    step targets ``final_alpha_cumprod`` where the seed re-targets ``abar[0]``.

    Args:
        num_train_timesteps: T (1000).
        beta_start, beta_end: the linear schedule's ends.
        beta_schedule: ``"linear"`` (the release) or ``"cosine"`` (the seed's other option).
        clamp_sample: clamp ``x_t`` to ``[-1, 1]`` after every step, as the seed does.

    Example:
        >>> s = SeedScheduler()
        >>> s.set_timesteps(200)
        >>> s.timesteps[:3].tolist(), s.previous_timestep(s.timesteps[0])
        ([999, 993, 988], 993)
    """

    order = 1
    _compatibles: list = []

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        clamp_sample: bool = True,
    ):
        if beta_schedule == "linear":
            betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
        elif beta_schedule == "cosine":
            s, steps = 0.008, torch.arange(num_train_timesteps + 1, dtype=torch.float32)
            f = torch.cos(((steps / num_train_timesteps) + s) / (1 + s) * math.pi / 2) ** 2
            abar = f / f[0]
            betas = torch.clip(1 - abar[1:] / abar[:-1], 0.0001, 0.999)
        else:
            raise InputError(f"beta_schedule must be 'linear' or 'cosine', got {beta_schedule!r}")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)  # float32, as the seed
        self.init_noise_sigma = 1.0
        self.num_inference_steps: int | None = None
        self.timesteps = torch.linspace(num_train_timesteps - 1, 0, num_train_timesteps).long()

    def __len__(self) -> int:
        return self.config.num_train_timesteps

    def scale_model_input(self, sample: torch.Tensor, timestep=None) -> torch.Tensor:
        """Identity (diffusers' interface)."""
        return sample

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        """``timesteps = linspace(T - 1, 0, n).long()``, the seed's list (n = 200 in its pipeline)."""
        total = self.config.num_train_timesteps
        try:
            num_inference_steps = operator.index(num_inference_steps)
        except TypeError:
            raise InputError(f"steps must be an integer from 1 to {total}, got {num_inference_steps!r}") from None
        if not 1 <= num_inference_steps <= total:
            raise InputError(f"steps must be an integer from 1 to {total}, got {num_inference_steps!r}")
        self.num_inference_steps = num_inference_steps
        self.timesteps = torch.linspace(total - 1, 0, num_inference_steps).long().to(device)

    def previous_timestep(self, timestep: torch.Tensor | int) -> int:
        """The timestep after ``timestep`` in `timesteps` (the largest one below it), 0 after the last."""
        t = self._one_timestep(timestep)
        below = self.timesteps[self.timesteps < t]
        return int(below.max()) if below.numel() else 0

    @staticmethod
    def _one_timestep(timestep: torch.Tensor | int) -> int:
        t = torch.as_tensor(timestep).reshape(-1)
        if t.numel() == 0 or (t != t[0]).any():
            raise InputError(f"SeedScheduler.step takes one timestep for the whole batch, got {t.tolist()}")
        return int(t[0])

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor | int) -> torch.Tensor:
        """``sqrt(abar[t]) x0 + sqrt(1 - abar[t]) noise``, ``t`` an int or ``(B,)`` (the seed's ``get_noisy_image``)."""
        t = torch.as_tensor(timesteps, device=self.alphas_cumprod.device).long().reshape(-1)
        abar = self.alphas_cumprod[t.cpu()].to(device=original_samples.device)
        abar = abar.view(-1, *([1] * (original_samples.ndim - 1)))
        noisy = torch.sqrt(abar) * original_samples.float() + torch.sqrt(1.0 - abar) * noise.float()
        return noisy.to(original_samples.dtype)

    def step(
        self,
        model_output: torch.Tensor,
        timestep: torch.Tensor | int,
        sample: torch.Tensor,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> SeedSchedulerOutput:
        """One step of the seed's loop from ``timestep`` to `previous_timestep` (see the class docstring).

        Args:
            model_output: ``eps (B, C, h, w)``.
            timestep: one timestep for the batch (int, 0-dim, or ``(B,)`` all equal).
            sample: ``x_t (B, C, h, w)``.
            eta: 0 = the seed's deterministic step; in ``(0, 1]`` DDIM's sigma_t noise, drawn with ``generator``.
        """
        if not 0.0 <= float(eta) <= 1.0:
            raise InputError(f"eta must be in [0, 1], got {eta}")
        t = self._one_timestep(timestep)
        t_prev = self.previous_timestep(t)
        # python floats of the float32 table, as the seed's ``alphas_cumprod[t].item()``
        abar_t, abar_prev = float(self.alphas_cumprod[t]), float(self.alphas_cumprod[t_prev])

        # 1. the x0 prediction
        x0 = (sample - math.sqrt(1.0 - abar_t) * model_output) / math.sqrt(abar_t)

        # 2. x at t_prev: DDIM, eta = 0 as the seed
        if eta == 0:
            prev = math.sqrt(abar_prev) * x0 + math.sqrt(1.0 - abar_prev) * model_output
        else:
            sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar_t)) * math.sqrt(max(0.0, 1 - abar_t / abar_prev))
            noise = randn_tensor(tuple(model_output.shape), generator=generator, device=model_output.device,
                                 dtype=model_output.dtype)
            prev = (math.sqrt(abar_prev) * x0 + math.sqrt(max(0.0, 1.0 - abar_prev - sigma**2)) * model_output
                    + sigma * noise)

        # 3. the seed's clamp of x_t
        if self.config.clamp_sample:
            prev = prev.clamp(-1.0, 1.0)
        return SeedSchedulerOutput(prev_sample=prev, pred_original_sample=x0)


# ----------------------------------------------------------------------------- our inputs as the seed's


def _pil_resize(x255: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A ``uint8`` image (as float 0..255) resized the way PIL's bilinear resize does it: antialiased when
    shrinking, rounded back to whole ``uint8`` values."""
    if tuple(x255.shape[-2:]) != tuple(size):
        x255 = F.interpolate(x255, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x255.round().clamp(0, 255)


def seed_densepose(render: torch.Tensor) -> torch.Tensor:
    """Our dp_segm render -> the seed's ``open_pose()`` image, 0..255 (float), per sample.

    The seed draws detectron2's fine-segmentation render at alpha 0.7 over a black image (``uint8``
    truncation), then min-max normalises the whole image (all channels) to 0..255 and truncates to
    ``uint8``. Our render is the full-intensity colormap, so this redoes both steps.

    Args:
        render: ``(B, 3, H, W)`` in ``[-1, 1]`` (``rgb / 127.5 - 1``).
    """
    rgb = ((render.double() + 1) * 127.5).round().clamp(0, 255)
    drawn = torch.floor(rgb * DENSEPOSE_ALPHA).float()
    lo = drawn.amin(dim=(1, 2, 3), keepdim=True)
    hi = drawn.amax(dim=(1, 2, 3), keepdim=True)
    span = hi - lo
    normalised = torch.where(span > 0, (drawn - lo) / span.clamp_min(1e-12), torch.zeros_like(drawn))
    return torch.floor(normalised * 255)


def seed_warper_inputs(batch, size: tuple[int, int] = WARP_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_1, input_2)`` of the seed's warper for one of our batches (see `SeedWarper`).

    Args:
        batch: reads ``cloth (B, 3, H, W) [-1, 1]``, ``cloth_mask (B, 1, H, W) {0, 1}``, ``densepose`` (the
            dp_segm render, ``(B, 3, H, W) [-1, 1]``) and ``parse_agnostic_labels (B, 1, H, W)`` (CIHP 0..19).
        size: the squash size, ``(256, 256)`` for the released weights.

    Returns:
        ``input_1 (B, 4, *size)``: cloth in ``[0, 1]`` + mask; ``input_2 (B, 6, *size)``: the DensePose render
        min-max normalised in ``[0, 1]`` + the labels times 15/255 on three channels.
    """
    labels = getattr(batch, "parse_agnostic_labels", None)
    if labels is None:
        raise InputError("the seed's warper reads the parse-agnostic as CIHP labels (batch.parse_agnostic_labels); "
                         "this batch has none")
    b, _, h, w = batch.cloth.shape
    fields = (("cloth_mask", batch.cloth_mask, 1), ("densepose", batch.densepose, 3), ("parse_agnostic_labels", labels, 1))
    for name, t, c in fields:
        if tuple(t.shape) != (b, c, h, w):
            raise InputError(f"batch.{name} must be ({b}, {c}, {h}, {w}) to match the cloth, got {tuple(t.shape)}")
    cloth = _pil_resize((batch.cloth.float() + 1) * 127.5, size) / 255
    mask = _pil_resize(batch.cloth_mask.float() * 255, size) / 255
    densepose = _pil_resize(seed_densepose(batch.densepose.float()), size) / 255
    parse = _pil_resize(labels.float(), size) * LABEL_SCALE
    return torch.cat([cloth, mask], dim=1), torch.cat([densepose, parse.expand(-1, 3, -1, -1)], dim=1)


# ----------------------------------------------------------------------------- adapters


def _strict_from_pretrained(load, folder, what: str, **kwargs):
    """``load`` (diffusers' ``from_pretrained``) on a local folder, then a check that the weights fit exactly."""
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise InputError(f"{path} is not a {what} folder: it has no config.json")
    if not any(path.glob("*.safetensors")):
        raise InputError(f"{path} has a config but no .safetensors weights")
    kwargs.setdefault("low_cpu_mem_usage", False)
    kwargs.setdefault("local_files_only", True)
    model = load(str(path), **kwargs)
    check_folder_weights(model, path)
    return model


class SeedWarper(ModelMixin, ConfigMixin):
    """The seed's warper behind our warper interface (``warp(batch) -> WarpOutput``).

    How the original sees its inputs (``warpingnetwork.py`` ``WarpingCloth.__call__`` and ``parsehuman.py``),
    and what this adapter does for each:

    - every input is a PIL image squashed to 256x256 by ``transforms.Resize((256, 256))``, ignoring the
      aspect (VITON-HD is 1024x768), then ``ToTensor`` (``uint8 / 255``). torchvision's default interpolation
      is bilinear, and PIL keeps it for ``L`` and ``RGB`` images (only ``P`` and ``1`` fall back to nearest),
      so the *label map is blended bilinearly too*, antialiased when shrinking. We resize every input with
      bilinear antialiasing and round to ``uint8`` values as PIL does;
    - ``input_1 = [cloth, cloth_mask]``: the cloth photo in ``[0, 1]`` (not whitened outside the garment) and
      rembg's mask in ``[0, 1]``. We pass ``(cloth + 1) / 2`` and our ``{0, 1}`` mask;
    - ``input_2[:, :3]``: detectron2's DensePose fine-segmentation render (``dp_segm``: the PARULA colormap
      of ``I * 255 / 24``), drawn at alpha 0.7 over black, min-max normalised over the whole image to
      0..255, turned from BGR to RGB (``[:, :, ::-1]``). We take the batch's dp_segm render (RGB) and redo the
      alpha and the min-max (`seed_densepose`), at the working size, before the squash;
    - ``input_2[:, 3:]``: the parse-agnostic on three equal channels: CIHP labels (its parser's 24 classes
      mapped to CIHP's 0..19 values), the region it greys out set to 0 (``parse_agnostic[parse_agnostic !=
      parse_human] = 0``), as ``uint8 / 255`` times 15. Our ``batch.parse_agnostic_labels`` already hold 0
      (background) in the removed region; we scale them by 15/255. (Its removed region is its own polygons,
      ours HR-VITON's v3.2 rules: close, not identical.)

    The outputs come back in our conventions: each of its five flows (1/16 .. 1/1 of 256x256, offsets from
    its ``linspace`` grid) converted exactly to our normalised offsets (`seed_flow_to_ours`), then resized
    to the working aspect at the same fractions of ``(H, W)`` (normalised units need no rescaling);
    the working-size cloth and mask warped with the finest flow (border padding, as the seed);
    ``seg_logits = None`` (no segmentation head) and ``aligned_* = warped_*`` (no occlusion handling).

    Args:
        base_channels: the original's ``oc`` (96 in the release).
        input_size: the squash size ``(H, W)``, divisible by 32 (``(256, 256)`` for the released weights).
    """

    config_name = "config.json"
    origin = "seed"
    densepose_encoding = "dp_segm"

    @register_to_config
    def __init__(self, base_channels: int = 96, input_size: tuple[int, int] = WARP_SIZE):
        super().__init__()
        if len(input_size) != 2 or any(int(v) % 32 or int(v) <= 0 for v in input_size):
            raise InputError(f"input_size must be (H, W) divisible by 32, got {tuple(input_size)}")
        self.warping = SeedWarpingProcess(base_channels)

    @property
    def multiple(self) -> int:
        """The working H and W must be divisible by this: the coarsest flow is returned at 1/16."""
        return 16

    def describe(self) -> str:
        h, w = self.config.input_size
        return (f"the seed's warper (WarpingProcess({self.config.base_channels})), ported: inputs squashed to {h}x{w}, "
                "DensePose as the dp_segm render, CIHP parse-agnostic labels; no segmentation head")

    def warp(self, batch) -> WarpOutput:
        """Warp ``batch.cloth`` onto each person (fields read: cloth, cloth_mask, densepose, parse_agnostic_labels).

        Returns:
            `WarpOutput` at the batch's ``(H, W)``: five flows ``(B, 2, H/16 .. H, W/16 .. W)``, warped cloth
            ``[-1, 1]`` and mask ``[0, 1]``, ``seg_logits = None``.
        """
        h, w = batch.cloth.shape[-2:]
        if h % self.multiple or w % self.multiple or h == 0 or w == 0:
            raise InputError(f"the seed's warper needs H and W divisible by {self.multiple}, got {h}x{w}")
        param = next(self.parameters())
        size = tuple(int(v) for v in self.config.input_size)
        input_1, input_2 = seed_warper_inputs(batch, size)
        _, _, seed_flows = self.warping(input_1.to(param), input_2.to(param))

        flows = []
        for f in seed_flows:
            fh, fw = f.shape[1:3]
            flows.append(resize_flow(seed_flow_to_ours(f), (h * fh // size[0], w * fw // size[1])))
        cloth, mask = batch.cloth.to(param), batch.cloth_mask.to(param)
        warped_cloth = apply_flow(cloth, flows[-1], padding_mode="border")
        warped_mask = apply_flow(mask, flows[-1], padding_mode="border")
        return WarpOutput(flows=flows, warped_cloth=warped_cloth, warped_mask=warped_mask, seg_logits=None,
                          aligned_mask=warped_mask, aligned_cloth=warped_cloth)

    def forward(self, batch) -> WarpOutput:
        return self.warp(batch)

    @classmethod
    def from_port(cls, port: SeedWarpingProcess, input_size: tuple[int, int] = WARP_SIZE) -> "SeedWarper":
        """Wrap a port (its weights are shared, not copied)."""
        with torch.device("meta"):
            adapter = cls(base_channels=port.base_channels, input_size=tuple(input_size))
        adapter.warping = port
        return adapter.eval()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "SeedWarper":
        """Build from the seed's warper ``.pth`` (see `SeedWarpingProcess.from_checkpoint`)."""
        return cls.from_port(SeedWarpingProcess.from_checkpoint(path))

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, **kwargs) -> "SeedWarper":
        """Load a folder written by ``save_pretrained`` (local only; the weights must fit exactly)."""
        return _strict_from_pretrained(super().from_pretrained, folder, "SeedWarper", **kwargs)


class SeedDenoiser(ModelMixin, ConfigMixin):
    """The seed's UNet behind our denoiser interface (``forward(sample, timestep) -> eps``).

    How the original sees its inputs (``viton_pipeline.py`` ``VitonPipeline.__call__``):

    - the composite (agnostic with the warped cloth pasted where the warped mask > 0.5, all at 256x256) is
      resized bilinearly to 512x512, mapped to ``[-1, 1]`` and encoded by Stable Diffusion 1.5's VAE
      (a posterior *sample*, times 0.18215 whatever the VAE's config says): 64x64 latents. ``canvas_size =
      (512, 512)`` asks the pipeline to squash to that canvas (and back after decoding);
    - the agnostic mask (a ``0/255`` image at the photo's size) goes through the pipeline's
      ``Resize(output_size) - ToTensor - Normalize(0.5, 0.5)``, so it is ``{-1, 1}`` (soft at resized edges),
      then ``nearest`` down to the latent size. Our sample carries it in ``{0, 1}`` as its last channel; this
      adapter passes ``2 m - 1``;
    - the UNet input is ``cat([x_t, z_composite, mask])`` (9 channels), the timestep a ``(B,)`` long tensor
      of the seed's list (`SeedScheduler`); the output is ``eps``. No cloth latents (no cross-attention).

    Any latent size runs (the original resizes, nearest, where a halving was odd), so ``downsampling = 1``;
    the weights were trained at 64x64 latents.

    Args:
        in_channels, out_channels, hidden_channels, time_emb_dim: `SeedUNet`'s (9, 4, 64, 256 in the release).
        canvas_size: ``(H, W)`` the pipeline encodes at, ``(512, 512)`` for the released weights.
    """

    config_name = "config.json"
    origin = "seed"
    uses_cloth_latents = False
    downsampling = 1

    @register_to_config
    def __init__(self, in_channels: int = 9, out_channels: int = 4, hidden_channels: int = 64, time_emb_dim: int = 256,
                 canvas_size: tuple[int, int] = CANVAS_SIZE):
        super().__init__()
        self.unet = SeedUNet(in_channels, out_channels, hidden_channels, time_emb_dim)

    @property
    def canvas_size(self) -> tuple[int, int]:
        h, w = self.config.canvas_size
        return int(h), int(w)

    def latent_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Our agnostic mask ``(B, 1, H, W)`` {0, 1} at the working size -> the mask channel ``(B, 1, h, w)`` as the
        seed makes it, in our ``[0, 1]`` units: resized like an image (bilinear, antialiased) to the canvas, so
        soft at its edges, then the nearest pixel at the latent size (the pipeline calls this)."""
        canvas = self.canvas_size
        soft = F.interpolate(mask.float(), size=canvas, mode="bilinear", align_corners=False, antialias=True)
        latent = (canvas[0] // VAE_FACTOR, canvas[1] // VAE_FACTOR)
        return F.interpolate(soft, size=latent, mode="nearest").to(mask.dtype)

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | int, cloth_latents: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``sample (B, 2C+1, h, w)`` = ``[x_t, composite latent, mask in {0, 1}]``, ``timestep (B,)`` ->
        ``eps (B, C, h, w)``. ``cloth_latents`` is ignored."""
        c = self.config.in_channels
        if sample.ndim != 4 or sample.shape[1] != c:
            raise InputError(f"the seed's UNet takes (B, {c}, h, w) = [x_t, composite latent, mask], "
                             f"got {tuple(sample.shape)}")
        seed_mask = sample[:, -1:] * 2 - 1  # ours {0, 1} -> the seed's {-1, 1}
        return self.unet(torch.cat([sample[:, :-1], seed_mask], dim=1), timestep)

    @classmethod
    def from_port(cls, port: SeedUNet, canvas_size: tuple[int, int] = CANVAS_SIZE) -> "SeedDenoiser":
        """Wrap a port (its weights are shared, not copied)."""
        with torch.device("meta"):
            adapter = cls(port.in_channels, port.out_channels, port.hidden_channels, port.time_emb_dim, tuple(canvas_size))
        adapter.unet = port
        return adapter.eval()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "SeedDenoiser":
        """Build from the seed's UNet ``.pth`` (see `SeedUNet.from_checkpoint`)."""
        return cls.from_port(SeedUNet.from_checkpoint(path))

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, **kwargs) -> "SeedDenoiser":
        """Load a folder written by ``save_pretrained`` (local only; the weights must fit exactly)."""
        return _strict_from_pretrained(super().from_pretrained, folder, "SeedDenoiser", **kwargs)


# ----------------------------------------------------------------------------- the converter


def _read_vae(folder: str | os.PathLike):
    """The user's local diffusers AutoencoderKL, configured as the seed uses it (latents x 0.18215, no shift)."""
    from vton.diffusion.vae import load_vae

    vae = load_vae(folder)
    updates = {"scaling_factor": LATENT_SCALE}
    for key in ("shift_factor", "latents_mean", "latents_std"):
        if key in vae.config and vae.config[key] is not None:
            updates[key] = None
    vae.register_to_config(**updates)
    return vae


def _model_card(warper_pth, unet_pth, vae_folder) -> str:
    """The converted folder's card: where it came from, and the sampling the seed's own script uses (read by
    `vton.diffusion.defaults.sampling_defaults`, so the CLI and the lab start from the seed's settings)."""
    return f"""# The seed's release, converted

Converted by `python -m vton convert seed` from `{Path(warper_pth).name}` (warper), `{Path(unet_pth).name}`
(UNet) and the VAE in `{vae_folder}`. The seed trained these on VITON-HD; vton did not train or change them.

The seed samples 200 steps of its own sampler from the noised composite at t = 999, deterministically:

Default DDIM steps: 200
Default strength: 1.0
Default eta: 0.0

(`SeedScheduler`: linear betas 1e-4..0.02, timesteps `linspace(999, 0, n)`, x_t clamped to [-1, 1] after every
step.) Its warper expects VITON-HD's DensePose render (`image-densepose/`), not our pose-built map.
"""


def convert_seed(warper_pth: str | os.PathLike, unet_pth: str | os.PathLike, vae_folder: str | os.PathLike,
                 out: str | os.PathLike) -> Path:
    """Write the seed's release as one pipeline folder (configs + safetensors, no pickle).

    ``out/`` gets ``model_index.json`` (``TryOnPipeline``: warper `SeedWarper`, unet `SeedDenoiser`,
    scheduler `SeedScheduler`, vae diffusers ``AutoencoderKL``), the four component folders and
    ``conversion.json`` (the source files). The VAE is re-saved from ``vae_folder`` (e.g. Stable Diffusion
    1.5's ``vae/``) with ``scaling_factor = 0.18215`` and no shift or per-channel statistics, since the seed
    scales its latents by that constant whatever the VAE's config says.

    Atomic: everything is checked first, written to a temporary folder beside ``out`` and renamed; on any
    error nothing is left at ``out``.

    Args:
        warper_pth: the seed's warper file (``WarpingProcess``).
        unet_pth: the seed's UNet file (``UNet(9, 4)``).
        vae_folder: a local diffusers AutoencoderKL folder (or a pipeline folder with ``vae/``).
        out: the folder to write; must not exist, or be empty.

    Raises:
        InputError: a missing, truncated or wrong file, a VAE that is not an f=8 AutoencoderKL with the
            UNet's latent channels, or an ``out`` that exists and is not empty.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty folder; choose a new folder")
    warper = SeedWarper.from_checkpoint(warper_pth)
    unet = SeedDenoiser.from_checkpoint(unet_pth)
    vae = _read_vae(vae_folder)
    latent = int(vae.config.latent_channels)
    if unet.config.out_channels != latent or unet.config.in_channels != 2 * latent + 1:
        raise InputError(f"the seed's UNet in {unet_pth} takes {unet.config.in_channels} and predicts "
                         f"{unet.config.out_channels} channels; the VAE in {vae_folder} has {latent} latent channels")

    from diffusers import __version__ as diffusers_version

    tmp = out.parent / f".{out.name}.converting-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        warper.save_pretrained(tmp / "warper", safe_serialization=True)
        unet.save_pretrained(tmp / "unet", safe_serialization=True)
        SeedScheduler().save_pretrained(tmp / "scheduler")
        vae.save_pretrained(tmp / "vae", safe_serialization=True)
        index = {
            "_class_name": "TryOnPipeline",
            "_diffusers_version": diffusers_version,
            "scheduler": ["vton.compat.seed", "SeedScheduler"],
            "unet": ["vton.compat.seed", "SeedDenoiser"],
            "vae": ["diffusers", "AutoencoderKL"],
            "warper": ["vton.compat.seed", "SeedWarper"],
        }
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        source = {
            "origin": "seed",
            "warper": {"file": Path(warper_pth).name, "base_channels": warper.config.base_channels},
            "unet": {"file": Path(unet_pth).name, **{k: unet.config[k] for k in
                                                     ("in_channels", "out_channels", "hidden_channels", "time_emb_dim")}},
            "vae": {"folder": str(vae_folder), "scaling_factor": LATENT_SCALE},
        }
        (tmp / "conversion.json").write_text(json.dumps(source, indent=2) + "\n")
        (tmp / "MODEL_CARD.md").write_text(_model_card(warper_pth, unet_pth, vae_folder))
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"could not write {out}: {e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
