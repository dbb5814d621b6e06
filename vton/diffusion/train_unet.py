"""Training the try-on UNet: two branches per step on one UNet (DCI-VTON style).

For a batch with ground-truth person latent ``z_0``, composite latent ``z_c`` and mask
``m`` (all at latent size), one timestep ``t`` and one noise ``eps`` per sample:

(a) noise the ground truth: ``x_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) eps``;
    loss_eps = MSE(UNet([x_t, z_c, m], t), eps).
(b) noise the composite at the same t: ``c_t = sqrt(abar_t) z_c + sqrt(1 - abar_t) eps``;
    predict ``x0_hat = (c_t - sqrt(1 - abar_t) UNet([c_t, z_c, m], t)) / sqrt(abar_t)``,
    *decode it with gradients* through the frozen VAE and compare with the ground-truth
    image: loss_x0 = L1 (+ ``vgg_weight`` * VGG19 perceptual when weights are given).
    This is the branch the seed's ``no_grad`` decode silently disabled.

loss = eps_weight * loss_eps + x0_weight * loss_x0.

The VAE is frozen; the latents of the fixed inputs (ground truth, composite) are
cached in memory when the run sees the data more than once (``--cache-latents auto``).
The composite comes from a trained warper (``--composite warp``) or from the synthetic
data's ground-truth warped cloth (``--composite gt``).

``init`` (``--init FOLDER``) starts from a trained UNet's weights and architecture instead of
a new one (a fine-tune on other data, or a longer run from a shipped model).
``max_timestep`` (``--max-timestep N``) draws the training timesteps from ``[0, N)`` instead of
all 1000: the default sampler at strength 0.5 only visits ``t < 500``.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler
from torch.utils.data import DataLoader

from vton.diffusion.pipeline import TryOnPipeline, default_scheduler, latent_mask, make_composite, paste_cloth
from vton.diffusion.unet import TryOnUNet
from vton.diffusion.vae import decode, encode, load_vae
from vton.errors import InputError
from vton.tensors import TryOnBatch
from vton.types import DEFAULT_SIZE, Size

# ----------------------------------------------------------------------------- the batch and the loss


@dataclass
class UNetBatch:
    """What one UNet training step needs, for batch size B and image size (H, W) = 8 (h, w)."""

    target_latents: torch.Tensor  # (B, 4, h, w) scaled latent of the ground-truth person
    cond_latents: torch.Tensor  # (B, 4, h, w) scaled latent of the composite
    mask_latents: torch.Tensor  # (B, 1, h, w) agnostic mask at latent size
    target: torch.Tensor  # (B, 3, H, W) [-1, 1] ground-truth person
    cloth_latents: torch.Tensor | None = None  # (B, 4, h, w), only for cross-attention UNets

    def to(self, device, dtype=None) -> "UNetBatch":
        move = lambda t: None if t is None else t.to(device=device, dtype=dtype or t.dtype)  # noqa: E731
        return UNetBatch(*(move(getattr(self, f)) for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return self.target.shape[0]


def composite_of(batch: TryOnBatch, source: str, warper: torch.nn.Module | None) -> torch.Tensor:
    """The composite image ``(B, 3, H, W)``: from the warper's output or the ground-truth warped cloth."""
    if source == "gt":
        if batch.gt_warped_cloth is None or batch.gt_warped_mask is None:
            raise InputError("--composite gt needs ground-truth warped cloth (synthetic data); use --composite warp --warp FOLDER")
        return paste_cloth(batch.agnostic, batch.agnostic_mask, batch.gt_warped_cloth, batch.gt_warped_mask)
    if warper is None:
        raise InputError("--composite warp needs a trained warper: pass --warp FOLDER")
    with torch.no_grad():
        warp = warper.warp(batch)  # the batch's DensePose is in the warper's encoding (see `train`)
    return make_composite(batch.agnostic, batch.agnostic_mask, warp)


@torch.no_grad()
def encode_batch(batch: TryOnBatch, vae: AutoencoderKL, composite: str, warper=None, cloth_latents: bool = False) -> UNetBatch:
    """A data batch -> the UNet's inputs and targets (VAE encodes under no_grad: the VAE is frozen)."""
    comp = composite_of(batch, composite, warper)
    return UNetBatch(
        target_latents=encode(vae, batch.person),
        cond_latents=encode(vae, comp),
        mask_latents=latent_mask(batch.agnostic_mask),
        target=batch.person,
        cloth_latents=encode(vae, batch.cloth) if cloth_latents else None,
    )


