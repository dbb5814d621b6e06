"""Flow operations: the convention holds (units, direction, resizing), measures mean what they say."""
import pytest
import torch

from vton.warp.ops import (
    apply_flow,
    end_point_error,
    flow_to_pixels,
    fold_mask,
    identity_grid,
    jacobian_determinant,
    pixels_to_flow,
    resize_flow,
    total_variation,
)

H, W = 40, 24  # non-square on purpose


def constant_pixel_flow(dx: float, dy: float, size=(H, W), batch=1, dtype=torch.float32) -> torch.Tensor:
    px = torch.tensor([dx, dy], dtype=dtype).view(1, 2, 1, 1).expand(batch, 2, *size).contiguous()
    return pixels_to_flow(px)


def test_identity_grid_is_pixel_centres():
    g = identity_grid(2, H, W)
    assert g.shape == (2, H, W, 2)
    assert torch.allclose(g[0, 0, 0], torch.tensor([-1 + 1 / W, -1 + 1 / H]))
    assert torch.allclose(g[0, -1, -1], torch.tensor([1 - 1 / W, 1 - 1 / H]))


def test_identity_flow_returns_the_input():
    image = torch.rand(2, 3, H, W)
    assert torch.allclose(apply_flow(image, torch.zeros(2, 2, H, W)), image, atol=1e-6)


@pytest.mark.parametrize("dx, dy", [(3, 0), (0, -2), (3, -2)])
def test_constant_flow_shifts_by_whole_pixels(dx, dy):
    image = torch.rand(1, 3, H, W)
    out = apply_flow(image, constant_pixel_flow(dx, dy))
    # out(y, x) = image(y + dy, x + dx), wherever that is inside the image
    ys = slice(max(0, -dy), H - max(0, dy))
    xs = slice(max(0, -dx), W - max(0, dx))
    src_ys = slice(ys.start + dy, ys.stop + dy)
    src_xs = slice(xs.start + dx, xs.stop + dx)
    assert torch.allclose(out[..., ys, xs], image[..., src_ys, src_xs], atol=1e-5)


def test_pixel_units_round_trip_and_scale_per_axis():
    flow = torch.randn(2, 2, H, W)
    assert torch.allclose(pixels_to_flow(flow_to_pixels(flow)), flow, atol=1e-6)
    px = flow_to_pixels(torch.ones(1, 2, H, W))
    assert px[0, 0].unique().item() == W / 2 and px[0, 1].unique().item() == H / 2


