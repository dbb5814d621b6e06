"""HR-VITON's try-on condition generator ("tocg", ``mtviton.pth``): the port, our warper adapter, the converter.

Three layers, top-down in this file:

1. `HRVitonConditionGenerator`: a faithful port of ``sangyun884/HR-VITON`` ``networks.py``
   ``ConditionGenerator(opt, 4, 16, 13, ngf=96, nn.BatchNorm2d)`` with ``opt.warp_feature = "T1"`` and
   ``opt.out_layer = "relu"`` (the released checkpoint's variant). Same state-dict keys and shapes, same
   inputs, same outputs in the same order and units, without the ``opt`` argument.
2. `HRVitonWarper`: the adapter that implements our warper interface (``warp(batch) -> WarpOutput``): it
   encodes our batch as HR-VITON's test script does, runs the port, does the script's post-processing
   (cloth-mask composition, Gaussian-blurred segmentation, occlusion removal) and returns our conventions.
3. `convert_hrviton`: ``mtviton.pth`` -> a warper folder (``config.json`` + safetensors) written atomically.

Flow conventions, exactly. HR-VITON keeps each flow of ``flow_list`` as ``(B, h, w, 2)`` "pixels": flow
``k`` (at ``h_k x w_k``) is turned into a sampling grid by upsampling it bilinearly to the size ``T`` where
it is applied, dividing ``x`` by ``(w_k - 1) / 2`` and ``y`` by ``(h_k - 1) / 2``, and adding
``make_grid``'s ``linspace(-1, 1, T)`` (an *align_corners=True* identity), then sampling with
``grid_sample(align_corners=False)``. ``linspace(-1, 1, T)[i] = u_i * T / (T - 1)`` where
``u_i = (2 i + 1) / T - 1`` is our identity, so its absolute grid minus ours is

    offset_x = upsample(flow_x) / ((w_k - 1) / 2) + u_x / (W_T - 1)     (y likewise with h_k and H_T)

a field that bilinear upsampling reproduces from its values at the flow's own pixels (``u`` is linear in
the pixel index), so `offset_from_hrviton_flow` returns it at the flow's own size ``(B, 2, h_k, w_k)``.
``T = H_T x W_T`` is where the original applies the flow: flows 0..3 inside its forward pass at the next
level, ``2 h_k x 2 w_k``; the finest flow on the cloth at the working size, as ``test_generator.py`` does at
its full resolution (inside the port's own forward, at the input size). The zoom term ``u / (T - 1)`` is
HR-VITON's grid mismatch (up to half a pixel at the borders); keeping it is what makes
``apply_flow(cloth, offset)`` equal HR-VITON's warped cloth.

Example:
    >>> tocg = HRVitonConditionGenerator.from_checkpoint("mtviton.pth")   # ngf read from the file
    >>> flows, segmap, warped_c, warped_cm = tocg(input1, input2)       # HR-VITON's own outputs
    >>> warper = HRVitonWarper.from_pretrained(convert_hrviton("mtviton.pth", "hrviton-warper"))
    >>> out = warper.warp(batch)                                         # a WarpOutput, our conventions
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from einops import rearrange

from vton.errors import InputError
from vton.types import NUM_GROUPS, Group
from vton.nn.statedict import check_folder_weights
from vton.warp.network import WarpOutput
from vton.warp.ops import identity_grid

Size = tuple[int, int]

INPUT_SIZE: Size = (256, 192)
"""(H, W) HR-VITON's condition generator was trained and is run at (``test_generator.py``: ``size=(256, 192)``)."""

OCCLUDING_GROUPS: tuple[Group, ...] = (
    Group.HAIR, Group.FACE, Group.LEFT_ARM, Group.RIGHT_ARM, Group.LEFT_LEG, Group.RIGHT_LEG,
    Group.LEFT_SHOE, Group.RIGHT_SHOE, Group.SOCKS, Group.NOISE,
)
"""What HR-VITON's ``remove_overlap`` removes from the warped cloth mask: channels ``1:3`` and ``5:`` of its
13 groups (every group but background, upper and bottom). Wider than `vton.warp.network`'s occluders."""

BLUR_KERNEL, BLUR_SIGMA = 15, 3.0
"""``test_generator.py``'s ``tgm.image.GaussianBlur((15, 15), (3, 3))`` (zero padding) on the segmentation."""

CLOTH_GROUP = Group.UPPER
"""The channel of ``fake_segmap`` HR-VITON multiplies by the warped cloth mask (``fake_segmap[:, 3:4]``)."""


