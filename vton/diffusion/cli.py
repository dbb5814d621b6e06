"""``python -m vton tryon``, ``train vae``, ``train unet``, ``eval vae``, ``eval tryon``."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from vton import checks
from vton.cli import command
from vton.types import DEFAULT_SIZE

DEFAULT_WEIGHTS = Path("assets/weights")
_size = checks.size


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _bar(desc: str):
    from vton.train.common import tqdm_progress

    return tqdm_progress(desc, disable=not sys.stderr.isatty())


# ----------------------------------------------------------------------------- tryon


def add_tryon_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--person", type=checks.image_file("person photo"), required=True, help="person photo")
    p.add_argument("--cloth", type=checks.image_file("cloth photo"), required=True, help="in-shop garment photo")
    p.add_argument("--densepose", type=checks.image_file("DensePose image"), default=None,
                   help="DensePose image of the person instead of the pose-built one: IUV (PNG) or the dp_segm colour "
                        "render of VITON-HD's image-densepose (detected); the warper gets the encoding it was trained on")
    p.add_argument("--parser", type=checks.existing_folder("human parser"), default=None,
                   help="a transformers semantic-segmentation model folder (config.json + safetensors, e.g. a "
                        "SegFormer human parser) whose map replaces the geometric parse; labels mapped to CIHP by name")
    p.add_argument("--out", type=checks.output_file(*checks.IMAGE_SUFFIXES), required=True,
                   help="output image, .png or .jpg (several seeds: OUT-seed<S>.png beside it)")
    p.add_argument("--weights", type=checks.existing_folder("weights"), default=DEFAULT_WEIGHTS,
                   help=f"TryOnPipeline folder (default {DEFAULT_WEIGHTS})")
    p.add_argument("--warper", type=checks.existing_folder("warper"), default=None,
                   help="a warper folder replacing the pipeline's (e.g. HR-VITON's from `python -m vton convert hrviton`)")
    p.add_argument("--vae", type=checks.existing_folder("VAE"), default=None,
                   help="an AutoencoderKL folder replacing the pipeline's")
    p.add_argument("--unet", type=checks.existing_folder("UNet"), default=None, help="a UNet folder replacing the pipeline's")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE,
                   help="H x W to run at (default 256x192); a photo of another aspect is padded to it, and the "
                        "result cropped back")
    p.add_argument("--out-size", type=_size, default=None,
                   help="H x W of the written result (default: the person photo's own size)")
    p.add_argument("--steps", type=checks.positive_int, default=None, help="DDIM steps, 1..1000 (default: the model card's)")
    p.add_argument("--eta", type=checks.unit_interval, default=None,
                   help="DDIM eta: 0 deterministic .. 1 DDPM-like (default: the model card's)")
    p.add_argument("--strength", type=checks.strength, default=None,
                   help="in (0, 1]: how far from the composite to start (default: the model card's)")
    p.add_argument("--seed", type=checks.non_negative_int, nargs="+", default=[0],
                   help="one or more distinct seeds, run as one batch")
    p.add_argument("--save-stages", type=checks.output_folder, default=None,
                   help="folder to write every intermediate image and timings.json into")
    p.add_argument("--save-trajectory", type=checks.output_file(".safetensors"), default=None,
                   help="write x_t / x0 per step as .safetensors")


def _fill_sampling_defaults(args: argparse.Namespace) -> None:
    """Sampling settings not given on the command line come from the weights' model card."""
    from vton.diffusion.defaults import sampling_defaults

    d = sampling_defaults(args.weights)
    args.steps = d.steps if args.steps is None else args.steps
    args.strength = d.strength if args.strength is None else args.strength
    args.eta = d.eta if args.eta is None else args.eta


def _check_tryon(args: argparse.Namespace) -> None:
    """Everything about the arguments, before a model or a photo's preprocessing: the pipeline's configs (the sizes
    its models take, that its components fit), the sampler settings, the seeds."""
    if not args.weights.is_dir():
        raise checks.BadArgument(f"no weights at {args.weights}: pass --weights FOLDER (a TryOnPipeline folder from "
                                 "`python -m vton train unet`)")
    pipe = checks.pipeline_on_meta("--weights", args.weights, warper=args.warper, vae=args.vae, unet=args.unet)
    checks.check_size("--size", args.size, pipe.size_multiple, f"the models in {args.weights}")
    checks.check_runs("--size", args.size, f"the models in {args.weights}", checks.pipeline_runs(pipe), pipe.size_multiple)
    _fill_sampling_defaults(args)
    checks.sampling(args.steps, args.strength, args.eta, int(pipe.scheduler.config.num_train_timesteps))
    checks.distinct("--seed", list(args.seed))


