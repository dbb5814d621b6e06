"""A real human parser from a local folder: any ``transformers`` semantic-segmentation model, labels mapped to CIHP.

The seed parses people with a SegFormer (``yolo12138/segformer-b2-human-parse-24``); many users
also have ATR's 18-label ``mattmdjaga/segformer_b2_clothes``. Either folder (``config.json`` +
``*.safetensors``, anything ``AutoModelForSemanticSegmentation`` loads) replaces the geometric
parse: `load_parser` loads it once per process (folder + device), offline
(``local_files_only=True``), and a `HumanParser` turns a photo into a CIHP map.

Labels are mapped by **name**, from the folder's own ``id2label`` (`map_labels`): a name is
lower-cased and split into words at spaces, ``_``, ``-``, commas and camelCase (``"Upper-clothes"``
-> ``upper clothes``; a trailing plural ``s``/``es`` is also tried), then the first rule of
`LABEL_RULES` with a phrase in it decides (sleeves before arms, arms and legs before "upper",
accessories before everything they contain). Three kinds of result:

- a CIHP label (``"left_pants"`` -> ``PANTS``: CIHP's pants are not sided, the side is dropped);
- ``None``: no CIHP counterpart (a bag, a belt); the label is named in `LabelMap.unmapped`, in
  ``preprocess.json`` and in the lab, and its pixels are background in the parse map, as the
  seed's ``parsehuman.py`` does with its bag;
- a sided pair for an arm, leg or shoe label that names no side (``"shoes"``): its pixels are split
  between the left and right label by the nearer limb of the pose (shoulder-elbow-wrist,
  hip-knee-ankle, ankle-heel-toes; `split_sides`), or by the body's midline when a limb is missing.

"Left" and "right" are the person's own, in the parser's labels as in CIHP's.

A folder that is not such a model, or none of whose labels names a CIHP body part or garment,
raises one `InputError` (`inspect_folder` checks the config, weights and labels without importing
``transformers``; the loading itself is checked too: no weight may be left at random).

Inference follows the ``transformers`` docs for SegFormer: the photo is resized to the model's
input size (its ``preprocessor_config.json``; 512 x 512 without one) and normalised, and the
logits are upsampled to the photo's size (bilinear) before the argmax.
``transformers`` is imported only when a parser is loaded.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from vton.errors import InputError
from vton.preprocess import geometry as g
from vton.types import CIHP, Body25, check_image

DEFAULT_INPUT_SIZE = (512, 512)
"""``(H, W)`` the photo is resized to when the folder has no ``preprocessor_config.json``."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UPSAMPLE_ELEMENTS = 1 << 25
"""Logits are upsampled to the photo a few labels at a time, at most this many floats at once (128 MB)."""
NOTE_SHARE = 0.005
"""An unmapped label covering at least this share of the photo is named in the person's notes."""

Target = Union[CIHP, tuple[CIHP, CIHP], None]
"""What a model label becomes: a CIHP label, a ``(left, right)`` pair split by the pose, or None."""

ARM, LEG, SHOE = (CIHP.LEFT_ARM, CIHP.RIGHT_ARM), (CIHP.LEFT_LEG, CIHP.RIGHT_LEG), (CIHP.LEFT_SHOE, CIHP.RIGHT_SHOE)
SLEEVE = "sleeve"  # a rule whose target is the garment named beside the sleeve

LABEL_RULES: tuple[tuple[Target | str, tuple[str, ...]], ...] = (
    (CIHP.BACKGROUND, ("background", "bg", "everything else", "void", "unlabeled", "unlabelled")),
    (SLEEVE, ("sleeve",)),
    (None, ("belt", "bag", "backpack", "handbag", "purse", "wallet", "umbrella", "watch", "tie", "necklace",
            "jewelry", "jewellery", "earring", "bracelet")),
    (CIHP.HAT, ("hat", "cap", "headwear", "head covering", "headband", "helmet", "hair accessory")),
    (CIHP.SUNGLASSES, ("sunglasses", "glasses", "eyeglasses", "eyewear", "goggles", "spectacles")),
    (CIHP.HAIR, ("hair",)),
    (CIHP.FACE, ("face", "head skin", "head")),
    (CIHP.GLOVE, ("glove", "mitten")),
    (CIHP.SCARF, ("scarf", "scarves", "shawl")),
    (CIHP.SOCKS, ("sock", "stocking", "leg warmer", "tights")),
    (SHOE, ("shoe", "boot", "footwear", "sneaker", "sandal")),
    (ARM, ("arm", "hand")),
    (LEG, ("leg", "foot", "feet")),
    (CIHP.NECK, ("neck", "torso skin", "skin")),
    (CIHP.DRESS, ("dress", "jumpsuit", "romper", "gown")),
    (CIHP.COAT, ("coat", "jacket", "outerwear", "blazer", "cardigan", "parka")),
    (CIHP.SKIRT, ("skirt",)),
    (CIHP.PANTS, ("pants", "patns", "trousers", "jeans", "shorts", "leggings", "lower clothes")),
    (CIHP.UPPER_CLOTHES, ("upper clothes", "upper", "top", "shirt", "t shirt", "tshirt", "blouse", "sweater",
                          "sweatshirt", "hoodie", "vest")),
)
"""Ordered name rules: the first whose phrase occurs in a label's words gives its CIHP target.

``"patns"`` is how the seed's parser spells its right trouser leg (``right_patns``)."""

