"""Regenerate the bundled samples that are derived from the synthetic generator.

    python -m scripts.make_samples      # from the repository root

writes ``assets/samples/synthetic/`` (``python -m vton synth --n 6 --seed 900001
--split test --size 256x192``) and ``assets/samples/photos/cloth_tee.png`` (the
cloth of the first synthetic t-shirt sample, a logo print preferred, upscaled to
512x384 on an off-white background). See ``assets/samples/README.md``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from vton.io import atomic_save_image, load_image, load_mask

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "assets" / "samples"
SYNTH_ARGS = ["--n", "6", "--seed", "900001", "--split", "test", "--size", "256x192"]
TEE_SIZE = (512, 384)  # (H, W)
OFF_WHITE = np.array([244, 242, 237], np.float32)


def make_synthetic() -> Path:
    """Run the synth command into a temporary folder, then swap it in for the bundled one."""
    target = SAMPLES / "synthetic"
    with tempfile.TemporaryDirectory(dir=SAMPLES) as tmp:
        out = Path(tmp) / "synthetic"
        subprocess.run([sys.executable, "-m", "vton", "synth", "--out", str(out), *SYNTH_ARGS], check=True, cwd=REPO)
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target


def pick_tee(folder: Path) -> str:
    """The stem of the first t-shirt in ``synth-info.json``, preferring a logo print (it shows the warp best)."""
    pairs = json.loads((folder / "synth-info.json").read_text())["pairs"]
    tees = [name for name, info in pairs.items() if info["garment"] == "tshirt"]
    if not tees:
        raise SystemExit("no t-shirt among the synthetic samples: change SYNTH_ARGS' seed")
    logos = [name for name in tees if pairs[name]["texture"] == "logo"]
    return Path((logos or tees)[0]).stem


def make_cloth_tee(synthetic: Path) -> Path:
    """Upscale one synthetic t-shirt (bicubic) and put it on an even off-white background (soft edge)."""
    folder = synthetic / "test"
    tee = pick_tee(folder)
    print("cloth_tee.png from synthetic sample", tee)
    cloth = load_image(next((folder / "cloth").glob(f"{tee}.*")), min_side=1)
    mask = load_mask(next((folder / "cloth-mask").glob(f"{tee}.*")))
    h, w = TEE_SIZE
    big = cv2.resize(cloth, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    alpha = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)[..., None]
    tee = np.clip(alpha * big + (1 - alpha) * OFF_WHITE, 0, 255).round().astype(np.uint8)
    return atomic_save_image(SAMPLES / "photos" / "cloth_tee.png", tee)


if __name__ == "__main__":
    synthetic = make_synthetic()
    print("wrote", synthetic)
    print("wrote", make_cloth_tee(synthetic))
