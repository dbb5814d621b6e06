#!/usr/bin/env python
"""Measure how far OpenPose's joints lie from MediaPipe's: the table `vton.preprocess.detect.OPENPOSE_OFFSETS`.

    python -m scripts.calibrate_keypoints                 # seeds 1000-1239 at 256x192, ~2 min

The synthetic people (`vton.data.synth`) are drawn with their joints where OpenPose
puts them (shoulder joints under the shoulder's outer curve, hips at the top of the
legs). For each person the flip-tested MediaPipe keypoints are found (without the
offsets), and each drawn joint's displacement is written in the joint's own frame
(`openpose_frames`: along the body or limb, and outward) in shoulder widths. The table
is the median over people and over both sides, so it is symmetric and robust to
MediaPipe's occasional misses. The test seeds of ``tests/test_preprocess_photos.py``
(0-15) are not among the calibration seeds; the script also prints their error
before and after, and a two-fold cross-validation on the calibration seeds.
Prints JSON.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from vton.data.synth import generate_pair
from vton.errors import InputError
from vton.preprocess.detect import OPENPOSE_MOVED, OPENPOSE_OFFSETS, openpose_frames, to_openpose
from vton.preprocess.pipeline import Preprocessor

JOINTS = [j for pair in OPENPOSE_MOVED.values() for j in pair]


def collect(pre: Preprocessor, seeds, size) -> tuple[np.ndarray, np.ndarray]:
    """``(found (N, 25, 3), drawn (N, 25, 3))`` for the seeds where a person was found."""
    found, drawn = [], []
    for seed in seeds:
        truth = generate_pair(seed, size).person
        try:
            found.append(pre.keypoints(truth.image))
        except InputError:
            continue
        drawn.append(truth.keypoints)
    return np.array(found), np.array(drawn)


def fit(found: np.ndarray, drawn: np.ndarray) -> dict[str, tuple[float, float]]:
    """Median ``(along, outward)`` displacement per joint pair, in shoulder widths."""
    samples: dict[str, list] = {name: [] for name in OPENPOSE_MOVED}
    for kp, truth in zip(found, drawn):
        got = openpose_frames(kp)
        if got is None:
            continue
        sw, frames = got
        for name, pair in OPENPOSE_MOVED.items():
            for j in pair:
                if kp[j, 2] > 0 and truth[j, 2] > 0:
                    d = (truth[j, :2] - kp[j, :2]) / sw
                    a, o = frames[j]
                    samples[name].append((d @ a, d @ o))
    return {name: tuple(round(float(v), 3) for v in np.median(np.array(s), axis=0)) for name, s in samples.items()}


def median_error(found: np.ndarray, drawn: np.ndarray) -> float:
    """Pooled median distance over shoulders, elbows, wrists, hips, in the drawn shoulder width."""
    errs = []
    for kp, truth in zip(found, drawn):
        sw = float(np.hypot(*(truth[5, :2] - truth[2, :2])))
        errs += [float(np.hypot(*(kp[j, :2] - truth[j, :2]))) / sw for j in JOINTS if kp[j, 2] > 0 and truth[j, 2] > 0]
    return float(np.median(errs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs=2, default=(1000, 1240), metavar=("FIRST", "END"))
    ap.add_argument("--test-seeds", type=int, nargs=2, default=(0, 16), metavar=("FIRST", "END"))
    ap.add_argument("--size", default="256x192")
    a = ap.parse_args()
    size = tuple(int(v) for v in a.size.lower().split("x"))
    pre = Preprocessor(openpose_offsets=False)
    found, drawn = collect(pre, range(*a.seeds), size)
    test_found, test_drawn = collect(pre, range(*a.test_seeds), size)
    table = fit(found, drawn)
    half = len(found) // 2
    moved = lambda kps, t: np.array([to_openpose(k, t) for k in kps])  # noqa: E731
    cv = [median_error(moved(found[half:], fit(found[:half], drawn[:half])), drawn[half:]),
          median_error(moved(found[:half], fit(found[half:], drawn[half:])), drawn[:half])]
    print(json.dumps({
        "offsets": table,
        "shipped_offsets": OPENPOSE_OFFSETS,
        "people": len(found), "of": a.seeds[1] - a.seeds[0],
        "calibration_error": {"mediapipe": median_error(found, drawn), "openpose": median_error(moved(found, table), drawn),
                              "two_fold": cv},
        "test_error": {"seeds": a.test_seeds, "people": len(test_found), "mediapipe": median_error(test_found, test_drawn),
                       "openpose": median_error(moved(test_found, table), test_drawn)},
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
