"""DensePose maps: a DensePose-style IUV map built from BODY_25 keypoints and a person mask (no
network), and the two encodings DensePose images come in (`vton.types.DensePoseEncoding`).

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

The dp_segm colour render (what VITON-HD ships in ``image-densepose/``)
------------------------------------------------------------------------
HR-VITON's release of VITON-HD (also used by StableVITON and IDM-VTON) stores
detectron2's ``apply_net.py show ... dp_segm`` visualisation with alpha 1 on a black
image (HR-VITON issues #8 and #36): inside the person
``cv2.applyColorMap(uint8(I * 255 / 24), cv2.COLORMAP_PARULA)``, black outside. The
colormap returns BGR and ``cv2.imwrite`` writes BGR, so a reader that loads the file
as RGB (PIL, `vton.io.load_image`, HR-VITON's ``Image.open``) sees the colormap's
colours in their usual order: blue (low I) to yellow (high I). `DP_SEGM_PALETTE`
holds them in RGB. The files are JPEG, so `decode_dp_segm` takes the nearest of the
25 colours and then lets JPEG's blended edge pixels follow their confident neighbours.
U and V are not in the render.

The seed (DCI-VITON-style ``parsehuman.py``) draws the same render with detectron2's
default alpha 0.7 on black, min-max normalises it to 0..255 over the whole image and
flips it from BGR to RGB: the palette's colours times one factor (``255 / max``,
about 1.0 to 1.9 depending on the brightest part present). `detect_densepose_encoding`
finds that factor, so such an image reads as the render too. HR-VITON feeds the file
to its warper as ``ToTensor`` + ``Normalize(0.5, 0.5)`` of the RGB image, i.e.
``rgb / 127.5 - 1``, which is what `vton.tensors.densepose_to_tensor` gives for
``DensePoseEncoding.DP_SEGM``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from vton.errors import InputError
from vton.preprocess import geometry as g
from vton.types import CIHP, Body25, DensePoseEncoding, DensePosePart as P, check_image, check_keypoints, check_mask

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


# ----------------------------------------------------------------------------- the dp_segm colour render


def _parula_palette() -> np.ndarray:
    """The colour of each part index in a dp_segm render, computed by OpenCV itself, RGB."""
    values = (np.arange(len(P)) * 255 / 24).astype(np.uint8)  # detectron2: uint8(I * 255 / 24), truncated
    rgb = cv2.applyColorMap(values[None], cv2.COLORMAP_PARULA)[0, :, ::-1].copy()  # BGR -> RGB
    rgb[0] = 0  # detectron2 colours only I > 0; the background stays the black image it draws on
    return rgb


DP_SEGM_PALETTE: np.ndarray = _parula_palette()
"""``uint8 (25, 3)`` RGB: part index ``I`` -> its colour in a dp_segm render (``PARULA(uint8(I * 255 / 24))``);
index 0 is black (the colormap's own colour for 0, dark blue, never appears in a render)."""

COLOURED_MIN = 40
"""A pixel whose brightest channel reaches this is "coloured" (not background) when detecting the encoding."""
FIT_TOLERANCE = 12.0
"""A coloured pixel "has a palette colour" within this distance (luma, chroma x `CHROMA_WEIGHT`, 0..255 units)."""
FIT_MIN = 0.9
"""Share of coloured pixels that must have a palette colour for an image to be read as a render."""
CHROMA_WEIGHT = 0.3
"""JPEG keeps luma at full resolution and halves chroma, so colour distances weigh chroma less."""
SCALES = np.round(np.arange(0.5, 2.0001, 0.02), 3)
"""Colour factors tried for a render that was rescaled (the seed's min-max normalisation: 1.0 to ~1.9)."""
VOTE_TAU = 10.0
VOTE_PASSES = 2
KEEP_BELOW = 2.5
"""Decoding: a pixel nearer than this to its palette colour keeps it; the others (JPEG's blended edges)
take the label their 3 x 3 neighbours vote for, each vote weighted ``exp(-distance / VOTE_TAU)``."""
IUV_BACKGROUND_ZERO = 0.98
"""An IUV image has U = V = 0 on at least this share of its background (I = 0) pixels."""
_SAMPLE = 2000
_LUT_BITS = 6


def _to_ycc(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` RGB -> float32 (Y, Cb x w, Cr x w) with JPEG's BT.601 full-range weights, chroma x `CHROMA_WEIGHT`."""
    m = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
    m[1:] *= CHROMA_WEIGHT
    return np.asarray(rgb, np.float32) @ m.T


def _scaled_palette(scale: float) -> np.ndarray:
    """`DP_SEGM_PALETTE` times ``scale`` (rounded, float32). A colour that would pass 255 cannot occur in an
    image rescaled so (min-max normalisation maps the brightest colour present to 255): it is moved far away."""
    palette = np.round(DP_SEGM_PALETTE.astype(np.float32) * scale)
    impossible = palette.max(axis=1) > 258
    palette = np.minimum(palette, 255)
    palette[impossible] = 1e4
    return palette


def _nearest(ycc: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``(N, 3)`` colours in `_to_ycc` space: the nearest palette index ``(N,)`` and its distance ``(N,)``."""
    d = ((ycc[:, None, :] - _to_ycc(palette)[None]) ** 2).sum(-1)
    best = d.argmin(1)
    return best.astype(np.uint8), np.sqrt(d[np.arange(len(best)), best])


@lru_cache(maxsize=8)
def _lookup_table(scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest palette index and distance for every RGB colour, at `_LUT_BITS` bits per channel (bin centres)."""
    step = 1 << (8 - _LUT_BITS)
    centres = np.arange(0, 256, step, dtype=np.float32) + (step - 1) / 2
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(-1, 3)
    return _nearest(_to_ycc(grid), _scaled_palette(scale))


def _nearest_image(rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    labels, dist = _lookup_table(float(scale))
    shift = 8 - _LUT_BITS
    q = rgb >> shift
    index = (q[..., 0].astype(np.int32) << (2 * _LUT_BITS)) | (q[..., 1].astype(np.int32) << _LUT_BITS) | q[..., 2]
    return labels[index], dist[index]


def _vote(labels: np.ndarray, weight: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``labels`` with each pixel of ``where`` set to the label of largest summed ``weight`` in its 3 x 3 window."""
    ys, xs = np.nonzero(where)
    padded_labels, padded_weight = np.pad(labels, 1, mode="edge"), np.pad(weight, 1, mode="edge")
    window = [(dy, dx) for dy in range(3) for dx in range(3)]
    near = np.stack([padded_labels[ys + dy, xs + dx] for dy, dx in window], 1)  # (N, 9)
    w = np.stack([padded_weight[ys + dy, xs + dx] for dy, dx in window], 1)
    votes = ((near[:, :, None] == near[:, None, :]) * w[:, None, :]).sum(-1)  # (N, 9): weight of each one's label
    out = labels.copy()
    out[ys, xs] = near[np.arange(len(ys)), votes.argmax(1)]
    return out


def render_dp_segm(parts: np.ndarray) -> np.ndarray:
    """Draw a part map as detectron2's dp_segm render (`DensePoseEncoding.DP_SEGM`), as VITON-HD ships it.

    Args:
        parts: ``uint8 (H, W)`` `DensePosePart` indices 0..24 (channel 0 of an IUV map).

    Returns:
        ``uint8 (H, W, 3)`` RGB: `DP_SEGM_PALETTE` of each part, black where ``parts`` is 0.
        Save it with any RGB writer (`vton.io.atomic_save_image`) to get VITON-HD's file.

    Example:
        >>> render = render_dp_segm(person.densepose[..., 0])
        >>> (decode_dp_segm(render) == person.densepose[..., 0]).all()
        True
    """
    parts = np.asarray(parts)
    if parts.dtype != np.uint8 or parts.ndim != 2:
        raise ValueError(f"parts must be a uint8 (H, W) part map, got {parts.dtype} {parts.shape}")
    if parts.size and int(parts.max()) >= len(P):
        raise ValueError(f"parts must be 0..{len(P) - 1}, found {int(parts.max())}")
    return DP_SEGM_PALETTE[parts]


def decode_dp_segm(rgb: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """Part indices of a dp_segm render: the nearest of the 25 colours (black -> 0), JPEG edges voted.

    Colours are compared in JPEG's own space (luma, and chroma at `CHROMA_WEIGHT`), through a
    lookup table, so a 1024 x 768 render decodes in about 0.2 s. Pixels further than
    `KEEP_BELOW` from their colour (JPEG blends them at part edges) then take the label their
    3 x 3 neighbours vote for, weighted by how close each neighbour is to its colour
    (`VOTE_PASSES` rounds). A lossless render decodes exactly.

    Args:
        rgb: ``uint8 (H, W, 3)`` RGB, as read from the file.
        scale: the factor the render's colours were multiplied by (1 for VITON-HD's files; the
            seed's min-max normalised render has another: `detect_densepose_encoding` finds it).

    Returns:
        ``uint8 (H, W)`` `DensePosePart` indices.
    """
    check_image(rgb, "DensePose render")
    labels, dist = _nearest_image(rgb, scale)
    weight = np.exp(-dist / VOTE_TAU).astype(np.float32)
    unsure = dist > KEEP_BELOW
    for _ in range(VOTE_PASSES):
        if not unsure.any():
            break
        labels = _vote(labels, weight, unsure)
    return labels


@dataclass(frozen=True)
class DensePoseReading:
    """What `inspect_densepose` found in a DensePose image."""

    encoding: DensePoseEncoding | None  # None: neither encoding
    scale: float  # the render's colour factor (1.0 for VITON-HD's files, and for IUV)
    fit: float  # share of coloured pixels that have a palette colour at `scale`
    parts: int  # palette colours holding at least `MIN_PART_SHARE` of those pixels
    max_first_channel: int  # largest value of channel 0 (IUV's part index)
    swapped_fit: float = 0.0  # the fit with red and blue swapped (an OpenCV BGR array written as RGB)


MIN_PARTS = 2
MIN_PART_SHARE = 0.02
"""A render shows a body: at least `MIN_PARTS` part colours, each on `MIN_PART_SHARE` of its coloured pixels
(a flat-coloured garment photo or a black-and-white mask can match one colour, never a body)."""


def _fits(pixels: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``scales (S,)``: the share of ``pixels (N, 3)`` within `FIT_TOLERANCE` of the palette at
    that scale, their mean distance, and how many part colours they show (each ``(S,)``)."""
    ycc = _to_ycc(pixels)  # (N, 3)
    palettes = _to_ycc(np.stack([_scaled_palette(s) for s in scales]))  # (S, 25, 3)
    d = ((ycc[:, None, None, :] - palettes[None]) ** 2).sum(-1)  # (N, S, 25)
    labels = d.argmin(-1)  # (N, S)
    dist = np.sqrt(np.take_along_axis(d, labels[..., None], -1)[..., 0])
    near = dist <= FIT_TOLERANCE
    share = near.mean(0)
    mean = np.where(near, dist, 0).sum(0) / np.maximum(near.sum(0), 1)
    counts = np.stack([np.bincount(labels[near[:, k], k], minlength=len(P))[1:] for k in range(len(scales))])
    return share, mean, (counts >= MIN_PART_SHARE * len(pixels)).sum(1)


def _best_scale(pixels: np.ndarray) -> tuple[float, float, int]:
    """The colour factor under which most ``pixels`` have a palette colour (ties: the smallest mean distance),
    searched near 1.0 when nearly all fit there, else over `SCALES`, then refined to 0.005; 1.0 itself
    whenever it fits as well. Returns (scale, fit, parts)."""
    one = _fits(pixels, np.array([1.0]))
    coarse = np.round(1.0 + np.arange(-0.05, 0.0501, 0.01), 4) if one[0][0] >= 0.98 else SCALES
    best = None
    for scales in (coarse, None):
        if scales is None:  # fine, around the coarse winner
            scales = np.round(best[0] + np.arange(-0.02, 0.0201, 0.005), 4)
        share, mean, parts = _fits(pixels, scales)
        k = int(np.argmin(np.where(share >= share.max() - 0.005, mean, np.inf)))
        best = (float(scales[k]), float(share[k]), int(parts[k]), float(mean[k]))
    if one[0][0] >= best[1] - 0.005 and one[1][0] <= best[3] + 0.5:
        return 1.0, float(one[0][0]), int(one[2][0])
    return best[:3]


def _iuv_consistent(rgb: np.ndarray) -> bool:
    """IUV holds part indices 0..24 in channel 0 and no U, V outside the body (detectron2 zeroes them there)."""
    if int(rgb[..., 0].max(initial=0)) >= len(P):
        return False
    outside = rgb[..., 0] == 0
    if not outside.any():
        return True
    return float((rgb[outside][:, 1:] == 0).all(axis=1).mean()) >= IUV_BACKGROUND_ZERO


def inspect_densepose(rgb: np.ndarray) -> DensePoseReading:
    """Which `DensePoseEncoding` an image is in, from its pixels (the rules: `detect_densepose_encoding`)."""
    check_image(rgb, "DensePose image")
    max_first = int(rgb[..., 0].max()) if rgb.size else 0
    coloured = rgb[rgb.max(axis=2) >= COLOURED_MIN]
    if len(coloured) == 0:  # all dark: an empty IUV map, or an empty render (the same thing)
        return DensePoseReading(DensePoseEncoding.IUV if _iuv_consistent(rgb) else None, 1.0, 0.0, 0, max_first)
    sample = coloured[np.linspace(0, len(coloured) - 1, min(_SAMPLE, len(coloured))).astype(np.int64)]
    scale, fit, parts = _best_scale(sample)
    if fit >= FIT_MIN and parts >= MIN_PARTS:
        return DensePoseReading(DensePoseEncoding.DP_SEGM, scale, fit, parts, max_first)
    if _iuv_consistent(rgb):
        return DensePoseReading(DensePoseEncoding.IUV, 1.0, fit, parts, max_first)
    _, swapped, swapped_parts = _best_scale(np.ascontiguousarray(sample[:, ::-1]))
    return DensePoseReading(None, scale, fit, parts, max_first, swapped if swapped_parts >= MIN_PARTS else 0.0)


def detect_densepose_encoding(rgb: np.ndarray) -> DensePoseEncoding:
    """Tell from the pixels whether a DensePose image is IUV or a dp_segm colour render.

    * a render (`DensePoseEncoding.DP_SEGM`): at least `FIT_MIN` of its coloured pixels (brightest
      channel >= `COLOURED_MIN`) lie within `FIT_TOLERANCE` of the palette's colours, times one
      factor in `SCALES` (1 for VITON-HD's files; another for the seed's min-max normalised render),
      and they show at least `MIN_PARTS` parts;
    * else IUV (`DensePoseEncoding.IUV`) when channel 0 holds only part indices 0..24 and U = V = 0
      on (nearly) all background pixels, as detectron2 and we write it (an IUV image must be
      lossless: this cannot tell a JPEG-damaged IUV from a good one).

    Args:
        rgb: ``uint8 (H, W, 3)`` RGB, as `vton.io.load_image` reads the file.

    Raises:
        InputError: the image is neither (one sentence saying why; a render with red and blue
            swapped is named as such).
    """
    reading = inspect_densepose(rgb)
    if reading.encoding is None:
        raise InputError(_neither_message(reading))
    return reading.encoding


def _neither_message(r: DensePoseReading) -> str:
    if r.swapped_fit >= FIT_MIN:
        return ("the DensePose image looks like a dp_segm colour render with its red and blue channels swapped "
                "(an OpenCV BGR array saved as RGB); swap them back (image[..., ::-1]) and load it again")
    why = (f"only {r.fit:.0%} of its coloured pixels have a body part's PARULA colour, {FIT_MIN:.0%} needed"
           if r.fit < FIT_MIN else f"it shows {r.parts} part colour(s), a body shows at least {MIN_PARTS}")
    iuv = (f"channel 0 is a part index 0..{len(P) - 1}, but it reaches {r.max_first_channel}"
           if r.max_first_channel >= len(P) else "its background, I = 0, should have U = V = 0 but does not")
    return (f"the DensePose image is neither IUV ({iuv}) nor a dp_segm colour render like VITON-HD's "
            f"image-densepose ({why})")


def read_densepose(rgb: np.ndarray) -> tuple[np.ndarray, DensePoseEncoding]:
    """A DensePose image in either encoding -> ``(iuv, encoding)``.

    Args:
        rgb: ``uint8 (H, W, 3)`` RGB (IUV, or a dp_segm render: JPEG or PNG, min-max normalised or not).

    Returns:
        ``iuv``: ``uint8 (H, W, 3)`` IUV. From a render: channel 0 the decoded part indices
        (`decode_dp_segm`), U = V = 0 (the render has none). ``encoding``: what the image was.

    Raises:
        InputError: the image is neither encoding.

    Example:
        >>> iuv, encoding = read_densepose(load_image("image-densepose/00001_00.jpg"))
        >>> encoding
        <DensePoseEncoding.DP_SEGM: 'dp_segm'>
    """
    reading = inspect_densepose(rgb)
    if reading.encoding is None:
        raise InputError(_neither_message(reading))
    if reading.encoding is DensePoseEncoding.IUV:
        return np.ascontiguousarray(rgb), reading.encoding
    iuv = np.zeros_like(rgb)
    iuv[..., 0] = decode_dp_segm(rgb, scale=reading.scale)
    return iuv, reading.encoding
