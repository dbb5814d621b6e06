"""FlowWarpNet: shapes at any batch and size, starts at the identity warp, bit-exact save/load, clear errors."""
import json
import tempfile

import pytest
import torch

from vton.errors import InputError
from vton.types import Group
from vton.warp.network import FlowWarpNet, WarpOutput, occlusion_aligned, warp_full_resolution
from vton.warp.ops import pixels_to_flow

SMALL = dict(base_channels=8)


def inputs(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    cloth = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    mask = (torch.rand(b, 1, h, w, generator=g) > 0.3).float()
    dp = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    labels = torch.randint(0, 13, (b, h, w), generator=g)
    parse = torch.nn.functional.one_hot(labels, 13).permute(0, 3, 1, 2).float()
    return cloth, mask, dp, parse


def randomize(net: FlowWarpNet, seed=1) -> FlowWarpNet:
    """Give the zero-initialised flow heads weights, so flows are not all zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for head in net.flow_heads:
            last = head.net[-1]
            last.weight.copy_(0.01 * torch.randn(last.weight.shape, generator=g))
    return net


@pytest.mark.parametrize("b, h, w", [(3, 256, 192), (1, 512, 384), (2, 64, 96)])
def test_shapes_at_any_batch_and_size(b, h, w):
    net = FlowWarpNet(**SMALL).eval()
    with torch.no_grad():
        out = net(*inputs(b, h, w))
    assert isinstance(out, WarpOutput)
    assert [tuple(f.shape) for f in out.flows] == [(b, 2, h // 2**k, w // 2**k) for k in (5, 4, 3, 2, 1)]
    for name, c in [("warped_cloth", 3), ("warped_mask", 1), ("seg_logits", 13), ("aligned_mask", 1), ("aligned_cloth", 3)]:
        assert tuple(getattr(out, name).shape) == (b, c, h, w), name
    assert out.full_flow().shape == (b, 2, h, w)


def test_default_config_is_small_enough_for_cpu_training():
    n = sum(p.numel() for p in FlowWarpNet().parameters())
    assert 0.5e6 <= n <= 2e6


def test_untrained_network_is_the_identity_warp():
    net = FlowWarpNet(**SMALL).eval()
    cloth, mask, dp, parse = inputs(2, 64, 32)
    with torch.no_grad():
        out = net(cloth, mask, dp, parse)
    assert all(f.abs().max() == 0 for f in out.flows)
    assert torch.allclose(out.warped_cloth, cloth, atol=1e-5)
    assert torch.allclose(out.warped_mask, mask, atol=1e-5)


def test_samples_do_not_depend_on_the_rest_of_the_batch():
    net = randomize(FlowWarpNet(**SMALL)).eval()
    x = inputs(3, 64, 64)
    with torch.no_grad():
        together = net(*x)
        alone = net(*(t[1:2] for t in x))
    assert torch.allclose(together.flows[-1][1:2], alone.flows[-1], atol=1e-5)
    assert torch.allclose(together.seg_logits[1:2], alone.seg_logits, atol=1e-4)


def test_save_load_round_trip_is_bit_exact(tmp_path):
    net = randomize(FlowWarpNet(**SMALL)).eval()
    net.save_pretrained(tmp_path / "warp")
    loaded = FlowWarpNet.from_pretrained(tmp_path / "warp").eval()
    assert loaded.config.base_channels == 8
    for (k, a), b in zip(net.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    x = inputs(1, 64, 64)
    with torch.no_grad():  # the weights are bit-exact; outputs may differ in the last bits with the kernels picked
        assert torch.allclose(net(*x).flows[-1], loaded(*x).flows[-1], rtol=0, atol=1e-6)


def test_loading_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="not found"):
        FlowWarpNet.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        FlowWarpNet.from_pretrained(tmp_path / "empty")
    FlowWarpNet(base_channels=8).save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["base_channels"] = 16  # config no longer matches the weights
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="do not match"):
        FlowWarpNet.from_pretrained(tmp_path / "m")


def test_input_errors_name_expected_and_given_shapes():
    net = FlowWarpNet(**SMALL)
    cloth, mask, dp, parse = inputs(1, 64, 96)
    with pytest.raises(InputError, match=r"divisible by 32.*60x96"):
        net(*inputs(1, 60, 96))
    with pytest.raises(InputError, match=r"parse_agnostic must have shape \(1, 13, 64, 96\).*\(1, 12, 64, 96\)"):
        net(cloth, mask, dp, parse[:, :12])
    with pytest.raises(InputError, match=r"cloth_mask must have shape \(1, 1, 64, 96\).*\(2, 1, 64, 96\)"):
        net(cloth, mask.repeat(2, 1, 1, 1), dp, parse)


def test_occlusion_removes_arms_from_the_warped_mask():
    h, w = 8, 6
    logits = torch.full((1, 13, h, w), -20.0)
    logits[:, Group.UPPER] = 20.0
    logits[:, Group.LEFT_ARM, :, :3] = 40.0  # an arm in front of the left half
    cloth = torch.zeros(1, 3, h, w)
    aligned_cloth, aligned_mask = occlusion_aligned(cloth, torch.ones(1, 1, h, w), logits)
    assert torch.allclose(aligned_mask[..., :3], torch.zeros(1, 1, h, 3), atol=1e-6)
    assert torch.allclose(aligned_mask[..., 3:], torch.ones(1, 1, h, 3), atol=1e-6)
    assert torch.allclose(aligned_cloth[..., :3], torch.ones(1, 3, h, 3), atol=1e-6)  # white where occluded


def test_warp_full_resolution_uses_the_flow_in_normalized_units():
    h, w = 32, 24
    px = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1).expand(1, 2, h // 2, w // 2)
    flow = pixels_to_flow(px.contiguous())  # 1 px at half size = 4 px at twice the size
    out = WarpOutput([flow], torch.zeros(1, 3, h, w), torch.zeros(1, 1, h, w), torch.zeros(1, 13, h, w),
                     torch.zeros(1, 1, h, w), torch.zeros(1, 3, h, w))
    big = torch.rand(1, 3, 2 * h, 2 * w)
    warped = warp_full_resolution(out, big)
    assert warped.shape == big.shape
    assert torch.allclose(warped[..., :-4], big[..., 4:], atol=1e-5)


def test_warp_pair_runs_on_numpy_stage_results_at_a_chosen_size():
    from vton.data.synth.render import generate_pair
    from vton.warp.network import warp_pair

    pair = generate_pair(2, (128, 96))
    net = FlowWarpNet(**SMALL)
    out = warp_pair(net, pair.person, pair.cloth, size=(64, 64))
    assert out.warped_cloth.shape == (1, 3, 64, 64) and out.flows[-1].shape == (1, 2, 32, 32)
    with pytest.raises(InputError, match="divisible by 32"):
        warp_pair(net, pair.person, pair.cloth, size=(100, 96))


def test_fewer_levels_need_a_smaller_multiple():
    net = FlowWarpNet(base_channels=4, num_levels=4).eval()
    assert net.multiple == 16
    with torch.no_grad():
        out = net(*inputs(1, 48, 32))
    assert [tuple(f.shape[-2:]) for f in out.flows] == [(3, 2), (6, 4), (12, 8), (24, 16)]
    with pytest.raises(ValueError, match="one channel multiplier per level"):
        FlowWarpNet(num_levels=3, channel_mults=(1, 2))


def test_working_size_predicts_small_and_warps_at_the_input_resolution():
    torch.manual_seed(0)
    net = FlowWarpNet(base_channels=4, num_levels=5, working_size=(64, 32)).eval()
    b, h, w = 2, 128, 64
    cloth = torch.rand(b, 3, h, w) * 2 - 1
    mask = (torch.rand(b, 1, h, w) > 0.5).float()
    dp = torch.rand(b, 3, h, w) * 2 - 1
    parse = torch.nn.functional.one_hot(torch.randint(0, 13, (b, h, w)), 13).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        out = net(cloth, mask, dp, parse)
    assert tuple(out.flows[-1].shape) == (b, 2, 32, 16)  # finest flow at half the working size
    assert tuple(out.warped_cloth.shape) == (b, 3, h, w) and tuple(out.seg_logits.shape) == (b, 13, h, w)
    # the flow heads start at zero: an untrained net warps nothing, at full resolution too
    assert torch.allclose(out.warped_cloth, cloth, atol=1e-5)
    # a net saved with a working size comes back with it
    with tempfile.TemporaryDirectory() as d:
        net.save_pretrained(d)
        assert tuple(FlowWarpNet.from_pretrained(d).config.working_size) == (64, 32)
    with pytest.raises(ValueError, match="divisible"):
        FlowWarpNet(working_size=(100, 64))
