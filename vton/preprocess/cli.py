"""``python -m vton preprocess``: write every map of a person (and cloth) photo into a folder.

Files written to ``--out`` (each atomically, and only after every map was computed):

============================  ===================================================
``person.png``                the photo as read (EXIF-rotated, RGB)
``keypoints.json``            BODY_25 keypoints, OpenPose 1.3 JSON (joints in OpenPose's places)
``keypoints_mediapipe.json``  the same before the move: where MediaPipe found the joints
``person_mask.png``           person mask, 0/255
``parse.png``                 CIHP labels, P-mode PNG with VITON-HD's palette
``densepose.png``             IUV (I part index, U, V), see `vton.preprocess.densepose`
``image-densepose.jpg``       the same parts as VITON-HD's ``image-densepose`` file: detectron2's
                              dp_segm colour render (PARULA colours on black, JPEG)
``densepose_vis.png``         a colour picture of the IUV map
``agnostic.png``              agnostic image (grey where the try-on repaints)
``agnostic_mask.png``         agnostic mask, 0/255
``parse_agnostic.png``        parse-agnostic, P-mode PNG
``cloth.png``, ``cloth_mask.png``  with ``--cloth``
``preprocess.json``           where each map came from, the DensePose encoding read, notes, seconds per step;
                              with ``--parser``, ``parser``: its folder, input size, device and
                              ``label_map`` (``{model label: CIHP name, [left, right] when split by
                              the pose, or null}``)
============================  ===================================================
"""
from __future__ import annotations

import argparse
from pathlib import Path

from vton import checks
from vton.cli import command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--person", required=True, type=checks.image_file("person photo"), help="person photo (any size)")
    p.add_argument("--cloth", type=checks.image_file("cloth photo"), help="in-shop garment photo")
    p.add_argument("--cloth-mask", type=checks.image_file("cloth mask"),
                   help="garment mask image to use instead of computing one (with --cloth)")
    p.add_argument("--parse", type=checks.image_file("parse map"),
                   help="CIHP parse PNG (e.g. VITON-HD image-parse-v3) instead of the geometric parse")
    p.add_argument("--densepose", type=checks.image_file("DensePose image"),
                   help="DensePose image instead of the pose-built one: IUV (PNG), or the dp_segm colour render "
                        "VITON-HD ships in image-densepose (JPEG/PNG); the encoding is detected")
    p.add_argument("--parser", type=checks.existing_folder("human parser"),
                   help="a transformers semantic-segmentation model folder (config.json + safetensors, e.g. a "
                        "SegFormer human parser) whose map replaces the geometric parse; labels mapped to CIHP by name")
    p.add_argument("--out", required=True, type=checks.output_folder, help="output folder (created)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


@command(add_arguments)
def preprocess(args: argparse.Namespace) -> int:
    if args.parse and args.parser:
        raise checks.BadArgument("--parse and --parser both give the parse map; pass one of them")
    if args.cloth_mask is not None and args.cloth is None:
        raise checks.BadArgument("--cloth-mask needs --cloth (the garment photo it masks)")
    from tqdm import tqdm

    from vton import io
    from vton.preprocess.densepose import colorize_iuv, render_dp_segm
    from vton.preprocess.parser import default_device, load_parser
    from vton.preprocess.pipeline import STEPS, default_preprocessor

    image = io.load_image(args.person)
    parse = io.load_label_png(args.parse) if args.parse else None
    densepose = io.load_image(args.densepose) if args.densepose else None
    # every file is read (and the cloth mask's size checked) before the person's slow preprocessing
    cloth_image = io.load_image(args.cloth) if args.cloth else None
    mask = io.load_mask(args.cloth_mask) if args.cloth_mask else None
    if mask is not None and mask.shape != cloth_image.shape[:2]:
        raise checks.BadArgument(f"--cloth-mask {args.cloth_mask} is {mask.shape[1]}x{mask.shape[0]} but the cloth photo "
                                 f"is {cloth_image.shape[1]}x{cloth_image.shape[0]} (W x H); they must match")
    parser = load_parser(args.parser, device=default_device()) if args.parser else None
    pre = default_preprocessor()
    timings: dict[str, float] = {}
    with tqdm(total=len(STEPS), desc="preprocess", disable=args.quiet) as bar:
        def progress(done: int, total: int, message: str) -> None:
            bar.set_postfix_str(message)
            bar.update(done - bar.n)

        person = pre.person(image, parse=parse, densepose=densepose, progress=progress, timings=timings,
                            parser=parser)
    cloth = None
    if cloth_image is not None:
        cloth = pre.cloth(cloth_image, mask=mask)

    out: Path = args.out
    io.atomic_save_image(out / "person.png", person.image)
    io.atomic_save_json(out / "keypoints.json", io.keypoints_to_openpose_json(person.keypoints))
    if person.detected_keypoints is not None:
        io.atomic_save_json(out / "keypoints_mediapipe.json", io.keypoints_to_openpose_json(person.detected_keypoints))
    io.atomic_save_image(out / "person_mask.png", person.person_mask)
    io.atomic_save_label_png(out / "parse.png", person.parse)
    io.atomic_save_image(out / "densepose.png", person.densepose)
    io.atomic_save_image(out / "image-densepose.jpg", render_dp_segm(person.densepose[..., 0]))
    io.atomic_save_image(out / "densepose_vis.png", colorize_iuv(person.densepose))
    io.atomic_save_image(out / "agnostic.png", person.agnostic)
    io.atomic_save_image(out / "agnostic_mask.png", person.agnostic_mask)
    io.atomic_save_label_png(out / "parse_agnostic.png", person.parse_agnostic)
    summary = {"person": {"sources": {k: v.value for k, v in person.sources.items()},
                          "densepose_encoding": person.densepose_encoding.value, "notes": person.notes,
                          "seconds": {k: round(v, 4) for k, v in timings.items()}, "size_hw": list(person.size)}}
    if parser is not None:
        summary["parser"] = parser.describe()
    if cloth is not None:
        io.atomic_save_image(out / "cloth.png", cloth.image)
        io.atomic_save_image(out / "cloth_mask.png", cloth.mask)
        summary["cloth"] = {"sources": {k: v.value for k, v in cloth.sources.items()}, "size_hw": list(cloth.size)}
    io.atomic_save_json(out / "preprocess.json", summary)
    for note in person.notes:
        print(f"note: {note}")
    print(f"wrote {out}")
    return 0