@command(add_tryon_arguments)
def tryon(args: argparse.Namespace) -> int:
    """Preprocess both photos, warp, sample, write the result (and the stages when asked)."""
    from vton.io import atomic_save_image, load_image
    from vton.registry import assemble_pipeline
    from vton.preprocess import preprocess_cloth, preprocess_person

    _check_tryon(args)
    parser = None
    if args.parser is not None:
        from vton.preprocess.parser import load_parser

        parser = load_parser(args.parser, device=_device())
    pipe = assemble_pipeline(args.weights, warper=args.warper, vae=args.vae, unet=args.unet, device=_device())
    densepose = load_image(args.densepose) if args.densepose else None
    person = preprocess_person(load_image(args.person), densepose=densepose, parser=parser)
    cloth = preprocess_cloth(load_image(args.cloth))
    result = pipe(person, cloth, size=args.size, num_inference_steps=args.steps, eta=args.eta, strength=args.strength,
                  seeds=list(args.seed), record_trajectory=args.save_trajectory is not None or args.save_stages is not None,
                  progress=_bar("tryon"))
    outputs = [args.out] if len(args.seed) == 1 else [args.out.with_name(f"{args.out.stem}-seed{s}{args.out.suffix}") for s in args.seed]
    # the result in the photo's geometry: the padding to the working aspect cropped off, at the photo's size
    for path, image in zip(outputs, result.photo_images(args.out_size)):
        atomic_save_image(path, image)
    if args.save_trajectory is not None:
        result.trajectory.save(args.save_trajectory)
    if args.save_stages is not None:
        save_stages(args.save_stages, person, cloth, result, pipe.warper, out_size=args.out_size)
    print(json.dumps({"out": [str(p) for p in outputs], "timings": {k: round(v, 3) for k, v in result.timings.items()},
                      "notes": person.notes}, indent=2))
    return 0


