"""``python -m vton generate``: one try-on per pair of a split, on one process or many (see `vton.diffusion.generate`).

Every argument is checked before a model is loaded. Under ``torchrun`` / ``accelerate launch`` each rank
writes its own share; only rank 0 shows the progress bar, writes ``run.json`` and prints the JSON summary.
Exit codes: 0 done, 2 bad input (one ``error: ...`` line), 1 another failure (a rank failed or fell
silent, a model error), 130 interrupted, 143 terminated (SIGTERM, as ``torchrun`` does to the other ranks
when one fails).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
import traceback
from pathlib import Path

from vton import checks
from vton.cli import command
from vton.errors import InputError
from vton.types import DEFAULT_SIZE

DEFAULT_WEIGHTS = Path("assets/weights")
HEARTBEAT_SECONDS = 2.0
_size = checks.size


def add_generate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=checks.existing_folder("data"), required=True, help="VITON-HD-layout folder")
    p.add_argument("--split", type=checks.split_name, default="test",
                   help="the split folder whose pairs list is generated (default test)")
    p.add_argument("--pairs", choices=("paired", "unpaired"), required=True,
                   help="paired: each person with its own cloth; unpaired: the cloth the pairs file lists")
    p.add_argument("--weights", type=checks.existing_folder("weights"), default=DEFAULT_WEIGHTS,
                   help=f"TryOnPipeline folder (default {DEFAULT_WEIGHTS})")
    p.add_argument("--out", type=checks.output_folder, required=True,
                   help="results folder: <person>_<cloth>.png per pair, run.json")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE, help="H x W of the results (default 256x192)")
    p.add_argument("--steps", type=checks.positive_int, default=None, help="DDIM steps (default: the model card's)")
    p.add_argument("--eta", type=checks.unit_interval, default=None, help="DDIM eta, 0..1 (default: the model card's)")
    p.add_argument("--strength", type=checks.strength, default=None, help="in (0, 1] (default: the model card's)")
    p.add_argument("--seed", type=checks.non_negative_int, default=0,
                   help="run seed; each pair's noise seed is derived from it and its names")
    p.add_argument("--batch-size", type=checks.positive_int, default=1,
                   help="pairs sampled as one batch, per process (default 1)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an OUT holding results of other settings, replacing them "
                        "(results already made with these settings are kept)")
    p.add_argument("--wait-timeout", type=checks.positive_float, default=600.0,
                   help="rank 0 gives up on a rank that shows no progress for this many seconds (default 600)")


# ----------------------------------------------------------------------------- checks before any model is loaded


def _check_weights_folder(folder: Path) -> int:
    """The folder looks like a pipeline folder; return its scheduler's number of training timesteps."""
    from vton.diffusion.generate import COMPONENTS

    if not folder.is_dir():
        raise checks.BadArgument(f"weights folder not found: {folder} (pass --weights FOLDER, a TryOnPipeline folder)")
    if not (folder / "model_index.json").is_file():
        raise checks.BadArgument(f"{folder} is not a try-on pipeline folder (no model_index.json)")
    missing = [c for c in COMPONENTS if not (folder / c).is_dir()]
    if missing:
        raise checks.BadArgument(f"pipeline folder {folder} lacks {', '.join(missing)}")
    try:
        config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
        return int(config.get("num_train_timesteps", 1000))
    except (OSError, ValueError, TypeError, AttributeError):
        return 1000


def _options(args: argparse.Namespace):
    """Validated `GenerateOptions`, with sampling settings the command line leaves out taken from the model card.
    The pipeline's configs say which sizes its models take (`vton.checks.pipeline_on_meta`: nothing loaded)."""
    from vton.diffusion.defaults import sampling_defaults
    from vton.diffusion.generate import GenerateOptions

    train_steps = _check_weights_folder(args.weights)
    pipe = checks.pipeline_on_meta("--weights", args.weights)
    checks.check_size("--size", args.size, pipe.size_multiple, f"the models in {args.weights}")
    checks.check_runs("--size", args.size, f"the models in {args.weights}", checks.pipeline_runs(pipe), pipe.size_multiple)
    d = sampling_defaults(args.weights)
    steps = d.steps if args.steps is None else args.steps
    strength = d.strength if args.strength is None else args.strength
    eta = d.eta if args.eta is None else args.eta
    checks.sampling(steps, strength, eta, train_steps)
    return GenerateOptions(pairs=args.pairs, split=args.split, size=args.size, steps=steps, eta=eta,
                           strength=strength, seed=args.seed, batch_size=args.batch_size)


def _device(shard) -> str:
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{shard.local_rank % torch.cuda.device_count()}"  # more processes than GPUs share them (run.json says so)


# ----------------------------------------------------------------------------- the command


def _terminate(signum, frame):  # SIGTERM -> unwind (temp files are removed), exit quietly
    raise SystemExit(128 + signum)


