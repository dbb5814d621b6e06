"""``python -m vton generate``: names, run.json, resuming, batch invariance, two processes, bad arguments.

Everything runs on the tiny random-weight pipeline of `lab.fixtures` at 64x64 with 3 DDIM steps, in one
intra-op thread (as ``torchrun`` gives each process; PyTorch's CPU kernels round differently with 1 and
2 threads, so bit-identity is only asked between runs with the same thread count).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vton.cli import main
from vton.diffusion import generate as g

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

REPO = Path(__file__).resolve().parents[1]
# an unpaired list over the tiny dataset's four people: each with the next person's cloth
UNPAIRED = [("000001_00.jpg", "000002_00.jpg"), ("000002_00.jpg", "000003_00.jpg"),
            ("000003_00.jpg", "000004_00.jpg"), ("000004_00.jpg", "000001_00.jpg")]
SAMPLING = ["--size", "64x64", "--steps", "3", "--eta", "0.5", "--strength", "1.0", "--seed", "7"]


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from lab.fixtures import write_tiny_dataset, write_tiny_pipeline

    root = tmp_path_factory.mktemp("generate")
    pipe = write_tiny_pipeline(root / "pipe")
    data = write_tiny_dataset(root / "data", n=4, size=(128, 96))
    (data / "test_pairs.txt").write_text("".join(f"{p} {c}\n" for p, c in UNPAIRED))
    return {"root": root, "pipe": pipe, "data": data}


def cli(world, out, *extra, pairs="unpaired", data=None):
    return ["generate", "--data", str(data or world["data"]), "--pairs", pairs, "--weights", str(world["pipe"]),
            "--out", str(out), *SAMPLING, *extra]


def run_ok(capsys, argv) -> dict:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out)


def images(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    """One uninterrupted one-process run (unpaired, batch 1): the images every other run is compared with."""
    out = tmp_path_factory.mktemp("reference") / "out"
    assert main(cli(world, out)) == 0
    return out


# ----------------------------------------------------------------------------- names, seeds, shards


def test_names_seeds_and_shards():
    assert g.result_name("00001_00.jpg", "00002_00.jpg") == "00001_00_00002_00.png"  # HR-VITON's test_generator
    assert g.result_name("a/00001_00.jpg", "00001_00.png") == "00001_00_00001_00.png"
    # a stable hash of the run seed and both names (a change here silently changes every published result)
    assert g.pair_seed(0, "00001_00.jpg", "00002_00.jpg") == 1609346001132766849
    assert g.pair_seed(0, "00002_00.jpg", "00001_00.jpg") != g.pair_seed(0, "00001_00.jpg", "00002_00.jpg")
    assert g.pair_seed(1, "00001_00.jpg", "00002_00.jpg") != g.pair_seed(0, "00001_00.jpg", "00002_00.jpg")
    assert 0 <= g.pair_seed(-5, "x", "y") < 2**63

    jobs = g.make_jobs([(f"{i:05d}.jpg", f"{(i + 1) % 11:05d}.jpg") for i in range(11)] + [("00000.jpg", "00001.jpg")], 3)
    assert len(jobs) == 11  # a pair listed twice is generated once
    with pytest.raises(g.InputError, match="both be written"):
        g.make_jobs([("a.jpg", "b.jpg"), ("a.png", "b.jpg")], 0)
    batches = g.make_batches(jobs, 3)
    for world_size in (1, 2, 3, 5):
        dealt = [g.shard_batches(batches, g.Shard(r, world_size)) for r in range(world_size)]
        names = [j.name for share in dealt for b in share for j in b]
        assert sorted(names) == sorted(j.name for j in jobs)  # each pair exactly once
        assert sorted(map(tuple, (map(lambda j: j.name, b) for share in dealt for b in share))) == \
            sorted(tuple(j.name for j in b) for b in batches)  # batches stay whole
    assert g.Shard.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == g.Shard(1, 2, 1)
    assert g.Shard.from_env({}) == g.Shard(0, 1, 0)


# ----------------------------------------------------------------------------- one process


def test_unpaired_and_paired_results_and_run_json(world, reference, tmp_path, capsys):
    got = images(reference)
    assert sorted(got) == sorted(g.result_name(p, c) for p, c in UNPAIRED)
    assert all(im.shape == (64, 64, 3) for im in got.values())
    run = json.loads((reference / "run.json").read_text())
    assert run["counts"] == {"pairs": 4, "generated": 4, "skipped": 0}
    assert run["sampling"] == {"steps": 3, "eta": 0.5, "strength": 1.0, "seed": 7, "size": [64, 64], "batch_size": 1}
    assert set(run["weights"]["fingerprints"]) == {"warper", "vae", "unet", "scheduler"}
    assert all(v.startswith("sha256:") for v in run["weights"]["fingerprints"].values())
    assert run["device"] == ["cpu"] and run["processes"] == 1 and run["ranks"][0]["threads"] == 1
    assert run["pairs"] == "unpaired" and run["split"] == "test" and run["seconds"] > 0
    info = g.read_result_info(reference / "000001_00_000002_00.png")
    assert info == {"key": run["key"], "seed": g.pair_seed(7, "000001_00.jpg", "000002_00.jpg"),
                    "person": "000001_00.jpg", "cloth": "000002_00.jpg"}

    summary = run_ok(capsys, cli(world, tmp_path / "paired", pairs="paired"))
    assert summary["generated"] == 4 and summary["pairs"] == 4
    paired = images(tmp_path / "paired")
    assert sorted(paired) == [f"00000{i}_00_00000{i}_00.png" for i in range(1, 5)]
    # the same person with another cloth is another result; the photo outside the agnostic mask is kept
    a, b = paired["000001_00_000001_00.png"].astype(int), got["000001_00_000002_00.png"].astype(int)
    assert np.abs(a - b).mean() > 1.0
    assert (np.abs(a - b).max(axis=2) == 0).mean() > 0.2
    assert json.loads((tmp_path / "paired" / "run.json").read_text())["pairs"] == "paired"


def test_rerun_skips_complete_and_redoes_missing_half_written_and_stray(world, reference, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "000002_00_000003_00.png").unlink()
    whole = (out / "000003_00_000004_00.png").read_bytes()
    (out / "000003_00_000004_00.png").write_bytes(whole[: len(whole) // 3])  # not ours: a cut file
    (out / ".000004_00_000001_00.png.0123456789ab.tmp").write_bytes(whole[:100])  # what a killed writer leaves
    kept = (out / "000001_00_000002_00.png").stat().st_mtime_ns
    summary = run_ok(capsys, cli(world, out))
    assert (summary["generated"], summary["skipped"]) == (2, 2)
    assert not list(out.glob(".*.tmp"))
    assert (out / "000001_00_000002_00.png").stat().st_mtime_ns == kept
    ref = images(reference)
    assert all(np.array_equal(im, ref[name]) for name, im in images(out).items())  # same bits as uninterrupted
    assert run_ok(capsys, cli(world, out))["generated"] == 0


def test_other_settings_are_refused_unless_overwrite(world, reference, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = {p.name: p.read_bytes() for p in out.glob("*.png")}
    argv = cli(world, out) + ["--steps", "2"]  # the later flag wins
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "steps 2 (was 3)" in err[0] and "--overwrite" in err[0]
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == before
    assert run_ok(capsys, argv + ["--overwrite"])["generated"] == 4
    assert json.loads((out / "params.json").read_text())["params"]["steps"] == 2
    assert run_ok(capsys, argv)["skipped"] == 4  # the new settings are now the folder's own
    assert main(cli(world, out)) == 2  # and the old ones are refused
    capsys.readouterr()


def test_a_batch_gives_the_images_of_single_runs(world, reference, tmp_path, capsys):
    summary = run_ok(capsys, cli(world, tmp_path / "b3", "--batch-size", "3"))  # batches of 3 and 1
    assert summary["generated"] == 4
    ref = images(reference)
    for name, im in images(tmp_path / "b3").items():
        diff = np.abs(im.astype(int) - ref[name])
        assert diff.max() <= 2 and (diff > 0).mean() < 0.01, (name, diff.max(), (diff > 0).mean())

    # each row really gets its own generator: one person twice in a batch, two seeds, two results
    from vton.data import VitonHD
    from vton.diffusion.pipeline import load_pipeline

    pipe = load_pipeline(world["pipe"])
    pair = VitonHD(world["data"], "test", size=(64, 64), paired=False)[0]
    opts = g.GenerateOptions(size=(64, 64), steps=3, eta=0.5)
    twice = g.sample_pairs(pipe, [pair, pair], [11, 12], opts)
    alone = g.sample_pairs(pipe, [pair], [12], opts)[0]
    assert np.abs(twice[0].astype(int) - twice[1]).mean() > 1.0
    assert np.abs(twice[1].astype(int) - alone).max() <= 2


# ----------------------------------------------------------------------------- bad input


BAD = [
    (["--data", "{root}/nowhere"], "data folder not found"),
    (["--split", "train"], "no 'train' split"),
    (["--weights", "{root}/nowhere"], "weights folder not found"),
    (["--weights", "{root}/data"], "not a try-on pipeline folder"),
    (["--pairs", "both"], "invalid choice"),
    (["--size", "64by64"], "size must look like"),
    (["--steps", "0"], "steps must be"),
    (["--strength", "1.5"], "strength must be"),
    (["--eta", "-1"], "eta must be"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--wait-timeout", "0"], "--wait-timeout must be positive"),
    (["--out", "{root}/data/test_pairs.txt"], "is not a folder"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[b[1] for b in BAD])
def test_bad_arguments_are_one_line_before_any_model_loads(world, tmp_path, capsys, monkeypatch, extra, message):
    from vton.diffusion import generate_cli

    monkeypatch.setattr(generate_cli, "_load", lambda *a: pytest.fail("a model was loaded"))
    rc = exit_code(cli(world, tmp_path / "out") + [e.format(root=world["root"]) for e in extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not list((tmp_path / "out").glob("*.png"))


def exit_code(argv) -> int:
    """`main`'s return value, or the code of the SystemExit argparse raises on a usage error."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_bad_process_layout_size_and_pairs_file(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(cli(world, tmp_path / "o")) == 2
    assert "RANK=2, WORLD_SIZE=2" in capsys.readouterr().err
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    assert main(cli(world, tmp_path / "o") + ["--size", "48x48"]) == 2  # needs the models: checked right after loading
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "divisible by 32" in err[0]
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    (data / "test_pairs.txt").write_text("000001_00.jpg\n")
    assert main(cli(world, tmp_path / "o", data=data)) == 2
    assert "expected 'person.jpg cloth.jpg'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- several processes


