"""A real human parser from a local folder (issue 15): labels mapped to CIHP by name, the seed's and ATR's parsers
without a table per model, the parse map, agnostic and preprocess.json following it, bad folders refused in one line.

The models are tiny random `SegformerForSemanticSegmentation`s (depth 1, a few channels) saved with the seed's and
ATR's label names; a model's output is forced by its classifier's bias where a test needs a known parse.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vton.errors import InputError
from vton.preprocess import parser as hp
from vton.types import CIHP, Body25, Source

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "assets/samples/photos/astronaut.png"

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The seed's parser (yolo12138/segformer-b2-human-parse-24): the id2label of its config.json, and the label names
# its parsehuman.py writes beside its hard-coded table (DCI-VITON 9838c50), as test data.
SEED_CONFIG_LABELS = [
    "background", "hat", "hair", "glove", "glasses", "upper_only_torso_region", "dresses_only_torso_region",
    "coat_only_torso_region", "socks", "left_pants", "right_patns", "skin_around_neck_region", "scarf", "skirts",
    "face", "left_arm", "right_arm", "left_leg", "right_leg", "left_shoe", "right_shoe", "left_sleeve_for_upper",
    "right_sleeve_for_upper", "bag"]
SEED_COMMENT_LABELS = [
    "background", "hat", "hair", "glove", "glasses", "upper clothes", "dress", "coat", "socks", "left_pants",
    "right_pants", "skin_around_neck_region", "scarf", "skirt", "Face", "left arm", "right arm", "left leg",
    "right leg", "left shoe", "right shoe", "left_sleeve_for_upper", "right_sleeve_for_upper", "bag"]
# parsehuman.py's table: model id -> the CIHP label it writes (its bag becomes 0, background)
SEED_TABLE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 5, 5, 0]

# ATR's 18 labels (mattmdjaga/segformer_b2_clothes config.json id2label)
ATR_LABELS = ["Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
              "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf"]
ATR_EXPECTED = {"Background": "BACKGROUND", "Hat": "HAT", "Hair": "HAIR", "Sunglasses": "SUNGLASSES",
                "Upper-clothes": "UPPER_CLOTHES", "Skirt": "SKIRT", "Pants": "PANTS", "Dress": "DRESS", "Belt": None,
                "Left-shoe": "LEFT_SHOE", "Right-shoe": "RIGHT_SHOE", "Face": "FACE", "Left-leg": "LEFT_LEG",
                "Right-leg": "RIGHT_LEG", "Left-arm": "LEFT_ARM", "Right-arm": "RIGHT_ARM", "Bag": None,
                "Scarf": "SCARF"}


def write_parser(folder: Path, labels: list[str], force: str | None = None, input_size: int | None = 64,
                 seed: int = 0) -> Path:
    """A tiny random SegFormer with ``labels`` saved (safetensors) into ``folder``; ``force``: the label it always
    outputs (its classifier bias); ``input_size``: a preprocessor_config.json's square size (None: no file)."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    config = SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 8, 16, 16], num_attention_heads=[1, 1, 1, 1],
                             decoder_hidden_size=16, id2label=dict(enumerate(labels)),
                             label2id={n: i for i, n in enumerate(labels)})
    torch.manual_seed(seed)
    model = SegformerForSemanticSegmentation(config)
    if force is not None:
        with torch.no_grad():
            model.decode_head.classifier.bias.zero_()
            model.decode_head.classifier.bias[labels.index(force)] = 1e3
    model.save_pretrained(folder)
    if input_size is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "SegformerImageProcessor", "do_resize": True, "resample": 2,
            "size": {"height": input_size, "width": input_size}, "do_rescale": True, "rescale_factor": 1 / 255,
            "do_normalize": True, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}))
    return folder


@pytest.fixture(scope="module")
def photo():
    from vton.io import load_image

    return load_image(PHOTO)


@pytest.fixture(scope="module")
def preprocessor():
    from vton.preprocess.pipeline import Preprocessor

    pre = Preprocessor()
    yield pre
    pre.close()


