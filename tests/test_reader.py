"""vton.data.VitonHD / TryOnDataset on hand-built folders (original VITON-HD and HR-VITON names)
and on a synthetic folder with ground truth.
"""
from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vton import io as vio
from vton.data import TryOnDataset, VitonHD
from vton.errors import InputError
from vton.tensors import TryOnBatch, collate
from vton.types import CIHP, Body25, Pair, Source

H, W = 128, 96  # size of the hand-built files
REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- a hand-built dataset


def person_arrays(shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A front-facing block figure: parse labels, the photo (one colour per label) and BODY_25 keypoints."""
    parse = np.zeros((H, W), np.uint8)
    cx = W // 2 + shift
    parse[10:22, cx - 5 : cx + 5] = CIHP.HAIR
    parse[14:30, cx - 7 : cx + 7] = CIHP.FACE
    parse[30:36, cx - 4 : cx + 4] = CIHP.NECK
    parse[36:76, cx - 16 : cx + 16] = CIHP.UPPER_CLOTHES
    parse[38:80, cx - 24 : cx - 16] = CIHP.RIGHT_ARM  # subject's right is the image's left
    parse[38:80, cx + 16 : cx + 24] = CIHP.LEFT_ARM
    parse[76:120, cx - 14 : cx + 14] = CIHP.PANTS
    colours = np.random.default_rng(7).integers(0, 60, (20, 3)).astype(np.uint8)  # dark: never agnostic grey
    colours[0] = 255
    image = colours[parse]
    kp = np.zeros((25, 3), np.float32)
    points = {
        Body25.NOSE: (cx, 24), Body25.NECK: (cx, 34), Body25.R_SHOULDER: (cx - 18, 40),
        Body25.L_SHOULDER: (cx + 18, 40), Body25.R_ELBOW: (cx - 20, 58), Body25.L_ELBOW: (cx + 20, 58),
        Body25.R_WRIST: (cx - 20, 76), Body25.L_WRIST: (cx + 20, 76), Body25.MID_HIP: (cx, 78),
        Body25.R_HIP: (cx - 9, 78), Body25.L_HIP: (cx + 9, 78), Body25.R_KNEE: (cx - 7, 98),
        Body25.L_KNEE: (cx + 7, 98),
    }
    for j, (x, y) in points.items():
        kp[j] = (x, y, 0.9)
    return parse, image, kp


def cloth_arrays(colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((H, W), np.uint8)
    mask[20:110, 18:78] = 1
    image = np.full((H, W, 3), 246, np.uint8)
    image[mask == 1] = colour
    return image, mask


CLOTH_COLOURS = {"000001_00": (200, 30, 30), "000002_00": (30, 30, 200)}


def write_original_vitonhd(root: Path, split: str = "test") -> Path:
    """The original VITON-HD names: image, cloth, cloth-mask, image-parse, openpose-json (no agnostic, no DensePose)."""
    d = root / split
    for i, name in enumerate(CLOTH_COLOURS):
        parse, image, kp = person_arrays(shift=4 * i)
        vio.atomic_save_image(d / "image" / f"{name}.jpg", image)
        vio.atomic_save_label_png(d / "image-parse" / f"{name}.png", parse)
        vio.atomic_save_json(d / "openpose-json" / f"{name}_keypoints.json", vio.keypoints_to_openpose_json(kp))
        cloth, mask = cloth_arrays(CLOTH_COLOURS[name])
        vio.atomic_save_image(d / "cloth" / f"{name}.jpg", cloth)
        vio.atomic_save_image(d / "cloth-mask" / f"{name}.jpg", mask)
    (root / f"{split}_pairs.txt").write_text("000001_00.jpg 000002_00.jpg\n000002_00.jpg 000001_00.jpg\n\n")
    return root


@pytest.fixture()
def original(tmp_path) -> Path:
    return write_original_vitonhd(tmp_path / "vitonhd")


# ----------------------------------------------------------------------------- original VITON-HD names


def test_reads_original_names_and_computes_missing_maps(original):
    data = VitonHD(original, "test", size=(64, 48))
    assert len(data) == 2
    pair = data[1]
    assert isinstance(pair, Pair) and pair.name == "000002_00.jpg"
    p, c = pair.person, pair.cloth
    assert p.image.shape == (64, 48, 3) and p.image.dtype == np.uint8
    assert p.parse.shape == p.person_mask.shape == p.agnostic_mask.shape == p.parse_agnostic.shape == (64, 48)
    assert p.densepose.shape == p.agnostic.shape == (64, 48, 3)
    assert c.image.shape == (64, 48, 3) and c.mask.shape == (64, 48)
    for kind in ("image", "parse", "keypoints"):
        assert p.sources[kind] is Source.DATASET
    for kind in ("densepose", "agnostic", "agnostic_mask", "parse_agnostic"):
        assert p.sources[kind] is Source.GEOMETRIC, kind
    np.testing.assert_array_equal(p.person_mask, (p.parse != 0).astype(np.uint8))
    # the computed maps are consistent with the read ones
    assert not np.isin(p.parse_agnostic, [CIHP.UPPER_CLOTHES, CIHP.NECK]).any()
    assert (p.agnostic[p.agnostic_mask == 1] == 128).all()
    assert p.agnostic_mask[p.parse == CIHP.UPPER_CLOTHES].mean() > 0.95
    assert p.densepose[..., 0][p.person_mask == 0].max() == 0 and p.densepose[..., 0].max() > 0
    assert pair.truth.flow is None and pair.truth.warped_cloth is None and pair.truth.warped_mask is None


def test_paired_uses_own_cloth_and_unpaired_the_listed_one(original):
    paired, unpaired = VitonHD(original, size=(H, W)), VitonHD(original, size=(H, W), paired=False)
    assert [(p.name, p.cloth_name) for p in paired] == [("000001_00.jpg", "000001_00.jpg"), ("000002_00.jpg", "000002_00.jpg")]
    assert unpaired[0].cloth_name == "000002_00.jpg"

    def centre_colour(pair):
        return pair.cloth.image[H // 2, W // 2].astype(int)

    assert np.abs(centre_colour(paired[0]) - CLOTH_COLOURS["000001_00"]).max() < 12
    assert np.abs(centre_colour(unpaired[0]) - CLOTH_COLOURS["000002_00"]).max() < 12


@pytest.mark.parametrize("size", [(100, 75), (64, 48), (256, 192)])
def test_resizing_never_invents_labels_and_keeps_masks_binary(original, size):
    parse_full, _, _ = person_arrays(shift=0)
    pair = VitonHD(original, size=size)[0]
    assert set(np.unique(pair.person.parse)) <= set(np.unique(parse_full))
    for mask in (pair.cloth.mask, pair.person.person_mask, pair.person.agnostic_mask):
        assert mask.shape == size and set(np.unique(mask)) <= {0, 1}
    # nearest sampling is centre-aligned: the label map keeps its area fractions
    for label in (CIHP.UPPER_CLOTHES, CIHP.PANTS):
        assert abs((pair.person.parse == label).mean() - (parse_full == label).mean()) < 0.03


def test_keypoints_follow_the_resize(original):
    _, _, kp_full = person_arrays(shift=0)
    parse_full, _, _ = person_arrays(shift=0)
    size = (64, 48)
    pair = VitonHD(original, size=size)[0]
    kp = pair.person.keypoints
    assert kp.shape == (25, 3) and kp.dtype == np.float32
    present = kp_full[:, 2] > 0
    np.testing.assert_allclose(kp[present, :2], (kp_full[present, :2] + 0.5) / 2 - 0.5, atol=1e-5)
    assert (kp[~present] == 0).all()
    # each keypoint lands on the same body part as before
    for j in (Body25.NOSE, Body25.R_ELBOW, Body25.L_WRIST):
        x, y = kp[j, :2].round().astype(int)
        fx, fy = kp_full[j, :2].astype(int)
        assert pair.person.parse[y, x] == parse_full[fy, fx]


def test_native_size_reads_the_files_unchanged(original):
    parse, _, kp = person_arrays(shift=0)
    pair = VitonHD(original, size=(H, W))[0]
    np.testing.assert_array_equal(pair.person.parse, parse)
    np.testing.assert_allclose(pair.person.keypoints, kp, atol=1e-3)
    _, mask = cloth_arrays((0, 0, 0))
    np.testing.assert_array_equal(pair.cloth.mask, mask)


def test_person_image_alone_equals_the_pairs_photo(original):
    for size in ((H, W), (H // 2, W // 2)):
        reader = VitonHD(original, size=size)
        np.testing.assert_array_equal(reader.person_image(0), reader[0].person.image)
        np.testing.assert_array_equal(reader.person_image(-1), reader[-1].person.image)
    with pytest.raises(IndexError):
        reader.person_image(len(reader))


def test_files_match_by_stem_whatever_the_extension(original):
    d = original / "test" / "image"
    image = vio.load_image(d / "000001_00.jpg", min_side=1)
    (d / "000001_00.jpg").unlink()
    vio.atomic_save_image(d / "000001_00.png", image)
    np.testing.assert_array_equal(VitonHD(original, size=(H, W))[0].person.image, image)


# ----------------------------------------------------------------------------- what is missing is named


def test_missing_root_split_pairs_folder_and_file_are_named(original, tmp_path):
    with pytest.raises(InputError, match="dataset folder not found: .*nowhere"):
        VitonHD(tmp_path / "nowhere")
    with pytest.raises(InputError, match="no 'train' split .*train is missing"):
        VitonHD(original, "train")

    (original / "test_pairs.txt").rename(original / "pairs.bak")
    with pytest.raises(InputError, match="pairs file not found: .*test_pairs.txt"):
        VitonHD(original)
    (original / "pairs.bak").rename(original / "test" / "test_pairs.txt")  # inside the split also works
    assert len(VitonHD(original)) == 2

    shutil.rmtree(original / "test" / "cloth-mask")
    with pytest.raises(InputError, match="no 'cloth-mask' folder"):
        VitonHD(original)


def test_missing_file_is_named_with_its_folder(original):
    (original / "test" / "openpose-json" / "000002_00_keypoints.json").unlink()
    with pytest.raises(InputError) as info:
        VitonHD(original)
    assert "openpose-json/000002_00.*" in str(info.value)


def test_malformed_pairs_line_names_the_line(original):
    (original / "test_pairs.txt").write_text("000001_00.jpg 000001_00.jpg\n000002_00.jpg\n")
    with pytest.raises(InputError, match="line 2"):
        VitonHD(original)


# ----------------------------------------------------------------------------- HR-VITON names, maps from files


def test_hr_viton_names_read_every_map_from_files(original):
    d = original / "test"
    (d / "image-parse").rename(d / "image-parse-v3")
    (d / "openpose-json").rename(d / "openpose_json")
    for name in CLOTH_COLOURS:
        parse = vio.load_label_png(d / "image-parse-v3" / f"{name}.png")
        image = vio.load_image(d / "image" / f"{name}.jpg", min_side=1)
        iuv = np.zeros((H, W, 3), np.uint8)
        iuv[parse != 0] = (2, 100, 200)
        vio.atomic_save_image(d / "image-densepose" / f"{name}.png", iuv)
        agnostic = image.copy()
        agnostic[parse == CIHP.UPPER_CLOTHES] = 128
        vio.atomic_save_image(d / "agnostic-v3.2" / f"{name}.jpg", agnostic)  # lossy, like the release
        pa = parse.copy()
        pa[parse == CIHP.UPPER_CLOTHES] = 0
        vio.atomic_save_label_png(d / "image-parse-agnostic-v3.2" / f"{name}.png", pa)
    pair = VitonHD(original, size=(H, W))[0]
    p = pair.person
    assert all(p.sources[k] is Source.DATASET for k in ("densepose", "agnostic", "agnostic_mask", "parse_agnostic"))
    parse = p.parse
    assert set(np.unique(p.densepose[..., 0])) == {0, 2}
    # the mask is the grey region of the JPEG agnostic image: the upper clothes, nothing else
    upper = parse == CIHP.UPPER_CLOTHES
    assert p.agnostic_mask[upper].mean() > 0.97 and p.agnostic_mask[~upper].mean() < 0.03
    np.testing.assert_array_equal(p.parse_agnostic[upper], 0)


def test_densepose_renders_like_hr_vitons_release_are_decoded(original):
    """image-densepose as HR-VITON ships it: detectron2's dp_segm colour render, JPEG (issue 12)."""
    import cv2

    from vton.types import DensePoseEncoding, DensePosePart as DP

    d = original / "test"
    truth = {}
    for name in CLOTH_COLOURS:
        parse = vio.load_label_png(d / "image-parse" / f"{name}.png")
        parts = np.zeros((H, W), np.uint8)
        parts[np.isin(parse, [CIHP.UPPER_CLOTHES, CIHP.NECK])] = DP.TORSO_FRONT
        parts[parse == CIHP.FACE] = DP.HEAD_RIGHT
        parts[parse == CIHP.RIGHT_ARM] = DP.UPPER_ARM_RIGHT_FRONT
        parts[parse == CIHP.LEFT_ARM] = DP.UPPER_ARM_LEFT_FRONT
        parts[parse == CIHP.PANTS] = DP.UPPER_LEG_LEFT_FRONT
        bgr = cv2.applyColorMap((parts.astype(np.float32) * 255 / 24).astype(np.uint8), cv2.COLORMAP_PARULA)
        bgr[parts == 0] = 0
        (d / "image-densepose").mkdir(exist_ok=True)
        cv2.imwrite(str(d / "image-densepose" / f"{name}.jpg"), bgr)
        truth[name] = parts
    reader = VitonHD(original, size=(H, W))
    assert reader.densepose_encoding is DensePoseEncoding.DP_SEGM
    p = reader[0].person
    assert p.sources["densepose"] is Source.DATASET and p.sources["densepose_encoding"] is DensePoseEncoding.DP_SEGM
    parts, person = truth["000001_00"], truth["000001_00"] > 0
    assert (p.densepose[..., 0][person] == parts[person]).mean() > 0.95 and not p.densepose[..., 1:].any()
    half = VitonHD(original, size=(H // 2, W // 2))[0].person  # decoded at the file's size, then resized
    assert set(np.unique(half.densepose[..., 0])) <= set(np.unique(parts))


# ----------------------------------------------------------------------------- the torch Dataset


def test_try_on_dataset_batches_through_a_data_loader(original):
    data = TryOnDataset(original, "test", size=(64, 48))
    assert len(data) == 2 and data.size == (64, 48)
    item = data[0]
    assert item["person"].shape == (3, 64, 48) and item["parse"].shape == (13, 64, 48)
    loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=collate)
    batch = next(iter(loader))
    assert isinstance(batch, TryOnBatch) and len(batch) == 2 and batch.size == (64, 48)
    assert batch.person.min() >= -1 and batch.person.max() <= 1
    torch.testing.assert_close(batch.parse.sum(1), torch.ones(2, 64, 48))
    assert batch.gt_flow is None
    # worker processes receive the dataset pickled
    clone = pickle.loads(pickle.dumps(data))
    torch.testing.assert_close(clone[1]["cloth"], data[1]["cloth"])


# ----------------------------------------------------------------------------- a synthetic folder


def _synth_available() -> bool:
    return (REPO / "vton" / "data" / "cli.py").exists()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    if not _synth_available():
        pytest.skip("the synth command (vton/data/cli.py) is not written yet")
    out = tmp_path_factory.mktemp("synth") / "data"
    subprocess.run([sys.executable, "-m", "vton", "synth", "--out", str(out), "--n", "3", "--seed", "5",
                    "--split", "test", "--size", "128x96"], check=True, cwd=REPO, capture_output=True)
    return out


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``warped(p) = image(p + flow(p))`` in [0, 1], the convention of vton.types."""
    h, w = flow.shape[1:]
    t = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    ys, xs = torch.meshgrid(torch.linspace(-1 + 1 / h, 1 - 1 / h, h), torch.linspace(-1 + 1 / w, 1 - 1 / w, w), indexing="ij")
    grid = torch.stack((xs, ys), -1)[None] + torch.from_numpy(flow).permute(1, 2, 0)[None]
    return F.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)[0].permute(1, 2, 0).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("size", [(128, 96), (64, 48)])
def test_synthetic_folder_reads_with_consistent_ground_truth(synthetic, size):
    data = VitonHD(synthetic, "test", size=size)
    assert len(data) == 3 and data.has_ground_truth
    errors = {1.0: [], 0.5: [], 2.0: []}  # flow scaled by: 1 is right; 0.5 / 2 are what a unit mix-up gives
    for pair in data:
        gt = pair.truth
        assert gt.flow.shape == (2, *size) and gt.flow.dtype == np.float32
        assert gt.warped_cloth.shape == (*size, 3) and gt.warped_mask.shape == size
        assert pair.person.sources["densepose"] is Source.DATASET
        # the resized flow still warps the resized cloth onto the resized warped cloth (away from the edge)
        inside = gt.warped_mask == 1
        inside = inside & (F.max_pool2d(torch.from_numpy(~inside).float()[None, None], 3, 1, 1)[0, 0].numpy() == 0)
        for scale, errs in errors.items():
            errs.append(np.abs(warp(pair.cloth.image, gt.flow * scale) - gt.warped_cloth / 255.0)[inside].mean())
    right = np.mean(errors[1.0])
    assert right < (0.02 if size == (128, 96) else 0.05), errors[1.0]  # 64x48: resampling a texture costs a little
    assert right < 0.5 * np.mean(errors[0.5]) and right < 0.5 * np.mean(errors[2.0]), errors
    batch = collate([TryOnDataset(synthetic, "test", size=size)[i] for i in range(2)])
    assert batch.gt_flow.shape == (2, 2, *size) and batch.gt_warped_mask.shape == (2, 1, *size)


# ----------------------------------------------------------------------------- the bundled samples


def test_bundled_samples_read():
    samples = REPO / "assets" / "samples"
    assert vio.load_image(samples / "photos" / "astronaut.png").shape == (512, 512, 3)
    assert vio.load_image(samples / "photos" / "cloth_tee.png").shape == (512, 384, 3)
    data = VitonHD(samples / "synthetic", "test", size=(256, 192))
    assert len(data) == 6 and data.has_ground_truth
    pair = data[0]
    assert pair.truth.flow.shape == (2, 256, 192) and pair.person.sources["agnostic"] is Source.DATASET


def test_unpaired_cloth_carries_no_ground_truth(tmp_path):
    root = tmp_path / "synthetic"
    shutil.copytree(REPO / "assets" / "samples" / "synthetic", root)
    (root / "test" / "test_pairs.txt").unlink()
    (root / "test_pairs.txt").write_text("000001_00.jpg 000002_00.jpg\n000003_00.jpg 000003_00.jpg\n")
    unpaired = VitonHD(root, "test", size=(64, 48), paired=False)
    assert unpaired[0].cloth_name == "000002_00.jpg" and unpaired[0].truth.flow is None
    assert unpaired[1].truth.flow is not None  # the listed cloth is the person's own
    assert VitonHD(root, "test", size=(64, 48))[0].truth.flow is not None
