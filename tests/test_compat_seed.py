"""The seed's ports, sampler, adapters and converter (`vton.compat.seed`).

The ports are checked against vectors the original code computed (tests/fixtures/reference-models/): weights
follow the README's rule, saved in the seed's own file format (with optimizer state) and read back through
``from_checkpoint``. Small widths only: WarpingProcess(8), UNet(9, 4, hidden 8, time 32).
"""
from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

from vton.compat.seed import (
    LABEL_SCALE,
    SeedDenoiser,
    SeedScheduler,
    SeedUNet,
    SeedWarper,
    SeedWarpingProcess,
    _pil_resize,
    _seed_warp,
    convert_seed,
    seed_densepose,
    seed_flow_to_ours,
    seed_warper_inputs,
    unet_args_from_state_dict,
)
from vton.errors import InputError
from vton.warp.ops import apply_flow

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

FIXTURES = Path(__file__).parent / "fixtures" / "reference-models"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
MODEL_NUMBER = {"seed_warp": 0, "seed_unet": 1, "hrviton_tocg": 2}


@pytest.fixture(scope="module")
def vectors() -> dict[str, torch.Tensor]:
    v = load_file(str(FIXTURES / "vectors.safetensors"))
    return {k: t.float() if t.is_floating_point() else t for k, t in v.items()}  # inputs are stored as float16


# ----------------------------------------------------------------------------- the weight rule and the seed's files


def rule_state_dict(model: str, keys: list | None = None, seed_offset: int = 0) -> dict[str, torch.Tensor]:
    """The README's weight rule over ``keys`` (default: the manifest's, in order)."""
    rng = np.random.default_rng(MANIFEST["rule_seed"] + MODEL_NUMBER[model] + seed_offset)
    state = {}
    for key, shape, _ in keys or MANIFEST["models"][model]["keys"]:
        shape = tuple(shape)
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.int64)
            continue
        if key.endswith("running_var"):
            a = 0.5 + rng.random(shape)
        elif key.endswith("running_mean"):
            a = 0.1 * rng.standard_normal(shape)
        elif len(shape) >= 2:
            a = rng.standard_normal(shape) / math.sqrt(max(1, int(np.prod(shape[1:]))))
        elif key.endswith("weight"):
            a = 1 + 0.1 * rng.standard_normal(shape)
        else:
            a = 0.1 * rng.standard_normal(shape)
        state[key] = torch.from_numpy(np.asarray(a, dtype=np.float32))
    return state


def keys_of(model: torch.nn.Module) -> list:
    return [[k, list(v.shape), "float32"] for k, v in model.state_dict().items()]


