"""Reading a VITON-HD-layout folder into typed `Pair` s at a chosen ``(H, W)``.

Layout (``root/{split}/<folder>/<file>``, pairs list in ``root/{split}_pairs.txt``
or ``root/{split}/{split}_pairs.txt``, one ``person.jpg cloth.jpg`` per line).
Each map is found under any of its known folder names, first match wins:

=================  ==========================================================  =========
map                folder names (HR-VITON release, original VITON-HD, others)  required
=================  ==========================================================  =========
image              ``image``                                                   yes
cloth              ``cloth``                                                   yes
cloth mask         ``cloth-mask``                                              yes
parse              ``image-parse-v3``, ``image-parse``                         yes
keypoints          ``openpose_json``, ``openpose-json`` (``NAME_keypoints``)   yes
parse-agnostic     ``image-parse-agnostic-v3.2``, ``image-parse-agnostic``     computed
agnostic image     ``agnostic-v3.2``, ``agnostic``                             computed
agnostic mask      ``agnostic-mask`` (``NAME`` or ``NAME_mask``)              computed
DensePose          ``image-densepose``, ``densepose`` (IUV or dp_segm render)  computed
GT flow            ``gt-flow`` (``.npy``, float32 ``(2, H, W)``)               optional
GT warped cloth    ``gt-warped-cloth``                                         optional
GT warped mask     ``gt-warped-mask``                                          optional
=================  ==========================================================  =========

Files are matched by stem, so ``.jpg`` and ``.png`` both work. Maps the folder
lacks (the original VITON-HD has no DensePose, agnostic or parse-agnostic) are
computed at the requested size by `vton.preprocess` and marked
`Source.GEOMETRIC`; maps read from files are marked `Source.DATASET`. When the
agnostic image exists but its mask does not, the mask is its flat grey
``(128, 128, 128)`` region; when only the mask exists, the image is the photo
greyed inside it.

DensePose files may be IUV (ours: PNG, channel 0 a part index) or detectron2's
dp_segm colour render (HR-VITON's VITON-HD release: JPEG, PARULA colours on
black), told apart from the pixels (`vton.preprocess.densepose.read_densepose`).
A render is decoded to part indices at the file's resolution, before resizing,
and its U and V are 0; ``person.sources["densepose_encoding"]`` says which it was,
and `VitonHD.densepose_encoding` which the folder holds (its first file).

Resizing, per kind: images with area averaging when shrinking and bilinear
when enlarging; labels, masks and IUV maps with centre-aligned nearest
neighbour (`cv2.INTER_NEAREST_EXACT`, so no label is invented or shifted);
flows like images, without rescaling their values (they are in normalized grid
units); keypoints by the same centre-aligned pixel mapping, missing ones kept at
``(0, 0, 0)``.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vton import checks
from vton.errors import InputError
from vton.io import load_image, load_keypoints_json, load_label_png, load_mask
from vton.types import DEFAULT_SIZE, Cloth, DensePoseEncoding, GroundTruth, Pair, Person, Size, Source

AGNOSTIC_GREY = 128
AGNOSTIC_GREY_TOLERANCE = 10  # JPEG-saved agnostic images are not exactly 128


@dataclass(frozen=True)
class MapSpec:
    """Where one kind of map lives: candidate folder names and the file-stem suffixes to strip."""

    folders: tuple[str, ...]
    required: bool
    suffixes: tuple[str, ...] = ()


MAPS: dict[str, MapSpec] = {
    "image": MapSpec(("image",), True),
    "cloth": MapSpec(("cloth",), True),
    "cloth_mask": MapSpec(("cloth-mask",), True),
    "parse": MapSpec(("image-parse-v3", "image-parse"), True),
    "keypoints": MapSpec(("openpose_json", "openpose-json"), True, ("_keypoints",)),
    "parse_agnostic": MapSpec(("image-parse-agnostic-v3.2", "image-parse-agnostic"), False),
    "agnostic": MapSpec(("agnostic-v3.2", "agnostic"), False),
    "agnostic_mask": MapSpec(("agnostic-mask",), False, ("_mask",)),
    "densepose": MapSpec(("image-densepose", "densepose"), False),
    "gt_flow": MapSpec(("gt-flow",), False),
    "gt_warped_cloth": MapSpec(("gt-warped-cloth",), False),
    "gt_warped_mask": MapSpec(("gt-warped-mask",), False),
}
CLOTH_MAPS = ("cloth", "cloth_mask")
"""Maps looked up by the cloth's name; every other map is looked up by the person's name."""

_PREFERRED_EXT = {".png": 0, ".npy": 0, ".json": 0, ".jpg": 1, ".jpeg": 1}


# ----------------------------------------------------------------------------- resizing


def resize_image(image: np.ndarray, size: Size) -> np.ndarray:
    """``uint8 (H, W, C)`` (or float) -> ``size``: area averaging to shrink, bilinear to enlarge."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h * w < image.shape[0] * image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_nearest(labels: np.ndarray, size: Size) -> np.ndarray:
    """Labels, masks or IUV maps -> ``size`` by centre-aligned nearest neighbour (values are never mixed)."""
    h, w = size
    if labels.shape[:2] == (h, w):
        return labels
    return cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)