def test_flow_keeps_its_meaning_when_resized():
    # a constant 2-pixel shift at 4x resolution is the same normalized flow, 4x coarser
    coarse = constant_pixel_flow(0.5, -0.25, size=(H // 4, W // 4))
    fine = resize_flow(coarse, (H, W))
    assert torch.allclose(flow_to_pixels(fine)[:, 0], torch.full((1, H, W), 2.0), atol=1e-5)
    assert torch.allclose(flow_to_pixels(fine)[:, 1], torch.full((1, H, W), -1.0), atol=1e-5)
    # and warping a full-size image with the coarse flow equals warping with the resized one
    image = torch.rand(1, 3, H, W)
    assert torch.allclose(apply_flow(image, coarse, size=(H, W)), apply_flow(image, fine), atol=1e-6)


def test_smooth_flow_upsampled_matches_the_analytic_flow_inside():
    # an affine sampling map (a zoom), sampled at two resolutions: bilinear upsampling is exact inside
    def zoom(size):
        g = identity_grid(1, *size).permute(0, 3, 1, 2)
        return 0.2 * g + torch.tensor([0.1, -0.05]).view(1, 2, 1, 1)

    up = resize_flow(zoom((H // 2, W // 2)), (H, W))
    assert torch.allclose(up[..., 2:-2, 2:-2], zoom((H, W))[..., 2:-2, 2:-2], atol=1e-5)


def test_apply_flow_at_another_resolution_than_the_image():
    image = torch.rand(1, 1, 2 * H, 2 * W)
    flow = constant_pixel_flow(1, 0)  # 1 pixel at (H, W) = 2 pixels at (2H, 2W)
    out = apply_flow(image, flow, size=(2 * H, 2 * W))
    assert out.shape == (1, 1, 2 * H, 2 * W)
    assert torch.allclose(out[..., :-2], image[..., 2:], atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_warps_where_float32_does(dtype):
    """The sampling positions are float32 whatever the image's dtype: only the values are rounded. (Computed in
    bfloat16 the positions were up to half a pixel off on a 64x48 image: 0.21 max error against float32.)"""
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 48)
    flow = 0.3 * torch.rand(1, 2, 64, 48) - 0.15
    want = apply_flow(image, flow)
    got = apply_flow(image.to(dtype), flow.to(dtype))
    assert got.dtype == dtype and torch.isfinite(got).all()
    rounding = {torch.bfloat16: 2**-8, torch.float16: 2**-11}[dtype]  # relative precision of the values
    flow_rounding = (apply_flow(image, flow.to(dtype).float()) - want).abs().max()  # the flow itself rounded
    assert (got.float() - want).abs().max() <= flow_rounding + 2 * rounding


def test_apply_flow_gradcheck_float64():
    image = torch.rand(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    flow = (0.1 * torch.randn(1, 2, 5, 4, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda i, f: apply_flow(i, f, padding_mode="zeros"), (image, flow), eps=1e-6, atol=1e-4)


def test_jacobian_of_identity_shift_and_zoom():
    assert torch.allclose(jacobian_determinant(torch.zeros(1, 2, H, W)), torch.ones(1, 1, H, W))
    assert torch.allclose(jacobian_determinant(constant_pixel_flow(4, -3)), torch.ones(1, 1, H, W), atol=1e-5)
    # sampling map p -> 0.5 p (in normalized coordinates) shrinks areas by 0.25
    g = identity_grid(1, H, W).permute(0, 3, 1, 2)
    det = jacobian_determinant(-0.5 * g)
    assert torch.allclose(det, torch.full_like(det, 0.25), atol=1e-4)
    assert not fold_mask(-0.5 * g).any()


def test_fold_mask_finds_a_mirror():
    g = identity_grid(1, H, W).permute(0, 3, 1, 2)
    mirror_x = torch.cat([-2 * g[:, :1], torch.zeros_like(g[:, 1:])], dim=1)  # x -> -x
    assert fold_mask(mirror_x).all()


def test_total_variation_is_zero_for_constant_and_positive_otherwise():
    assert total_variation(constant_pixel_flow(3, 1)).item() == pytest.approx(0.0, abs=1e-7)
    assert total_variation(torch.randn(1, 2, H, W)).item() > 0


def test_end_point_error_in_pixels_at_the_flow_size():
    gt = torch.zeros(2, 2, H, W)
    flow = constant_pixel_flow(3, 4, batch=2)
    assert end_point_error(flow, gt).item() == pytest.approx(5.0, rel=1e-5)
    half = resize_flow(flow, (H // 2, W // 2))  # same normalized flow: half the pixels
    assert end_point_error(half, gt).item() == pytest.approx(2.5, rel=1e-5)
    mask = torch.zeros(2, 1, H, W)
    mask[:, :, :10] = 1
    flow2 = flow.clone()
    flow2[:, :, 10:] = 0  # wrong inside the mask, right outside it
    assert end_point_error(flow2, gt, mask).item() == pytest.approx(5.0, rel=1e-5)
    assert end_point_error(flow2, gt).item() == pytest.approx(5.0 * 10 / H, rel=1e-5)
    assert end_point_error(flow, gt, reduction="batch").shape == (2,)


def test_shape_errors_name_the_shape():
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\).*\(1, 3, 4, 4\)"):
        apply_flow(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="batch 2 does not match flow batch 1"):
        apply_flow(torch.rand(2, 3, 4, 4), torch.rand(1, 2, 4, 4))
