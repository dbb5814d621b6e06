"""Training the warping network: one loop, run through Hugging Face Accelerate.

The same code runs on one CPU, one GPU, or several processes (``torchrun
--nproc_per_node N -m vton train warp ...``, or ``accelerate launch``). Sections,
in order: config, data, model and optimizer, resume, the loop (losses,
logging, checkpoints), the final export.

Outputs under ``config.out``:

- ``checkpoints/step-NNNNNN/`` (atomic; ``warp/`` model folder, optimizer, state),
- ``logs/`` TensorBoard scalars (every loss term) and image grids,
- ``final/`` the trained model as a diffusers folder (``FlowWarpNet.from_pretrained``).

The model's ``densepose_encoding`` is the one the data's DensePose files are in
(`vton.data.VitonHD.densepose_encoding`): ``"dp_segm"`` on a VITON-HD folder of
colour renders, ``"iuv"`` on our synthetic data; it trains on that tensor.
``config.model["densepose_encoding"]`` overrides it; a resumed run keeps its checkpoint's.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vton.errors import InputError
from vton.tensors import TryOnBatch, collate
from vton.train.common import (Progress, epoch_rng, export_final, finish_training, latest_checkpoint, load_checkpoint, load_rng,
                               make_accelerator, rendezvous, restore_epoch_rng, save_checkpoint, training_run)
from vton.types import DEFAULT_SIZE, Size
from vton.warp.losses import WarpLossWeights, warp_losses
from vton.warp.network import FlowWarpNet, WarpOutput

MODEL_NAME = "warp"


# ----------------------------------------------------------------------------- config


@dataclass
class WarpTrainConfig:
    """Everything one training run needs; the CLI fills it from its arguments."""

    data: Path  # a VITON-HD-layout folder (train split)
    out: Path  # checkpoints, logs and final/ go here
    size: Size = DEFAULT_SIZE  # (H, W), divisible by 2**levels
    batch_size: int = 4  # per process
    steps: int = 1000  # optimizer steps in all (a resumed run continues up to this)
    lr: float = 1e-3  # peak; a short linear warm-up, then cosine decay to lr / 10 (a function of the step)
    warmup: int = 20
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    vgg: Path | None = None  # torchvision VGG19 weights for the perceptual term
    save_every: int = 250
    log_every: int = 10
    image_every: int = 100
    resume: bool = False
    seed: int = 0
    num_workers: int = 0
    cache: bool = True  # keep decoded items in memory after the first epoch (small synthetic sets)
    mixed_precision: str = "no"
    cpu: bool | None = None  # None: CUDA when present
    model: dict = field(default_factory=dict)  # FlowWarpNet arguments (base_channels, channel_mults, ...)
    weights: WarpLossWeights = field(default_factory=WarpLossWeights)


@dataclass
class WarpTrainResult:
    final: Path | None  # the exported model folder (main process only)
    step: int  # the last step done
    losses: dict[str, float]  # the last logged loss terms (a running mean over log_every steps)
    first_losses: dict[str, float]  # the first logged ones, to see the run went somewhere
    seconds: float
    processes: int = 1  # how many processes trained (Accelerate's num_processes)


# ----------------------------------------------------------------------------- helpers


class CachedDataset(torch.utils.data.Dataset):
    """Keeps every item after its first read (reading and resizing ~10 maps costs more than a CPU step)."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.items: dict[int, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index not in self.items:
            self.items[index] = self.dataset[index]
        return self.items[index]


