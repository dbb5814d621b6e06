"""Gather one run of the lab into `vton.export.RunExport` (every stage's images, GIF, manifest)."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import numpy as np

from lab import models, stages
from lab.session import Prepared
from lab.settings import LabSettings
from vton import __version__, viz
from vton.export import RunExport, run_zip

GIF_FRAMES = 12


def trajectory_frames(run: stages.Run, which: str = "x0", frames: int = GIF_FRAMES, index: int = 0) -> list[np.ndarray]:
    """Decoded previews at up to ``frames`` evenly spaced steps (cached per step), ending with the last step."""
    traj = run.result.trajectory
    if traj is None or len(traj) == 0:
        return []
    steps = sorted(set(np.linspace(0, len(traj) - 1, min(frames, len(traj))).round().astype(int).tolist()))
    return [stages.decode_frame(run.key, int(i), which, run, index) for i in steps]


def build_run_zip(s: LabSettings, prep: Prepared, run: stages.Run | None, warp: stages.WarpView | None) -> bytes:
    """The zip of everything the lab shows for the current input and settings."""
    from vton.preprocess.densepose import colorize_iuv

    p, c = prep.person, prep.cloth
    images: dict[str, dict[str, np.ndarray]] = {
        "0_inputs": {"person": prep.inp.person_image, "cloth": prep.inp.cloth_image},
        "1_preprocessing": {
            "person_mask": p.person_mask, "parse": viz.colorize_parse(p.parse), "densepose": colorize_iuv(p.densepose),
            "densepose_iuv": p.densepose, "agnostic": p.agnostic, "agnostic_mask": p.agnostic_mask,
            "parse_agnostic": viz.colorize_parse(p.parse_agnostic), "cloth_mask": c.mask,
        },
    }
    manifest: dict = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "vton_version": __version__,
        "input": prep.inp.label,
        "size_hw": list(s.size),
        "photo_padding": None if prep.inp.padding is None else {
            "photo_hw": list(prep.inp.padding.photo_size), "pad_top_bottom_left_right": list(prep.inp.padding.pad)},
        "sources": {k: getattr(v, "value", v) for k, v in p.sources.items()},
        "user_maps": {"parse": prep.maps.parse is not None, "densepose": prep.maps.densepose is not None},
        "notes": list(p.notes),
        "models": models.model_versions(s.models),
        "timings_seconds": {},
    }
    if warp is not None:
        max_px = viz.flow_max_pixels(warp.flows, s.size)
        images["2_warping"] = {f"flow_level{i + 1}": viz.flow_to_color(f, s.size, max_px) for i, f in enumerate(warp.flows)}
        images["2_warping"].update(warped_cloth=warp.warped_cloth, warped_mask=(warp.warped_mask > 0.5).astype(np.uint8),
                                   aligned_cloth=warp.aligned_cloth,
                                   aligned_mask=(warp.aligned_mask > 0.5).astype(np.uint8))
        manifest["flow_colour_max_pixels"] = max_px
        manifest["timings_seconds"]["warp"] = warp.seconds
    gif = None
    if run is not None:
        images["3_diffusion"] = {"composite": run.composite}
        for seed, img in zip(run.params.seeds, run.images):
            images["3_diffusion"][f"result_seed{seed}"] = prep.inp.to_photo(img)  # final: the photo's geometry
            if prep.inp.padding is not None and not prep.inp.padding.is_identity:
                images["3_diffusion"][f"result_seed{seed}_working"] = img  # as the model made it, padding included
        frames = trajectory_frames(run)
        gif = viz.animated_gif(frames) if frames else None
        manifest["sampling"] = asdict(run.params)
        manifest["timings_seconds"].update(run.result.timings)
        manifest["timings_seconds"]["sample_call"] = run.seconds
    return run_zip(RunExport(images=images, keypoints=p.keypoints, trajectory_gif=gif, manifest=manifest))
