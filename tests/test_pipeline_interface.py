"""The pipeline runs any warper and denoiser with the small interface (`vton.registry`), not only ours.

The models here are defined in the test: a warper that is not a FlowWarpNet, and a denoiser with a
fixed canvas (as the seed's UNet works at 512x512 whatever the photo), so the pipeline cannot rely on
our classes' internals.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from vton.diffusion.pipeline import TryOnPipeline, default_scheduler
from vton.diffusion.vae import small_vae_config
from vton.errors import InputError
from vton.warp.network import WarpOutput
from vton.warp.ops import identity_grid  # noqa: F401  (the convention the flows below follow)

from test_diffusion import fake_person_and_cloth

SIZE = (64, 48)


class ShiftWarper(torch.nn.Module):
    """Moves the cloth by a constant offset; no segmentation head. Records what it was given."""

    multiple = 16
    densepose_encoding = "iuv"
    origin = "test"

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))  # so .device / .dtype have something to follow
        self.seen: list[dict] = []

    def warp(self, batch) -> WarpOutput:
        self.seen.append({"size": tuple(batch.cloth.shape[-2:]), "densepose": batch.densepose.clone()})
        b, _, h, w = batch.cloth.shape
        flows = [torch.full((b, 2, h // 2**k, w // 2**k), 0.1) for k in (4, 3, 2, 1)]
        warped = batch.cloth.roll(1, dims=-1)
        mask = batch.cloth_mask.roll(1, dims=-1)
        return WarpOutput(flows, warped, mask, None, mask, warped)


class CanvasDenoiser(ModelMixin, ConfigMixin):
    """A denoiser that works on a fixed canvas and predicts zero noise; records its inputs."""

    origin = "test"
    uses_cloth_latents = False
    downsampling = 1

    @register_to_config
    def __init__(self, in_channels: int = 9, out_channels: int = 4, canvas: tuple = (64, 64)):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[torch.Tensor] = []

    @property
    def canvas_size(self):
        return tuple(self.config.canvas)

    def forward(self, sample, timestep, cloth_latents=None):
        self.seen.append(sample.detach().clone())
        return torch.zeros_like(sample[:, : self.config.out_channels]) + self.bias


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(**small_vae_config(block_out_channels=(8, 8, 8, 8), norm_num_groups=4)).eval()


def pipeline(canvas=(64, 64)) -> TryOnPipeline:
    return TryOnPipeline(warper=ShiftWarper(), vae=tiny_vae(), unet=CanvasDenoiser(canvas=canvas).eval(),
                         scheduler=default_scheduler())


def test_a_canvas_denoiser_sees_latents_of_its_canvas_and_results_come_back_at_the_working_size():
    pipe = pipeline(canvas=(64, 64))
    person, cloth = fake_person_and_cloth(SIZE)
    result = pipe(person, cloth, size=SIZE, num_inference_steps=3, strength=1.0, seeds=[0, 1])
    seen = pipe.unet.seen
    assert len(seen) == 3
    assert tuple(seen[0].shape) == (2, 9, 8, 8)  # the 64x64 canvas at f=8, not the 64x48 working size
    assert set(seen[0][:, 8].unique().tolist()) <= {0.0, 1.0}  # our mask convention reaches the adapter
    assert all(img.shape == (*SIZE, 3) for img in result.images)
    keep = result.agnostic_mask == 0  # outside the agnostic mask the photo is pasted back exactly
    from vton.diffusion.pipeline import resize_person

    photo = resize_person(person, SIZE).image
    assert np.array_equal(result.images[0][keep], photo[keep])
    assert pipe.size_multiple == ShiftWarper.multiple  # the canvas frees the working size from the VAE's factor


def test_the_warper_gets_its_own_encoding_and_the_working_size():
    pipe = pipeline()
    person, cloth = fake_person_and_cloth(SIZE)
    cond = pipe.prepare(person, cloth, size=SIZE)
    seen = pipe.warper.seen[-1]
    assert seen["size"] == SIZE
    assert cond.warp.seg_logits is None  # a warper without a segmentation head is fine
    assert tuple(cond.cond_latents.shape) == (1, 4, 8, 8)


def test_a_trajectory_from_a_canvas_denoiser_decodes_at_the_working_size():
    pipe = pipeline(canvas=(32, 32))
    person, cloth = fake_person_and_cloth(SIZE)
    result = pipe(person, cloth, size=SIZE, num_inference_steps=2, seeds=[0], record_trajectory=True)
    frame = result.trajectory.decode(0, which="x0")[0]
    assert frame.shape == (*SIZE, 3)


def test_time_costs_and_estimate_scale_with_steps_and_strength():
    pipe = pipeline()
    costs = pipe.time_costs(SIZE)
    assert costs["step"] > 0 and costs["decode"] > 0
    full = pipe.estimate_seconds(costs, 50, 1.0)
    half = pipe.estimate_seconds(costs, 50, 0.5)
    assert full == pytest.approx(50 * costs["step"] + costs["decode"])
    assert half == pytest.approx(25 * costs["step"] + costs["decode"])
    assert pipe.estimate_seconds(costs, 50, 1.0, batch=4) == pytest.approx(4 * full)  # scaled from batch 1
    grid = pipe.time_costs(SIZE, batch=4)  # the step timed at the grid's own batch
    assert grid["batch"] == 4 and grid["step"] > 0
    assert pipe.estimate_seconds(grid, 50, 1.0, batch=4) == pytest.approx(50 * grid["step"] + 4 * grid["decode"])
    assert pipe.estimate_seconds(grid, 50, 1.0, batch=1) == pytest.approx(50 * grid["step"] / 4 + grid["decode"])
    for bad in (0, 1.5, True):
        with pytest.raises(InputError, match="batch must be a whole number"):
            pipe.time_costs(SIZE, batch=bad)


def test_a_scheduler_without_the_diffusers_interface_is_refused_with_its_name():
    class NotAScheduler:
        config = {}

    with pytest.raises(InputError, match="NotAScheduler lacks"):
        TryOnPipeline(warper=ShiftWarper(), vae=tiny_vae(), unet=CanvasDenoiser().eval(), scheduler=NotAScheduler())