def save_stages(folder: Path, person, cloth, result, warper=None, out_size=None) -> None:
    """Every intermediate picture of one try-on, plus ``timings.json``.

    The preprocessing maps are at the photo's size, the warp, composite and trajectory at the working
    size (what the models saw, padding included); the results ``17_result_seed<S>.png`` are final: in the
    photo's geometry (or ``out_size``), with ``17_result_seed<S>_working.png`` as the model made them."""
    from vton.io import atomic_save_image, atomic_save_json, atomic_save_label_png
    from vton.preprocess.densepose import colorize_iuv
    from vton.tensors import tensor_to_image, tensor_to_mask
    from vton.viz import flow_to_color

    folder.mkdir(parents=True, exist_ok=True)
    w = result.warp
    atomic_save_image(folder / "01_person.png", person.image)
    atomic_save_image(folder / "02_person_mask.png", person.person_mask)
    atomic_save_label_png(folder / "03_parse.png", person.parse)
    atomic_save_image(folder / "04_densepose.png", colorize_iuv(person.densepose))
    atomic_save_image(folder / "05_agnostic.png", person.agnostic)
    atomic_save_image(folder / "06_agnostic_mask.png", person.agnostic_mask)
    atomic_save_label_png(folder / "07_parse_agnostic.png", person.parse_agnostic)
    atomic_save_image(folder / "08_cloth.png", cloth.image)
    atomic_save_image(folder / "09_cloth_mask.png", cloth.mask)
    size = tuple(w.warped_cloth.shape[-2:])
    for k, flow in enumerate(w.flows):
        atomic_save_image(folder / f"10_flow_{k}.png", flow_to_color(flow[0].detach().cpu().numpy(), size))
    atomic_save_image(folder / "11_warped_cloth.png", tensor_to_image(w.warped_cloth[0]))
    atomic_save_image(folder / "12_warped_mask.png", tensor_to_mask(w.warped_mask[0]))
    atomic_save_image(folder / "13_aligned_cloth.png", tensor_to_image(w.aligned_cloth[0]))
    if w.seg_logits is not None:  # the seed's warper has no segmentation head
        atomic_save_label_png(folder / "14_warp_segmentation.png", _groups_to_cihp(w.seg_logits[0].argmax(0).cpu().numpy()))
    atomic_save_image(folder / "15_composite.png", result.composite)
    if result.trajectory is not None:
        traj = result.trajectory
        for i in sorted({0, len(traj) // 4, len(traj) // 2, 3 * len(traj) // 4, len(traj) - 1}):
            atomic_save_image(folder / f"16_step{i:04d}_t{traj.timesteps[i]:03d}_x0.png", traj.decode(i, "x0")[0])
    for seed, image, final in zip(result.seeds or [0], result.images, result.photo_images(out_size)):
        atomic_save_image(folder / f"17_result_seed{seed}.png", final)
        atomic_save_image(folder / f"17_result_seed{seed}_working.png", image)
    padding = getattr(result, "padding", None)
    geometry = None if padding is None else {"photo_hw": list(padding.photo_size), "working_hw": list(padding.size),
                                             "pad_top_bottom_left_right": list(padding.pad)}
    atomic_save_json(folder / "timings.json", {"timings": result.timings, "sources": {k: str(v.value) for k, v in person.sources.items()},
                                               "notes": person.notes, "padding": geometry})


def _groups_to_cihp(groups):
    """HR-VITON group indices -> one representative CIHP label each, so the CIHP palette colours them."""
    import numpy as np

    from vton.types import CIHP_TO_GROUP

    lut = np.zeros(13, np.uint8)
    for cihp, group in sorted(CIHP_TO_GROUP.items(), reverse=True):
        lut[int(group)] = int(cihp)
    return lut[groups.astype(np.int64)]


# ----------------------------------------------------------------------------- train


def _add_common_train(p: argparse.ArgumentParser, steps: int, batch: int, lr: float) -> None:
    p.add_argument("--data", type=checks.existing_folder("data"), required=True,
                   help="VITON-HD-layout folder (its train split is used)")
    p.add_argument("--out", type=checks.output_folder, required=True, help="folder for checkpoints/, logs/ and the final model")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE, help="H x W (default 256x192)")
    p.add_argument("--steps", type=checks.positive_int, default=steps, help=f"optimizer steps (default {steps})")
    p.add_argument("--batch-size", type=checks.positive_int, default=batch, help=f"per process (default {batch})")
    p.add_argument("--grad-accum", type=checks.positive_int, default=1, help="micro-batches per optimizer step (default 1)")
    p.add_argument("--lr", type=checks.learning_rate, default=lr, help=f"peak learning rate (default {lr:g})")
    p.add_argument("--vgg", type=checks.weights_file("VGG19 weights"), default=None,
                   help="torchvision VGG19 weights file for the perceptual loss")
    p.add_argument("--vgg-weight", type=checks.non_negative_float, default=0.1)
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no", help="ignored on the CPU")
    p.add_argument("--save-every", type=checks.positive_int, default=250, help="checkpoint every N steps")
    p.add_argument("--log-every", type=checks.positive_int, default=10)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--seed", type=checks.non_negative_int, default=0)
    p.add_argument("--workers", type=checks.non_negative_int, default=0, help="DataLoader worker processes")


def _common_train_config(args: argparse.Namespace) -> dict:
    """Check the options every training command shares and return them as config fields."""
    checks.check_dataset("--data", args.data, "train", args.size)
    return dict(data=str(args.data), out=str(args.out), size=args.size, steps=args.steps, batch_size=args.batch_size,
                grad_accum=args.grad_accum, lr=args.lr, vgg=str(args.vgg) if args.vgg else None,
                vgg_weight=args.vgg_weight, mixed_precision=args.mixed_precision, checkpoint_every=args.save_every,
                log_every=args.log_every, resume=args.resume, seed=args.seed, num_workers=args.workers)


def add_train_vae_arguments(p: argparse.ArgumentParser) -> None:
    _add_common_train(p, steps=3000, batch=8, lr=1e-3)
    p.add_argument("--kl-weight", type=checks.non_negative_float, default=1e-6)
    p.add_argument("--model", type=checks.json_object, default={},
                   help="AutoencoderKL config overrides of small_vae_config as JSON, e.g. '{\"block_out_channels\": [8, 8, 8, 8]}'")
    p.add_argument("--crop", type=_size, default=(128, 96), metavar="HxW",
                   help="train on random crops of this size (default 128x96; the VAE is convolutional)")
    p.add_argument("--l1-weight", type=checks.non_negative_float, default=1.0)
    p.add_argument("--mse-weight", type=checks.non_negative_float, default=0.0,
                   help="weight of a mean-squared-error term (PSNR's own measure; e.g. 10 with --l1-weight 0)")
    p.add_argument("--colour-weight", type=checks.non_negative_float, default=0.0,
                   help="weight of the term asking latent channels 0-2 to hold each 8x8 cell's mean colour "
                        "(keeps the small VAE from losing colour; 1 in the embedded recipe)")
    p.add_argument("--init", type=checks.existing_folder("VAE"), default=None, help="start from this AutoencoderKL folder")
    p.add_argument("--decoder-only", action="store_true",
                   help="train only the decoder of --init, so its latents (and a UNet trained on them) stay the same")


def _training(run):
    """A training command run by every process: a failed peer is one ``error:`` line naming its rank, exit 1."""
    def wrapped(args: argparse.Namespace) -> int:
        from vton.train.common import training_command

        return training_command(run)(args)

    wrapped.__doc__ = run.__doc__
    return wrapped


def _check_train_vae(args: argparse.Namespace) -> None:
    """The VAE the run trains (built from its config on the meta device) takes ``--size`` and ``--crop``."""
    if args.decoder_only and args.init is None:
        raise checks.BadArgument("--decoder-only trains the decoder of a VAE to start from: pass --init FOLDER")
    if args.init is not None and args.model:
        raise checks.BadArgument("--model describes a new VAE; it cannot change the architecture of --init")
    if args.init is not None:
        vae = checks.model_on_meta("--init", args.init, "vae")
    else:
        from diffusers import AutoencoderKL

        from vton.diffusion.vae import check_vae_config, small_vae_config

        with checks.early("--model:"):  # f=8 and 4 latent channels, before building it
            check_vae_config(small_vae_config() | args.model, where="the VAE it describes")
        vae = checks.new_model_on_meta("--model", AutoencoderKL, args.model, base=small_vae_config())
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    checks.check_size("--size", args.size, factor, f"a VAE that downsamples by {factor}")
    checks.check_size("--crop", args.crop, factor, f"a VAE that downsamples by {factor}")
    crop = (min(args.crop[0], args.size[0]), min(args.crop[1], args.size[1]))  # what it trains on
    checks.check_runs("--crop", crop, "the VAE", checks.vae_runs(vae), factor)
    checks.check_runs("--size", args.size, "the VAE", checks.vae_runs(vae), factor)


@command(add_train_vae_arguments)
@_training
def train_vae(args: argparse.Namespace) -> int:
    """Train a small AutoencoderKL; prints the final folder (rank 0 only)."""
    from vton.diffusion.train_vae import TrainVAEConfig, train
    from vton.train.common import print_result

    _check_train_vae(args)
    cfg = TrainVAEConfig(**_common_train_config(args), kl_weight=args.kl_weight, vae=args.model, crop=args.crop,
                         init=str(args.init) if args.init else None, decoder_only=args.decoder_only,
                         l1_weight=args.l1_weight, mse_weight=args.mse_weight,
                         colour_weight=args.colour_weight)
    final = train(cfg, progress=_bar("train vae"))
    print_result({"final": str(final)})
    return 0


def add_train_unet_arguments(p: argparse.ArgumentParser) -> None:
    _add_common_train(p, steps=2000, batch=8, lr=2e-4)
    p.add_argument("--vae", type=checks.existing_folder("VAE"), required=True, help="AutoencoderKL folder (frozen)")
    p.add_argument("--warp", type=checks.existing_folder("warper"), default=None,
                   help="trained FlowWarpNet folder (needed for --composite warp)")
    p.add_argument("--composite", choices=("warp", "gt"), default="warp",
                   help="composite from the warper, or from the synthetic ground-truth warped cloth")
    p.add_argument("--x0-weight", type=checks.non_negative_float, default=1.0, help="weight of the decoded-x0 branch")
    p.add_argument("--ema", type=checks.decay, default=0.0, help="EMA decay of the weights (0 = off, e.g. 0.999)")
    p.add_argument("--cache-latents", choices=("auto", "yes", "no"), default="auto",
                   help="encode the fixed inputs once (auto: when the run sees the data more than once)")
    p.add_argument("--model", type=checks.json_object, default={}, help="TryOnUNet config overrides as JSON")
    p.add_argument("--x0-crop", type=_size, default=None, metavar="HxW",
                   help="decode only a random latent window of this size in the x0 branch (e.g. 8x6); default: all")
    p.add_argument("--init", type=checks.existing_folder("UNet"), default=None,
                   help="start from this TryOnUNet folder's weights (a fine-tune; its architecture is kept)")
    p.add_argument("--max-timestep", type=checks.positive_int, default=None,
                   help="draw training timesteps from [0, N) only (default: all 1000); the default sampler at "
                        "strength 0.5 visits t < 500")


def _check_train_unet(args: argparse.Namespace) -> None:
    """The UNet the run trains, the frozen VAE and the warper (their configs, on the meta device) fit together and
    take ``--size``."""
    if args.composite == "warp" and args.warp is None:
        raise checks.BadArgument("--composite warp needs --warp FOLDER (or use --composite gt on synthetic data)")
    from vton.diffusion.unet import TryOnUNet
    from vton.types import VAE_FACTOR

    vae = checks.model_on_meta("--vae", args.vae, "vae")
    if args.init is not None and args.model:
        raise checks.BadArgument("--model describes a new UNet; it cannot change the architecture of --init")
    if args.init is not None:
        unet = checks.model_on_meta("--init", args.init, "unet")
        if type(unet).__name__ != "TryOnUNet":
            raise checks.BadArgument(f"--init {args.init} holds a {type(unet).__name__}; training continues a TryOnUNet")
    else:
        unet = checks.new_model_on_meta("--model", TryOnUNet, args.model)
    if args.max_timestep is not None and args.max_timestep > 1000:
        raise checks.BadArgument(f"--max-timestep must be at most 1000 (the scheduler's training steps), got {args.max_timestep}")
    checks.check_unet_fits_vae("--model", unet, vae)
    multiple, models = VAE_FACTOR * unet.downsampling, f"the VAE (f={VAE_FACTOR}) and this UNet ({unet.downsampling}x down)"
    if args.warp is not None:
        warper = checks.model_on_meta("--warp", args.warp, "warper")
        if type(warper).__name__ != "FlowWarpNet":
            raise checks.BadArgument(f"--warp {args.warp} holds a {type(warper).__name__}; training needs a FlowWarpNet "
                                     "folder (from `python -m vton train warp`)")
        multiple, models = math.lcm(multiple, warper.multiple), models + f" and the warper ({warper.multiple})"
    checks.check_size("--size", args.size, multiple, models)
    runs = [checks.vae_runs(vae), checks.denoiser_runs(unet)] + ([checks.warper_runs(warper)] if args.warp else [])
    checks.check_runs("--size", args.size, models, lambda size: [r(size) for r in runs], multiple)


def _check_composite_data(args: argparse.Namespace) -> None:
    from vton.data.vitonhd import MAPS

    names = MAPS["gt_warped_cloth"].folders
    if args.composite == "gt" and not any((args.data / "train" / n).is_dir() for n in names):
        raise checks.BadArgument(f"--composite gt needs ground-truth warped cloth ({names[0]}/, synthetic data), "
                                 f"which {args.data} lacks; use --composite warp --warp FOLDER")


@command(add_train_unet_arguments)
@_training
def train_unet(args: argparse.Namespace) -> int:
    """Train the TryOnUNet (two-branch loss); prints the final folders (rank 0 only)."""
    from vton.diffusion.train_unet import TrainUNetConfig, train
    from vton.train.common import print_result

    _check_train_unet(args)
    common = _common_train_config(args)
    _check_composite_data(args)
    cfg = TrainUNetConfig(**common, vae=str(args.vae), warp=str(args.warp) if args.warp else None,
                          composite=args.composite, x0_weight=args.x0_weight, ema_decay=args.ema,
                          cache_latents=args.cache_latents, unet=args.model, x0_crop=args.x0_crop,
                          init=str(args.init) if args.init else None, max_timestep=args.max_timestep)
    final = train(cfg, progress=_bar("train unet"))
    pipeline = Path(args.out) / "pipeline"
    print_result({"unet": str(final), "pipeline": str(pipeline) if pipeline.is_dir() else None})
    return 0


# ----------------------------------------------------------------------------- eval


def add_eval_vae_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=checks.existing_folder("data"), required=True, help="VITON-HD-layout folder")
    p.add_argument("--weights", type=checks.existing_folder("weights"), default=DEFAULT_WEIGHTS / "vae",
                   help=f"AutoencoderKL folder, or a pipeline folder holding vae/ (default {DEFAULT_WEIGHTS / 'vae'})")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE)
    p.add_argument("--split", type=checks.split_name, default="test")
    p.add_argument("--batch-size", type=checks.positive_int, default=8)
    p.add_argument("--limit", type=checks.positive_int, default=None, help="score only the first N images")


