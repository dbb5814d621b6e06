"""The mask of an in-shop garment photo, without assuming a white background.

1. The background colour is the median (CIE Lab) of a thin strip along the
   image border (`BORDER_FRACTION` of the shorter side).
2. Each pixel's Lab distance to it is thresholded with Otsu's method, but never
   below `MIN_DISTANCE` (so JPEG noise on a flat background is not garment).
3. A closing then an opening (kernels ~1% of the shorter side) smooth the edge;
   the largest connected component is kept and its holes are filled.

A mask that is nearly empty or nearly full means the garment could not be told
apart from the background: `InputError`.
"""
from __future__ import annotations

import cv2
import numpy as np

from vton.errors import InputError
from vton.types import check_image

BORDER_FRACTION = 0.02
MIN_DISTANCE = 10.0
MIN_COVER, MAX_COVER = 0.01, 0.9
"""Mask cover (fraction of the photo) outside which the garment was not found; in-shop photos sit near 0.3-0.7."""


def _odd(n: float) -> int:
    n = max(1, int(round(n)))
    return n if n % 2 else n + 1


def background_colour(lab: np.ndarray) -> np.ndarray:
    """Median Lab colour of the border strip of an image ``(H, W, 3)``."""
    h, w = lab.shape[:2]
    b = max(1, int(round(BORDER_FRACTION * min(h, w))))
    strip = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3),
                            lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)])
    return np.median(strip, axis=0)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` ``uint8 {0,1}`` with every background region not connected to the border filled."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    holes = (flood == 0)[1:-1, 1:-1]
    return (mask.astype(bool) | holes).astype(np.uint8)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of ``mask`` as ``uint8 {0,1}`` (all zeros if empty)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, np.uint8)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == k).astype(np.uint8)


def cloth_mask(image: np.ndarray) -> np.ndarray:
    """The garment mask ``uint8 (H, W) {0, 1}`` of an in-shop cloth photo (see module docstring).

    Raises:
        InputError: when the mask covers less than 1% or more than 90% of the photo.
    """
    check_image(image)
    h, w = image.shape[:2]
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    dist = np.linalg.norm(lab - background_colour(lab), axis=-1)
    scaled = np.clip(dist * (255.0 / max(float(dist.max()), 1e-6)), 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    thresh = max(otsu * max(float(dist.max()), 1e-6) / 255.0, MIN_DISTANCE)
    mask = (dist > thresh).astype(np.uint8)
    k = _odd(0.01 * min(h, w))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = fill_holes(largest_component(mask))
    cover = float(mask.mean())
    if cover < MIN_COVER:
        raise InputError("no garment found in the cloth photo: it looks like a plain background "
                         f"(mask covers {cover:.1%} of the image)")
    if cover > MAX_COVER:
        raise InputError("the garment could not be told apart from the background of the cloth photo "
                         f"(mask covers {cover:.1%}); use a product photo on a plain background or give its mask")
    return mask