SLEEVE_GARMENTS = ((CIHP.COAT, ("coat", "jacket", "outerwear")), (CIHP.DRESS, ("dress",)))
"""A sleeve belongs to the garment named beside it (``left_sleeve_for_coat``); to the upper clothes otherwise."""

LIMBS: dict[tuple[CIHP, CIHP], tuple[tuple[Body25, ...], tuple[Body25, ...]]] = {
    ARM: ((Body25.L_SHOULDER, Body25.L_ELBOW, Body25.L_WRIST), (Body25.R_SHOULDER, Body25.R_ELBOW, Body25.R_WRIST)),
    LEG: ((Body25.L_HIP, Body25.L_KNEE, Body25.L_ANKLE), (Body25.R_HIP, Body25.R_KNEE, Body25.R_ANKLE)),
    SHOE: ((Body25.L_ANKLE, Body25.L_HEEL, Body25.L_BIG_TOE, Body25.L_SMALL_TOE),
           (Body25.R_ANKLE, Body25.R_HEEL, Body25.R_BIG_TOE, Body25.R_SMALL_TOE)),
}
"""The (left, right) keypoint chains that split an unsided arm / leg / shoe label."""


# ----------------------------------------------------------------------------- label names -> CIHP


def label_words(name: str) -> list[str]:
    """A label name as lower-case words: ``"Upper-clothes"`` -> ``["upper", "clothes"]``, camelCase split too."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return re.findall(r"[a-z0-9]+", text.lower())


def _forms(word: str) -> set[str]:
    forms = {word}
    if len(word) > 3 and word.endswith("s"):
        forms.add(word[:-1])
        if word.endswith("es"):
            forms.add(word[:-2])
    return forms


def _has(words: list[set[str]], phrase: str) -> bool:
    p = phrase.split()
    return any(all(p[j] in words[i + j] for j in range(len(p))) for i in range(len(words) - len(p) + 1))


def cihp_target(name: str) -> Target:
    """The CIHP target of one model label name (see `LABEL_RULES`); None when nothing matches.

    Example:
        >>> cihp_target("Upper-clothes"), cihp_target("right_patns"), cihp_target("bag")
        (<CIHP.UPPER_CLOTHES: 5>, <CIHP.PANTS: 9>, None)
        >>> cihp_target("Left-shoe"), cihp_target("shoes")
        (<CIHP.LEFT_SHOE: 18>, (<CIHP.LEFT_SHOE: 18>, <CIHP.RIGHT_SHOE: 19>))
    """
    raw = label_words(name)
    words = [_forms(w) for w in raw]
    side = next((w for w in raw if w in ("left", "right")), None)
    for target, phrases in LABEL_RULES:
        if not any(_has(words, p) for p in phrases):
            continue
        if target == SLEEVE:
            return next((garment for garment, names in SLEEVE_GARMENTS if any(_has(words, n) for n in names)),
                        CIHP.UPPER_CLOTHES)
        if isinstance(target, tuple) and side is not None:
            return target[0] if side == "left" else target[1]
        return target
    return None


@dataclass(frozen=True)
class LabelMap:
    """How a parser's labels (ids ``0 .. n-1``) become CIHP labels.

    ``targets[i]`` is a `CIHP` label, a ``(left, right)`` pair (an unsided limb label, split by the
    pose) or None (no CIHP counterpart: background in the parse map, named in `unmapped`).
    """

    names: tuple[str, ...]
    targets: tuple[Target, ...]

    @property
    def unmapped(self) -> list[str]:
        """Model labels with no CIHP counterpart."""
        return [n for n, t in zip(self.names, self.targets) if t is None]

    @property
    def split(self) -> list[str]:
        """Model labels that name no side, split into left and right by the pose."""
        return [n for n, t in zip(self.names, self.targets) if isinstance(t, tuple)]

    def lut(self) -> np.ndarray:
        """``uint8 (n,)``: the CIHP label per model id (None -> background, a pair -> its left label)."""
        return np.array([0 if t is None else int(t[0] if isinstance(t, tuple) else t) for t in self.targets], np.uint8)

    def to_json(self) -> dict[str, str | list[str] | None]:
        """``{model label: CIHP name (as in `vton.types.CIHP`), [left, right] for a split label, or None}``.

        A name that occurs twice in the model's labels is written as ``"name #id"``.
        """
        out: dict[str, str | list[str] | None] = {}
        for i, (name, t) in enumerate(zip(self.names, self.targets)):
            key = name if self.names.count(name) == 1 else f"{name} #{i}"
            out[key] = None if t is None else [t[0].name, t[1].name] if isinstance(t, tuple) else t.name
        return out

    def rows(self) -> dict[str, list]:
        """The mapping as table columns (``id``, ``model label``, ``CIHP label``) for the lab."""
        cihp = []
        for t in self.targets:
            if t is None:
                cihp.append("— (no CIHP label: background)")
            elif isinstance(t, tuple):
                cihp.append(f"{t[0].name} / {t[1].name} (side from the pose)")
            else:
                cihp.append(t.name)
        return {"id": list(range(len(self.names))), "model label": list(self.names), "CIHP label": cihp}


def map_labels(id2label: dict, where: str = "the parser") -> LabelMap:
    """The `LabelMap` of a model's ``id2label`` (keys ``0 .. n-1``, as ints or strings).

    Raises:
        InputError: ids that are not ``0 .. n-1``, or no label naming a CIHP body part or garment
            (e.g. ``LABEL_0``, ``LABEL_1``: a config without label names).
    """
    if not isinstance(id2label, dict) or not id2label:
        raise InputError(f"{where} has no label names (id2label) in its config.json: its labels cannot be mapped "
                         "to CIHP's")
    try:
        labels = {int(k): str(v) for k, v in id2label.items()}
    except (TypeError, ValueError):
        raise InputError(f"{where}'s id2label has keys that are not label ids: {sorted(map(str, id2label))[:5]}") from None
    if sorted(labels) != list(range(len(labels))):
        raise InputError(f"{where}'s id2label ids are {sorted(labels)[:8]}...; they must be 0..{len(labels) - 1}")
    names = tuple(labels[i] for i in range(len(labels)))
    label_map = LabelMap(names, tuple(cihp_target(n) for n in names))
    if not any(t is not None and t != CIHP.BACKGROUND for t in label_map.targets):
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise InputError(f"none of {where}'s {len(names)} labels ({shown}) names a CIHP body part or garment "
                         "(hair, face, upper clothes, pants, arms, ...): it is not a human parser this project can use")
    return label_map


# ----------------------------------------------------------------------------- the folder


@dataclass(frozen=True)
class InputSpec:
    """How the photo is turned into the model's input (from ``preprocessor_config.json``)."""

    size: tuple[int, int] | None = DEFAULT_INPUT_SIZE  # (H, W); None: keep the photo's size
    shortest_edge: int | None = None  # resize so the shorter side is this (keeping the aspect) instead
    resample: int = 2  # PIL's resampling filter (2 bilinear, 3 bicubic)
    rescale: float | None = 1 / 255
    mean: tuple[float, ...] | None = IMAGENET_MEAN
    std: tuple[float, ...] | None = IMAGENET_STD

    def size_for(self, hw: tuple[int, int]) -> tuple[int, int]:
        """The input ``(H, W)`` for a photo of size ``hw``."""
        if self.shortest_edge is not None:
            s = self.shortest_edge / min(hw)
            return max(1, round(hw[0] * s)), max(1, round(hw[1] * s))
        return tuple(self.size) if self.size is not None else tuple(hw)