# ----------------------------------------------------------------------------- names -> CIHP


@pytest.mark.parametrize("labels", [SEED_CONFIG_LABELS, SEED_COMMENT_LABELS], ids=["config", "parsehuman"])
def test_seed_labels_map_as_the_seeds_table(labels):
    lm = hp.map_labels(dict(enumerate(labels)))
    assert lm.lut().tolist() == SEED_TABLE  # label by label, as parsehuman.py hard-codes it
    assert lm.unmapped == ["bag"] and lm.to_json()["bag"] is None  # named, not dropped: background in the map
    assert lm.split == []


def test_atr_labels_map_by_name():
    lm = hp.map_labels({str(i): n for i, n in enumerate(ATR_LABELS)})  # config.json keys are strings
    assert lm.to_json() == ATR_EXPECTED
    assert lm.unmapped == ["Belt", "Bag"]


@pytest.mark.parametrize("name, expected", [
    ("Upper Clothes", CIHP.UPPER_CLOTHES), ("UPPER-CLOTHES", CIHP.UPPER_CLOTHES), ("UpperClothes", CIHP.UPPER_CLOTHES),
    ("t-shirt", CIHP.UPPER_CLOTHES), ("top, t-shirt, sweatshirt", CIHP.UPPER_CLOTHES), ("Sleeves", CIHP.UPPER_CLOTHES),
    ("left_sleeve_for_coat", CIHP.COAT), ("Jacket", CIHP.COAT), ("outerwear", CIHP.COAT), ("Trousers", CIHP.PANTS),
    ("jeans", CIHP.PANTS), ("Dresses", CIHP.DRESS), ("Torso-skin", CIHP.NECK), ("neck", CIHP.NECK),
    ("face skin", CIHP.FACE), ("head skin", CIHP.FACE), ("Gloves", CIHP.GLOVE), ("sunglasses", CIHP.SUNGLASSES),
    ("Socks", CIHP.SOCKS), ("Hats", CIHP.HAT), ("headband, head covering, hair accessory", CIHP.HAT),
    ("Left Shoe", CIHP.LEFT_SHOE), ("right-shoe", CIHP.RIGHT_SHOE), ("Right_Arm", CIHP.RIGHT_ARM),
    ("Upper Arms", (CIHP.LEFT_ARM, CIHP.RIGHT_ARM)), ("shoes", (CIHP.LEFT_SHOE, CIHP.RIGHT_SHOE)),
    ("leg", (CIHP.LEFT_LEG, CIHP.RIGHT_LEG)), ("Everything Else", CIHP.BACKGROUND), ("belt", None),
    ("bag, wallet", None), ("neckline", None), ("LABEL_3", None),
])
def test_label_names_are_normalised(name, expected):
    assert hp.cihp_target(name) == expected


def test_a_split_label_is_written_with_both_sides():
    lm = hp.map_labels({0: "background", 1: "hair", 2: "shoes"})
    assert lm.to_json() == {"background": "BACKGROUND", "hair": "HAIR", "shoes": ["LEFT_SHOE", "RIGHT_SHOE"]}
    assert lm.split == ["shoes"]


def test_labels_that_name_nothing_are_refused():
    with pytest.raises(InputError, match="names a CIHP body part or garment"):
        hp.map_labels({i: f"LABEL_{i}" for i in range(5)})
    with pytest.raises(InputError, match="names a CIHP body part or garment"):
        hp.map_labels({0: "background", 1: "road", 2: "sky"})  # background alone is not a human parser
    with pytest.raises(InputError, match="must be 0..2"):
        hp.map_labels({0: "background", 1: "hair", 5: "face"})


# ----------------------------------------------------------------------------- unsided limbs


def _kp(points: dict[Body25, tuple[float, float]]) -> np.ndarray:
    kp = np.zeros((25, 3), np.float32)
    for i, (x, y) in points.items():
        kp[i] = (x, y, 0.9)
    return kp


