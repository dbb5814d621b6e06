"""``python -m vton``: the command line. argv is read here and nowhere else.

Each command lives beside its stage (``vton/<stage>/cli.py``) as a function
``run(args) -> int`` decorated with `command`, which attaches the function that
adds its arguments. Only the module of the command being run is imported, so
``--help`` is quick and one stage's import cost never taxes another's.

Every command turns bad input (`InputError`, a missing file or folder) into one
line ``error: ...`` on stderr and exit code 2, never a traceback. Arguments are
checked before any data or model is loaded, by the shared checks in
`vton.checks`. Under ``torchrun`` every process gets the same arguments, so a
bad one (a usage mistake, a `BadArgument`) is reported by rank 0 alone; the other
ranks exit 2 silently, after waiting (at most `SILENT_RANK_WAIT` seconds) for the
launcher to stop them once rank 0 has said it, so that it is always said once.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import time
from typing import Callable

from vton.checks import BadArgument
from vton.errors import InputError

EXIT_BAD_INPUT = 2
SILENT_RANK_WAIT = 30.0  # seconds a silent rank of a torchrun launch waits for the launcher to stop it

# (command path, one-line help, "module:function")
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("synth",), "write a synthetic VITON-HD-layout dataset with ground-truth flows", "vton.data.cli:synth"),
    (("preprocess",), "turn a person (and cloth) photo into every map the pipeline uses", "vton.preprocess.cli:preprocess"),
    (("tryon",), "run the whole chain on a person and a cloth photo", "vton.diffusion.cli:tryon"),
    (("train", "warp"), "train the flow warping network", "vton.warp.cli:train"),
    (("train", "vae"), "train a small AutoencoderKL from scratch", "vton.diffusion.cli:train_vae"),
    (("train", "unet"), "train the try-on UNet (two-branch loss)", "vton.diffusion.cli:train_unet"),
    (("eval", "warp"), "score a warper (or TPS / identity) on a test split, as JSON", "vton.warp.cli:evaluate"),
    (("eval", "vae"), "score VAE reconstructions on a test split, as JSON", "vton.diffusion.cli:eval_vae"),
    (("eval", "tryon"), "score full try-ons against ground truth, as JSON", "vton.diffusion.cli:eval_tryon"),
    (("generate",), "write the try-on of every pair of a split to a folder (resumable; torchrun splits the pairs)", "vton.diffusion.generate_cli:generate"),
    (("score",), "score a results folder: SSIM, PSNR; LPIPS, FID, KID with local weights (JSON; torchrun splits it)", "vton.diffusion.score_cli:score"),
    (("convert", "seed"), "write the seed's warper + UNet + sampler (with SD's VAE) as a pipeline folder", "vton.compat.cli:seed"),
    (("convert", "hrviton"), "write HR-VITON's condition generator (mtviton.pth) as a warper folder", "vton.compat.cli:hrviton"),
]


def command(add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Mark ``run(args) -> int`` as a CLI command whose arguments ``add_arguments`` declares."""

    def deco(run):
        run.add_arguments = add_arguments
        return run

    return deco


def _resolve(spec: str):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def reports_argument_errors() -> bool:
    """Whether this process reports a bad argument: rank 0 of a launch, or a process launched alone."""
    return os.environ.get("RANK", "0").strip() in ("", "0")


def _argument_error(message: str) -> int:
    """Report a bad argument once per launch (rank 0); return the exit code."""
    if reports_argument_errors():
        print(f"error: {message}", file=sys.stderr, flush=True)
    elif "TORCHELASTIC_RUN_ID" in os.environ:
        # torchrun stops every rank as soon as one exits: leaving at once could stop rank 0 before it has spoken
        try:
            time.sleep(SILENT_RANK_WAIT)
        except KeyboardInterrupt:
            pass
    return EXIT_BAD_INPUT


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one ``error: ...`` line (and exit 2) like every other bad input.

    The checks of `vton.checks` phrase their messages to follow the option's name, so argparse's
    ``argument --lr: must be ...`` is printed as ``--lr must be ...`` (and ``argument --x: ...`` as ``--x: ...``)."""

    def error(self, message: str):
        message = re.sub(r"^argument (--?[\w-]+): (?=must |is |needs )", r"\1 ", message)
        message = re.sub(r"^argument (--?[\w-]+): ", r"\1: ", message)
        raise SystemExit(_argument_error(f"{message} (see {self.prog} --help)"))


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser; only the command named in ``argv`` is imported to declare its arguments."""
    parser = _Parser(prog="python -m vton", description="vton: virtual try-on from scratch.")
    groups = {(): parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)}
    for path, help_text, spec in COMMANDS:
        for depth in range(1, len(path)):  # group commands such as "train"
            prefix = path[:depth]
            if prefix not in groups:
                p = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} ...")
                groups[prefix] = p.add_subparsers(dest="_".join(prefix), metavar="WHAT", required=True, parser_class=_Parser)
        leaf = groups[path[:-1]].add_parser(path[-1], help=help_text, description=help_text)
        leaf.set_defaults(_spec=spec)
        if list(path) == argv[: len(path)]:
            _resolve(spec).add_arguments(leaf)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names; return its exit code (2 for any bad argument, usage mistakes included)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # a usage mistake (said in one line) or --help
            return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
        if not hasattr(args, "_spec"):
            parser.print_help()
            return 0
        return int(_resolve(args._spec)(args) or 0)
    except BadArgument as e:
        return _argument_error(str(e))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
        name = f": {e.filename}" if getattr(e, "filename", None) else ""
        print(f"error: {e.strerror or e}{name}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
