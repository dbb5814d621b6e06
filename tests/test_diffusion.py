"""Latent diffusion: TryOnUNet, VAE loading, the two-branch loss, TryOnPipeline and its trajectory.

Everything is tiny: 64x48 images, 8x6 latents, a few DDIM steps.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from vton.diffusion.pipeline import TryOnPipeline, default_scheduler, load_pipeline
from vton.diffusion.train_unet import LossWeights, UNetBatch, two_branch_loss
from vton.diffusion.unet import TryOnUNet
from vton.diffusion.vae import decode, encode, load_vae, sd_vae_config, small_vae_config
from vton.errors import InputError
from vton.types import Cloth, Person
from vton.warp.network import FlowWarpNet

SIZE = (64, 48)


# ----------------------------------------------------------------------------- fixtures


def tiny_unet(**kw) -> TryOnUNet:
    cfg = dict(block_channels=(16, 32), attention_levels=(False, True), heads=2) | kw
    return TryOnUNet(**cfg)


def randomize(module: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Give zero-initialised layers (output convs, attention outputs) random weights, so every path matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.abs().sum() == 0:
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(**small_vae_config(block_out_channels=(8, 8, 8, 8), norm_num_groups=4)).eval()


def tiny_pipeline(unet: TryOnUNet | None = None) -> TryOnPipeline:
    torch.manual_seed(0)
    warper = FlowWarpNet(base_channels=4, num_levels=3, flow_hidden=8).eval()
    unet = unet or randomize(tiny_unet())
    return TryOnPipeline(warper=warper, vae=tiny_vae(), unet=unet.eval(), scheduler=default_scheduler())


def fake_person_and_cloth(size=SIZE, seed=0) -> tuple[Person, Cloth]:
    rng = np.random.default_rng(seed)
    h, w = size
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1
    agnostic = image.copy()
    agnostic[mask == 1] = 128
    parse = rng.integers(0, 20, (h, w)).astype(np.uint8)
    iuv = np.stack([rng.integers(0, 25, (h, w)), rng.integers(0, 256, (h, w)), rng.integers(0, 256, (h, w))], -1).astype(np.uint8)
    person = Person(image=image, keypoints=np.zeros((25, 3), np.float32), person_mask=np.ones((h, w), np.uint8), parse=parse,
                    densepose=iuv, agnostic=agnostic, agnostic_mask=mask, parse_agnostic=parse)
    cloth = Cloth(image=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), mask=mask.copy())
    return person, cloth


@pytest.fixture(scope="module")
def pipe() -> TryOnPipeline:
    return tiny_pipeline()


@pytest.fixture(scope="module")
def cond(pipe):
    return pipe.prepare(*fake_person_and_cloth(), size=SIZE)


# ----------------------------------------------------------------------------- UNet


@pytest.mark.parametrize(
    "config, latent",
    [
        (dict(block_channels=(16, 32), attention_levels=(False, True)), (8, 6)),
        (dict(block_channels=(16, 32, 32), attention_levels=(False, False, True), layers_per_block=2), (8, 12)),
        (dict(block_channels=(8, 16, 16, 16), attention_levels=(False, False, True, True), mid_attention=False), (16, 8)),
        (dict(block_channels=(16,), attention_levels=(True,)), (5, 3)),
    ],
)
def test_unet_output_has_latent_shape(config, latent):
    unet = TryOnUNet(heads=2, **config)
    x = torch.randn(3, 9, *latent)
    assert unet(x, torch.tensor([0, 500, 999])).shape == (3, 4, *latent)
    assert unet(x, 7).shape == (3, 4, *latent)  # a scalar timestep broadcasts


def test_unet_rejects_latent_size_not_divisible_by_its_levels():
    unet = tiny_unet(block_channels=(16, 32, 32), attention_levels=(False, False, True))
    with pytest.raises(ValueError, match="divisible by 4"):
        unet(torch.randn(1, 9, 8, 6), 1)
    with pytest.raises(ValueError, match=r"\(B, 9, h, w\)"):
        unet(torch.randn(1, 8, 8, 8), 1)


def test_unet_depends_on_timestep_and_condition():
    unet = randomize(tiny_unet())
    x = torch.randn(1, 9, 8, 6)
    base = unet(x, 10)
    assert not torch.allclose(base, unet(x, 900), atol=1e-6)
    x2 = x.clone()
    x2[:, 4:8] += 1.0  # composite latent
    assert not torch.allclose(base, unet(x2, 10), atol=1e-6)


def test_cross_attention_off_has_no_cloth_path_and_on_uses_cloth_tokens():
    off = tiny_unet()
    assert off.cloth_tokens is None and not any("cross" in n for n, _ in off.named_parameters())
    on = randomize(tiny_unet(cross_attention=True))
    x = torch.randn(2, 9, 8, 6)
    cloth = torch.randn(2, 4, 8, 6)
    with pytest.raises(ValueError, match="cloth_latents"):
        on(x, 5)
    a = on(x, 5, cloth)
    assert a.shape == (2, 4, 8, 6)
    assert not torch.allclose(a, on(x, 5, cloth + 1.0), atol=1e-6)
    # each sample attends only to its own cloth
    b = on(x, 5, torch.stack([cloth[0], cloth[1] + 1.0]))
    assert torch.allclose(a[0], b[0], atol=1e-5) and not torch.allclose(a[1], b[1], atol=1e-6)


def test_unet_save_load_round_trip(tmp_path):
    """What a round trip promises: the same config and bit-identical weights, hence (in the same mode) the same
    outputs up to the last bits, which the kernels a CPU picks may change (4.8e-7 seen; outputs are ~0.3)."""
    unet = randomize(tiny_unet(cross_attention=True, layers_per_block=2)).eval()
    unet.save_pretrained(tmp_path / "unet")
    back = TryOnUNet.from_pretrained(tmp_path / "unet", low_cpu_mem_usage=False)
    assert not back.training  # from_pretrained gives eval mode; compare in the same mode
    ours, theirs = unet.state_dict(), back.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    x, c = torch.randn(1, 9, 8, 6), torch.randn(1, 4, 8, 6)
    with torch.no_grad():
        out = unet(x, 3, c)
        assert torch.allclose(back(x, 3, c), out, rtol=0, atol=1e-5)
        back.conv_out.bias.add_(1e-3)  # the smallest real fault: one weight tensor off by 1e-3
        assert not torch.allclose(back(x, 3, c), out, rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- VAE


def test_vae_loss_weighs_l1_and_mse_as_asked():
    from vton.diffusion.train_vae import vae_loss

    torch.manual_seed(0)
    vae = AutoencoderKL(**(small_vae_config() | {"block_out_channels": (8, 8, 8, 8), "norm_num_groups": 4}))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731  the same posterior sample each time
    l1, logs = vae_loss(vae, x, kl_weight=0.0, generator=g())
    mse, logs_mse = vae_loss(vae, x, kl_weight=0.0, l1_weight=0.0, mse_weight=1.0, generator=g())
    assert l1.item() == pytest.approx(logs["l1"]) and mse.item() == pytest.approx(logs_mse["mse"])
    assert logs["mse"] == pytest.approx(logs_mse["mse"]) and logs["l1"] != pytest.approx(logs["mse"])


def test_colour_term_trains_latent_channels_toward_the_cells_mean_colour():
    from vton.diffusion.train_vae import colour_target, vae_loss

    torch.manual_seed(0)
    vae = AutoencoderKL(**(small_vae_config() | {"block_out_channels": (8, 8, 8, 8), "norm_num_groups": 4}))
    x = torch.rand(2, 3, 32, 24) * 2 - 1
    target = colour_target(x)
    assert target.shape == (2, 3, 4, 3)
    assert torch.allclose(target[0, :, 1, 2], x[0, :, 8:16, 16:24].mean(dim=(1, 2)))

    def colour_error() -> float:
        with torch.no_grad():
            return F.l1_loss(vae.encode(x).latent_dist.mean[:, :3], target).item()

    plain, logs = vae_loss(vae, x, kl_weight=0.0, generator=torch.Generator().manual_seed(1))
    with_colour, logs_c = vae_loss(vae, x, kl_weight=0.0, colour_weight=2.0, generator=torch.Generator().manual_seed(1))
    assert "colour" not in logs and logs_c["colour"] == pytest.approx(colour_error(), rel=1e-5)
    assert with_colour.item() == pytest.approx(plain.item() + 2.0 * logs_c["colour"], rel=1e-5)
    before = colour_error()
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
    for _ in range(30):  # only the colour term: the encoder alone must move toward the thumbnail
        loss, _ = vae_loss(vae, x, kl_weight=0.0, l1_weight=0.0, colour_weight=1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert colour_error() < 0.5 * before


def test_sd_shaped_vae_loads_from_a_local_folder(tmp_path):
    torch.manual_seed(0)
    AutoencoderKL(**sd_vae_config()).save_pretrained(tmp_path / "sd-vae")
    vae = load_vae(tmp_path / "sd-vae")
    assert vae.config.scaling_factor == pytest.approx(0.18215)
    assert tuple(vae.config.block_out_channels) == (128, 256, 512, 512)
    z = encode(vae, torch.zeros(1, 3, 16, 16))
    assert z.shape == (1, 4, 2, 2)


def test_per_channel_latent_statistics_centre_and_scale_each_channel():
    from vton.diffusion.train_vae import normalise_latents

    vae = tiny_vae()
    x = torch.rand(6, 3, 32, 24) * 2 - 1
    raw = vae.encode(x).latent_dist.mean
    normalise_latents(vae, x)
    assert vae.config.scaling_factor == 1.0 and len(vae.config.latents_mean) == 4
    z = encode(vae, x)
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-4)
    assert torch.allclose(decode(vae, z), vae.decode(raw).sample, atol=1e-5)  # decode undoes it exactly


def test_encode_scales_and_decode_unscales():
    vae = tiny_vae()
    x = torch.rand(2, 3, 32, 24) * 2 - 1
    raw = vae.encode(x).latent_dist.mean
    vae.register_to_config(scaling_factor=0.5)
    assert torch.allclose(encode(vae, x), raw * 0.5)
    assert torch.allclose(decode(vae, raw * 0.5), vae.decode(raw).sample, atol=1e-6)


def test_load_vae_rejects_bad_folders(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_vae(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        load_vae(tmp_path / "empty")
    AutoencoderKL(**(small_vae_config(block_out_channels=(8, 8, 8, 8), norm_num_groups=4) | {"latent_channels": 8})).save_pretrained(tmp_path / "c8")
    with pytest.raises(InputError, match="8 latent channels"):
        load_vae(tmp_path / "c8")
    AutoencoderKL(**(small_vae_config(block_out_channels=(8, 8, 8, 8), norm_num_groups=4)
                     | {"block_out_channels": (8, 8, 8), "down_block_types": ("DownEncoderBlock2D",) * 3,
                        "up_block_types": ("UpDecoderBlock2D",) * 3})).save_pretrained(tmp_path / "f4")
    with pytest.raises(InputError, match="downsamples by 4"):
        load_vae(tmp_path / "f4")
    cfg = json.loads((tmp_path / "c8" / "config.json").read_text()) | {"_class_name": "UNet2DModel"}
    (tmp_path / "c8" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="not a diffusers AutoencoderKL"):
        load_vae(tmp_path / "c8")


# ----------------------------------------------------------------------------- training loss


def _unet_batch(b=2, seed=0) -> UNetBatch:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 3, 64, 48, generator=g) * 2 - 1
    vae = tiny_vae()
    with torch.no_grad():
        z0 = encode(vae, target)
    return UNetBatch(target_latents=z0, cond_latents=z0 + 0.3 * torch.randn(z0.shape, generator=g),
                     mask_latents=torch.ones(b, 1, 8, 6), target=target)


def test_x0_branch_trains_the_unet_through_the_decoder():
    """The seed's bug: its perceptual branch decoded under no_grad, so it trained nothing."""
    unet, vae, sched = randomize(tiny_unet()), tiny_vae().requires_grad_(False), default_scheduler()
    batch = _unet_batch()
    loss, logs = two_branch_loss(unet, vae, sched, batch, weights=LossWeights(eps_weight=0.0, x0_weight=1.0),
                                 generator=torch.Generator().manual_seed(0))
    assert set(logs) == {"loss_x0_l1", "loss"}
    loss.backward()
    assert unet.conv_in.weight.grad is not None and unet.conv_in.weight.grad.abs().sum() > 0
    grad = unet.conv_out.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in vae.parameters())