def test_rank_zero_reports_a_failed_or_silent_rank(world, tmp_path, capsys, monkeypatch):
    """Ranks started by hand (the environment torchrun sets): rank 1 fails on a corrupt photo that only it
    reads and prints one line; rank 0 finishes its share, sees rank 1's part and exits 1 without repeating
    it. With no rank 1 at all, rank 0 times out with one line."""
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    (data / "test" / "image" / "000002_00.jpg").write_bytes(b"not a jpeg")  # pair 1 -> rank 1
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert main(cli(world, tmp_path / "out", data=data)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: rank 1 of 2: ") and "000002_00.jpg" in err[0]
    assert json.loads((tmp_path / "out" / ".generate" / "rank-00001.json").read_text())["status"] == "failed"
    monkeypatch.setenv("RANK", "0")
    assert main(cli(world, tmp_path / "out", "--wait-timeout", "5", data=data)) == 1
    assert capsys.readouterr().err == ""  # rank 1 printed the one message
    assert (tmp_path / "out" / "000001_00_000002_00.png").is_file()  # rank 0 did its share
    assert not (tmp_path / "out" / "run.json").exists()

    assert main(cli(world, tmp_path / "alone", "--wait-timeout", "0.5")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "timed out after 0.5 s" in err[0] and "rank(s) 1 of 2" in err[0]


def _spawn(argv, env, **kw):
    """A subprocess in its own process group (so a timeout or a kill leaves nothing behind)."""
    return subprocess.Popen(argv, cwd=REPO, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _finish(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"timed out after {timeout} s")
    return proc.returncode, out, err


ENV = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
for _var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
    ENV.pop(_var, None)


@pytest.mark.slow
def test_two_processes_write_each_image_once_identical_to_one_process(world, reference, tmp_path):
    out = tmp_path / "out"
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2", "-m", "vton"]
    rc, stdout, stderr = _finish(_spawn([*torchrun, *cli(world, out)], ENV), timeout=180)
    assert rc == 0, stderr[-3000:]
    assert json.loads(stdout)["processes"] == 2  # one summary: rank 0's alone
    ref = images(reference)
    got = images(out)
    assert sorted(got) == sorted(ref) and all(np.array_equal(got[n], ref[n]) for n in ref)  # bit for bit
    run = json.loads((out / "run.json").read_text())
    assert run["counts"] == {"pairs": 4, "generated": 4, "skipped": 0}
    assert sorted(r["rank"] for r in run["ranks"]) == [0, 1] and [r["generated"] for r in run["ranks"]] == [2, 2]
    assert run["key"] == json.loads((reference / "run.json").read_text())["key"]


@pytest.mark.slow
def test_a_killed_run_resumes(world, tmp_path, capsys):
    """SIGKILL a real run mid-way (more steps, so a pair takes long enough to kill between two): the rerun keeps
    what was written and finishes the rest."""
    out = tmp_path / "out"
    argv = cli(world, out) + ["--steps", "150"]
    proc = _spawn([sys.executable, "-m", "vton", *argv], ENV)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*.png")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 1 <= len(written) < 4, "the run was not stopped mid-way"
    assert not (out / "run.json").exists()
    summary = run_ok(capsys, argv)
    assert summary["skipped"] == len(written) and summary["generated"] == 4 - len(written)
    assert {n: (out / n).stat().st_mtime_ns for n in written} == written
    key = json.loads((out / "params.json").read_text())["key"]
    assert all(g.is_complete(out / g.result_name(p, c), key) for p, c in UNPAIRED)
    assert not list(out.glob(".*.tmp"))
