"""vton.io: every bad input is one InputError; odd but valid images load right; writers are atomic.

All inputs are built here, in memory or in tmp_path.
"""
from __future__ import annotations

import io
import json
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from vton import io as vio
from vton.errors import InputError
from vton.types import CIHP_PALETTE


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


def noise_rgb(h: int = 96, w: int = 80, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` RGB, with a tiny (inconsistent) body."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------- rejected inputs


def bad_inputs(tmp_path):
    rgb = noise_rgb()
    png = encode(Image.fromarray(rgb), "PNG")
    jpg = encode(Image.fromarray(rgb), "JPEG", quality=90)
    corrupt = bytearray(png)
    corrupt[len(png) // 2 : len(png) // 2 + 64] = b"\0" * 64
    text = tmp_path / "notes.txt"
    text.write_text("this is not an image\n")
    return {
        "text file": (text, "not an image"),
        "empty bytes": (b"", "empty"),
        "truncated PNG": (png[: len(png) // 2], "truncated"),
        "truncated JPEG": (jpg[: len(jpg) * 2 // 3], "truncated"),
        "corrupt PNG": (bytes(corrupt), "corrupt"),
        "50000x50000 header": (png_claiming(50000, 50000), "too large"),
        "40x40 image": (encode(Image.fromarray(noise_rgb(40, 40)), "PNG"), "64 px"),
        "missing file": (tmp_path / "nope" / "person.jpg", "nope/person.jpg"),
        "folder": (tmp_path, "folder"),
    }


@pytest.mark.parametrize(
    "case",
    ["text file", "empty bytes", "truncated PNG", "truncated JPEG", "corrupt PNG",
     "50000x50000 header", "40x40 image", "missing file", "folder"],
)
def test_bad_input_is_one_input_error_with_a_plain_message(tmp_path, case):
    source, words = bad_inputs(tmp_path)[case]
    with pytest.raises(InputError) as info:
        vio.load_image(source)
    message = str(info.value)
    assert words in message
    assert "\n" not in message and "Traceback" not in message


def test_pixel_limit_is_checked_from_the_header_before_decoding():
    # 8000 x 6000 = 48 MP is under PIL's own bomb limit but over ours; the body is
    # garbage, so getting "megapixels" (not "corrupt") proves nothing was decoded.
    with pytest.raises(InputError, match="48.0 megapixels"):
        vio.load_image(png_claiming(8000, 6000))
    small = encode(Image.fromarray(noise_rgb(100, 100)), "PNG")
    with pytest.raises(InputError, match="over the limit"):
        vio.load_image(small, max_pixels=5000)
    assert vio.load_image(small, max_pixels=10_000).shape == (100, 100, 3)


def test_pils_decompression_bomb_warning_becomes_input_error():
    # 10000 x 10000 = 100 MP: PIL warns (DecompressionBombWarning) rather than raising.
    with pytest.raises(InputError, match="too large"):
        vio.load_image(png_claiming(10000, 10000), max_pixels=10**9)


def test_text_mode_file_object_is_rejected(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(encode(Image.fromarray(noise_rgb()), "PNG"))
    with open(path, "r", encoding="latin-1") as f, pytest.raises(InputError, match="binary"):
        vio.load_image(f)


# ----------------------------------------------------------------------------- accepted inputs


def test_path_bytes_and_file_object_give_the_same_array(tmp_path):
    rgb = noise_rgb()
    path = tmp_path / "p.png"
    path.write_bytes(encode(Image.fromarray(rgb), "PNG"))
    from_path = vio.load_image(path)
    from_str = vio.load_image(str(path))
    from_bytes = vio.load_image(path.read_bytes())
    with open(path, "rb") as f:
        from_file = vio.load_image(f)
    upload = io.BytesIO(path.read_bytes())
    upload.read()  # a Streamlit upload may be read again on a rerun
    from_upload = vio.load_image(upload)
    for a in (from_path, from_str, from_bytes, from_file, from_upload):
        assert a.dtype == np.uint8 and a.shape == (96, 80, 3)
        assert a.flags.writeable and a.flags.c_contiguous
        np.testing.assert_array_equal(a, rgb)


def test_palette_image_gives_its_palette_colours():
    idx = (np.arange(96 * 80).reshape(96, 80) % 4).astype(np.uint8)
    im = Image.fromarray(idx, "P")
    colours = [(200, 10, 10), (10, 200, 10), (10, 10, 200), (250, 250, 0)]
    im.putpalette([v for c in colours for v in c])
    out = vio.load_image(encode(im, "PNG"))
    np.testing.assert_array_equal(out, np.array(colours, np.uint8)[idx])


def test_greyscale_becomes_three_equal_channels():
    grey = noise_rgb()[:, :, 0]
    out = vio.load_image(encode(Image.fromarray(grey, "L"), "PNG"))
    assert out.shape == (96, 80, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = 40
    rgba[:, :16, 3] = 0  # transparent -> white
    rgba[:, 16:32, 3] = 255  # opaque -> the colour
    rgba[:, 32:, 3] = 128  # half -> halfway to white
    im = Image.fromarray(rgba, "RGBA").convert(mode)
    out = vio.load_image(encode(im, "PNG")).astype(int)
    assert (out[:, :16] == 255).all()
    assert (out[:, 16:32] == 40).all()
    assert np.abs(out[:, 32:] - (40 + (255 - 40) * 127 / 255)).max() <= 1


def test_transparent_palette_entry_is_white():
    idx = np.zeros((64, 64), np.uint8)
    idx[:, 32:] = 1
    im = Image.fromarray(idx, "P")
    im.putpalette([0, 0, 0, 255, 0, 0])
    im.info["transparency"] = 0
    out = vio.load_image(encode(im, "PNG", transparency=0))
    assert (out[:, :32] == 255).all() and (out[:, 32:] == [255, 0, 0]).all()


def test_cmyk_jpeg_is_converted_to_rgb():
    cyan = Image.new("CMYK", (64, 64), (255, 0, 0, 0))
    data = encode(cyan, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = vio.load_image(data).astype(int)
    assert np.abs(out - [0, 255, 255]).max() <= 3


def test_16_bit_greyscale_png_is_scaled_not_clipped():
    grey16 = np.zeros((64, 64), np.uint16)
    grey16[:, 16:32] = 32896  # 128 * 257
    grey16[:, 32:] = 65535
    im = Image.fromarray(grey16)
    assert im.mode.startswith("I;16")
    out = vio.load_image(encode(im, "PNG"))
    assert (out[:, :16] == 0).all() and (out[:, 16:32] == 128).all() and (out[:, 32:] == 255).all()


def test_16_bit_rgb_png_keeps_channel_order_and_scale():
    import cv2

    rgb16 = np.zeros((64, 64, 3), np.uint16)
    rgb16[..., 0] = 65535  # red full
    rgb16[..., 1] = 32896  # green half
    for suffix in (".png", ".tiff"):
        ok, buf = cv2.imencode(suffix, rgb16[..., ::-1])  # cv2 writes BGR
        assert ok
        out = vio.load_image(buf.tobytes())
        assert (out[..., 0] == 255).all() and (out[..., 1] == 128).all() and (out[..., 2] == 0).all(), suffix
    rgba16 = np.concatenate([rgb16, np.full((64, 64, 1), 65535, np.uint16)], -1)
    rgba16[:, :32, 3] = 0  # transparent half -> white
    ok, buf = cv2.imencode(".png", rgba16[..., [2, 1, 0, 3]])
    out = vio.load_image(buf.tobytes())
    assert (out[:, :32] == 255).all() and (out[:, 32:] == [255, 128, 0]).all()


def test_exif_orientation_is_applied():
    stored = np.full((80, 120, 3), 255, np.uint8)  # H=80, W=120 as stored
    stored[:20, :20] = [255, 0, 0]  # red block at the stored top-left
    im = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    out = vio.load_image(encode(im, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.shape == (120, 80, 3)
    top_right, top_left = out[:15, -15:].astype(int), out[:15, :15].astype(int)
    assert np.abs(top_right - [255, 0, 0]).max() < 40
    assert (top_left > 200).all()


# ----------------------------------------------------------------------------- labels, masks, keypoints


def test_label_png_round_trip_is_p_mode_with_the_cihp_palette(tmp_path):
    labels = (np.arange(50 * 40).reshape(50, 40) % 20).astype(np.uint8)
    path = vio.atomic_save_label_png(tmp_path / "parse" / "a.png", labels)
    im = Image.open(path)
    assert im.mode == "P"
    assert tuple(im.getpalette()[5 * 3 : 5 * 3 + 3]) == CIHP_PALETTE[5]
    np.testing.assert_array_equal(vio.load_label_png(path), labels)
    # the same map re-saved as RGB colours maps back to the labels
    rgb = np.array(CIHP_PALETTE, np.uint8)[labels]
    rgb_path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(rgb_path)
    np.testing.assert_array_equal(vio.load_label_png(rgb_path), labels)
    rgb[0, 0] = [1, 2, 3]
    Image.fromarray(rgb).save(rgb_path)
    with pytest.raises(InputError, match="CIHP palette"):
        vio.load_label_png(rgb_path)


def test_mask_round_trip_and_jpeg_threshold(tmp_path):
    mask = np.zeros((64, 48), np.uint8)
    mask[10:40, 5:30] = 1
    path = vio.atomic_save_image(tmp_path / "m.png", mask)
    assert set(np.unique(np.asarray(Image.open(path)))) == {0, 255}
    np.testing.assert_array_equal(vio.load_mask(path), mask)
    jpg = vio.atomic_save_image(tmp_path / "m.jpg", mask)
    loaded = vio.load_mask(jpg)
    assert set(np.unique(loaded)) <= {0, 1}
    assert (loaded != mask).mean() < 0.01


def test_mask_saved_as_raw_zero_one_is_read_as_is(tmp_path):
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 4:30] = 1
    Image.fromarray(mask, "L").save(tmp_path / "raw.png")
    np.testing.assert_array_equal(vio.load_mask(tmp_path / "raw.png"), mask)


def test_keypoints_json_round_trip_and_errors(tmp_path):
    kp = np.random.default_rng(1).uniform(1, 100, (25, 3)).astype(np.float32)
    kp[3] = 0
    path = vio.atomic_save_json(tmp_path / "k_keypoints.json", vio.keypoints_to_openpose_json(kp))
    doc = json.loads(path.read_text())
    assert doc["version"] == 1.3 and len(doc["people"][0]["pose_keypoints_2d"]) == 75
    np.testing.assert_allclose(vio.load_keypoints_json(path), kp, atol=1e-3)

    vio.atomic_save_json(path, vio.keypoints_to_openpose_json(np.zeros((25, 3))))
    assert json.loads(path.read_text())["people"] == []
    assert (vio.load_keypoints_json(path) == 0).all()

    coco = {"version": 1.3, "people": [{"pose_keypoints_2d": [1.0] * 54}]}
    path.write_text(json.dumps(coco))
    with pytest.raises(InputError, match="18 keypoints"):
        vio.load_keypoints_json(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        vio.load_keypoints_json(path)
    with pytest.raises(InputError, match="missing_keypoints.json"):
        vio.load_keypoints_json(tmp_path / "missing_keypoints.json")


# ----------------------------------------------------------------------------- atomic writers


def test_writers_create_folders_and_leave_no_temp_files(tmp_path):
    out = tmp_path / "a" / "b"
    vio.atomic_write_bytes(out / "x.bin", b"abc")
    vio.atomic_save_image(out / "x.png", noise_rgb())
    vio.atomic_save_image(out / "x.jpg", noise_rgb())
    vio.atomic_save_label_png(out / "l.png", np.zeros((8, 8), np.uint8))
    vio.atomic_save_json(out / "x.json", {"a": np.float32(1.5), "b": np.arange(3)})
    vio.atomic_save_npy(out / "x.npy", np.ones((2, 3), np.float32))
    vio.atomic_save_safetensors(out / "x.safetensors", {"w": torch.arange(6.0).view(2, 3)}, {"step": 7})
    assert sorted(os.listdir(out)) == sorted(["x.bin", "x.png", "x.jpg", "l.png", "x.json", "x.npy", "x.safetensors"])
    assert json.loads((out / "x.json").read_text()) == {"a": 1.5, "b": [0, 1, 2]}
    np.testing.assert_array_equal(np.load(out / "x.npy", allow_pickle=False), np.ones((2, 3), np.float32))
    from safetensors import safe_open

    with safe_open(out / "x.safetensors", "pt") as f:
        assert f.metadata() == {"step": "7"}
        assert torch.equal(f.get_tensor("w"), torch.arange(6.0).view(2, 3))
    np.testing.assert_array_equal(vio.load_image(out / "x.png", min_side=1), noise_rgb())


def test_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    vio.atomic_save_json(target, {"version": "old"})

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        vio.atomic_save_json(target, {"version": "new"})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"version": "old"}
    assert os.listdir(tmp_path) == ["result.json"]


def test_failed_encode_keeps_the_old_image(tmp_path):
    target = tmp_path / "img.png"
    vio.atomic_save_image(target, noise_rgb())
    before = target.read_bytes()
    with pytest.raises(ValueError):
        vio.atomic_save_image(target, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(InputError, match="cannot save"):
        vio.atomic_save_image(tmp_path / "img.xyz", noise_rgb())
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["img.png"]


def test_embedded_icc_profiles_are_applied_or_ignored_when_unreadable():
    from PIL import ImageCms

    rgb = noise_rgb()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for profile in (srgb, b"not a profile" * 8):
        out = vio.load_image(encode(Image.fromarray(rgb), "PNG", icc_profile=profile))
        assert np.abs(out.astype(int) - rgb).max() <= 1