@dataclass(frozen=True)
class ParserFolder:
    """What a parser folder's files say, read without loading the model (`inspect_folder`)."""

    folder: Path
    architecture: str
    label_map: LabelMap
    input: InputSpec = field(default_factory=InputSpec)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not a readable JSON file ({e})") from None
    if not isinstance(value, dict):
        raise InputError(f"{path} is not a JSON object")
    return value


def _input_spec(folder: Path) -> InputSpec:
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return InputSpec()
    cfg = _read_json(path)
    size, shortest = cfg.get("size", {"height": DEFAULT_INPUT_SIZE[0], "width": DEFAULT_INPUT_SIZE[1]}), None
    if isinstance(size, dict) and "height" in size and "width" in size:
        size = (int(size["height"]), int(size["width"]))
    elif isinstance(size, dict) and "shortest_edge" in size:
        size, shortest = None, int(size["shortest_edge"])
    elif isinstance(size, int):
        size = (size, size)
    else:
        raise InputError(f"{path}: cannot read its input size {size!r} (expected height and width)")
    if not cfg.get("do_resize", True):
        size, shortest = None, None
    if size is not None and min(size) < 1:
        raise InputError(f"{path}: input size {size} is not positive")
    rescale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else None
    mean = std = None
    if cfg.get("do_normalize", True):
        mean = tuple(float(v) for v in cfg.get("image_mean", IMAGENET_MEAN))
        std = tuple(float(v) for v in cfg.get("image_std", IMAGENET_STD))
    return InputSpec(size=size, shortest_edge=shortest, resample=int(cfg.get("resample", 2)), rescale=rescale,
                     mean=mean, std=std)


