"""HR-VITON's condition generator: the port against the original's vectors, checkpoint loading, the warper
adapter (input encoding, exact flow conversion, post-processing), save/load and the converter."""
import json
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from vton.compat.hrviton import (
    HRVitonConditionGenerator,
    HRVitonWarper,
    _gaussian_blur,
    convert_hrviton,
)
from vton.errors import InputError
from vton.types import CIHP, CIHP_TO_GROUP, Group
from vton.warp.ops import apply_flow, identity_grid, resize_flow

FIXTURES = Path(__file__).parent / "fixtures" / "reference-models"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
SPEC = MANIFEST["models"]["hrviton_tocg"]
MODEL_NUMBER = 2  # the README's weight rule: seed_warp 0, seed_unet 1, hrviton_tocg 2


# ----------------------------------------------------------------------------- helpers


def rule_weights(keys, seed=MANIFEST["rule_seed"] + MODEL_NUMBER) -> dict[str, torch.Tensor]:
    """The reference README's weight rule over ``[(name, shape), ...]`` in state-dict order."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in keys:
        shape = tuple(shape)
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(0, dtype=torch.int64)
            continue
        if name.endswith("running_var"):
            a = 0.5 + rng.random(shape)
        elif name.endswith("running_mean"):
            a = 0.1 * rng.standard_normal(shape)
        elif len(shape) >= 2:
            a = rng.standard_normal(shape) / math.sqrt(np.prod(shape[1:]))
        elif name.endswith("weight"):
            a = 1 + 0.1 * rng.standard_normal(shape)
        else:
            a = 0.1 * rng.standard_normal(shape)
        state[name] = torch.from_numpy(np.asarray(a, dtype=np.float32))
    return state


def rule_checkpoint(path: Path, ngf: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """An HR-VITON-format file (``torch.save(state_dict)``, like mtviton.pth) of width ``ngf``."""
    keys = [(k, v.shape) for k, v in HRVitonConditionGenerator(ngf=ngf).state_dict().items()]
    state = rule_weights(keys, seed)
    torch.save(state, path)
    return state


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def person_batch(b, h, w, seed=0, soft_mask=False):
    """What `HRVitonWarper.warp` may read of a `TryOnBatch`; any other attribute access fails."""
    g = torch.Generator().manual_seed(seed)
    cloth = F.interpolate(torch.rand(b, 3, h // 8, w // 8, generator=g) * 2 - 1, size=(h, w), mode="bilinear")
    mask = (torch.rand(b, 1, h, w, generator=g) > 0.3).float()
    if soft_mask:
        mask = mask * 0.4 + 0.3  # 0.3 / 0.7: must be binarised to 0 / 1
    dp = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    labels = torch.randint(0, 13, (b, h, w), generator=g)
    parse = F.one_hot(labels, 13).permute(0, 3, 1, 2).float()
    return types.SimpleNamespace(cloth=cloth, cloth_mask=mask, densepose=dp, parse_agnostic=parse,
                                 parse_agnostic_labels=labels[:, None].float())


@pytest.fixture(scope="module")
def reference():
    return {k.split(".", 1)[1]: v.float() for k, v in load_file(FIXTURES / "vectors.safetensors").items()
            if k.startswith("hrviton_tocg.")}


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("hrviton") / "mtviton_ngf8.pth"
    torch.save(rule_weights([(k, s) for k, s, _ in SPEC["keys"]]), path)
    return path


@pytest.fixture(scope="module")
def warper(tmp_path_factory):
    """A small adapter (ngf 4) with rule weights, in eval mode."""
    path = tmp_path_factory.mktemp("hrviton") / "ngf4.pth"
    rule_checkpoint(path, ngf=4, seed=5)
    return HRVitonWarper.from_tocg(HRVitonConditionGenerator.from_checkpoint(path))


# ----------------------------------------------------------------------------- the port


def test_state_dict_keys_and_shapes_are_the_originals():
    ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in
            HRVitonConditionGenerator(**SPEC["args"]).state_dict().items()]
    assert ours == [tuple(k) for k in SPEC["keys"]]


def test_reference_vectors_through_from_checkpoint(reference, reference_file):
    tocg = HRVitonConditionGenerator.from_checkpoint(reference_file)
    assert not tocg.training and tocg.ngf == SPEC["args"]["ngf"]
    with torch.no_grad():
        flows, segmap, warped_c, warped_cm = tocg(reference["input1"], reference["input2"])
    assert len(flows) == 5
    for i, flow in enumerate(flows):
        assert flow.shape == reference[f"flow_{i}"].shape
        assert rel_err(flow, reference[f"flow_{i}"]) < 1e-4, i
    for name, got in (("fake_segmap", segmap), ("warped_cloth", warped_c), ("warped_mask", warped_cm)):
        assert got.shape == reference[name].shape
        assert rel_err(got, reference[name]) < 1e-4, name


@pytest.mark.parametrize("ngf", [4, 6])
def test_width_is_read_from_the_file(tmp_path, ngf):
    state = rule_checkpoint(tmp_path / "tocg.pth", ngf=ngf, seed=ngf)
    tocg = HRVitonConditionGenerator.from_checkpoint(tmp_path / "tocg.pth")
    assert tocg.ngf == ngf and (tocg.input1_nc, tocg.input2_nc, tocg.output_nc) == (4, 16, 13)
    for k, v in tocg.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_any_batch_size_equals_one_by_one(reference_file):
    tocg = HRVitonConditionGenerator.from_checkpoint(reference_file)
    g = torch.Generator().manual_seed(3)
    x1, x2 = torch.rand(3, 4, 64, 96, generator=g) * 2 - 1, torch.rand(3, 16, 64, 96, generator=g)
    with torch.no_grad():
        together = tocg(x1, x2)
        alone = tocg(x1[1:2], x2[1:2])
    torch.testing.assert_close(together[1][1:2], alone[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together[0][-1][1:2], alone[0][-1], atol=1e-5, rtol=1e-5)


def test_file_without_num_batches_tracked_loads(tmp_path, reference, reference_file):
    state = {k: v for k, v in torch.load(reference_file, weights_only=True).items()
             if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    with torch.no_grad():
        _, segmap, _, _ = HRVitonConditionGenerator.from_checkpoint(tmp_path / "old.pth")(
            reference["input1"], reference["input2"])
    assert rel_err(segmap, reference["fake_segmap"]) < 1e-4


# ----------------------------------------------------------------------------- wrong files


def _wrong_files(tmp_path: Path, valid: Path) -> dict[str, Path]:
    files = {}
    state = torch.load(valid, weights_only=True)
    files["seed_dict"] = tmp_path / "seed_warper.pth"
    optimizer = {"state": {}, "param_groups": []}
    torch.save({"model_state_dict": state, "optimizer_state_dict": optimizer}, files["seed_dict"])
    data = valid.read_bytes()
    files["truncated"] = tmp_path / "truncated.pth"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["random"] = tmp_path / "random.pth"
    files["random"].write_bytes(np.random.default_rng(0).bytes(4096))
    files["empty"] = tmp_path / "empty.pth"
    files["empty"].write_bytes(b"")
    files["other_model"] = tmp_path / "other.pth"
    torch.save({"encoder.0.weight": torch.zeros(8, 3, 3, 3), "head.bias": torch.zeros(2)}, files["other_model"])
    encoder_variant = dict(state)  # warp_feature="encoder": the decoder's last two inputs are narrower
    encoder_variant["SegDecoder.3.scale.1.weight"] = torch.zeros(8, 48, 1, 1)
    files["encoder_variant"] = tmp_path / "encoder_variant.pth"
    torch.save(encoder_variant, files["encoder_variant"])
    files["missing"] = tmp_path / "does_not_exist.pth"
    return files


def test_wrong_files_are_refused_with_one_clear_message(tmp_path, reference_file):
    files = _wrong_files(tmp_path, reference_file)
    messages = {}
    for name, path in files.items():
        with pytest.raises(InputError) as e:
            HRVitonConditionGenerator.from_checkpoint(path)
        messages[name] = str(e.value)
        assert "\n" not in messages[name] and str(path) in messages[name], name
    assert "model_state_dict" in messages["seed_dict"] and "expected" in messages["seed_dict"]
    assert "not a readable PyTorch checkpoint" in messages["truncated"]
    assert "not a readable PyTorch checkpoint" in messages["random"]
    assert "expected" in messages["other_model"] and "encoder.0.weight" in messages["other_model"]
    assert "SegDecoder.3.scale.1.weight" in messages["encoder_variant"]
    assert "[8, 64, 1, 1]" in messages["encoder_variant"]
    assert "not found" in messages["missing"]


# ----------------------------------------------------------------------------- the adapter: inputs


def test_hrviton_groups_are_ours_in_the_same_order():
    # cp_dataset_test.py's `labels` table, written out: group index -> CIHP labels.
    hrviton = {0: [0, 10], 1: [1, 2], 2: [4, 13], 3: [5, 6, 7], 4: [9, 12], 5: [14], 6: [15], 7: [16], 8: [17],
               9: [18], 10: [19], 11: [8], 12: [3, 11]}
    assert len(Group) == 13
    for group, labels in hrviton.items():
        assert sorted(int(c) for c, g in CIHP_TO_GROUP.items() if g == group) == labels
    assert len(CIHP_TO_GROUP) == len(CIHP)


def test_input_encoding_ranges_binary_mask_one_hot(warper):
    batch = person_batch(2, 512, 384, soft_mask=True)
    input1, input2 = warper.encode_inputs(batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic)
    assert input1.shape == (2, 4, 256, 192) and input2.shape == (2, 16, 256, 192)
    # cloth: bilinear, [-1, 1]; mask: binarised then nearest
    torch.testing.assert_close(input1[:, :3], F.interpolate(batch.cloth, size=(256, 192), mode="bilinear"))
    assert input1[:, :3].min() >= -1 and input1[:, :3].max() <= 1
    assert set(input1[:, 3].unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(input1[:, 3:], (batch.cloth_mask[:, :, ::2, ::2] > 0.5).float())
    # parse-agnostic first (13 one-hot groups, nearest), then the DensePose render (bilinear, [-1, 1])
    assert torch.equal(input2[:, :13].sum(1), torch.ones(2, 256, 192))
    torch.testing.assert_close(input2[:, :13], batch.parse_agnostic[:, :, ::2, ::2])
    torch.testing.assert_close(input2[:, 13:], F.interpolate(batch.densepose, size=(256, 192), mode="bilinear"))
    # at 256x192 nothing is resized
    small = person_batch(1, 256, 192)
    i1, i2 = warper.encode_inputs(small.cloth, small.cloth_mask, small.densepose, small.parse_agnostic)
    assert torch.equal(i1[:, :3], small.cloth) and torch.equal(i2[:, 13:], small.densepose)


def test_interface_properties_and_bad_shapes(warper):
    assert warper.multiple == 1 and warper.densepose_encoding == "dp_segm" and warper.origin == "hrviton"
    assert "HR-VITON" in warper.describe() and "ngf=4" in warper.describe()
    batch = person_batch(1, 128, 96)
    with pytest.raises(InputError, match="parse_agnostic"):
        warper(batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic[:, :12])
    with pytest.raises(InputError, match="cloth_mask"):
        warper(batch.cloth, batch.cloth_mask[..., :64], batch.densepose, batch.parse_agnostic)


def test_warp_on_a_real_batch_in_its_encoding(warper):
    """`TryOnBatch` from a synthetic pair with the warper's own DensePose encoding (the pipeline's path)."""
    from vton.data.synth import generate_pair
    from vton.tensors import pairs_to_batch

    batch = pairs_to_batch([generate_pair(3, (256, 192))], densepose_encoding=warper.densepose_encoding)
    _, input2 = warper.encode_inputs(batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic)
    assert input2[:, 13:].min() == -1 and input2[:, 13:].max() <= 1  # render in [-1, 1], black background -1
    with torch.no_grad():
        out = warper.warp(batch)
    assert out.warped_cloth.shape == (1, 3, 256, 192) and out.seg_logits.shape == (1, 13, 256, 192)
    assert all(torch.isfinite(t).all() for t in (*out.flows, out.aligned_cloth, out.aligned_mask))


# ----------------------------------------------------------------------------- the adapter: flows


def test_adapter_on_the_reference_vectors(reference, reference_file):
    """The whole adapter at the reference's 128x96: HR-VITON's warped cloth, via our flow too."""
    warper = HRVitonWarper.from_tocg(HRVitonConditionGenerator.from_checkpoint(reference_file), input_size=(128, 96))
    i1, i2 = reference["input1"], reference["input2"]
    with torch.no_grad():
        out = warper(i1[:, :3], i1[:, 3:], i2[:, 13:], i2[:, :13])
    assert rel_err(out.warped_cloth, reference["warped_cloth"]) < 1e-4
    assert rel_err(out.warped_mask, reference["warped_mask"]) < 1e-4
    err = (apply_flow(i1[:, :3], out.flows[-1], size=(128, 96)) - reference["warped_cloth"]).abs()
    assert float(err[..., 1:-1, 1:-1].max()) < 1e-5  # float rounding inside
    assert float(err.max()) < 1e-3  # outermost pixels: bilinear clamping of our identity term (module docstring)


def _hrviton_full_resolution_warp(flow_list, cloth):
    """test_generator.py's full-resolution warp, written out as it is (pixel flow / its fixed divisors)."""
    n, _, h, w = cloth.shape
    flow = F.interpolate(flow_list[-1].permute(0, 3, 1, 2), size=(h, w), mode="bilinear").permute(0, 2, 3, 1)
    flow_norm = torch.cat([flow[..., 0:1] / ((96 - 1.0) / 2.0), flow[..., 1:2] / ((128 - 1.0) / 2.0)], 3)
    grid_x = torch.linspace(-1.0, 1.0, w).view(1, 1, w, 1).expand(n, h, -1, -1)
    grid_y = torch.linspace(-1.0, 1.0, h).view(1, h, 1, 1).expand(n, -1, w, -1)
    return F.grid_sample(cloth, torch.cat([grid_x, grid_y], 3) + flow_norm, padding_mode="border", align_corners=False)