def test_an_unsided_label_is_split_by_the_nearer_limb():
    mask = np.ones((100, 100), np.uint8)
    # a person facing the camera: their left arm on the photo's right; a crossed forearm reaches over the midline
    kp = _kp({Body25.L_SHOULDER: (60, 20), Body25.L_ELBOW: (75, 50), Body25.L_WRIST: (40, 80),
              Body25.R_SHOULDER: (40, 20), Body25.R_ELBOW: (25, 50), Body25.R_WRIST: (20, 80)})
    out = hp.split_sides((CIHP.LEFT_ARM, CIHP.RIGHT_ARM), mask, kp)
    assert out[50, 90] == CIHP.LEFT_ARM and out[50, 5] == CIHP.RIGHT_ARM
    assert out[80, 42] == CIHP.LEFT_ARM  # on the photo's left half, but at the left wrist
    assert set(np.unique(out)) == {CIHP.LEFT_ARM, CIHP.RIGHT_ARM}


def test_an_unsided_label_without_limbs_is_split_at_the_midline():
    mask = np.zeros((50, 80), np.uint8)
    mask[10:40, 10:70] = 1
    out = hp.split_sides((CIHP.LEFT_SHOE, CIHP.RIGHT_SHOE), mask, _kp({Body25.NECK: (30, 5)}))
    assert out[20, 31] == CIHP.LEFT_SHOE and out[20, 29] == CIHP.RIGHT_SHOE and out[5, 5] == 0
    one_side = hp.split_sides((CIHP.LEFT_LEG, CIHP.RIGHT_LEG), mask, _kp({Body25.R_HIP: (60, 10),
                                                                           Body25.R_KNEE: (60, 30)}))
    assert set(np.unique(one_side[mask == 1])) == {CIHP.RIGHT_LEG}  # the only leg the pose sees
    no_pose = hp.split_sides((CIHP.LEFT_LEG, CIHP.RIGHT_LEG), mask, None)
    assert no_pose[20, 41] == CIHP.LEFT_LEG and no_pose[20, 39] == CIHP.RIGHT_LEG  # the photo's centre


# ----------------------------------------------------------------------------- loading and inference


def test_parser_loads_once_and_reads_its_input_size(tmp_path, photo):
    folder = write_parser(tmp_path / "seed", SEED_CONFIG_LABELS, input_size=96)
    parser = hp.load_parser(folder)
    assert hp.load_parser(str(folder), device="cpu") is parser  # once per process
    assert tuple(parser._pixels(photo).shape) == (1, 3, 96, 96)
    plain = write_parser(tmp_path / "plain", ATR_LABELS, input_size=None)
    assert tuple(hp.load_parser(plain)._pixels(photo).shape) == (1, 3, 512, 512)  # no processor config: 512


def test_logits_are_upsampled_to_the_photo_before_the_argmax(tmp_path, photo, monkeypatch):
    import torch
    import torch.nn.functional as F

    parser = hp.load_parser(write_parser(tmp_path / "atr", ATR_LABELS, seed=3))
    with torch.inference_mode():
        logits = parser.model(pixel_values=parser._pixels(photo)).logits
        want = F.interpolate(logits, size=photo.shape[:2], mode="bilinear", align_corners=False).argmax(1)[0].numpy()
    assert np.array_equal(parser.model_labels(photo), want)
    monkeypatch.setattr(hp, "UPSAMPLE_ELEMENTS", photo.shape[0] * photo.shape[1] * 5)  # 5 labels at a time
    assert np.array_equal(parser.model_labels(photo), want)
    assert len(np.unique(want)) > 2  # a random model: several labels, so the chunked argmax is really tested