def inspect_folder(folder: str | Path) -> ParserFolder:
    """Check a parser folder from its files alone (no ``transformers`` import, no weights read).

    Raises:
        InputError: not a folder; no ``config.json``; a diffusers or other non-segmentation model;
            no (whole) safetensors weights; labels that cannot be mapped (`map_labels`).
    """
    from vton.checks import weights_intact

    folder = Path(folder)
    what = f"human parser folder {folder}"
    if not folder.is_dir():
        raise InputError(f"{what} not found" if not folder.exists() else f"{what} is a file, not a folder")
    config_path = folder / "config.json"
    if not config_path.is_file():
        kind = " (it holds a diffusers pipeline: model_index.json)" if (folder / "model_index.json").is_file() else ""
        raise InputError(f"{what} has no config.json{kind}: give a transformers semantic-segmentation model folder "
                         "(config.json + model.safetensors, e.g. a SegFormer human parser)")
    config = _read_json(config_path)
    if "_class_name" in config:
        raise InputError(f"{what} holds a diffusers {config['_class_name']}, not a transformers semantic-segmentation "
                         "model (e.g. SegformerForSemanticSegmentation)")
    archs = config.get("architectures") or []
    if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
        raise InputError(f"{config_path}: 'architectures' must be a list of class names, got {archs!r}")
    segmentation = [a for a in archs if a.endswith("ForSemanticSegmentation")]
    if archs and not segmentation:
        raise InputError(f"{what} holds a {', '.join(archs)}, not a semantic-segmentation model "
                         "(e.g. SegformerForSemanticSegmentation)")
    if not archs and not config.get("model_type"):
        raise InputError(f"{config_path} names no architecture nor model_type: it is not a transformers model config")
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt*")]
        hint = (f" (only {', '.join(pickled)}: pickle files, which this project never loads; save the model "
                "with save_pretrained(..., safe_serialization=True))") if pickled else ""
        raise InputError(f"{what} has a config but no .safetensors weights{hint}")
    for path in weights:
        weights_intact(path)
    label_map = map_labels(config.get("id2label"), where=f"the model in {folder}")
    num_labels = config.get("num_labels")
    if num_labels is not None and int(num_labels) != len(label_map.names):
        raise InputError(f"{config_path}: num_labels is {num_labels} but id2label names {len(label_map.names)} labels")
    return ParserFolder(folder, (segmentation or [str(config.get("model_type"))])[0], label_map, _input_spec(folder))


# ----------------------------------------------------------------------------- sides of unsided limbs


def _limb_distance(size: tuple[int, int], kp: np.ndarray, chain: tuple[Body25, ...]) -> np.ndarray | None:
    pts = [g.pt(g.xy(kp, i)) for i in chain if g.present(kp, i)]
    if not pts:
        return None
    canvas = np.full(size, 255, np.uint8)
    cv2.polylines(canvas, [np.array(pts, np.int32).reshape(-1, 1, 2)], False, 0, 1)
    if len(pts) == 1:
        cv2.circle(canvas, pts[0], 0, 0, -1)
    if canvas.min() != 0:  # the limb lies outside the photo
        return None
    return cv2.distanceTransform(canvas, cv2.DIST_L2, 3)


