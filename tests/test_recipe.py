"""The recipe that rebuilds the embedded weights (``scripts/train_embedded.py``) runs end to end.

At ``--scale tiny`` (a handful of pairs, tiny models, a few steps per stage) every stage runs
as it does for the shipped weights: synthetic data, the warper's phases, the VAE, the UNet,
the fp16 export, the evaluation and the results grid. A second run finds everything done
and only re-exports and re-evaluates.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

REPO = Path(__file__).resolve().parents[1]


def recipe(tmp_path: Path, *only: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "scripts.train_embedded", "--scale", "tiny", "--size", "128x96",
           "--work", str(tmp_path / "work"), "--dest", str(tmp_path / "weights"), "--grid", str(tmp_path / "grid.png")]
    if only:
        cmd += ["--only", *only]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return helpers.run(cmd, env=env, timeout=900)  # a timeout kills the recipe and every torchrun worker under it


@pytest.mark.slow
def test_the_recipe_trains_exports_and_evaluates_everything(tmp_path):
    res = recipe(tmp_path)
    assert res.returncode == 0, res.stderr[-3000:] + (tmp_path / "work" / "recipe.log").read_text()[-3000:]
    weights = tmp_path / "weights"
    for part in ("model_index.json", "warper/config.json", "vae/config.json", "unet/config.json", "scheduler"):
        assert (weights / part).exists(), part
    scores = json.loads((weights / "scores.json").read_text())
    assert set(scores) == {"warp", "warp_identity", "warp_tps", "vae", "tryon"}
    assert scores["warp"]["n"] == 3 and scores["tryon"]["tryon_ssim"] is not None
    assert (tmp_path / "grid.png").stat().st_size > 0
    # the warper went through both phases: 3 steps, and it predicts at the size it trained at
    state = json.loads(sorted((tmp_path / "work" / "warp" / "checkpoints").glob("step-*"))[-1].joinpath("state.json").read_text())
    assert state["step"] == 3
    assert json.loads((weights / "warper" / "config.json").read_text())["working_size"] == [128, 96]
    log = (tmp_path / "work" / "recipe.log").read_text()
    warp_steps = [line for line in log.splitlines() if line.startswith("$ ") and " train warp " in line]
    assert len(warp_steps) == 2 and "--fold-weight 5" in warp_steps[1]
    vae_steps = [line for line in log.splitlines() if line.startswith("$ ") and " train vae " in line]
    assert len(vae_steps) == 3 and all("--colour-weight 1" in line for line in vae_steps)
    assert "--lr 3e-4" in vae_steps[1] and "--mse-weight 10" in vae_steps[2]
    vae_state = sorted((tmp_path / "work" / "vae" / "checkpoints").glob("step-*"))[-1].joinpath("state.json")
    assert json.loads(vae_state.read_text())["step"] == 4

    # everything is done: a second run trains nothing
    again = recipe(tmp_path, "data", "warp", "vae", "unet")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "$ " not in again.stdout


def test_scores_name_repository_paths_relative_to_it():
    from scripts.train_embedded import ROOT, portable

    scores = {"vae": str(ROOT / "assets" / "weights"), "notes": [str(ROOT / "runs" / "x")], "psnr": 27.0,
              "elsewhere": "/data/vitonhd", "word": "network"}
    assert portable(scores) == {"vae": "assets/weights", "notes": ["runs/x"], "psnr": 27.0,
                                "elsewhere": "/data/vitonhd", "word": "network"}
