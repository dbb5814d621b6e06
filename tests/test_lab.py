"""The Streamlit lab under `streamlit.testing.v1.AppTest`: every page runs, sliders change what they should
(and only that), bad input becomes one error, a run exports as a zip.

Most tests drive one page through a small harness script (the shared sidebar, then the page file)
on a tiny random-weight pipeline and a two-pair synthetic dataset at 128x96, so they are quick on
a CPU. `test_app_pages_run_on_defaults` runs the real ``streamlit_app.py`` with its navigation.
"""
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/1_preprocessing.py", "pages/2_warping.py", "pages/3_diffusion.py", "pages/4_compare.py"]
TIMEOUT = 300

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module", autouse=True)
def importable_lab():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def env(tmp_path_factory, importable_lab):
    from lab.fixtures import write_tiny_dataset, write_tiny_pipeline

    d = tmp_path_factory.mktemp("lab")
    return {"pipeline": str(write_tiny_pipeline(d / "pipe")), "dataset": str(write_tiny_dataset(d / "data"))}


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def harness(page: str) -> AppTest:
    """The shared sidebar followed by one page file, as the app runs it (without st.navigation)."""
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import runpy
from lab.settings import sidebar
sidebar()
runpy.run_path({str(ROOT / page)!r})
"""
    return AppTest.from_string(script, default_timeout=TIMEOUT)


def on_tiny(at: AppTest, env, steps: int = 3) -> AppTest:
    """Point the sidebar at the tiny dataset and pipeline (initial widget values)."""
    at.session_state["input_kind"] = "Dataset folder"
    at.session_state["dataset_folder"] = env["dataset"]
    at.session_state["pipeline_folder"] = env["pipeline"]
    at.session_state["size"] = "128 x 96"
    at.session_state["steps"] = steps
    return at


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def image_url(at: AppTest, caption_start: str) -> str:
    """Media URL of the image whose caption starts with ``caption_start`` (it is a hash of the PNG bytes)."""
    for el in at.get("image"):
        for url, caption in zip(el.value, el.captions):
            if caption.startswith(caption_start):
                return url
    raise AssertionError(f"no image captioned {caption_start!r}: {[c for el in at.get('image') for c in el.captions]}")


def captions(at: AppTest) -> list[str]:
    return [c for el in at.get("image") for c in el.captions]


# ----------------------------------------------------------------------------- the real app


@pytest.mark.parametrize("page", [None] + PAGES)
def test_app_pages_run_on_defaults(page):
    """streamlit_app.py with its navigation and the embedded defaults (few steps, small size): no exception."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.session_state["steps"] = 2
    at.session_state["size"] = "128 x 96"
    if page:
        at.switch_page(page)
    at.run()
    at.run()  # AppTest shows the entry script's sidebar from the second run after a page switch
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.slider(key="steps").value == 2
    assert at.title


# ----------------------------------------------------------------------------- each page on the tiny setup


def test_preprocessing_page_shows_every_map(env):
    at = on_tiny(harness(PAGES[0]), env).run()
    assert not problems(at)
    got = " | ".join(captions(at))
    for name in ("Person mask", "Parse map", "DensePose parts", "DensePose U | V", "Agnostic mask on photo",
                 "Agnostic image", "Parse-agnostic", "Cloth", "Cloth mask"):
        assert name in got
    assert "source: synthetic" in got or "source: dataset" in got
    assert "of the true garment left visible" in got  # a dataset pair has ground truth: misses are shown
    assert len(at.get("plotly_chart")) == 1  # the skeleton
    assert len(at.get("download_button")) >= 9


def test_warping_page_shows_five_scales_tps_and_error(env):
    at = on_tiny(harness(PAGES[1]), env).run()
    assert not problems(at)
    got = captions(at)
    assert sum(c.startswith("level ") for c in got) == 5
    assert any(c.startswith("Fold map") for c in got)
    assert any(c.startswith("TPS warp") for c in got) and any(c.startswith("Warped cloth (after") for c in got)
    metrics = {m.label: m.value for m in at.metric}
    assert "FlowWarpNet mean EPE" in metrics and "TPS mean EPE" in metrics
    assert len(at.get("plotly_chart")) == 6  # five quiver plots and the histogram


