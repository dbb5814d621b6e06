"""DensePose images in both encodings (issue 12, part 1): IUV and detectron2's dp_segm colour render as
VITON-HD ships it in ``image-densepose/``, and the encoding that reaches each warper.

Renders are made here the way detectron2 makes them, with OpenCV itself: ``cv2.applyColorMap`` of
``uint8(I * 255 / 24)`` (BGR) inside the person, black outside, written by ``cv2.imwrite`` and read
back as RGB by `vton.io.load_image`, from part maps drawn as a body (torso, head halves, limbs).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vton import io as vio
from vton.errors import InputError
from vton.preprocess.densepose import (DP_SEGM_PALETTE, decode_dp_segm, detect_densepose_encoding, read_densepose,
                                       render_dp_segm)
from vton.tensors import densepose_to_tensor, image_to_tensor, pairs_to_batch
from vton.types import DensePoseEncoding as E, DensePosePart as P, Pair
from vton.warp.network import FlowWarpNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "assets" / "samples" / "synthetic"


# ----------------------------------------------------------------------------- renders made with OpenCV


def body_parts(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A front-facing DensePose part map ``uint8 (H, W)``: torso, head halves, arms, hands, legs, feet."""
    rng = np.random.default_rng(seed)
    s = h / 1024
    parts = np.zeros((h, w), np.uint8)
    cx = w / 2 + rng.uniform(-30, 30) * s
    sw = 190 * s * rng.uniform(0.9, 1.1)
    rs, ls = (cx - sw / 2, 300 * s), (cx + sw / 2, 300 * s)  # the subject's right is the image's left
    rh, lh = (cx - sw * 0.4, 560 * s), (cx + sw * 0.4, 560 * s)

    def pt(p):
        return int(round(p[0])), int(round(p[1]))

    for hip, side, upper, lower, foot in ((rh, -1, P.UPPER_LEG_RIGHT_FRONT, P.LOWER_LEG_RIGHT_FRONT, P.RIGHT_FOOT),
                                          (lh, 1, P.UPPER_LEG_LEFT_FRONT, P.LOWER_LEG_LEFT_FRONT, P.LEFT_FOOT)):
        knee = (hip[0] + side * rng.uniform(0, 20) * s, hip[1] + 220 * s)
        ankle = (knee[0] + side * rng.uniform(0, 20) * s, knee[1] + 200 * s)
        cv2.line(parts, pt(hip), pt(knee), int(upper), max(1, int(75 * s)))
        cv2.line(parts, pt(knee), pt(ankle), int(lower), max(1, int(55 * s)))
        cv2.ellipse(parts, pt((ankle[0] + side * 10 * s, ankle[1] + 15 * s)), (int(35 * s), int(18 * s)), 0, 0, 360,
                    int(foot), -1)
    torso = [pt(rs), pt(ls), pt((lh[0] + 15 * s, lh[1] + 30 * s)), pt((rh[0] - 15 * s, rh[1] + 30 * s))]
    cv2.fillPoly(parts, [np.array(torso)], int(P.TORSO_FRONT))
    head = np.zeros_like(parts)
    cv2.ellipse(head, pt((cx, 180 * s)), (int(62 * s), int(80 * s)), 0, 0, 360, 1, -1)
    cv2.rectangle(head, pt((cx - 28 * s, 230 * s)), pt((cx + 28 * s, 310 * s)), 1, -1)
    right_half = np.arange(w)[None, :] < cx
    parts[(head == 1) & right_half] = P.HEAD_RIGHT
    parts[(head == 1) & ~right_half] = P.HEAD_LEFT
    for shoulder, side, upper, lower, hand in ((rs, -1, P.UPPER_ARM_RIGHT_FRONT, P.LOWER_ARM_RIGHT_FRONT, P.RIGHT_HAND),
                                               (ls, 1, P.UPPER_ARM_LEFT_FRONT, P.LOWER_ARM_LEFT_FRONT, P.LEFT_HAND)):
        a, b = np.deg2rad(rng.uniform(5, 35)), np.deg2rad(rng.uniform(-40, 40))
        elbow = (shoulder[0] + side * np.sin(a) * 170 * s, shoulder[1] + np.cos(a) * 170 * s)
        wrist = (elbow[0] + side * np.sin(b) * 150 * s, elbow[1] + np.cos(b) * 150 * s)
        cv2.line(parts, pt(shoulder), pt(elbow), int(upper), max(1, int(48 * s)))
        cv2.line(parts, pt(elbow), pt(wrist), int(lower), max(1, int(38 * s)))
        tip = (wrist[0] + (wrist[0] - elbow[0]) * 0.25, wrist[1] + (wrist[1] - elbow[1]) * 0.25)
        cv2.circle(parts, pt(tip), max(1, int(24 * s)), int(hand), -1)
    return parts