@pytest.mark.parametrize("size", [(256, 192), (512, 384)])
def test_our_finest_flow_warps_like_hrviton(warper, size):
    batch = person_batch(2, *size, seed=1)
    with torch.no_grad():
        out = warper.warp(batch)
        flow_list, _, warped_c, _ = warper.tocg(*warper.encode_inputs(
            batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic))
    assert [tuple(f.shape) for f in out.flows] == [(2, 2, 8 * 2**k, 6 * 2**k) for k in range(5)]
    hrviton = warped_c if size == (256, 192) else _hrviton_full_resolution_warp(flow_list, batch.cloth)
    err = (apply_flow(batch.cloth, out.flows[-1], size=size) - hrviton).abs()
    assert float(err[..., 2:-2, 2:-2].max()) < 5e-5 and float(err.max()) < 1e-3  # bilinear clamps 2 px at 4x
    torch.testing.assert_close(out.warped_cloth, hrviton, atol=1e-4, rtol=0)
    # the test bites: HR-VITON's grid read at the flow's own size (no zoom term) is off by ~half a pixel
    h, w = flow_list[-1].shape[1:3]
    naive = (flow_list[-1] / torch.tensor([(w - 1) / 2, (h - 1) / 2])).permute(0, 3, 1, 2)  # flow / divisor only
    assert float((apply_flow(batch.cloth, naive, size=size) - hrviton).abs().max()) > 1e-2