def test_diffusion_page_runs_trajectory_and_metrics(env):
    at = on_tiny(harness(PAGES[2]), env).run()
    assert not problems(at)
    assert image_url(at, "Try-on, seed 0") and image_url(at, "Composite")
    assert image_url(at, "x_t at t=") and image_url(at, "predicted x̂0")
    assert {m.label for m in at.metric} >= {"SSIM vs ground truth", "PSNR vs ground truth"}
    assert at.slider(key="traj_step").max == 3
    at.button(key="grid_run").click().run()
    assert sum(c.startswith("seed ") for c in captions(at)) == 4


def test_compare_page_shows_difference(env):
    at = on_tiny(harness(PAGES[3]), env, steps=2).run()
    assert not problems(at)
    assert image_url(at, "|A - B|") and image_url(at, "Run A") and image_url(at, "Run B")


# ----------------------------------------------------------------------------- sliders change what they should


def test_steps_and_seed_change_the_result(env):
    at = on_tiny(harness(PAGES[2]), env).run()
    first = image_url(at, "Try-on")
    at.sidebar.slider(key="steps").set_value(4).run()
    assert not problems(at)
    more_steps = image_url(at, "Try-on")
    assert more_steps != first
    at.sidebar.number_input(key="seed").set_value(7).run()
    assert image_url(at, "Try-on, seed 7") not in (first, more_steps)
    at.sidebar.number_input(key="seed").set_value(0)
    at.sidebar.slider(key="steps").set_value(3).run()
    assert image_url(at, "Try-on") == first  # same settings, same picture


