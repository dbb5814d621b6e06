"""Benchmark of person preprocessing on the CPU; prints one JSON object.

    python bench/preprocess.py [--sizes 1024x768,512x384] [--repeat 3] [--photo PATH] [--parser b2|none|FOLDER]

The photo (default: the bundled astronaut, cropped to 4:3) is resized to each
size (H x W) and preprocessed ``--repeat`` times after one warm-up run (which
also creates the MediaPipe graphs, timed apart as ``model_creation_s``). For
every size: the median seconds of each step (pose, masks, parse, densepose,
agnostic; `vton.preprocess.pipeline.STEPS`) and of the whole call. "pose"
includes face detection and any re-detection on a crop; "parse" includes the
face mesh and hand landmarks.

Beside it, ``parser`` times the same call with a human parser (`vton.preprocess.parser`) in place of
the geometric parse: by default a SegFormer-B2 of the seed's parser's configuration (27 M parameters,
24 labels, 512 x 512 input) with random weights, written to a temporary folder (the time does not depend
on the weights); ``--parser FOLDER`` times a folder of your own, ``--parser none`` skips it.
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


def random_segformer_b2(folder: Path) -> Path:
    """A SegFormer-B2 (the seed's parser's configuration: mattmdjaga's B2 with 24 labels) with random weights."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    labels = ["background", "hat", "hair", "glove", "glasses", "upper_only_torso_region", "dresses_only_torso_region",
              "coat_only_torso_region", "socks", "left_pants", "right_patns", "skin_around_neck_region", "scarf",
              "skirts", "face", "left_arm", "right_arm", "left_leg", "right_leg", "left_shoe", "right_shoe",
              "left_sleeve_for_upper", "right_sleeve_for_upper", "bag"]
    config = SegformerConfig(depths=[3, 4, 6, 3], hidden_sizes=[64, 128, 320, 512], num_attention_heads=[1, 2, 5, 8],
                             decoder_hidden_size=768, id2label=dict(enumerate(labels)),
                             label2id={n: i for i, n in enumerate(labels)})
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 512, "width": 512}}))
    return folder


def bench_size(pre: Preprocessor, photo: np.ndarray, size: tuple[int, int], repeat: int, parser=None) -> dict:
    image = cv2.resize(photo, (size[1], size[0]), interpolation=cv2.INTER_AREA if size[0] < photo.shape[0]
                       else cv2.INTER_CUBIC)
    pre.person(image, parser=parser)  # warm-up
    runs: list[dict[str, float]] = []
    totals = []
    for _ in range(repeat):
        timings: dict[str, float] = {}
        t = time.perf_counter()
        pre.person(image, timings=timings, parser=parser)
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
    p.add_argument("--parser", default="b2", help="b2 (random SegFormer-B2, default), none, or a parser folder")
    args = p.parse_args(argv)
    photo = four_by_three(load_image(args.photo))
    pre = Preprocessor()
    t = time.perf_counter()
    _ = pre.detectors
    created = time.perf_counter() - t
    results = [bench_size(pre, photo, parse_size(s), args.repeat) for s in args.sizes.split(",")]
    parser_info = None
    if args.parser != "none":
        import tempfile

        import torch

        from vton.preprocess.parser import load_parser

        with tempfile.TemporaryDirectory() as tmp:
            folder = random_segformer_b2(Path(tmp) / "b2") if args.parser == "b2" else Path(args.parser)
            parser = load_parser(folder, device="cpu")
            parser_info = {"folder": "random SegFormer-B2" if args.parser == "b2" else str(folder),
                           "parameters_m": round(sum(t.numel() for t in parser.model.parameters()) / 1e6, 1),
                           "input_size_hw": parser.describe()["input_size_hw"], "torch_threads": torch.get_num_threads(),
                           "results": [bench_size(pre, photo, parse_size(s), args.repeat, parser)
                                       for s in args.sizes.split(",")]}
    print(json.dumps({
        "photo": str(args.photo), "repeat": args.repeat, "model_creation_s": round(created, 3),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "results": results, "parser": parser_info,
    }, indent=2))
    pre.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