def test_coarser_flows_match_the_grids_of_the_forward_pass(warper):
    """Flow k, resized to the next level and added to our identity, is the grid the original samples T1 with."""
    batch = person_batch(1, 256, 192, seed=2)
    with torch.no_grad():
        out = warper.warp(batch)
        flow_list = warper.tocg(*warper.encode_inputs(batch.cloth, batch.cloth_mask, batch.densepose,
                                                      batch.parse_agnostic))[0]
    for k in range(4):
        h, w = flow_list[k].shape[1:3]
        up = F.interpolate(flow_list[k].permute(0, 3, 1, 2), scale_factor=2, mode="bilinear").permute(0, 2, 3, 1)
        gy, gx = torch.meshgrid(torch.linspace(-1, 1, 2 * h), torch.linspace(-1, 1, 2 * w), indexing="ij")
        grid = torch.stack((gx, gy), -1)  # make_grid at the next level
        theirs = grid + up / torch.tensor([(w - 1) / 2, (h - 1) / 2])
        ours = identity_grid(1, 2 * h, 2 * w) + resize_flow(out.flows[k], (2 * h, 2 * w)).permute(0, 2, 3, 1)
        inside = (slice(None), slice(1, -1), slice(1, -1))
        torch.testing.assert_close(ours[inside], theirs[inside], atol=1e-5, rtol=1e-5)
        # outermost pixels: bilinear clamping leaves at most 1 / (2 w (2w - 1)) grid units
        assert float((ours - theirs).abs().max()) <= 1 / (2 * w * (2 * w - 1)) + 1e-5