def test_perceptual_term_adds_gradient():
    unet, vae, sched = tiny_unet(), tiny_vae().requires_grad_(False), default_scheduler()
    batch = _unet_batch()
    calls = []

    def perceptual(x, y):
        calls.append(x.requires_grad)
        return (x - y).pow(2).mean()

    _, logs = two_branch_loss(unet, vae, sched, batch, perceptual=perceptual, generator=torch.Generator().manual_seed(0))
    assert calls == [True] and "loss_x0_vgg" in logs


def test_max_timestep_draws_training_timesteps_below_it(monkeypatch):
    """``LossWeights.max_timestep`` bounds the timesteps branch (a) and (b) train on."""
    from vton.diffusion import train_unet

    seen = []
    real = torch.randint

    def spy(low, high, *args, **kwargs):
        out = real(low, high, *args, **kwargs)
        if tuple(args[0]) == (2,):
            seen.append((high, out))
        return out

    torch.manual_seed(0)
    unet, vae, sched = tiny_unet(), tiny_vae().requires_grad_(False), default_scheduler()
    monkeypatch.setattr(train_unet.torch, "randint", spy)
    g = torch.Generator().manual_seed(0)
    for bound in (None, 300):
        two_branch_loss(unet, vae, sched, _unet_batch(b=2), weights=LossWeights(max_timestep=bound), generator=g)
    assert [high for high, _ in seen] == [1000, 300]
    assert (seen[1][1] < 300).all()


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    unet, vae, sched = tiny_unet(), tiny_vae().requires_grad_(False), default_scheduler()
    batch = _unet_batch(b=2)
    t = torch.tensor([200, 600])
    noise = torch.randn(batch.target_latents.shape, generator=torch.Generator().manual_seed(1))

    def fixed_loss():
        return two_branch_loss(unet, vae, sched, batch, timesteps=t, noise=noise)[0]

    with torch.no_grad():
        before = fixed_loss().item()
    opt = torch.optim.Adam(unet.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(12):
        loss, _ = two_branch_loss(unet, vae, sched, batch, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = fixed_loss().item()
    assert after < 0.8 * before, (before, after)


# ----------------------------------------------------------------------------- sampling


class OracleUNet(TryOnUNet):
    """Predicts the exact noise that leads from x_t to a known x0 (set ``self.x0``)."""

    x0: torch.Tensor
    alphas_cumprod: torch.Tensor

    def forward(self, sample, timestep, cloth_latents=None):
        x_t = sample[:, :4]
        abar = self.alphas_cumprod[timestep.long()].view(-1, 1, 1, 1)
        return (x_t - abar.sqrt() * self.x0) / (1 - abar).sqrt()


@pytest.mark.parametrize("steps, strength, eta", [(10, 1.0, 0.0), (7, 0.5, 0.0), (5, 1.0, 1.0), (1, 1.0, 0.0)])
def test_oracle_noise_prediction_recovers_x0(cond, steps, strength, eta):
    oracle = OracleUNet(block_channels=(16, 32), attention_levels=(False, True), heads=2)
    oracle.x0 = torch.randn(1, 4, 8, 6, generator=torch.Generator().manual_seed(3))
    oracle.alphas_cumprod = default_scheduler().alphas_cumprod
    p = tiny_pipeline(oracle)
    result = p.sample(cond, num_inference_steps=steps, strength=strength, eta=eta, seeds=[0], record_trajectory=True)
    final_x0 = result.trajectory.pred_x0[-1]
    assert torch.allclose(final_x0, oracle.x0, atol=1e-4)
    assert len(result.trajectory) == max(1, round(strength * steps))
    expected = p.decoder_for(cond)(oracle.x0)[0]
    assert np.abs(result.images[0].astype(int) - expected.astype(int)).max() <= 1


def test_trajectory_has_one_entry_per_step_and_decodes_on_demand(pipe, cond):
    r = pipe.sample(cond, num_inference_steps=6, seeds=[0, 1], record_trajectory=True)
    traj = r.trajectory
    assert len(traj) == 6 and traj.latents.shape == (6, 2, 4, 8, 6) and traj.pred_x0.shape == (6, 2, 4, 8, 6)
    assert traj.timesteps == sorted(traj.timesteps, reverse=True) and traj.timesteps[0] == 999
    assert traj.eps_norm.shape == (6, 2) and len(traj.step_seconds) == 6
    images = traj.decode(-1, "x0")
    assert len(images) == 2 and images[0].shape == (*SIZE, 3) and images[0].dtype == np.uint8
    assert traj.decode(0, "xt")[0].shape == (*SIZE, 3)
    no_traj = pipe.sample(cond, num_inference_steps=6, seeds=[0, 1])
    assert no_traj.trajectory is None
    assert all(np.array_equal(a, b) for a, b in zip(no_traj.images, r.images))  # recording changes nothing


def test_trajectory_file_round_trip(pipe, cond, tmp_path):
    from vton.diffusion.trajectory import Trajectory

    traj = pipe.sample(cond, num_inference_steps=3, record_trajectory=True).trajectory
    traj.save(tmp_path / "t.safetensors")
    back = Trajectory.load(tmp_path / "t.safetensors")
    assert back.timesteps == traj.timesteps and torch.equal(back.pred_x0, traj.pred_x0)


def test_same_seed_same_image_different_seed_different_image(pipe, cond):
    a = pipe.sample(cond, num_inference_steps=4, seeds=[5]).images[0]
    b = pipe.sample(cond, num_inference_steps=4, seeds=[5]).images[0]
    c = pipe.sample(cond, num_inference_steps=4, seeds=[6]).images[0]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_batched_seeds_equal_seeds_run_one_by_one(pipe, cond, eta):
    seeds = [3, 1, 4]
    batched = pipe.sample(cond, num_inference_steps=4, eta=eta, seeds=seeds, record_trajectory=True)
    for i, s in enumerate(seeds):
        single = pipe.sample(cond, num_inference_steps=4, eta=eta, seeds=[s], record_trajectory=True)
        assert torch.allclose(single.trajectory.pred_x0[:, 0], batched.trajectory.pred_x0[:, i], atol=1e-4)
        assert np.abs(single.images[0].astype(int) - batched.images[i].astype(int)).max() <= 1


def test_unmasked_region_is_the_photo(pipe):
    person, cloth = fake_person_and_cloth()
    r = pipe(person, cloth, size=SIZE, num_inference_steps=2)
    outside = person.agnostic_mask == 0
    assert np.array_equal(r.images[0][outside], person.image[outside])
    assert set(r.timings) == {"warp", "encode", "sampling", "decode"}


def test_pipeline_save_load_round_trip(pipe, tmp_path):
    person, cloth = fake_person_and_cloth()
    pipe.save_pretrained(tmp_path / "weights")
    index = json.loads((tmp_path / "weights" / "model_index.json").read_text())
    assert index["unet"] == ["vton.diffusion.unet", "TryOnUNet"]
    back = load_pipeline(tmp_path / "weights")
    a = pipe(person, cloth, size=SIZE, num_inference_steps=3, seeds=[2]).images[0]
    b = back(person, cloth, size=SIZE, num_inference_steps=3, seeds=[2]).images[0]
    # the same weights: the same image, give or take one grey level where the kernels' last bits round differently
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kw, match", [
    (dict(num_inference_steps=0), "steps must be"),
    (dict(num_inference_steps=1001), "steps must be"),
    (dict(strength=0.0), "strength"),
    (dict(strength=1.5), "strength"),
    (dict(eta=-0.1), "eta"),
    (dict(seeds=[]), "seeds"),
])
def test_bad_sampler_settings_are_input_errors(pipe, cond, kw, match):
    with pytest.raises(InputError, match=match):
        pipe.sample(cond, **kw)


