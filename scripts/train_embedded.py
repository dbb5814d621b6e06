#!/usr/bin/env python
"""Rebuild the embedded weights in ``assets/weights/`` from nothing, reproducibly.

    python -m scripts.train_embedded                                  # CPU: the shipped recipe
    python -m scripts.train_embedded --scale gpu                      # one GPU: bigger and longer

Steps (each is skipped when its output already exists, and each training step resumes
from its newest checkpoint, so re-running the command after an interruption continues):

1. synthetic data: a train split (seed 1) and a held-out test split (seed 999001, never
   used in training), VITON-HD layout, 256x192;
2. the warper (``train warp``), 3. the VAE (``train vae``), 4. the UNet (``train unet``,
   composites from the trained warper; it writes the whole TryOnPipeline folder);
5. copy that folder into ``--dest`` with the warper and UNet stored in fp16;
6. evaluate everything on the held-out split and write ``scores.json`` beside the weights.

Every step is a ``python -m vton`` command, printed before it runs, so any one of them
can be re-run by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Steps and sizes per scale: "cpu" is what ships (trained on 2 CPU cores, one thread per
# process: PyTorch's default of one thread per core is several times slower on a shared box),
# "gpu" trains larger and longer. The warper is trained at 128x96 and records that as its
# working size: at 256x192 it predicts there and warps the cloth at full resolution.
SCALES = {
    "cpu": dict(n_train=1200, n_test=48, processes=2,
                warp=["--size", "128x96", "--batch-size", "4"],
                # phases, each resumed from the last: plain, then a growing fold penalty (folds 5.8% -> 0.5%)
                warp_phases=[["--steps", "2000"], ["--steps", "3000", "--fold-weight", "5"],
                             ["--steps", "4000", "--fold-weight", "15"]],
                # the colour term keeps the small VAE's latents from losing a colour axis (22.8 -> 26.5 dB at 3000 steps)
                vae=["--batch-size", "8", "--crop", "64x48", "--colour-weight", "1"],
                # phases, each resumed from the last: L1 at lr 1e-3 decaying to 1e-4 (26.9 dB); L1 again at 3e-4
                # (1.2e-4 where it resumes) to 3e-5 (26.9); then MSE, PSNR's own measure, at 3e-4 (8e-5 where it
                # resumes) to 3e-5
                vae_phases=[["--steps", "6000"], ["--steps", "9000", "--lr", "3e-4"],
                            ["--steps", "11000", "--lr", "3e-4", "--l1-weight", "0", "--mse-weight", "10"]],
                unet=["--batch-size", "4", "--steps", "4500", "--lr", "4e-4", "--x0-crop", "8x6"]),
    "gpu": dict(n_train=6000, n_test=200, processes=1,
                warp=["--size", "256x192", "--batch-size", "32", "--base-channels", "32"],
                warp_phases=[["--steps", "20000"], ["--steps", "22000", "--fold-weight", "5"],
                             ["--steps", "24000", "--fold-weight", "15"]],
                vae=["--batch-size", "32", "--crop", "128x96", "--colour-weight", "1",
                     "--model", '{"block_out_channels": [64, 128, 256, 256], "layers_per_block": 2}'],
                vae_phases=[["--steps", "20000"]],
                unet=["--batch-size", "32", "--steps", "40000",
                      "--model", '{"block_channels": [96, 192, 256], "layers_per_block": 2}']),
    # a smoke test of the recipe itself (tests/test_recipe.py): every step, tiny models, a few steps each
    "tiny": dict(n_train=6, n_test=3, processes=1,
                 warp=["--size", "128x96", "--batch-size", "2", "--base-channels", "4"],
                 warp_phases=[["--steps", "2"], ["--steps", "3", "--fold-weight", "5"]],
                 vae_phases=[["--steps", "2"], ["--steps", "3", "--lr", "3e-4"],
                             ["--steps", "4", "--lr", "3e-4", "--l1-weight", "0", "--mse-weight", "10"]],
                 vae=["--batch-size", "2", "--crop", "32x32", "--colour-weight", "1",
                      "--model", '{"block_out_channels": [8, 8, 8, 8], "norm_num_groups": 4}'],
                 unet=["--batch-size", "2", "--steps", "2",
                       "--model", '{"block_channels": [16, 32], "attention_levels": [false, true], "heads": 2}']),
}


def export(src: Path, dest: Path) -> None:
    """Copy the trained pipeline folder to ``dest`` with the warper and UNet stored in fp16.

    The VAE stays fp32 (it is small and its decoder sets the output's precision). Loading
    upcasts to the dtype asked for, so the shipped models run in fp32 on a CPU.
    """
    import shutil

    import torch

    from vton.diffusion.pipeline import load_pipeline
    from vton.train.common import atomic_dir

    pipe = load_pipeline(src)
    pipe.warper.to(torch.float16)
    pipe.unet.to(torch.float16)
    keep = [p for p in dest.glob("*.md")] + [p for p in dest.glob("*.json") if p.name == "scores.json"]
    saved = {p.name: p.read_bytes() for p in keep}
    with atomic_dir(dest) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        for config in [tmp / "model_index.json", *tmp.glob("*/config.json")]:  # no paths of this machine
            fields = json.loads(config.read_text())
            fields.pop("_name_or_path", None)
            config.write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
        for name, data in saved.items():
            (tmp / name).write_bytes(data)
    shutil.rmtree(dest / ".cache", ignore_errors=True)


def results_grid(weights: Path, data: Path, out: Path, n: int = 6, size=(256, 192)) -> None:
    """A picture for the model card: agnostic, cloth, composite, try-on, ground truth, for ``n`` test pairs.

    The try-on is sampled with the folder's own defaults (its model card's steps, strength
    and eta), as the lab and the CLI sample it.
    """
    import numpy as np

    from vton.data import VitonHD
    from vton.diffusion.defaults import sampling_defaults
    from vton.diffusion.pipeline import load_pipeline

    pipe = load_pipeline(weights)
    d = sampling_defaults(weights)
    reader = VitonHD(data, "test", size=size)
    rows = []
    for i in range(min(n, len(reader))):
        pair = reader[i]
        result = pipe(pair.person, pair.cloth, size=size, num_inference_steps=d.steps, strength=d.strength, eta=d.eta,
                      seeds=[0])
        rows.append(np.concatenate([pair.person.agnostic, pair.cloth.image, result.composite, result.images[0],
                                    pair.person.image], axis=1))
    from vton.io import atomic_save_image

    atomic_save_image(out, np.concatenate(rows, axis=0))


def run(cmd: list[str], log: Path) -> None:
    """Run one step: print the command, append it and the step's output to ``log``; stop the recipe if it fails."""
    line = "$ " + " ".join(shlex.quote(c) for c in cmd)
    print(line, flush=True)
    started = time.perf_counter()
    with log.open("a") as f:
        f.write(line + "\n")
        f.flush()
        res = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        f.write(f"# exit {res.returncode} after {time.perf_counter() - started:.0f} s\n")
    if res.returncode != 0:
        sys.exit(f"step failed (exit {res.returncode}): {line}\nits output is in {log}")