def save_seed_checkpoint(path: Path, model: torch.nn.Module, state: dict, optimizer: str) -> Path:
    """``torch.save({"model_state_dict", "optimizer_state_dict"})`` as the seed does, the optimizer stepped once
    so its state holds ``exp_avg`` / ``exp_avg_sq`` tensors."""
    model.load_state_dict(state)
    opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
    opt = opt_cls(model.parameters(), lr=5e-5 if optimizer == "adam" else 1e-5, betas=(0.5, 0.999))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    torch.save({"model_state_dict": state, "optimizer_state_dict": opt.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def warper_pth(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "warping_epoch_30.pth"
    return save_seed_checkpoint(path, SeedWarpingProcess(8), rule_state_dict("seed_warp"), "adam")


@pytest.fixture(scope="module")
def unet_pth(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "latent512_epoch_300.pth"
    return save_seed_checkpoint(path, SeedUNet(9, 4, 8, 32), rule_state_dict("seed_unet"), "adamw")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


# ----------------------------------------------------------------------------- ports: layout and reference vectors


def test_ports_have_the_originals_keys_shapes_and_order():
    assert keys_of(SeedWarpingProcess(8)) == MANIFEST["models"]["seed_warp"]["keys"]
    assert keys_of(SeedUNet(9, 4, 8, 32)) == MANIFEST["models"]["seed_unet"]["keys"]


def test_full_size_ports_have_the_release_parameter_counts_and_widths_are_read():
    with torch.device("meta"):
        warper, unet = SeedWarpingProcess(96), SeedUNet(9, 4, hidden_channels=64, time_emb_dim=256)
    assert round(sum(p.numel() for p in warper.parameters()) / 1e6, 1) == 71.5
    assert round(sum(p.numel() for p in unet.parameters()) / 1e6, 1) == 737.7
    args = unet_args_from_state_dict(unet.state_dict())
    assert args == dict(in_channels=9, out_channels=4, hidden_channels=64, time_emb_dim=256)


def test_warper_from_checkpoint_matches_reference(warper_pth, vectors):
    net = SeedWarpingProcess.from_checkpoint(warper_pth)
    assert net.base_channels == 8
    with torch.no_grad():
        warped_c, warped_cm, flows = net(vectors["seed_warp.input_1"], vectors["seed_warp.input_2"])
    assert rel_err(warped_c, vectors["seed_warp.warped_cloth"]) < 1e-4
    assert rel_err(warped_cm, vectors["seed_warp.warped_mask"]) < 1e-4
    assert len(flows) == 5
    for i, flow in enumerate(flows):
        ref = vectors[f"seed_warp.flow_{i}"]
        assert flow.shape == ref.shape  # (N, h, w, 2), the seed's own layout
        assert rel_err(flow, ref) < 1e-4


def test_warper_port_any_batch_size(vectors):
    net = SeedWarpingProcess(8)
    net.load_state_dict(rule_state_dict("seed_warp"))
    x1, x2 = vectors["seed_warp.input_1"], vectors["seed_warp.input_2"]
    with torch.no_grad():
        one = net(x1, x2)[0]
        three = net(torch.cat([x1.flip(-1), x1, x1 * 0.5]), torch.cat([x2, x2, x2]))[0]
    assert torch.allclose(three[1:2], one, atol=1e-5)
    assert not torch.allclose(three[0:1], one, atol=1e-3)
    with pytest.raises(InputError, match="divisible by 32"):
        net(torch.rand(1, 4, 48, 48), torch.rand(1, 6, 48, 48))


def test_unet_from_checkpoint_matches_reference(unet_pth, vectors):
    unet = SeedUNet.from_checkpoint(unet_pth)
    assert (unet.hidden_channels, unet.time_emb_dim, unet.in_channels, unet.out_channels) == (8, 32, 9, 4)
    with torch.no_grad():
        eps = unet(vectors["seed_unet.x"], vectors["seed_unet.t"])
    assert rel_err(eps, vectors["seed_unet.eps"]) < 1e-4


def test_sampler_loop_reproduces_reference(unet_pth, vectors):
    unet = SeedUNet.from_checkpoint(unet_pth)
    s = SeedScheduler()
    s.set_timesteps(200)
    assert torch.equal(s.timesteps, vectors["seed_sampler.timesteps"])
    z, mask, noise = (vectors[f"seed_sampler.{k}"] for k in ("z_composite", "mask", "noise"))
    x = s.add_noise(z, noise, s.timesteps[:1])
    with torch.no_grad():
        for i, t in enumerate(s.timesteps):
            out = s.step(unet(torch.cat([x, z, mask], dim=1), t.expand(1)), t, x)
            x = out.prev_sample
            if i in (0, 49, 199):
                assert rel_err(out.pred_original_sample, vectors[f"seed_sampler.x0_step_{i}"]) < 1e-3, i
                assert rel_err(x, vectors[f"seed_sampler.xt_after_step_{i}"]) < 1e-3, i
    assert rel_err(out.pred_original_sample, vectors["seed_sampler.x0_last"]) < 1e-3


# ----------------------------------------------------------------------------- from_checkpoint: widths and wrong files


@pytest.mark.parametrize("oc", [4, 12])
def test_warper_width_is_read_from_the_file(tmp_path, oc):
    model = SeedWarpingProcess(oc)
    state = rule_state_dict("seed_warp", keys_of(model))
    path = save_seed_checkpoint(tmp_path / "w.pth", model, state, "adam")
    loaded = SeedWarpingProcess.from_checkpoint(path)
    assert loaded.base_channels == oc
    x1, x2 = torch.rand(1, 4, 64, 64), torch.rand(1, 6, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x1, x2)[0], model.eval()(x1, x2)[0])


@pytest.mark.parametrize("args", [(5, 2, 8, 16), (9, 4, 8, 64)])
def test_unet_widths_are_read_from_the_file(tmp_path, args):
    model = SeedUNet(*args)
    path = tmp_path / "u.pth"
    torch.save({"model_state_dict": rule_state_dict("seed_unet", keys_of(model)), "optimizer_state_dict": {}}, path)
    loaded = SeedUNet.from_checkpoint(path)
    assert (loaded.in_channels, loaded.out_channels, loaded.hidden_channels, loaded.time_emb_dim) == args
    x = torch.randn(1, args[0], 16, 16)
    model.load_state_dict(rule_state_dict("seed_unet", keys_of(model)))
    with torch.no_grad():
        assert torch.equal(loaded(x, torch.tensor([7])), model.eval()(x, torch.tensor([7])))


@pytest.fixture(scope="module")
def hrviton_pth(tmp_path_factory) -> Path:
    state = {k: torch.zeros(shape, dtype=torch.int64 if k.endswith("num_batches_tracked") else torch.float32)
             for k, shape, _ in MANIFEST["models"]["hrviton_tocg"]["keys"]}
    path = tmp_path_factory.mktemp("hr") / "mtviton.pth"
    torch.save(state, path)  # HR-VITON's format: a plain state dict
    return path


def test_another_models_file_is_refused_saying_what_was_expected_and_found(warper_pth, unet_pth, hrviton_pth):
    with pytest.raises(InputError, match=r"expected|is not the seed's warper") as e:
        SeedWarpingProcess.from_checkpoint(hrviton_pth)
    assert "HR-VITON" in str(e.value) and "WarpingProcess" in str(e.value)
    with pytest.raises(InputError) as e:
        SeedWarpingProcess.from_checkpoint(unet_pth)
    assert "warper" in str(e.value) and "UNet" in str(e.value)
    with pytest.raises(InputError) as e:
        SeedUNet.from_checkpoint(warper_pth)
    assert "UNet" in str(e.value) and "WarpingProcess" in str(e.value)
    with pytest.raises(InputError, match="HR-VITON"):
        SeedDenoiser.from_checkpoint(hrviton_pth)


def test_unreadable_files_are_refused(tmp_path, warper_pth):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(warper_pth.read_bytes()[: warper_pth.stat().st_size // 2])
    noise = tmp_path / "noise.pth"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    pickled = tmp_path / "object.pth"
    pickled.write_bytes(pickle.dumps({"model_state_dict": SimpleNamespace(a=1)}))
    for path in (truncated, noise, pickled, tmp_path / "missing.pth", tmp_path):
        with pytest.raises(InputError):
            SeedWarpingProcess.from_checkpoint(path)
        with pytest.raises(InputError):
            SeedWarper.from_checkpoint(path)


def test_a_file_of_another_shape_names_the_tensor(tmp_path):
    state = rule_state_dict("seed_warp")
    state["convs_segment.2.weight"] = torch.zeros(32, 32, 1, 1)
    torch.save({"model_state_dict": state, "optimizer_state_dict": {}}, tmp_path / "w.pth")
    with pytest.raises(InputError, match=r"convs_segment\.2\.weight"):
        SeedWarpingProcess.from_checkpoint(tmp_path / "w.pth")
    del state["convs_segment.2.weight"]
    torch.save({"model_state_dict": state}, tmp_path / "w2.pth")
    with pytest.raises(InputError, match="missing"):
        SeedWarpingProcess.from_checkpoint(tmp_path / "w2.pth")


def test_a_plain_state_dict_of_the_right_model_is_accepted(tmp_path, vectors):
    torch.save(rule_state_dict("seed_warp"), tmp_path / "plain.pth")
    net = SeedWarpingProcess.from_checkpoint(tmp_path / "plain.pth")
    with torch.no_grad():
        warped_c = net(vectors["seed_warp.input_1"], vectors["seed_warp.input_2"])[0]
    assert rel_err(warped_c, vectors["seed_warp.warped_cloth"]) < 1e-4


# ----------------------------------------------------------------------------- the scheduler


def test_scheduler_timesteps_and_previous():
    s = SeedScheduler()
    s.set_timesteps(200)
    assert s.timesteps[:4].tolist() == [999, 993, 988, 983]  # truncated linspace: gaps of 5 and 6
    assert s.previous_timestep(999) == 993 and s.previous_timestep(s.timesteps[-1]) == 0
    assert s.timesteps[-1] == 0
    s.set_timesteps(7)
    assert s.timesteps.tolist() == torch.linspace(999, 0, 7).long().tolist()
    assert [s.previous_timestep(t) for t in s.timesteps] == s.timesteps[1:].tolist() + [0]
    for bad in (0, 1001, 2.5):
        with pytest.raises(InputError):
            s.set_timesteps(bad)
    # diffusers' DDIM steps by T // n and rounds: not the seed's list
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler(beta_schedule="linear", timestep_spacing="linspace")
    ddim.set_timesteps(200)
    assert ddim.timesteps[:2].tolist() == [999, 994]  # rounded 993.98; its step also goes to t - 1000 // 200


def test_scheduler_step_is_the_seeds_formula_and_clamps_x_t():
    s = SeedScheduler()
    s.set_timesteps(10)
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(2, 4, 8, 8, generator=g) * 3, torch.randn(2, 4, 8, 8, generator=g)
    t = int(s.timesteps[2])
    prev = s.previous_timestep(t)
    a, ap = float(s.alphas_cumprod[t]), float(s.alphas_cumprod[prev])
    x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
    raw = math.sqrt(ap) * x0 + math.sqrt(1 - ap) * eps
    out = s.step(eps, torch.tensor(t), x)
    assert torch.equal(out.pred_original_sample, x0)
    assert torch.equal(out.prev_sample, raw.clamp(-1, 1)) and raw.abs().max() > 1
    free = SeedScheduler(clamp_sample=False)
    free.set_timesteps(10)
    assert torch.equal(free.step(eps, t, x).prev_sample, raw)
    with pytest.raises(InputError, match="one timestep"):
        s.step(eps, torch.tensor([t, prev]), x)


def test_scheduler_add_noise_and_eta():
    s = SeedScheduler()
    s.set_timesteps(20)
    x0, noise = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    a = s.alphas_cumprod[torch.tensor([999, 10])].view(2, 1, 1, 1)
    assert torch.allclose(s.add_noise(x0, noise, torch.tensor([999, 10])), a.sqrt() * x0 + (1 - a).sqrt() * noise)
    assert float(s.alphas_cumprod[0]) == pytest.approx(1 - 1e-4) and float(s.betas[-1]) == pytest.approx(0.02)
    x, eps, t = torch.randn(1, 4, 8, 8) * 0.1, torch.randn(1, 4, 8, 8), s.timesteps[3]
    det = s.step(eps, t, x, eta=0.0).prev_sample
    one = s.step(eps, t, x, eta=1.0, generator=torch.Generator().manual_seed(1)).prev_sample
    again = s.step(eps, t, x, eta=1.0, generator=torch.Generator().manual_seed(1)).prev_sample
    assert torch.equal(one, again) and not torch.allclose(one, det, atol=1e-3)
    with pytest.raises(InputError):
        s.step(eps, t, x, eta=1.5)


def test_scheduler_config_round_trip(tmp_path):
    SeedScheduler(clamp_sample=False).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "scheduler_config.json").read_text())["_class_name"] == "SeedScheduler"
    loaded = SeedScheduler.from_pretrained(tmp_path)
    assert loaded.config.clamp_sample is False and loaded.config.num_train_timesteps == 1000
    assert type(loaded).from_config(loaded.config).config.clamp_sample is False
    assert torch.equal(loaded.alphas_cumprod, SeedScheduler().alphas_cumprod)


# ----------------------------------------------------------------------------- adapter conventions


def _parula(parts: np.ndarray) -> np.ndarray:
    """A dp_segm render (RGB) of a part map, as VITON-HD ships it."""
    bgr = cv2.applyColorMap((parts.astype(np.float32) * 255 / 24).astype(np.uint8), cv2.COLORMAP_PARULA)
    rgb = bgr[:, :, ::-1].copy()
    rgb[parts == 0] = 0
    return rgb


def synthetic_batch(b: int = 2, h: int = 128, w: int = 96) -> SimpleNamespace:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    cloth = torch.stack([torch.sin(6 * math.pi * xx), torch.cos(4 * math.pi * yy), torch.sin(2 * math.pi * (2 * xx + yy))])
    cloth = torch.stack([cloth, cloth.flip(-1)])[:b]
    mask = torch.zeros(b, 1, h, w)
    mask[:, :, h // 6 : h - h // 8, w // 6 : w - w // 6] = 1
    parts = np.zeros((h, w), np.uint8)
    parts[h // 4 : 3 * h // 4, w // 5 : 4 * w // 5] = 2
    parts[h // 4 : h // 2, : w // 5] = 15
    render = torch.from_numpy(_parula(parts)).permute(2, 0, 1).float() / 127.5 - 1
    labels = torch.zeros(b, 1, h, w)
    labels[:, :, : h // 5, w // 3 : 2 * w // 3] = 13
    labels[:, :, 3 * h // 4 :, w // 5 : 4 * w // 5] = 9
    return SimpleNamespace(cloth=cloth, cloth_mask=mask, densepose=render.expand(b, -1, -1, -1).clone(),
                           parse_agnostic=torch.zeros(b, 13, h, w), parse_agnostic_labels=labels)


@pytest.fixture(scope="module")
def seed_warper() -> SeedWarper:
    warper = SeedWarper(base_channels=8)
    warper.warping.load_state_dict(rule_state_dict("seed_warp"))
    return warper.eval()


def test_seed_flow_conversion_is_exact_at_every_scale(seed_warper):
    batch = synthetic_batch()
    input_1, input_2 = seed_warper_inputs(batch)
    with torch.no_grad():
        warped_c, warped_cm, flows = seed_warper.warping(input_1, input_2)
    # our apply_flow with the converted flow samples where the seed's grid_sample does
    assert torch.allclose(apply_flow(input_1, seed_flow_to_ours(flows[-1])), torch.cat([warped_c, warped_cm], 1), atol=1e-5)
    for flow in flows:
        feature = torch.rand(2, 3, *flow.shape[1:3])
        assert torch.allclose(apply_flow(feature, seed_flow_to_ours(flow)), _seed_warp(feature, flow), atol=1e-5)
    # the seed's grid is not ours: taking its offsets as ours would sample elsewhere
    as_is = flows[-1].permute(0, 3, 1, 2)
    assert not torch.allclose(apply_flow(input_1, as_is), torch.cat([warped_c, warped_cm], 1), atol=1e-3)


def test_seed_warper_interface_and_working_size_warp(seed_warper):
    batch = synthetic_batch(h=128, w=96)
    assert (seed_warper.multiple, seed_warper.densepose_encoding, seed_warper.origin) == (16, "dp_segm", "seed")
    assert "seed" in seed_warper.describe()
    with torch.no_grad():
        out = seed_warper.warp(batch)
        warped_c, _, _ = seed_warper.warping(*seed_warper_inputs(batch))
    assert [tuple(f.shape) for f in out.flows] == [(2, 2, 128 // s, 96 // s) for s in (16, 8, 4, 2, 1)]
    assert out.seg_logits is None
    assert out.aligned_cloth is out.warped_cloth and out.aligned_mask is out.warped_mask
    assert out.warped_cloth.shape == (2, 3, 128, 96) and out.warped_mask.shape == (2, 1, 128, 96)
    assert out.warped_mask.min() >= 0 and out.warped_mask.max() <= 1 and out.warped_cloth.abs().max() <= 1
    # the working-size cloth warped with our finest flow = the seed's own warped cloth, un-squashed
    seed_back = F.interpolate(warped_c, size=(128, 96), mode="bilinear", antialias=True, align_corners=False) * 2 - 1
    ours = apply_flow(batch.cloth, out.flows[-1])
    assert torch.allclose(ours, out.warped_cloth, atol=1e-6)
    err = (ours - seed_back).abs().mean()
    assert err < 0.005
    # ... and a grid-convention slip (the seed's offsets taken as ours) is measurably worse
    wrong = apply_flow(batch.cloth, F.interpolate(seed_warper.warping(*seed_warper_inputs(batch))[2][-1].permute(0, 3, 1, 2),
                                                  size=(128, 96), mode="bilinear", align_corners=False))
    assert (wrong - seed_back).abs().mean() > 2 * err
    with pytest.raises(InputError, match="divisible by 16"):
        seed_warper.warp(synthetic_batch(h=120, w=96))


def test_seed_warper_inputs_are_encoded_as_the_seed_does():
    batch = synthetic_batch(b=1, h=128, w=96)
    batch.cloth[:] = 1.0
    batch.parse_agnostic_labels[:] = 5.0
    input_1, input_2 = seed_warper_inputs(batch)
    assert input_1.shape == (1, 4, 256, 256) and input_2.shape == (1, 6, 256, 256)
    assert torch.equal(input_1[:, :3], torch.ones(1, 3, 256, 256))
    assert torch.allclose(input_2[:, 3:], torch.full((1, 3, 256, 256), 5 * LABEL_SCALE))  # label / 255 * 15, x3
    assert set(input_1[:, 3].unique().tolist()) >= {0.0, 1.0}
    # DensePose: alpha 0.7 over black, min-max over the whole image, uint8 truncation
    render = torch.zeros(1, 3, 4, 4)
    render[..., 1:3, 1:3] = torch.tensor([10.0, 100.0, 200.0]).view(1, 3, 1, 1)
    out = seed_densepose(render / 127.5 - 1)
    assert out[0, :, 1, 1].tolist() == [12.0, 127.0, 255.0] and out[0, :, 0, 0].tolist() == [0.0, 0.0, 0.0]
    assert seed_densepose(torch.full((1, 3, 4, 4), -1.0)).abs().max() == 0  # an empty render stays black
    no_labels = synthetic_batch(b=1)
    no_labels.parse_agnostic_labels = None
    with pytest.raises(InputError, match="parse_agnostic_labels"):
        seed_warper_inputs(no_labels)


def test_seed_warper_on_our_batches_and_warp_pair(seed_warper):
    """Our own data path: a synthetic pair as a TryOnBatch in the dp_segm encoding, and `warp_pair`."""
    from vton.data.synth import generate_pair
    from vton.tensors import pairs_to_batch
    from vton.warp.network import warp_pair

    pairs = [generate_pair(3, (128, 96)), generate_pair(4, (128, 96))]
    batch = pairs_to_batch(pairs, seed_warper.densepose_encoding)
    input_1, input_2 = seed_warper_inputs(batch)
    assert input_2[:, :3].amax(dim=(1, 2, 3)).tolist() == [1.0, 1.0]  # min-max normalised render
    assert input_2[:, :3].amin(dim=(1, 2, 3)).tolist() == [0.0, 0.0]
    assert torch.equal(input_2[:, 3:4], input_2[:, 5:6]) and input_2[:, 3:].max() <= 19 * LABEL_SCALE + 1e-6
    with torch.no_grad():
        out = seed_warper.warp(batch)
        single = warp_pair(seed_warper, pairs[0].person, pairs[0].cloth, size=(128, 96))
    assert out.warped_cloth.shape == (2, 3, 128, 96) and out.seg_logits is None
    assert torch.allclose(single.warped_cloth, out.warped_cloth[:1], atol=1e-4)


@pytest.mark.parametrize("src,dst", [((128, 96), (64, 64)), ((24, 32), (64, 64))])
def test_squash_matches_pils_bilinear_resize_for_images_and_label_maps(src, dst):
    """The seed's ``transforms.Resize`` on PIL images: bilinear (antialiased when shrinking) for the ``L`` / ``RGB``
    label map too, so labels blend at their borders; ours stays within one uint8 step of PIL."""
    labels = np.zeros(src, np.uint8)
    labels[: src[0] // 2] = 13
    labels[:, src[1] // 3 :] = 5
    image = np.random.default_rng(0).integers(0, 256, (*src, 3), dtype=np.uint8)
    for array in (labels, image):
        pil = np.asarray(Image.fromarray(array).resize(dst[::-1], Image.BILINEAR)).astype(np.float32)
        t = torch.from_numpy(array.astype(np.float32))
        t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
        ours = _pil_resize(t, dst)[0]
        ours = (ours[0] if array.ndim == 2 else ours.permute(1, 2, 0)).numpy()
        assert np.abs(ours - pil).max() <= 1.0
        if array is labels:
            assert not set(np.unique(pil).tolist()) <= {0.0, 5.0, 13.0}  # blended label values, as the seed saw
            assert not set(np.unique(ours).tolist()) <= {0.0, 5.0, 13.0}


def test_seed_denoiser_maps_our_mask_to_the_seeds(unet_pth):
    port = SeedUNet.from_checkpoint(unet_pth)
    den = SeedDenoiser.from_port(port)
    assert den.unet is port
    assert (den.config.in_channels, den.config.out_channels, den.canvas_size, den.origin) == (9, 4, (512, 512), "seed")
    assert den.uses_cloth_latents is False and den.downsampling == 1
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 8, 16, 16, generator=g)
    mask = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    t = torch.tensor([999, 500])
    with torch.no_grad():
        ours = den(torch.cat([latents, mask], 1), t)
        assert torch.equal(ours, port(torch.cat([latents, mask * 2 - 1], 1), t))
        assert not torch.allclose(ours, port(torch.cat([latents, mask], 1), t), atol=1e-4)
        assert torch.equal(den(torch.cat([latents, mask], 1), t, cloth_latents=torch.zeros(2, 4, 16, 16)), ours)
    with pytest.raises(InputError):
        den(torch.randn(1, 4, 16, 16), t[:1])


# ----------------------------------------------------------------------------- saving, loading, converting


def test_adapters_round_trip_through_folders(tmp_path, seed_warper, unet_pth):
    seed_warper.save_pretrained(tmp_path / "warper")
    den = SeedDenoiser.from_checkpoint(unet_pth)
    den.save_pretrained(tmp_path / "unet")
    for folder in ("warper", "unet"):
        files = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert "config.json" in files and any(f.endswith(".safetensors") for f in files)
        assert not any(f.endswith((".bin", ".pth", ".pkl", ".pt")) for f in files)
    batch = synthetic_batch()
    warper = SeedWarper.from_pretrained(tmp_path / "warper")
    unet = SeedDenoiser.from_pretrained(tmp_path / "unet", low_cpu_mem_usage=True)
    sample, t = torch.randn(1, 9, 16, 16), torch.tensor([321])
    with torch.no_grad():
        assert torch.equal(warper.warp(batch).flows[-1], seed_warper.warp(batch).flows[-1])
        assert torch.equal(unet(sample, t), den(sample, t))
    with pytest.raises(InputError):
        SeedWarper.from_pretrained(tmp_path / "nowhere")


def _tiny_vae_folder(path: Path, latent_channels: int = 4) -> Path:
    from diffusers import AutoencoderKL

    from vton.diffusion.vae import small_vae_config

    torch.manual_seed(0)
    config = small_vae_config(block_out_channels=(8, 8, 8, 8), norm_num_groups=4)
    config["latent_channels"] = latent_channels
    AutoencoderKL(**config).save_pretrained(path)
    return path


def test_convert_seed_writes_a_pipeline_folder_that_loads_back(tmp_path, warper_pth, unet_pth):
    from diffusers import AutoencoderKL

    vae_dir = _tiny_vae_folder(tmp_path / "sd15" / "vae")
    out = convert_seed(warper_pth, unet_pth, vae_dir, tmp_path / "seed-pipeline")
    assert out == tmp_path / "seed-pipeline"
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "TryOnPipeline"
    assert index["warper"] == ["vton.compat.seed", "SeedWarper"] and index["unet"] == ["vton.compat.seed", "SeedDenoiser"]
    assert index["scheduler"] == ["vton.compat.seed", "SeedScheduler"] and index["vae"] == ["diffusers", "AutoencoderKL"]
    assert not [p for p in out.rglob("*") if p.suffix in (".bin", ".pth", ".pkl", ".pt")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sd15", "seed-pipeline"]  # no temporary folder left

    # each component gives what the .pth it came from gives
    batch = synthetic_batch()
    warper = SeedWarper.from_pretrained(out / "warper")
    from_pth = SeedWarper.from_checkpoint(warper_pth)
    unet = SeedDenoiser.from_pretrained(out / "unet")
    port = SeedUNet.from_checkpoint(unet_pth)
    sample, t = torch.randn(1, 9, 8, 8), torch.tensor([999])
    with torch.no_grad():
        assert torch.equal(warper.warp(batch).warped_cloth, from_pth.warp(batch).warped_cloth)
        assert torch.equal(unet(sample, t), port(torch.cat([sample[:, :8], sample[:, 8:] * 2 - 1], 1), t))
    scheduler = SeedScheduler.from_pretrained(out / "scheduler")
    assert scheduler.config.clamp_sample is True and scheduler.config.beta_schedule == "linear"
    vae = AutoencoderKL.from_pretrained(out / "vae")
    assert vae.config.scaling_factor == pytest.approx(0.18215)  # the seed's constant, whatever the source said
    assert torch.equal(vae.decoder.conv_out.weight, AutoencoderKL.from_pretrained(vae_dir).decoder.conv_out.weight)
    assert json.loads((out / "conversion.json").read_text())["origin"] == "seed"

    from vton.registry import load_denoiser, load_scheduler, load_warper

    assert load_warper(out / "warper").origin == "seed"
    assert load_denoiser(out / "unet").canvas_size == (512, 512)
    assert type(load_scheduler(out / "scheduler")) is SeedScheduler


def test_convert_seed_refuses_wrong_files_and_writes_nothing(tmp_path, warper_pth, unet_pth, hrviton_pth):
    vae_dir = _tiny_vae_folder(tmp_path / "vae")
    truncated = tmp_path / "unet_truncated.pth"
    truncated.write_bytes(unet_pth.read_bytes()[:100_000])
    cases = [
        (unet_pth, unet_pth, vae_dir, "warper"),  # the UNet given as the warper
        (warper_pth, warper_pth, vae_dir, "UNet"),
        (hrviton_pth, unet_pth, vae_dir, "HR-VITON"),
        (warper_pth, truncated, vae_dir, "readable"),
        (warper_pth, unet_pth, tmp_path / "no-vae", "VAE"),
    ]
    for w, u, v, words in cases:
        with pytest.raises(InputError, match=words):
            convert_seed(w, u, v, tmp_path / "out")
        assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet_truncated.pth", "vae"]
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not an empty folder"):
        convert_seed(warper_pth, unet_pth, vae_dir, busy)
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
