"""``python -m vton score``: SSIM / PSNR / LPIPS / FID / KID of a results folder, as JSON on stdout.

Every argument is checked (folders, files, the results against the pairs list) before any model
loads; bad input is one ``error:`` line and exit code 2. Under ``torchrun`` the images are split
over the processes (`vton.diffusion.score`) and rank 0 alone prints the JSON.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from vton import checks
from vton.cli import command
from vton.errors import InputError

_size = checks.size


def add_score_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=checks.existing_folder("results"), required=True,
                   help="results folder (what generate wrote)")
    p.add_argument("--data", type=checks.existing_folder("data"), default=None,
                   help="VITON-HD-layout folder (default: the one the results' params.json names)")
    p.add_argument("--split", type=checks.split_name, default=None,
                   help="split whose pairs list the results follow (default: params.json's, or test)")
    p.add_argument("--pairs", choices=("paired", "unpaired"), default=None,
                   help="paired: SSIM/PSNR/LPIPS against the person photo, and FID/KID; unpaired: FID/KID only "
                        "(default: the results' params.json)")
    p.add_argument("--lpips", type=Path, default=None, metavar="LIN.pth",
                   help="the lpips package's v0.1 linear layers (alex.pth or vgg.pth)")
    p.add_argument("--lpips-backbone", type=Path, default=None, metavar="BACKBONE.pth",
                   help="torchvision AlexNet (alexnet-owt-7be5be79.pth) or VGG16 (vgg16-397923af.pth) weights")
    p.add_argument("--inception", type=Path, default=None, metavar="pt_inception-2015-12-05-6726825d.pth",
                   help="pytorch-fid's Inception weights, for FID and KID")
    p.add_argument("--size", type=_size, default=None, help="compare at H x W (default: the results' own size)")
    p.add_argument("--batch-size", type=checks.positive_int, default=16,
                   help="images per network batch, per process (default 16)")
    p.add_argument("--kid-subsets", type=checks.positive_int, default=100, help="KID: number of random subsets (default 100)")
    p.add_argument("--kid-subset-size", type=checks.at_least(2), default=1000,
                   help="KID: images per subset, at most the smaller set (default 1000)")
    p.add_argument("--kid-seed", type=checks.non_negative_int, default=0, help="KID: seed of the subset draws (default 0)")
    p.add_argument("--per-pair", action="store_true", help="also list each pair's SSIM / PSNR / LPIPS (paired)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when present; LOCAL_RANK's GPU)")
    p.add_argument("--wait-timeout", type=checks.positive_float, default=600.0,
                   help="rank 0 gives up on a rank silent for this many seconds (default 600)")


def _file(path: Path | None, flag: str) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise InputError(f"{flag} file not found: {path}")
    with checks.early(flag):
        checks.weights_intact(path)
    return str(path)


def _plan(args: argparse.Namespace):
    """Validated `Plan` (nothing loaded but the folders' listings and image headers)."""
    from vton.diffusion.score import ResultsFolder, ScoreOptions, plan, resolve_mode

    if args.batch_size < 1:
        raise InputError(f"--batch-size must be positive, got {args.batch_size}")
    if args.kid_subsets < 1:
        raise InputError(f"--kid-subsets must be positive, got {args.kid_subsets}")
    if args.kid_subset_size < 2:
        raise InputError(f"--kid-subset-size must be at least 2, got {args.kid_subset_size}")
    if not args.wait_timeout > 0:
        raise InputError(f"--wait-timeout must be positive, got {args.wait_timeout}")
    if (args.lpips is None) != (args.lpips_backbone is None):
        raise InputError("--lpips and --lpips-backbone go together: the linear layers (alex.pth / vgg.pth) and the "
                         "torchvision backbone they sit on")
    lpips = (_file(args.lpips, "--lpips"), _file(args.lpips_backbone, "--lpips-backbone")) if args.lpips else None
    inception = _file(args.inception, "--inception")
    if args.split is not None and (not args.split or "/" in args.split or args.split in (".", "..")):
        raise InputError(f"--split must name a folder inside --data, got {args.split!r}")
    results = ResultsFolder.open(args.results)
    data = args.data if args.data is not None else (Path(results.data) if results.data else None)
    if data is None:
        raise InputError(f"{args.results} has no params.json naming its dataset: pass --data")
    if not data.is_dir():
        raise InputError(f"data folder not found: {data}" + ("" if args.data else f" (from {args.results}/params.json; pass --data)"))
    pairs, split = resolve_mode(results, args.pairs, args.split)
    options = ScoreOptions(pairs=pairs, split=split, size=args.size, batch_size=args.batch_size, lpips=lpips,
                           inception=inception, kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size,
                           kid_seed=args.kid_seed, per_pair=args.per_pair)
    return plan(results, data, options)


def _device(requested: str | None, shard) -> str:
    import torch

    if requested is not None:
        if not re.fullmatch(r"cpu|cuda(:\d+)?", requested):
            raise InputError(f"--device must be cpu, cuda or cuda:N, got {requested!r}")
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"--device {requested}: CUDA is not available here")
        return requested
    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{shard.local_rank % torch.cuda.device_count()}"


@command(add_score_arguments)
def score(args: argparse.Namespace) -> int:
    """Print the results folder's scores as JSON (rank 0)."""
    import time

    from vton.diffusion import score as s
    from vton.diffusion.generate import RankFailed, Shard

    t0 = time.perf_counter()
    shard = Shard.from_env()
    with checks.early():  # the same on every rank (the same files): rank 0 says it, once
        p = _plan(args)
        device = _device(args.device, shard)
        models = s.load_models(p.options, device)
    progress = None
    if shard.is_main and sys.stderr.isatty():
        from vton.train.common import tqdm_progress

        progress = tqdm_progress("score" if shard.world_size == 1 else f"score (rank 0's share of {shard.world_size})")
    try:
        out = s.score(p, models, shard=shard, progress=progress, wait_timeout=args.wait_timeout)
    except RankFailed as e:
        if not e.reported:
            print(f"error: {e}", file=sys.stderr)
        return 1
    except InputError as e:
        raise InputError(f"{shard.label}: {e}" if shard.world_size > 1 else str(e)) from None
    if out is None:
        return 0
    out.update(processes=shard.world_size, device=device, seconds=round(time.perf_counter() - t0, 2))
    print(json.dumps(out, indent=2, allow_nan=False))
    return 0
