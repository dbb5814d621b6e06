"""Small geometry on BODY_25 keypoints shared by the parse, DensePose and agnostic builders.

Conventions: keypoints are ``float32 (25, 3)`` ``(x, y, confidence)`` in pixels
(`vton.types.Body25`); a point is *present* when its confidence is above
``min_conf`` and it is not OpenPose's ``(0, 0, 0)``. Masks are ``uint8 (H, W)``
in ``{0, 1}``. Drawing uses OpenCV with integer pixel coordinates.
"""
from __future__ import annotations

import cv2
import numpy as np

from vton.types import Body25

MIN_CONF = 0.05
"""Keypoints at or below this confidence count as missing (OpenPose writes 0 for missing)."""

HIP_MIN_CONF = 0.3
"""Hips below this confidence are treated as out of frame (half-body photos)."""

HIP_EDGE_MARGIN = 0.15
"""Hips closer than this many shoulder widths to the photo's bottom edge count as out of frame."""


def present(kp: np.ndarray, i: int, min_conf: float = MIN_CONF) -> bool:
    """Whether keypoint ``i`` exists: confidence above ``min_conf`` and not ``(0, 0)``."""
    x, y, c = kp[i]
    return bool(c > min_conf and not (x == 0 and y == 0))


def xy(kp: np.ndarray, i: int) -> np.ndarray:
    """Keypoint ``i`` as a float ``(2,)`` pixel position."""
    return kp[i, :2].astype(np.float64)


def shoulder_width(kp: np.ndarray) -> float | None:
    """Distance between the shoulders in pixels, or None when a shoulder is missing."""
    if not (present(kp, Body25.R_SHOULDER) and present(kp, Body25.L_SHOULDER)):
        return None
    return float(np.linalg.norm(xy(kp, Body25.R_SHOULDER) - xy(kp, Body25.L_SHOULDER)))


def pt(p: np.ndarray) -> tuple[int, int]:
    """A point as OpenCV's integer ``(x, y)``."""
    return int(round(float(p[0]))), int(round(float(p[1])))


def draw_capsule(mask: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float, value: int = 1) -> None:
    """Fill the capsule (segment ``a``-``b`` thickened by ``radius``) into ``mask`` in place."""
    r = max(1, int(round(radius)))
    cv2.line(mask, pt(a), pt(b), value, thickness=2 * r, lineType=cv2.LINE_8)
    cv2.circle(mask, pt(a), r, value, thickness=-1)
    cv2.circle(mask, pt(b), r, value, thickness=-1)


def draw_ellipse(mask: np.ndarray, center: np.ndarray, axes: tuple[float, float], value: int = 1) -> None:
    """Fill an axis-aligned ellipse with half-axes ``(ax, ay)`` into ``mask`` in place."""
    ax, ay = (max(1, int(round(v))) for v in axes)
    cv2.ellipse(mask, pt(center), (ax, ay), 0, 0, 360, value, thickness=-1)


def draw_polygon(mask: np.ndarray, points: list[np.ndarray], value: int = 1) -> None:
    """Fill a polygon into ``mask`` in place."""
    cv2.fillPoly(mask, [np.array([pt(p) for p in points], dtype=np.int32)], value)


def garment_bottom(kp: np.ndarray, parse: np.ndarray | None, person_mask: np.ndarray | None,
                   upper_labels: tuple[int, ...] = (5, 6, 7)) -> float:
    """The lowest row the upper garment reaches, for photos without usable hips.

    Uses the parse's upper-clothes pixels when there are any; otherwise the
    lowest row of the person mask; otherwise the image bottom (or 2.5 shoulder
    widths below the shoulders when no map is given at all).
    """
    if parse is not None:
        rows = np.flatnonzero(np.isin(parse, upper_labels).any(axis=1))
        if rows.size:
            return float(rows[-1])
        h = parse.shape[0]
    elif person_mask is not None:
        h = person_mask.shape[0]
    else:
        h = None
    if person_mask is not None:
        rows = np.flatnonzero(person_mask.any(axis=1))
        if rows.size:
            return float(rows[-1])
    if h is not None:
        return float(h - 1)
    sw = shoulder_width(kp) or 1.0
    top = max(kp[Body25.R_SHOULDER, 1], kp[Body25.L_SHOULDER, 1])
    return float(top + 2.5 * sw)


def torso_hips(kp: np.ndarray, parse: np.ndarray | None = None, person_mask: np.ndarray | None = None,
               hip_min_conf: float = HIP_MIN_CONF) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The right and left hip points that close the torso, and whether they were extrapolated.

    When both hips are present (confidence above ``hip_min_conf``) and inside the
    image, not within `HIP_EDGE_MARGIN` shoulder widths of its bottom edge, they
    are returned as they are. Otherwise (half-body photo) hips are
    placed below the shoulders, as wide as the shoulders times 0.85, at the
    bottom of the upper garment (`garment_bottom`). Returns None without shoulders.
    """
    if shoulder_width(kp) is None:
        return None
    rs, ls = xy(kp, Body25.R_SHOULDER), xy(kp, Body25.L_SHOULDER)
    size = next((m.shape for m in (parse, person_mask) if m is not None), None)

    def usable(i: int) -> bool:
        if not present(kp, i, hip_min_conf):
            return False
        if size is not None:  # a hip on the bottom edge: the body (and garment) go on out of frame
            x, y = kp[i, :2]
            return 0 <= x < size[1] and 0 <= y < size[0] - HIP_EDGE_MARGIN * float(np.linalg.norm(rs - ls))
        return True

    if usable(Body25.R_HIP) and usable(Body25.L_HIP):
        return xy(kp, Body25.R_HIP), xy(kp, Body25.L_HIP), False
    bottom = garment_bottom(kp, parse, person_mask)
    mid = (rs + ls) / 2
    half = (rs - ls) / 2 * 0.85
    y = max(bottom, mid[1] + 0.5 * np.linalg.norm(rs - ls))
    return np.array([mid[0] + half[0], y]), np.array([mid[0] - half[0], y]), True