def last_json(stdout: str) -> dict:
    """The JSON object a ``python -m vton`` command printed last (commands print it indented)."""
    return json.loads(stdout[stdout.rindex("\n{") + 1 if "\n{" in stdout else stdout.index("{"):])


def checkpoint_step(out: Path) -> int:
    """The step of the newest checkpoint under ``out`` (0 when there is none)."""
    from vton.train.common import latest_checkpoint

    ckpt = latest_checkpoint(out)
    return json.loads((ckpt / "state.json").read_text())["step"] if ckpt else 0


def portable(value):
    """``value`` (a JSON tree) with paths inside the repository written relative to it.

    The scores are committed beside the weights: they should not name this machine's folders.
    """
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_relative_to(ROOT):
        return Path(value).relative_to(ROOT).as_posix()
    return value


def vton(*args: str) -> list[str]:
    return [sys.executable, "-m", "vton", *args]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "embedded", help="data, logs and checkpoints")
    ap.add_argument("--dest", type=Path, default=ROOT / "assets" / "weights", help="where the pipeline folder goes")
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--size", default="256x192")
    ap.add_argument("--only", nargs="*", choices=["data", "warp", "vae", "unet", "export", "eval"])
    ap.add_argument("--grid", type=Path, default=ROOT / "assets" / "docs" / "tryon_grid.png",
                    help="where the model card's picture of results goes")
    a = ap.parse_args()
    s = SCALES[a.scale]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "recipe.log"
    data = work / "data"
    want = set(a.only or ["data", "warp", "vae", "unet", "export", "eval"])

    if "data" in want:
        if not (data / "train" / "train_pairs.txt").is_file():
            run(vton("synth", "--out", str(data), "--n", str(s["n_train"]), "--seed", "1", "--split", "train",
                     "--size", a.size), log)
        if not (data / "test" / "test_pairs.txt").is_file():
            run(vton("synth", "--out", str(data), "--n", str(s["n_test"]), "--seed", "999001", "--split", "test",
                     "--size", a.size), log)
    if "warp" in want:
        for phase in s["warp_phases"]:
            if checkpoint_step(work / "warp") < int(phase[phase.index("--steps") + 1]):
                run(vton("train", "warp", "--data", str(data), "--out", str(work / "warp"), "--seed", "0", "--resume",
                         "--save-every", "100", *s["warp"], *phase), log)
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    launcher = [torchrun, "--nproc_per_node", str(s["processes"]), "-m", "vton"] if s["processes"] > 1 else vton()
    if "vae" in want:
        for phase in s["vae_phases"]:
            if checkpoint_step(work / "vae") < int(phase[phase.index("--steps") + 1]):
                run([*launcher, "train", "vae", "--data", str(data), "--out", str(work / "vae"), "--size", a.size,
                     "--seed", "0", "--resume", "--save-every", "200", *s["vae"], *phase], log)
    if "unet" in want and not (work / "unet" / "pipeline").is_dir():
        run([*launcher, "train", "unet", "--data", str(data), "--vae", str(work / "vae" / "vae"),
                 "--warp", str(work / "warp" / "final"), "--composite", "warp", "--out", str(work / "unet"),
                 "--size", a.size, "--seed", "0", "--resume", "--save-every", "100", *s["unet"]], log)
    if "export" in want:
        export(work / "unet" / "pipeline", a.dest)
        print(f"pipeline written to {a.dest}")
    if "eval" in want:
        scores = {}
        for name, cmd in {
            "warp": vton("eval", "warp", "--data", str(data), "--weights", str(a.dest / "warper"), "--size", a.size,
                          "--threads", "1"),
            "warp_identity": vton("eval", "warp", "--data", str(data), "--identity", "--size", a.size),
            "warp_tps": vton("eval", "warp", "--data", str(data), "--tps", "--size", a.size),
            "vae": vton("eval", "vae", "--data", str(data), "--weights", str(a.dest), "--size", a.size),
            "tryon": vton("eval", "tryon", "--data", str(data), "--weights", str(a.dest), "--size", a.size),
        }.items():
            print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"evaluation {name} failed:\n{out.stderr[-2000:]}")
            scores[name] = portable(last_json(out.stdout))
            print(json.dumps(scores[name]))
        from vton.io import atomic_save_json

        atomic_save_json(a.dest / "scores.json", scores)
        results_grid(a.dest, data, a.grid, size=tuple(int(v) for v in a.size.split("x")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