def opencv_render_bgr(parts: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """detectron2's dp_segm visualiser on a black BGR image (alpha 1 as HR-VITON; the seed keeps 0.7)."""
    bgr = cv2.applyColorMap((parts.astype(np.float32) * 255 / 24).astype(np.uint8), cv2.COLORMAP_PARULA)
    bgr[parts == 0] = 0
    out = np.zeros_like(bgr)
    out[...] = out * (1 - alpha) + bgr * alpha  # uint8 target, truncated like detectron2's in-place blend
    return out


def write_render(path: Path, parts: np.ndarray, quality: int | None = None) -> Path:
    """``cv2.imwrite`` of the BGR render (JPEG at ``quality``, OpenCV's default when None; PNG by suffix)."""
    params = [] if quality is None else [cv2.IMWRITE_JPEG_QUALITY, quality]
    assert cv2.imwrite(str(path), opencv_render_bgr(parts), params)
    return path


def agreement(parts: np.ndarray, decoded: np.ndarray) -> tuple[float, float]:
    """(share of person pixels decoded to their part, share of background pixels decoded as background)."""
    person = parts > 0
    return float((decoded[person] == parts[person]).mean()), float((decoded[~person] == 0).mean())


# ----------------------------------------------------------------------------- the palette and the render


def test_palette_is_opencvs_parula_of_the_part_index_in_rgb_with_black_background():
    values = (np.arange(25) * 255 / 24).astype(np.uint8)
    bgr = cv2.applyColorMap(values[None], cv2.COLORMAP_PARULA)[0]
    np.testing.assert_array_equal(DP_SEGM_PALETTE[1:], bgr[1:, ::-1])
    np.testing.assert_array_equal(DP_SEGM_PALETTE[0], 0)
    assert len({tuple(c) for c in DP_SEGM_PALETTE}) == 25
    # RGB order: low parts blue, high parts yellow (a BGR palette would make the torso orange)
    assert DP_SEGM_PALETTE[P.TORSO_FRONT, 2] > 150 > DP_SEGM_PALETTE[P.TORSO_FRONT, 0]
    assert DP_SEGM_PALETTE[P.HEAD_LEFT, 0] > 200 > 50 > DP_SEGM_PALETTE[P.HEAD_LEFT, 2]


def test_render_equals_the_file_opencv_writes_read_as_rgb(tmp_path):
    parts = body_parts(256, 192, seed=3)
    rgb = vio.load_image(write_render(tmp_path / "render.png", parts), min_side=1)
    np.testing.assert_array_equal(render_dp_segm(parts), rgb)
    np.testing.assert_array_equal(decode_dp_segm(rgb), parts)  # lossless: exact
    iuv, encoding = read_densepose(rgb)
    assert encoding is E.DP_SEGM
    np.testing.assert_array_equal(iuv[..., 0], parts)
    assert not iuv[..., 1:].any()  # U and V are not in the render


def test_render_rejects_what_is_not_a_part_map():
    with pytest.raises(ValueError, match="0..24"):
        render_dp_segm(np.full((4, 4), 25, np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        render_dp_segm(np.zeros((4, 4, 3), np.uint8))


# ----------------------------------------------------------------------------- JPEG renders


@pytest.mark.parametrize("size", [(1024, 768), (512, 384)], ids=["1024x768", "512x384"])
@pytest.mark.parametrize("quality", [95, None], ids=["q95", "opencv-default"])
def test_jpeg_render_decodes_to_the_rendered_parts(tmp_path, size, quality):
    for seed in (0, 1):
        parts = body_parts(*size, seed=seed)
        rgb = vio.load_image(write_render(tmp_path / f"{seed}.jpg", parts, quality), min_side=1)
        assert not np.array_equal(rgb, render_dp_segm(parts))  # JPEG did change the colours
        assert detect_densepose_encoding(rgb) is E.DP_SEGM
        iuv, encoding = read_densepose(rgb)
        person_ok, background_ok = agreement(parts, iuv[..., 0])
        assert encoding is E.DP_SEGM
        assert person_ok >= 0.98, f"{person_ok:.4f} of person pixels decoded right"
        assert background_ok >= 0.99, f"{background_ok:.4f} of background kept"


def test_nearest_colour_alone_would_miss_the_target_at_jpeg_edges(tmp_path):
    """Why decoding votes: without it, JPEG's blended edge pixels take other parts' colours."""
    from vton.preprocess import densepose as dp

    parts = body_parts(512, 384, seed=0)
    rgb = vio.load_image(write_render(tmp_path / "r.jpg", parts, 95), min_side=1)
    nearest, _ = dp._nearest_image(rgb, 1.0)
    voted = decode_dp_segm(rgb)
    assert agreement(parts, nearest)[0] < 0.98 <= agreement(parts, voted)[0]


def test_decoding_a_1024x768_render_is_fast(tmp_path):
    rgb = vio.load_image(write_render(tmp_path / "r.jpg", body_parts(1024, 768), 95), min_side=1)
    read_densepose(rgb)  # builds the lookup table once
    best = min(_seconds(lambda: read_densepose(rgb)) for _ in range(3))
    assert best < 1.5, f"{best:.2f} s"  # ~0.15 s on an idle CPU core


def _seconds(fn) -> float:
    import time

    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ----------------------------------------------------------------------------- the seed's min-max normalised render


def seed_render(parts: np.ndarray) -> np.ndarray:
    """The seed's ``open_pose()``: the visualiser (alpha 0.7) on black, min-max normalised, then BGR -> RGB."""
    image = opencv_render_bgr(parts, alpha=0.7).astype(np.float32)
    normalised = (image - image.min()) / (image.max() - image.min())
    return np.ascontiguousarray((normalised * 255).astype(np.uint8)[:, :, ::-1])


@pytest.mark.parametrize("keep", [None, (P.TORSO_FRONT, P.UPPER_LEG_RIGHT_FRONT, P.UPPER_LEG_LEFT_FRONT)],
                         ids=["whole-body", "dark-parts-only"])
def test_seed_min_max_normalised_render_reads_as_the_render(tmp_path, keep):
    parts = body_parts(512, 384, seed=2)
    if keep is not None:  # no bright part: the normalisation stretches the colours by ~1.3
        parts = np.where(np.isin(parts, [int(k) for k in keep]), parts, 0).astype(np.uint8)
    rgb = seed_render(parts)
    assert not np.array_equal(rgb, render_dp_segm(parts))
    iuv, encoding = read_densepose(rgb)
    assert encoding is E.DP_SEGM
    assert agreement(parts, iuv[..., 0])[0] >= 0.999
    vio.atomic_save_image(tmp_path / "seed.jpg", rgb)  # and saved as JPEG
    iuv, encoding = read_densepose(vio.load_image(tmp_path / "seed.jpg", min_side=1))
    assert encoding is E.DP_SEGM and agreement(parts, iuv[..., 0])[0] >= 0.98


# ----------------------------------------------------------------------------- IUV, and neither


def test_iuv_is_still_iuv_and_passes_unchanged():
    iuv = vio.load_image(SAMPLES / "test" / "image-densepose" / "000001_00.png", min_side=1)
    assert detect_densepose_encoding(iuv) is E.IUV
    out, encoding = read_densepose(iuv)
    assert encoding is E.IUV and np.array_equal(out, iuv)
    empty = np.zeros((16, 12, 3), np.uint8)
    assert detect_densepose_encoding(empty) is E.IUV


def test_an_image_that_is_neither_gets_one_clear_error():
    photo = vio.load_image(REPO / "assets" / "samples" / "photos" / "astronaut.png")
    noise = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    parse = vio.load_image(SAMPLES / "test" / "image-parse-v3" / "000001_00.png", min_side=1)  # CIHP colours
    for image in (photo, noise, parse):
        with pytest.raises(InputError, match="neither IUV .* nor a dp_segm colour render") as err:
            read_densepose(image)
        assert "\n" not in str(err.value)
    bgr = np.ascontiguousarray(render_dp_segm(body_parts(256, 192))[..., ::-1])  # OpenCV's array saved as RGB
    with pytest.raises(InputError, match="red and blue channels swapped"):
        detect_densepose_encoding(bgr)


# ----------------------------------------------------------------------------- tensors


def test_densepose_tensor_in_either_encoding():
    parts = body_parts(128, 96)
    iuv = np.zeros((128, 96, 3), np.uint8)
    iuv[..., 0] = parts
    iuv[..., 1] = 200 * (parts > 0)
    t_iuv = densepose_to_tensor(iuv, E.IUV)
    torch.testing.assert_close(t_iuv[0], torch.from_numpy(parts).float() / 24 * 2 - 1)
    t_render = densepose_to_tensor(iuv, "dp_segm")
    torch.testing.assert_close(t_render, image_to_tensor(render_dp_segm(parts)))
    assert (t_render[:, parts == 0] == -1).all()  # black background
    y, x = np.argwhere(parts == P.TORSO_FRONT)[0]
    torch.testing.assert_close(t_render[:, y, x], torch.tensor(DP_SEGM_PALETTE[P.TORSO_FRONT] / 127.5 - 1).float())


def test_batch_carries_the_parse_agnostic_cihp_labels():
    from vton.data import VitonHD

    pair = VitonHD(SAMPLES, "test", size=(64, 48))[0]
    batch = pairs_to_batch([pair, pair], densepose_encoding=E.DP_SEGM)
    assert batch.parse_agnostic_labels.shape == (2, 1, 64, 48)
    torch.testing.assert_close(batch.parse_agnostic_labels[0, 0], torch.from_numpy(pair.person.parse_agnostic).float())
    torch.testing.assert_close(batch.densepose[0], densepose_to_tensor(pair.person.densepose, E.DP_SEGM))
    assert batch.to("cpu", torch.float16).parse_agnostic_labels.dtype == torch.float16


# ----------------------------------------------------------------------------- a VITON-HD folder of renders


def render_folder(root: Path, split: str = "test", quality: int = 95) -> Path:
    """The bundled synthetic samples with their IUV PNGs replaced by OpenCV JPEG renders of the same parts."""
    shutil.copytree(SAMPLES / "test", root / split)
    shutil.copy(SAMPLES / "test_pairs.txt", root / f"{split}_pairs.txt")
    folder = root / split / "image-densepose"
    for png in sorted(folder.glob("*.png")):
        parts = vio.load_image(png, min_side=1)[..., 0]
        write_render(png.with_suffix(".jpg"), parts, quality)
        (root / split / "iuv-original").mkdir(exist_ok=True)
        png.rename(root / split / "iuv-original" / png.name)
    return root


def test_reader_decodes_a_folder_of_jpeg_renders(tmp_path):
    from vton.data import TryOnDataset, VitonHD

    root = render_folder(tmp_path / "vitonhd")
    reader = VitonHD(root, "test", size=(192, 144))
    assert reader.densepose_encoding is E.DP_SEGM
    assert VitonHD(SAMPLES, "test").densepose_encoding is E.IUV
    native = VitonHD(root, "test", size=(256, 192))[0].person
    truth = vio.load_image(root / "test" / "iuv-original" / "000001_00.png", min_side=1)[..., 0]
    assert native.sources["densepose_encoding"] is E.DP_SEGM and native.densepose_encoding is E.DP_SEGM
    assert agreement(truth, native.densepose[..., 0])[0] >= 0.95  # 256x192 JPEG, decoded at the file's size
    assert not native.densepose[..., 1:].any()
    person = reader[0].person
    assert person.densepose.shape == (192, 144, 3) and set(np.unique(person.densepose[..., 0])) <= set(range(25))
    data = TryOnDataset(root, "test", size=(192, 144))
    assert data.densepose_encoding is E.DP_SEGM  # the warper trains on the render tensor
    torch.testing.assert_close(data[0]["densepose"], image_to_tensor(render_dp_segm(person.densepose[..., 0])))


# ----------------------------------------------------------------------------- what reaches the warper


class RecordingWarper(FlowWarpNet):
    """A FlowWarpNet that keeps every DensePose tensor its forward is given."""

    seen: list[torch.Tensor] = []

    def forward(self, cloth, cloth_mask, densepose, parse_agnostic):
        RecordingWarper.seen.append(densepose.detach().float().cpu().clone())
        return super().forward(cloth, cloth_mask, densepose, parse_agnostic)


@pytest.fixture()
def recorder():
    RecordingWarper.seen = []
    yield RecordingWarper
    RecordingWarper.seen = []


def people(tmp_path) -> dict[str, Pair]:
    """One synthetic pair at 128x96, its DensePose read from IUV and from a JPEG render."""
    from vton.data import VitonHD

    pairs = {"iuv": VitonHD(SAMPLES, "test", size=(128, 96))[0],
             "dp_segm": VitonHD(render_folder(tmp_path / "renders"), "test", size=(128, 96))[0]}
    assert pairs["iuv"].person.densepose_encoding is E.IUV and pairs["dp_segm"].person.densepose_encoding is E.DP_SEGM
    return pairs


def expected(pair: Pair, encoding: E) -> torch.Tensor:
    return densepose_to_tensor(pair.person.densepose, encoding)


@pytest.mark.parametrize("encoding", [E.IUV, E.DP_SEGM], ids=["iuv-warper", "dp_segm-warper"])
def test_every_path_gives_the_warper_its_own_encoding(tmp_path, recorder, encoding):
    from vton.warp.evaluate import predict_flows
    from vton.warp.network import warp_pair

    net = recorder(base_channels=4, densepose_encoding=encoding.value).eval()
    assert net.densepose_encoding is encoding and net.origin == "vton" and encoding.label in net.describe()
    for came_in, pair in people(tmp_path).items():
        recorder.seen = []
        warp_pair(net, pair.person, pair.cloth)
        predict_flows(net, [pair, pair])
        _lab_warp(net, pair)
        want = expected(pair, encoding)
        assert len(recorder.seen) == 3, came_in
        for got in recorder.seen:
            for sample in got:
                torch.testing.assert_close(sample, want, msg=f"{came_in} input, {encoding.value} warper")
        if encoding is E.DP_SEGM:  # the colours of the render, whatever the input was
            assert (want[:, pair.person.densepose[..., 0] == 0] == -1).all()
        else:
            assert came_in == "dp_segm" or want[1:].max() > -1  # an IUV input keeps its U and V


def _lab_warp(net, pair: Pair):
    import sys

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    pytest.importorskip("streamlit")
    from lab import stages

    return stages._warp.__wrapped__("key", net, pair.person, pair.cloth, "cpu", "float32")


@pytest.mark.parametrize("encoding", [E.IUV, E.DP_SEGM], ids=["iuv-warper", "dp_segm-warper"])
def test_pipeline_prepare_gives_the_warper_its_own_encoding(tmp_path, recorder, encoding):
    from diffusers import AutoencoderKL

    from vton.diffusion.pipeline import TryOnPipeline, default_scheduler
    from vton.diffusion.unet import TryOnUNet
    from vton.diffusion.vae import small_vae_config

    torch.manual_seed(0)
    pipe = TryOnPipeline(
        warper=recorder(base_channels=4, densepose_encoding=encoding.value).eval(),
        vae=AutoencoderKL(**small_vae_config(block_out_channels=(16, 16, 16, 16), norm_num_groups=8)).eval(),
        unet=TryOnUNet(block_channels=(32, 32, 64), attention_levels=(False, False, True), heads=2).eval(),
        scheduler=default_scheduler(),
    )
    for came_in, pair in people(tmp_path).items():
        recorder.seen = []
        pipe.prepare(pair.person, pair.cloth, size=(128, 96))
        assert len(recorder.seen) == 1
        torch.testing.assert_close(recorder.seen[0][0], expected(pair, encoding), msg=came_in)


def test_warper_config_states_its_encoding_and_old_folders_load_as_iuv(tmp_path):
    net = FlowWarpNet(base_channels=4, densepose_encoding="dp_segm")
    net.save_pretrained(tmp_path / "new")
    assert FlowWarpNet.from_pretrained(tmp_path / "new").densepose_encoding is E.DP_SEGM
    FlowWarpNet(base_channels=4).save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    config.pop("densepose_encoding")  # as written before the field existed
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    assert FlowWarpNet.from_pretrained(tmp_path / "old").densepose_encoding is E.IUV
    with pytest.raises(ValueError, match="densepose_encoding"):
        FlowWarpNet(densepose_encoding="rgb")


@pytest.mark.parametrize("renders", [True, False], ids=["vitonhd-renders", "synthetic-iuv"])
def test_train_warp_records_and_trains_on_its_datas_encoding(tmp_path, recorder, monkeypatch, renders):
    """One optimizer step (nothing is learnt): the exported config and the tensor the warper saw."""
    import vton.warp.train as train

    root = tmp_path / "data"
    if renders:
        render_folder(root, split="train")
    else:
        shutil.copytree(SAMPLES / "test", root / "train")
        shutil.copy(SAMPLES / "test_pairs.txt", root / "train_pairs.txt")
    monkeypatch.setattr(train, "FlowWarpNet", recorder)
    result = train.train_warp(train.WarpTrainConfig(
        data=root, out=tmp_path / "run", size=(64, 64), batch_size=1, steps=1, save_every=1, log_every=1,
        image_every=1000, warmup=1, cpu=True, model={"base_channels": 4}))
    want = E.DP_SEGM if renders else E.IUV
    assert json.loads((result.final / "config.json").read_text())["densepose_encoding"] == want.value
    seen = recorder.seen[0][0]
    if renders:  # the render's colours: every value is a palette colour (or black), U/V-free
        colours = {tuple(np.round((c.numpy() + 1) * 127.5).astype(int)) for c in seen.reshape(3, -1).T}
        assert colours <= {tuple(int(v) for v in c) for c in DP_SEGM_PALETTE}
    else:  # IUV: channel 0 is I / 24 rescaled, U and V vary
        assert len(torch.unique(seen[1])) > 10


def test_tryon_takes_a_dp_segm_render_as_densepose(tmp_path, capsys):
    """``tryon --densepose render.jpg`` preprocesses with it and says so (tiny random pipeline: plumbing only)."""
    import sys

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from lab.fixtures import write_tiny_pipeline
    from vton.cli import main

    weights = write_tiny_pipeline(tmp_path / "pipe")
    photos = REPO / "assets" / "samples" / "photos"
    render = write_render(tmp_path / "render.jpg", body_parts(512, 512), 95)  # the astronaut photo is 512x512
    capsys.readouterr()
    rc = main(["tryon", "--person", str(photos / "astronaut.png"), "--cloth", str(photos / "cloth_tee.png"),
               "--densepose", str(render), "--weights", str(weights), "--size", "128x96", "--steps", "2",
               "--out", str(tmp_path / "out.png")])
    assert rc == 0, capsys.readouterr().err
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("dp_segm colour render" in n for n in notes)
    assert (tmp_path / "out.png").is_file()