def learning_rate(config: WarpTrainConfig, step: int) -> float:
    """The learning rate at ``step`` (0-based): linear warm-up, then cosine from ``lr`` to ``lr / 10``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    t = (step - config.warmup) / max(config.steps - config.warmup, 1)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _forward(model, batch: TryOnBatch) -> WarpOutput:
    return model(batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic)  # not .warp: DDP syncs through forward


def _image_grid(batch: TryOnBatch, out: WarpOutput, rows: int = 4) -> torch.Tensor:
    """A ``(3, H', W')`` grid in ``[0, 1]``, one row per sample:
    cloth | warped | aligned | target | person | flow | true flow (colour wheel, same scale; white = none)."""
    from vton.viz import flow_to_color
    from vton.warp.losses import cloth_targets

    region, true_cloth, _ = cloth_targets(batch)
    n = min(rows, len(batch))
    size = out.size

    def colours(flow: torch.Tensor | None) -> torch.Tensor:
        if flow is None:
            return torch.ones(n, 3, *size)
        flow = out.full_flow(size) if flow is out.flow else flow
        pics = [flow_to_color(f.detach().float().cpu().numpy(), size, max_pixels=0.15 * size[0]) for f in flow[:n]]
        return torch.stack([torch.from_numpy(p).permute(2, 0, 1).float() / 127.5 - 1 for p in pics])

    cols = [
        batch.cloth[:n],
        out.warped_cloth[:n],
        out.aligned_cloth[:n],
        true_cloth[:n] * region[:n] + (1 - region[:n]),
        batch.person[:n],
        colours(out.flow),
        colours(batch.gt_flow),
    ]
    grid = torch.cat([torch.cat(list(c.detach().float().cpu()), dim=1) for c in cols], dim=2)
    return grid.clamp(-1, 1).add(1).div(2)


def _check_size(size: Size, multiple: int) -> None:
    if size[0] % multiple or size[1] % multiple:
        raise InputError(f"--size must be divisible by {multiple} (the warp network's levels), got {size[0]}x{size[1]}")


# ----------------------------------------------------------------------------- the loop


def train_warp(config: WarpTrainConfig, progress: Progress | None = None) -> WarpTrainResult:
    """Train a `FlowWarpNet` as ``config`` says; return where the final model is and the last losses."""
    started = time.perf_counter()
    out_dir = Path(config.out)
    accelerator = make_accelerator(
        config.seed, mixed_precision=config.mixed_precision, cpu=config.cpu, log_dir=out_dir / "logs"
    )
    with training_run(accelerator):  # every process leaves the same way, on every path
        return _train_warp(accelerator, config, progress, started)


def _train_warp(accelerator, config: WarpTrainConfig, progress: Progress | None, started: float) -> WarpTrainResult:
    out_dir = Path(config.out)
    main = accelerator.is_main_process

    # 1. data
    from vton.data import TryOnDataset

    data = dataset = TryOnDataset(config.data, split="train", size=tuple(config.size))
    if config.cache and config.num_workers == 0:
        dataset = CachedDataset(dataset)
    if len(dataset) == 0:
        raise InputError(f"no training pairs found in {config.data}")
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=len(dataset) >= config.batch_size * accelerator.num_processes,
        collate_fn=collate,
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(config.seed),
    )

    # 2. model, optimizer, perceptual loss
    ckpt = latest_checkpoint(out_dir) if config.resume else None
    if ckpt is not None:  # the checkpoint's own config decides the architecture
        model = FlowWarpNet.from_config(FlowWarpNet.load_config(ckpt / MODEL_NAME))
        differs = {k: v for k, v in config.model.items() if model.config.get(k) != v}
        if differs:
            accelerator.print(f"resuming with the checkpoint's model config; ignored {differs}", file=sys.stderr)
    else:
        model = FlowWarpNet(**({"densepose_encoding": data.densepose_encoding.value} | config.model))
    if model.densepose_encoding is not data.reader.densepose_encoding:
        accelerator.print(f"the data's DensePose files are {data.reader.densepose_encoding.label} but the model takes "
                          f"{model.densepose_encoding.label}: it trains on that, built from the files' part indices")
    data.densepose_encoding = model.densepose_encoding  # the tensors it trains on; no item was read yet
    _check_size(tuple(config.size), model.multiple)
    # the size it learns at is the size it predicts at (also for checkpoints older than working_size)
    model.register_to_config(working_size=list(config.size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    vgg = None
    if config.vgg is not None:
        from vton.nn.vgg import VGGPerceptualLoss

        vgg = VGGPerceptualLoss.from_file(config.vgg).to(accelerator.device)

    # 3. resume (before prepare: the weights load into the plain module)
    step, rng = 0, {}
    if ckpt is not None:
        step, _ = load_checkpoint(ckpt, {MODEL_NAME: model}, optimizer)
        rng = load_rng(ckpt)  # where the data order was (checkpoints without it resume on a fresh order)
        accelerator.print(f"resumed from {ckpt} at step {step}", file=sys.stderr)
    elif config.resume:
        accelerator.print(f"no checkpoint in {out_dir / 'checkpoints'}; starting from scratch", file=sys.stderr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    if main:
        accelerator.init_trackers(
            "warp", config={k: str(v) for k, v in asdict(config).items()}
        )

    # 4. the loop
    per_epoch = max(len(loader), 1)
    epoch = step // per_epoch
    skip = step % per_epoch
    running: dict[str, float] = {}
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    count = 0
    model.train()
    if progress is not None and main:
        progress(step, config.steps, "")
    while step < config.steps:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        if rng:
            restore_epoch_rng(loader, rng)
            rng = {}
        epoch_start = epoch_rng(loader)  # with the step, all a resumed run needs to see the same batches
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        skip = 0
        for raw in epoch_loader:
            batch: TryOnBatch = raw.to(accelerator.device)
            with accelerator.autocast():
                out = _forward(model, batch)
                terms = warp_losses(out, batch, config.weights, vgg)
            loss = terms["total"]
            if not torch.isfinite(loss):
                raise RuntimeError(f"warp loss is {loss.item()} at step {step}: {({k: v.item() for k, v in terms.items()})}")
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if config.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1

            for k, v in terms.items():
                running[k] = running.get(k, 0.0) + float(v.detach())
            count += 1
            if step % config.log_every == 0 or step == config.steps:
                keys = sorted(running)
                mean = torch.tensor([running[k] / count for k in keys], device=accelerator.device)
                mean = accelerator.reduce(mean, reduction="mean")  # over processes
                last = dict(zip(keys, mean.tolist()))
                first = first or dict(last)
                running, count = {}, 0
                accelerator.log({f"loss/{k}": v for k, v in last.items()}, step=step)
            if main and (step % config.image_every == 0 or step == config.steps):
                _log_image(accelerator, "warp/cloth|warped|aligned|target|person|flow|true_flow", _image_grid(batch, out), step)
            if progress is not None and main:
                progress(step, config.steps, f"loss {loss.item():.4f}")
            if step % config.save_every == 0 or step == config.steps:
                save_checkpoint(
                    out_dir, step, {MODEL_NAME: model}, optimizer,
                    {"config": {k: str(v) for k, v in asdict(config).items()}, "losses": last},
                    accelerator=accelerator, rng=epoch_rng(loader) if step % per_epoch == 0 else epoch_start,
                )
            if step >= config.steps:
                break
        epoch += 1

    # 5. final export (the others wait for it: no process leaves while rank 0 still writes)
    finish_training(accelerator, model)
    final = export_final(out_dir / "final", accelerator.unwrap_model(model)) if main else None
    rendezvous(accelerator, "final export")
    return WarpTrainResult(final, step, last, first, time.perf_counter() - started, accelerator.num_processes)


def _log_image(accelerator, tag: str, image: torch.Tensor, step: int) -> None:
    try:
        writer = accelerator.get_tracker("tensorboard", unwrap=True)
    except (ValueError, KeyError):
        return
    if hasattr(writer, "add_image"):
        writer.add_image(tag, image, step)
