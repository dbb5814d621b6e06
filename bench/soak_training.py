"""Soak: the two-process VAE + UNet + warp training, N times, through the tests' launch; prints JSON.

Each round runs, as ``tests/test_diffusion.py`` and ``tests/test_warp_train.py`` do,
``torchrun --nproc_per_node 2 --standalone -m vton train {vae,unet,warp}`` at tiny sizes on
the bundled synthetic samples, with the output captured through pipes
(``tests/helpers.py``: the same launcher, which kills the whole process tree of a run
that passes ``--timeout``). It counts per command: runs that hung (ran past the
timeout), runs that failed (non-zero exit, or stdout not exactly one JSON line), and
seconds per run; and, at the end, processes the rounds left behind.

    python bench/soak_training.py --rounds 20            # about 30 s a round on 2 busy cores
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import helpers  # noqa: E402  the tests' launcher

TINY_VAE = '{"block_out_channels": [8, 8, 8, 8], "norm_num_groups": 4}'
TINY_UNET = '{"block_channels": [16, 32], "attention_levels": [false, true], "heads": 2}'


def commands(data: Path, work: Path) -> dict[str, list]:
    common = ["--data", data, "--batch-size", "1", "--lr", "1e-2"]
    return {
        "vae": ["train", "vae", *common, "--out", work / "v", "--size", "64x48", "--crop", "32x32", "--steps", "3",
                "--model", TINY_VAE],
        "unet": ["train", "unet", *common, "--vae", work / "v" / "vae", "--composite", "gt", "--out", work / "u",
                 "--size", "64x48", "--steps", "3", "--model", TINY_UNET],
        "warp": ["train", "warp", "--data", data, "--out", work / "w", "--size", "64x64", "--batch-size", "1", "--steps", "3",
                 "--save-every", "2", "--log-every", "1", "--base-channels", "4"],
    }


def one_json_line(stdout: str) -> bool:
    """What every training command promises on stdout: its result, once (rank 0), as JSON."""
    text = stdout.strip()
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return text.startswith("{")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--timeout", type=float, default=180, help="seconds one run may take before it counts as a hang")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    args = p.parse_args(argv)

    marker = f"soak-{uuid.uuid4().hex[:12]}"
    env = helpers.command_env(**{helpers.SESSION_ENV: marker})
    root = args.work or Path(tempfile.mkdtemp(prefix="vton-soak-"))
    data = root / "data"
    if not data.exists():
        samples = REPO / "assets" / "samples" / "synthetic"
        data.mkdir(parents=True)
        os.symlink(samples / "test", data / "train")
        shutil.copy(samples / "test_pairs.txt", data / "train_pairs.txt")

    stats = {name: {"ok": 0, "failed": 0, "hangs": 0, "seconds": []} for name in ("vae", "unet", "warp")}
    problems: list[dict] = []
    started = time.perf_counter()
    for round_ in range(args.rounds):
        work = root / f"round-{round_:03d}"
        for name, cmd in commands(data, work).items():
            t = time.perf_counter()
            try:
                res = helpers.torchrun(*cmd, timeout=args.timeout, env=env)
            except helpers.LaunchTimeout as e:
                stats[name]["hangs"] += 1
                problems.append({"round": round_, "run": name, "hang": True, "stderr_tail": str(e)[-600:]})
                continue
            finally:
                stats[name]["seconds"].append(time.perf_counter() - t)
            if res.returncode == 0 and one_json_line(res.stdout):
                stats[name]["ok"] += 1
            else:
                stats[name]["failed"] += 1
                problems.append({"round": round_, "run": name, "returncode": res.returncode, "stdout": res.stdout[-300:],
                                 "stderr_tail": res.stderr[-600:]})
        shutil.rmtree(work, ignore_errors=True)
        print(f"round {round_ + 1}/{args.rounds}: {time.perf_counter() - started:.0f} s, "
              f"{sum(s['hangs'] for s in stats.values())} hangs, {sum(s['failed'] for s in stats.values())} failures",
              file=sys.stderr, flush=True)

    left = helpers.leftovers(marker, grace=5)
    for proc in left:
        helpers.kill_tree(proc.pid, grace=1)
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)

    def summary(seconds: list[float]) -> dict:
        return {"mean": round(statistics.mean(seconds), 2), "median": round(statistics.median(seconds), 2),
                "min": round(min(seconds), 2), "max": round(max(seconds), 2)} if seconds else {}

    report = {
        "rounds": args.rounds,
        "runs": sum(s["ok"] + s["failed"] + s["hangs"] for s in stats.values()),
        "hangs": sum(s["hangs"] for s in stats.values()),
        "failures": sum(s["failed"] for s in stats.values()),
        "leftover_processes": len(left),
        "timeout_s": args.timeout,
        "seconds_total": round(time.perf_counter() - started, 1),
        "per_command": {name: {"ok": s["ok"], "failed": s["failed"], "hangs": s["hangs"], "seconds_per_run": summary(s["seconds"])}
                        for name, s in stats.items()},
        "problems": problems[:10],
    }
    print(json.dumps(report, indent=2))
    return 0 if report["hangs"] == report["failures"] == report["leftover_processes"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
