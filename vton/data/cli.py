"""``python -m vton synth``: write a synthetic VITON-HD-layout dataset with ground-truth flows."""
from __future__ import annotations

import argparse
import time

from vton import checks
from vton.cli import command

MIN_SIZE = (64, 48)  # the smallest the synthetic body and garment are drawn at


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=checks.output_folder, help="dataset root folder (created if missing)")
    p.add_argument("--n", type=checks.positive_int, default=100, help="number of samples (default 100)")
    p.add_argument("--seed", type=checks.non_negative_int, default=0,
                   help="dataset seed; sample i depends only on (seed, i, split)")
    p.add_argument("--size", type=checks.size_at_least(MIN_SIZE), default=(256, 192),
                   help="H x W, at least 64x48, e.g. 256x192 (default) or 512x384")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--grid", metavar="PNG", type=checks.output_file(".png"),
                   help="also write a contact sheet of the first (up to 8) samples here")


@command(add_arguments)
def synth(args: argparse.Namespace) -> int:
    size = args.size
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
