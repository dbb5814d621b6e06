"""Write synthetic pairs to disk in the VITON-HD layout, plus the ground truth VITON-HD lacks.

``out/{split}/`` holds, for every ``NAME`` (``000001_00`` ...):

=============================  ==================================================
``image/NAME.jpg``             the person (JPEG quality 95, as VITON-HD)
``cloth/NAME.jpg``             the flat garment on near-white
``cloth-mask/NAME.png``        its mask, 0/255
``image-parse-v3/NAME.png``    CIHP labels, P-mode with `CIHP_PALETTE`
``image-parse-agnostic-v3.2/`` the parse-agnostic, same format
``openpose_json/NAME_keypoints.json``  OpenPose 1.3, BODY_25 ``pose_keypoints_2d``
``image-densepose/NAME.png``   IUV (lossless: channel 0 is a part index)
``agnostic-v3.2/NAME.jpg``     the agnostic image
``agnostic-mask/NAME.png``     the agnostic mask, 0/255
``gt-flow/NAME.npy``           float32 ``(2, H, W)`` normalized sampling offsets
``gt-warped-cloth/NAME.png``   ``cloth`` warped by ``gt-flow`` (bilinear, before shading)
``gt-warped-mask/NAME.png``    ``cloth-mask`` warped by ``gt-flow``, > 0.5
=============================  ==================================================

and ``out/{split}_pairs.txt`` (also copied to ``out/{split}/{split}_pairs.txt``)
with paired lines ``NAME.jpg NAME.jpg``, and ``out/{split}/synth-info.json``
mapping each ``NAME.jpg`` to what was drawn (`SampleInfo`: garment kind,
texture, arm pose, hair, occluded garment pixels) so benchmarks can be split by
difficulty. Sample ``i`` is drawn from
`item_seed` ``(seed, i, split)``, so it does not depend on ``n`` and the splits
never share a person; every file is written atomically.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from vton.data.synth.render import render_pair
from vton.io import atomic_save_image, atomic_save_json, atomic_save_label_png, atomic_save_npy, atomic_write_bytes
from vton.io import keypoints_to_openpose_json
from vton.types import Pair

Progress = Callable[[int, int, str], None]
SPLITS = ("train", "test")


def item_seed(seed: int, index: int, split: str = "train") -> int:
    """The generator seed of sample ``index`` of the ``split`` drawn with dataset ``seed`` (a hash of all three).

    The split takes part so that a train and a test set written with the same seed
    never share a person.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    entropy = [int(seed), int(index)] + ([] if split == "train" else [SPLITS.index(split)])
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


def sample_name(index: int) -> str:
    """VITON-HD-style file name of sample ``index``: ``000001_00.jpg`` for index 0."""
    return f"{index + 1:06d}_00.jpg"


def save_pair(folder: str | Path, pair: Pair, jpegs: dict[str, bytes] | None = None) -> None:
    """Write one pair's files into ``folder`` (a split folder) under ``pair.name``'s stem.

    ``jpegs`` are the exact JPEG bytes the person and cloth arrays were decoded from
    (`render_pair`); without them the arrays are encoded afresh (quality 95).
    """
    folder = Path(folder)
    stem = Path(pair.name).stem
    p, t = pair.person, pair.truth
    jpegs = jpegs or {}
    for key, array in (("image", p.image), ("cloth", pair.cloth.image)):
        if key in jpegs:
            atomic_write_bytes(folder / key / f"{stem}.jpg", jpegs[key])
        else:
            atomic_save_image(folder / key / f"{stem}.jpg", array)
    atomic_save_image(folder / "cloth-mask" / f"{stem}.png", pair.cloth.mask)
    atomic_save_label_png(folder / "image-parse-v3" / f"{stem}.png", p.parse)
    atomic_save_label_png(folder / "image-parse-agnostic-v3.2" / f"{stem}.png", p.parse_agnostic)
    atomic_save_json(folder / "openpose_json" / f"{stem}_keypoints.json", keypoints_to_openpose_json(p.keypoints))
    atomic_save_image(folder / "image-densepose" / f"{stem}.png", p.densepose)
    atomic_save_image(folder / "agnostic-v3.2" / f"{stem}.jpg", p.agnostic)
    atomic_save_image(folder / "agnostic-mask" / f"{stem}.png", p.agnostic_mask)
    if t.flow is not None:
        atomic_save_npy(folder / "gt-flow" / f"{stem}.npy", t.flow.astype(np.float32))
    if t.warped_cloth is not None:
        atomic_save_image(folder / "gt-warped-cloth" / f"{stem}.png", t.warped_cloth)
    if t.warped_mask is not None:
        atomic_save_image(folder / "gt-warped-mask" / f"{stem}.png", t.warped_mask)


def write_dataset(out: str | Path, n: int, seed: int, size: tuple[int, int] = (256, 192), split: str = "train",
                  progress: Progress | None = None) -> Path:
    """Write ``n`` synthetic pairs into ``out/{split}`` (see the module docstring); return the split folder.

    Args:
        out: dataset root; created if missing. Existing files of the same names are replaced.
        n: number of samples (>= 1).
        seed: dataset seed (>= 0); sample ``i`` uses `item_seed` ``(seed, i, split)``.
        size: ``(H, W)``.
        split: ``"train"`` or ``"test"``.
        progress: called as ``progress(done, total, message)`` after each sample.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    root = Path(out)
    folder = root / split
    info = {}
    for i in range(n):
        name = sample_name(i)
        r = render_pair(item_seed(seed, i, split), size, name)
        save_pair(folder, r.pair, r.jpegs)
        info[name] = {"seed": item_seed(seed, i, split), **asdict(r.info)}
        if progress is not None:
            progress(i + 1, n, name)
    atomic_save_json(folder / "synth-info.json", {"dataset_seed": seed, "size": list(size), "pairs": info})
    text = "".join(f"{name} {name}\n" for name in info).encode()
    atomic_write_bytes(root / f"{split}_pairs.txt", text)
    atomic_write_bytes(folder / f"{split}_pairs.txt", text)
    return folder
