"""Checkpoints are atomic, round-trip bit-exactly, and resume picks the newest complete one."""
import json

import pytest
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from vton.errors import InputError
from vton.nn.vgg import VGG19Features, VGGPerceptualLoss
from vton.train.common import atomic_dir, latest_checkpoint, load_checkpoint, save_checkpoint


class Tiny(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, width: int = 4):
        super().__init__()
        self.lin = torch.nn.Linear(width, width)


def test_checkpoint_round_trip_and_resume(tmp_path):
    torch.manual_seed(0)
    model, opt = Tiny(), None
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.lin(torch.randn(2, 4)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path, 5, {"net": model}, opt, {"note": "x"})
    save_checkpoint(tmp_path, 12, {"net": model}, opt)
    (tmp_path / "checkpoints" / "step-000020").mkdir()  # a crashed write: no state.json
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt.name == "step-000012"
    other = Tiny()
    opt2 = torch.optim.Adam(other.parameters(), lr=1e-3)
    step, extra = load_checkpoint(ckpt, {"net": other}, opt2)
    assert step == 12 and extra == {}
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_checkpoint_keeps_newest_and_rejects_mismatch(tmp_path):
    for s in range(5):
        save_checkpoint(tmp_path, s, {"net": Tiny()}, keep=2)
    assert [p.name for p in sorted((tmp_path / "checkpoints").iterdir())] == ["step-000003", "step-000004"]
    with pytest.raises(InputError, match="does not match"):
        load_checkpoint(latest_checkpoint(tmp_path), {"net": Tiny(width=3)})


def test_atomic_dir_keeps_old_on_failure(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "a.json").write_text(json.dumps(1))
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as d:
            (d / "a.json").write_text(json.dumps(2))
            raise RuntimeError("boom")
    assert json.loads((target / "a.json").read_text()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_vgg_loads_torchvision_layout_and_gives_gradients(tmp_path):
    torch.manual_seed(0)
    vgg = VGG19Features()
    keys = list(vgg.state_dict())
    assert keys[0] == "features.0.weight" and keys[-1] == "features.34.bias" and len(keys) == 32
    state = dict(vgg.state_dict())
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a full torchvision dict also has the classifier
    torch.save(state, tmp_path / "vgg19.pth")
    loss_fn = VGGPerceptualLoss.from_file(tmp_path / "vgg19.pth")
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    y = torch.rand(1, 3, 32, 32)
    loss = loss_fn(x * 2 - 1, y * 2 - 1)
    loss.backward()
    assert loss.item() > 0 and x.grad.abs().sum() > 0
    assert loss_fn(y, y).item() == 0


def test_vgg_rejects_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        VGGPerceptualLoss.from_file(tmp_path / "none.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(InputError, match="not a torchvision VGG19"):
        VGGPerceptualLoss.from_file(tmp_path / "bad.pth")
