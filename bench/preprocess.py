"""Benchmark of person preprocessing on the CPU; prints one JSON object.

    python bench/preprocess.py [--sizes 1024x768,512x384] [--repeat 3] [--photo PATH]

The photo (default: the bundled astronaut, cropped to 4:3) is resized to each
size (H x W) and preprocessed ``--repeat`` times after one warm-up run (which
also creates the MediaPipe graphs, timed apart as ``model_creation_s``). For
every size: the median seconds of each step (pose, masks, parse, densepose,
agnostic; `vton.preprocess.pipeline.STEPS`) and of the whole call. "pose"
includes face detection and any re-detection on a crop; "parse" includes the
face mesh and hand landmarks.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vton.io import load_image  # noqa: E402
from vton.preprocess.pipeline import STEPS, Preprocessor  # noqa: E402
from vton.types import parse_size  # noqa: E402

DEFAULT_PHOTO = Path(__file__).resolve().parents[1] / "assets" / "samples" / "photos" / "astronaut.png"


def four_by_three(image: np.ndarray) -> np.ndarray:
    """The centre crop of ``image`` with VITON-HD's 4:3 (H:W) aspect."""
    h, w = image.shape[:2]
    if h * 3 >= w * 4:
        return image
    cw = h * 3 // 4
    x0 = (w - cw) // 2
    return np.ascontiguousarray(image[:, x0:x0 + cw])


def bench_size(pre: Preprocessor, photo: np.ndarray, size: tuple[int, int], repeat: int) -> dict:
    image = cv2.resize(photo, (size[1], size[0]), interpolation=cv2.INTER_AREA if size[0] < photo.shape[0]
                       else cv2.INTER_CUBIC)
    pre.person(image)  # warm-up
    runs: list[dict[str, float]] = []
    totals = []
    for _ in range(repeat):
        timings: dict[str, float] = {}
        t = time.perf_counter()
        pre.person(image, timings=timings)
        totals.append(time.perf_counter() - t)
        runs.append(timings)
    return {
        "size_hw": list(size),
        "total_s": round(statistics.median(totals), 4),
        "steps_s": {step: round(statistics.median(r[step] for r in runs), 4) for step in STEPS},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024x768,512x384", help="comma-separated H x W sizes")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    args = p.parse_args(argv)
    photo = four_by_three(load_image(args.photo))
    pre = Preprocessor()
    t = time.perf_counter()
    _ = pre.detectors
    created = time.perf_counter() - t
    results = [bench_size(pre, photo, parse_size(s), args.repeat) for s in args.sizes.split(",")]
    print(json.dumps({
        "photo": str(args.photo), "repeat": args.repeat, "model_creation_s": round(created, 3),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "results": results,
    }, indent=2))
    pre.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