def resize_flow(flow: np.ndarray, size: Size) -> np.ndarray:
    """A flow ``float32 (2, H, W)`` in normalized units -> ``(2, *size)``; values need no rescaling."""
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow must be (2, H, W), got {flow.shape}")
    if flow.shape[1:] == tuple(size):
        return flow
    hwc = np.ascontiguousarray(flow.transpose(1, 2, 0), dtype=np.float32)
    return np.ascontiguousarray(resize_image(hwc, size).transpose(2, 0, 1))


def scale_keypoints(kp: np.ndarray, from_size: Size, to_size: Size) -> np.ndarray:
    """Map BODY_25 pixel coordinates between image sizes (pixel centres aligned, as `cv2.resize`).

    Missing points ``(0, 0, 0)`` stay missing.
    """
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    out = kp.astype(np.float32).copy()
    present = kp[:, 2] > 0
    out[present, 0] = (kp[present, 0] + 0.5) * sx - 0.5
    out[present, 1] = (kp[present, 1] + 0.5) * sy - 0.5
    return out


def grey_region(agnostic: np.ndarray) -> np.ndarray:
    """The agnostic mask ``uint8 (H, W) {0, 1}`` of an agnostic image: its flat grey pixels.

    Isolated grey speckles are removed (opening), then the region grows by one
    pixel to take in the JPEG ringing along its edge.
    """
    grey = (np.abs(agnostic.astype(np.int16) - AGNOSTIC_GREY) <= AGNOSTIC_GREY_TOLERANCE).all(axis=2)
    kernel = np.ones((3, 3), np.uint8)
    return cv2.dilate(cv2.morphologyEx(grey.astype(np.uint8), cv2.MORPH_OPEN, kernel), kernel)


# ----------------------------------------------------------------------------- the reader