# ----------------------------------------------------------------------------- flow conventions


def hrviton_sampling_grid(flow: torch.Tensor, size: Size) -> torch.Tensor:
    """HR-VITON's absolute sampling grid for one of its flows applied at ``size``, as its code builds it.

    Upsample (bilinear, ``align_corners=False``) to ``size``, divide by ``((w - 1) / 2, (h - 1) / 2)`` of the
    flow's own size, add ``make_grid``'s ``linspace(-1, 1, .)`` identity. Feed the result to
    ``grid_sample(..., align_corners=False)``.

    Args:
        flow: ``(B, h, w, 2)`` an entry of HR-VITON's ``flow_list`` (``x`` then ``y``).
        size: ``(H, W)`` where it is applied.

    Returns:
        ``(B, H, W, 2)``, float32 for a half or bfloat16 flow.
    """
    b, h, w, _ = flow.shape
    size = (int(size[0]), int(size[1]))
    if flow.dtype in (torch.float16, torch.bfloat16):
        flow = flow.float()  # a grid needs float32 to address pixels (see `_grid_sample`)
    if (h, w) != size:
        flow = rearrange(F.interpolate(rearrange(flow, "b h w two -> b two h w"), size=size, mode="bilinear",
                                       align_corners=False), "b two h w -> b h w two")
    per_unit = flow.new_tensor([(w - 1) / 2.0, (h - 1) / 2.0])
    xs = torch.linspace(-1.0, 1.0, size[1], device=flow.device, dtype=flow.dtype)
    ys = torch.linspace(-1.0, 1.0, size[0], device=flow.device, dtype=flow.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1).expand(b, *size, 2) + flow / per_unit


def offset_from_hrviton_flow(flow: torch.Tensor, applied_at: Size) -> torch.Tensor:
    """One of HR-VITON's pixel-unit flows as our normalized sampling offset, at the flow's own size.

    ``offset = flow / ((w - 1) / 2, (h - 1) / 2) + u / (W_t - 1, H_t - 1)`` with ``u`` our identity grid at
    ``h x w`` and ``(H_t, W_t) = applied_at`` (see the module docstring): resizing this offset to
    ``applied_at`` and adding our identity gives `hrviton_sampling_grid`, exactly inside; on the outermost
    pixels, where bilinear upsampling clamps, to at most ``(1/w - 1/W_t) / (W_t - 1)`` grid units along x
    (likewise y): 2.7e-5 units (0.003 px) for the finest flow at 256x192, 0.05 px for the coarsest.

    Args:
        flow: ``(B, h, w, 2)`` from HR-VITON's ``flow_list``.
        applied_at: ``(H_t, W_t)`` the size whose ``make_grid`` the original adds this flow to.

    Returns:
        ``(B, 2, h, w)`` normalized offsets for ``grid_sample(align_corners=False)``.
    """
    b, h, w, _ = flow.shape
    t_h, t_w = int(applied_at[0]), int(applied_at[1])
    per_unit = flow.new_tensor([(w - 1) / 2.0, (h - 1) / 2.0])
    zoom = flow.new_tensor([1.0 / (t_w - 1), 1.0 / (t_h - 1)])
    offset = flow / per_unit + identity_grid(b, h, w, device=flow.device, dtype=flow.dtype) * zoom
    return rearrange(offset, "b h w two -> b two h w").contiguous()