def test_parse_map_holds_only_mapped_cihp_labels(tmp_path, photo, preprocessor):
    labels = ATR_LABELS + ["shoes"]  # an unsided label too
    parser = hp.load_parser(write_parser(tmp_path / "atr", labels, seed=1))
    ids = parser.model_labels(photo)
    assert {labels[i] for i in np.unique(ids)} & {"Belt", "Bag"}  # this random model does output unmapped labels
    person = preprocessor.person(photo, parser=parser)
    allowed = {int(CIHP[n]) for n in ATR_EXPECTED.values() if n} | {CIHP.LEFT_SHOE, CIHP.RIGHT_SHOE}
    assert set(np.unique(person.parse).tolist()) <= allowed
    assert person.sources["parse"] is Source.PARSER
    assert (person.parse[np.isin(ids, [labels.index("Belt"), labels.index("Bag")])] == CIHP.BACKGROUND).all()
    expected = parser.label_map.lut()[ids]
    fixed = ids != labels.index("shoes")
    assert np.array_equal(person.parse[fixed], expected[fixed])  # exactly the model's map, label by label


@pytest.mark.parametrize("force, cihp, covered", [("upper_only_torso_region", CIHP.UPPER_CLOTHES, 1.0),
                                                  ("left_pants", CIHP.PANTS, 0.0)])
def test_agnostic_follows_the_parsers_map(tmp_path, photo, preprocessor, force, cihp, covered):
    """Upper clothes everywhere: the agnostic masks the whole photo; pants everywhere: the lower body is kept."""
    parser = hp.load_parser(write_parser(tmp_path / force, SEED_CONFIG_LABELS, force=force))
    person = preprocessor.person(photo, parser=parser)
    assert (person.parse == cihp).all()
    assert person.agnostic_mask.mean() == pytest.approx(covered, abs=0.02)
    assert ((person.agnostic == 128).all(axis=-1).mean()) == pytest.approx(covered, abs=0.05)
    if cihp == CIHP.UPPER_CLOTHES:
        assert (person.parse_agnostic == CIHP.BACKGROUND).all()  # the garment leaves the parse-agnostic
    else:
        assert (person.parse_agnostic == CIHP.PANTS).all()


def test_a_null_label_in_the_photo_is_named_in_the_notes(tmp_path, photo, preprocessor):
    parser = hp.load_parser(write_parser(tmp_path / "bag", ATR_LABELS, force="Bag"))
    person = preprocessor.person(photo, parser=parser)
    assert (person.parse == CIHP.BACKGROUND).all()
    assert any("'Bag' has no CIHP counterpart" in n for n in person.notes)


def test_parse_and_parser_together_are_refused(tmp_path, photo, preprocessor):
    parser = hp.load_parser(write_parser(tmp_path / "atr", ATR_LABELS))
    with pytest.raises(InputError, match="not both"):
        preprocessor.person(photo, parse=np.zeros(photo.shape[:2], np.uint8), parser=parser)


# ----------------------------------------------------------------------------- the command line


def test_preprocess_cli_writes_the_label_map(tmp_path):
    from vton.cli import main

    folder = write_parser(tmp_path / "seed", SEED_CONFIG_LABELS, force="upper_only_torso_region")
    out = tmp_path / "out"
    assert main(["preprocess", "--person", str(PHOTO), "--parser", str(folder), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "preprocess.json").read_text())
    label_map = summary["parser"]["label_map"]
    assert list(label_map) == SEED_CONFIG_LABELS
    assert label_map["right_patns"] == "PANTS" and label_map["left_sleeve_for_upper"] == "UPPER_CLOTHES"
    assert label_map["bag"] is None and summary["parser"]["unmapped"] == ["bag"]
    assert summary["parser"]["input_size_hw"] == [64, 64]
    assert summary["person"]["sources"]["parse"] == "human parser"
    from vton.io import load_label_png

    assert (load_label_png(out / "parse.png") == CIHP.UPPER_CLOTHES).all()


