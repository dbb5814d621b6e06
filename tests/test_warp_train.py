"""Warp training and evaluation end to end on a few synthetic pairs: losses, a short run, resume,
two processes, the eval command."""
import json
import os
import subprocess
import sys
from pathlib import Path

import helpers
import pytest
import torch

from vton.data.synth.writer import write_dataset
from vton.tensors import pairs_to_batch
from vton.data.synth.render import generate_pair
from vton.warp.losses import WarpLossWeights, warp_losses
from vton.warp.network import FlowWarpNet, WarpOutput
from vton.warp.ops import apply_flow, resize_flow
from vton.warp.train import WarpTrainConfig, train_warp

SIZE = (128, 96)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, n=6, seed=0, size=SIZE, split="train")
    write_dataset(root, n=4, seed=100, size=SIZE, split="test")
    return root


def run_cli(*args, cwd=REPO, launcher=(sys.executable, "-m", "vton")) -> subprocess.CompletedProcess:
    """Through `helpers.run`: pipes captured, the whole process tree killed on a timeout."""
    return helpers.run([*launcher, *map(str, args)], cwd=cwd, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))


# ----------------------------------------------------------------------------- losses


def output_from_flow(batch, flow) -> WarpOutput:
    """A WarpOutput built by warping with ``flow`` (coarse levels from resizing it)."""
    h, w = batch.size
    flows = [resize_flow(flow, (h // 2**k, w // 2**k)) for k in (5, 4, 3, 2, 1)]
    warped = apply_flow(batch.cloth, flows[-1], size=(h, w))
    mask = apply_flow(batch.cloth_mask, flows[-1], size=(h, w), padding_mode="zeros")
    logits = batch.parse * 20.0
    return WarpOutput(flows, warped, mask, logits, mask, warped)


def test_the_true_flow_scores_better_than_no_warp_on_every_flow_term():
    batch = pairs_to_batch([generate_pair(s, SIZE) for s in range(2)])
    true = warp_losses(output_from_flow(batch, batch.gt_flow), batch)
    none = warp_losses(output_from_flow(batch, torch.zeros_like(batch.gt_flow)), batch)
    for term in ("mask", "cloth", "intermediate", "epe", "total"):
        assert true[term] < none[term], term
    assert true["epe"] < 0.3 * none["epe"]
    assert true["seg"] < 0.01  # logits built from the target parse


def test_perceptual_term_only_with_a_vgg_and_zero_weights_skip_terms():
    batch = pairs_to_batch([generate_pair(1, SIZE)])
    out = output_from_flow(batch, torch.zeros_like(batch.gt_flow))
    assert "vgg" not in warp_losses(out, batch)
    terms = warp_losses(out, batch, vgg=lambda x, y: (x - y).abs().mean())
    assert terms["vgg"] > 0
    only_seg = WarpLossWeights(mask=0, cloth=0, vgg=0, tv=0, epe=0, intermediate=0)
    assert set(warp_losses(out, batch, only_seg)) == {"seg", "total"}


# ----------------------------------------------------------------------------- training


@pytest.mark.slow
def test_short_training_lowers_the_loss_and_exports(data, tmp_path, one_torch_thread):
    config = WarpTrainConfig(
        data=data, out=tmp_path / "run", size=SIZE, batch_size=2, steps=30, lr=2e-3, save_every=15, log_every=5,
        image_every=15, seed=0, warmup=3, model={"base_channels": 8},
    )
    result = train_warp(config)
    assert result.step == 30
    assert result.losses["total"] < 0.85 * result.first_losses["total"]
    assert result.losses["epe"] < result.first_losses["epe"]
    net = FlowWarpNet.from_pretrained(result.final)
    assert net.config.base_channels == 8
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-000015", "step-000030"]
    assert any((tmp_path / "run" / "logs").rglob("events.out.tfevents*"))


@pytest.mark.slow
def test_resume_continues_from_the_newest_checkpoint(data, tmp_path):
    out = tmp_path / "run"
    common = ["--data", data, "--out", out, "--size", "128x96", "--batch-size", "2", "--save-every", "2",
              "--base-channels", "8", "--log-every", "1", "--threads", "1"]
    first = run_cli("train", "warp", *common, "--steps", "2")
    assert first.returncode == 0, first.stderr
    again = run_cli("train", "warp", *common, "--steps", "3", "--resume")
    assert again.returncode == 0, again.stderr
    assert "resumed from" in again.stdout + again.stderr and "step-000002" in again.stdout + again.stderr
    state = json.loads((out / "checkpoints" / "step-000003" / "state.json").read_text())
    assert state["step"] == 3


@pytest.mark.slow
def test_two_process_cpu_run_completes(data, tmp_path):
    res = run_cli(
        "-m", "vton", "train", "warp", "--data", data, "--out", tmp_path / "ddp", "--size", "128x96",
        "--batch-size", "1", "--steps", "2", "--save-every", "2", "--log-every", "1", "--base-channels", "8",
        launcher=(helpers.TORCHRUN, "--nproc_per_node", "2", "--standalone"),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout[res.stdout.index("{"):])  # one report (rank 0's): two would not parse
    assert report["processes"] == 2 and report["step"] == 2
    assert (tmp_path / "ddp" / "final" / "config.json").is_file()


# ----------------------------------------------------------------------------- evaluation


@pytest.mark.slow
def test_eval_command_scores_identity_tps_and_a_network(data, tmp_path):
    scores = {}
    FlowWarpNet(base_channels=8).save_pretrained(tmp_path / "net")
    for name, flag in [("identity", ["--identity"]), ("tps", ["--tps"]), ("network", ["--weights", tmp_path / "net"])]:
        res = run_cli("eval", "warp", "--data", data, "--size", "128x96", "--threads", "1", *flag)
        assert res.returncode == 0, res.stderr
        scores[name] = json.loads(res.stdout)
        assert scores[name]["n"] == 4 and scores[name]["warper"] == name
        for key in ("epe_px", "cloth_l1", "cloth_ssim", "mask_iou", "fold_pct"):
            assert isinstance(scores[name][key], float), key
    # an untrained network starts at the identity warp
    assert scores["network"]["epe_px"] == pytest.approx(scores["identity"]["epe_px"], rel=1e-4)
    assert scores["tps"]["epe_px"] < scores["identity"]["epe_px"]


def test_eval_bad_input_is_one_line(data, tmp_path):
    res = run_cli("eval", "warp", "--data", data, "--weights", tmp_path / "missing")
    assert res.returncode == 2 and res.stderr.startswith("error:") and "not found" in res.stderr
    FlowWarpNet(base_channels=8).save_pretrained(tmp_path / "net")
    res = run_cli("eval", "warp", "--data", data, "--weights", tmp_path / "net", "--size", "100x96")
    assert res.returncode == 2 and "divisible by 32" in res.stderr
    res = run_cli("train", "warp", "--data", tmp_path / "nodata", "--out", tmp_path / "o")
    assert res.returncode == 2 and "not found" in res.stderr


def test_fold_term_penalizes_a_folding_flow_only():
    import torch

    from vton.tensors import TryOnBatch
    from vton.warp.losses import WarpLossWeights, warp_losses
    from vton.warp.network import FlowWarpNet

    torch.manual_seed(0)
    b, h, w = 1, 64, 64
    net = FlowWarpNet(base_channels=4)
    ones = torch.ones(b, 1, h, w)
    parse = torch.zeros(b, 13, h, w)
    parse[:, 0] = 1
    batch = TryOnBatch(person=torch.zeros(b, 3, h, w), cloth=torch.zeros(b, 3, h, w), cloth_mask=ones,
                       densepose=torch.zeros(b, 3, h, w), parse_agnostic=parse, parse=parse,
                       agnostic=torch.zeros(b, 3, h, w), agnostic_mask=ones, parse_agnostic_labels=torch.zeros(b, 1, h, w),
                       gt_warped_mask=ones)
    with torch.no_grad():
        out = net(batch.cloth, batch.cloth_mask, batch.densepose, batch.parse_agnostic)
    weights = WarpLossWeights(fold=1.0)
    assert warp_losses(out, batch, weights)["fold"].item() == 0  # identity flow: det = 1
    xs = torch.linspace(-1, 1, 32)
    out.flows[-1] = torch.stack([-2 * xs.view(1, 32).expand(32, 32), torch.zeros(32, 32)])[None]  # mirrors x
    assert warp_losses(out, batch, weights)["fold"].item() > 0.5