def _grid_sample(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``grid_sample`` as HR-VITON calls it (bilinear, ``padding_mode="border"``, ``align_corners=False``).

    Half and bfloat16 images are sampled in float32 (as autocast does, so as HR-VITON's ``--fp16`` ran): a
    bfloat16 grid cannot address a pixel of a 384-wide image (8-bit mantissa), and PyTorch's CPU bfloat16
    kernel returns non-finite values at random positions (seen with torch 2.13, in-range grids).
    """
    if image.dtype in (torch.float16, torch.bfloat16):
        out = F.grid_sample(image.float(), grid.float(), padding_mode="border", align_corners=False)
        return out.to(image.dtype)
    return F.grid_sample(image, grid.to(image.dtype), padding_mode="border", align_corners=False)


def _load_error(e: Exception) -> str:
    """The telling sentence of a ``torch.load`` failure (its weights-only refusal explains how to load unsafely)."""
    text = str(e)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    return lines[0].split(". ")[0][:160]


# ----------------------------------------------------------------------------- the port


class _ResBlock(nn.Module):
    """HR-VITON's ``ResBlock`` with ``nn.BatchNorm2d``: ``relu(s + block(s))`` with ``s = scale(x)``.

    ``scale``: ``"down"`` a stride-2 3x3 conv (no bias), ``"same"`` a 1x1 conv, ``"up"`` bilinear x2 then a
    1x1 conv (``scale.1``). ``block``: conv3x3, BN, ReLU, conv3x3, BN (convs without bias, as the original
    with BatchNorm). Attribute names and indices are the original's, so state-dict keys match.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: str):
        super().__init__()
        if scale == "down":
            self.scale = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        elif scale == "same":
            self.scale = nn.Conv2d(in_channels, out_channels, 1)
        elif scale == "up":
            self.scale = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"),
                                       nn.Conv2d(in_channels, out_channels, 1))
        else:
            raise ValueError(f"scale must be 'down', 'same' or 'up', got {scale!r}")
        self.block = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale(x)
        return F.relu(s + self.block(s))


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class HRVitonConditionGenerator(nn.Module):
    """HR-VITON's condition generator (``warp_feature="T1"``, ``out_layer="relu"``, BatchNorm), ported.

    Two encoders of five stride-2 residual blocks (cloth: ``input1``; body: ``input2``) give pyramids
    ``E1[0..4]``, ``E2[0..4]`` at ``1/2 .. 1/32`` of the input. From the coarsest level up, a flow path and a
    segmentation path feed each other:

    - level 0: ``flow_0 = flow_conv[0](E1[4], E2[4])``; the segmentation features start from
      ``SegDecoder[0](conv(E2[4]))``;
    - level i = 1..4: the cloth features are fused top-down (``T1 = up(T1) + conv1[4-i](E1[4-i])``) and
      warped by the upsampled previous flow; ``flow_i = up(flow_{i-1}) + flow_conv[i](warped T1,
      bottleneck[i-1](seg features))``; the segmentation decoder takes ``(seg features, E2[4-i], warped T1)``;
    - the input cloth + mask is warped by the finest flow upsampled to the input size, and ``out_layer``
      (a ReLU-ended residual block) maps ``(seg features, input2, warped input1)`` to 13 non-negative maps.

    ``conv2`` (the body side of the top-down fusion) exists in the original and its checkpoint, but its
    result never reaches an output in the ``T1`` variant; it is kept for the state dict and not computed.

    Eval mode (BatchNorm's running statistics) is how the original is run; `from_checkpoint` returns the
    model in eval mode. Any batch size; H and W divisible by 32 (and at least 64, or the coarsest flow's
    ``(w - 1) / 2`` divisor is 0, as in the original).

    Args:
        input1_nc: cloth input channels (RGB + mask: 4).
        input2_nc: body input channels (13 parse-agnostic groups + DensePose render: 16).
        output_nc: segmentation classes (13).
        ngf: width of the first level (96 in ``mtviton.pth``); levels have ``ngf * (1, 2, 4, 4, 4)``.

    Forward:
        ``input1 (B, 4, H, W)`` = cloth in ``[-1, 1]`` + binary mask; ``input2 (B, 16, H, W)`` = 13-group
        one-hot parse-agnostic + DensePose render in ``[-1, 1]``. Returns ``(flow_list, fake_segmap,
        warped_c, warped_cm)``: five ``(B, H/2**(5-k), W/2**(5-k), 2)`` flows in HR-VITON's pixel units
        (`hrviton_sampling_grid`), ``(B, 13, H, W)``, ``(B, 3, H, W)``, ``(B, 1, H, W)``.
    """

    def __init__(self, input1_nc: int = 4, input2_nc: int = 16, output_nc: int = NUM_GROUPS, ngf: int = 96):
        super().__init__()
        self.input1_nc, self.input2_nc, self.output_nc, self.ngf = input1_nc, input2_nc, output_nc, ngf
        widths = [ngf, ngf * 2, ngf * 4, ngf * 4, ngf * 4]  # encoder level 0..4 (1/2 .. 1/32)

        def encoder(in_channels: int) -> nn.Sequential:
            ins = [in_channels] + widths[:-1]
            return nn.Sequential(*(_ResBlock(i, o, "down") for i, o in zip(ins, widths)))

        # Registration order = the original's, so state_dict() lists keys in its order.
        self.ClothEncoder = encoder(input1_nc)
        self.PoseEncoder = encoder(input2_nc)
        self.conv = _ResBlock(ngf * 4, ngf * 8, "same")
        # decoder step i: (seg features, E2[4-i], warped T1) -> the next level's seg features
        self.SegDecoder = nn.Sequential(
            _ResBlock(ngf * 8, ngf * 4, "up"),
            _ResBlock(ngf * 4 * 2 + ngf * 4, ngf * 4, "up"),
            _ResBlock(ngf * 4 * 2 + ngf * 4, ngf * 2, "up"),
            _ResBlock(ngf * 2 * 2 + ngf * 4, ngf, "up"),
            _ResBlock(ngf * 1 * 2 + ngf * 4, ngf, "up"),
        )
        self.out_layer = _ResBlock(ngf + input1_nc + input2_nc, output_nc, "same")
        # top-down lateral 1x1 convs, indexed by encoder level 0..3 (cloth: conv1; body: conv2, unused)
        self.conv1 = nn.Sequential(*(nn.Conv2d(c, ngf * 4, 1) for c in widths[:4]))
        self.conv2 = nn.Sequential(*(nn.Conv2d(c, ngf * 4, 1) for c in widths[:4]))
        self.flow_conv = nn.ModuleList(nn.Conv2d(ngf * 8, 2, 3, padding=1) for _ in range(5))
        # seg features after decoder step 0..3 -> ngf * 4 channels for the flow heads
        self.bottleneck = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(c, ngf * 4, 3, padding=1), nn.ReLU()) for c in (ngf * 4, ngf * 4, ngf * 2, ngf)
        ))

    def check_inputs(self, input1: torch.Tensor, input2: torch.Tensor) -> None:
        """Raise `InputError` naming the shape when the inputs do not fit this model."""
        for name, t, c in (("input1", input1, self.input1_nc), ("input2", input2, self.input2_nc)):
            if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[1] != c:
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise InputError(f"HR-VITON's {name} must be (B, {c}, H, W), got {got}")
        if input1.shape[0] != input2.shape[0] or input1.shape[-2:] != input2.shape[-2:]:
            raise InputError(f"input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} must share B, H, W")
        h, w = input1.shape[-2:]
        if h % 32 or w % 32 or min(h, w) < 64:
            raise InputError(f"HR-VITON's condition generator needs H and W divisible by 32 and >= 64, got {h}x{w}")

    def forward(self, input1: torch.Tensor, input2: torch.Tensor):
        self.check_inputs(input1, input2)

        # 1. feature pyramids, fine -> coarse
        cloth_feats, body_feats = [], []
        c, p = input1, input2
        for cloth_block, body_block in zip(self.ClothEncoder, self.PoseEncoder):
            c, p = cloth_block(c), body_block(p)
            cloth_feats.append(c)
            body_feats.append(p)

        # 2. coarsest level: first flow, start of the segmentation path
        t1 = cloth_feats[4]
        flow = rearrange(self.flow_conv[0](torch.cat([t1, body_feats[4]], 1)), "b two h w -> b h w two")
        flow_list = [flow]
        seg = self.SegDecoder[0](self.conv(body_feats[4]))

        # 3. levels 1..4 (encoder level 4 - i): residual flow on the warped, fused cloth features
        for i in range(1, 5):
            level = 4 - i
            size = tuple(cloth_feats[level].shape[-2:])
            t1 = _up2(t1) + self.conv1[level](cloth_feats[level])
            grid = hrviton_sampling_grid(flow, size)
            warped_t1 = _grid_sample(t1, grid)
            up_flow = rearrange(_up2(rearrange(flow, "b h w two -> b two h w")), "b two h w -> b h w two")
            residual = self.flow_conv[i](torch.cat([warped_t1, self.bottleneck[i - 1](seg)], 1))
            flow = up_flow + rearrange(residual, "b two h w -> b h w two")
            flow_list.append(flow)
            seg = self.SegDecoder[i](torch.cat([seg, body_feats[level], warped_t1], 1))

        # 4. warp the input cloth and mask with the finest flow at the input size; segmentation head
        grid = hrviton_sampling_grid(flow, tuple(input1.shape[-2:]))
        warped_input1 = _grid_sample(input1, grid)
        fake_segmap = self.out_layer(torch.cat([seg, input2, warped_input1], 1))
        return flow_list, fake_segmap, warped_input1[:, :-1], warped_input1[:, -1:]

    # -- loading ------------------------------------------------------------------------------

    @staticmethod
    def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
        """Read ``mtviton.pth`` (a plain ``state_dict``, as HR-VITON saves and loads it) safely.

        Raises:
            InputError: missing file, not a readable checkpoint (truncated, random bytes, a pickle of
                arbitrary objects), or not a flat name -> tensor dict (e.g. a training wrapper such as the
                seed's ``{"model_state_dict": ..., "optimizer_state_dict": ...}``).
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"HR-VITON checkpoint not found: {path}" if not path.exists()
                             else f"{path} is a folder; give HR-VITON's condition generator file (mtviton.pth)")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch.load fails in many ways on bad bytes; all of them mean "not a checkpoint"
            raise InputError(f"{path} is not a readable PyTorch checkpoint (truncated, another format, or objects "
                             f"other than tensors, which are never unpickled): {_load_error(e)}") from None
        expected = ("a plain state dict of HR-VITON's condition generator "
                    "(ClothEncoder.*, PoseEncoder.*, SegDecoder.*, flow_conv.* tensors)")
        if not isinstance(obj, Mapping):
            raise InputError(f"{path}: expected {expected}; found a {type(obj).__name__}")
        not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
        if not_tensors:
            keys = ", ".join(repr(k) for k in list(obj)[:4]) + (", ..." if len(obj) > 4 else "")
            raise InputError(f"{path}: expected {expected}; found a dict with keys {keys} whose entries are not all "
                             "tensors (a training checkpoint wrapper, e.g. the seed's warper file?)")
        return {str(k): v for k, v in obj.items()}

    @classmethod
    def from_state_dict(
        cls, state: Mapping[str, torch.Tensor], where: str = "the state dict"
    ) -> "HRVitonConditionGenerator":
        """Build the port with the widths read from ``state`` and load it exactly (eval mode).

        ``ngf``, the two input widths and the class count come from the tensors; every key and shape must then
        be the original's (``*num_batches_tracked`` may be absent: eval mode never reads it).
        """
        first = state.get("ClothEncoder.0.scale.weight")
        pose, out = state.get("PoseEncoder.0.scale.weight"), state.get("out_layer.scale.weight")
        if first is None or pose is None or out is None or first.ndim != 4 or pose.ndim != 4 or out.ndim != 4:
            keys = ", ".join(list(state)[:3]) + (", ..." if len(state) > 3 else "")
            raise InputError(f"{where}: expected HR-VITON's condition generator (keys ClothEncoder.0.scale.weight, "
                             f"PoseEncoder.0.scale.weight, out_layer.scale.weight, ...); found {len(state)} tensors "
                             f"with keys {keys}")
        model = cls(input1_nc=int(first.shape[1]), input2_nc=int(pose.shape[1]), output_nc=int(out.shape[0]),
                    ngf=int(first.shape[0]))
        want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in state.items()}
        missing = [k for k in want if k not in got and not k.endswith("num_batches_tracked")]
        extra = [k for k in got if k not in want]
        wrong = [k for k in want if k in got and got[k] != want[k]]
        if missing or extra or wrong:
            parts = []
            if wrong:
                parts.append(f"{len(wrong)} of another shape (e.g. {wrong[0]}: expected {list(want[wrong[0]])}, "
                             f"found {list(got[wrong[0]])})")
            if missing:
                parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
            if extra:
                parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
            raise InputError(f"{where} is not HR-VITON's condition generator (warp_feature T1, out_layer relu) with "
                             f"ngf={model.ngf}, as its first layer says: " + "; ".join(parts))
        model.load_state_dict(dict(state), strict=False)  # only num_batches_tracked may be absent (checked above)
        return model.eval()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "HRVitonConditionGenerator":
        """Load HR-VITON's ``mtviton.pth`` (or any width of it), in eval mode on the CPU.

        Raises:
            InputError: see `read_state_dict` and `from_state_dict`.
        """
        return cls.from_state_dict(cls.read_state_dict(path), where=str(path))


# ----------------------------------------------------------------------------- post-processing


def _gaussian_blur(x: torch.Tensor, kernel_size: int = BLUR_KERNEL, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """torchgeometry's ``GaussianBlur((k, k), (s, s))``: a normalised Gaussian per channel, zero padding.

    Applied as two 1-D passes (the 2-D kernel is their outer product, and zero padding commutes with that).
    """
    c = x.shape[1]
    r = torch.arange(kernel_size, device=x.device, dtype=x.dtype) - kernel_size // 2
    k = torch.exp(-(r**2) / (2 * sigma**2))
    k = k / k.sum()
    pad = (kernel_size - 1) // 2
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, kernel_size), padding=(0, pad), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, kernel_size, 1), padding=(pad, 0), groups=c)


def remove_overlap(probs: torch.Tensor, warped_mask: torch.Tensor) -> torch.Tensor:
    """HR-VITON's ``remove_overlap``: ``mask - P(occluders) * mask`` (occluders: `OCCLUDING_GROUPS`).

    Args:
        probs: ``(B, 13, H, W)`` segmentation probabilities.
        warped_mask: ``(B, 1, H, W)``.
    """
    occluders = probs[:, [int(g) for g in OCCLUDING_GROUPS]].sum(dim=1, keepdim=True)
    return warped_mask - occluders * warped_mask


# ----------------------------------------------------------------------------- the adapter


class HRVitonWarper(ModelMixin, ConfigMixin):
    """HR-VITON's condition generator behind our warper interface.

    How HR-VITON sees its inputs (``cp_dataset_test.py`` at 54c9b3c; ``test_generator.py`` as stored at
    e620416 and 119ede0, whose post-processing is the same; ``networks.py`` at 73a3654), and what this adapter
    does to our `vton.tensors.TryOnBatch` (it reads only ``cloth``, ``cloth_mask``, ``densepose``,
    ``parse_agnostic``):

    - size: the generator runs at 256x192 (``input_size``). The test script loads everything at its full
      size and downsamples with ``F.interpolate``: bilinear (``align_corners=False``, no antialiasing) for
      the cloth and the DensePose render, nearest (``mode="nearest"``) for the cloth mask and the
      parse-agnostic. This adapter does the same from the working size (any H x W; another aspect ratio is
      squashed, as HR-VITON would). (Training read 256x192 files made with PIL's antialiased bilinear resize.)
    - cloth: RGB in ``[-1, 1]`` (``ToTensor`` + ``Normalize(0.5, 0.5)``: ours already); the cloth mask
      binarised, ``mask > 0.5`` (the dataset's ``>= 128`` then the script's ``> 0.5``), at the working size
      before downsampling. ``input1 = cat(cloth, mask)``.
    - parse-agnostic: the 13-group one-hot of ``image-parse-agnostic-v3.2``. HR-VITON's groups (background
      {0, 10}, hair {1, 2}, face {4, 13}, upper {5, 6, 7}, bottom {9, 12}, left arm 14, right arm 15, left leg
      16, right leg 17, left shoe 18, right shoe 19, socks 8, noise {3, 11}) are `vton.types.Group`, in the
      same order (`vton.types.CIHP_TO_GROUP`), so ``batch.parse_agnostic`` is used as it is.
    - DensePose: VITON-HD's ``image-densepose`` colour render (``dp_segm``) read as RGB, in ``[-1, 1]``
      (``rgb / 127.5 - 1``; ``batch.densepose`` in the ``dp_segm`` encoding is exactly that).
      ``input2 = cat(parse_agnostic, densepose)``: parse first, unlike our FlowWarpNet.

    What it returns (`WarpOutput`, our conventions), after the script's post-processing:

    - ``flows``: HR-VITON's five flows as normalized sampling offsets at their own sizes (``1/32 .. 1/2`` of
      256x192: ``8x6 .. 128x96``, whatever the working size), converted exactly (module docstring): flows
      0..3 where the forward pass applies them, the finest where the script applies it, at the working size;
      ``apply_flow(batch.cloth, flows[-1], size=(H, W))`` reproduces ``warped_cloth``.
    - ``warped_cloth``, ``warped_mask`` ``(B, ., H, W)``: the working-size cloth and binarised mask sampled
      with the finest flow (``padding_mode="border"`` for both, as the script).
    - ``seg_logits`` ``(B, 13, H, W)``: *logits* (their softmax is HR-VITON's probability map): the
      generator's non-negative ``fake_segmap`` with its upper-clothes channel multiplied by the warped cloth
      mask of the generator's own 256x192 pass (``clothmask_composition="warp_grad"``, the default), upsampled
      bilinearly to the working size and blurred by a 15x15, sigma 3 Gaussian (zero padding) at that size
      (``fake_parse_gauss``; its argmax is the script's parse). Note the composition is already applied:
      `WarpOutput.aligned_seg` would apply a second one.
    - ``aligned_mask`` = ``remove_overlap(softmax(seg_logits), warped_mask)`` (removes hair, face, arms, legs,
      shoes, socks, noise); ``aligned_cloth = warped_cloth * aligned_mask + (1 - aligned_mask)`` (white
      outside), as the script with ``--occlusion`` (its README's command). With ``occlusion=False`` they are
      ``warped_*``.

    Args:
        ngf: the generator's width (96 in ``mtviton.pth``; `convert_hrviton` reads it from the file).
        input_size: ``(H, W)`` the generator runs at, divisible by 32 (HR-VITON: 256x192).
        occlusion: apply HR-VITON's occlusion removal (``--occlusion``) to the aligned outputs.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, ngf: int = 96, input_size: tuple[int, int] = INPUT_SIZE, occlusion: bool = True):
        super().__init__()
        if len(input_size) != 2 or any(int(v) % 32 or int(v) < 64 for v in input_size):
            raise InputError(f"input_size must be (H, W) divisible by 32 and >= 64, got {tuple(input_size)}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.tocg = HRVitonConditionGenerator(input1_nc=4, input2_nc=NUM_GROUPS + 3, output_nc=NUM_GROUPS,
                                              ngf=int(ngf))

    # -- the warper interface -----------------------------------------------------------------

    @property
    def multiple(self) -> int:
        """1: any working size works (inputs are resized to ``input_size``)."""
        return 1

    @property
    def densepose_encoding(self) -> str:
        """``"dp_segm"``: VITON-HD's DensePose colour render, the input HR-VITON was trained on."""
        return "dp_segm"

    @property
    def origin(self) -> str:
        return "hrviton"

    def describe(self) -> str:
        h, w = self.input_size
        occl = "with" if self.config.occlusion else "without"
        return (f"HR-VITON's condition generator (ngf={self.config.ngf}), ported; runs at {h}x{w} on the dp_segm "
                f"DensePose render, {occl} its occlusion removal")

    def warp(self, batch) -> WarpOutput:
        """Warp ``batch.cloth`` onto the person of ``batch`` (see the class docstring for every step)."""
        return self(batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic)

    # -- encoding, forward, post-processing ---------------------------------------------------

    def check_inputs(self, cloth, cloth_mask, densepose, parse_agnostic) -> None:
        """Raise `InputError` naming the first input that is not ``(B, C, H, W)`` with the shared B, H, W."""
        if not isinstance(cloth, torch.Tensor) or cloth.ndim != 4:
            raise InputError(f"cloth must be (B, 3, H, W), got {getattr(cloth, 'shape', type(cloth).__name__)}")
        b, _, h, w = cloth.shape
        for name, t, c in (("cloth", cloth, 3), ("cloth_mask", cloth_mask, 1), ("densepose", densepose, 3),
                           ("parse_agnostic", parse_agnostic, NUM_GROUPS)):
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != (b, c, h, w):
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise InputError(f"{name} must be {(b, c, h, w)} (B, C, H, W as the cloth), got {got}")

    def encode_inputs(self, cloth, cloth_mask, densepose, parse_agnostic) -> tuple[torch.Tensor, torch.Tensor]:
        """Our tensors -> HR-VITON's ``(input1 (B, 4, h, w), input2 (B, 16, h, w))`` at ``input_size``."""
        self.check_inputs(cloth, cloth_mask, densepose, parse_agnostic)
        size = self.input_size
        mask = (cloth_mask > 0.5).to(cloth.dtype)

        def smooth(t):
            if tuple(t.shape[-2:]) == size:
                return t
            return F.interpolate(t, size=size, mode="bilinear", align_corners=False)

        def labels(t):
            return t if tuple(t.shape[-2:]) == size else F.interpolate(t, size=size, mode="nearest")

        input1 = torch.cat([smooth(cloth), labels(mask)], dim=1)
        input2 = torch.cat([labels(parse_agnostic.to(cloth.dtype)), smooth(densepose.to(cloth.dtype))], dim=1)
        return input1, input2

    def forward(self, cloth, cloth_mask, densepose, parse_agnostic) -> WarpOutput:
        """The same as `warp` on the four tensors it reads (shapes as `vton.tensors.TryOnBatch`)."""
        input1, input2 = self.encode_inputs(cloth, cloth_mask, densepose, parse_agnostic)
        size = tuple(cloth.shape[-2:])

        # 1. HR-VITON's condition generator at input_size
        flow_list, fake_segmap, _, warped_cm_small = self.tocg(input1, input2)

        # 2. flows in our convention: 0..3 where the forward pass applies them, the finest at the working size
        flows = [offset_from_hrviton_flow(f, (2 * f.shape[1], 2 * f.shape[2])) for f in flow_list[:-1]]
        flows.append(offset_from_hrviton_flow(flow_list[-1], size))

        # 3. the working-size cloth and binarised mask warped as test_generator.py does
        grid = hrviton_sampling_grid(flow_list[-1], size)
        mask = (cloth_mask > 0.5).to(cloth.dtype)
        warped_cloth = _grid_sample(cloth, grid)
        warped_mask = _grid_sample(mask, grid)

        # 4. cloth-mask composition ("warp_grad"), upsampling, Gaussian blur: the script's fake_parse_gauss
        keep = torch.ones_like(fake_segmap)
        keep[:, CLOTH_GROUP : CLOTH_GROUP + 1] = warped_cm_small
        composed = fake_segmap * keep
        if tuple(composed.shape[-2:]) != size:
            composed = F.interpolate(composed, size=size, mode="bilinear", align_corners=False)
        seg_logits = _gaussian_blur(composed)

        # 5. occlusion removal
        if self.config.occlusion:
            aligned_mask = remove_overlap(seg_logits.softmax(dim=1), warped_mask)
            aligned_cloth = warped_cloth * aligned_mask + (1 - aligned_mask)
        else:
            aligned_mask, aligned_cloth = warped_mask, warped_cloth
        return WarpOutput(flows, warped_cloth, warped_mask, seg_logits, aligned_mask, aligned_cloth)

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_tocg(cls, tocg: HRVitonConditionGenerator, **config) -> "HRVitonWarper":
        """Wrap a loaded port (HR-VITON's 4 / 16 / 13 channels) in the adapter, copying its weights."""
        channels = (tocg.input1_nc, tocg.input2_nc, tocg.output_nc)
        if channels != (4, 3 + NUM_GROUPS, NUM_GROUPS):
            raise InputError(f"the warper adapter needs HR-VITON's channels (input1 4, input2 16, 13 classes); "
                             f"this condition generator has {channels}")
        warper = cls(ngf=tocg.ngf, **config)
        warper.tocg.load_state_dict(tocg.state_dict())
        return warper.eval()

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, **kwargs) -> "HRVitonWarper":
        """Load a folder written by `convert_hrviton` / ``save_pretrained`` (local only; weights must fit exactly).

        Raises:
            InputError: missing folder, no config or weights, weights that do not fit the config.
        """
        path = Path(folder)
        if not path.is_dir():
            raise InputError(f"HR-VITON warper folder not found: {path}")
        if not (path / cls.config_name).is_file():
            raise InputError(f"{path} is not a warper folder: it has no {cls.config_name}")
        if not any(path.glob("*.safetensors")):
            raise InputError(f"{path} has a config but no .safetensors weights")
        kwargs.setdefault("low_cpu_mem_usage", False)
        kwargs["local_files_only"] = True  # nothing is downloaded, whatever the caller passes
        try:
            model = super().from_pretrained(str(path), **kwargs)
        except InputError:
            raise
        except (ValueError, RuntimeError, OSError, TypeError, KeyError) as e:
            try:  # name the first mismatching tensor, which diffusers' message buries
                check_folder_weights(cls.from_config(cls.load_config(str(path))), path)
            except InputError:
                raise
            except (ValueError, RuntimeError, OSError, TypeError, KeyError):
                pass
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"cannot load the HR-VITON warper in {path}: {first}") from None
        check_folder_weights(model, path)
        return model.eval()


# ----------------------------------------------------------------------------- the converter


def convert_hrviton(tocg_pth: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write HR-VITON's ``mtviton.pth`` as a warper folder that `HRVitonWarper.from_pretrained` (and
    `vton.registry.load_warper`) rebuild: ``config.json`` (``_class_name: HRVitonWarper``, ``ngf`` read from
    the file) + ``diffusion_pytorch_model.safetensors``; no pickle.

    Atomic: written to a temporary folder beside ``out``, checked by loading it back, then renamed to
    ``out`` (which must not exist, or be an empty folder).

    Raises:
        InputError: the file is missing, truncated, not a checkpoint or another model's; ``out`` is taken.
            Nothing is left at ``out`` (nor any temporary folder).
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty folder; choose a new folder")
    warper = HRVitonWarper.from_tocg(HRVitonConditionGenerator.from_checkpoint(tocg_pth))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        warper.save_pretrained(str(tmp), safe_serialization=True)
        HRVitonWarper.from_pretrained(tmp)  # what was written loads back exactly
        if out.is_dir():
            out.rmdir()  # empty (checked above); os.replace onto it would also work on POSIX only
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
