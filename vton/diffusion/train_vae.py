"""Training a small `AutoencoderKL` from scratch on person images (for users without SD's VAE).

Loss per batch of images ``x`` in ``[-1, 1]``: ``L1(decode(z), x) + kl_weight * KL(q(z|x) || N(0, I))``
(+ ``vgg_weight`` * VGG19 perceptual when VGG weights are given), with ``z`` sampled from
the posterior. It trains on random crops (default 128x96, a quarter of 256x192): the
network is convolutional, so it learns the same thing four times cheaper. At the end the config's ``scaling_factor`` is set to ``1 / std`` of the
posterior means over (up to) 64 training images, so scaled latents have unit variance
as the diffusion schedule assumes (Stable Diffusion's 0.18215 was found the same way).
With the colour term (``colour_weight``) each channel's mean and std are recorded
instead (`normalise_latents`), since its channels 0-2 are far from zero-mean.

``init`` starts from an existing VAE folder instead; with ``decoder_only`` only its decoder
learns (the encoder, hence the latents and any UNet trained on them, stay as they were, and
so does the scaling factor), the way Stable Diffusion's ft-MSE VAE was made.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from torch.utils.data import DataLoader

from vton.diffusion.vae import VAE_FACTOR, small_vae_config
from vton.errors import InputError
from vton.types import DEFAULT_SIZE, Size


class Reconstruction(torch.nn.Module):
    """``images -> (reconstruction, KL per image)`` through a sampled latent, as one ``forward``.

    Training calls this module (wrapped by ``accelerator.prepare``) rather than
    ``vae.encode``/``vae.decode`` directly: DistributedDataParallel synchronises gradients
    only for computations that went through its own ``forward``.
    """

    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.vae = vae

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction, KL per image, posterior mean)``."""
        posterior = self.vae.encode(images).latent_dist
        return self.vae.decode(posterior.sample(generator)).sample, posterior.kl(), posterior.mean


def colour_target(images: torch.Tensor) -> torch.Tensor:
    """What the colour term asks latent channels 0-2 to hold: the mean RGB of each 8x8 cell, in ``[-1, 1]``."""
    return F.avg_pool2d(images, VAE_FACTOR)


