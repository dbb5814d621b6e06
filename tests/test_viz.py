"""Properties of the lab's pictures (`vton.viz`) and the run zip (`vton.export`)."""
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from vton import viz
from vton.export import RunExport, run_zip
from vton.io import load_keypoints_json
from vton.types import CIHP, CIHP_PALETTE, Body25

H, W = 32, 24


def const_flow(dx_px: float, dy_px: float, size=(H, W)) -> np.ndarray:
    """A constant flow of (dx, dy) pixels at ``size``, in normalized units."""
    h, w = size
    f = np.zeros((2, h, w), np.float32)
    f[0], f[1] = dx_px / (w / 2), dy_px / (h / 2)
    return f


def random_image(seed=0, size=(H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------- flows


def test_flow_to_pixels_uses_half_the_image_per_unit():
    px = viz.flow_to_pixels(const_flow(3.0, -2.0), (H, W))
    assert np.allclose(px[0], 3.0) and np.allclose(px[1], -2.0)
    # the same normalized flow measured at twice the size is twice as many pixels
    assert np.allclose(viz.flow_to_pixels(const_flow(3.0, -2.0), (2 * H, 2 * W))[0], 6.0)


def test_zero_flow_is_white_and_full_length_is_saturated():
    assert (viz.flow_to_color(np.zeros((2, H, W), np.float32), (H, W), max_pixels=5.0) == 255).all()
    right = viz.flow_to_color(const_flow(5.0, 0.0), (H, W), max_pixels=5.0)[0, 0].astype(int)
    left = viz.flow_to_color(const_flow(-5.0, 0.0), (H, W), max_pixels=5.0)[0, 0].astype(int)
    assert right.min() < 20 and left.min() < 20  # fully saturated: one channel near 0
    assert np.abs(right - left).sum() > 200  # opposite directions, distinct hues


def test_one_colour_scale_across_levels():
    """The same pixel offset gives the same colour at any level when max_pixels is shared."""
    fine, coarse = const_flow(2.0, 1.0, (H, W)), const_flow(2.0, 1.0, (H // 4, W // 4))
    coarse[:] = fine[:, : H // 4, : W // 4]  # normalized units: same values at any resolution
    m = viz.flow_max_pixels([fine, coarse], (H, W))
    assert m == pytest.approx(np.hypot(2.0, 1.0), rel=1e-5)
    a = viz.flow_to_color(fine, (H, W), m)[0, 0]
    b = viz.flow_to_color(coarse, (H, W), m)[0, 0]
    assert np.array_equal(a, b)
    half = viz.flow_to_color(fine * 0.5, (H, W), m)[0, 0]
    assert half.min() > a.min()  # shorter offset: paler


def test_warp_image_pulls_from_p_plus_flow():
    img = random_image()
    shifted = viz.warp_image(img, const_flow(2.0, 0.0))
    assert np.array_equal(shifted[:, :-2], img[:, 2:])  # warped(p) = image(p + 2 px)
    assert np.array_equal(viz.warp_image(img, np.zeros((2, H, W), np.float32)), img)


def test_warp_image_border_padding_repeats_the_edge():
    img = random_image()
    out = viz.warp_image(img, const_flow(3.0, 0.0), padding="border")
    assert np.array_equal(out[:, -1], img[:, -1]) and np.array_equal(out[:, -3], img[:, -1])
    assert (viz.warp_image(img, const_flow(3.0, 0.0))[:, -1] == 0).all()


def test_short_arrows_are_drawn_longer_but_hover_tells_the_truth():
    fig = viz.quiver_figure(const_flow(0.5, 0.0), (H, W), max_arrows=4, title="t")
    shafts, hover = fig.data[0], [t for t in fig.data if t.customdata is not None][0]
    drawn = np.asarray(shafts.x, dtype=float)[1] - np.asarray(shafts.x, dtype=float)[0]
    assert drawn > 0.5 and "arrows x" in fig.layout.title.text
    assert np.allclose(np.asarray(hover.customdata)[:, 0], 0.5)


def test_warp_image_matches_the_library_grid_sample():
    from vton.warp.ops import apply_flow

    img = random_image(1)
    yy, xx = np.mgrid[0:H, 0:W] / np.array([H, W]).reshape(2, 1, 1)
    flow = np.stack([0.1 * np.sin(3 * yy), 0.08 * np.cos(2 * xx)]).astype(np.float32)
    ours = viz.warp_image(img, flow).astype(np.float32)
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    theirs = apply_flow(t, torch.from_numpy(flow)[None], padding_mode="zeros")[0].permute(1, 2, 0).numpy()
    inner = (slice(3, -3), slice(3, -3))
    assert np.abs(ours[inner] - theirs[inner]).mean() < 1.0


def test_warp_image_upsamples_a_coarse_flow():
    img = random_image(2)
    coarse = const_flow(2.0, 0.0, (H // 4, W // 4)) * 0 + const_flow(2.0, 0.0)[:, : H // 4, : W // 4]
    assert np.array_equal(viz.warp_image(img, coarse)[:, :-2], img[:, 2:])


def test_deformed_grid_is_regular_for_zero_flow_and_moves_with_the_flow():
    base = np.zeros((H, W, 3), np.uint8)
    grid = viz.deformed_grid(base, np.zeros((2, H, W), np.float32), spacing=8, color=(255, 0, 0))
    rows = np.flatnonzero(grid[:, 1, 0] == 255)
    assert list(rows) == list(range(0, H, 8))
    moved = viz.deformed_grid(base, const_flow(0.0, 2.0), spacing=8, color=(255, 0, 0))
    assert list(np.flatnonzero(moved[:, 1, 0] == 255))[:2] == [6, 14]  # a line at y=8 is seen from y=6


def test_quiver_hover_reports_pixel_offsets():
    fig = viz.quiver_figure(const_flow(3.0, -1.5), (H, W), background=random_image(), max_arrows=6)
    hover = [t for t in fig.data if t.customdata is not None][0]
    assert np.allclose(np.asarray(hover.customdata)[:, 0], 3.0) and np.allclose(np.asarray(hover.customdata)[:, 1], -1.5)
    assert len(hover.x) <= 6 * 6
    assert "dx=" in hover.hovertemplate


def test_quiver_mask_drops_arrows_outside():
    mask = np.zeros((H, W), np.uint8)
    mask[: H // 2] = 1
    fig = viz.quiver_figure(const_flow(1.0, 1.0), (H, W), max_arrows=8, mask=mask)
    hover = [t for t in fig.data if t.customdata is not None][0]
    assert (np.asarray(hover.y) < H / 2).all()


def test_magnitude_histogram_has_a_trace_per_flow():
    fig = viz.magnitude_histogram({"a": const_flow(1.0, 0), "b": const_flow(0, 3.0)}, (H, W))
    assert [t.name for t in fig.data] == ["a", "b"]
    assert np.allclose(fig.data[1].x, 3.0)


# ----------------------------------------------------------------------------- people


def test_colorize_parse_uses_the_cihp_palette_and_legend_sums_to_one():
    parse = np.zeros((H, W), np.uint8)
    parse[:10] = CIHP.UPPER_CLOTHES
    parse[10:12] = CIHP.FACE
    img = viz.colorize_parse(parse)
    assert tuple(img[0, 0]) == CIHP_PALETTE[CIHP.UPPER_CLOTHES]
    legend = viz.parse_legend(parse)
    assert [e.label for e in legend] == [CIHP.BACKGROUND, CIHP.UPPER_CLOTHES, CIHP.FACE]
    assert sum(e.fraction for e in legend) == pytest.approx(1.0)
    assert legend[1].name == "upper clothes" and legend[1].color == "#fe5500"
    with pytest.raises(ValueError, match="label 20"):
        viz.colorize_parse(np.full((2, 2), 20, np.uint8))


def test_skeleton_hover_names_joints_and_skips_missing_ones():
    kp = np.zeros((25, 3), np.float32)
    kp[Body25.NECK] = (12, 8, 0.9)
    kp[Body25.R_SHOULDER] = (8, 9, 0.7)
    fig = viz.skeleton_figure(random_image(), kp)
    joints = [t for t in fig.data if getattr(t, "text", None) is not None][0]
    assert list(joints.text) == ["NECK", "R_SHOULDER"]
    assert "confidence" in joints.hovertemplate
    limbs = fig.data[1]
    assert len([x for x in limbs.x if x is not None]) == 2  # only neck-shoulder is drawn


def test_skeleton_rings_the_joints_where_the_detector_found_them():
    kp = np.zeros((25, 3), np.float32)
    kp[Body25.NECK] = (12, 8, 0.9)
    kp[Body25.R_SHOULDER] = (8, 9, 0.7)
    found = kp.copy()
    found[Body25.R_SHOULDER, 0] = 10  # moved by 2 px
    fig = viz.skeleton_figure(random_image(), kp, detected=found)
    rings = [t for t in fig.data if getattr(t, "marker", None) is not None and t.marker.symbol == "circle-open"]
    assert len(rings) == 1 and list(rings[0].text) == ["R_SHOULDER"] and list(rings[0].x) == [10]
    joints = [t for t in fig.data if getattr(t, "text", None) is not None and t is not rings[0]][0]
    assert list(joints.text) == ["NECK", "R_SHOULDER"]


def test_overlay_mask_opacity():
    img = np.zeros((H, W, 3), np.uint8)
    mask = np.zeros((H, W), np.uint8)
    mask[0, 0] = 1
    out = viz.overlay_mask(img, mask, (200, 0, 0), 0.5)
    assert tuple(out[0, 0]) == (100, 0, 0) and tuple(out[1, 1]) == (0, 0, 0)
    assert np.array_equal(viz.overlay_mask(img, mask, (200, 0, 0), 0.0), img)


def test_agnostic_misses_paints_the_garment_left_outside_the_mask_and_counts_it():
    img = np.full((H, W, 3), 40, np.uint8)
    parse = np.zeros((H, W), np.uint8)
    parse[8:24, 4:20] = CIHP.UPPER_CLOTHES  # 16 x 16 garment
    parse[24:30, 4:20] = CIHP.PANTS
    mask = np.zeros((H, W), np.uint8)
    mask[8:20, 2:22] = 1  # misses the garment's last 4 rows (a hem)
    m = viz.agnostic_misses(img, mask, parse, opacity=0.5)
    assert m.garment_pixels == 256 and m.share == pytest.approx(64 / 256)
    assert m.missed[20:24, 4:20].all() and m.missed.sum() == 64
    assert (m.image[m.missed == 1] == viz.MISS_COLOUR).all()
    assert tuple(m.image[10, 3]) == tuple(viz.overlay_mask(img, mask, (255, 0, 128), 0.5)[10, 3])  # the tint
    assert tuple(m.image[26, 10]) == (40, 40, 40)  # trousers outside the mask: untouched, not a miss
    full = viz.agnostic_misses(img, np.ones((H, W), np.uint8), parse)
    assert full.share == 0.0 and not full.missed.any()
    none = viz.agnostic_misses(img, mask, np.zeros((H, W), np.uint8))
    assert none.share == 0.0 and none.garment_pixels == 0
    small = viz.agnostic_misses(img, mask[::2, ::2], parse)  # a mask at another size is resized (nearest)
    assert small.missed.shape == (H, W)


# ----------------------------------------------------------------------------- comparing and export


def test_difference_and_metrics():
    a = random_image(3)
    assert (viz.difference_image(a, a) == viz.heatmap(np.zeros((H, W)), 255.0)).all()
    assert viz.image_metrics(a, a) == {"ssim": pytest.approx(1.0), "psnr": 99.0}
    b = a.copy()
    b[:4] = 255 - b[:4]
    m = viz.image_metrics(b, a)
    assert m["ssim"] < 1.0 and 0 < m["psnr"] < 99


def test_animated_gif_keeps_every_frame():
    frames = [np.full((H, W, 3), v, np.uint8) for v in (0, 120, 240)]
    gif = Image.open(io.BytesIO(viz.animated_gif(frames)))
    assert gif.n_frames == 3


def test_run_zip_holds_images_keypoints_gif_and_manifest(tmp_path):
    kp = np.zeros((25, 3), np.float32)
    kp[Body25.NOSE] = (5, 6, 0.5)
    run = RunExport(
        images={"preprocessing": {"mask": np.eye(8, dtype=np.uint8), "photo": random_image()}},
        keypoints=kp, trajectory_gif=viz.animated_gif([random_image()]),
        manifest={"steps": np.int64(25), "timings": {"sampling": 1.5}},
    )
    zf = zipfile.ZipFile(io.BytesIO(run_zip(run)))
    names = set(zf.namelist())
    assert {"images/preprocessing/mask.png", "images/preprocessing/photo.png", "keypoints.json",
            "trajectory.gif", "run.json"} <= names
    mask = np.asarray(Image.open(zf.open("images/preprocessing/mask.png")))
    assert mask.max() == 255  # {0, 1} masks are written visible
    (tmp_path / "kp.json").write_bytes(zf.read("keypoints.json"))
    assert np.allclose(load_keypoints_json(tmp_path / "kp.json"), kp)
    assert json.loads(zf.read("run.json")) == {"steps": 25, "timings": {"sampling": 1.5}}
