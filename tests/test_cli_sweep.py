"""Every command refuses every bad argument in one line (issue 17): a sweep generated from the parsers.

For each command of `vton.cli.COMMANDS` the leaf parser is built (`vton.cli.build_parser`) and every
option of it (``parser._actions``) gets bad values of its kind, derived from the action: its ``type``
(probed: int, float, H x W size, JSON object, or a path), ``choices``, ``nargs`` and flags; the
option's name and help text say which range a number must be in (a learning rate, a strength, eta,
a decay, a weight, a timeout) and whether a path is an input folder, an input file (a photo, a weights
file), an output folder or an output file. A new option is swept without editing this file; one of a
kind the sweep cannot place fails `test_every_option_is_swept`.

Each case runs ``main(baseline + [bad option])`` in-process, where the baseline is a minimal valid
command line on tiny fixtures (built once per module), and checks: exit code 2, stderr exactly one
line, starting ``error:`` and naming the option or the value, no traceback, nothing written (the
case's folder is as it was), and the command's expensive work (data loading, model building,
training: stubbed out here) never reached. That the baselines themselves are valid, i.e. reach the
work, is checked too, so each case fails for its own bad value. A few cases run under
``torchrun --nproc_per_node 2``: one message, not one per rank. Valid but unusual values (the smallest
sizes, one step, batch size 1, one pair, paths with spaces and non-ASCII letters) run for real. The
library's entry points raise `InputError` naming the argument, the value and what would be accepted.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

import helpers
import numpy as np
import pytest

from vton import registry
from vton.cli import COMMANDS, build_parser, main
from vton.data import VitonHD
from vton.diffusion.pipeline import load_pipeline
from vton.errors import InputError
from vton.preprocess import Preprocessor, preprocess_cloth, preprocess_person

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

PATHS = [path for path, _, _ in COMMANDS]
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root reads files whatever their permissions

# A minimal valid command line per command ({name}: a fixture of `world`; {out}: a fresh folder of the case's own).
BASELINE: dict[tuple[str, ...], list[str]] = {
    ("synth",): ["--out", "{out}/data", "--n", "1", "--size", "64x48"],
    ("preprocess",): ["--person", "{person}", "--cloth", "{cloth}", "--out", "{out}/maps", "--quiet"],
    ("tryon",): ["--person", "{person}", "--cloth", "{cloth}", "--weights", "{pipe}", "--out", "{out}/result.png",
                 "--size", "128x96", "--steps", "2"],
    ("train", "warp"): ["--data", "{data}", "--out", "{out}/run", "--size", "128x96", "--steps", "1", "--batch-size", "1"],
    ("train", "vae"): ["--data", "{data}", "--out", "{out}/run", "--size", "128x96", "--steps", "1", "--batch-size", "1"],
    ("train", "unet"): ["--data", "{data}", "--vae", "{pipe}/vae", "--warp", "{pipe}/warper", "--out", "{out}/run",
                        "--size", "128x96", "--steps", "1", "--batch-size", "1"],
    ("eval", "warp"): ["--data", "{data}", "--weights", "{pipe}/warper", "--size", "128x96"],
    ("eval", "vae"): ["--data", "{data}", "--weights", "{pipe}/vae", "--size", "128x96"],
    ("eval", "tryon"): ["--data", "{data}", "--weights", "{pipe}", "--size", "128x96", "--steps", "2"],
    ("generate",): ["--data", "{data}", "--pairs", "paired", "--weights", "{pipe}", "--out", "{out}/results",
                    "--size", "128x96", "--steps", "2"],
    ("score",): ["--results", "{results}", "--data", "{data}", "--pairs", "paired", "--lpips", "{lpips}",
                 "--lpips-backbone", "{backbone}", "--inception", "{inception}"],
    ("convert", "seed"): ["--warper", "{seed_warper}", "--unet", "{seed_unet}", "--vae", "{pipe}/vae", "--out", "{out}/seed"],
    ("convert", "hrviton"): ["--tocg", "{tocg}", "--out", "{out}/hrviton"],
}

# Where each command's expensive work starts (data loading, model building or loading, training, writing):
# stubbed, so a bad value that slips through is caught the moment it would cost something.
WORK = [("vton.data.synth", "write_dataset"), ("vton.registry", "assemble_pipeline"), ("vton.registry", "load_warper"),
        ("vton.warp.train", "train_warp"), ("vton.diffusion.train_vae", "train"), ("vton.diffusion.train_unet", "train"),
        ("vton.warp.evaluate", "evaluate_warper"), ("vton.diffusion.evaluate", "evaluate_vae"),
        ("vton.diffusion.evaluate", "evaluate_tryon"), ("vton.diffusion.generate_cli", "_load"),
        ("vton.diffusion.score", "load_models"), ("vton.compat.seed", "convert_seed"),
        ("vton.compat.hrviton", "convert_hrviton")]

# Size options that take any size (within their own minimum); every other size option feeds a model and must be
# divisible by what that command's models need.
ANY_SIZE = {(("synth",), "size"): "32x24",  # below synth's 64x48
            (("score",), "size"): None, (("tryon",), "out_size"): None, (("train", "unet"), "x0_crop"): None}
ZERO_IS_VALID = ("seed", "workers")  # int options where 0 is fine (a seed; no worker processes)
AT_LEAST = {"kid_subset_size": 2}  # int options with a minimum above 1

# Rules that involve several options, by command: (what, extra argv, or a whole argv with "!" first).
EXTRA: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {
    ("preprocess",): [
        ("--cloth-mask without --cloth", ["!", "--person", "{person}", "--cloth-mask", "{cloth_mask}", "--out", "{out}/maps"]),
        ("a cloth mask of another size than the cloth", ["--cloth-mask", "{small_mask}"]),
        ("a parse map of another size than the photo", ["--parse", "{small_mask}"]),
    ],
    ("train", "vae"): [
        ("--model of another downsampling than f=8", ["--model", '{"block_out_channels": [8, 8]}']),
        ("--model whose norm groups do not divide its channels", ["--model", '{"norm_num_groups": 3}']),
        ("--model of a wrong type", ["--model", '{"layers_per_block": "two"}']),
        ("--decoder-only without --init", ["--decoder-only"]),
        ("--init with --model", ["--init", "{pipe}/vae", "--model", '{"layers_per_block": 2}']),
        ("--crop not divisible by 8", ["--crop", "60x44"]),
    ],
    ("train", "unet"): [
        ("--model with one attention flag per level missing", ["--model", '{"block_channels": [16, 32], "attention_levels": [false]}']),
        ("--model that does not fit the VAE", ["--model", '{"in_channels": 5}']),
        ("--size not divisible by a deeper --model", ["--model", '{"block_channels": [8, 8, 8, 8], '
                                                       '"attention_levels": [false, false, false, false]}', "--size", "128x96"]),
        ("--composite warp without --warp", ["!", "--data", "{data}", "--vae", "{pipe}/vae", "--out", "{out}/run",
                                             "--composite", "warp"]),
        ("--composite gt on data without ground truth", ["--composite", "gt", "--data", "{data_no_truth}"]),
        ("--warp that is not a FlowWarpNet", ["--warp", "{pipe}/unet"]),
        ("--init with --model", ["--init", "{pipe}/unet", "--model", '{"heads": 2}']),
        ("--init that holds no UNet", ["--init", "{pipe}/vae"]),
        ("--max-timestep above the scheduler's 1000", ["--max-timestep", "1001"]),
    ],
    ("train", "warp"): [("--size divisible but too small for a narrow network", ["--base-channels", "1", "--size", "32x32"])],
    ("eval", "warp"): [("--weights with --tps", ["--tps"])],
    ("tryon",): [("--unet that does not fit the pipeline's VAE", ["--unet", "{unet_5ch}"]),
                 ("--size divisible but too small for the UNet", ["--size", "{too_small}"])],
    ("eval", "tryon"): [("--size divisible but too small for the UNet", ["--size", "{too_small}"])],
    ("score",): [("--lpips without --lpips-backbone", ["!", "--results", "{results}", "--data", "{data}",
                                                       "--pairs", "paired", "--lpips", "{lpips}"])],
    ("generate",): [("a --split the data lacks", ["--split", "nosuch"]),
                    ("--size divisible but too small for the UNet", ["--size", "{too_small}"])],
}


class ReachedWork(BaseException):
    """A stubbed expensive step was reached (BaseException: no command's ``except Exception`` swallows it)."""


# ----------------------------------------------------------------------------- walking the parsers


def leaf_parser(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser(list(path))
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def options(path: tuple[str, ...]) -> list[argparse.Action]:
    return [a for a in leaf_parser(path)._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def value_kind(action: argparse.Action) -> str:
    """flag, choice, text, int, float, size, json or path: what the action's ``type`` gives back, probed."""
    if action.nargs == 0:
        return "flag"
    if action.choices is not None:
        return "choice"
    if action.type in (None, str):
        return "text"
    for probe, kind, ok in (("64x48", "size", lambda v: isinstance(v, tuple)),
                            ("7", "int", lambda v: type(v) is int),
                            ("0.5", "float", lambda v: type(v) is float),
                            ("{}", "json", lambda v: isinstance(v, dict))):
        try:
            if ok(action.type(probe)):
                return kind
        except Exception:
            pass
    return "path"


def text_of(action: argparse.Action) -> str:
    return f"{action.help or ''} {action.metavar or ''}".lower()


def path_role(action: argparse.Action) -> str:
    """input-folder, input-file, output-folder or output-file, from the option's name and help text."""
    h = text_of(action)
    output = action.dest == "out" or action.dest.startswith("save_") or "write" in h
    return ("output-" if output else "input-") + ("folder" if "folder" in h else "file")


def bad_values(path: tuple[str, ...], action: argparse.Action) -> list[tuple[str, list[str]]]:
    """``[(label, argv to append), ...]`` for one option."""
    flag, dest, h, kind = action.option_strings[-1], action.dest, text_of(action), value_kind(action)
    if kind == "flag":
        return [("a value given to a flag", [f"{flag}=yes"])]
    if kind == "choice":
        first = str(list(action.choices)[0])
        return [(repr(v), [f"{flag}={v}"]) for v in ("bogus", "", first.upper() if first.upper() != first else first + "x")]
    if action.nargs == "+":
        cases = [("no value", [flag])]
        if kind == "int":
            cases += [("one bad value among good ones", [flag, "0", "-1"]), ("one value twice", [flag, "1", "1"]),
                      ("a non-number among numbers", [flag, "0", "x"])]
        return cases
    values: list[str] = []
    if kind == "int":
        values = ["abc", "1.5", "", "1e3"]
        values += ["-1"] if any(k in dest for k in ZERO_IS_VALID) else ["0", "-1"]
        if dest in AT_LEAST:
            values.append(str(AT_LEAST[dest] - 1))
        if "ddim" in h:
            values.append("1001")  # sampling steps: at most the scheduler's 1000 timesteps
    elif kind == "float":
        values = ["abc", "nan", "inf", "-inf", ""]
        if dest == "lr" or "learning rate" in h:
            values += ["0", "-1", "2"]
        elif "strength" in dest:
            values += ["0", "-0.5", "1.5"]
        elif dest == "eta":
            values += ["-0.1", "1.5"]
        elif dest == "ema" or "decay" in h:
            values += ["-0.1", "1", "1.5"]
        elif "timeout" in dest:
            values += ["0", "-5"]
        else:  # loss weights and anything new: never negative
            values += ["-1"]
    elif kind == "size":
        values = ["abc", "64", "64x", "x48", "0x48", "64x0", "-64x48", "64x-48", "64.5x48", "", "64x48x3", "99999x64"]
        if (path, dest) in ANY_SIZE:
            values += [ANY_SIZE[path, dest]] if ANY_SIZE[path, dest] else []
        else:
            values += ["100x76", "{indivisible}"]  # not divisible by 8; by 8 but not by the command's models' multiple
    elif kind == "json":
        values = ["{", "[1, 2]", '"text"', "", '{"no_such_key": 1}']
    elif kind == "text":
        values = [""]
        if "split" in dest:
            values += ["../test", "a/b", ".", "nosuch"]
        if "device" in dest:
            values += ["tpu", "cuda:x", "cpu0"]
    elif kind == "path":
        role = path_role(action)
        values = [""]
        if role.startswith("input"):
            values += ["{missing}", "{missing_in_missing}"]
        if role == "input-folder":
            values += ["{a_file}", "{empty_dir}", "{unrelated_dir}"]
            if "viton-hd" in h:
                values += ["{data_no_split}", "{data_bad_pairs}", "{data_missing_file}"]
            elif any(k in h or k in dest for k in ("weights", "autoencoderkl", "warper", "unet", "pipeline", "vae")):
                values += ["{model_bad_json}", "{model_unknown_class}", "{model_truncated}", "{model_no_weights}", "{data}"]
        elif role == "input-file":
            values += ["{empty_dir}", "{empty_file}"] + ([] if AS_ROOT else ["{unreadable}"])
            if any(k in h for k in ("photo", "image", "mask", "png", "densepose")):
                values += ["{truncated_png}", "{text_as_png}"]
            if any(k in h for k in ("weights", "checkpoint", ".pth")):
                values += ["{truncated_pth}", "{truncated_safetensors}", "{text_as_pth}"]
        elif role == "output-folder":
            values += ["{case_file}", "{under_a_file}"]
            if "must not exist or be empty" in h:
                values.append("{case_full}")
        elif role == "output-file":
            values += ["{case_dir}", "{under_a_file}"]
            if any(k in h for k in ("image", "png", ".safetensors")):
                values.append("{case_txt}")
    return [(repr(v), [f"{flag}={v}"]) for v in values]


def all_cases() -> list[tuple[tuple[str, ...], str, str, list[str]]]:
    out = []
    for path in PATHS:
        for action in options(path):
            for label, argv in bad_values(path, action):
                out.append((path, action.option_strings[-1], label, argv))
        for label, argv in EXTRA.get(path, []):
            out.append((path, "", label, argv))
    return out


CASES = all_cases()


def case_id(case) -> str:
    path, flag, label, _ = case
    return f"{' '.join(path)} {flag} {label}".replace(" ", "_")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tiny valid inputs of every kind (a dataset with train and test splits of 2 pairs at 128x96, a random-weight
    pipeline, photos, a results folder, weights files) and bad ones (missing, empty, truncated, of the wrong kind)."""
    import torch
    from safetensors.torch import save_file

    from lab.fixtures import write_tiny_pipeline
    from vton.data import write_dataset
    from vton.io import atomic_save_image, load_image
    from vton.warp import FlowWarpNet

    root = tmp_path_factory.mktemp("sweep")
    w: dict = {"root": root}
    data = root / "data"
    for split in ("train", "test"):
        write_dataset(data, n=2, seed=0, size=(128, 96), split=split)
    w["data"] = data
    w["pipe"] = write_tiny_pipeline(root / "pipe")
    test = data / "test"
    w["person"] = atomic_save_image(root / "person.png", load_image(test / "image" / "000001_00.jpg"))
    w["cloth"] = atomic_save_image(root / "cloth.png", load_image(test / "cloth" / "000001_00.jpg"))
    w["cloth_mask"] = shutil.copy(next((test / "cloth-mask").iterdir()), root / "cloth_mask.png")
    w["small_mask"] = atomic_save_image(root / "small_mask.png", np.ones((32, 24), np.uint8))
    results = root / "results"
    for line in (data / "test_pairs.txt").read_text().split("\n"):
        if line.strip():
            person, cloth = line.split()
            atomic_save_image(results / f"{Path(person).stem}_{Path(cloth).stem}.png", load_image(test / "image" / person))
    w["results"] = results
    weights = root / "weights"
    weights.mkdir()
    for name in ("lpips", "backbone", "inception", "tocg", "seed_warper", "seed_unet"):
        w[name] = weights / f"{name}.pth"
        torch.save({"w": torch.zeros(2048)}, w[name])

    # bad inputs
    w["missing"] = root / "no such thing"
    w["missing_in_missing"] = root / "no such folder" / "nor file.png"
    w["a_file"] = root / "notes.txt"
    w["a_file"].write_text("not what you think\n")
    w["empty_dir"] = root / "empty"
    w["empty_dir"].mkdir()
    w["unrelated_dir"] = root / "unrelated"
    w["unrelated_dir"].mkdir()
    (w["unrelated_dir"] / "readme.txt").write_text("hello\n")
    w["empty_file"] = root / "empty.png"
    w["empty_file"].write_bytes(b"")
    w["unreadable"] = root / "unreadable.png"
    shutil.copy(w["person"], w["unreadable"])
    w["unreadable"].chmod(0)
    png = Path(w["person"]).read_bytes()
    w["truncated_png"] = root / "truncated.png"
    w["truncated_png"].write_bytes(png[: len(png) // 2])
    w["text_as_png"] = root / "text.png"
    w["text_as_png"].write_text("this is text, not a PNG\n")
    pth = Path(w["tocg"]).read_bytes()
    w["truncated_pth"] = root / "truncated.pth"
    w["truncated_pth"].write_bytes(pth[: len(pth) // 2])
    save_file({"w": torch.zeros(4096)}, str(root / "whole.safetensors"))
    st = (root / "whole.safetensors").read_bytes()
    w["truncated_safetensors"] = root / "truncated.safetensors"
    w["truncated_safetensors"].write_bytes(st[: len(st) // 2])
    w["text_as_pth"] = root / "text.pth"
    w["text_as_pth"].write_text("this is text, not a checkpoint\n")
    for name, change in (("model_bad_json", lambda d: (d / "config.json").write_text("{not json")),
                         ("model_unknown_class", lambda d: (d / "config.json").write_text('{"_class_name": "Bogus"}')),
                         ("model_no_weights", lambda d: [p.unlink() for p in d.glob("*.safetensors")])):
        w[name] = Path(shutil.copytree(w["pipe"] / "warper", root / name))
        change(w[name])
    w["model_truncated"] = Path(shutil.copytree(w["pipe"] / "unet", root / "model_truncated"))
    for p in w["model_truncated"].glob("*.safetensors"):
        p.write_bytes(p.read_bytes()[:1000])
    from vton.diffusion.unet import TryOnUNet

    config = {k: v for k, v in json.loads((w["pipe"] / "unet" / "config.json").read_text()).items() if not k.startswith("_")}
    TryOnUNet(**(config | {"in_channels": 5})).save_pretrained(root / "unet_5ch")  # whole, and of another kind
    w["unet_5ch"] = root / "unet_5ch"
    w["data_no_split"] = w["unrelated_dir"]
    w["data_bad_pairs"] = Path(shutil.copytree(data, root / "data_bad_pairs"))
    for split in ("train", "test"):
        (w["data_bad_pairs"] / f"{split}_pairs.txt").write_text("000001_00.jpg 000001_00.jpg extra\n")
        (w["data_bad_pairs"] / split / f"{split}_pairs.txt").unlink(missing_ok=True)
    w["data_missing_file"] = Path(shutil.copytree(data, root / "data_missing_file"))
    for split in ("train", "test"):
        next((w["data_missing_file"] / split / "cloth").iterdir()).unlink()
    w["data_no_truth"] = Path(shutil.copytree(data, root / "data_no_truth"))
    for split in ("train", "test"):
        for folder in ("gt-flow", "gt-warped-cloth", "gt-warped-mask"):
            shutil.rmtree(w["data_no_truth"] / split / folder)

    # what the models of each command need (from the models themselves, not from the checks under test)
    pipe = load_pipeline(w["pipe"])
    from vton.types import VAE_FACTOR

    w["multiple"] = {("tryon",): pipe.size_multiple, ("eval", "tryon"): pipe.size_multiple,
                     ("generate",): pipe.size_multiple, ("eval", "warp"): pipe.warper.multiple,
                     ("train", "warp"): FlowWarpNet().multiple, ("train", "vae"): VAE_FACTOR, ("eval", "vae"): VAE_FACTOR,
                     ("train", "unet"): math.lcm(VAE_FACTOR * TryOnUNet().downsampling, pipe.warper.multiple)}
    # the tiny pipeline's UNet cannot run at one multiple (its coarsest level would be 1x1, normalised over one
    # value): a size that is divisible and still too small; checked on the real model, so the case stays honest
    side = pipe.size_multiple
    with torch.no_grad(), pytest.raises(ValueError, match="more than 1 value"):
        pipe.unet(torch.zeros(1, 9, side // VAE_FACTOR, side // VAE_FACTOR), torch.zeros(1, dtype=torch.long))
    w["too_small"] = f"{side}x{side}"
    w["snapshot"] = snapshot(root)
    yield w
    w["unreadable"].chmod(0o644)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``: (size, mtime)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = (st.st_size if p.is_file() else -1, st.st_mtime_ns)
    return out


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def reached(monkeypatch):
    """Stub every command's expensive work; the list says which were reached."""
    from vton.preprocess.pipeline import Preprocessor

    hits: list[str] = []

    def stub(name):
        def work(*args, **kwargs):
            hits.append(name)
            raise ReachedWork(name)

        return work

    for module, attr in WORK:
        monkeypatch.setattr(importlib.import_module(module), attr, stub(f"{module}.{attr}"))
    monkeypatch.setattr(Preprocessor, "detectors", property(stub("MediaPipe models")))
    return hits


def resolve(argv: list[str], w: dict, case_dir: Path, path: tuple[str, ...]) -> list[str]:
    m = w["multiple"].get(path, 8)
    names = {k: str(v) for k, v in w.items() if isinstance(v, (str, Path))}
    names |= {"out": str(case_dir / "out"), "case_file": str(case_dir / "taken.txt"), "case_full": str(case_dir / "full"),
              "case_dir": str(case_dir / "a folder"), "case_txt": str(case_dir / "out" / "result.txt"),
              "under_a_file": str(case_dir / "taken.txt" / "inside"), "indivisible": f"{4 * m + m // 2}x{3 * m + m // 2}",
              "too_small": w["too_small"]}
    return [re.sub(r"\{(\w+)\}", lambda mt: names.get(mt.group(1), mt.group(0)), a) for a in argv]


def prepare_case_dir(case_dir: Path) -> None:
    (case_dir / "taken.txt").write_text("a file already here\n")
    (case_dir / "full").mkdir()
    (case_dir / "full" / "kept.txt").write_text("a folder already holding something\n")
    (case_dir / "a folder").mkdir()


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's usage errors
        return e.code


def command_line(case, w, case_dir) -> list[str]:
    path, _, _, extra = case
    if extra[:1] == ["!"]:
        return [*path, *resolve(extra[1:], w, case_dir, path)]
    return [*path, *resolve(BASELINE[path], w, case_dir, path), *resolve(extra, w, case_dir, path)]


# ----------------------------------------------------------------------------- the sweep


def test_every_option_is_swept():
    """Every option of every command gets bad values, every command has a baseline, and no path option is left
    unclassified (a new kind of option has to be taught to the sweep, not skipped)."""
    assert sorted(BASELINE) == sorted(PATHS)
    for path in PATHS:
        for action in options(path):
            cases = bad_values(path, action)
            assert cases, f"{' '.join(path)} {action.option_strings}: no bad values derived"
            if value_kind(action) == "text" and action.dest not in ("split", "device"):
                pytest.fail(f"{' '.join(path)} {action.option_strings[-1]} takes free text: give it a type= check from "
                            "vton.checks so the sweep knows its kind")
    assert len(CASES) > 400, len(CASES)


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_the_baseline_is_valid_and_reaches_the_work(path, world, reached, tmp_path, capsys):
    """Each case adds one bad value to this command line; it must itself pass every check."""
    prepare_case_dir(tmp_path)
    argv = [*path, *resolve(BASELINE[path], world, tmp_path, path)]
    try:
        rc = run_main(argv)
    except ReachedWork:
        rc = None
    err = capsys.readouterr().err
    assert reached, f"{' '.join(argv)} stopped before its work (rc {rc}): {err}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_a_bad_argument_is_one_line_before_any_work(case, world, reached, tmp_path, capsys):
    path, flag, label, extra = case
    prepare_case_dir(tmp_path)
    before = snapshot(tmp_path)
    argv = command_line(case, world, tmp_path)
    try:
        rc = run_main(argv)
    except ReachedWork:
        pytest.fail(f"{' '.join(argv)}: the bad value reached the command's work ({reached})")
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert rc == 2, (rc, captured.err)
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    value = extra[-1].split("=", 1)[-1] if extra else ""
    value = resolve([value], world, tmp_path, path)[0]
    if flag:
        named = flag in lines[0] or (len(value) >= 3 and value in lines[0])
        assert named, f"the message names neither {flag} nor {value!r}: {lines[0]}"
    assert snapshot(tmp_path) == before, "something was written"
    assert not reached


def test_the_fixtures_were_left_as_they_were(world):
    assert snapshot(world["root"]) == world["snapshot"]


# ----------------------------------------------------------------------------- several processes


TORCHRUN_CASES = [
    ("an option's type (argparse)", ["train", "warp", "--data", "{data}", "--out", "{out}/run", "--lr=-1"]),
    ("a size the model cannot take (an early check)", ["train", "warp", "--data", "{data}", "--out", "{out}/run",
                                                       "--size", "64x48"]),
    ("a size the VAE cannot take", ["train", "vae", "--data", "{data}", "--out", "{out}/run", "--size", "60x44"]),
    ("generate, which labels each rank's errors", ["generate", "--data", "{data}", "--pairs", "paired",
                                                   "--weights", "{pipe}", "--out", "{out}/results", "--size", "64x48"]),
]


@pytest.mark.parametrize("argv", [c[1] for c in TORCHRUN_CASES], ids=[c[0] for c in TORCHRUN_CASES])
def test_under_torchrun_a_bad_argument_is_said_once(argv, world, tmp_path):
    prepare_case_dir(tmp_path)
    before = snapshot(tmp_path)
    res = helpers.torchrun(*resolve(argv, world, tmp_path, ()), nproc=2, timeout=240)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr[-4000:]
    # rank 0 left with exit code 2 (torchrun's own summary; rank 1 waited to be stopped)
    assert re.search(r"rank\s*:\s*0 \(local_rank: 0\)\s*\n\s*exitcode\s*:\s*2\b", res.stderr), res.stderr[-4000:]
    ours = [line for line in res.stderr.splitlines() if line.strip().startswith("File ") and "/vton/" in line]
    assert not ours, ours  # torchrun prints a traceback of its own; none of our code's
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- valid but unusual


@pytest.fixture(scope="module")
def odd_place(tmp_path_factory):
    """A folder whose path has spaces and non-ASCII letters, with a one-pair dataset (train and test) in it."""
    from vton.data import write_dataset

    place = tmp_path_factory.mktemp("odd") / "dößier mit Leerzeichen" / "データ ç"
    for split in ("train", "test"):
        write_dataset(place / "one pair", n=1, seed=3, size=(64, 48), split=split)
    return place


def smallest_accepted(argv: list[str], multiple: int, scratch: Path) -> tuple[int, int]:
    """The smallest ``--size`` (multiples of ``multiple``, by area) that the command's checks accept, found with its
    work stubbed out (``{out}`` in ``argv``: a folder under ``scratch``, one per try)."""
    sizes = sorted(((multiple * i, multiple * j) for i in range(1, 5) for j in range(1, 5)), key=lambda s: (s[0] * s[1], -s[0]))
    hits = []

    def work(*args, **kwargs):
        hits.append(1)
        raise ReachedWork()

    with pytest.MonkeyPatch.context() as mp:
        for module, attr in WORK:
            mp.setattr(importlib.import_module(module), attr, work)
        for h, w in sizes:
            try:
                run_main([a.replace("{out}", str(scratch / f"{h}x{w}")) for a in argv] + ["--size", f"{h}x{w}"])
            except ReachedWork:
                pass
            if hits:
                return h, w
    raise AssertionError(f"{' '.join(argv)}: no size up to {4 * multiple}x{4 * multiple} is accepted")


def test_unusual_but_valid_values_work(world, odd_place, capsys):
    """The smallest sizes the checks accept, one step, batch size 1, one pair, paths with spaces and non-ASCII
    letters: each command runs to the end (what the checks let through, the models can do)."""
    import torch

    from vton.io import load_image

    data = odd_place / "one pair"
    m = world["multiple"]
    assert run_main(["synth", "--out", str(odd_place / "synth ü"), "--n", "1", "--size", "64x48", "--seed", "0",
                     "--grid", str(odd_place / "grille é.png")]) == 0
    assert load_image(odd_place / "synth ü" / "train" / "image" / "000001_00.jpg", min_side=1).shape == (64, 48, 3)
    capsys.readouterr()

    scratch = odd_place / "tries"
    argv = ["train", "warp", "--data", str(data), "--out", "{out}", "--steps", "1", "--batch-size", "1",
            "--base-channels", "2", "--save-every", "1", "--log-every", "1", "--image-every", "1", "--workers", "0",
            "--seed", "0", "--lr", "1"]
    h, w = smallest_accepted(argv, m[("train", "warp")], scratch)
    assert (h, w) == (m[("train", "warp")],) * 2  # a network this wide runs at one multiple
    assert run_main([a.replace("{out}", str(odd_place / "warp run")) for a in argv] + ["--size", f"{h}x{w}"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 1
    assert run_main(["eval", "warp", "--data", str(data), "--weights", str(odd_place / "warp run" / "final"),
                     "--size", f"{h}x{w}", "--batch-size", "1", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 1

    argv = ["train", "vae", "--data", str(data), "--out", "{out}", "--crop", "8x8", "--steps", "1",
            "--batch-size", "1", "--kl-weight", "0", "--model", '{"block_out_channels": [4, 4, 4, 4], "norm_num_groups": 2}']
    h, w = smallest_accepted(argv, m[("train", "vae")], scratch)
    assert run_main([a.replace("{out}", str(odd_place / "vae run")) for a in argv] + ["--size", f"{h}x{w}"]) == 0
    vae_dir = Path(json.loads(capsys.readouterr().out)["final"])
    assert math.isfinite(json.loads((vae_dir / "config.json").read_text())["scaling_factor"])

    out = odd_place / "résultats 1"
    argv = ["generate", "--data", str(data), "--pairs", "paired", "--weights", str(world["pipe"]), "--out", "{out}",
            "--steps", "1", "--strength", "1", "--eta", "0", "--batch-size", "1", "--seed", "0", "--wait-timeout", "0.5"]
    h, w = smallest_accepted(argv, m[("generate",)], scratch)
    assert f"{h}x{w}" != world["too_small"]
    assert run_main([a.replace("{out}", str(out)) for a in argv] + ["--size", f"{h}x{w}"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pairs"] == 1 and summary["generated"] == 1
    assert load_image(next(out.glob("*.png")), min_side=1).shape == (h, w, 3)
    assert run_main(["score", "--results", str(out), "--pairs", "paired", "--batch-size", "1", "--size", "8x8",
                     "--kid-subsets", "1", "--kid-subset-size", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["ssim"]["value"] is not None
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- the library's entry points


@pytest.fixture(scope="module")
def loaded(world):
    pipe = load_pipeline(world["pipe"])
    pair = VitonHD(world["data"], "test", size=(128, 96))[0]
    return {"pipe": pipe, "pair": pair, "cond": pipe.prepare(pair.person, pair.cloth, size=(128, 96))}


def _person(ld, **changes):
    from dataclasses import replace

    return replace(ld["pair"].person, **changes)


# (entry point, call(world, loaded), words the message must hold: the argument, the value, what would be accepted)
LIBRARY = [
    ("load_pipeline", lambda w, ld: load_pipeline(3), ["folder", "3", "path"]),
    ("load_pipeline", lambda w, ld: load_pipeline(w["missing"]), ["weights folder not found", "no such thing"]),
    ("load_pipeline", lambda w, ld: load_pipeline(w["data"]), ["not a try-on pipeline folder", "model_index.json"]),
    ("load_pipeline", lambda w, ld: load_pipeline(w["pipe"], device="gpu"), ["device", "'gpu'", "'cpu'"]),
    ("load_pipeline", lambda w, ld: load_pipeline(w["pipe"], dtype="float32"), ["dtype", "'float32'", "torch.float32"]),
    ("TryOnPipeline.prepare", lambda w, ld: ld["pipe"].prepare(ld["pair"].person, ld["pair"].cloth, size=(100, 96)),
     ["size", "100x96", "divisible by 32"]),
    ("TryOnPipeline.prepare", lambda w, ld: ld["pipe"].prepare(ld["pair"].person, ld["pair"].cloth, size="128x96"),
     ["size", "'128x96'", "(H, W)"]),
    ("TryOnPipeline.prepare", lambda w, ld: ld["pipe"].prepare("photo.png", ld["pair"].cloth),
     ["person", "'photo.png'", "Person"]),
    ("TryOnPipeline.prepare", lambda w, ld: ld["pipe"].prepare(ld["pair"].person, ld["pair"].person), ["cloth", "Person", "Cloth"]),
    ("TryOnPipeline.prepare", lambda w, ld: ld["pipe"].prepare(_person(ld, parse=ld["pair"].person.parse[:10]), ld["pair"].cloth),
     ["person.parse", "(10, 96)", "(128, 96)"]),
    ("TryOnPipeline.prepare", lambda w, ld: ld["pipe"].prepare(_person(ld, keypoints=np.zeros((18, 3))), ld["pair"].cloth),
     ["person.keypoints", "(18, 3)", "(25, 3)"]),
    ("TryOnPipeline.sample", lambda w, ld: ld["pipe"].sample(ld["cond"], num_inference_steps=0),
     ["num_inference_steps", "0", "1 to 1000"]),
    ("TryOnPipeline.sample", lambda w, ld: ld["pipe"].sample(ld["cond"], num_inference_steps=2, strength=1.5),
     ["strength", "1.5", "(0, 1]"]),
    ("TryOnPipeline.sample", lambda w, ld: ld["pipe"].sample(ld["cond"], num_inference_steps=2, eta="high"),
     ["eta", "'high'", "[0, 1]"]),
    ("TryOnPipeline.sample", lambda w, ld: ld["pipe"].sample(ld["cond"], num_inference_steps=2, seeds=[1, -2]),
     ["seeds", "-2", "[0, 2**63)"]),
    ("TryOnPipeline.sample", lambda w, ld: ld["pipe"].sample(ld["cond"], num_inference_steps=2, seeds=[]),
     ["seeds", "empty", "at least one"]),
    ("TryOnPipeline.sample", lambda w, ld: ld["pipe"].sample({"size": (128, 96)}, num_inference_steps=2),
     ["cond", "dict", "Conditioning"]),
    ("Preprocessor", lambda w, ld: Preprocessor(openpose_offsets="no"), ["openpose_offsets", "'no'", "True or False"]),
    ("Preprocessor.person", lambda w, ld: Preprocessor().person(np.zeros((8, 8, 3), np.float32)),
     ["image", "float32 (8, 8, 3)", "uint8 (H, W, 3)"]),
    ("preprocess_person", lambda w, ld: preprocess_person(ld["pair"].person.image, parse=np.zeros((5, 5), np.uint8)),
     ["parse", "(5, 5)", "(128, 96)"]),
    ("preprocess_person", lambda w, ld: preprocess_person(ld["pair"].person.image, densepose="iuv.png"),
     ["densepose", "str", "numpy array"]),
    ("preprocess_cloth", lambda w, ld: preprocess_cloth(ld["pair"].cloth.image, mask=np.ones((4, 4))), ["mask", "4x4", "96x128"]),
    ("preprocess_cloth", lambda w, ld: preprocess_cloth(ld["pair"].cloth.image[..., :2]), ["image", "(128, 96, 2)", "(H, W, 3)"]),
    ("VitonHD", lambda w, ld: VitonHD(w["data"], "test", size=(0, 96)), ["size", "(0, 96)", "(H, W)"]),
    ("VitonHD", lambda w, ld: VitonHD(w["data"], "../data", size=(128, 96)), ["split", "'../data'", "'test'"]),
    ("VitonHD", lambda w, ld: VitonHD(w["data"], "nosuch"), ["'nosuch'", "split", "found: ['test', 'train']"]),
    ("VitonHD", lambda w, ld: VitonHD(None), ["root", "None", "path"]),
    ("VitonHD", lambda w, ld: VitonHD(w["data"], paired="yes"), ["paired", "'yes'", "True or False"]),
    ("load_warper", lambda w, ld: registry.load_warper(w["pipe"] / "unet"), ["TryOnUNet", "not a warper", "FlowWarpNet"]),
    ("load_warper", lambda w, ld: registry.load_warper(w["pipe"] / "warper", device="cuda:7"), ["device", "cuda:7"]),
    ("load_warper", lambda w, ld: registry.load_warper(7), ["folder", "7", "path"]),
    ("load_denoiser", lambda w, ld: registry.load_denoiser(w["pipe"] / "warper"), ["FlowWarpNet", "not a UNet", "TryOnUNet"]),
    ("load_denoiser", lambda w, ld: registry.load_denoiser(w["model_truncated"]), ["model_truncated", "cannot load the UNet"]),
    ("assemble_pipeline", lambda w, ld: registry.assemble_pipeline(w["pipe"], unet=w["unet_5ch"]),
     ["5 input channels", "must take 9"]),
    ("assemble_pipeline", lambda w, ld: registry.assemble_pipeline(w["pipe"], vae=3.5), ["vae", "3.5", "path"]),
    ("assemble_pipeline", lambda w, ld: registry.assemble_pipeline(warper=w["pipe"] / "warper"),
     ["pipeline folder", "a warper, a VAE and a UNet"]),
]


@pytest.mark.parametrize("entry, call, words", LIBRARY, ids=[f"{c[0]}-{i}" for i, c in enumerate(LIBRARY)])
def test_library_entry_points_name_the_argument_the_value_and_what_is_accepted(entry, call, words, world, loaded):
    assert loaded["pipe"].size_multiple == 32  # what the size case's message names
    with pytest.raises(InputError) as info:
        call(world, loaded)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
