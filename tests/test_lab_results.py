"""The Compare page on a results folder (issue 16 part 5), under `streamlit.testing.v1.AppTest`.

``generate`` runs in-process on the tiny random pipeline (4 pairs, 64x64, 2 steps) into a paired
and an unpaired folder; the page opens them, shows a pair's result beside its person, cloth and
ground truth with that pair's SSIM / PSNR, and the run's parameters.
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from vton import metrics
from vton.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "pages" / "4_compare.py"
UNPAIRED = [("000001_00.jpg", "000002_00.jpg"), ("000002_00.jpg", "000003_00.jpg"),
            ("000003_00.jpg", "000004_00.jpg"), ("000004_00.jpg", "000001_00.jpg")]

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from lab.fixtures import write_tiny_dataset, write_tiny_pipeline

    root = tmp_path_factory.mktemp("lab_results")
    data = write_tiny_dataset(root / "data", n=4, size=(128, 96))
    (data / "test_pairs.txt").write_text("".join(f"{p} {c}\n" for p, c in UNPAIRED))
    pipe = write_tiny_pipeline(root / "pipe")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {"root": root, "data": data}
        for mode in ("paired", "unpaired"):
            out[mode] = root / mode
            assert main(["generate", "--data", str(data), "--pairs", mode, "--weights", str(pipe), "--out", str(out[mode]),
                         "--size", "64x64", "--steps", "2", "--seed", "5"]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def harness() -> AppTest:
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import runpy
from lab.settings import sidebar
sidebar()
runpy.run_path({str(PAGE)!r})
"""
    return AppTest.from_string(script, default_timeout=120)


def open_folder(folder, data: str = "") -> AppTest:
    at = harness()
    at.session_state["cmp_mode"] = "A results folder"
    at.session_state["results_folder"] = str(folder)
    at.session_state["results_data"] = data
    return at.run()


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def captions(at: AppTest) -> list[str]:
    return [c for el in at.get("image") for c in el.captions]


def url(at: AppTest, start: str) -> str:
    for el in at.get("image"):
        for u, c in zip(el.value, el.captions):
            if c.startswith(start):
                return u
    raise AssertionError(f"no image captioned {start!r}: {captions(at)}")


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def photo(world, name: str) -> np.ndarray:
    """A dataset person photo at the results' 64x64, read as the dataset reader reads it."""
    from vton.data.vitonhd import resize_image
    from vton.io import load_image

    return resize_image(load_image(world["data"] / "test" / "image" / name), (64, 64))


def test_a_paired_folder_shows_result_inputs_truth_metrics_and_run(world):
    at = open_folder(world["paired"])
    assert not problems(at), problems(at)
    got = captions(at)
    assert got[0].startswith("Result 000001_00_000001_00.png")
    assert any(c.startswith("Person 000001_00.jpg") for c in got) and any(c.startswith("Cloth 000001_00.jpg") for c in got)
    assert any(c.startswith("Ground truth") for c in got) and url(at, "|result - ground truth| x 4")
    assert any("from the results' params.json" in c.value for c in at.caption)  # no dataset given: params.json's
    result = png(world["paired"] / "000001_00_000001_00.png")
    truth = photo(world, "000001_00.jpg")
    m = {x.label: x.value for x in at.metric}
    assert m["SSIM vs ground truth"] == f"{metrics.ssim(result, truth):.3f}"
    assert m["PSNR vs ground truth"] == f"{metrics.psnr(result, truth):.2f} dB"
    run = json.loads((world["paired"] / "run.json").read_text())
    assert at.json and json.loads(at.json[0].value)["key"] == run["key"]
    assert [o for o in at.selectbox(key="results_pair").options][0].startswith("000001_00_000001_00.png")

    first = url(at, "Result ")
    at.selectbox(key="results_pair").set_value(2).run()
    assert not problems(at)
    assert captions(at)[0].startswith("Result 000003_00_000003_00.png") and url(at, "Result ") != first
    result = png(world["paired"] / "000003_00_000003_00.png")
    ssim3 = {x.label: x.value for x in at.metric}["SSIM vs ground truth"]
    truth = photo(world, "000003_00.jpg")
    assert ssim3 == f"{metrics.ssim(result, truth):.3f}"


def test_an_unpaired_folder_has_no_ground_truth(world):
    at = open_folder(world["unpaired"], data=str(world["data"]))
    assert not problems(at), problems(at)
    got = captions(at)
    assert got[0].startswith("Result 000001_00_000002_00.png") and any(c.startswith("Cloth 000002_00.jpg") for c in got)
    assert not any(c.startswith(("Ground truth", "|result")) for c in got) and not at.metric
    assert any("no ground truth" in c.value for c in at.caption)
    assert any("from this page's field" in c.value for c in at.caption)


def test_an_unfinished_folder_lists_what_is_done_and_its_settings(world, tmp_path):
    folder = tmp_path / "partial"
    shutil.copytree(world["paired"], folder)
    (folder / "run.json").unlink()
    (folder / "000002_00_000002_00.png").unlink()
    at = open_folder(folder)
    assert not problems(at), problems(at)
    options = at.selectbox(key="results_pair").options
    assert len(options) == 3 and not any(o.startswith("000002_00") for o in options)
    assert any("3 of 4 results finished" in c.value for c in at.caption)
    assert json.loads(at.json[0].value)["steps"] == 2  # params.json's settings


@pytest.mark.parametrize("folder, message", [("{root}/nowhere", "results folder not found"),
                                             ("", "Type the path of a results folder")])
def test_a_bad_folder_is_one_message(world, folder, message):
    at = open_folder(folder.format(root=world["root"]))
    assert not at.exception
    shown = [e.value for e in at.error] + [e.value for e in at.info]
    assert len(shown) == 1 and message in shown[0], shown


def test_the_sidebars_dataset_folder_is_used_when_this_page_has_none(world):
    at = harness()
    at.session_state["input_kind"] = "Dataset folder"
    at.session_state["dataset_folder"] = str(world["data"])
    at.session_state["cmp_mode"] = "A results folder"
    at.session_state["results_folder"] = str(world["unpaired"])
    at.run()
    assert not problems(at), problems(at)
    assert any("from the sidebar's dataset folder" in c.value for c in at.caption)
    assert captions(at)[0].startswith("Result 000001_00_000002_00.png")