def _index(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """``{stem: path}`` of the files in ``folder`` (stems with ``suffixes`` stripped; .png wins over .jpg)."""
    found: dict[str, Path] = {}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: (_PREFERRED_EXT.get(Path(e.name).suffix.lower(), 2), e.name)):
            if not entry.is_file() or entry.name.startswith("."):
                continue
            stem = Path(entry.name).stem
            for suffix in suffixes:
                if stem.endswith(suffix):
                    stem = stem[: -len(suffix)]
                    break
            found.setdefault(stem, Path(entry.path))
    return found


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """Lines ``person.jpg cloth.jpg`` -> ``[(person, cloth), ...]``; blank lines are skipped."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise InputError(f"{path}, line {number}: expected 'person.jpg cloth.jpg', got {line.strip()!r}")
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise InputError(f"{path} lists no pairs")
    return pairs


class VitonHD(Sequence[Pair]):
    """A VITON-HD-layout split as a sequence of `Pair` s resized to ``size`` (see module docstring).

    Folders and files are checked when the reader is built, so a missing file is
    reported at once, not in the middle of an epoch. Items are read lazily.

    Args:
        root: the dataset folder holding ``train/``, ``test/`` and the pairs files.
        split: ``"train"`` or ``"test"`` (any folder name works).
        size: ``(H, W)`` of every returned array; any positive size.
        paired: each person with their own cloth (same file name; the person image
            is then the ground-truth try-on), or with the listed cloth (unpaired;
            the synthetic ground truth, which is about the person's own cloth,
            is then left out unless the listed cloth is their own).
    Example:
        >>> data = VitonHD("data/vitonhd", "test", size=(256, 192), paired=False)
        >>> pair = data[0]; pair.person.image.shape
        (256, 192, 3)
    """

    def __init__(self, root: str | os.PathLike, split: str = "test", size: Size = DEFAULT_SIZE, paired: bool = True):
        self.root = checks.path_argument("root", root)
        if not isinstance(split, str) or not split or "/" in split or "\\" in split or split in (".", ".."):
            raise InputError(f"split must name one folder inside {self.root} (e.g. 'train' or 'test'), got {split!r}")
        self.split = split
        self.size: Size = checks.size_argument("size", size)
        self.paired = checks.bool_argument("paired", paired)
        if not self.root.is_dir():
            raise InputError(f"dataset folder not found: {self.root}")
        self.split_dir = self.root / split
        if not self.split_dir.is_dir():
            present = sorted(p.name for p in self.root.iterdir() if p.is_dir())
            raise InputError(f"no {split!r} split in {self.root}: {self.split_dir} is missing (found: {present or 'nothing'})")
        self.pairs_file = self._find_pairs_file()
        listed = read_pairs(self.pairs_file)
        self.pairs: list[tuple[str, str]] = [(p, p if paired else c) for p, c in listed]
        self.folders: dict[str, Path] = {}
        self.files: dict[str, dict[str, Path]] = {}
        self._densepose_encoding: DensePoseEncoding | None = None
        for kind, spec in MAPS.items():
            folder = next((self.split_dir / n for n in spec.folders if (self.split_dir / n).is_dir()), None)
            if folder is None:
                if spec.required:
                    names = " or ".join(repr(n) for n in spec.folders)
                    raise InputError(f"{self.split_dir} has no {names} folder ({kind.replace('_', ' ')} is required)")
                continue
            self.folders[kind] = folder
            self.files[kind] = _index(folder, spec.suffixes)
        self._check_files()

    def _find_pairs_file(self) -> Path:
        candidates = [self.root / f"{self.split}_pairs.txt", self.split_dir / f"{self.split}_pairs.txt"]
        for path in candidates:
            if path.is_file():
                return path
        raise InputError(f"pairs file not found: looked for {candidates[0]} and {candidates[1]}")

    def _check_files(self) -> None:
        """Every pair has its required files; a partly filled optional folder is an error too."""
        missing: list[str] = []
        for person, cloth in self.pairs:
            for kind, files in self.files.items():
                stem = Path(cloth if kind in CLOTH_MAPS else person).stem
                if stem not in files:
                    missing.append(f"{self.folders[kind]}/{stem}.*")
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise InputError(f"missing file{'s' if len(missing) > 1 else ''}: {', '.join(missing[:3])}{more}")

    @property
    def densepose_encoding(self) -> DensePoseEncoding:
        """The encoding of the folder's DensePose files, detected on the first pair's file (IUV when the
        folder has none: the pose-built map is IUV). Items each detect their own file again."""
        if self._densepose_encoding is None:
            path = self._path("densepose", self.pairs[0][0])
            if path is None:
                self._densepose_encoding = DensePoseEncoding.IUV
            else:
                from vton.preprocess.densepose import detect_densepose_encoding

                try:
                    self._densepose_encoding = detect_densepose_encoding(load_image(path, min_side=1))
                except InputError as e:
                    raise InputError(f"{path}: {e}") from None
        return self._densepose_encoding

    @property
    def has_ground_truth(self) -> bool:
        """Whether the folder carries the synthetic ground truth (a true flow)."""
        return "gt_flow" in self.files

    def __len__(self) -> int:
        return len(self.pairs)

    def _path(self, kind: str, name: str) -> Path | None:
        files = self.files.get(kind)
        return None if files is None else files[Path(name).stem]

    def __getitem__(self, index: int) -> Pair:  # type: ignore[override]
        if isinstance(index, slice):
            raise TypeError("VitonHD does not support slices; index one pair at a time")
        if not -len(self) <= index < len(self):
            raise IndexError(f"pair {index} out of range for {len(self)} pairs")
        name, cloth_name = self.pairs[index]
        # ground truth describes the person's own cloth: an unpaired cloth has none
        own_cloth = Path(cloth_name).stem == Path(name).stem
        return Pair(name=name, cloth_name=cloth_name, person=self._person(name), cloth=self._cloth(cloth_name),
                    truth=self._truth(name) if own_cloth else GroundTruth())

    def person_image(self, index: int) -> np.ndarray:
        """The person photo of pair ``index`` alone, ``uint8 (H, W, 3)`` at ``size``.

        What an image-only consumer (the VAE) needs, without reading and deriving the
        other maps as ``self[index]`` does.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"pair {index} out of range for {len(self)} pairs")
        return self._read_image("image", self.pairs[index][0])

    # ------------------------------------------------------------------------- per item

    def _read_image(self, kind: str, name: str) -> np.ndarray:
        return resize_image(load_image(self._path(kind, name), min_side=1), self.size)

    def _cloth(self, name: str) -> Cloth:
        mask = resize_nearest(load_mask(self._path("cloth_mask", name)), self.size)
        return Cloth(image=self._read_image("cloth", name), mask=mask,
                     sources={"image": Source.DATASET, "mask": Source.DATASET})

    def _person(self, name: str) -> Person:
        image_full = load_image(self._path("image", name), min_side=1)
        full_size = image_full.shape[:2]
        image = resize_image(image_full, self.size)
        parse = resize_nearest(load_label_png(self._path("parse", name)), self.size)
        keypoints = scale_keypoints(load_keypoints_json(self._path("keypoints", name)), full_size, self.size)
        person_mask = (parse != 0).astype(np.uint8)
        sources = {k: Source.DATASET for k in ("image", "parse", "keypoints")}
        sources["person_mask"] = Source.DATASET  # derived from the dataset's parse

        maps: dict[str, np.ndarray] = {}
        if (path := self._path("parse_agnostic", name)) is not None:
            maps["parse_agnostic"] = resize_nearest(load_label_png(path), self.size)
        if (path := self._path("agnostic", name)) is not None:
            agnostic_full = load_image(path, min_side=1)
            maps["agnostic"] = resize_image(agnostic_full, self.size)
            mask_path = self._path("agnostic_mask", name)
            mask_full = load_mask(mask_path) if mask_path is not None else grey_region(agnostic_full)
            maps["agnostic_mask"] = resize_nearest(mask_full, self.size)
        elif (path := self._path("agnostic_mask", name)) is not None:
            maps["agnostic_mask"] = resize_nearest(load_mask(path), self.size)
            maps["agnostic"] = np.where(maps["agnostic_mask"][..., None] == 1, np.uint8(AGNOSTIC_GREY), image)
        encoding = DensePoseEncoding.IUV
        if (path := self._path("densepose", name)) is not None:
            from vton.preprocess.densepose import read_densepose

            try:
                iuv, encoding = read_densepose(load_image(path, min_side=1))
            except InputError as e:
                raise InputError(f"{path}: {e}") from None
            maps["densepose"] = resize_nearest(iuv, self.size)
        sources.update({k: Source.DATASET for k in maps})
        sources["densepose_encoding"] = encoding
        if "agnostic" in maps and self._path("agnostic", name) is None:
            sources["agnostic"] = Source.GEOMETRIC  # greyed from the dataset's agnostic mask

        if not {"parse_agnostic", "agnostic", "agnostic_mask"} <= maps.keys():
            from vton.preprocess.agnostic import make_agnostic

            made = make_agnostic(image, parse, keypoints)
            for key, value in (("agnostic", made.image), ("agnostic_mask", made.mask), ("parse_agnostic", made.parse)):
                if key not in maps:
                    maps[key] = value
                    sources[key] = Source.GEOMETRIC
        if "densepose" not in maps:
            from vton.preprocess.densepose import densepose_from_pose

            maps["densepose"] = densepose_from_pose(keypoints, person_mask, parse)
            sources["densepose"] = Source.GEOMETRIC

        return Person(image=image, keypoints=keypoints, person_mask=person_mask, parse=parse,
                      densepose=maps["densepose"], agnostic=maps["agnostic"], agnostic_mask=maps["agnostic_mask"],
                      parse_agnostic=maps["parse_agnostic"], sources=sources)

    def _truth(self, name: str) -> GroundTruth:
        truth = GroundTruth()
        if (path := self._path("gt_flow", name)) is not None:
            try:
                flow = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as e:
                raise InputError(f"{path} is not a readable .npy array ({e})") from None
            if flow.ndim != 3 or flow.shape[0] != 2:
                raise InputError(f"{path} must hold a (2, H, W) flow, got shape {flow.shape}")
            truth.flow = resize_flow(flow.astype(np.float32), self.size)
        if (path := self._path("gt_warped_cloth", name)) is not None:
            truth.warped_cloth = resize_image(load_image(path, min_side=1), self.size)
        if (path := self._path("gt_warped_mask", name)) is not None:
            truth.warped_mask = resize_nearest(load_mask(path), self.size)
        return truth
