"""The shipped weights in assets/weights: they load, run end to end, and the warper beats no warp.

A fast version of the quality checks in assets/weights/MODEL_CARD.md (those run on a 48-pair
held-out split with ``python scripts/train_embedded.py --only eval``).
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from vton.data import VitonHD, write_dataset
from vton.diffusion.pipeline import load_pipeline
from vton.io import load_image
from vton.warp.evaluate import evaluate_warper

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "assets" / "weights"
SAMPLES = ROOT / "assets" / "samples"


@pytest.fixture(scope="module")
def pipe():
    torch.set_num_threads(1)
    return load_pipeline(WEIGHTS)


def test_shipped_folder_is_small_safetensors_with_a_model_card():
    files = [p for p in WEIGHTS.rglob("*") if p.is_file()]
    assert (WEIGHTS / "MODEL_CARD.md").is_file() and (WEIGHTS / "model_index.json").is_file()
    assert sum(p.stat().st_size for p in files) < 40 * 2**20
    weights = [p for p in files if p.suffix in {".safetensors", ".bin", ".pt", ".pth", ".ckpt"}]
    assert weights and all(p.suffix == ".safetensors" for p in weights)


def test_pipeline_runs_on_a_bundled_sample(pipe):
    pair = VitonHD(SAMPLES / "synthetic", "test", size=(256, 192))[0]
    result = pipe(pair.person, pair.cloth, size=(256, 192), num_inference_steps=4, seeds=[0, 1], record_trajectory=True)
    assert len(result.images) == 2 and result.images[0].shape == (256, 192, 3) and result.images[0].dtype == np.uint8
    keep = result.agnostic_mask == 0  # outside the mask the photo is pasted back
    assert np.abs(result.images[0][keep].astype(int) - pair.person.image[keep].astype(int)).max() <= 1
    assert not np.array_equal(result.images[0], result.images[1])  # seeds matter
    assert len(result.trajectory.timesteps) == 4


def test_warper_beats_identity_on_held_out_pairs(pipe, tmp_path):
    write_dataset(tmp_path, n=6, seed=424242, size=(256, 192), split="test")  # seed never used in training
    net = evaluate_warper(tmp_path, pipe.warper, size=(256, 192))
    none = evaluate_warper(tmp_path, "identity", size=(256, 192))
    assert net["epe_px"] < 0.5 * none["epe_px"]  # measured 3.9 px against 25.0
    assert net["mask_iou"] > none["mask_iou"] + 0.2  # 0.92 against 0.47
    assert net["fold_pct"] < 1.0  # 0.57 %: the fold penalty's phases (5.8 % on the held-out split without them)


@pytest.mark.slow
def test_runs_end_to_end_on_a_real_photo(pipe):
    from vton.preprocess import preprocess_cloth, preprocess_person

    person = preprocess_person(load_image(SAMPLES / "photos" / "astronaut.png"))
    cloth = preprocess_cloth(load_image(SAMPLES / "photos" / "cloth_tee.png"))
    result = pipe(person, cloth, size=(256, 192), num_inference_steps=3, seeds=[0])
    assert result.images[0].shape == (256, 192, 3) and np.isfinite(result.images[0]).all()
