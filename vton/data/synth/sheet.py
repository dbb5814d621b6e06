"""A contact sheet of synthetic pairs: look at the data before training on it.

One row per pair: the person with its BODY_25 skeleton, the flat cloth, the CIHP
parse, the ground-truth warped cloth, and the ground-truth flow as a colour wheel
picture (hue = direction, saturation = length relative to the longest offset inside
the warped mask; white outside it).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from vton.types import BODY25_EDGES, Pair
from vton.viz import colorize_parse, flow_to_color

TILES = ("person + keypoints", "cloth", "parse", "gt warped cloth", "gt flow")


def _skeleton(image: np.ndarray, kp: np.ndarray) -> np.ndarray:
    out = image.copy()
    for a, b in BODY25_EDGES:
        if kp[a, 2] > 0 and kp[b, 2] > 0:
            cv2.line(out, tuple(int(round(v)) for v in kp[a, :2]), tuple(int(round(v)) for v in kp[b, :2]),
                     (255, 40, 40), 1, cv2.LINE_AA)
    for x, y, c in kp:
        if c > 0:
            cv2.circle(out, (int(round(x)), int(round(y))), 2, (255, 230, 0), -1, cv2.LINE_AA)
    return out


def pair_row(pair: Pair) -> np.ndarray:
    """The tiles of one pair side by side, ``uint8 (H, 5 W, 3)``."""
    p, t = pair.person, pair.truth
    h, w = p.size
    if t.flow is not None:
        inside = t.warped_mask.astype(bool) if t.warped_mask is not None else np.ones((h, w), bool)
        px = np.hypot(t.flow[0] * w / 2, t.flow[1] * h / 2)[inside]
        flow = flow_to_color(t.flow, (h, w), max_pixels=float(px.max(initial=1.0)))  # scaled to the garment
        flow[~inside] = 255
    else:
        flow = np.zeros((h, w, 3), np.uint8)
    warped = t.warped_cloth if t.warped_cloth is not None else np.zeros((h, w, 3), np.uint8)
    return np.concatenate([_skeleton(p.image, p.keypoints), pair.cloth.image, colorize_parse(p.parse), warped, flow], 1)


def contact_sheet(pairs: Sequence[Pair], blocks: int = 2) -> np.ndarray:
    """Rows of `pair_row` arranged in ``blocks`` side-by-side columns, with a caption strip on top."""
    if not pairs:
        raise ValueError("contact_sheet needs at least one pair")
    rows = [pair_row(p) for p in pairs]
    per_block = -(-len(rows) // blocks)
    rows += [np.full_like(rows[0], 255)] * (per_block * blocks - len(rows))
    sheet = np.concatenate([np.concatenate(rows[b * per_block:(b + 1) * per_block], 0) for b in range(blocks)], 1)
    h, w = pairs[0].person.size
    strip = np.full((max(14, h // 12), sheet.shape[1], 3), 255, np.uint8)
    scale = strip.shape[0] / 40
    for b in range(blocks):
        for i, name in enumerate(TILES):
            cv2.putText(strip, name, (int((b * len(TILES) + i) * w + 4), int(strip.shape[0] * 0.75)),
                        cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, sheet], 0)