def _midline_x(kp: np.ndarray | None, width: int) -> float:
    if kp is not None:
        xs = [kp[i, 0] for i in (Body25.NECK, Body25.MID_HIP, Body25.NOSE) if g.present(kp, i)]
        if xs:
            return float(np.mean(xs))
    return width / 2


def split_sides(pair: tuple[CIHP, CIHP], mask: np.ndarray, keypoints: np.ndarray | None) -> np.ndarray:
    """``uint8 (H, W)``: ``pair[0]`` (left) or ``pair[1]`` (right) for each pixel of ``mask``, 0 elsewhere.

    A pixel goes to the side whose limb (`LIMBS`: the pose's keypoint chain) is nearer. With one limb
    missing every pixel goes to the other; with both missing, the body's midline decides (the neck,
    mid-hip and nose, else the photo's centre): the person's left is on the photo's right, as for a
    person facing the camera.
    """
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    out = np.zeros((h, w), np.uint8)
    if not mask.any():
        return out
    left_d = right_d = None
    if keypoints is not None:
        left_chain, right_chain = LIMBS[pair]
        left_d, right_d = (_limb_distance((h, w), keypoints, c) for c in (left_chain, right_chain))
    if left_d is not None and right_d is not None:
        is_left = left_d < right_d
    elif left_d is not None or right_d is not None:
        is_left = np.full((h, w), left_d is not None)
    else:
        is_left = np.arange(w)[None, :].repeat(h, 0) > _midline_x(keypoints, w)
    out[mask & is_left] = pair[0]
    out[mask & ~is_left] = pair[1]
    return out


# ----------------------------------------------------------------------------- the parser


@dataclass
class Parsed:
    """A parser's output for one photo, all at the photo's ``(H, W)``."""

    parse: np.ndarray  # uint8 (H, W) CIHP labels (unmapped labels -> background)
    model_labels: np.ndarray  # int32 (H, W) the model's own label ids
    notes: list[str] = field(default_factory=list)  # unmapped labels found in the photo, with their share

    @property
    def foreground(self) -> np.ndarray:
        """``uint8 (H, W) {0, 1}``: where the parse map has a person label (not background)."""
        return (self.parse != CIHP.BACKGROUND).astype(np.uint8)


