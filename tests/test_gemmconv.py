"""`vton.nn.gemmconv`: the GEMM path computes PyTorch's convolution, and is taken exactly where it should be."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vton.nn import gemmconv
from vton.nn.gemmconv import MAX_POSITIONS, GemmConv2d, GemmConvTranspose2d


@pytest.fixture
def count_gemm(monkeypatch):
    """Counts the calls that took the GEMM path (those where the eligibility check said yes)."""
    calls = []
    real = gemmconv._gemm_eligible

    def spy(x, positions):
        ok = real(x, positions)
        calls.append(ok)
        return ok

    monkeypatch.setattr(gemmconv, "_gemm_eligible", spy)
    return calls


CASES = [(size, kernel, stride, padding)
         for size in [(1, 1), (2, 2), (3, 5), (4, 4)]
         for kernel, stride, padding in [(3, 1, 1), (3, 2, 1), (1, 1, 0), (2, 2, 0), (3, 1, 0)]
         if min(size) + 2 * padding >= kernel]  # at least one output position


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size,kernel,stride,padding", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_pytorch(batch, size, kernel, stride, padding, bias, count_gemm):
    torch.manual_seed(0)
    conv = GemmConv2d(6, 10, kernel, stride=stride, padding=padding, bias=bias).double()
    x = torch.randn(batch, 6, *size, dtype=torch.float64)
    got = conv(x)
    want = F.conv2d(x, conv.weight, conv.bias, stride=stride, padding=padding)
    assert count_gemm == [True]
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_conv_gradients_match_pytorch():
    torch.manual_seed(0)
    conv = GemmConv2d(4, 5, 3, padding=1).double()
    ref = nn.Conv2d(4, 5, 3, padding=1).double()
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    (conv(x) ** 2).sum().backward()
    (ref(x2) ** 2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(conv.weight.grad, ref.weight.grad)
    torch.testing.assert_close(conv.bias.grad, ref.bias.grad)


def test_large_outputs_and_other_convs_take_pytorchs_path(count_gemm):
    torch.manual_seed(0)
    big = GemmConv2d(3, 4, 3, padding=1)
    x = torch.randn(1, 3, 16, 16)  # 256 positions > MAX_POSITIONS
    torch.testing.assert_close(big(x), F.conv2d(x, big.weight, big.bias, padding=1))
    assert count_gemm == [False] and 16 * 16 > MAX_POSITIONS
    for conv in (GemmConv2d(4, 4, 3, padding=1, groups=2), GemmConv2d(4, 4, 3, padding=2, dilation=2),
                 GemmConv2d(4, 4, 3, padding="same"), GemmConv2d(4, 4, 3, padding=1, padding_mode="reflect")):
        x = torch.randn(2, 4, 2, 2)
        ref = nn.Conv2d(4, 4, 3, padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                        padding_mode=conv.padding_mode)
        ref.load_state_dict(conv.state_dict())
        torch.testing.assert_close(conv(x), ref(x))
    assert count_gemm == [False]  # none of the four even asked


@pytest.mark.parametrize("batch,size", [(1, (1, 1)), (4, (1, 1)), (2, (2, 3)), (4, (4, 4))])
@pytest.mark.parametrize("bias", [True, False])
def test_transposed_conv_matches_pytorch(batch, size, bias, count_gemm):
    torch.manual_seed(0)
    up = GemmConvTranspose2d(6, 5, 2, stride=2, bias=bias).double()
    x = torch.randn(batch, 6, *size, dtype=torch.float64)
    torch.testing.assert_close(up(x), F.conv_transpose2d(x, up.weight, up.bias, stride=2), rtol=1e-12, atol=1e-12)
    assert count_gemm == [True]


def test_overlapping_transposed_conv_takes_pytorchs_path(count_gemm):
    up = GemmConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
    x = torch.randn(1, 3, 2, 2)
    torch.testing.assert_close(up(x), F.conv_transpose2d(x, up.weight, up.bias, stride=2, padding=1, output_padding=1))
    assert count_gemm == []


def test_state_dict_is_pytorchs():
    ours = GemmConv2d(3, 4, 3), GemmConvTranspose2d(4, 2, 2, stride=2)
    theirs = nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(4, 2, 2, stride=2)
    for a, b in zip(ours, theirs):
        assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
        b.load_state_dict(a.state_dict())  # strict


def test_seed_unet_deep_levels_use_the_gemm_path(count_gemm):
    """The seed's UNet port at a small width: its deep levels take the GEMM path and the result is the
    same as with PyTorch's convolutions everywhere."""
    from vton.compat import SeedUNet

    torch.manual_seed(0)
    unet = SeedUNet(9, 4, hidden_channels=8, time_emb_dim=16).double().eval()
    x = torch.randn(2, 9, 64, 64, dtype=torch.float64)
    t = torch.tensor([999, 10])
    with torch.no_grad():
        got = unet(x, t)
    assert any(count_gemm) and not all(count_gemm)
    with torch.no_grad(), pytest.MonkeyPatch.context() as m:
        m.setattr(gemmconv, "MAX_POSITIONS", 0)  # every conv on PyTorch's path
        want = unet(x, t)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