@dataclass
class LossWeights:
    eps_weight: float = 1.0  # branch (a), epsilon MSE on the noised ground truth
    x0_weight: float = 1.0  # branch (b), decoded x0 of the noised composite vs the ground truth
    vgg_weight: float = 0.1  # VGG19 perceptual inside branch (b), when VGG weights are given
    x0_crop: tuple[int, int] | None = None  # decode only a random (h, w) latent window in (b); None = all
    max_timestep: int | None = None  # draw timesteps from [0, max_timestep) only; None = all the scheduler has


def latent_window(shape: tuple[int, int], crop: tuple[int, int] | None, generator: torch.Generator | None) -> tuple[slice, slice]:
    """A random ``crop`` window (latent units) inside a latent of ``shape`` (h, w); everything when ``crop`` is None.

    Branch (b) decodes with gradients, the most expensive part of a step; the decoder is
    convolutional, so decoding a window of x0 and comparing it with the same window of the
    ground truth (times 8) trains the same thing at a fraction of the cost.
    """
    h, w = shape
    if crop is None or (crop[0] >= h and crop[1] >= w):
        return slice(None), slice(None)
    ch, cw = min(crop[0], h), min(crop[1], w)
    top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
    return slice(top, top + ch), slice(left, left + cw)


def two_branch_loss(
    unet: TryOnUNet,
    vae: AutoencoderKL,
    scheduler: DDIMScheduler,
    batch: UNetBatch,
    *,
    weights: LossWeights = LossWeights(),
    perceptual=None,
    generator: torch.Generator | None = None,
    timesteps: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of one batch (see the module docstring); returns ``(loss, logs)``.

    ``timesteps (B,)`` and ``noise (B, 4, h, w)`` are drawn with ``generator`` unless given.
    ``perceptual`` is a callable ``(x, y) -> scalar`` on ``[-1, 1]`` images (VGG loss) or None.
    """
    z0, zc, m = batch.target_latents, batch.cond_latents, batch.mask_latents
    b, device = z0.shape[0], z0.device
    T = scheduler.config.num_train_timesteps
    if timesteps is None:
        high = T if weights.max_timestep is None else min(weights.max_timestep, T)
        timesteps = torch.randint(0, high, (b,), generator=generator, device="cpu").to(device)
    if noise is None:
        noise = torch.randn(z0.shape, generator=generator, device="cpu").to(device=device, dtype=z0.dtype)
    abar = scheduler.alphas_cumprod.to(device=device, dtype=z0.dtype)[timesteps].view(b, 1, 1, 1)

    loss = z0.new_zeros((), dtype=torch.float32)
    logs = {}

    # (a) epsilon on the noised ground truth
    if weights.eps_weight > 0:
        x_t = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
        eps = unet(torch.cat([x_t, zc, m], dim=1), timesteps, batch.cloth_latents)
        loss_eps = F.mse_loss(eps.float(), noise.float())
        logs["loss_eps"] = loss_eps.item()
        loss = loss + weights.eps_weight * loss_eps

    # (b) x0 from the noised composite, decoded with gradients
    if weights.x0_weight > 0:
        c_t = abar.sqrt() * zc + (1 - abar).sqrt() * noise
        eps_c = unet(torch.cat([c_t, zc, m], dim=1), timesteps, batch.cloth_latents)
        x0_hat = (c_t - (1 - abar).sqrt() * eps_c) / abar.sqrt()
        rows, cols = latent_window(tuple(x0_hat.shape[-2:]), weights.x0_crop, generator)
        image = decode(vae, x0_hat[..., rows, cols]).float()
        f = image.shape[-1] // x0_hat[..., rows, cols].shape[-1]  # the VAE's factor
        pix = lambda s: slice(None) if s.start is None else slice(s.start * f, s.stop * f)  # noqa: E731
        target = batch.target[..., pix(rows), pix(cols)].float()
        loss_l1 = F.l1_loss(image, target)
        loss_x0 = loss_l1
        logs["loss_x0_l1"] = loss_l1.item()
        if perceptual is not None and weights.vgg_weight > 0:
            loss_vgg = perceptual(image, target)
            loss_x0 = loss_x0 + weights.vgg_weight * loss_vgg
            logs["loss_x0_vgg"] = loss_vgg.item()
        loss = loss + weights.x0_weight * loss_x0
    logs["loss"] = loss.item()
    return loss, logs


# ----------------------------------------------------------------------------- the training run


@dataclass
class TrainUNetConfig:
    data: str
    out: str
    vae: str
    warp: str | None = None
    composite: str = "warp"  # "warp" (trained warper) or "gt" (synthetic ground-truth warped cloth)
    size: Size = DEFAULT_SIZE
    steps: int = 2000  # optimizer steps
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 2e-4
    weight_decay: float = 0.0
    x0_weight: float = 1.0
    vgg: str | None = None  # local VGG19 weights file
    vgg_weight: float = 0.1
    ema_decay: float = 0.0  # 0 = no EMA
    mixed_precision: str = "no"  # no | fp16 | bf16 (ignored on CPU)
    cache_latents: str = "auto"  # auto | yes | no
    checkpoint_every: int = 250
    log_every: int = 10
    resume: bool = False
    seed: int = 0
    num_workers: int = 0
    unet: dict = field(default_factory=dict)  # TryOnUNet config overrides (block_channels, ...)
    x0_crop: Size | None = None  # latent window decoded in branch (b), e.g. (8, 6); None = whole latent
    init: str | None = None  # start from this TryOnUNet folder's weights (``unet`` must then be empty)
    max_timestep: int | None = None  # draw training timesteps from [0, max_timestep); None = all of them


class LatentCache(torch.utils.data.Dataset):
    """The encoded dataset, kept in memory (the inputs are fixed, the VAE frozen)."""

    def __init__(self, items: list[UNetBatch]):
        self.items = [UNetBatch(*(None if t is None else t[i] for t in (it.target_latents, it.cond_latents, it.mask_latents, it.target, it.cloth_latents)))
                      for it in items for i in range(len(it))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> UNetBatch:
        return self.items[i]

    @staticmethod
    def collate(items: list[UNetBatch]) -> UNetBatch:
        stack = lambda name: None if getattr(items[0], name) is None else torch.stack([getattr(it, name) for it in items])  # noqa: E731
        return UNetBatch(*(stack(f) for f in UNetBatch.__dataclass_fields__))


def train(cfg: TrainUNetConfig, progress=None) -> Path:
    """Train a `TryOnUNet`; writes checkpoints under ``cfg.out`` and the final ``cfg.out/unet``
    (plus ``cfg.out/pipeline`` when a warper is given). Returns the final UNet folder."""
    from vton.train.common import make_accelerator, training_run

    accelerator = make_accelerator(cfg.seed, mixed_precision=cfg.mixed_precision, log_dir=Path(cfg.out) / "logs",
                                   gradient_accumulation_steps=cfg.grad_accum)
    with training_run(accelerator):  # every process leaves the same way, on every path
        return _train(accelerator, cfg, progress)


def _train(accelerator, cfg: TrainUNetConfig, progress) -> Path:
    from vton.data import TryOnDataset
    from vton.tensors import collate
    from vton.train.common import (epoch_rng, export_final, finish_training, latest_checkpoint, load_checkpoint, load_rng,
                                   rendezvous, restore_epoch_rng, save_checkpoint)

    out = Path(cfg.out)
    device = accelerator.device
    vae = load_vae(cfg.vae, device=device)
    warper = None
    if cfg.composite == "warp" or cfg.warp:
        if not cfg.warp:
            raise InputError("--composite warp needs --warp FOLDER (or use --composite gt on synthetic data)")
        from vton.warp.network import FlowWarpNet

        warper = FlowWarpNet.from_pretrained(cfg.warp).to(device).eval().requires_grad_(False)
    perceptual = None
    if cfg.vgg:
        from vton.nn.vgg import VGGPerceptualLoss

        perceptual = VGGPerceptualLoss.from_file(cfg.vgg).to(device).eval().requires_grad_(False)

    if cfg.init and cfg.unet:
        raise InputError("--model describes a new UNet; it cannot change the architecture of --init")
    unet = TryOnUNet.from_pretrained(cfg.init).float().train() if cfg.init else TryOnUNet(**cfg.unet)
    use_cloth = unet.config.cross_attention
    scheduler = default_scheduler()
    data = TryOnDataset(cfg.data, "train", size=tuple(cfg.size),
                        densepose_encoding=warper.densepose_encoding if warper is not None else None)
    if len(data) == 0:
        raise InputError(f"no training pairs in {cfg.data}")
    samples_seen = cfg.steps * cfg.batch_size * cfg.grad_accum
    cache = cfg.cache_latents == "yes" or (cfg.cache_latents == "auto" and samples_seen > len(data))

    loader = DataLoader(data, batch_size=cfg.batch_size, shuffle=not cache, num_workers=cfg.num_workers, collate_fn=collate, drop_last=False)
    if cache:
        encoded = []
        for i, batch in enumerate(loader):
            encoded.append(encode_batch(batch.to(device), vae, cfg.composite, warper, use_cloth).to("cpu"))
            if progress:
                progress(i + 1, len(loader), "caching latents")
        loader = DataLoader(LatentCache(encoded), batch_size=cfg.batch_size, shuffle=True, collate_fn=LatentCache.collate,
                            drop_last=len(data) >= cfg.batch_size)
        rendezvous(accelerator, "latents cached")  # each process encodes at its own pace; prepare's collectives wait here

    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    unet, optimizer, loader = accelerator.prepare(unet, optimizer, loader)
    ema = None
    if cfg.ema_decay > 0:
        ema = copy.deepcopy(accelerator.unwrap_model(unet)).eval().requires_grad_(False)

    models = {"unet": unet} | ({"unet_ema": ema} if ema is not None else {})
    step, skip, rng = 0, 0, {}
    if cfg.resume and (ckpt := latest_checkpoint(out)) is not None:
        step, extra = load_checkpoint(ckpt, {k: accelerator.unwrap_model(v) for k, v in models.items()}, optimizer)
        rng, skip = load_rng(ckpt), extra.get("epoch_batches", 0) % max(len(loader), 1)
    accelerator.init_trackers("unet", config={k: v for k, v in asdict(cfg).items() if isinstance(v, (int, float, str, bool))})

    weights = LossWeights(x0_weight=cfg.x0_weight, vgg_weight=cfg.vgg_weight,
                          x0_crop=tuple(cfg.x0_crop) if cfg.x0_crop else None, max_timestep=cfg.max_timestep)
    generator = torch.Generator().manual_seed(cfg.seed + step)
    if "noise" in rng:  # exactly where the checkpointed run was (older checkpoints: fresh draws from seed + step)
        generator.set_state(rng["noise"])
    unet.train()
    while step < cfg.steps:
        if rng:
            restore_epoch_rng(loader, rng)
            rng = {}
        epoch_start, done = epoch_rng(loader), skip  # with the batches done, all a resumed run needs
        for batch in (accelerator.skip_first_batches(loader, skip) if skip else loader):
            done += 1
            if not cache:
                batch = encode_batch(batch, vae, cfg.composite, warper, use_cloth)
            with accelerator.accumulate(unet), accelerator.autocast():
                loss, logs = two_branch_loss(unet, vae, scheduler, batch,
                                             weights=weights, perceptual=perceptual, generator=generator)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(unet.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if not accelerator.sync_gradients:
                continue
            step += 1
            if ema is not None:
                with torch.no_grad():
                    for pe, p in zip(ema.parameters(), accelerator.unwrap_model(unet).parameters()):
                        pe.lerp_(p.detach(), 1 - cfg.ema_decay)
            if not math.isfinite(logs["loss"]):
                raise RuntimeError(f"loss became {logs['loss']} at step {step}; lower --lr")
            if step % cfg.log_every == 0 or step == cfg.steps:
                accelerator.log(logs, step=step)
            if progress:
                progress(step, cfg.steps, f"loss {logs['loss']:.4f}")
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save_checkpoint(out, step, models, optimizer, {"config": json.loads(json.dumps(asdict(cfg), default=str)),
                                                               "epoch_batches": done}, accelerator=accelerator,
                                rng={"noise": generator.get_state()} | (epoch_rng(loader) if done == len(loader) else epoch_start))
            if step >= cfg.steps:
                break
        skip = 0

    finish_training(accelerator, unet)
    final = ema if ema is not None else accelerator.unwrap_model(unet)
    if accelerator.is_main_process:
        export_final(out / "unet", final)
        if warper is not None:
            export_pipeline(out / "pipeline", warper, vae, final)
    rendezvous(accelerator, "final export")  # no process leaves while rank 0 still writes
    return out / "unet"


def export_pipeline(dst: str | Path, warper, vae: AutoencoderKL, unet: TryOnUNet) -> Path:
    """Save warper + VAE + UNet + DDIM as one `TryOnPipeline` folder, atomically."""
    from vton.train.common import atomic_dir

    pipe = TryOnPipeline(warper=warper, vae=vae, unet=unet, scheduler=default_scheduler())
    with atomic_dir(dst) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
    return Path(dst)