def test_sliders_rerun_only_what_they_change(env, monkeypatch):
    """DDIM steps re-run sampling only; the scrubber re-runs nothing but a cached decode."""
    import streamlit as st

    from vton.diffusion.pipeline import TryOnPipeline
    from vton.preprocess.pipeline import Preprocessor

    calls = {"person": 0, "prepare": 0, "sample": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(Preprocessor, "person", counting("person", Preprocessor.person))
    monkeypatch.setattr(TryOnPipeline, "prepare", counting("prepare", TryOnPipeline.prepare))
    monkeypatch.setattr(TryOnPipeline, "sample", counting("sample", TryOnPipeline.sample))
    st.cache_data.clear()
    st.cache_resource.clear()

    at = harness(PAGES[2])
    for key, value in dict(pipeline_folder=env["pipeline"], size="128 x 96", steps=2, input_kind="Upload photos").items():
        at.session_state[key] = value
    at.run()
    person = np.asarray(Image.open(ROOT / "assets/samples/photos/astronaut.png").convert("RGB"))
    cloth = np.full((128, 96, 3), 255, np.uint8)
    cloth[20:110, 15:80] = (30, 90, 200)
    at.sidebar.file_uploader(key="upload_person").upload("person.png", png(person), "image/png")
    at.sidebar.file_uploader(key="upload_cloth").upload("cloth.png", png(cloth), "image/png")
    at.run()
    assert not problems(at), problems(at)
    assert calls == {"person": 1, "prepare": 1, "sample": 1}

    at.sidebar.slider(key="steps").set_value(3).run()
    assert calls == {"person": 1, "prepare": 1, "sample": 2}
    before = image_url(at, "x_t at t=")
    at.slider(key="traj_step").set_value(1).run()
    assert calls == {"person": 1, "prepare": 1, "sample": 2}
    assert image_url(at, "x_t at t=") != before


def test_default_steps_come_from_the_model_card(env, tmp_path):
    import shutil

    folder = tmp_path / "pipe"
    shutil.copytree(env["pipeline"], folder)
    (folder / "MODEL_CARD.md").write_text("# Tiny\n\nTrained 3000 steps.\n\nDefault DDIM steps: 4\nDefault strength: 0.6\n")
    at = harness(PAGES[2])
    for key, value in dict(input_kind="Dataset folder", dataset_folder=env["dataset"], pipeline_folder=str(folder),
                           size="128 x 96").items():
        at.session_state[key] = value
    at.run()
    assert not problems(at)
    assert at.sidebar.slider(key="steps").value == 4
    assert at.sidebar.slider(key="strength").value == 0.6
    assert at.slider(key="traj_step").max == round(0.6 * 4)  # strength keeps round(strength x steps) steps


# ----------------------------------------------------------------------------- bad input


def test_bad_upload_shows_one_error_and_the_lab_keeps_working(env):
    at = harness(PAGES[0])
    at.session_state["input_kind"] = "Upload photos"
    at.run()
    at.sidebar.file_uploader(key="upload_person").upload("notes.txt", b"this is not an image", "text/plain")
    at.sidebar.file_uploader(key="upload_cloth").upload("cloth.png", png(np.full((96, 72, 3), 200, np.uint8)),
                                                        "image/png")
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "person photo" in at.error[0].value
    assert at.sidebar.slider(key="steps")  # the rest of the lab is still there
    # a good input again: the page recovers
    at.sidebar.radio(key="input_kind").set_value("Dataset folder").run()
    at.sidebar.text_input(key="dataset_folder").set_value(env["dataset"]).run()
    assert not problems(at)


@pytest.mark.parametrize("which", ["person", "cloth"])
def test_photo_with_nothing_in_it_shows_one_error(env, which):
    """A photo with no person / a cloth photo that is all background: one plain error, no traceback."""
    blank = png(np.full((128, 96, 3), 255, np.uint8))
    person = np.asarray(Image.open(ROOT / "assets/samples/photos/astronaut.png").convert("RGB"))
    cloth = np.full((128, 96, 3), 255, np.uint8)
    cloth[20:110, 15:80] = (30, 90, 200)
    at = harness(PAGES[1])
    at.session_state["input_kind"] = "Upload photos"
    at.session_state["size"] = "128 x 96"
    at.run()
    at.sidebar.file_uploader(key="upload_person").upload("p.png", blank if which == "person" else png(person), "image/png")
    at.sidebar.file_uploader(key="upload_cloth").upload("c.png", blank if which == "cloth" else png(cloth), "image/png")
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert ("no person" if which == "person" else "no garment") in at.error[0].value


def test_bad_parse_file_shows_an_error_and_keeps_the_built_in_map(env):
    at = on_tiny(harness(PAGES[0]), env).run()
    at.file_uploader(key="upload_parse").upload("parse.png", png(np.zeros((8, 8, 3), np.uint8) + 77), "image/png")
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "parse file" in at.error[0].value
    assert any("Parse map" in c for c in captions(at))


def test_user_parse_file_replaces_the_built_in_one(env):
    at = on_tiny(harness(PAGES[0]), env).run()
    labels = np.zeros((128, 96), np.uint8)
    labels[:, 48:] = 13  # face everywhere on the right: clearly not the dataset's parse
    at.file_uploader(key="upload_parse").upload("parse.png", png(labels), "image/png")
    at.run()
    assert not problems(at)
    assert any(c.startswith("Parse map") and "user file" in c for c in captions(at))


def test_user_densepose_render_is_read_and_its_encoding_said(env):
    """A dp_segm colour render (VITON-HD's image-densepose, JPEG) as the DensePose upload (issue 12)."""
    import cv2

    at = on_tiny(harness(PAGES[0]), env).run()
    parts = np.zeros((128, 96), np.uint8)
    parts[30:80, 30:66] = 2  # torso
    parts[8:30, 36:60] = 23  # head
    parts[30:70, 18:30] = 16  # an upper arm
    bgr = cv2.applyColorMap((parts.astype(np.float32) * 255 / 24).astype(np.uint8), cv2.COLORMAP_PARULA)
    bgr[parts == 0] = 0
    jpeg = cv2.imencode(".jpg", bgr)[1].tobytes()
    at.file_uploader(key="upload_densepose").upload("render.jpg", jpeg, "image/jpeg")
    at.run()
    assert not problems(at)
    got = " | ".join(captions(at))
    assert "read as dp_segm colour render" in got and "U and V are not in the render" in got
    assert "DensePose U | V" not in got
    assert any("DensePose (dp_segm colour render)" in i.value for i in at.info)


@pytest.mark.parametrize("page", [PAGES[1], PAGES[2]])
def test_missing_checkpoint_folder_shows_an_error(env, page, tmp_path):
    at = on_tiny(harness(page), env)
    at.session_state["pipeline_folder"] = str(tmp_path / "no-such-weights")
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "no-such-weights" in at.error[0].value
    if page == PAGES[1]:
        assert any(c.startswith("TPS warp") for c in captions(at))  # the baseline needs no weights


def test_mismatched_checkpoint_folder_shows_an_error(env, tmp_path):
    import shutil

    bad = tmp_path / "pipe"
    shutil.copytree(env["pipeline"], bad)
    (bad / "unet" / "config.json").write_text((bad / "unet" / "config.json").read_text().replace('"in_channels": 9',
                                                                                                 '"in_channels": 7'))
    at = on_tiny(harness(PAGES[2]), env)
    at.session_state["pipeline_folder"] = str(bad)
    at.run()
    assert not at.exception
    assert len(at.error) == 1


# ----------------------------------------------------------------------------- export


def test_run_exports_every_stage(env):
    """The zip the diffusion page offers: built here without a browser, from the same cached stages."""
    from lab import exporting, models, stages
    from lab.inputs import load_input
    from lab.session import Prepared
    from lab.settings import INPUT_FOLDER, InputChoice, LabSettings, ModelChoice, Sampling

    s = LabSettings(InputChoice(INPUT_FOLDER, folder=env["dataset"]), ModelChoice(env["pipeline"]),
                    Sampling(3, 0.0, 1.0, 5), (128, 96))
    inp = load_input(s.inputs, s.size)
    maps = stages.UserMaps()
    prep = Prepared(inp, stages.person_stage(inp, maps), stages.cloth_stage(inp), maps)
    pipe = models.load_pipeline(s.models)
    run = stages.sample_stage(prep.key, "tiny", pipe, prep.person, prep.cloth, s.size, stages.RunParams(3, 0.0, 1.0, (5,)))
    warp = stages.warp_stage(prep.key, pipe.warper, "tiny", prep.person, prep.cloth, "cpu", "float32")
    zf = zipfile.ZipFile(io.BytesIO(exporting.build_run_zip(s, prep, run, warp)))
    names = set(zf.namelist())
    for name in ("images/0_inputs/person.png", "images/1_preprocessing/parse.png", "images/2_warping/flow_level5.png",
                 "images/2_warping/aligned_cloth.png", "images/3_diffusion/composite.png",
                 "images/3_diffusion/result_seed5.png", "keypoints.json", "trajectory.gif", "run.json"):
        assert name in names
    import json

    manifest = json.loads(zf.read("run.json"))
    assert manifest["sampling"] == {"steps": 3, "eta": 0.0, "strength": 1.0, "seeds": [5]}
    assert manifest["models"]["unet"]["weights"] and "sampling" in manifest["timings_seconds"]
    assert Image.open(zf.open("trajectory.gif")).n_frames == 3


def test_a_photo_of_another_aspect_is_exported_in_its_own_geometry(env):
    """The bundled astronaut is square: the lab pads it to 4:3 as the pipeline does (its reflection: no white
    bars, no smeared rows) and the exported try-on is square again, at the photo's size."""
    from lab import exporting, models, stages
    from lab.inputs import load_input
    from lab.session import Prepared
    from lab.settings import INPUT_SAMPLE, PHOTO_SAMPLE, InputChoice, LabSettings, ModelChoice, Sampling

    s = LabSettings(InputChoice(INPUT_SAMPLE, sample=PHOTO_SAMPLE), ModelChoice(env["pipeline"]),
                    Sampling(2, 0.0, 1.0, 5), (128, 96))
    inp = load_input(s.inputs, s.size)
    assert inp.person_image.shape == (128, 96, 3) and inp.padding.photo_size == (512, 512)
    top = inp.person_image[:int(inp.padding.box[0]) + 1].astype(int)
    assert not (np.diff(top, axis=0) == 0).all(axis=(1, 2)).any(), "no row above the photo repeats the next"
    assert np.abs(top[::-1][:4] - inp.person_image[len(top):len(top) + 4]).mean() < 40, "the photo mirrored"
    maps = stages.UserMaps()
    prep = Prepared(inp, stages.person_stage(inp, maps), stages.cloth_stage(inp), maps)
    pipe = models.load_pipeline(s.models)
    run = stages.sample_stage(prep.key, "tiny", pipe, prep.person, prep.cloth, s.size, stages.RunParams(2, 0.0, 1.0, (5,)))
    zf = zipfile.ZipFile(io.BytesIO(exporting.build_run_zip(s, prep, run, None)))
    assert Image.open(zf.open("images/3_diffusion/result_seed5.png")).size == (512, 512)
    assert Image.open(zf.open("images/3_diffusion/result_seed5_working.png")).size == (96, 128)