class HumanParser:
    """A loaded semantic-segmentation model whose labels are mapped to CIHP (`load_parser` builds one).

    Thread-safe: inference runs under a lock.

    Example:
        >>> parser = load_parser("models/segformer-b2-human-parse-24", device="cpu")
        >>> parsed = parser(load_image("person.jpg"), keypoints)
        >>> parsed.parse.max() < 20, parser.label_map.to_json()["bag"]
        (True, None)
    """

    def __init__(self, model, info: ParserFolder, device) -> None:
        self.model = model
        self.info = info
        self.device = device
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self.info.folder

    @property
    def label_map(self) -> LabelMap:
        return self.info.label_map

    def describe(self) -> dict:
        """What ``preprocess.json`` records: folder, architecture, input size, device, ``label_map``."""
        spec = self.info.input
        return {"folder": str(self.folder), "architecture": self.info.architecture,
                "input_size_hw": list(spec.size) if spec.size else None, "device": str(self.device),
                "label_map": self.label_map.to_json(), "unmapped": self.label_map.unmapped,
                "split_by_pose": self.label_map.split}

    def _pixels(self, image: np.ndarray):
        """The photo as the model's ``pixel_values (1, 3, h, w)`` float32 tensor on its device."""
        import torch
        from PIL import Image

        spec = self.info.input
        h, w = spec.size_for(image.shape[:2])
        pic = image if (h, w) == image.shape[:2] else np.asarray(
            Image.fromarray(image).resize((w, h), resample=spec.resample))
        x = pic.astype(np.float32)
        if spec.rescale is not None:
            x = x * spec.rescale
        if spec.mean is not None:
            x = (x - np.array(spec.mean, np.float32)) / np.array(spec.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)

    def model_labels(self, image: np.ndarray):
        """The model's label id per pixel, ``int32 (H, W)`` at the photo's size (logits upsampled, then argmax)."""
        import torch
        import torch.nn.functional as F

        check_image(image)
        size = image.shape[:2]
        with self._lock, torch.inference_mode():
            logits = self.model(pixel_values=self._pixels(image)).logits.float()  # (1, L, h/4, w/4)
            n = logits.shape[1]
            step = max(1, UPSAMPLE_ELEMENTS // (size[0] * size[1]))
            best = best_id = None
            for start in range(0, n, step):  # a few labels at a time: a 12-megapixel photo x 24 labels is 1 GB
                up = F.interpolate(logits[:, start:start + step], size=size, mode="bilinear", align_corners=False)[0]
                value, index = up.max(dim=0)
                if best is None:
                    best, best_id = value, index + start
                else:
                    better = value > best
                    best = torch.where(better, value, best)
                    best_id = torch.where(better, index + start, best_id)
        return best_id.to(torch.int32).cpu().numpy()

    def __call__(self, image: np.ndarray, keypoints: np.ndarray | None = None) -> Parsed:
        """Parse a photo ``uint8 (H, W, 3)``; ``keypoints`` (BODY_25) split unsided limb labels by side."""
        ids = self.model_labels(image)
        lm = self.label_map
        parse = lm.lut()[ids]
        for i, target in enumerate(lm.targets):
            if isinstance(target, tuple):
                where = ids == i
                if where.any():
                    parse[where] = split_sides(target, where, keypoints)[where]
        notes = []
        for i, name in enumerate(lm.names):
            share = float((ids == i).mean()) if lm.targets[i] is None else 0.0
            if share >= NOTE_SHARE:
                notes.append(f"the human parser's label {name!r} has no CIHP counterpart: its {share:.1%} of the "
                             "photo is background in the parse map")
        return Parsed(parse=parse.astype(np.uint8), model_labels=ids, notes=notes)


# ----------------------------------------------------------------------------- loading, once per process

_cache: dict[tuple, HumanParser] = {}
_cache_lock = threading.Lock()


def _stamp(folder: Path) -> tuple:
    """Sizes and modification times of the folder's config and weights (a rewritten folder loads again)."""
    files = [folder / "config.json", folder / "preprocessor_config.json", *sorted(folder.glob("*.safetensors"))]
    return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())


def default_device() -> str:
    """``"cuda"`` when a GPU is there, else ``"cpu"`` (where the command line runs a parser)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_parser(folder: str | Path, device="cpu") -> HumanParser:
    """The human parser in ``folder`` on ``device``, loaded once per process (cached by folder, device and files).

    Args:
        folder: a ``transformers`` semantic-segmentation model folder (``config.json`` + ``*.safetensors``,
            optionally ``preprocessor_config.json``), loaded with ``local_files_only=True``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a `torch.device`.

    Raises:
        InputError: see `inspect_folder`; or ``transformers`` cannot build the model from the config, or
            the weights do not fill it (missing or mis-shaped tensors).
    """
    from vton.checks import device_argument, path_argument

    folder = path_argument("the human parser folder", folder)
    info = inspect_folder(folder)
    dev = device_argument("device", device)
    key = (str(folder.resolve()), str(dev), _stamp(folder))
    with _cache_lock:
        parser = _cache.get(key)
        if parser is None:
            parser = _cache[key] = HumanParser(_load_model(info).to(dev), info, dev)
        return parser


def _load_model(info: ParserFolder):
    from transformers import AutoModelForSemanticSegmentation
    from transformers.utils import logging as hf_logging

    where = f"human parser folder {info.folder}"
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a small model loads in a blink; the bar would only clutter the output
    try:
        model, loading = AutoModelForSemanticSegmentation.from_pretrained(
            str(info.folder), local_files_only=True, use_safetensors=True, output_loading_info=True)
    except (ValueError, OSError, KeyError, RuntimeError, TypeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise InputError(f"{where}: transformers cannot load it as a semantic-segmentation model ({first})") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    missing, mismatched = sorted(loading.get("missing_keys") or []), list(loading.get("mismatched_keys") or [])
    if missing or mismatched:
        bad = missing[:3] or [str(m[0] if isinstance(m, tuple) else m) for m in mismatched[:3]]
        raise InputError(f"{where}: its weights do not fill the {info.architecture} its config describes "
                         f"({len(missing)} tensors missing, {len(mismatched)} of another shape, e.g. {', '.join(bad)})")
    return model.eval()