# ----------------------------------------------------------------------------- the adapter: post-processing


def test_segmentation_and_occlusion_removal_as_the_test_script(warper):
    batch = person_batch(2, 512, 384, seed=4)
    with torch.no_grad():
        out = warper.warp(batch)
        _, segmap, _, warped_cm = warper.tocg(*warper.encode_inputs(
            batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic))
    # seg_logits: fake_segmap * (warped mask in the upper channel), upsampled, blurred (fake_parse_gauss)
    composed = segmap.clone()
    composed[:, 3:4] = segmap[:, 3:4] * warped_cm
    expected = _gaussian_blur(F.interpolate(composed, size=(512, 384), mode="bilinear"))
    torch.testing.assert_close(out.seg_logits, expected)
    assert out.seg_logits.shape == (2, 13, 512, 384)
    # remove_overlap with channels 1:3 and 5: of softmax(fake_parse_gauss)
    probs = out.seg_logits.softmax(1)
    occluders = torch.cat([probs[:, 1:3], probs[:, 5:]], 1).sum(1, keepdim=True)
    torch.testing.assert_close(out.aligned_mask, out.warped_mask - occluders * out.warped_mask)
    torch.testing.assert_close(out.aligned_cloth, out.warped_cloth * out.aligned_mask + (1 - out.aligned_mask))
    assert out.warped_mask.min() >= 0 and out.warped_mask.max() <= 1
    assert (out.aligned_mask <= out.warped_mask + 1e-6).all()