def test_nan_checkpoint_stops_with_a_clear_message(cond):
    unet = tiny_unet()
    with torch.no_grad():
        unet.conv_out.bias.fill_(float("nan"))
    with pytest.raises(InputError, match="NaN"):
        tiny_pipeline(unet).sample(cond, num_inference_steps=3)


def test_mismatched_components_are_input_errors(pipe):
    with pytest.raises(InputError, match="input channels"):
        TryOnPipeline(warper=pipe.warper, vae=pipe.vae, unet=tiny_unet(in_channels=8), scheduler=default_scheduler())
    with pytest.raises(InputError, match="divisible"):
        pipe.prepare(*fake_person_and_cloth(), size=(60, 48))


def test_load_pipeline_missing_folder_says_so(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_pipeline(tmp_path / "none")


def test_resize_person_keeps_the_aspect_by_padding():
    from vton.diffusion.pipeline import resize_person

    person, _ = fake_person_and_cloth(size=(40, 40))
    person.keypoints[0] = (20.0, 10.0, 1.0)  # x, y at the middle column
    out = resize_person(person, (64, 48))
    assert out.image.shape == (64, 48, 3) and out.agnostic_mask.shape == (64, 48)
    # a square photo is too wide for 4:3 (H x W): rows are padded (53x40), then it is scaled by 1.2
    assert out.agnostic_mask[:3].sum() == 0 and out.agnostic_mask[-3:].sum() == 0
    assert out.keypoints[0, 0] == pytest.approx(24.0, abs=0.6)
    assert out.keypoints[1, 2] == 0 and out.keypoints[1, 0] == 0  # missing points stay (0, 0, 0)


def textured_photo(size, seed=0) -> np.ndarray:
    """A photo with texture everywhere: smooth colour blobs plus fine noise."""
    rng = np.random.default_rng(seed)
    h, w = size
    blobs = cv2.resize(rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3)).astype(np.uint8), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    return np.clip(blobs.astype(int) + rng.integers(-25, 26, (h, w, 3)), 0, 255).astype(np.uint8)


