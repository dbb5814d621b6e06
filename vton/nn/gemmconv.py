"""Convolutions that run as one matrix product over the batch when the output has few positions.

A UNet of the seed's shape (widths doubling to 64 x 64 = 4096 channels, the bottom at 1x1) spends
almost all of a CPU step in its deepest levels, where a 3x3 conv holds 600 MB of fp32 weights and
produces 4 output positions. Such a layer is bound by reading its weights, so a batch of 4 should
cost about what a batch of 1 does. PyTorch's CPU convolution does not see it that way: for these
shapes oneDNN (and the native fallback) re-lays or re-reads the weights per sample: a layer's batch of 4
costs up to 10x its batch of 1 (the table below), and the seed's whole UNet at batch 4 cost 4.1x its
batch of 1 (``python bench/compat.py``; 1.5x with these layers).

The layers here compute the same convolution as ``im2col`` + one GEMM whose columns are every
sample's every output position (``F.unfold``, then ``addmm``), so the weights are read once for the
whole batch. They subclass `nn.Conv2d` / `nn.ConvTranspose2d`: the parameters, state-dict keys and
results (to float rounding, about 1e-6 relative) are those of the PyTorch layers, and anything
outside the narrow case (a GPU, a large output, groups, dilation, a padding mode) takes PyTorch's
own path.

Measured on 2 CPU cores (fp32, ms per call, conv -> gemm):

==========================  ==========  =========
layer, input                batch 1     batch 4
==========================  ==========  =========
3x3 2048->2048, 4x4         89 -> 17    117 -> 60
3x3 2048->2048 /2, 4x4      92 -> 26    82 -> 15
3x3 4096->4096, 2x2         94 -> 97    302 -> 63
3x3 4096->4096 /2, 2x2      30 -> 29    279 -> 53
convT 2x2 4096->2048, 1x1   8 -> 9      86 -> 35
3x3 256->256, 16x16         1.5 -> 2.4  5.7 -> 9.9  (why the rule stops at 64 positions)
==========================  ==========  =========
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Output positions (batch x height x width) up to which the GEMM path is taken. Measured: at 8x8
# and batch 1 (64) the GEMM wins or ties; at 8x8 and batch 4 (256) PyTorch's convolution is faster.
MAX_POSITIONS = 64


def _gemm_eligible(x: torch.Tensor, positions: int) -> bool:
    return x.device.type == "cpu" and x.ndim == 4 and positions <= MAX_POSITIONS


class GemmConv2d(nn.Conv2d):
    """`nn.Conv2d` that computes small outputs on the CPU as one GEMM over the batch (module docstring).

    Example:
        >>> conv = GemmConv2d(8, 16, 3, padding=1)
        >>> x = torch.randn(4, 8, 2, 2)
        >>> torch.allclose(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1), atol=1e-6)
        True
    """

    def _out_size(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plain = (self.groups == 1 and self.padding_mode == "zeros" and self.dilation == (1, 1)
                 and not isinstance(self.padding, str))
        if not plain or x.ndim != 4:
            return super().forward(x)
        b, c, h, w = x.shape
        ho, wo = self._out_size(h, w)
        if not _gemm_eligible(x, b * ho * wo):
            return super().forward(x)
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # (B, C k k, L)
        cols = cols.transpose(0, 1).reshape(cols.shape[1], b * ho * wo)  # every sample's positions side by side
        weight = self.weight.reshape(self.out_channels, -1)
        out = weight @ cols if self.bias is None else torch.addmm(self.bias[:, None], weight, cols)
        return out.reshape(self.out_channels, b, ho, wo).transpose(0, 1)


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """`nn.ConvTranspose2d` whose kernel equals its stride (a 2x2 up-convolution, no overlap): on the CPU
    with few input positions, one GEMM ``(B h w, C_in) @ (C_in, C_out k k)`` and a pixel shuffle."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        plain = (output_size is None and self.groups == 1 and self.dilation == (1, 1) and self.padding == (0, 0)
                 and self.output_padding == (0, 0) and self.kernel_size == self.stride)
        if not plain or x.ndim != 4 or not _gemm_eligible(x, x.shape[0] * x.shape[2] * x.shape[3]):
            return super().forward(x, output_size)
        b, c, h, w = x.shape
        kh, kw = self.kernel_size
        rows = x.permute(0, 2, 3, 1).reshape(b * h * w, c)
        y = rows @ self.weight.reshape(c, -1)  # (B h w, C_out kh kw)
        y = y.reshape(b, h, w, self.out_channels, kh, kw).permute(0, 3, 1, 4, 2, 5)
        y = y.reshape(b, self.out_channels, h * kh, w * kw)
        return y if self.bias is None else y + self.bias[:, None, None]