@command(add_generate_arguments)
def generate(args: argparse.Namespace) -> int:
    """Write one result per pair of the split (this process's share), then, on rank 0, run.json."""
    from vton.diffusion.generate import Shard

    shard = Shard.from_env()
    previous = signal.signal(signal.SIGTERM, _terminate) if _in_main_thread() else None
    try:
        return _generate(args, shard)
    except KeyboardInterrupt:
        if not shard.is_main:
            return 130  # rank 0 says "interrupted" once
        raise
    except InputError as e:
        if shard.world_size > 1 and not isinstance(e, checks.BadArgument):  # a bad argument: rank 0 says it, once
            raise InputError(f"{shard.label}: {e}") from None
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _generate(args: argparse.Namespace, shard) -> int:
    import torch

    from vton.diffusion import generate as g

    started_wall, t0 = g._now(), time.perf_counter()
    options = _options(args)
    reader = checks.check_dataset("--data", args.data, options.split, options.size, paired=options.pairs == "paired")
    jobs = g.make_jobs(reader.pairs, options.seed)
    with checks.early():  # the same on every rank: --out holds results of other settings, ...
        params = g.run_params(options, g.weights_fingerprints(args.weights))
        key = g.params_key(params)
        g.check_params(args.out, params, overwrite=args.overwrite)
    device = _device(shard)

    args.out.mkdir(parents=True, exist_ok=True)
    report = g.ShardReport(rank=shard.rank, world_size=shard.world_size, assigned=0, skipped=0, generated=0,
                           seconds=0.0, device=device, threads=torch.get_num_threads(), status="loading")
    g.write_part(args.out, key, report)  # replaces a part an earlier run left
    if shard.is_main:
        g.write_params(args.out, params, args.data)

    try:
        pipe = _load(args.weights, device, options)
        report.status = "running"
        g.write_part(args.out, key, report)
        report = g.generate(pipe, reader, args.out, options, key=key, shard=shard,
                            progress=_progress(args.out, key, report, shard))
    except BaseException as e:
        interrupted = isinstance(e, (KeyboardInterrupt, SystemExit))
        report.status = "interrupted" if interrupted else "failed"
        report.error = None if interrupted else (str(e) if isinstance(e, InputError) else f"{type(e).__name__}: {e}")
        g.write_part(args.out, key, report, traceback=None if interrupted else traceback.format_exc())
        if interrupted or isinstance(e, InputError):
            raise
        print(f"error: {shard.label + ': ' if shard.world_size > 1 else ''}{report.error}", file=sys.stderr)
        return 1
    report.status = "done"
    g.write_part(args.out, key, report)
    if not shard.is_main:
        return 0

    parts = [dataclasses.asdict(report)]
    if shard.world_size > 1:
        try:
            parts += g.wait_for_ranks(args.out, shard, key, jobs, timeout=args.wait_timeout)
        except g.RankFailed as e:
            if not e.reported:  # a failed rank printed its own one line; say nothing twice
                print(f"error: {e}", file=sys.stderr)
            return 1
    missing = g.pending_jobs(args.out, jobs, key)
    if missing:  # cannot happen unless files were removed meanwhile
        print(f"error: {len(missing)} results are missing at the end (e.g. {missing[0].name}); rerun to finish",
              file=sys.stderr)
        return 1
    run = g.write_run(args.out, params=params, options=options, weights=args.weights, data=args.data,
                      pairs_file=reader.pairs_file, jobs=jobs, reports=parts, started=started_wall,
                      seconds=time.perf_counter() - t0)
    print(json.dumps({"out": str(args.out), "pairs": len(jobs), **run["counts"], "processes": run["processes"],
                      "seconds": run["seconds"], "run": str(args.out / g.RUN_FILE)}, indent=2))
    return 0


def _load(weights: Path, device: str, options):
    from diffusers.utils import logging as diffusers_logging

    from vton.diffusion.pipeline import load_pipeline

    diffusers_logging.disable_progress_bar()  # our own bar is the one that matters
    pipe = load_pipeline(weights, device=device)
    m = pipe.size_multiple
    h, w = options.size
    if h % m or w % m:
        raise InputError(f"--size {h}x{w} must be divisible by {m} for the models in {weights}")
    return pipe


def _progress(out: Path, key: str, report, shard):
    """The library's progress callback: rank 0's tqdm bar (time left included) and every rank's heartbeat."""
    from vton.diffusion import generate as g

    bar = None
    if shard.is_main:
        from vton.train.common import tqdm_progress

        bar = tqdm_progress("generate" if shard.world_size == 1 else f"generate (rank 0's share of {shard.world_size})",
                            disable=not sys.stderr.isatty())
    last = 0.0

    def progress(done: int, total: int, message: str = "") -> None:
        nonlocal last
        if bar is not None:
            bar(done, total, message)
        now = time.monotonic()
        if now - last >= HEARTBEAT_SECONDS or done >= total:
            last = now
            report.generated = done
            g.write_part(out, key, report, pending=total - done)

    return progress