def test_gaussian_blur_is_torchgeometrys():
    x = torch.rand(1, 2, 20, 17)
    r = torch.arange(15.0) - 7
    k = torch.exp(-(r**2) / 18)
    k2 = torch.outer(k / k.sum(), k / k.sum())
    expected = F.conv2d(x, k2.expand(2, 1, 15, 15), padding=7, groups=2)
    torch.testing.assert_close(_gaussian_blur(x), expected, atol=1e-6, rtol=1e-5)


def test_without_occlusion_aligned_is_warped(warper, tmp_path):
    plain = HRVitonWarper.from_tocg(warper.tocg, occlusion=False)
    with torch.no_grad():
        out = plain.warp(person_batch(1, 256, 192))
    assert out.aligned_mask is out.warped_mask and out.aligned_cloth is out.warped_cloth


# ----------------------------------------------------------------------------- save / load, convert


def test_save_pretrained_round_trip(warper, tmp_path):
    warper.save_pretrained(str(tmp_path / "w"))
    files = sorted(p.name for p in (tmp_path / "w").iterdir())
    assert files == ["config.json", "diffusion_pytorch_model.safetensors"]
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    assert config["_class_name"] == "HRVitonWarper" and config["ngf"] == 4
    loaded = HRVitonWarper.from_pretrained(tmp_path / "w")
    assert not loaded.training
    batch = person_batch(1, 256, 192, seed=6)
    with torch.no_grad():
        a, b = warper.warp(batch), loaded.warp(batch)
    assert torch.equal(a.seg_logits, b.seg_logits) and torch.equal(a.flows[-1], b.flows[-1])


def test_folder_whose_weights_do_not_fit_its_config(warper, tmp_path):
    warper.save_pretrained(str(tmp_path / "w"))
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    (tmp_path / "w" / "config.json").write_text(json.dumps({**config, "ngf": 6}))
    with pytest.raises(InputError, match="do not match its config"):
        HRVitonWarper.from_pretrained(tmp_path / "w")
    with pytest.raises(InputError, match="not found"):
        HRVitonWarper.from_pretrained(tmp_path / "nothing")


def test_bfloat16_on_the_cpu_is_finite_and_close(warper):
    batch = person_batch(1, 512, 384, seed=7)
    low = HRVitonWarper.from_tocg(warper.tocg).to(torch.bfloat16)
    with torch.no_grad():
        ref = warper.warp(batch)
        out = low.warp(types.SimpleNamespace(**{k: v.to(torch.bfloat16) for k, v in vars(batch).items()}))
    for name in ("warped_cloth", "warped_mask", "seg_logits", "aligned_mask"):
        got = getattr(out, name)
        assert got.dtype == torch.bfloat16 and torch.isfinite(got).all(), name
        assert float((got.float() - getattr(ref, name)).abs().mean()) < 0.05, name


def test_convert_hrviton_writes_a_loadable_folder(tmp_path):
    state = rule_checkpoint(tmp_path / "mtviton.pth", ngf=6, seed=9)
    (tmp_path / "empty_out").mkdir()
    for out in (tmp_path / "new" / "warper", tmp_path / "empty_out"):
        written = convert_hrviton(tmp_path / "mtviton.pth", out)
        assert written == out and (out / "config.json").is_file()
        assert not list(out.glob("*.bin")) and not list(out.glob("*.pth"))
        from vton.registry import load_warper

        warper = load_warper(out)
        assert type(warper).__name__ == "HRVitonWarper" and warper.config.ngf == 6
        for k, v in warper.tocg.state_dict().items():
            assert torch.equal(v, state[k]), k
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_out", "mtviton.pth", "new"]  # no temp folders


def test_convert_hrviton_refuses_wrong_files_and_writes_nothing(tmp_path, reference_file):
    (tmp_path / "in").mkdir()
    files = _wrong_files(tmp_path / "in", reference_file)
    for name, path in files.items():
        out = tmp_path / "out" / name
        with pytest.raises(InputError):
            convert_hrviton(path, out)
        assert not out.exists(), name
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    with pytest.raises(InputError, match="not an empty folder"):
        convert_hrviton(reference_file, taken)
