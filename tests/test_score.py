"""``python -m vton score`` and the metrics under it: LPIPS, FID Inception, FID, KID, SSIM, PSNR.

No real weights exist here, so the networks are checked with random weights saved in the layouts of
the files users have (the lpips package's ``alex.pth``, torchvision's AlexNet / VGG16 files,
pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``), loaded by path like the originals; the
key layouts are written out here from the reference sources, not taken from our modules, and
the parameter counts are torchvision's published ones. The metric maths is checked against
known answers and brute-force references; the command on folders whose answer is known
(identical copies, noised and shifted copies).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vton import metrics
from vton.cli import main
from vton.data.vitonhd import resize_image
from vton.io import atomic_save_image, load_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

ALEX_CONVS = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}  # torchvision alexnet
VGG16_CONVS = dict(zip((0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
                       ((64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256), (512, 256),
                        (512, 512), (512, 512), (512, 512), (512, 512), (512, 512))))  # torchvision vgg16 "D"
LPIPS_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# torchvision's Inception3 has 27,161,264 parameters; without AuxLogits (3,326,696) and its fc (2,049,000):
INCEPTION_TRUNK_PARAMS = 27_161_264 - 3_326_696 - 2_049_000
# a few keys and shapes as torchvision's inception.py / pytorch-fid's FID blocks define them
INCEPTION_KEYS = {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Conv2d_4a_3x3.bn.running_var": (192,),
                  "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1), "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
                  "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
                  "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
                  "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1), "Mixed_7c.branch_pool.bn.bias": (192,)}


def _he(gen, shape, fan_in):
    return torch.randn(shape, generator=gen) * (2.0 / fan_in) ** 0.5


def write_backbone(path: Path, net: str, seed: int = 0) -> Path:
    """A torchvision-layout AlexNet / VGG16 file (``features.N.weight`` / ``.bias`` + a classifier key to ignore)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for i, spec in (ALEX_CONVS if net == "alex" else VGG16_CONVS).items():
        out, cin, k = spec if net == "alex" else (*spec, 3)
        state[f"features.{i}.weight"] = _he(gen, (out, cin, k, k), cin * k * k)
        state[f"features.{i}.bias"] = torch.randn(out, generator=gen) * 0.01
    state["classifier.6.bias"] = torch.zeros(1000)
    torch.save(state, path)
    return path


def write_lpips_linear(path: Path, net: str, seed: int = 0) -> Path:
    """The lpips package's v0.1 ``alex.pth`` / ``vgg.pth`` layout: ``linK.model.1.weight`` (1, C, 1, 1), non-negative."""
    gen = torch.Generator().manual_seed(seed)
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) for i, c in enumerate(LPIPS_CHANNELS[net])},
               path)
    return path


def write_inception(path: Path, seed: int = 0, *, counters: bool = True) -> Path:
    """pytorch-fid's file layout: the Inception3 trunk (BasicConv2d conv + bn), ``fc`` of 1008 classes, no AuxLogits."""
    from vton.nn.inception import FIDInceptionV3

    gen = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in FIDInceptionV3().state_dict().items():
        if k.endswith("num_batches_tracked"):
            if counters:
                state[k] = torch.tensor(0)
        elif k.endswith("conv.weight"):
            state[k] = _he(gen, v.shape, v[0].numel())
        elif k.endswith(("bn.weight", "running_var")):
            state[k] = 1 + 0.1 * torch.rand(v.shape, generator=gen)
        else:  # bn.bias, running_mean
            state[k] = 0.05 * torch.randn(v.shape, generator=gen)
    state["fc.weight"] = torch.randn(1008, 2048, generator=gen) * 0.01
    state["fc.bias"] = torch.zeros(1008)
    torch.save(state, path)
    return path


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    return {"lin": write_lpips_linear(d / "alex.pth", "alex"), "alexnet": write_backbone(d / "alexnet.pth", "alex"),
            "inception": write_inception(d / "pt_inception.pth")}


def noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(float) + rng.normal(0.0, sigma, image.shape), 0, 255).round().astype(np.uint8)