def _bad_folders(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (folder, a phrase of its one-line error)."""
    from safetensors.torch import save_file
    import torch

    out = {}
    empty = tmp / "empty"
    empty.mkdir()
    out["empty"] = (empty, "no config.json")
    vae = tmp / "vae"
    vae.mkdir()
    (vae / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL", "latent_channels": 4}))
    save_file({"w": torch.zeros(1)}, str(vae / "diffusion_pytorch_model.safetensors"))
    out["vae"] = (vae, "diffusers AutoencoderKL")
    unknown = tmp / "unknown"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert",
                                                     "id2label": {"0": "hair"}}))
    save_file({"w": torch.zeros(1)}, str(unknown / "model.safetensors"))
    out["unknown architecture"] = (unknown, "BertForMaskedLM, not a semantic-segmentation model")
    foo = tmp / "foo"
    foo.mkdir()
    (foo / "config.json").write_text(json.dumps({"architectures": ["FooForSemanticSegmentation"], "model_type": "foo",
                                                 "id2label": {"0": "background", "1": "hair"}}))
    save_file({"w": torch.zeros(1)}, str(foo / "model.safetensors"))
    out["unknown model type"] = (foo, "transformers cannot load it")
    nothing = write_parser(tmp / "nothing", [f"LABEL_{i}" for i in range(4)])
    out["labels map to nothing"] = (nothing, "names a CIHP body part or garment")
    pickled = write_parser(tmp / "pickled", ATR_LABELS)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    out["pickle only"] = (pickled, "pickle files")
    hollow = write_parser(tmp / "hollow", ATR_LABELS)
    save_file({"decode_head.classifier.bias": torch.zeros(len(ATR_LABELS))}, str(hollow / "model.safetensors"))
    out["weights missing"] = (hollow, "tensors missing")
    return out


def test_bad_parser_folders_are_one_input_error(tmp_path):
    for name, (folder, phrase) in _bad_folders(tmp_path).items():
        with pytest.raises(InputError) as e:
            hp.load_parser(folder)
        assert phrase in str(e.value), (name, str(e.value))
        assert "\n" not in str(e.value), name


def test_bad_parser_folder_exits_2_with_one_line(tmp_path, capsys):
    from vton.cli import main

    folders = _bad_folders(tmp_path)
    capsys.readouterr()
    for name in ("empty", "vae", "labels map to nothing"):
        folder, phrase = folders[name]
        rc = main(["preprocess", "--person", str(PHOTO), "--parser", str(folder), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and err[0].startswith("error:"), (name, err)
        assert phrase in err[0] or "is empty" in err[0], (name, err)
    assert not (tmp_path / "o").exists()  # nothing written


def test_transformers_is_imported_only_for_a_parser():
    code = ("import sys\nimport vton.preprocess.pipeline, vton.preprocess.parser, vton.preprocess.cli, "
            "vton.diffusion.cli, lab.settings, lab.stages, lab.session\n"
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- the lab


def test_lab_preprocessing_page_with_a_parser_folder(tmp_path):
    from streamlit.testing.v1 import AppTest

    folder = write_parser(tmp_path / "atr", ATR_LABELS, seed=1)
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import runpy
from lab.settings import sidebar
sidebar()
runpy.run_path({str(ROOT / "pages/1_preprocessing.py")!r})
"""
    at = AppTest.from_string(script, default_timeout=300)
    at.session_state["input_kind"] = "Bundled sample"
    at.session_state["sample"] = "photo: astronaut + tee (no ground truth)"
    at.session_state["size"] = "128 x 96"
    at.session_state["parser_folder"] = str(folder)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    captions = " | ".join(c for el in at.get("image") for c in el.captions)
    assert "Parse map · source: human parser" in captions
    assert "Person mask (MediaPipe) vs parser" in captions and "disagree" in captions
    table = [df for df in at.dataframe if "model label" in df.value.columns]
    assert len(table) == 1 and list(table[0].value["model label"]) == ATR_LABELS
    assert "Belt" in " ".join(c.value for c in at.caption)  # unmapped labels are named
    # a folder that is not a parser: one error, the page goes on
    at.sidebar.text_input(key="parser_folder").set_value(str(tmp_path)).run()
    assert not at.exception
    assert len(at.error) == 1 and "human parser folder" in at.error[0].value