def vae_loss(vae: AutoencoderKL | torch.nn.Module, images: torch.Tensor, *, kl_weight: float = 1e-6, perceptual=None,
             vgg_weight: float = 0.1, generator: torch.Generator | None = None, l1_weight: float = 1.0,
             mse_weight: float = 0.0, colour_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """``l1_weight`` * L1 + ``mse_weight`` * MSE + ``colour_weight`` * colour + KL (+ perceptual) of one batch
    ``(B, 3, H, W)``; returns ``(loss, logs)``.

    ``vae`` is an `AutoencoderKL` or a (possibly DDP-wrapped) `Reconstruction` of one. L1
    gives the per-pixel median of what the latent leaves open, MSE the mean, which is what
    PSNR rewards: where the latent cannot tell two colours apart, L1 picks one of them.

    The colour term is the L1 distance between latent channels 0-2 of the posterior mean
    and `colour_target` (each 8x8 cell's mean RGB). Trained on the pixel losses alone, the
    small VAE settles early on latents that keep brightness and one colour axis and lose
    the other (green shirts decode brown, the green channel's error is 5x the others');
    with the colour written into the latent from the first step, the decoder only has to
    learn the detail. It also makes the latents readable: channels 0-2 are a thumbnail.
    """
    recon, kl, mean = (Reconstruction(vae) if isinstance(vae, AutoencoderKL) else vae)(images, generator)
    l1 = F.l1_loss(recon, images)
    mse = F.mse_loss(recon, images)
    kl = kl.mean() / images[0].numel()  # per pixel, like the L1
    loss = l1_weight * l1 + mse_weight * mse + kl_weight * kl
    logs = {"l1": l1.item(), "mse": mse.item(), "kl": kl.item()}
    if colour_weight > 0:
        colour = F.l1_loss(mean[:, :3], colour_target(images))
        loss = loss + colour_weight * colour
        logs["colour"] = colour.item()
    if perceptual is not None and vgg_weight > 0:
        p = perceptual(recon, images)
        loss = loss + vgg_weight * p
        logs["vgg"] = p.item()
    logs["loss"] = loss.item()
    return loss, logs


def start_with_small_variance(vae: AutoencoderKL, logvar: float = -6.0) -> None:
    """Start the posterior's log-variance near ``logvar`` (std ~0.05) instead of 0 (std 1).

    With unit posterior noise the early decoder sees mostly noise and reconstructions
    improve slowly; the KL term (weight 1e-6) would take thousands of steps to say so.
    """
    if vae.quant_conv is None:
        return
    c = vae.config.latent_channels
    with torch.no_grad():
        vae.quant_conv.bias[c:].fill_(logvar)


def random_crop(images: torch.Tensor, crop: Size | None, generator: torch.Generator) -> torch.Tensor:
    """One random ``crop`` (H, W) window per batch, at offsets that are multiples of 8 (the VAE's grid)."""
    if crop is None:
        return images
    h, w = images.shape[-2:]
    ch, cw = min(crop[0], h), min(crop[1], w)
    top = int(torch.randint(0, (h - ch) // 8 + 1, (1,), generator=generator)) * 8
    left = int(torch.randint(0, (w - cw) // 8 + 1, (1,), generator=generator)) * 8
    return images[..., top: top + ch, left: left + cw]


def learning_rate(step: int, steps: int, peak: float) -> float:
    """The learning rate at ``step`` (0-based): 100 steps of linear warm-up, then linear decay to ``peak / 10``."""
    return peak * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * max(0.0, 1 - step / steps))


@torch.no_grad()
def normalise_latents(vae: AutoencoderKL, images: torch.Tensor) -> None:
    """Record each latent channel's mean and std over ``images`` (``latents_mean``/``latents_std``, scaling 1).

    `vton.diffusion.vae.encode` then gives zero-mean, unit-variance latents per channel.
    With the colour term the channels are far from zero-mean (channels 0-2 are a colour
    thumbnail, so their means are the data's mean colour): started from pure noise
    (strength 1), a UNet trained on such latents left a strong colour cast, because at
    t ~ 999 the offset is all but invisible in x_t and the noise prediction must carry it.
    """
    z = vae.encode(images.to(vae.dtype)).latent_dist.mean.float()
    vae.register_to_config(latents_mean=z.mean(dim=(0, 2, 3)).tolist(),
                           latents_std=z.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist(), scaling_factor=1.0)


@torch.no_grad()
def latent_std(vae: AutoencoderKL, images: torch.Tensor) -> float:
    """Standard deviation of the (unscaled) posterior means of ``images``."""
    return float(vae.encode(images).latent_dist.mean.float().std())


@dataclass
class TrainVAEConfig:
    data: str
    out: str
    size: Size = DEFAULT_SIZE
    steps: int = 3000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 1e-3
    kl_weight: float = 1e-6
    vgg: str | None = None
    vgg_weight: float = 0.1
    mixed_precision: str = "no"
    checkpoint_every: int = 500
    log_every: int = 10
    resume: bool = False
    seed: int = 0
    num_workers: int = 0
    crop: Size | None = (128, 96)  # train on random crops (convolutions do not care; 4x cheaper); None = whole images
    vae: dict = field(default_factory=dict)  # small_vae_config overrides
    init: str | None = None  # start from this AutoencoderKL folder instead of a new small VAE
    decoder_only: bool = False  # train only the decoder of ``init``: its latents (and a UNet trained on them) stay valid
    l1_weight: float = 1.0
    mse_weight: float = 0.0
    colour_weight: float = 0.0  # latent channels 0-2 hold each 8x8 cell's mean colour (see vae_loss)


class PersonImages(torch.utils.data.Dataset):
    """The person images of a split, as ``(3, H, W)`` tensors in ``[-1, 1]``.

    Only the photos are read (not the pair's other maps), and each is kept in memory
    as ``uint8`` after its first read: 1200 images at 256x192 are 180 MB, and an
    epoch then costs no disk reads or resizing.
    """

    def __init__(self, root: str, split: str, size: Size):
        from vton.data import VitonHD

        self.reader = VitonHD(root, split, size=tuple(size))
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> torch.Tensor:
        from vton.tensors import image_to_tensor

        if i not in self._cache:
            self._cache[i] = self.reader.person_image(i)
        return image_to_tensor(self._cache[i])


def train(cfg: TrainVAEConfig, progress=None) -> Path:
    """Train the small VAE; writes checkpoints under ``cfg.out`` and the final ``cfg.out/vae``."""
    from vton.train.common import make_accelerator, training_run

    accelerator = make_accelerator(cfg.seed, mixed_precision=cfg.mixed_precision, log_dir=Path(cfg.out) / "logs",
                                   gradient_accumulation_steps=cfg.grad_accum)
    with training_run(accelerator):  # every process leaves the same way, on every path
        return _train(accelerator, cfg, progress)


def _train(accelerator, cfg: TrainVAEConfig, progress) -> Path:
    from vton.train.common import (epoch_rng, export_final, finish_training, latest_checkpoint, load_checkpoint, load_rng,
                                   rendezvous, restore_epoch_rng, save_checkpoint)

    out = Path(cfg.out)
    data = PersonImages(cfg.data, "train", cfg.size)
    if len(data) == 0:
        raise InputError(f"no training images in {cfg.data}")
    loader = DataLoader(data, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
                        drop_last=len(data) >= cfg.batch_size)
    if cfg.decoder_only and not cfg.init:
        raise InputError("decoder-only training needs a VAE to start from (--init)")
    if cfg.init and cfg.vae:
        raise InputError("--model describes a new VAE; it cannot change the architecture of --init")
    if cfg.init:
        from vton.diffusion.vae import load_vae

        vae = load_vae(cfg.init).train().requires_grad_(True)
    else:
        vae = AutoencoderKL(**(small_vae_config() | cfg.vae))
        start_with_small_variance(vae)
    if cfg.decoder_only:  # the same latents, a better decoder
        for module in (vae.encoder, vae.quant_conv):
            if module is not None:
                module.requires_grad_(False)
    perceptual = None
    if cfg.vgg:
        from vton.nn.vgg import VGGPerceptualLoss

        perceptual = VGGPerceptualLoss.from_file(cfg.vgg).to(accelerator.device).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    model = Reconstruction(vae)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    step, skip, rng = 0, 0, {}
    if cfg.resume and (ckpt := latest_checkpoint(out)) is not None:
        step, extra = load_checkpoint(ckpt, {"vae": vae}, optimizer)
        rng, skip = load_rng(ckpt), extra.get("epoch_batches", 0) % max(len(loader), 1)
    accelerator.init_trackers("vae", config={k: v for k, v in asdict(cfg).items() if isinstance(v, (int, float, str, bool))})
    generator = torch.Generator(accelerator.device).manual_seed(cfg.seed + step)
    crop_gen = torch.Generator().manual_seed(cfg.seed + step)
    if "noise" in rng:  # exactly where the checkpointed run was (older checkpoints: fresh draws from seed + step)
        generator.set_state(rng["noise"])
        crop_gen.set_state(rng["crop"])
    model.train()
    while step < cfg.steps:
        if rng:
            restore_epoch_rng(loader, rng)
            rng = {}
        epoch_start, done = epoch_rng(loader), skip  # with the batches done, all a resumed run needs
        for images in (accelerator.skip_first_batches(loader, skip) if skip else loader):
            done += 1
            images = random_crop(images, cfg.crop, crop_gen)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, cfg.steps, cfg.lr)
            with accelerator.accumulate(model), accelerator.autocast():
                loss, logs = vae_loss(model, images, kl_weight=cfg.kl_weight, l1_weight=cfg.l1_weight, mse_weight=cfg.mse_weight,
                                      colour_weight=cfg.colour_weight,
                                      perceptual=perceptual, vgg_weight=cfg.vgg_weight, generator=generator)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if not accelerator.sync_gradients:
                continue
            step += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                accelerator.log(logs, step=step)
            if progress:
                progress(step, cfg.steps, f"L1 {logs['l1']:.4f}")
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save_checkpoint(out, step, {"vae": vae}, optimizer, {"config": json.loads(json.dumps(asdict(cfg), default=str)),
                                                                      "epoch_batches": done},
                                accelerator=accelerator,
                                rng={"noise": generator.get_state(), "crop": crop_gen.get_state()}
                                | (epoch_rng(loader) if done == len(loader) else epoch_start))
            if step >= cfg.steps:
                break
        skip = 0
    finish_training(accelerator, model)

    final = vae.eval()
    if not cfg.decoder_only:  # a new encoder: scale its latents to unit variance (the decoder-only run keeps init's)
        sample = torch.stack([data[i] for i in range(min(64, len(data)))]).to(accelerator.device)
        if cfg.colour_weight > 0:
            normalise_latents(final, sample)
        else:
            final.register_to_config(scaling_factor=1.0 / max(latent_std(final, sample), 1e-6))
    if accelerator.is_main_process:
        export_final(out / "vae", final)
    rendezvous(accelerator, "final export")  # no process leaves while rank 0 still writes
    return out / "vae"