@command(add_eval_vae_arguments)
def eval_vae(args: argparse.Namespace) -> int:
    """Print VAE reconstruction PSNR/SSIM on the split's person images as JSON."""
    from vton.diffusion.evaluate import evaluate_vae

    vae = checks.model_on_meta("--weights", args.weights, "vae")
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    checks.check_size("--size", args.size, factor, f"a VAE that downsamples by {factor}")
    checks.check_runs("--size", args.size, f"the VAE in {args.weights}", checks.vae_runs(vae), factor)
    checks.check_dataset("--data", args.data, args.split, args.size)
    result = evaluate_vae(str(args.data), str(args.weights), size=args.size, split=args.split, batch_size=args.batch_size,
                          limit=args.limit, device=_device(), progress=_bar("eval vae"))
    print(json.dumps(result, indent=2))
    return 0


def add_eval_tryon_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=checks.existing_folder("data"), required=True, help="VITON-HD-layout folder (paired)")
    p.add_argument("--weights", type=checks.existing_folder("weights"), default=DEFAULT_WEIGHTS,
                   help=f"TryOnPipeline folder (default {DEFAULT_WEIGHTS})")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE)
    p.add_argument("--split", type=checks.split_name, default="test")
    p.add_argument("--steps", type=checks.positive_int, default=None, help="DDIM steps (default: the model card's)")
    p.add_argument("--eta", type=checks.unit_interval, default=None, help="DDIM eta in [0, 1] (default: the model card's)")
    p.add_argument("--strength", type=checks.strength, default=None, help="in (0, 1] (default: the model card's)")
    p.add_argument("--seed", type=checks.non_negative_int, default=0)
    p.add_argument("--limit", type=checks.positive_int, default=None, help="score only the first N pairs")
    p.add_argument("--per-sample", action="store_true", help="include every pair's scores")
    p.add_argument("--ceiling", action="store_true",
                   help="also score the ground truth through the VAE (pasted back as a try-on is): the most a UNet can reach")


@command(add_eval_tryon_arguments)
def eval_tryon(args: argparse.Namespace) -> int:
    """Print try-on SSIM/PSNR against the ground truth, beside the composite's, as JSON."""
    from vton.diffusion.evaluate import evaluate_tryon

    pipe = checks.pipeline_on_meta("--weights", args.weights)
    checks.check_size("--size", args.size, pipe.size_multiple, f"the models in {args.weights}")
    checks.check_runs("--size", args.size, f"the models in {args.weights}", checks.pipeline_runs(pipe), pipe.size_multiple)
    _fill_sampling_defaults(args)
    checks.sampling(args.steps, args.strength, args.eta, int(pipe.scheduler.config.num_train_timesteps))
    checks.check_dataset("--data", args.data, args.split, args.size)
    result = evaluate_tryon(str(args.data), str(args.weights), size=args.size, split=args.split, steps=args.steps,
                            eta=args.eta, strength=args.strength, seed=args.seed, limit=args.limit, device=_device(),
                            progress=_bar("eval tryon"), per_sample=args.per_sample, ceiling=args.ceiling)
    print(json.dumps(result, indent=2))
    return 0