def longest_copy_run(image: np.ndarray, photo: np.ndarray) -> int:
    """The longest run of pixels along which a row (or column) of ``image`` equals its neighbour exactly while the
    ``photo`` (same size) differs there: a streak smeared over texture."""
    best = 0
    for axis in (0, 1):
        same = np.all(np.diff(image.astype(int), axis=axis) == 0, axis=-1)
        textured = np.any(np.abs(np.diff(photo.astype(int), axis=axis)) > 3, axis=-1)
        runs = same & textured
        lines = runs if axis == 0 else runs.T
        for line in lines:
            edges = np.diff(np.r_[0, line.astype(np.int8), 0])
            starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            if len(starts):
                best = max(best, int((ends - starts).max()))
    return best


def test_padding_maps_a_working_image_back_to_the_photo():
    from vton.diffusion.pipeline import Padding, pad_image

    for photo_size in ((96, 96), (60, 120), (200, 50), (64, 48)):
        p = Padding.fit(photo_size, SIZE)
        ph, pw = p.padded_size
        assert abs(ph / pw - SIZE[0] / SIZE[1]) < 0.05 and (p.pad == (0, 0, 0, 0)) == (photo_size == SIZE)
        # a smooth photo survives the round trip (only the resolution of the working size is lost)
        yy, xx = np.mgrid[0:photo_size[0], 0:photo_size[1]]
        photo = np.stack([yy * 255 // photo_size[0], xx * 255 // photo_size[1], np.full_like(yy, 90)], -1).astype(np.uint8)
        working = cv2.resize(pad_image(photo, p.pad), (SIZE[1], SIZE[0]), interpolation=cv2.INTER_AREA)
        back = p.to_photo(working)
        assert back.shape == photo.shape
        assert np.abs(back.astype(int) - photo).mean() < 3, photo_size  # aligned: no shift, no pad rows left in
        assert p.to_photo(working, size=(30, 20)).shape == (30, 20, 3)
        mask = (working[..., 0] > 128).astype(np.uint8)
        assert set(np.unique(p.to_photo(mask, nearest=True))) <= {0, 1}
    with pytest.raises(ValueError, match="working size"):
        Padding.fit((96, 96), SIZE).to_photo(np.zeros((10, 10, 3), np.uint8))


@pytest.mark.parametrize("fill", ["border", "reflect"])
def test_resize_person_pads_with_a_neutral_fill_and_background_maps(fill):
    from vton.diffusion.pipeline import Padding, resize_person

    person, _ = fake_person_and_cloth(size=(48, 48))
    person.image[:] = textured_photo((48, 48))
    person.agnostic_mask[:] = 1  # even a mask reaching the border: the pad is never repainted
    out = resize_person(person, SIZE, fill=fill)
    p = Padding.fit((48, 48), SIZE)
    y0, y1 = int(np.ceil(p.box[0])), int(np.floor(p.box[1]))
    pad_rows = np.r_[0:y0 - 1, y1 + 1:SIZE[0]]
    for name in ("person_mask", "parse", "agnostic_mask", "parse_agnostic"):
        assert not getattr(out, name)[pad_rows].any(), name
    assert not out.densepose[pad_rows].any()  # IUV 0: background
    assert np.array_equal(out.agnostic[pad_rows], out.image[pad_rows])  # the agnostic's pad is the photo's
    if fill == "border":  # one colour per side: no streak
        assert (out.image[:y0 - 1] == out.image[0, 0]).all() and (out.image[y1 + 1:] == out.image[-1, 0]).all()
    edge = resize_person(person, SIZE, fill="edge")  # the old way repeats the edge row: a copy all the way across
    assert longest_copy_run(edge.image[:y0 - 1], textured_photo((y0 - 1, SIZE[1]), 1)) >= SIZE[1] - 2


@pytest.mark.parametrize("photo_size", [(96, 96), (60, 120), (240, 48)], ids=["square", "landscape", "very tall"])
def test_photos_of_any_aspect_round_trip_without_streaks(pipe, photo_size):
    from vton.diffusion.pipeline import Padding

    person, cloth = fake_person_and_cloth(size=photo_size)
    person.image[:] = textured_photo(photo_size)
    person.agnostic[:] = person.image
    person.agnostic[person.agnostic_mask == 1] = 128
    result = pipe(person, cloth, size=SIZE, num_inference_steps=2, seeds=[0, 1])
    assert result.padding == Padding.fit(photo_size, SIZE)
    assert result.images[0].shape == (*SIZE, 3)  # the model's own output stays at the working size
    finals = result.photo_images()
    assert [f.shape for f in finals] == [(*photo_size, 3)] * 2
    assert result.photo_images(size=(50, 40))[0].shape == (50, 40, 3)
    for final in finals:
        assert longest_copy_run(final, person.image) <= 3, photo_size
        keep = person.agnostic_mask == 0  # outside the mask the photo comes back (at the working resolution)
        assert np.abs(final[keep].astype(int) - person.image[keep]).mean() < 40


def test_conditioning_records_the_padding(pipe):
    from vton.diffusion.pipeline import Padding

    person, cloth = fake_person_and_cloth(size=(96, 96))
    cond = pipe.prepare(person, cloth, size=SIZE)
    assert cond.padding == Padding.fit((96, 96), SIZE) and not cond.padding.is_identity
    assert pipe.prepare(*fake_person_and_cloth(), size=SIZE).padding.is_identity


# ----------------------------------------------------------------------------- commands, end to end


@pytest.mark.slow
def test_train_vae_train_unet_eval_and_resume_from_the_command_line(tmp_path, capsys):
    """Tiny models on the bundled synthetic samples at 64x48: every diffusion command runs and writes its outputs."""
    import os
    import shutil
    from pathlib import Path

    from vton.cli import main

    samples = Path(__file__).resolve().parents[1] / "assets" / "samples" / "synthetic"
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "test"):  # the bundled test split doubles as a training split here
        os.symlink(samples / "test", data / split)
        shutil.copy(samples / "test_pairs.txt", data / f"{split}_pairs.txt")
    torch.manual_seed(0)
    FlowWarpNet(base_channels=4, num_levels=3, flow_hidden=8).save_pretrained(tmp_path / "warp")
    small = '{"block_out_channels": [8, 8, 8, 8], "norm_num_groups": 4}'
    tiny = '{"block_channels": [16, 32], "attention_levels": [false, true], "heads": 2}'

    assert main(["train", "vae", "--data", str(data), "--out", str(tmp_path / "v"), "--size", "64x48", "--steps", "2",
                 "--batch-size", "3", "--model", small]) == 0
    vae = load_vae(tmp_path / "v" / "vae")
    assert vae.config.scaling_factor != 1.0  # set from the latents' std
    # decoder-only fine-tuning keeps the encoder, so the latents (and a UNet trained on them) stay valid
    assert main(["train", "vae", "--data", str(data), "--out", str(tmp_path / "d"), "--size", "64x48", "--steps", "2",
                 "--batch-size", "3", "--lr", "1e-2", "--init", str(tmp_path / "v" / "vae"), "--decoder-only",
                 "--l1-weight", "0", "--mse-weight", "10"]) == 0
    tuned = load_vae(tmp_path / "d" / "vae")
    assert tuned.config.scaling_factor == vae.config.scaling_factor
    assert all(torch.equal(a, b) for a, b in zip(vae.encoder.state_dict().values(), tuned.encoder.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(vae.decoder.state_dict().values(), tuned.decoder.state_dict().values()))
    assert main(["train", "vae", "--data", str(data), "--out", str(tmp_path / "e"), "--decoder-only"]) == 2

    args = ["train", "unet", "--data", str(data), "--vae", str(tmp_path / "v" / "vae"), "--warp", str(tmp_path / "warp"),
            "--out", str(tmp_path / "u"), "--size", "64x48", "--batch-size", "4", "--grad-accum", "2", "--save-every", "2",
            "--ema", "0.9", "--x0-crop", "4x4", "--model", tiny]
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "3", "--resume"]) == 0
    state = json.loads((tmp_path / "u" / "checkpoints" / "step-000003" / "state.json").read_text())
    assert state["step"] == 3
    assert (tmp_path / "u" / "pipeline" / "model_index.json").is_file()
    # a fine-tune starts from the trained UNet's weights and keeps its architecture
    first = TryOnUNet.from_pretrained(tmp_path / "u" / "unet")
    tune = ["train", "unet", "--data", str(data), "--vae", str(tmp_path / "v" / "vae"), "--warp", str(tmp_path / "warp"),
            "--size", "64x48", "--batch-size", "2", "--steps", "1", "--lr", "1e-9", "--max-timestep", "500",
            "--init", str(tmp_path / "u" / "unet")]
    assert main(tune + ["--out", str(tmp_path / "f")]) == 0
    tuned = TryOnUNet.from_pretrained(tmp_path / "f" / "unet")
    fields = lambda unet: {k: v for k, v in unet.config.items() if not k.startswith("_")}  # noqa: E731
    assert fields(tuned) == fields(first)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(first.state_dict().values(), tuned.state_dict().values()))
    assert main(tune + ["--out", str(tmp_path / "f2"), "--model", tiny]) == 2  # --model would change --init
    assert main(tune + ["--out", str(tmp_path / "f3"), "--max-timestep", "1001"]) == 2
    assert main(["train", "unet", "--data", str(data), "--vae", str(tmp_path / "v" / "vae"), "--composite", "gt",
                 "--out", str(tmp_path / "g"), "--size", "64x48", "--steps", "1", "--batch-size", "2", "--model", tiny]) == 0

    capsys.readouterr()
    assert main(["eval", "tryon", "--data", str(data), "--weights", str(tmp_path / "u" / "pipeline"), "--size", "64x48",
                 "--steps", "2", "--limit", "2"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == 2 and 0 < scores["composite_ssim"] <= 1 and scores["tryon_ssim"] is not None
    assert main(["eval", "vae", "--data", str(data), "--weights", str(tmp_path / "v" / "vae"), "--size", "64x48", "--limit", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["psnr"] > 0


def test_commands_turn_bad_input_into_one_line(tmp_path, capsys):
    from vton.cli import main
    from vton.io import atomic_save_image

    p, c = (str(atomic_save_image(tmp_path / name, np.full((64, 48, 3), 128, np.uint8))) for name in ("p.png", "c.png"))
    assert main(["tryon", "--person", p, "--cloth", c, "--out", str(tmp_path / "o.png"),
                 "--weights", str(tmp_path / "none")]) == 2
    assert "weights folder not found" in capsys.readouterr().err
    assert main(["tryon", "--person", p, "--cloth", c, "--out", str(tmp_path / "o.png"), "--steps", "0"]) == 2
    assert "steps must be" in capsys.readouterr().err
    assert main(["train", "unet", "--data", str(tmp_path), "--vae", str(tmp_path), "--out", str(tmp_path / "u")]) == 2
    assert "--composite warp needs --warp" in capsys.readouterr().err



@pytest.mark.slow
def test_two_process_vae_and_unet_training_keep_the_replicas_identical(tmp_path):
    """``torchrun --nproc_per_node 2`` (gloo on the CPU): both loops finish, and `check_replicas_agree`
    (run at the end of every loop) found the same weights in both processes, i.e. DDP averaged the
    gradients. Before the VAE loop called its prepared module, its replicas drifted apart.
    The result is printed once (rank 0), as one JSON line."""
    import os
    import shutil
    from pathlib import Path

    from helpers import REPO, torchrun

    samples = REPO / "assets" / "samples" / "synthetic"
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(samples / "test", data / "train")
    shutil.copy(samples / "test_pairs.txt", data / "train_pairs.txt")

    def run(*args):
        res = torchrun(*args, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        assert len(res.stdout.splitlines()) == 1, res.stdout  # one result, not one per process
        return json.loads(res.stdout)

    run("train", "vae", "--data", data, "--out", tmp_path / "v", "--size", "64x48", "--crop", "32x32", "--steps", "3",
        "--batch-size", "1", "--lr", "1e-2", "--model", '{"block_out_channels": [8, 8, 8, 8], "norm_num_groups": 4}')
    assert load_vae(tmp_path / "v" / "vae").config.scaling_factor != 1.0
    run("train", "unet", "--data", data, "--vae", tmp_path / "v" / "vae", "--composite", "gt", "--out", tmp_path / "u",
        "--size", "64x48", "--steps", "3", "--batch-size", "1", "--lr", "1e-2",
        "--model", '{"block_channels": [16, 32], "attention_levels": [false, true], "heads": 2}')
    assert (tmp_path / "u" / "unet" / "config.json").is_file()


@pytest.mark.slow
def test_vae_and_unet_training_resume_exactly_where_they_stopped(tmp_path):
    """Resuming from a checkpoint gives the weights the uninterrupted run ends with: the checkpoint keeps the
    loss's random generators, the data order of the epoch and how far into it the run was. UNet: batches of 2 from
    6 pairs, 2 per step, so step 2's checkpoint falls mid-epoch and the run crosses an epoch mid-accumulation."""
    import os
    import shutil
    from dataclasses import replace
    from pathlib import Path

    from vton.diffusion import train_unet, train_vae

    samples = Path(__file__).resolve().parents[1] / "assets" / "samples" / "synthetic"
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(samples / "test", data / "train")
    shutil.copy(samples / "test_pairs.txt", data / "train_pairs.txt")

    def straight_and_resumed(train, cfg, final: str) -> tuple[dict, dict, dict]:
        train(cfg)
        again = Path(str(cfg.out) + "-again")
        shutil.copytree(cfg.out, again)  # the same run, stopped right after its step-2 checkpoint:
        shutil.rmtree(again / "checkpoints" / "step-000004")
        shutil.rmtree(again / final)
        train(replace(cfg, out=str(again), resume=True))
        from safetensors.torch import load_file

        weights = lambda folder: load_file(str(next(folder.glob("*.safetensors"))))  # noqa: E731
        step2 = weights(again / "checkpoints" / "step-000002" / final)
        return weights(Path(cfg.out) / final), weights(again / final), step2

    vae_cfg = train_vae.TrainVAEConfig(data=str(data), out=str(tmp_path / "v"), size=(64, 48), steps=4, batch_size=2,
                                       lr=1e-2, checkpoint_every=2, crop=(32, 32),
                                       vae={"block_out_channels": (8, 8, 8, 8), "norm_num_groups": 4})
    unet_cfg = train_unet.TrainUNetConfig(data=str(data), out=str(tmp_path / "u"), vae=str(tmp_path / "v" / "vae"),
                                          composite="gt", size=(64, 48), steps=4, batch_size=2, grad_accum=2, lr=1e-2,
                                          checkpoint_every=2, unet={"block_channels": (16, 32), "attention_levels": (False, True), "heads": 2})
    for train, cfg, final in ((train_vae.train, vae_cfg, "vae"), (train_unet.train, unet_cfg, "unet")):
        straight, resumed, step2 = straight_and_resumed(train, cfg, final)
        assert straight.keys() == resumed.keys()
        for k in straight:
            assert torch.allclose(straight[k], resumed[k], rtol=1e-5, atol=1e-6), (final, k)
        assert max((straight[k] - step2[k]).abs().max().item() for k in straight) > 1e-4  # steps 3-4 moved them 100x more


@pytest.mark.slow
def test_tryon_writes_a_square_photo_square_at_its_size_or_the_size_asked(tmp_path, capsys):
    """The astronaut is 512x512: the result comes back 512x512 (not 4:3 with padded rows), --out-size rescales it,
    and --save-stages keeps the working-size result beside the final one (tiny random pipeline: geometry only)."""
    import sys
    from pathlib import Path

    from vton.cli import main
    from vton.io import load_image

    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from lab.fixtures import write_tiny_pipeline

    weights = write_tiny_pipeline(tmp_path / "pipe")
    photos = root / "assets" / "samples" / "photos"
    common = ["tryon", "--person", str(photos / "astronaut.png"), "--cloth", str(photos / "cloth_tee.png"),
              "--weights", str(weights), "--size", "128x96", "--steps", "2"]
    assert main([*common, "--out", str(tmp_path / "out.png"), "--save-stages", str(tmp_path / "st")]) == 0
    assert load_image(tmp_path / "out.png").shape == (512, 512, 3)
    assert load_image(tmp_path / "st" / "17_result_seed0.png").shape == (512, 512, 3)
    assert load_image(tmp_path / "st" / "17_result_seed0_working.png").shape == (128, 96, 3)
    meta = json.loads((tmp_path / "st" / "timings.json").read_text())
    assert meta["padding"] == {"photo_hw": [512, 512], "working_hw": [128, 96], "pad_top_bottom_left_right": [85, 86, 0, 0]}
    assert main([*common, "--out", str(tmp_path / "small.png"), "--out-size", "200x150"]) == 0
    assert load_image(tmp_path / "small.png", min_side=1).shape == (200, 150, 3)
    # at the resolution the photo had in the working image (96x96), no row or column is smeared
    assert main([*common, "--out", str(tmp_path / "w.png"), "--out-size", "96x96"]) == 0
    photo = cv2.resize(load_image(photos / "astronaut.png"), (96, 96), interpolation=cv2.INTER_AREA)
    assert longest_copy_run(load_image(tmp_path / "w.png", min_side=1), photo) <= 3
