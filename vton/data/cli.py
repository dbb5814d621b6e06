"""``python -m vton synth``: write a synthetic VITON-HD-layout dataset with ground-truth flows."""
from __future__ import annotations

import argparse
import time

from vton.cli import command
from vton.errors import InputError
from vton.types import parse_size


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="dataset root folder (created if missing)")
    p.add_argument("--n", type=int, default=100, help="number of samples (default 100)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed; sample i depends only on (seed, i, split)")
    p.add_argument("--size", default="256x192", help="H x W, e.g. 256x192 (default) or 512x384")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--grid", metavar="PNG", help="also write a contact sheet of the first (up to 8) samples here")


@command(add_arguments)
def synth(args: argparse.Namespace) -> int:
    try:
        size = parse_size(args.size)
    except ValueError as e:
        raise InputError(str(e)) from None
    if size[0] < 64 or size[1] < 48:
        raise InputError(f"size must be at least 64x48 (H x W), got {args.size}")
    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise InputError(f"--seed must be non-negative, got {args.seed}")
    if args.grid and not args.grid.lower().endswith(".png"):
        raise InputError(f"--grid must name a .png file, got {args.grid}")
    from tqdm import tqdm

    from vton.data.synth import write_dataset

    start = time.perf_counter()
    with tqdm(total=args.n, unit="pair", desc="synth") as bar:
        def progress(done: int, total: int, message: str) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(message)

        folder = write_dataset(args.out, args.n, args.seed, size, args.split, progress)
    elapsed = time.perf_counter() - start
    print(f"wrote {args.n} pairs to {folder} ({args.n / elapsed:.1f} pairs/s)")
    if args.grid:
        from vton.data.synth import generate_pair, item_seed, sample_name
        from vton.data.synth.sheet import contact_sheet
        from vton.io import atomic_save_image

        pairs = [generate_pair(item_seed(args.seed, i, args.split), size, sample_name(i)) for i in range(min(args.n, 8))]
        print(f"wrote {atomic_save_image(args.grid, contact_sheet(pairs))}")
    return 0
