#!/usr/bin/env python
"""How much of the true garment the agnostic mask of a photo without a parse file hides (issue 12, part 2).

    python -m scripts.measure_agnostic                          # 40 held-out people at 256x192 and 512x384
    python -m scripts.measure_agnostic --n 8 --size 256x192 --out agnostic.json

Each synthetic person (`vton.data.synth.render_pair`, drawn from `item_seed` ``(seed, i, "test")``;
the default dataset seed 31337 is used by no test and no training) is preprocessed from the
photo alone, as ``python -m vton preprocess --person`` does: MediaPipe pose, person mask, the
geometric parse, `make_agnostic`. The mask is then scored on the drawing's own parse:

- ``upper``: share of the true UPPER_CLOTHES pixels under the mask (target >= 0.97);
- ``face``: share of the true FACE pixels under it (target <= 0.02);
- ``lower``: share of the true PANTS and SKIRT pixels under it (target <= 0.15).

People MediaPipe does not find are counted (``missed``) and left out of the scores. The
table groups people by the top's length and the arm pose (the fields of ``synth-info.json``), and
scores apart the people whose person mask (MediaPipe's segmentation) holds most of the body.
Prints JSON (and writes it to ``--out``).
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vton.types import CIHP

TARGETS = {"upper": (">=", 0.97), "face": ("<=", 0.02), "lower": ("<=", 0.15)}
DEFAULT_SEED = 31337
MASK_RECALL = 0.9
"""People whose MediaPipe person mask misses more of the body than 1 - this are also scored apart: the parse
labels nothing outside the person mask, so what the segmentation loses of the top the mask cannot hide."""


@dataclass
class Score:
    """One person's agnostic mask against the drawing's parse (shares in [0, 1]; None when the label is absent)."""

    name: str
    seed: int
    length: str
    arm_pose: str
    garment: str
    lower_kind: str  # "pants", "skirt" or "none"
    upper: float | None
    face: float | None
    lower: float | None
    pixels: dict[str, int]  # true pixels of each region (upper, face, lower) at this size
    person_mask_recall: float = 1.0  # share of the drawn person inside MediaPipe's person mask


def share(mask: np.ndarray, region: np.ndarray) -> float | None:
    """Mean of ``mask`` over ``region`` (None for an empty region)."""
    return float(mask[region].mean()) if region.any() else None


def regions(truth_parse: np.ndarray) -> dict[str, np.ndarray]:
    """The scored regions of a CIHP parse: ``upper``, ``face``, ``lower`` (``bool (H, W)`` each)."""
    return {"upper": truth_parse == CIHP.UPPER_CLOTHES, "face": truth_parse == CIHP.FACE,
            "lower": np.isin(truth_parse, (CIHP.PANTS, CIHP.SKIRT))}


def score_mask(agnostic_mask: np.ndarray, truth_parse: np.ndarray) -> dict[str, float | None]:
    """``upper`` / ``face`` / ``lower`` shares of `agnostic_mask` ``(H, W) {0, 1}`` on a CIHP parse."""
    return {key: share(agnostic_mask, region) for key, region in regions(truth_parse).items()}


def measure(pre, seed: int, n: int, size: tuple[int, int]) -> tuple[list[Score], list[str]]:
    """Scores of people ``0..n-1`` of dataset ``seed`` at ``size``, and the names MediaPipe missed."""
    from vton.data.synth import item_seed, render_pair, sample_name
    from vton.errors import InputError

    scores, missed = [], []
    for i in range(n):
        s = item_seed(seed, i, "test")
        r = render_pair(s, size, sample_name(i))
        truth = r.pair.person
        try:
            p = pre.person(truth.image)
        except InputError:
            missed.append(r.pair.name)
            continue
        kinds = set(np.unique(truth.parse).tolist())
        lower_kind = "skirt" if CIHP.SKIRT in kinds else "pants" if CIHP.PANTS in kinds else "none"
        pixels = {key: int(region.sum()) for key, region in regions(truth.parse).items()}
        recall = float(p.person_mask[truth.person_mask == 1].mean())
        scores.append(Score(r.pair.name, s, r.info.length, r.info.arm_pose, r.info.garment, lower_kind,
                            **score_mask(p.agnostic_mask, truth.parse), pixels=pixels, person_mask_recall=recall))
    return scores, missed


def summarise(scores: list[Score]) -> dict:
    """Per share over ``scores``: the mean over people (the targets' measure), the worst person, and the
    share of all pixels pooled (a person showing a sliver of skirt under a tunic weighs as little as the sliver)."""
    out: dict = {"people": len(scores)}
    for key in TARGETS:
        have = [s for s in scores if getattr(s, key) is not None]
        if have:
            values = [getattr(s, key) for s in have]
            worst = min(values) if TARGETS[key][0] == ">=" else max(values)
            area = sum(s.pixels[key] for s in have)
            pooled = sum(getattr(s, key) * s.pixels[key] for s in have) / area
            out[key] = {"mean": round(float(np.mean(values)), 4), "worst": round(float(worst), 4),
                        "pooled": round(float(pooled), 4)}
    return out


def table(scores: list[Score]) -> dict:
    """`summarise` overall, per length, per arm pose and per (length, arm pose)."""
    groups: dict[str, dict[str, list[Score]]] = {"length": defaultdict(list), "arm_pose": defaultdict(list),
                                                 "length x arm_pose": defaultdict(list),
                                                 "lower_kind": defaultdict(list)}
    for s in scores:
        groups["length"][s.length].append(s)
        groups["arm_pose"][s.arm_pose].append(s)
        groups["length x arm_pose"][f"{s.length} / {s.arm_pose}"].append(s)
        groups["lower_kind"][s.lower_kind].append(s)
    whole = [s for s in scores if s.person_mask_recall >= MASK_RECALL]
    return {"all": summarise(scores),
            f"person mask holds >= {MASK_RECALL:.0%} of the body": summarise(whole),
            **{name: {k: summarise(v) for k, v in sorted(g.items())} for name, g in groups.items()}}


def meets_targets(summary: dict) -> dict[str, bool]:
    """Whether each mean meets its target (issue 12)."""
    out = {}
    for key, (op, target) in TARGETS.items():
        if key in summary:
            mean = summary[key]["mean"]
            out[key] = mean >= target if op == ">=" else mean <= target
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"dataset seed (test split; default {DEFAULT_SEED})")
    ap.add_argument("--n", type=int, default=40, help="people per size (default 40)")
    ap.add_argument("--size", nargs="+", default=["256x192", "512x384"], help="H x W, one or more")
    ap.add_argument("--per-person", action="store_true", help="include every person's scores")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    a = ap.parse_args()

    from vton.preprocess.pipeline import Preprocessor
    from vton.types import parse_size

    pre = Preprocessor()
    result: dict = {"dataset_seed": a.seed, "split": "test", "n": a.n, "targets": TARGETS, "sizes": {}}
    try:
        for text in a.size:
            size = parse_size(text)
            t0 = time.perf_counter()
            scores, missed = measure(pre, a.seed, a.n, size)
            entry = {"missed": missed, **table(scores), "seconds": round(time.perf_counter() - t0, 1)}
            entry["meets_targets"] = meets_targets(entry["all"])
            if a.per_person:
                entry["per_person"] = [asdict(s) for s in scores]
            result["sizes"][f"{size[0]}x{size[1]}"] = entry
    finally:
        pre.close()
    text = json.dumps(result, indent=2)
    if a.out is not None:
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
