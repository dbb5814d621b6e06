"""Faults in multi-process training, measured: a rank killed or hung mid-run, a kill during a
checkpoint write, and launches that must not leave processes behind.

The two-process runs start each rank as its own ``python -m vton`` with ``RANK`` /
``WORLD_SIZE`` / ``MASTER_ADDR`` set, as on two machines: no torchrun agent watches them,
so the survivor has to notice the failure by itself. Tiny warper (64x64, 4 channels).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import textwrap
import time
from pathlib import Path

import helpers
import psutil
import pytest
import torch

from vton.train.common import latest_checkpoint, load_checkpoint
from vton.warp.network import FlowWarpNet

STEPS = 8
SURVIVOR_LIMIT = 120.0  # seconds: the bound for the survivor to stop with a message


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    samples = helpers.REPO / "assets" / "samples" / "synthetic"
    root = tmp_path_factory.mktemp("faults") / "data"
    root.mkdir()
    os.symlink(samples / "test", root / "train")
    shutil.copy(samples / "test_pairs.txt", root / "train_pairs.txt")
    return root


def warp_args(data: Path, out: Path, *extra) -> list:
    return ["train", "warp", "--data", data, "--out", out, "--size", "64x64", "--batch-size", "1", "--steps", STEPS,
            "--save-every", "2", "--log-every", "2", "--image-every", "1000", "--base-channels", "4", "--threads", "1", *extra]


def wait_for(path: Path, procs, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        assert all(p.poll() is None for p in procs), [p.returncode for p in procs]
        time.sleep(0.01)


def error_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("error:")]


def final_weights(out: Path) -> dict[str, torch.Tensor]:
    return FlowWarpNet.from_pretrained(out / "final").state_dict()


def test_a_killed_rank_stops_the_other_and_resume_gives_the_uninterrupted_weights(data, tmp_path):
    out = tmp_path / "run"
    procs = helpers.start_ranks(warp_args(data, out), tmp_path / "killed")
    try:
        wait_for(out / "checkpoints" / "step-000002" / "state.json", procs)
        procs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        codes = helpers.wait_ranks(procs, SURVIVOR_LIMIT)
        took = time.monotonic() - killed
    finally:
        for p in procs:
            helpers.kill_tree(p.pid, grace=0.5)
    assert codes == [1, -signal.SIGKILL], codes
    assert took < 60, took  # measured ~5 s: gloo sees the closed connection at once, the heartbeat names the rank
    errors = error_lines(tmp_path / "killed" / "rank0.err")
    assert len(errors) == 1 and "rank 1 of 2 stopped" in errors[0], errors
    assert (tmp_path / "killed" / "rank0.out").read_text() == ""  # no result from a failed run

    # the newest checkpoint is complete and loads; the run did stop before its end
    ckpt = latest_checkpoint(out)
    net = FlowWarpNet.from_config(FlowWarpNet.load_config(ckpt / "warp"))
    step, _ = load_checkpoint(ckpt, {"warp": net})
    assert 2 <= step < STEPS and not (out / "final").exists()

    # --resume finishes, and ends where an uninterrupted run of the same steps ends
    assert helpers.wait_ranks(helpers.start_ranks(warp_args(data, out, "--resume"), tmp_path / "resumed"), 300) == [0, 0]
    report = json.loads((tmp_path / "resumed" / "rank0.out").read_text())  # stdout holds the result only
    assert report["step"] == STEPS and (tmp_path / "resumed" / "rank1.out").read_text() == ""
    assert helpers.wait_ranks(helpers.start_ranks(warp_args(data, tmp_path / "straight"), tmp_path / "straight-logs"), 300) == [0, 0]
    resumed, straight = final_weights(out), final_weights(tmp_path / "straight")
    assert resumed.keys() == straight.keys()
    for k in resumed:
        assert torch.allclose(resumed[k], straight[k], rtol=1e-5, atol=1e-6), k
    # ... a tolerance far below what training after the checkpoint moved the weights by
    moved = max((resumed[k] - v).abs().max().item() for k, v in net.state_dict().items())
    assert moved > 1e-3, moved


def test_a_hung_rank_is_named_once_the_collective_timeout_passes(data, tmp_path):
    """SIGSTOP: the process is alive but silent, so only the collective timeout (5 s here) can end the wait."""
    out = tmp_path / "run"
    procs = helpers.start_ranks(warp_args(data, out), tmp_path / "logs", env={"VTON_COLLECTIVE_TIMEOUT": "5"})
    try:
        wait_for(out / "checkpoints" / "step-000002" / "state.json", procs)
        procs[1].send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        procs[0].wait(timeout=SURVIVOR_LIMIT)
        took = time.monotonic() - stopped
    finally:
        for p in procs:
            helpers.kill_tree(p.pid, grace=0.5)
    assert procs[0].returncode == 1
    assert took < 60, took  # 5 s timeout + 4 s of heartbeat watching + teardown
    errors = error_lines(tmp_path / "logs" / "rank0.err")
    assert len(errors) == 1 and "rank 1 of 2 stopped (no heartbeat" in errors[0], errors


def test_a_bad_collective_timeout_is_one_error_line(data, tmp_path):
    res = helpers.vton(*warp_args(data, tmp_path / "o"), env=helpers.command_env(VTON_COLLECTIVE_TIMEOUT="soon"))
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert res.returncode == 2 and errors == ["error: VTON_COLLECTIVE_TIMEOUT must be a positive number of seconds, got 'soon'"]


# ----------------------------------------------------------------------------- a kill during a checkpoint write

WRITER = textwrap.dedent('''
    import os, signal, sys, torch
    from diffusers import ConfigMixin, ModelMixin
    from diffusers.configuration_utils import register_to_config
    from vton.train import common

    class Tiny(ModelMixin, ConfigMixin):
        @register_to_config
        def __init__(self, width: int = 4):
            super().__init__()
            self.lin = torch.nn.Linear(width, width)

    out, where = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    model = Tiny()
    common.save_checkpoint(out, 1, {"net": model})
    with torch.no_grad():
        model.lin.weight.add_(1.0)
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    if where == "weights":  # half the files written, state.json not yet
        save = Tiny.save_pretrained
        Tiny.save_pretrained = lambda self, path, **kw: (save(self, path, **kw), die())
        common.save_checkpoint(out, 2, {"net": model})
    else:  # rewriting step 1: killed between moving the old folder aside and renaming the new one in
        replace, calls = os.replace, []
        def replace_then_die(a, b):
            replace(a, b)
            calls.append(b)
            if len(calls) == 1:
                die()
        common.os.replace = replace_then_die
        common.save_checkpoint(out, 1, {"net": model})
''')


@pytest.mark.parametrize("where", ["weights", "rename"])
def test_a_kill_during_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, where):
    res = helpers.run([sys.executable, "-c", WRITER, tmp_path, where], timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    root = tmp_path / "checkpoints"
    assert any(p.name.startswith(".step-") for p in root.iterdir())  # the interrupted write left its traces
    ckpt = latest_checkpoint(tmp_path)  # (and repairs a half-done replacement)
    assert ckpt.name == "step-000001"
    from safetensors.torch import load_file

    state = {}
    for f in (ckpt / "net").glob("*.safetensors"):
        state.update(load_file(str(f)))
    torch.manual_seed(0)
    assert torch.equal(state["lin.weight"], torch.nn.Linear(4, 4).weight.detach())  # step 1's weights, not the new ones
    assert json.loads((ckpt / "state.json").read_text())["step"] == 1


# ----------------------------------------------------------------------------- no process left behind


def test_a_timed_out_torchrun_is_killed_with_all_its_workers(tmp_path):
    """torchrun starts each worker in a session of its own: killing torchrun alone orphans them."""
    script = tmp_path / "sleeper.py"
    script.write_text("import time\ntime.sleep(600)\n")
    marker = f"timeout-test-{os.getpid()}"
    env = helpers.command_env(VTON_TEST_SESSION=marker)
    started = time.monotonic()
    with pytest.raises(helpers.LaunchTimeout, match="ran past 8 s"):
        helpers.run([helpers.TORCHRUN, "--nproc_per_node", "2", "--standalone", script], timeout=8, env=env)
    assert time.monotonic() - started < 30
    assert helpers.leftovers(marker, grace=5) == []


def test_the_suite_fails_when_a_test_leaves_a_process_behind(tmp_path):
    leak = tmp_path / "test_leak.py"
    leak.write_text("import subprocess, sys\n\ndef test_leaks():\n"
                    "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n")
    env = helpers.command_env(PYTHONPATH=f"{helpers.REPO / 'tests'}{os.pathsep}{helpers.REPO}")
    res = helpers.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", leak,
                       "--rootdir", tmp_path], timeout=120, env=env, cwd=tmp_path)
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    assert "1 passed" in res.stdout and "were still alive at the end" in res.stdout
    sleepers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] and "time.sleep(600)" in " ".join(p.info["cmdline"])]
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in sleepers)
