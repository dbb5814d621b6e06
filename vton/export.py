"""A try-on run as one zip: every stage's images, keypoints, trajectory GIF and a manifest.

The zip is what a stakeholder demo needs to be reproduced: ``images/<stage>/<name>.png``,
``keypoints.json`` (OpenPose layout: ``people[0].pose_keypoints_2d`` is BODY_25
``x, y, c`` flattened), ``trajectory.gif`` and ``run.json`` (parameters, model versions,
timings and anything else the caller puts in the manifest). Pure Python; no Streamlit.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vton.io import keypoints_to_openpose_json
from vton.viz import png_bytes


@dataclass
class RunExport:
    """What goes into a run's zip.

    ``images`` maps a stage name to ``{name: uint8 image or mask}``; masks ``(H, W)``
    in {0, 1} are written as black/white PNGs.
    """

    images: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    keypoints: np.ndarray | None = None  # (25, 3) BODY_25
    trajectory_gif: bytes | None = None
    manifest: dict[str, Any] = field(default_factory=dict)  # params, model versions, timings


def _to_png(image: np.ndarray) -> bytes:
    image = np.asarray(image)
    if image.ndim == 2 and image.dtype == np.uint8 and image.size and image.max() <= 1:
        image = image * 255
    return png_bytes(image.astype(np.uint8))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def run_zip(run: RunExport) -> bytes:
    """The zip of a run, as bytes (deflated PNGs are already compressed, so they are stored)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for stage, images in run.images.items():
            for name, image in images.items():
                zf.writestr(f"images/{stage}/{name}.png", _to_png(image), compress_type=zipfile.ZIP_STORED)
        if run.keypoints is not None:
            zf.writestr("keypoints.json", json.dumps(keypoints_to_openpose_json(run.keypoints), indent=1))
        if run.trajectory_gif is not None:
            zf.writestr("trajectory.gif", run.trajectory_gif, compress_type=zipfile.ZIP_STORED)
        zf.writestr("run.json", json.dumps(_jsonable(run.manifest), indent=2, sort_keys=True))
    return buf.getvalue()
