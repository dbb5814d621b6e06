"""A DensePose-style IUV map built from BODY_25 keypoints and a person mask (no network).

No offline DensePose model exists here, so the map is geometry: every person
pixel goes to the body part whose axis it is closest to, relative to that
part's thickness, and gets coordinates on that part.

Encoding (`vton.types` "DensePose-style IUV"), ``uint8 (H, W, 3)``:

* channel 0, ``I``: `DensePosePart` index, 0 outside the person. The person is
  assumed to face the camera, so only *front* parts appear (torso front, upper
  and lower arm/leg fronts, hands, feet, and the head split into right/left
  halves by the face midline). "Left"/"right" are the subject's sides.
* channel 1, ``U``: position *across* the part, ``0`` on the subject's-right
  edge of a limb's capsule (or of the torso/head), ``255`` on the other, 128 on
  the axis. For limbs the edge is ``1`` part radius away from the axis.
* channel 2, ``V``: position *along* the part, ``0`` at its proximal end
  (shoulder, elbow, wrist, hip, knee, ankle, neck) and ``255`` at its distal
  end (elbow, wrist, fingertips, knee, ankle, toes, crown of the head).

These are not detectron2's chart coordinates. A warp model trained on VITON-HD's
``image-densepose`` (real detectron2 DensePose) expects real DensePose images:
feed it those (``--densepose FILE``) rather than this map, and train on this
map when you will run on it.

Part radii are fractions of the shoulder width ``sw`` (`PART_RADIUS`). A leg
whose knee or ankle is missing (out of frame) is extrapolated along the torso
(`THIGH_PER_TORSO`), and no pixel below the shoulders is head. A pixel's
cost for a limb is its distance to the limb's segment divided by the radius;
the torso costs ``TORSO_COST`` inside the shoulders-hips polygon (so a limb
crossing the torso wins within 0.9 of its radius) and grows outside it. When a
CIHP parse is given, each pixel may only take parts its label allows
(`ALLOWED_BY_LABEL`; hair and hats are not body surface and stay 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vton.preprocess import geometry as g
from vton.types import CIHP, Body25, DensePosePart as P, check_keypoints, check_mask

PART_RADIUS = {
    "upper_arm": 0.16, "lower_arm": 0.13, "hand": 0.13,
    "upper_leg": 0.24, "lower_leg": 0.18, "foot": 0.12, "head": 0.42, "torso": 0.2,
}
"""Half-thickness of each part, as a fraction of the shoulder width."""

TORSO_COST = 0.9
THIGH_PER_TORSO = 0.9
"""A missing knee is placed this many torso lengths (neck to mid-hip) below its hip, along the torso."""

_ARMS = (P.UPPER_ARM_LEFT_FRONT, P.UPPER_ARM_RIGHT_FRONT, P.LOWER_ARM_LEFT_FRONT, P.LOWER_ARM_RIGHT_FRONT)
_LEGS = (P.UPPER_LEG_LEFT_FRONT, P.UPPER_LEG_RIGHT_FRONT, P.LOWER_LEG_LEFT_FRONT, P.LOWER_LEG_RIGHT_FRONT)
ALLOWED_BY_LABEL: dict[int, tuple[P, ...]] = {
    CIHP.FACE: (P.HEAD_LEFT, P.HEAD_RIGHT), CIHP.SUNGLASSES: (P.HEAD_LEFT, P.HEAD_RIGHT),
    CIHP.NECK: (P.HEAD_LEFT, P.HEAD_RIGHT, P.TORSO_FRONT),
    CIHP.UPPER_CLOTHES: (P.TORSO_FRONT, *_ARMS), CIHP.COAT: (P.TORSO_FRONT, *_ARMS),
    CIHP.DRESS: (P.TORSO_FRONT, *_ARMS, *_LEGS), CIHP.SCARF: (P.TORSO_FRONT, P.HEAD_LEFT, P.HEAD_RIGHT),
    CIHP.LEFT_ARM: (P.UPPER_ARM_LEFT_FRONT, P.LOWER_ARM_LEFT_FRONT, P.LEFT_HAND),
    CIHP.RIGHT_ARM: (P.UPPER_ARM_RIGHT_FRONT, P.LOWER_ARM_RIGHT_FRONT, P.RIGHT_HAND),
    CIHP.GLOVE: (P.LEFT_HAND, P.RIGHT_HAND),
    CIHP.PANTS: (P.TORSO_FRONT, *_LEGS), CIHP.SKIRT: (P.TORSO_FRONT, *_LEGS),
    CIHP.LEFT_LEG: (P.UPPER_LEG_LEFT_FRONT, P.LOWER_LEG_LEFT_FRONT, P.LEFT_FOOT),
    CIHP.RIGHT_LEG: (P.UPPER_LEG_RIGHT_FRONT, P.LOWER_LEG_RIGHT_FRONT, P.RIGHT_FOOT),
    CIHP.SOCKS: (P.LOWER_LEG_LEFT_FRONT, P.LOWER_LEG_RIGHT_FRONT, P.LEFT_FOOT, P.RIGHT_FOOT),
    CIHP.LEFT_SHOE: (P.LEFT_FOOT,), CIHP.RIGHT_SHOE: (P.RIGHT_FOOT,),
}
"""Parts a pixel of each CIHP label may take; labels absent here (background, hair, hat) take none."""


@dataclass
class _Limb:
    part: P
    a: np.ndarray  # proximal end (x, y)
    b: np.ndarray  # distal end (x, y)
    radius: float  # pixels
    right: np.ndarray  # a point on the subject's right of the axis (sets the sign of U)
    min_along: float = -np.inf  # pixels closer to ``a`` than this along the axis (negative: behind ``a``) are excluded


def _extend(a: np.ndarray, b: np.ndarray, frac: float) -> np.ndarray:
    """The point ``frac`` of ``|ab|`` beyond ``b`` along ``a -> b``."""
    return b + (b - a) * frac


def _limbs(kp: np.ndarray, sw: float) -> list[_Limb]:
    """The limb capsules whose keypoints are present (arms, hands, legs, feet, head)."""
    B, R = Body25, PART_RADIUS
    chest = (g.xy(kp, B.R_SHOULDER) + g.xy(kp, B.L_SHOULDER)) / 2
    right_side = g.xy(kp, B.R_SHOULDER)
    limbs: list[_Limb] = []

    def add(part, a, b, radius_key):
        limbs.append(_Limb(part, a, b, R[radius_key] * sw, right_side))

    for side, (sh, el, wr, hand, up, lo) in {
        "R": (B.R_SHOULDER, B.R_ELBOW, B.R_WRIST, P.RIGHT_HAND, P.UPPER_ARM_RIGHT_FRONT, P.LOWER_ARM_RIGHT_FRONT),
        "L": (B.L_SHOULDER, B.L_ELBOW, B.L_WRIST, P.LEFT_HAND, P.UPPER_ARM_LEFT_FRONT, P.LOWER_ARM_LEFT_FRONT),
    }.items():
        if g.present(kp, sh) and g.present(kp, el):
            add(up, g.xy(kp, sh), g.xy(kp, el), "upper_arm")
        if g.present(kp, el) and g.present(kp, wr):
            add(lo, g.xy(kp, el), g.xy(kp, wr), "lower_arm")
            add(hand, g.xy(kp, wr), _extend(g.xy(kp, el), g.xy(kp, wr), 0.4), "hand")
    # Legs: a missing knee (or ankle) is extrapolated, so legs running out of the photo still get leg parts.
    hip_pts = [g.xy(kp, i) for i in (B.R_HIP, B.L_HIP) if g.present(kp, i)]
    down = np.mean(hip_pts, axis=0) - chest if hip_pts else np.array([0.0, 1.0])
    torso_len = float(np.linalg.norm(down))
    down = down / torso_len if torso_len > 1e-6 else np.array([0.0, 1.0])
    thigh = THIGH_PER_TORSO * (torso_len if torso_len > 1e-6 else 1.5 * sw)
    for hip, kn, an, toe, foot, upper, lower in (
        (B.R_HIP, B.R_KNEE, B.R_ANKLE, B.R_BIG_TOE, P.RIGHT_FOOT, P.UPPER_LEG_RIGHT_FRONT, P.LOWER_LEG_RIGHT_FRONT),
        (B.L_HIP, B.L_KNEE, B.L_ANKLE, B.L_BIG_TOE, P.LEFT_FOOT, P.UPPER_LEG_LEFT_FRONT, P.LOWER_LEG_LEFT_FRONT),
    ):
        if not g.present(kp, hip):
            continue
        h = g.xy(kp, hip)
        knee = g.xy(kp, kn) if g.present(kp, kn) else h + down * thigh
        add(upper, h, knee, "upper_leg")
        if not g.present(kp, kn):
            continue
        ankle = g.xy(kp, an) if g.present(kp, an) else _extend(h, knee, 1.0)
        add(lower, knee, ankle, "lower_leg")
        if g.present(kp, an):
            end = g.xy(kp, toe) if g.present(kp, toe) else _extend(knee, ankle, 0.25)
            add(foot, ankle, end, "foot")
    # Head: from a little below the face centre to the crown, along neck -> face centre.
    face_pts = [g.xy(kp, i) for i in (B.NOSE, B.R_EYE, B.L_EYE, B.R_EAR, B.L_EAR) if g.present(kp, i)]
    if face_pts:
        centre = g.xy(kp, B.NOSE) if g.present(kp, B.NOSE) else np.mean(face_pts, axis=0)
        up = centre - chest
        n = float(np.linalg.norm(up))
        up = up / n if n > 1e-6 else np.array([0.0, -1.0])
        a = centre - up * 0.15 * sw
        b = centre + up * 0.45 * sw
        for part in (P.HEAD_RIGHT, P.HEAD_LEFT):
            add(part, a, b, "head")
            limbs[-1].min_along = float((chest - a) @ up)  # nothing below the shoulders is head
    return limbs


def _segment_coords(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray):
    """For pixel grids ``xs, ys``: (t along a->b clipped to [0,1], signed perpendicular offset, distance)."""
    d = b - a
    L2 = float(d @ d) or 1e-6
    px, py = xs - a[0], ys - a[1]
    t_raw = (px * d[0] + py * d[1]) / L2
    t = np.clip(t_raw, 0.0, 1.0)
    cross = (d[0] * py - d[1] * px) / np.sqrt(L2)
    dist = np.hypot(px - t * d[0], py - t * d[1])
    return t, cross, dist


def densepose_from_pose(keypoints: np.ndarray, person_mask: np.ndarray, parse: np.ndarray | None = None) -> np.ndarray:
    """Build the DensePose-style IUV map of a front-facing person.

    Args:
        keypoints: ``(25, 3)`` BODY_25 ``(x, y, confidence)`` in pixels; ``(0, 0, 0)`` = missing.
        person_mask: ``uint8 (H, W) {0, 1}``; parts are drawn only inside it.
        parse: optional ``uint8 (H, W)`` CIHP labels restricting which part each pixel may take.

    Returns:
        ``uint8 (H, W, 3)`` IUV (encoding in the module docstring). All zeros when
        a shoulder is missing (the shoulders set every part's scale).

    Example:
        >>> iuv = densepose_from_pose(person.keypoints, person.person_mask, person.parse)
        >>> DensePosePart(iuv[y, x, 0])
    """
    kp = check_keypoints(keypoints)
    check_mask(person_mask, "person_mask")
    size = person_mask.shape
    if parse is not None and parse.shape != size:
        raise ValueError(f"parse must be {size} (H, W) like person_mask, got {parse.shape}")
    out = np.zeros((*size, 3), np.uint8)
    sw = g.shoulder_width(kp)
    ys_idx, xs_idx = np.nonzero(person_mask)
    if sw is None or sw < 1 or ys_idx.size == 0:
        return out
    xs, ys = xs_idx.astype(np.float32), ys_idx.astype(np.float32)
    labels = parse[ys_idx, xs_idx] if parse is not None else None

    parts: list[P] = []
    costs, us, vs = [], [], []

    # Torso front: inside the shoulders-hips polygon costs TORSO_COST, outside grows with distance.
    rs, ls = g.xy(kp, Body25.R_SHOULDER), g.xy(kp, Body25.L_SHOULDER)
    rh, lh, _ = g.torso_hips(kp, parse=parse, person_mask=person_mask)
    poly = np.zeros(size, np.uint8)
    g.draw_polygon(poly, [rs, ls, lh, rh])
    outside = cv2.distanceTransform(1 - poly, cv2.DIST_L2, 3)[ys_idx, xs_idx]
    top, bottom = (rs + ls) / 2, (rh + lh) / 2
    t, cross, _ = _segment_coords(xs, ys, top, bottom)
    half_w = 0.5 * sw * 1.2
    parts.append(P.TORSO_FRONT)
    costs.append(TORSO_COST + outside / (PART_RADIUS["torso"] * sw))
    us.append(_across(cross, half_w, top, bottom, rs))
    vs.append(t)

    for limb in _limbs(kp, sw):
        t, cross, dist = _segment_coords(xs, ys, limb.a, limb.b)
        cost = dist / limb.radius
        if np.isfinite(limb.min_along):
            u = (limb.b - limb.a) / max(float(np.linalg.norm(limb.b - limb.a)), 1e-6)
            along = (xs - limb.a[0]) * u[0] + (ys - limb.a[1]) * u[1]
            cost = np.where(along >= limb.min_along, cost, np.inf)
        if limb.part in (P.HEAD_RIGHT, P.HEAD_LEFT):
            on_right = np.sign(cross) == _side_sign(limb.a, limb.b, limb.right)
            want_right = limb.part == P.HEAD_RIGHT
            cost = np.where(on_right == want_right, cost, np.inf)
        parts.append(limb.part)
        costs.append(cost)
        us.append(_across(cross, limb.radius, limb.a, limb.b, limb.right))
        vs.append(t)

    cost = np.stack(costs).astype(np.float32)
    if labels is not None:
        allowed = np.zeros((len(parts), 256), bool)
        for label, ok in ALLOWED_BY_LABEL.items():
            for k, part in enumerate(parts):
                allowed[k, label] = part in ok
        cost[~allowed[:, labels]] = np.inf
    best = np.argmin(cost, axis=0)
    valid = np.isfinite(cost[best, np.arange(best.size)])
    pick = np.arange(best.size)
    part_ids = np.array([int(p) for p in parts], np.uint8)[best]
    u = np.stack(us)[best, pick]
    v = np.stack(vs)[best, pick]
    out[ys_idx[valid], xs_idx[valid], 0] = part_ids[valid]
    out[ys_idx[valid], xs_idx[valid], 1] = np.round(u[valid] * 255).astype(np.uint8)
    out[ys_idx[valid], xs_idx[valid], 2] = np.round(np.clip(v[valid], 0, 1) * 255).astype(np.uint8)
    return out


def _side_sign(a: np.ndarray, b: np.ndarray, right: np.ndarray) -> float:
    """The sign the perpendicular offset has on the subject's right of axis ``a -> b``."""
    d, r = b - a, right - a
    s = np.sign(d[0] * r[1] - d[1] * r[0])
    return float(s) if s != 0 else 1.0


def _across(cross: np.ndarray, radius: float, a: np.ndarray, b: np.ndarray, right: np.ndarray) -> np.ndarray:
    """U in [0, 1]: 0 at ``radius`` on the subject's right of the axis, 1 at ``radius`` on the left."""
    s = -cross * _side_sign(a, b, right) / radius
    return np.clip((s + 1) / 2, 0.0, 1.0)


def _palette() -> np.ndarray:
    """25 distinct colours (index 0 black), hues spread around the wheel."""
    hsv = np.zeros((1, 25, 3), np.uint8)
    hsv[0, :, 0] = (np.arange(25) * 7 * 180 // 25) % 180  # stride 7 keeps neighbours apart
    hsv[0, :, 1] = 200
    hsv[0, :, 2] = 255
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]
    rgb[0] = 0
    return rgb


_PALETTE = _palette()


def colorize_iuv(iuv: np.ndarray) -> np.ndarray:
    """A picture of an IUV map for people: a colour per part, shaded darker towards V = 0,
    with thin stripes every 1/8 of U. Returns ``uint8 (H, W, 3)`` RGB; background is black."""
    if iuv.dtype != np.uint8 or iuv.ndim != 3 or iuv.shape[2] != 3:
        raise ValueError(f"IUV must be uint8 (H, W, 3), got {iuv.dtype} {iuv.shape}")
    i = np.minimum(iuv[..., 0], 24)
    shade = 0.45 + 0.55 * iuv[..., 2].astype(np.float32) / 255
    stripes = ((iuv[..., 1].astype(np.int32) * 8 // 256) % 2 == 1) & (i > 0)
    shade = np.where(stripes, shade * 0.8, shade)
    return np.round(_PALETTE[i] * shade[..., None]).astype(np.uint8)
