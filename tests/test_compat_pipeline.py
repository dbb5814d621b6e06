"""Users' own checkpoints end to end: the seed's release and HR-VITON's condition generator, from their original
``.pth`` files through ``python -m vton convert`` to the pipeline, the CLI and every lab page.

The files are written in the originals' formats (the seed's dict with optimizer state, HR-VITON's plain state
dict) at small widths; the ports themselves are checked number for number in test_compat_seed.py and
test_compat_hrviton.py.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from vton.cli import main as cli
from vton.compat import HRVitonConditionGenerator, SeedScheduler, SeedUNet, SeedWarpingProcess
from vton.diffusion.pipeline import TryOnPipeline, load_pipeline
from vton.diffusion.vae import small_vae_config
from vton.registry import load_warper

ROOT = Path(__file__).resolve().parents[1]
SIZE = (128, 96)


def _randomised(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in module.state_dict().items():
        if not v.is_floating_point():
            state[k] = v
        elif k.endswith("running_var"):
            state[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif v.ndim >= 2:
            state[k] = torch.randn(v.shape, generator=g) / math.sqrt(max(1, math.prod(v.shape[1:])))
        else:
            state[k] = 0.1 * torch.randn(v.shape, generator=g) + (1.0 if k.endswith("weight") else 0.0)
    return state


def write_seed_file(path: Path, model: torch.nn.Module, seed: int) -> Path:
    """The seed's format: ``torch.save({"model_state_dict", "optimizer_state_dict"})``."""
    model.load_state_dict(_randomised(model, seed))
    opt = torch.optim.Adam(model.parameters(), lr=5e-5, betas=(0.5, 0.999))
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("users-files")
    torch.manual_seed(0)
    vae_dir = d / "sd15" / "vae"
    AutoencoderKL(**small_vae_config(block_out_channels=(8, 8, 8, 8), norm_num_groups=4)).save_pretrained(vae_dir)
    tocg = HRVitonConditionGenerator(ngf=4)
    torch.save(_randomised(tocg, 3), d / "mtviton.pth")  # HR-VITON's format: a plain state dict
    return {
        "warper": write_seed_file(d / "warping_epoch_30.pth", SeedWarpingProcess(8), 1),
        "unet": write_seed_file(d / "latent512_epoch_300.pth", SeedUNet(9, 4, hidden_channels=8, time_emb_dim=32), 2),
        "vae": vae_dir,
        "tocg": d / "mtviton.pth",
        "root": d,
    }


@pytest.fixture(scope="module")
def converted(files) -> dict[str, Path]:
    """Both conversions, through the command line as a user runs them."""
    seed_out, hr_out = files["root"] / "seed-pipeline", files["root"] / "hrviton-warper"
    assert cli(["convert", "seed", "--warper", str(files["warper"]), "--unet", str(files["unet"]),
                "--vae", str(files["vae"]), "--out", str(seed_out)]) == 0
    assert cli(["convert", "hrviton", "--tocg", str(files["tocg"]), "--out", str(hr_out)]) == 0
    return {"seed": seed_out, "hrviton": hr_out}


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Path:
    sys.path.insert(0, str(ROOT))
    from lab.fixtures import write_tiny_pipeline

    return write_tiny_pipeline(tmp_path_factory.mktemp("ours") / "pipe")


@pytest.fixture(scope="module")
def pair():
    from vton.data.synth import generate_pair

    return generate_pair(seed=7, size=SIZE)


def test_convert_prints_what_it_wrote_and_leaves_no_pickle(converted, capsys):
    for folder in converted.values():
        assert not [p for p in folder.rglob("*") if p.suffix in (".pth", ".pt", ".bin", ".pkl")]
    assert json.loads((converted["seed"] / "model_index.json").read_text())["unet"] == ["vton.compat.seed", "SeedDenoiser"]
    warper = load_warper(converted["hrviton"])
    assert (warper.origin, warper.densepose_encoding) == ("hrviton", "dp_segm")


def test_the_converted_seed_folder_samples_with_the_seeds_settings_by_default(converted):
    from vton.diffusion.defaults import sampling_defaults

    d = sampling_defaults(converted["seed"])
    assert (d.steps, d.strength, d.eta) == (200, 1.0, 0.0)


def test_tryon_runs_the_seed_pipeline_and_the_hrviton_warper_from_the_command_line(converted, ours, pair, tmp_path):
    from vton.io import atomic_save_image, load_image

    atomic_save_image(tmp_path / "person.png", pair.person.image)
    atomic_save_image(tmp_path / "cloth.png", pair.cloth.image)
    common = ["--person", str(tmp_path / "person.png"), "--cloth", str(tmp_path / "cloth.png"), "--size", "128x96",
              "--steps", "2"]
    assert cli(["tryon", "--weights", str(converted["seed"]), *common, "--out", str(tmp_path / "seed.png"),
                "--save-stages", str(tmp_path / "stages")]) == 0
    assert (tmp_path / "stages" / "17_result_seed0.png").is_file()
    assert not (tmp_path / "stages" / "14_warp_segmentation.png").exists()  # no segmentation head in the seed's warper
    assert cli(["tryon", "--weights", str(ours), "--warper", str(converted["hrviton"]), *common,
                "--out", str(tmp_path / "hr.png")]) == 0
    assert load_image(tmp_path / "hr.png").shape[2] == 3


