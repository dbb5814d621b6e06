"""LPIPS v0.1 (Zhang et al. 2018) from the files users have, without torchvision or the ``lpips`` package.

Two files make the metric:

- the linear layers the ``lpips`` package ships (``lpips/weights/v0.1/alex.pth`` or ``vgg.pth``):
  keys ``lin0.model.1.weight`` ... ``lin4.model.1.weight``, each ``(1, C_k, 1, 1)`` (index 1:
  a dropout sits at index 0 of each ``NetLinLayer``);
- the backbone, in torchvision's layout (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``:
  ``features.0.weight`` ...; ``classifier.*`` is ignored). `AlexNetFeatures` and `VGG16Features`
  have exactly torchvision's ``features`` module indices.

The distance, as the package computes it (``LPIPS(net=..., version="0.1")``, not spatial):
inputs in ``[-1, 1]`` go through the scaling layer ``(x - shift) / scale`` with
``shift = (-0.030, -0.088, -0.188)``, ``scale = (0.458, 0.448, 0.450)``; at five ReLU outputs
(AlexNet: ``relu1..relu5``; VGG16: ``relu1_2, relu2_2, relu3_3, relu4_3, relu5_3``) each feature
vector is divided by its channel norm (``+ 1e-10``), the squared difference goes through the
layer's 1x1 linear weights, is averaged over space, and the five values are summed.

Example::

    lpips = LPIPS.from_files("alex.pth", "alexnet-owt-7be5be79.pth")
    d = lpips(x, y)          # x, y: (B, 3, H, W) in [-1, 1]  ->  (B,)
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vton.errors import InputError
from vton.nn.statedict import check_state_dict, read_state_dict

# ScalingLayer of the lpips package (v0.1): ImageNet statistics expressed for inputs in [-1, 1].
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10


def _stack(cfg) -> nn.Sequential:
    """torchvision's ``features``: ("C", out, kernel, stride, padding) -> Conv2d + ReLU; "M" -> MaxPool(2, 2)
    (or ("M", k, s) for AlexNet's 3x3 / 2)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for item in cfg:
        if item[0] == "M":
            k, s = item[1:] if len(item) > 1 else (2, 2)
            layers.append(nn.MaxPool2d(kernel_size=k, stride=s))
        else:
            _, out, k, s, p = item
            layers += [nn.Conv2d(in_ch, out, kernel_size=k, stride=s, padding=p), nn.ReLU(inplace=False)]
            in_ch = out
    return nn.Sequential(*layers)


class _Features(nn.Module):
    """A torchvision ``features`` stack returning the activations after the layers in ``TAPS``."""

    CFG: tuple = ()
    TAPS: tuple[int, ...] = ()
    CHANNELS: tuple[int, ...] = ()

    def __init__(self):
        super().__init__()
        self.features = _stack(self.CFG)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` (already scaled) -> the five tapped activations."""
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.TAPS:
                out.append(x)
                if len(out) == len(self.TAPS):
                    break
        return out


class AlexNetFeatures(_Features):
    """torchvision's ``alexnet().features`` (indices 0..12), tapped after ReLUs 1, 4, 7, 9, 11."""

    CFG = (("C", 64, 11, 4, 2), ("M", 3, 2), ("C", 192, 5, 1, 2), ("M", 3, 2), ("C", 384, 3, 1, 1),
           ("C", 256, 3, 1, 1), ("C", 256, 3, 1, 1), ("M", 3, 2))
    TAPS = (1, 4, 7, 9, 11)
    CHANNELS = (64, 192, 384, 256, 256)


class VGG16Features(_Features):
    """torchvision's ``vgg16().features`` (configuration "D", indices 0..30), tapped after ReLUs 3, 8, 15, 22, 29."""

    CFG = tuple(("M",) if v == "M" else ("C", v, 3, 1, 1)
                for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"))
    TAPS = (3, 8, 15, 22, 29)
    CHANNELS = (64, 128, 256, 512, 512)


BACKBONES: dict[str, type[_Features]] = {"alex": AlexNetFeatures, "vgg": VGG16Features}
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def _normalize(f: torch.Tensor) -> torch.Tensor:
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance between images in ``[-1, 1]`` (see the module docstring); frozen, eval mode.

    Args:
        net: ``"alex"`` or ``"vgg"``.
    """

    def __init__(self, net: str = "alex"):
        super().__init__()
        if net not in BACKBONES:
            raise ValueError(f"LPIPS net must be one of {sorted(BACKBONES)}, got {net!r}")
        self.net_name = net
        self.net = BACKBONES[net]()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in self.net.CHANNELS)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True):  # a metric: always eval
        return super().train(False)

    def layers(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The five per-layer terms, ``(B, 5)``; their sum is the distance."""
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS needs two (B, 3, H, W) images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        fx = self.net((x - self.shift) / self.scale)
        fy = self.net((y - self.shift) / self.scale)
        terms = [lin((_normalize(a) - _normalize(b)).pow(2)).mean(dim=(2, 3)) for lin, a, b in zip(self.lins, fx, fy)]
        return torch.cat(terms, dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x, y (B, 3, H, W)`` in ``[-1, 1]`` -> distances ``(B,)``."""
        return self.layers(x, y).sum(dim=1)

    # ------------------------------------------------------------------------- loading the users' files

    @staticmethod
    def net_of_linear_file(state: dict[str, torch.Tensor], path: str | Path) -> str:
        """Which backbone a linear-layer file belongs to, from its channel counts."""
        chans = tuple(int(state[k].shape[1]) if k in state and state[k].ndim == 4 else None
                      for k in (f"lin{i}.model.1.weight" for i in range(5)))
        for name, cls in BACKBONES.items():
            if chans == cls.CHANNELS:
                return name
        raise InputError(f"{path} is not an LPIPS v0.1 linear-layer file (alex.pth / vgg.pth of the lpips package): "
                         f"expected lin0.model.1.weight ... lin4.model.1.weight with channels "
                         f"{AlexNetFeatures.CHANNELS} (alex) or {VGG16Features.CHANNELS} (vgg), got {chans}")

    @classmethod
    def from_files(cls, linear: str | Path, backbone: str | Path) -> "LPIPS":
        """Build from the lpips package's ``alex.pth`` / ``vgg.pth`` and the matching torchvision backbone file."""
        lin_state = read_state_dict(linear, "LPIPS linear-layer weights")
        net = cls.net_of_linear_file(lin_state, linear)
        model = cls(net)
        expected = {f"lin{i}.model.1.weight": lin.weight.shape for i, lin in enumerate(model.lins)}
        check_state_dict(lin_state, expected, linear, f"an LPIPS v0.1 {net}.pth linear-layer file")
        bb_state = read_state_dict(backbone, f"{net} backbone weights")
        what = f"a torchvision {'AlexNet' if net == 'alex' else 'VGG16'} state dict ({BACKBONE_FILES[net]}), " \
               f"which the LPIPS file {Path(linear).name} needs"
        check_state_dict(bb_state, {k: v.shape for k, v in model.net.state_dict().items()}, backbone, what,
                         ignore=("classifier.",))
        with torch.no_grad():
            for i, lin in enumerate(model.lins):
                lin.weight.copy_(lin_state[f"lin{i}.model.1.weight"])
            model.net.load_state_dict({k: v for k, v in bb_state.items() if k.startswith("features.")}, strict=True)
        return model
