#!/usr/bin/env python
"""Which fill pads a photo of another aspect best: its border colour, its reflection (or the old edge repeat).

    python -m scripts.measure_padding                   # 8 held-out pairs x 3 aspects x 3 fills, embedded weights
    python -m scripts.measure_padding --n 4 --out padding.json

Synthetic pairs (`vton.data.synth.render_pair` at 512x384, dataset seed 4711, test split: used by no
test and no training; paired, so the person photo is the ground-truth try-on) are cut to other
aspects: ``square`` (rows 0-383: head to thighs), ``landscape`` (rows 0-287: the upper body) and
``tall`` (columns 64-319: 1:2). Person, cloth and the ground-truth warped cloth are cut alike. Each cut
pair runs through the embedded pipeline (``assets/weights``, the model card's sampling settings) at
256x192 with the person and cloth padded by each fill (`vton.diffusion.pipeline.PAD_FILLS`; ``A/B`` pads
the person with A and the cloth with B); the maps are padded with 0 in every case, so the warper sees
only the cloth's fill. Scores, in the photo's geometry (`Padding.to_photo`):

- warper: IoU of the warped cloth mask with the true one, and the mean absolute error of the
  occlusion-aligned warped cloth inside the true mask (0-255);
- diffusion: SSIM and PSNR of the try-on against the photo, and the mean absolute error in the band of
  the photo (10% of its side) next to the padded side, where a fill's context reaches.

Prints JSON (and writes it to ``--out``): per fill and aspect, and per fill overall.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

CUTS = {"square": (slice(0, 384), slice(0, 384)), "landscape": (slice(0, 288), slice(0, 384)),
        "tall": (slice(0, 512), slice(64, 320))}
SEED = 4711


def cut_pair(pair, rows: slice, cols: slice):
    """The pair and its true warped cloth and mask, cut to ``rows`` x ``cols`` (the maps are rebuilt from the cut
    drawing as for a photo: the drawn parse, its agnostic and DensePose-style map)."""
    from dataclasses import replace

    from vton.preprocess.agnostic import make_agnostic
    from vton.preprocess.densepose import densepose_from_pose
    from vton.types import Cloth

    p = pair.person
    image = np.ascontiguousarray(p.image[rows, cols])
    parse = np.ascontiguousarray(p.parse[rows, cols])
    kp = p.keypoints.copy()
    seen = kp[:, 2] > 0
    kp[seen, 0] -= cols.start
    kp[seen, 1] -= rows.start
    h, w = image.shape[:2]
    inside = seen & (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h)
    kp[~inside] = 0
    mask = (parse > 0).astype(np.uint8)
    agn = make_agnostic(image, parse, kp)
    person = replace(p, image=image, keypoints=kp, person_mask=mask, parse=parse,
                     densepose=densepose_from_pose(kp, mask, parse), agnostic=agn.image, agnostic_mask=agn.mask,
                     parse_agnostic=agn.parse, detected_keypoints=None)
    cloth = Cloth(image=np.ascontiguousarray(pair.cloth.image[rows, cols]),
                  mask=np.ascontiguousarray(pair.cloth.mask[rows, cols]), sources=dict(pair.cloth.sources))
    t = pair.truth
    return person, cloth, np.ascontiguousarray(t.warped_cloth[rows, cols]), np.ascontiguousarray(t.warped_mask[rows, cols])


def band_next_to_pad(padding, size) -> np.ndarray:
    """``bool (H, W)`` the 10% of the photo next to its padded sides."""
    h, w = size
    band = np.zeros((h, w), bool)
    t, b, l, r = padding.pad
    ky, kx = max(1, h // 10), max(1, w // 10)
    if t:
        band[:ky] = True
    if b:
        band[h - ky:] = True
    if l:
        band[:, :kx] = True
    if r:
        band[:, w - kx:] = True
    return band


def score(pipe, person, cloth, truth_cloth, truth_mask, fill: str, defaults) -> dict[str, float]:
    import vton.diffusion.pipeline as P
    from vton.tensors import tensor_to_image, tensor_to_mask
    from vton.viz import image_metrics

    person_fill, _, cloth_fill = fill.partition("/")  # "reflect/border": person reflected, cloth border colour
    saved = P.PAD_FILL, P.CLOTH_PAD_FILL
    P.PAD_FILL, P.CLOTH_PAD_FILL = person_fill, cloth_fill or person_fill  # what resize_person / resize_cloth use
    try:
        result = pipe(person, cloth, size=(256, 192), num_inference_steps=defaults.steps, strength=defaults.strength,
                      eta=defaults.eta, seeds=[0])
    finally:
        P.PAD_FILL, P.CLOTH_PAD_FILL = saved
    padding = result.padding
    warped_mask = padding.to_photo(tensor_to_mask(result.warp.warped_mask[0]), nearest=True).astype(bool)
    aligned = padding.to_photo(tensor_to_image(result.warp.aligned_cloth[0]))
    truth = truth_mask.astype(bool)
    iou = float((warped_mask & truth).sum() / max((warped_mask | truth).sum(), 1))
    cloth_l1 = float(np.abs(aligned.astype(np.float32) - truth_cloth)[truth].mean()) if truth.any() else float("nan")
    out = result.photo_images()[0]
    m = image_metrics(out, person.image)
    band = band_next_to_pad(padding, person.size)
    band_l1 = float(np.abs(out.astype(np.float32) - person.image)[band].mean())
    return {"warp_iou": iou, "warp_cloth_l1": cloth_l1, "tryon_ssim": m["ssim"], "tryon_psnr": m["psnr"],
            "tryon_band_l1": band_l1}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8, help="pairs (default 8)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--weights", type=Path, default=Path("assets/weights"))
    ap.add_argument("--fills", nargs="+", default=["border", "reflect", "edge", "reflect/border"],
                    help="fills to compare; PERSON/CLOTH for one each (default: border reflect edge reflect/border)")
    ap.add_argument("--device", default="cuda" if __import__("torch").cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()

    from vton.data.synth import item_seed, render_pair
    from vton.diffusion.defaults import sampling_defaults
    from vton.diffusion.pipeline import load_pipeline

    pipe = load_pipeline(a.weights, device=a.device)
    pipe.set_progress_bar_config(disable=True)
    defaults = sampling_defaults(a.weights)
    rows: list[dict] = []
    t0 = time.perf_counter()
    for i in range(a.n):
        pair = render_pair(item_seed(a.seed, i, "test"), (512, 384)).pair
        for aspect, (r, c) in CUTS.items():
            cut = cut_pair(pair, r, c)
            for fill in a.fills:
                rows.append({"pair": i, "aspect": aspect, "fill": fill, **score(pipe, *cut, fill, defaults)})
    keys = [k for k in rows[0] if k not in ("pair", "aspect", "fill")]

    def mean(sel):
        return {k: round(float(np.nanmean([r[k] for r in sel])), 4) for k in keys}

    result = {"dataset_seed": a.seed, "n": a.n, "weights": str(a.weights), "sampling": vars(defaults) if hasattr(defaults, "__dict__") else str(defaults),
              "seconds": round(time.perf_counter() - t0, 1),
              "by_fill": {f: mean([r for r in rows if r["fill"] == f]) for f in a.fills},
              "by_fill_and_aspect": {f: {asp: mean([r for r in rows if r["fill"] == f and r["aspect"] == asp])
                                         for asp in CUTS} for f in a.fills}}
    text = json.dumps(result, indent=2, default=str)
    if a.out is not None:
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