def test_convert_refuses_a_wrong_file_in_one_line_and_writes_nothing(files, tmp_path, capsys):
    out = tmp_path / "out"
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(files["tocg"].read_bytes()[:5000])
    runs = [
        ["convert", "hrviton", "--tocg", str(files["warper"]), "--out", str(out)],  # the seed's warper as HR-VITON's
        ["convert", "hrviton", "--tocg", str(truncated), "--out", str(out)],
        ["convert", "seed", "--warper", str(files["unet"]), "--unet", str(files["unet"]), "--vae", str(files["vae"]),
         "--out", str(out)],
        ["convert", "seed", "--warper", str(files["warper"]), "--unet", str(files["unet"]),
         "--vae", str(tmp_path / "none"), "--out", str(out)],
        ["convert", "hrviton", "--tocg", str(tmp_path / "missing.pth"), "--out", str(out)],
    ]
    for argv in runs:
        capsys.readouterr()
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.pth"]


def test_the_seed_pipeline_samples_as_the_seeds_own_loop(converted, pair):
    """Our pipeline with the converted folder: the seed's scheduler, its 512x512 canvas, and the same latents the
    seed's loop (written out here from viton_pipeline.py) computes from the same composite latent and noise."""
    pipe = load_pipeline(converted["seed"])
    assert type(pipe.scheduler) is SeedScheduler and pipe.canvas_size == (512, 512)
    cond = pipe.prepare(pair.person, pair.cloth, size=SIZE)
    steps = 4
    result = pipe.sample(cond, num_inference_steps=steps, strength=1.0, seeds=[3], record_trajectory=True)
    assert result.images[0].shape == (*SIZE, 3)
    traj = result.trajectory
    assert list(traj.timesteps) == torch.linspace(999, 0, steps).long().tolist()

    # the seed's loop, by hand
    abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float32), 0)
    z, mask = cond.cond_latents, cond.mask_latents
    noise = torch.randn(z.shape, generator=torch.Generator("cpu").manual_seed(3))
    ts = torch.linspace(999, 0, steps).long()
    x = abar[999].sqrt() * z + (1 - abar[999]).sqrt() * noise
    unet = pipe.unet.unet  # the port inside the adapter
    with torch.no_grad():
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else 0
            eps = unet(torch.cat([x, z, mask * 2 - 1], 1), t[None])
            x0 = (x - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()
            x = (abar[t_prev].sqrt() * x0 + (1 - abar[t_prev]).sqrt() * eps).clamp(-1, 1)
            assert torch.allclose(traj.pred_x0[i, 0], x0[0], atol=1e-4, rtol=1e-4), i
    assert torch.allclose(traj.pred_x0[-1, 0], x0[0], atol=1e-4)


def test_the_hrviton_warper_beside_our_vae_and_unet(converted, ours, pair):
    base = load_pipeline(ours)
    pipe = TryOnPipeline(warper=load_warper(converted["hrviton"]), vae=base.vae, unet=base.unet,
                         scheduler=base.scheduler)
    result = pipe(pair.person, pair.cloth, size=SIZE, num_inference_steps=2, seeds=[0, 1])
    assert len(result.images) == 2 and result.images[0].shape == (*SIZE, 3)
    assert result.warp.seg_logits.shape == (1, 13, *SIZE)
    assert [tuple(f.shape[:2]) for f in result.warp.flows] == [(1, 2)] * 5


def test_the_hrviton_warper_in_eval_warp_and_tryon(converted, ours, pair, tmp_path, capsys):
    from vton.data import write_dataset

    write_dataset(tmp_path / "data", n=2, seed=0, size=SIZE, split="test")
    capsys.readouterr()
    argv = ["eval", "warp", "--data", str(tmp_path / "data"), "--weights", str(converted["hrviton"]), "--size", "128x96"]
    assert cli(argv) == 0, capsys.readouterr().err
    scores = json.loads(capsys.readouterr().out)
    assert scores["model"]["class"] == "HRVitonWarper" and "HR-VITON" in scores["model"]["origin"]
    assert "epe_px" in json.dumps(scores)


@pytest.mark.slow
@pytest.mark.parametrize("page", ["pages/1_preprocessing.py", "pages/2_warping.py", "pages/3_diffusion.py",
                                  "pages/4_compare.py"])
def test_every_lab_page_runs_the_users_checkpoints(converted, ours, page):
    """The seed's converted pipeline as the pipeline folder, HR-VITON's warper replacing its warper."""
    from streamlit.testing.v1 import AppTest

    from lab.fixtures import write_tiny_dataset

    data = Path(converted["seed"]).parent / "lab-data"
    if not data.exists():
        write_tiny_dataset(data)
    for warper in (None, str(converted["hrviton"])):
        script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import runpy
from lab.settings import sidebar
sidebar()
runpy.run_path({str(ROOT / page)!r})
"""
        at = AppTest.from_string(script, default_timeout=300)
        at.session_state["input_kind"] = "Dataset folder"
        at.session_state["dataset_folder"] = str(data)
        at.session_state["pipeline_folder"] = str(converted["seed"])
        if warper:
            at.session_state["warper_folder"] = warper
        at.session_state["size"] = "128 x 96"
        at.session_state["steps"] = 2
        at.run()
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        assert not problems, (warper, problems)
        text = " ".join(str(c.value) for c in at.caption) + " ".join(str(m.value) for m in at.markdown)
        if page.endswith("2_warping.py"):
            assert ("HRVitonWarper" if warper else "SeedWarper") in text
            assert "dp_segm" in text
        if page.endswith("3_diffusion.py"):
            assert "SeedDenoiser" in text and "SeedScheduler" in text
