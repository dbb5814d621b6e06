"""VGG19 features and the perceptual loss, without torchvision.

`VGG19Features` has exactly torchvision's ``vgg19().features`` layout, so a
torchvision state dict (``features.0.weight`` ... ``features.34.bias``; the
``classifier.*`` keys are ignored) loads into it unchanged. We never download
weights: the user passes a local file (``.pth``/``.pt`` loaded with
``weights_only=True``, or ``.safetensors``).

Example::

    loss_fn = VGGPerceptualLoss.from_file("vgg19-dcbb9e9d.pth")
    loss = loss_fn(fake, real)   # images (B, 3, H, W) in [-1, 1]
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vton.errors import InputError

# torchvision's configuration "E" (VGG19): channels, "M" = max-pool.
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")

# Outputs of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (indices in `features`) and their
# weights, as in pix2pixHD's VGG loss, which HR-VITON and DCI-VTON use.
PERCEPTUAL_LAYERS = (1, 6, 11, 20, 29)
PERCEPTUAL_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """torchvision's ``vgg19().features`` (same module indices, so same state-dict keys)."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_ch, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                in_ch = v
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, taps: tuple[int, ...] = PERCEPTUAL_LAYERS) -> list[torch.Tensor]:
        """ImageNet-normalized ``(B, 3, H, W)`` -> the activations after the layers in ``taps``."""
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in taps:
                out.append(x)
                if len(out) == len(taps):
                    break
        return out


def load_vgg19_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a torchvision VGG19 state dict from a local file; keep only ``features.*``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"VGG19 weights not found at {path} (give a local torchvision vgg19 .pth or .safetensors file)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, pickle with code, not a state dict
        raise InputError(f"could not read VGG19 weights from {path}: {e}") from None
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return {k: v for k, v in state.items() if k.startswith("features.")}


class VGGPerceptualLoss(nn.Module):
    """Weighted L1 between VGG19 activations of two images in ``[-1, 1]``; the VGG is frozen."""

    def __init__(self, vgg: VGG19Features):
        super().__init__()
        self.vgg = vgg.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_file(cls, path: str | Path) -> "VGGPerceptualLoss":
        vgg = VGG19Features()
        state = load_vgg19_state_dict(path)
        expected = set(vgg.state_dict())
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise InputError(
                f"{path} is not a torchvision VGG19: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}"
            )
        for k, v in vgg.state_dict().items():
            if state[k].shape != v.shape:
                raise InputError(f"{path}: {k} has shape {tuple(state[k].shape)}, VGG19 needs {tuple(v.shape)}")
        vgg.load_state_dict(state, strict=True)
        return cls(vgg)

    def train(self, mode: bool = True):  # the VGG stays in eval mode
        super().train(mode)
        self.vgg.eval()
        return self

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2 - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"perceptual loss needs two (B, 3, H, W) images, got {tuple(x.shape)} and {tuple(y.shape)}")
        fx = self.vgg(self._normalize(x))
        with torch.no_grad():
            fy = self.vgg(self._normalize(y))
        return sum(w * F.l1_loss(a, b) for w, a, b in zip(PERCEPTUAL_WEIGHTS, fx, fy))