def shifted(image: np.ndarray, pixels: int) -> np.ndarray:
    return np.roll(image, (pixels, pixels), axis=(0, 1))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Four synthetic people, and paired results folders named as HR-VITON names them (no params.json):
    exact copies of the photos at 64x48, copies with noise of sigma 8 and 32, copies shifted by 2 and 6 px."""
    from lab.fixtures import write_tiny_dataset

    root = tmp_path_factory.mktemp("score")
    data = write_tiny_dataset(root / "data", n=4, size=(128, 96))
    photos = {p.stem: resize_image(load_image(p), (64, 48)) for p in sorted((data / "test" / "image").glob("*.jpg"))}
    folders = {}
    for name, change in (("same", lambda im, i: im), ("noise8", lambda im, i: noisy(im, 8, i)),
                         ("noise32", lambda im, i: noisy(im, 32, i)), ("shift2", lambda im, i: shifted(im, 2)),
                         ("shift6", lambda im, i: shifted(im, 6))):
        folders[name] = root / name
        for i, (stem, im) in enumerate(photos.items()):
            atomic_save_image(folders[name] / f"{stem}_{stem}.png", change(im, i))
    return {"root": root, "data": data, **folders}


def run_json(capsys, argv) -> dict:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out)


def score_argv(world, folder, *extra, weights=None, pairs="paired"):
    argv = ["score", "--results", str(world[folder]), "--data", str(world["data"]), *(["--pairs", pairs] if pairs else [])]
    if weights is not None:
        argv += ["--lpips", str(weights["lin"]), "--lpips-backbone", str(weights["alexnet"]),
                 "--inception", str(weights["inception"]), "--kid-subsets", "5"]
    return argv + list(extra)


# ----------------------------------------------------------------------------- LPIPS


def reference_lpips(x, y, lin_state, backbone_state, net):
    """LPIPS v0.1 written out from the lpips package's description, straight on the two state dicts."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(z):
        z = (z - shift) / scale
        out = []
        if net == "alex":  # slices [0:2] [2:5] [5:8] [8:10] [10:12] of alexnet().features
            for i, pool_before in ((0, False), (3, True), (6, True), (8, False), (10, False)):
                if pool_before:
                    z = F.max_pool2d(z, 3, 2)
                z = F.relu(F.conv2d(z, backbone_state[f"features.{i}.weight"], backbone_state[f"features.{i}.bias"],
                                    stride=4 if i == 0 else 1, padding={0: 2, 3: 2}.get(i, 1)))
                out.append(z)
        else:  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of vgg16().features
            convs = sorted(VGG16_CONVS)
            for stage in ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28)):
                if stage[0] != 0:
                    z = F.max_pool2d(z, 2, 2)
                for i in stage:
                    assert i in convs
                    z = F.relu(F.conv2d(z, backbone_state[f"features.{i}.weight"], backbone_state[f"features.{i}.bias"],
                                        padding=1))
                out.append(z)
        return out

    total = 0
    for k, (a, b) in enumerate(zip(feats(x), feats(y))):
        na = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total = total + F.conv2d((na - nb) ** 2, lin_state[f"lin{k}.model.1.weight"]).mean(dim=(2, 3))[:, 0]
    return total


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_loads_the_users_files_and_matches_a_reference(net, tmp_path):
    from vton.nn.lpips import LPIPS

    lin = write_lpips_linear(tmp_path / f"{net}.pth", net, seed=1)
    backbone = write_backbone(tmp_path / "backbone.pth", net, seed=2)
    model = LPIPS.from_files(lin, backbone)
    assert model.net_name == net
    assert sum(p.numel() for p in model.net.parameters()) == {"alex": 2_469_696, "vgg": 14_714_688}[net]  # torchvision's
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 48, generator=gen) * 2 - 1
    y = (x + 0.3 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    ref = reference_lpips(x, y, torch.load(lin, weights_only=True), torch.load(backbone, weights_only=True), net)
    got = model(x, y)
    assert got.shape == (2,) and torch.allclose(got, ref, rtol=1e-5, atol=1e-7), (got, ref)
    assert torch.equal(model(x, x), torch.zeros(2))
    z = (x + 0.6 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    assert (model(x, z) > got).all()  # more noise, further


def test_lpips_files_of_the_wrong_kind_are_one_clear_error(tmp_path):
    from vton.errors import InputError
    from vton.nn.lpips import LPIPS

    alex_lin = write_lpips_linear(tmp_path / "alex.pth", "alex")
    vgg_lin = write_lpips_linear(tmp_path / "vgg.pth", "vgg")
    alexnet = write_backbone(tmp_path / "alexnet.pth", "alex")
    with pytest.raises(InputError, match="torchvision VGG16 state dict .*missing"):
        LPIPS.from_files(vgg_lin, alexnet)  # vgg linear layers on an AlexNet backbone
    with pytest.raises(InputError, match="not an LPIPS v0.1 linear-layer file"):
        LPIPS.from_files(alexnet, alexnet)
    state = torch.load(alexnet, weights_only=True)
    state["features.3.weight"] = state["features.3.weight"][:100]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(InputError, match=r"features.3.weight has shape \(100, 64, 5, 5\)"):
        LPIPS.from_files(alex_lin, tmp_path / "cut.pth")
    torch.save({"net": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pth")  # a pickled module: code, refused
    with pytest.raises(InputError, match="could not read"):
        LPIPS.from_files(tmp_path / "pickled.pth", alexnet)


# ----------------------------------------------------------------------------- the FID Inception


def test_inception_has_pytorch_fids_layout_and_blocks(tmp_path):
    from vton.errors import InputError
    from vton.nn.inception import FIDInceptionV3

    net = FIDInceptionV3.from_file(write_inception(tmp_path / "a.pth", counters=False))  # old files: no BN counters
    assert sum(p.numel() for p in net.parameters()) == INCEPTION_TRUNK_PARAMS
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert all(shapes[k] == v for k, v in INCEPTION_KEYS.items())
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 96, 72, generator=gen) * 2 - 1
    f = net(x)
    assert f.shape == (2, 2048) and torch.isfinite(f).all() and f.std() > 0
    assert torch.allclose(net(x[1:]), f[1:], rtol=1e-4, atol=1e-6)  # a batch gives each image's own features
    up = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    assert torch.equal(net(up), f)  # any size is resized to 299x299 as pytorch-fid does

    # the FID graph's pooling patches: A/C/first E average without the padding, last E max-pools
    block = net.Mixed_5b
    h = torch.randn(1, 192, 9, 9, generator=gen)
    pool = block.branch_pool(F.avg_pool2d(h, 3, 1, 1, count_include_pad=False))
    assert torch.allclose(block(h)[:, -32:], pool)
    assert not torch.allclose(block(h)[:, -32:], block.branch_pool(F.avg_pool2d(h, 3, 1, 1)))
    e2 = net.Mixed_7c
    h = torch.randn(1, 2048, 5, 5, generator=gen)
    assert torch.allclose(e2(h)[:, -192:], e2.branch_pool(F.max_pool2d(h, 3, 1, 1)))

    state = torch.load(tmp_path / "a.pth", weights_only=True)
    torch.save({**state, "AuxLogits.fc.bias": torch.zeros(1000)}, tmp_path / "tv.pth")
    with pytest.raises(InputError, match="torchvision's Inception-v3"):
        FIDInceptionV3.from_file(tmp_path / "tv.pth")
    del state["Mixed_6b.branch7x7_2.conv.weight"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(InputError, match="missing 1 keys \\(Mixed_6b.branch7x7_2.conv.weight\\)"):
        FIDInceptionV3.from_file(tmp_path / "cut.pth")


# ----------------------------------------------------------------------------- FID and KID maths


def test_frechet_distance_known_answers_and_reference():
    import scipy.linalg

    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    closed = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # diagonal Gaussians
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(closed, rel=1e-12)

    # full-rank sets: pytorch-fid's formula with scipy's sqrtm
    x, y = rng.normal(size=(300, 20)), rng.normal(size=(250, 20)) @ rng.normal(size=(20, 20)) * 0.3 + 1
    (m1, s1), (m2, s2) = metrics.feature_statistics(x), metrics.feature_statistics(y)
    ref = (m1 - m2) @ (m1 - m2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert metrics.frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-9)
    assert metrics.fid(x, y) == pytest.approx(ref, rel=1e-9)

    # fewer images than dimensions (a test split against 2048-d features): the small exact form
    x = rng.normal(size=(12, 2048)) * 3
    y = x + rng.normal(size=x.shape)
    trace = np.trace(metrics.feature_statistics(x)[1])
    assert abs(metrics.fid(x, x)) < 1e-10 * trace  # identical sets: 0 up to float64 rounding
    assert metrics.fid(x, y) == pytest.approx(metrics.frechet_distance(*metrics.feature_statistics(x),
                                                                       *metrics.feature_statistics(y)), rel=1e-4)
    assert 0 < metrics.fid(x, x + 0.1) < metrics.fid(x, x + 0.2)  # a shifted copy moves it, more shift further


def test_kid_is_the_unbiased_polynomial_mmd_over_subsets():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 5)) + 0.5
    k = lambda a, b: (a @ b / 5 + 1) ** 3  # noqa: E731
    m = 7
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    cross = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert metrics.polynomial_mmd2(x, y) == pytest.approx(within - 2 * cross, rel=1e-12)

    a, b = rng.normal(size=(40, 8)), rng.normal(size=(30, 8))
    kid = metrics.kernel_inception_distance(a, b + 1, n_subsets=20, subset_size=1000, seed=3)
    assert kid["subset_size"] == 30 and kid["subsets"] == 20 and kid["std"] > 0
    assert kid == metrics.kernel_inception_distance(a, b + 1, n_subsets=20, seed=3)  # seeded
    # a set against itself: the estimator's known small bias, 2 (mean off-diagonal - mean diagonal of K) / m
    kaa = (a @ a.T / 8 + 1) ** 3
    bias = 2 * ((kaa.sum() - np.trace(kaa)) / (40 * 39) - np.trace(kaa) / 40) / 40
    assert metrics.kernel_inception_distance(a, a, n_subsets=3)["value"] == pytest.approx(bias, rel=1e-9)
    # two samples of one distribution score near 0; a shifted distribution more, a larger shift further
    p, q = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    same, near, far = (metrics.kernel_inception_distance(p, q + shift, n_subsets=10, subset_size=200)["value"]
                       for shift in (0.0, 0.3, 1.0))
    assert abs(same) < 0.2 * near and near < far


def test_ssim_and_psnr():
    rng = np.random.default_rng(0)
    im = rng.integers(0, 256, (32, 24, 3), dtype=np.uint8)
    assert metrics.ssim(im, im) == 1.0 and metrics.psnr(im, im) == float("inf")
    one = im.copy()
    one[0, 0, 0] ^= 1
    assert metrics.psnr(one, im) == pytest.approx(10 * np.log10(255**2 * im.size))  # one grey level in one value
    assert metrics.ssim(noisy(im, 30), im) < metrics.ssim(noisy(im, 5), im) < 1
    with pytest.raises(ValueError, match="one shape"):
        metrics.psnr(im, im[:16])


# ----------------------------------------------------------------------------- the command


def test_score_without_weights_reports_them_unavailable(world, capsys):
    out = run_json(capsys, score_argv(world, "same"))
    assert out["n"] == 4 and out["size"] == [64, 48] and out["results_size"] == [64, 48] and out["processes"] == 1
    assert "the results' own size" in out["compared_at"]
    assert out["ssim"]["value"] == 1.0
    assert out["psnr"]["value"] is None and out["psnr"]["infinite"] == 4  # inf is reported as null, with the count
    for name in ("lpips", "fid", "kid"):
        assert out[name]["available"] is False and out[name]["why"] and "value" not in out[name]
    assert "--lpips" in out["lpips"]["why"] and "pt_inception" in out["fid"]["why"]

    # a shifted copy moves SSIM and PSNR the right way, a larger shift further
    s2, s6 = run_json(capsys, score_argv(world, "shift2")), run_json(capsys, score_argv(world, "shift6"))
    assert 1 > s2["ssim"]["value"] > s6["ssim"]["value"]
    assert s2["psnr"]["value"] > s6["psnr"]["value"] > 0

    big = run_json(capsys, score_argv(world, "noise8", "--size", "128x96", "--per-pair"))
    assert big["size"] == [128, 96] and "resized from 64x48" in big["compared_at"]
    assert [r["name"] for r in big["per_pair"]] == [f"00000{i}_00_00000{i}_00.png" for i in range(1, 5)]
    assert np.mean([r["ssim"] for r in big["per_pair"]]) == pytest.approx(big["ssim"]["value"])


def test_score_with_weights_identical_noised_and_shifted(world, weights, capsys):
    same = run_json(capsys, score_argv(world, "same", weights=weights))
    assert same["lpips"]["value"] == 0.0 and same["lpips"]["net"] == "alex"
    assert abs(same["fid"]["value"]) < 1e-9 and same["fid"]["n_results"] == same["fid"]["n_real"] == 4
    assert same["fid"]["dims"] == 2048
    assert same["kid"]["subset_size"] == 4 and same["kid"]["subsets"] == 5
    n8 = run_json(capsys, score_argv(world, "noise8", weights=weights))
    n32 = run_json(capsys, score_argv(world, "noise32", weights=weights))
    assert 1 > n8["ssim"]["value"] > n32["ssim"]["value"]
    assert n8["psnr"]["value"] > n32["psnr"]["value"]
    assert 0 < n8["lpips"]["value"] < n32["lpips"]["value"]
    assert same["fid"]["value"] < n8["fid"]["value"] < n32["fid"]["value"]
    assert same["kid"]["value"] < n8["kid"]["value"] < n32["kid"]["value"]
    lp = ["--lpips", str(weights["lin"]), "--lpips-backbone", str(weights["alexnet"])]
    s2, s6 = (run_json(capsys, score_argv(world, f, *lp)) for f in ("shift2", "shift6"))
    assert 0 < s2["lpips"]["value"] < s6["lpips"]["value"]


UNPAIRED = [("000001_00.jpg", "000002_00.jpg"), ("000002_00.jpg", "000003_00.jpg"),
            ("000003_00.jpg", "000004_00.jpg"), ("000004_00.jpg", "000001_00.jpg")]


@pytest.fixture(scope="module")
def generated(world):
    """generate's folders (paired and unpaired) from the tiny random pipeline, on the unpaired list."""
    from lab.fixtures import write_tiny_pipeline

    data = world["root"] / "data_unpaired"
    shutil.copytree(world["data"], data)
    (data / "test_pairs.txt").write_text("".join(f"{p} {c}\n" for p, c in UNPAIRED))
    pipe = write_tiny_pipeline(world["root"] / "pipe")
    out = {"data": data}
    for mode in ("paired", "unpaired"):
        out[mode] = world["root"] / f"gen_{mode}"
        assert main(["generate", "--data", str(data), "--pairs", mode, "--weights", str(pipe), "--out", str(out[mode]),
                     "--size", "64x64", "--steps", "2", "--seed", "3"]) == 0
    return out


def test_score_a_generate_folder(generated, weights, capsys):
    capsys.readouterr()
    paired = run_json(capsys, ["score", "--results", str(generated["paired"])])  # data and mode from params.json
    assert paired["pairs"] == "paired" and paired["n"] == 4 and paired["size"] == [64, 64]
    assert 0 < paired["ssim"]["value"] < 1 and paired["psnr"]["value"] > 0
    run = json.loads((generated["paired"] / "run.json").read_text())
    assert paired["generate"]["key"] == run["key"] and paired["generate"]["sampling"]["steps"] == 2

    unpaired = run_json(capsys, ["score", "--results", str(generated["unpaired"]), "--data", str(generated["data"]),
                                 "--inception", str(weights["inception"]), "--kid-subsets", "3"])
    assert unpaired["pairs"] == "unpaired"
    for name in ("ssim", "psnr", "lpips"):
        assert unpaired[name] == {"available": False, "why": "unpaired results have no ground truth (each person "
                                                               "wears another cloth)"}
    assert unpaired["fid"]["value"] > 0 and unpaired["fid"]["n_real"] == 4

    assert main(["score", "--results", str(generated["unpaired"]), "--pairs", "paired"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds pairs 'unpaired' results" in err[0]


# ----------------------------------------------------------------------------- bad input


def _bad_folders(world):
    root = world["root"]
    if not (root / "short").exists():
        shutil.copytree(world["same"], root / "short")
        (root / "short" / "000003_00_000003_00.png").unlink()
        shutil.copytree(world["same"], root / "mixed")
        atomic_save_image(root / "mixed" / "000002_00_000002_00.png", np.zeros((32, 24, 3), np.uint8))
    return root


BAD = [
    (["--results", "{root}/nowhere"], "results folder not found"),
    (["--data", "{root}/nowhere"], "data folder not found"),
    (["--pairs", "both"], "invalid choice"),
    (["--pairs", None], "pass --pairs"),
    (["--split", "train"], "no 'train' split"),
    (["--lpips", "{w}/alex.pth"], "--lpips and --lpips-backbone go together"),
    (["--lpips", "{root}/none.pth", "--lpips-backbone", "{w}/alexnet.pth"], "--lpips file not found"),
    (["--inception", "{root}/none.pth"], "--inception file not found"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--kid-subset-size", "1"], "--kid-subset-size must be at least 2"),
    (["--size", "64by48"], "size must look like"),
    (["--device", "tpu"], "--device must be cpu"),
    (["--results", "{root}/short"], "1 of 4 results are missing"),
    (["--results", "{root}/mixed"], "results of different sizes"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[b[1] for b in BAD])
def test_bad_arguments_are_one_line_before_any_model_loads(world, weights, capsys, monkeypatch, extra, message):
    from vton.diffusion import score as s

    monkeypatch.setattr(s, "load_models", lambda *a: pytest.fail("a model was loaded"))
    root = _bad_folders(world)
    argv = score_argv(world, "same")
    if extra == ["--pairs", None]:
        argv = score_argv(world, "same", pairs=None)
    else:
        argv += [e.format(root=root, w=weights["lin"].parent) for e in extra]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_weights_of_the_wrong_kind_are_one_line(world, weights, capsys):
    rc = main(score_argv(world, "same", "--inception", str(weights["alexnet"])))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "is not pytorch-fid's FID Inception" in err[0]


# ----------------------------------------------------------------------------- two processes


@pytest.mark.slow
def test_two_processes_give_the_numbers_of_one(world, weights, tmp_path):
    from helpers import torchrun, vton

    folder = tmp_path / "noise8"
    shutil.copytree(world["noise8"], folder)
    args = ["score", "--results", folder, "--data", world["data"], "--pairs", "paired", "--batch-size", "1",
            "--lpips", weights["lin"], "--lpips-backbone", weights["alexnet"], "--inception", weights["inception"],
            "--kid-subsets", "5", "--per-pair"]
    one = vton(*args, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = torchrun(*args, nproc=2, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = json.loads(one.stdout), json.loads(two.stdout)  # one JSON: rank 0's alone
    assert b["processes"] == 2 and a["processes"] == 1
    assert a["per_pair"] == b["per_pair"]  # per-image numbers bit for bit, in list order
    for name in ("ssim", "psnr", "lpips"):
        assert a[name]["value"] == b[name]["value"]
    for name in ("fid", "kid"):
        assert b[name]["value"] == pytest.approx(a[name]["value"], rel=1e-9, abs=1e-12)
    parts = sorted(p.name for p in (folder / ".score").iterdir())
    assert parts == ["rank-00000.json", "rank-00001.json", "rank-00001.safetensors"]
