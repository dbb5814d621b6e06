"""The synthetic generator: determinism, ground truth that holds on the files written, and variety.

Everything the warper, the VAE and the UNet learn from synthetic data stands on
these properties: the flow on disk really warps the cloth on disk into the warped
cloth on disk, and the person photo really shows that warped cloth.
"""
from __future__ import annotations

import json
from pathlib import Path

import helpers
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vton import io as vio
from vton.cli import main
from vton.data.synth import generate_pair, item_seed, render_pair, write_dataset
from vton.data.synth.garment import bilinear_sample, flow_from_map
from vton.types import CIHP, Body25, Source

SIZE = (128, 96)
N = 4
REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("image", "cloth", "cloth-mask", "image-parse-v3", "image-parse-agnostic-v3.2", "openpose_json",
           "image-densepose", "agnostic-v3.2", "gt-flow", "gt-warped-cloth", "gt-warped-mask")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    calls = []
    write_dataset(root, N, seed=11, size=SIZE, split="train", progress=lambda d, t, m: calls.append((d, t)))
    assert calls[-1] == (N, N)
    return root


@pytest.fixture(scope="module")
def renders():
    """20 samples at 256x192, the size the warper trains on."""
    return [render_pair(item_seed(3, i)) for i in range(20)]


def warp_with_grid_sample(cloth: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """DESIGN.md's convention, written independently of the generator: ``cloth(p + flow(p))``."""
    h, w = flow.shape[1:]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    base = torch.stack([(2 * xs + 1) / w - 1, (2 * ys + 1) / h - 1]).float()
    grid = (base + torch.from_numpy(flow)).permute(1, 2, 0)[None]
    src = torch.from_numpy(np.ascontiguousarray(cloth)).float().permute(2, 0, 1)[None]
    return F.grid_sample(src, grid, mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()


def names(root: Path) -> list[str]:
    return [line.split()[0] for line in (root / "train_pairs.txt").read_text().splitlines()]


# ----------------------------------------------------------------------------- the layout


def test_layout_and_pairs_file(dataset):
    lines = (dataset / "train_pairs.txt").read_text().splitlines()
    assert lines == [f"{i:06d}_00.jpg {i:06d}_00.jpg" for i in range(1, N + 1)]
    assert (dataset / "train" / "train_pairs.txt").read_text().splitlines() == lines
    info = json.loads((dataset / "train" / "synth-info.json").read_text())
    assert info["size"] == list(SIZE) and sorted(info["pairs"]) == [line.split()[0] for line in lines]
    assert info["pairs"]["000002_00.jpg"]["seed"] == item_seed(11, 1)
    assert info["pairs"]["000001_00.jpg"]["garment"] in ("tshirt", "long_sleeve", "tank")
    assert info["pairs"]["000001_00.jpg"]["length"] in ("cropped", "regular", "long", "tunic")
    for folder in FOLDERS:
        files = sorted(p.name for p in (dataset / "train" / folder).iterdir())
        assert len(files) == N, folder
        assert not any(f.startswith(".") for f in files), f"temporary file left in {folder}"
    h, w = SIZE
    for name in names(dataset):
        stem = Path(name).stem
        assert vio.load_image(dataset / "train" / "image" / name, min_side=1).shape == (h, w, 3)
        with Image.open(dataset / "train" / "image-parse-v3" / f"{stem}.png") as im:
            assert im.mode == "P"
            assert im.getpalette()[: 3 * 6][-3:] == [254, 85, 0]  # UPPER_CLOTHES's colour in CIHP_PALETTE
        doc = json.loads((dataset / "train" / "openpose_json" / f"{stem}_keypoints.json").read_text())
        assert doc["version"] == 1.3 and len(doc["people"]) == 1
        assert len(doc["people"][0]["pose_keypoints_2d"]) == 75
        flow = np.load(dataset / "train" / "gt-flow" / f"{stem}.npy", allow_pickle=False)
        assert flow.dtype == np.float32 and flow.shape == (2, h, w)


def test_files_on_disk_equal_the_pair_in_memory(dataset):
    """The JPEGs on disk decode to exactly the arrays the ground truth was built from."""
    pair = generate_pair(item_seed(11, 1), SIZE, "000002_00.jpg")
    folder = dataset / "train"
    assert np.array_equal(vio.load_image(folder / "image" / "000002_00.jpg", min_side=1), pair.person.image)
    assert np.array_equal(vio.load_image(folder / "cloth" / "000002_00.jpg", min_side=1), pair.cloth.image)
    assert np.array_equal(vio.load_mask(folder / "cloth-mask" / "000002_00.png"), pair.cloth.mask)
    assert np.array_equal(vio.load_label_png(folder / "image-parse-v3" / "000002_00.png"), pair.person.parse)
    kp = vio.load_keypoints_json(folder / "openpose_json" / "000002_00_keypoints.json")
    assert np.allclose(kp, pair.person.keypoints, atol=1e-3)  # OpenPose JSON keeps 3 decimals
    assert np.array_equal(np.load(folder / "gt-flow" / "000002_00.npy"), pair.truth.flow)


# ----------------------------------------------------------------------------- ground truth


def test_gt_flow_warps_the_cloth_on_disk_into_the_gt_warped_cloth(dataset):
    folder = dataset / "train"
    for name in names(dataset):
        stem = Path(name).stem
        cloth = vio.load_image(folder / "cloth" / name, min_side=1).astype(np.float32) / 255
        cloth_mask = vio.load_mask(folder / "cloth-mask" / f"{stem}.png").astype(np.float32)
        flow = np.load(folder / "gt-flow" / f"{stem}.npy")
        gt = vio.load_image(folder / "gt-warped-cloth" / f"{stem}.png", min_side=1).astype(np.float32) / 255
        gt_mask = vio.load_mask(folder / "gt-warped-mask" / f"{stem}.png").astype(bool)
        assert gt_mask.sum() > 0.08 * gt_mask.size, "the garment should cover a good part of the frame"
        warped = warp_with_grid_sample(cloth, flow)
        err = np.abs(warped - gt)[gt_mask].mean()
        assert err < 0.02, f"{name}: mean abs error {err:.4f} inside the warped mask"
        assert err < 2 / 255, f"{name}: {err:.4f} is more than rounding"
        warped_mask = warp_with_grid_sample(cloth_mask[..., None], flow)[..., 0] > 0.5
        assert (warped_mask != gt_mask).mean() < 1e-3


def test_flow_is_defined_everywhere_and_samples_inside_the_cloth(renders):
    for r in renders:
        flow = r.pair.truth.flow
        assert np.isfinite(flow).all()
        h, w = flow.shape[1:]
        gx = flow[0] + (2 * np.arange(w) + 1) / w - 1
        gy = flow[1] + ((2 * np.arange(h) + 1) / h - 1)[:, None]
        assert np.abs(gx).max() <= 1 and np.abs(gy).max() <= 1  # clipped into the cloth frame


def test_flow_is_smooth_inside_the_garment_parts(renders):
    """Neighbouring pixels sample neighbouring cloth points, except at a sleeve's edge (occlusion).

    A tank top has one part, so its flow has no jump at all; garments with sleeves
    jump only along the sleeves' outlines."""
    jumps = {"tank": [], "sleeves": []}
    for r in renders:
        flow, mask = r.pair.truth.flow, r.pair.truth.warped_mask.astype(bool)
        h, w = flow.shape[1:]
        step_px = np.hypot(np.diff(flow[0], axis=1) * w / 2, np.diff(flow[1], axis=1) * h / 2)
        inside = mask[:, 1:] & mask[:, :-1]
        jumps["tank" if r.info.garment == "tank" else "sleeves"].append((step_px[inside] > 4).mean())
    assert jumps["tank"] and max(jumps["tank"]) < 1e-3
    assert np.median(jumps["sleeves"]) < 0.03


def test_person_shows_the_warped_cloth_up_to_shading(renders):
    """Inside the visible UPPER_CLOTHES region, person = shading x gt warped cloth (one grey factor per pixel)."""
    residuals, wrong = [], []
    for k, r in enumerate(renders):
        p, t = r.pair.person, r.pair.truth
        visible = p.parse == CIHP.UPPER_CLOTHES
        assert np.array_equal(visible, visible & (t.warped_mask == 1)), "garment pixels outside the warped mask"
        inner = _erode(visible)  # JPEG blurs across the garment's edges
        if inner.sum() < 50:
            continue
        photo = p.image[inner].astype(np.float32) / 255
        for truth, out in ((t.warped_cloth, residuals), (renders[(k + 7) % len(renders)].pair.truth.warped_cloth, wrong)):
            ref = truth[inner].astype(np.float32) / 255 + 1e-3
            shade = (photo * ref).sum(1) / (ref * ref).sum(1)
            out.append(np.abs(photo - shade[:, None] * ref).mean())
            if out is residuals:
                assert np.percentile(shade, 5) > 0.4 and np.percentile(shade, 95) < 1.08
    assert max(residuals) < 0.03, np.round(residuals, 3)
    assert np.median(wrong) > 3 * np.median(residuals), (np.median(wrong), np.median(residuals))  # the check can tell another garment apart


def _erode(mask: np.ndarray) -> np.ndarray:
    m = mask.copy()
    m[1:] &= mask[:-1]
    m[:-1] &= mask[1:]
    m[:, 1:] &= mask[:, :-1]
    m[:, :-1] &= mask[:, 1:]
    return m


def test_bilinear_sample_and_flow_from_map_match_grid_sample():
    """Sampling cloth pixel ``q`` directly equals grid_sample along ``flow_from_map(q)``, zeros padding included."""
    rng = np.random.default_rng(0)
    image = rng.random((20, 16, 3)).astype(np.float32)
    q = np.stack([rng.uniform(-2, 17, (20, 16)), rng.uniform(-2, 21, (20, 16))], -1).astype(np.float32)
    assert np.allclose(bilinear_sample(image, q), warp_with_grid_sample(image, flow_from_map(q)), atol=1e-5)
    identity = np.stack(np.meshgrid(np.arange(16), np.arange(20)), -1).astype(np.float32)
    assert np.abs(flow_from_map(identity)).max() < 1e-7


# ----------------------------------------------------------------------------- the person


def test_keypoints_lie_on_the_drawn_body(renders):
    for r in renders:
        p = r.pair.person
        kp = p.keypoints
        h, w = p.size
        present = kp[:, 2] > 0
        assert np.all(kp[~present] == 0)
        assert np.all((kp[present, 0] >= 0) & (kp[present, 0] < w) & (kp[present, 1] >= 0) & (kp[present, 1] < h))
        for j in (Body25.NECK, Body25.R_SHOULDER, Body25.L_SHOULDER, Body25.R_ELBOW, Body25.L_ELBOW, Body25.NOSE,
                  Body25.R_EYE, Body25.L_EYE):
            assert present[j], Body25(j).name
        for j in (Body25.R_SHOULDER, Body25.L_SHOULDER, Body25.R_ELBOW, Body25.L_ELBOW, Body25.NECK):
            x, y = kp[j, :2].round().astype(int)
            assert p.person_mask[y, x] == 1, f"{Body25(j).name} off the body"
        for j in (Body25.NOSE, Body25.R_EYE, Body25.L_EYE):
            x, y = kp[j, :2].round().astype(int)
            assert p.parse[y, x] in (CIHP.FACE, CIHP.HAIR), f"{Body25(j).name} off the face"
        assert kp[Body25.R_SHOULDER, 0] < kp[Body25.L_SHOULDER, 0]  # subject's right is the image's left
        assert kp[Body25.NECK, 1] < kp[Body25.MID_HIP, 1] or not present[Body25.MID_HIP]


def test_parse_and_sources(renders):
    for r in renders:
        p = r.pair.person
        assert np.array_equal(p.person_mask, (p.parse != CIHP.BACKGROUND).astype(np.uint8))
        labels = set(np.unique(p.parse).tolist())
        assert {CIHP.UPPER_CLOTHES, CIHP.FACE, CIHP.NECK} <= labels
        assert labels & {CIHP.LEFT_ARM, CIHP.RIGHT_ARM}
        assert p.sources["parse"] is Source.SYNTHETIC
        assert (p.agnostic[p.agnostic_mask == 1] == 128).all()
        assert not (p.parse_agnostic == CIHP.UPPER_CLOTHES).any()
        assert p.densepose.shape == p.image.shape and p.densepose[..., 0].max() <= 24
        cloth = r.pair.cloth
        border = np.concatenate([cloth.image[0], cloth.image[-1], cloth.image[:, 0], cloth.image[:, -1]])
        assert border.min() >= 225, "in-shop cloth lies on near-white"
        assert not cloth.mask[0].any() and not cloth.mask[-1].any()


def test_variety_across_seeds(renders):
    infos = [r.info for r in renders]
    assert {i.garment for i in infos} == {"tshirt", "long_sleeve", "tank"}
    assert len({i.texture for i in infos}) >= 5
    assert len({i.hair for i in infos}) >= 3
    arms = [r.pair.person.parse for r in renders]
    crossing = sum(((parse == CIHP.LEFT_ARM) | (parse == CIHP.RIGHT_ARM))[r.pair.truth.warped_mask == 1].sum() > 30
                   for parse, r in zip(arms, renders))
    assert crossing >= 3, "arms in front of the garment should be common"
    lower = [bool(set(np.unique(r.pair.person.parse).tolist()) & {CIHP.PANTS, CIHP.SKIRT}) for r in renders]
    assert sum(lower) >= 15
    centres = [np.argwhere(r.pair.person.person_mask).mean(0)[1] for r in renders]
    assert np.ptp(centres) > 8, "people should not all stand at the same place"
    skins = {tuple(r.pair.person.image[r.pair.person.parse == CIHP.FACE].mean(0).round(-1)) for r in renders}
    assert len(skins) >= 5


def test_tops_of_several_lengths_over_trousers_and_skirts(renders):
    """The hem (the garment's lowest row on the body's axis) sits, in torso lengths below the mid-hip
    point: cropped above the waist, regular around the hips, long and tunics lower, over both."""
    drops: dict[str, list[float]] = {}
    below = {"pants": 0, "skirt": 0}
    for r in renders + [render_pair(item_seed(3, i)) for i in range(20, 40)]:
        p, t = r.pair.person, r.pair.truth
        kp = p.keypoints
        neck, hip = kp[Body25.NECK, :2], kp[Body25.MID_HIP, :2]
        x = int(round(hip[0]))
        hem = np.flatnonzero(t.warped_mask[:, x - 2:x + 3].any(axis=1))[-1]
        drops.setdefault(r.info.length, []).append((hem - hip[1]) / (hip[1] - neck[1]))
        if r.info.length in ("long", "tunic"):
            labels = set(np.unique(p.parse).tolist())
            below["pants"] += CIHP.PANTS in labels
            below["skirt"] += CIHP.SKIRT in labels
    assert set(drops) == {"cropped", "regular", "long", "tunic"}, sorted(drops)
    median = {k: float(np.median(v)) for k, v in drops.items()}
    assert median["cropped"] < -0.15 < median["regular"] < 0.25 < median["long"] < median["tunic"], median
    assert below["pants"] and below["skirt"], below


def test_a_regular_top_is_drawn_as_before_lengths_existed():
    """The length comes from a stream of its own and "regular" changes no draw: the same template and fit
    as without lengths (so the bundled samples' and the embedded training data's regular tops are unchanged)."""
    from vton.data.synth.garment import Fit, Length, sample_length, sample_template

    for seed in range(5):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        ta, tb = sample_template(a, "tshirt", SIZE), sample_template(b, "tshirt", SIZE, 1.0, 1.0)
        assert np.array_equal(ta.outline, tb.outline) and ta.scale == tb.scale
        assert Fit.sample(a, ta) == Fit.sample(b, tb, Length("regular"))
        assert a.random() == b.random()  # both streams stand at the same place
    lengths = [sample_length(np.random.default_rng([s, 1])) for s in range(200)]
    assert all(x == Length("regular") for x in lengths if x.name == "regular")
    assert {x.name for x in lengths} == {"cropped", "regular", "long", "tunic"}


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_other_bytes():
    a, b, c = render_pair(5, SIZE), render_pair(5, SIZE), render_pair(6, SIZE)
    assert a.jpegs == b.jpegs and a.jpegs["image"] != c.jpegs["image"]
    for field in ("image", "parse", "densepose", "agnostic", "keypoints"):
        assert getattr(a.pair.person, field).tobytes() == getattr(b.pair.person, field).tobytes()
    assert a.pair.truth.flow.tobytes() == b.pair.truth.flow.tobytes()
    assert a.pair.truth.flow.tobytes() != c.pair.truth.flow.tobytes()


def test_dataset_bytes_depend_on_seed_and_index_only(tmp_path, dataset):
    write_dataset(tmp_path, 2, seed=11, size=SIZE)
    for folder in FOLDERS:
        for f in sorted((tmp_path / "train" / folder).iterdir()):
            assert f.read_bytes() == (dataset / "train" / folder / f.name).read_bytes(), f"{folder}/{f.name}"


def test_another_process_writes_the_same_bytes(tmp_path, dataset):
    res = helpers.vton("synth", "--out", tmp_path, "--n", "1", "--seed", "11", "--size", "128x96", timeout=120)
    assert res.returncode == 0, res.stderr
    for folder in FOLDERS:
        (f,) = (tmp_path / "train" / folder).iterdir()
        assert f.read_bytes() == (dataset / "train" / folder / f.name).read_bytes(), f"{folder}/{f.name}"


def test_train_and_test_never_share_a_person():
    train = {item_seed(0, i, "train") for i in range(50)}
    test = {item_seed(0, i, "test") for i in range(50)}
    assert len(train) == len(test) == 50 and not train & test
    assert item_seed(0, 3) == item_seed(0, 3, "train")


def test_bad_arguments():
    with pytest.raises(ValueError, match="seed"):
        generate_pair(-1)
    with pytest.raises(ValueError, match="split"):
        write_dataset("/nonexistent", 1, 0, split="val")


# ----------------------------------------------------------------------------- the CLI


def test_cli_writes_n_samples(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--n", "3", "--seed", "2", "--size", "128x96", "--split", "test"]) == 0
    assert len((tmp_path / "test_pairs.txt").read_text().splitlines()) == 3
    assert len(list((tmp_path / "test" / "gt-flow").glob("*.npy"))) == 3
    assert "wrote 3 pairs" in capsys.readouterr().out


def test_cli_contact_sheet(tmp_path):
    grid = tmp_path / "grid.png"
    assert main(["synth", "--out", str(tmp_path / "d"), "--n", "3", "--size", "64x48", "--grid", str(grid)]) == 0
    sheet = vio.load_image(grid, min_side=1)
    assert sheet.shape[1] == 2 * 5 * 48 and sheet.shape[0] > 2 * 64  # 3 rows in 2 blocks of 5 tiles


@pytest.mark.parametrize("size", ["12x", "0x96", "32x24"])
def test_cli_bad_size_is_one_error_line(tmp_path, size):
    run = helpers.vton("synth", "--out", tmp_path, "--n", "1", "--size", size, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr
    assert not any(tmp_path.iterdir())
