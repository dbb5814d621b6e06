"""``python -m vton train warp`` and ``python -m vton eval warp``."""
from __future__ import annotations

import argparse
import json

from vton import checks
from vton.cli import command
from vton.types import DEFAULT_SIZE

_size = checks.size


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=checks.positive_int, default=None,
                   help="torch CPU threads per process (default: torch's choice; 1 is much faster on a busy machine)")


def _set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)


# ----------------------------------------------------------------------------- train


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=checks.existing_folder("data"), required=True,
                   help="VITON-HD-layout folder (its train split is used)")
    p.add_argument("--out", type=checks.output_folder, required=True, help="folder for checkpoints/, logs/ and final/")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE, help="H x W, divisible by 32 (default 256x192)")
    p.add_argument("--batch-size", type=checks.positive_int, default=4, help="per process (default 4)")
    p.add_argument("--steps", type=checks.positive_int, default=1000, help="optimizer steps in all (default 1000)")
    p.add_argument("--lr", type=checks.learning_rate, default=1e-3, help="peak learning rate (warm-up, cosine to lr/10)")
    p.add_argument("--vgg", type=checks.weights_file("VGG19 weights"), default=None,
                   help="torchvision VGG19 weights (.pth/.safetensors) for the perceptual loss")
    p.add_argument("--save-every", type=checks.positive_int, default=250, help="checkpoint every N steps (default 250)")
    p.add_argument("--log-every", type=checks.positive_int, default=10)
    p.add_argument("--image-every", type=checks.positive_int, default=100, help="TensorBoard image grid every N steps")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--seed", type=checks.non_negative_int, default=0)
    p.add_argument("--workers", type=checks.non_negative_int, default=0, help="DataLoader worker processes")
    p.add_argument("--no-cache", action="store_true", help="re-read every item each epoch instead of keeping it in memory")
    p.add_argument("--fold-weight", type=checks.non_negative_float, default=0.0,
                   help="weight of a hinge on the flow's Jacobian determinant (penalizes folds; default off)")
    p.add_argument("--base-channels", type=checks.positive_int, default=None,
                   help="FlowWarpNet first-level width (default 8: widths 8,16,32,64,64)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when CUDA is present")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    _add_threads(p)


@command(add_train_arguments)
def train(args: argparse.Namespace) -> int:
    """Train FlowWarpNet; prints the final folder and the last losses as JSON (rank 0 only)."""
    from vton.train.common import training_command

    return training_command(_train)(args)


def _check_train(args: argparse.Namespace, model: dict) -> None:
    """The network the run trains (built on the meta device; a resumed run's from its checkpoint's config) takes
    ``--size``, and the data's train split lists everything it needs."""
    from vton.warp.network import FlowWarpNet

    net = checks.new_model_on_meta("--base-channels", FlowWarpNet, model)
    where = "a FlowWarpNet"
    if args.resume:
        from vton.train.common import CHECKPOINTS, STEP_PREFIX
        from vton.warp.train import MODEL_NAME

        # the newest complete checkpoint, looked up without `latest_checkpoint`'s repairs (every rank runs this)
        done = sorted(p for p in (args.out / CHECKPOINTS).glob(f"{STEP_PREFIX}*") if (p / "state.json").is_file())
        if done:
            net, where = checks.model_on_meta("--resume", done[-1] / MODEL_NAME, "warper"), f"the network checkpointed in {done[-1]}"
    checks.check_size("--size", args.size, net.multiple, f"{where} ({net.num_levels} levels)")
    checks.check_runs("--size", args.size, where, checks.warper_runs(net), net.multiple)
    checks.check_dataset("--data", args.data, "train", args.size)


def _train(args: argparse.Namespace) -> int:
    from vton.train.common import print_result, tqdm_progress
    from vton.warp.losses import WarpLossWeights
    from vton.warp.train import WarpTrainConfig, train_warp

    model = {} if args.base_channels is None else {"base_channels": args.base_channels}
    _check_train(args, model)
    _set_threads(args)
    # The net only ever saw this size: larger inputs are predicted at it and warped at full resolution.
    model["working_size"] = list(args.size)
    config = WarpTrainConfig(
        data=args.data, out=args.out, size=args.size, batch_size=args.batch_size, steps=args.steps, lr=args.lr,
        vgg=args.vgg, save_every=args.save_every, log_every=args.log_every, image_every=args.image_every,
        resume=args.resume, seed=args.seed, num_workers=args.workers, cache=not args.no_cache, mixed_precision=args.mixed_precision,
        cpu=True if args.cpu else None, model=model, weights=WarpLossWeights(fold=args.fold_weight),
    )
    result = train_warp(config, progress=tqdm_progress("train warp"))
    print_result({"final": str(result.final), "step": result.step, "seconds": round(result.seconds, 1),
                  "processes": result.processes, "first_losses": result.first_losses, "losses": result.losses}, indent=2)
    return 0


# ----------------------------------------------------------------------------- eval


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=checks.existing_folder("data"), required=True, help="VITON-HD-layout folder")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--weights", type=checks.existing_folder("warper"),
                       help="a warper folder (config.json + safetensors): ours, or one from `python -m vton convert`")
    which.add_argument("--tps", action="store_true", help="the training-free TPS baseline")
    which.add_argument("--identity", action="store_true", help="no warp at all (the floor)")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE, help="H x W evaluation size (default 256x192)")
    p.add_argument("--split", type=checks.split_name, default="test")
    p.add_argument("--batch-size", type=checks.positive_int, default=4)
    p.add_argument("--limit", type=checks.positive_int, default=None, help="score only the first N pairs")
    p.add_argument("--per-sample", action="store_true", help="include every pair's scores in the JSON")
    _add_threads(p)


@command(add_eval_arguments)
def evaluate(args: argparse.Namespace) -> int:
    """Print the warper's scores on the split as JSON."""
    import torch

    from vton.train.common import tqdm_progress
    from vton.warp.evaluate import evaluate_warper
    from vton.registry import load_warper

    if args.weights:
        net = checks.model_on_meta("--weights", args.weights, "warper")
        checks.check_size("--size", args.size, net.multiple, f"the warper in {args.weights}")
        checks.check_runs("--size", args.size, f"the warper in {args.weights}", checks.warper_runs(net), net.multiple)
    checks.check_dataset("--data", args.data, args.split, args.size)
    _set_threads(args)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    warper = load_warper(args.weights, device=device) if args.weights else ("tps" if args.tps else "identity")
    result = evaluate_warper(
        args.data, warper, size=args.size, split=args.split, batch_size=args.batch_size, limit=args.limit,
        device=device, progress=tqdm_progress("eval warp"),
    )
    if not args.per_sample:
        result.pop("per_sample")
    if args.weights:
        from vton.registry import describe_origin

        result["weights"] = str(args.weights)
        result["model"] = {"class": type(warper).__name__, "origin": describe_origin(warper)}
    print(json.dumps(result, indent=2))
    return 0
