"""A geometric CIHP parse map for a new photo (no offline human parser exists).

Built from the person mask, BODY_25 keypoints, MediaPipe's face oval and hand
landmarks, and colour models measured on the photo itself:

1. Body parts: every person pixel takes the nearest body part of the
   DensePose-style map (`densepose.densepose_from_pose`): head, torso, upper and
   lower arms, hands, legs, feet.
2. Colours (CIE Lab, lightness down-weighted against shading): *skin* is the mean colour of the face,
   *garment* up to three k-means colours of the middle of the torso (stripes, checks), *lower* up to two
   colours of the lowest legs in the photo (`lower_palette`: trousers, a skirt, bare legs; where no top
   reaches). A pixel is skin-coloured when it is nearer the skin colour than every garment colour (and
   within `SKIN_TOLERANCE`). When skin and garment are too alike (`MIN_SKIN_GARMENT_DISTANCE`) skin is
   not told apart by colour.
3. The hem. Tops end anywhere from above the waist (cropped) to the thighs (tunics, untucked shirts), so
   the hips say little. Scanning down from the chest over the torso and legs, `garment_profile` measures
   per row the share of pixels that look like the garment (near a garment colour, or a colour that
   follows the garment down: gradients, large prints; nearer it than a lower colour; not skin, unless nearer
   the followed colours than the skin's: a gradient darkening to the skin's colour). The hem
   is the row that best splits the rows into mostly-garment above and mostly-not below (`hem_row`),
   looked for above the first sure end of the top: a band of bare skin (a midriff, bare legs:
   `Profile.stop`) or a colour edge across the body below which a colour new to the garment starts
   (`edge_hem`: trousers or a skirt whose colour is near the top's). Below the hem, pixels of the
   garment's colours connected to it (an uneven or tilted hem, a flared tunic, a sleeve over the hip)
   join it (`grow_region`).
4. Labels: the face oval is FACE; other head pixels are NECK (below the chin,
   near the neck axis), UPPER_CLOTHES where they have the top's colour (its shoulders beside a short
   neck) or HAIR. Torso pixels are UPPER_CLOTHES in the top's region, NECK where bare skin (CIHP's torso
   skin, VITON-HD's label 10: the neck and a bare midriff) and PANTS otherwise. Arms are
   LEFT_ARM / RIGHT_ARM where skin-coloured and UPPER_CLOTHES (sleeves) where not; hands are arms where
   skin-coloured, else the top (a hand on the hip) or PANTS; hands are also drawn from hand landmarks when
   MediaPipe finds them. Legs are UPPER_CLOTHES in the top's region, LEFT_LEG / RIGHT_LEG where
   skin-coloured and PANTS otherwise; feet are shoes, but for foot pixels above the hem in the top's colours
   (Pose puts ankles under a tunic it hides: on synthetic people such "shoes" left 14% of a tunic unmasked).

It is a stand-in, good enough that the agnostic mask covers the garment and
keeps face, hair, hands and lower body; it does not know belts, bags, scarves
or hats. "Left" is the subject's left (CIHP and BODY_25 agree).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vton.preprocess import geometry as g
from vton.preprocess.densepose import densepose_from_pose
from vton.types import CIHP, Body25, DensePosePart as P, check_image, check_keypoints, check_mask

MIN_SKIN_GARMENT_DISTANCE = 12.0
"""Lab distance under which skin and garment colours are too alike to tell apart."""
SKIN_TOLERANCE = 30.0
"""A pixel farther than this (Lab) from the skin colour is never skin."""
GARMENT_TOLERANCE = 20.0
"""A body pixel farther than this (Lab) from every garment colour never looks like the garment."""
BARE_SKIN = 10.0
"""Lab distance to the face's colour under which a body pixel is bare skin for the hem scan (a shaded
garment near the skin's colour is farther: a median 17 against 2 on a bare midriff, on synthetic people)."""
CHANGE_FACTOR = 3.0
MIN_CHANGE = 6.0
"""Below a hem (`edge_hem`) the colours are new when their median distance to the garment's exceeds
`CHANGE_FACTOR` x the chest rows' median and `MIN_CHANGE` (Lab). On synthetic people the garment's rows
stray about 1 to 3 from its palette, trousers or a skirt of a near colour 8 to 15."""
EDGE_MIN = 6.0
PLAIN_SPREAD, PLAIN_SHARE = 8.0, 0.75
"""What starts under a hem is plain: `PLAIN_SHARE` of it within `PLAIN_SPREAD` (Lab) of its median colour."""
"""A hem is a change of at least this (Lab, on the blurred image) across most of the body's width."""
SAME_COLOUR = 5.0
"""Lab distance under which a colour below the top is taken for the top's own (see `lower_palette`)."""
MIN_GARMENT_TOLERANCE = 8.0
"""The tolerance is twice the chest's own 90th-percentile distance to its palette, at least this."""
GARMENT_COLOURS = 3
"""Colour centres describing the garment (stripes, checks, prints)."""

_LEFT_ARM = (P.UPPER_ARM_LEFT_FRONT, P.LOWER_ARM_LEFT_FRONT)
_RIGHT_ARM = (P.UPPER_ARM_RIGHT_FRONT, P.LOWER_ARM_RIGHT_FRONT)
_LEFT_LEG = (P.UPPER_LEG_LEFT_FRONT, P.LOWER_LEG_LEFT_FRONT)
_RIGHT_LEG = (P.UPPER_LEG_RIGHT_FRONT, P.LOWER_LEG_RIGHT_FRONT)


LIGHTNESS_WEIGHT = 0.5
"""Lab lightness is scaled by this before any colour distance: shading and folds change lightness most."""


def lab_image(image: np.ndarray) -> np.ndarray:
    """CIE Lab ``float32 (H, W, 3)`` of an RGB ``uint8`` image with L scaled by `LIGHTNESS_WEIGHT` (distances
    are shading-tolerant); the colour space of every palette here."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab[..., 0] *= LIGHTNESS_WEIGHT
    return lab


def face_region(size: tuple[int, int], kp: np.ndarray, face_oval: np.ndarray | None) -> np.ndarray:
    """FACE pixels ``uint8 (H, W)``: the face oval's hull, or an ellipse around eyes and nose."""
    face = np.zeros(size, np.uint8)
    if face_oval is not None and len(face_oval) >= 3:
        hull = cv2.convexHull(np.round(face_oval).astype(np.int32))
        cv2.fillPoly(face, [hull], 1)
        return face
    pts = [g.xy(kp, i) for i in (Body25.NOSE, Body25.R_EYE, Body25.L_EYE) if g.present(kp, i)]
    sw = g.shoulder_width(kp)
    if pts and sw:
        centre = np.mean(pts, axis=0) + np.array([0.0, 0.08 * sw])
        g.draw_ellipse(face, centre, (0.2 * sw, 0.27 * sw))
    return face


def colour_palette(pixels: np.ndarray, k: int, iters: int = 8) -> np.ndarray | None:
    """Up to ``k`` colour centres ``(k', 3)`` of ``pixels`` ``(N, 3)`` by k-means (deterministic:
    seeded at lightness quantiles), so a striped or checked garment is described by its colours,
    not by one muddy mean. None for fewer than 20 pixels."""
    if len(pixels) < 20:
        return None
    pixels = pixels[:: max(1, len(pixels) // 4000)]  # a subsample is plenty
    order = np.argsort(pixels[:, 0], kind="stable")
    centres = pixels[order[((np.arange(k) + 0.5) / k * len(order)).astype(int)]].astype(np.float32)
    for _ in range(iters):
        nearest = np.argmin(((pixels[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        centres = np.stack([pixels[nearest == j].mean(0) if (nearest == j).any() else centres[j] for j in range(k)])
    return centres


def palette_distance(lab: np.ndarray, palette: np.ndarray | None) -> np.ndarray:
    """Lab distance ``(H, W)`` of every pixel to the nearest colour of ``palette`` (inf without one)."""
    if palette is None:
        return np.full(lab.shape[:2], np.inf, np.float32)
    d = np.full(lab.shape[:2], np.inf, np.float32)
    for c in palette:
        np.minimum(d, np.linalg.norm(lab - c, axis=-1), out=d)
    return d


def garment_profile(lab: np.ndarray, body: np.ndarray, garment: np.ndarray, lower: np.ndarray | None,
                    rows: tuple[int, int], tolerance: float, sw: float,
                    skin: np.ndarray | None = None, skin_distance: np.ndarray | None = None) -> "Profile":
    """How much of each row of the body looks like the garment, scanning down from the chest.

    A body pixel looks like the garment when it is within ``tolerance`` (Lab) of a garment colour
    and nearer a garment colour than a ``lower`` (trousers, skirt, legs) colour. The garment
    colours are the chest's ``garment`` palette and a palette that follows the garment down: it
    is re-measured every few rows on the pixels of the last ``0.25 sw`` rows that looked like the
    garment, so a gradient, a large print or a shadow towards the hem is still the garment.

    Args:
        lab: `lab_image` image ``(H, W, 3)``; body: ``bool (H, W)`` the pixels to look at (torso and legs).
        garment, lower: palettes ``(k, 3)`` (``lower`` may be None).
        rows: first and last row ``(y0, y1)`` scanned.
        skin: optional ``bool (H, W)`` bare-skin pixels: never the garment.
        skin_distance: optional ``(H, W)`` Lab distance to the skin colour; with it a ``skin`` pixel nearer the
            followed garment colours than the skin's is the garment (a gradient top darkening to the skin's
            colour towards its hem: on synthetic people it ended the scan as a "bare" band, 21% of a tunic lost).

    Returns:
        `Profile`: per row (``y1 - y0 + 1``) the fraction, the median distance to the garment's colours
        and whether the row is mostly bare skin (skin-coloured and not like the garment).
    """
    y0, y1 = rows
    n = max(y1 - y0 + 1, 0)
    f, bare, med = np.full(n, np.nan, np.float32), np.zeros(n, bool), np.full(n, np.nan, np.float32)
    window = max(2, int(round(0.25 * sw)))
    step = max(2, int(round(0.06 * sw)))
    follow, recent = None, []
    for y in range(y0, y1 + 1):
        px = lab[y][body[y]]
        if len(px) < 3:
            recent.append(None)
            continue
        d = palette_distance(px[None], garment)[0]
        if follow is not None:
            d = np.minimum(d, palette_distance(px[None], follow)[0])
        med[y - y0] = np.median(d)
        like = d < tolerance
        if lower is not None:
            like &= d < palette_distance(px[None], lower)[0]
        if skin is not None:  # a skin-coloured pixel (nearer the face's colour than the garment's) is not the top
            on_skin = skin[y][body[y]]
            if skin_distance is not None and follow is not None:
                on_skin = on_skin & (skin_distance[y][body[y]] < d)
            like &= ~on_skin
            bare[y - y0] = on_skin.mean() >= 0.5 and like.mean() < 0.25
        f[y - y0] = like.mean()
        recent.append(px[like] if f[y - y0] >= 0.5 else None)
        if (y - y0) % step == step - 1:
            kept = [r for r in recent[-window:] if r is not None and len(r)]
            if kept:
                follow = colour_palette(np.concatenate(kept), GARMENT_COLOURS)
    return Profile(y0, f, med, bare)


@dataclass
class Profile:
    """`garment_profile`'s rows, from row ``y0`` down (arrays of one length; NaN where a row has no body)."""

    y0: int
    like: np.ndarray  # float32: share of the row's body pixels that look like the garment
    distance: np.ndarray  # float32: median Lab distance of the row's body pixels to the garment's colours
    bare: np.ndarray  # bool: mostly bare skin

    def stop(self, start: int, sw: float) -> int:
        """The first row of a band (``0.06 sw`` rows or more, from row ``start`` on) of bare skin: a midriff
        under a cropped top, or bare legs; no top goes on below it. ``y0 + len`` without one."""
        i0 = int(np.clip(start - self.y0, 0, len(self.like)))
        return self.y0 + _first_run(self.bare, i0, sw)

    def chest_distance(self, start: int) -> float:
        """Median `distance` of the rows above ``start`` (how far the garment strays from its own colours)."""
        d = self.distance[:max(start - self.y0, 0)]
        d = d[np.isfinite(d)]
        return float(np.median(d)) if d.size else 0.0


def edge_hem(lab: np.ndarray, body: np.ndarray, garment: np.ndarray, rows: tuple[int, int], sw: float,
             threshold: float, centre_x: float) -> tuple[int, np.ndarray] | None:
    """The first row in ``rows`` (``(start, end)``) where the top visibly ends above something of another colour.

    Such a row is a colour edge across the body's width (the 30th percentile, over the columns, of the Lab
    change, on the image box-blurred over ``0.04 sw``, between ``0.03 sw`` above and below is at least
    `EDGE_MIN`: a hem, not a dot, a logo, a fold or a fine print)
    below which a new colour starts: the median distance of the ``0.2 sw`` rows under it to the colours of
    the garment (the chest's and those of the ``0.2 sw`` rows above) exceeds ``threshold``, and so does that
    of the ``0.2 sw`` rows under those (when they show enough body: bare legs are left out), and it is plain
    (`_plain`: one colour, as trousers and skirts mostly are, not the next patch of a print). Horizontal
    stripes are edges too, but their colours are the chest's; under a forearm the garment comes back.
    The colours are compared in the middle of the body (``0.3 sw`` either side of ``centre_x``), where
    trousers do not peek out beside the top. Returns the row and the new colours (up to two), or None.
    """
    k = max(1, int(round(0.03 * sw)))
    span = max(k + 1, int(round(0.2 * sw)))
    start, end = max(rows[0], k), min(rows[1], lab.shape[0] - k)
    side = 2 * max(1, int(round(0.02 * sw))) + 1
    smooth = cv2.blur(lab, (side, side))  # a fine print or the camera's noise is no edge
    widths = body[max(start - span, 0):start].sum(axis=1)
    width = max(float(np.median(widths)) if widths.size else 0.0, 5.0)  # the body's width above: a hem spans it
    middle = body & (np.abs(np.arange(lab.shape[1]) - centre_x) < 0.3 * sw)[None, :]
    y = start
    while y < end:
        cols = body[y - k] & body[y + k]
        if cols.sum() < 0.5 * width:  # an arm across the body hides most of the row
            y += 1
            continue
        change = np.linalg.norm(smooth[y + k][cols] - smooth[y - k][cols], axis=-1)
        if np.percentile(change, 30) < EDGE_MIN:
            y += 1
            continue
        above = lab[max(y - span, 0):y - k + 1][middle[max(y - span, 0):y - k + 1]]
        below = lab[y + k:y + span][middle[y + k:y + span]]
        if len(below) >= max(20, 0.25 * min(width, 0.6 * sw) * (span - k)):
            colours = garment if len(above) < 20 else np.concatenate([garment, colour_palette(above, GARMENT_COLOURS)])
            if np.median(palette_distance(below[None], colours)[0]) > threshold:
                # the new colour lasts: under a forearm or a band of print the garment comes back
                further = lab[y + span:y + 2 * span][middle[y + span:y + 2 * span]]
                lasts = len(further) < 20 or np.median(palette_distance(further[None], colours)[0]) > threshold
                if lasts and _plain(below):
                    new = colour_palette(below, 2)  # the blurred edge fires a little above the hem: not its colour
                    new = new[palette_distance(new[None], colours)[0] > threshold]
                    return y + k, new if len(new) else np.median(below, axis=0, keepdims=True)
        y += k
    return None


def _plain(pixels: np.ndarray) -> bool:
    """Whether Lab ``pixels (N, 3)`` are mostly (`PLAIN_SHARE`) of one colour, within `PLAIN_SPREAD`: trousers
    and skirts mostly are, a patch of a camouflage or a large print beside another seldom."""
    centre = np.median(pixels, axis=0)
    return bool((np.linalg.norm(pixels - centre, axis=-1) < PLAIN_SPREAD).mean() >= PLAIN_SHARE)


def _first_run(flags: np.ndarray, start: int, sw: float) -> int:
    """Index of the first run of at least ``0.06 sw`` true flags from ``start`` on (``len(flags)`` without one)."""
    run, need = 0, max(2, int(round(0.06 * sw)))
    for i in range(max(start, 0), len(flags)):
        run = run + 1 if flags[i] else 0
        if run >= need:
            return i - need + 1
    return len(flags)


def grow_region(seed: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``seed`` plus the connected parts of ``candidates`` (8-connected) that touch it (``bool (H, W)``)."""
    union = (seed | candidates).astype(np.uint8)
    n, labels = cv2.connectedComponents(union, connectivity=8)
    if n <= 1:
        return seed.copy()
    touching = np.unique(labels[seed])
    return np.isin(labels, touching[touching > 0])


def hem_row(profile: np.ndarray, y0: int) -> int:
    """The garment's last row from a `garment_profile` starting at row ``y0``: the row that best splits the
    scan into rows mostly like the garment above and mostly not below (the maximum of the running sum of
    ``profile - 0.5``; rows without body pixels count 0). A single row of a crossing forearm, a belt or a
    strand of hair does not end the garment; a long run of non-garment rows does."""
    if profile.size == 0:
        return y0
    score = np.cumsum(np.nan_to_num(profile - 0.5, nan=0.0))
    best = int(np.argmax(score))
    return y0 + best if score[best] > 0 else y0


def lower_palette(lab: np.ndarray, legs: np.ndarray, kp: np.ndarray, hip_y: float, sw: float,
                  garment: np.ndarray | None) -> np.ndarray | None:
    """Up to two colours ``(k, 3)`` of what is worn below the top (trousers, a skirt, bare legs), or None.

    Measured on the lowest 0.4 sw of legs in the photo (below the higher knee, when one is seen, and at
    least 0.6 sw below the hips), where no top reaches. A colour within `SAME_COLOUR` of the ``garment``
    palette is dropped: a tunic reaching out of the photo, or trousers of the top's very colour.
    """
    ys = np.arange(lab.shape[0])[:, None]
    leg_rows = np.flatnonzero(legs.any(axis=1))
    if leg_rows.size == 0:
        return None
    knees = [kp[i, 1] for i in (Body25.R_KNEE, Body25.L_KNEE) if g.present(kp, i)]
    cut = max(leg_rows[-1] - 0.4 * sw, hip_y + 0.6 * sw, min(knees) if knees else -np.inf)
    lower = colour_palette(lab[legs & (ys > cut)], 2)
    if lower is None or garment is None:
        return lower
    keep = palette_distance(lower[None], garment)[0] >= SAME_COLOUR
    return lower[keep] if keep.any() else None


def geometric_parse(image: np.ndarray, person_mask: np.ndarray, keypoints: np.ndarray,
                    face_oval: np.ndarray | None = None, hands: list[np.ndarray] | tuple = ()) -> np.ndarray:
    """A CIHP parse ``uint8 (H, W)`` of a front-facing person (rules in the module docstring).

    Args:
        image: ``uint8 (H, W, 3)`` RGB photo.
        person_mask: ``uint8 (H, W) {0, 1}``.
        keypoints: BODY_25 ``(25, 3)`` in pixels; both shoulders are needed for body parts,
            without them every person pixel is UPPER_CLOTHES.
        face_oval: optional ``(K, 2)`` face-oval outline (x, y) in pixels.
        hands: optional list of ``(21, 2)`` hand landmarks (x, y) in pixels.
    """
    check_image(image)
    check_mask(person_mask, "person_mask", image.shape[:2])
    kp = check_keypoints(keypoints)
    out = np.zeros(person_mask.shape, np.uint8)
    ys, xs = np.nonzero(person_mask)
    if ys.size == 0:
        return out
    # work on the person's bounding box (plus a margin): the cost follows the person, not the photo
    m = 2 + int(0.03 * max(person_mask.shape))
    y0, y1 = max(int(ys.min()) - m, 0), min(int(ys.max()) + m + 1, person_mask.shape[0])
    x0, x1 = max(int(xs.min()) - m, 0), min(int(xs.max()) + m + 1, person_mask.shape[1])
    shift = np.array([x0, y0], np.float32)
    kp_crop = kp.copy()
    here = kp[:, 2] > 0
    kp_crop[here, :2] -= shift
    out[y0:y1, x0:x1] = _parse_crop(
        np.ascontiguousarray(image[y0:y1, x0:x1]), np.ascontiguousarray(person_mask[y0:y1, x0:x1]), kp_crop,
        None if face_oval is None else face_oval - shift, [h - shift for h in hands])
    return out


def _parse_crop(image: np.ndarray, person_mask: np.ndarray, kp: np.ndarray, face_oval: np.ndarray | None,
                hands: list[np.ndarray]) -> np.ndarray:
    """`geometric_parse` on the person's bounding box (all coordinates relative to it)."""
    size = person_mask.shape
    person = person_mask > 0
    out = np.zeros(size, np.uint8)
    sw = g.shoulder_width(kp)
    if sw is None or sw < 2:
        out[person] = CIHP.UPPER_CLOTHES
        return out

    parts = densepose_from_pose(kp, person_mask)[..., 0]
    lab = lab_image(image)
    face = face_region(size, kp, face_oval).astype(bool) & cv2.dilate(person_mask, np.ones((5, 5), np.uint8)).astype(bool)
    rs, ls = g.xy(kp, Body25.R_SHOULDER), g.xy(kp, Body25.L_SHOULDER)
    rh, lh, extrapolated = g.torso_hips(kp, person_mask=person_mask)
    shoulder_y, hip_y = (rs[1] + ls[1]) / 2, (rh[1] + lh[1]) / 2
    neck = (rs + ls) / 2
    torso = parts == P.TORSO_FRONT

    # 2. colour models: skin from the face, garment from the chest (the lower colours come with the hem)
    eroded_face = cv2.erode(face.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    skin = colour_palette(lab[eroded_face], 1)
    core = np.zeros(size, bool)
    t0, t1 = shoulder_y + 0.25 * (hip_y - shoulder_y), shoulder_y + 0.75 * (hip_y - shoulder_y)
    x_lo, x_hi = neck[0] - 0.25 * sw, neck[0] + 0.25 * sw
    core[int(max(t0, 0)):int(max(t1, 0)) + 1, int(max(x_lo, 0)):int(max(x_hi, 0)) + 1] = True
    arms = np.isin(parts, _LEFT_ARM + _RIGHT_ARM + (P.LEFT_HAND, P.RIGHT_HAND)).astype(np.uint8)
    near_arms = cv2.dilate(arms, np.ones((3, 3), np.uint8), iterations=max(1, int(0.05 * sw))).astype(bool)
    d_skin = palette_distance(lab, skin)
    sample = core & torso & ~near_arms & ~(d_skin < 0.5 * SKIN_TOLERANCE)  # not a forearm across the chest
    garment = colour_palette(lab[sample], GARMENT_COLOURS)
    if garment is None:  # a top of the skin's colour: the chest itself, forearms or not
        sample = core & torso & ~near_arms
        garment = colour_palette(lab[sample], GARMENT_COLOURS)
    legs = np.isin(parts, _LEFT_LEG + _RIGHT_LEG)
    rows = np.arange(size[0])[:, None]
    d_garment = palette_distance(lab, garment)
    if skin is not None and garment is not None and palette_distance(skin, garment).min() < MIN_SKIN_GARMENT_DISTANCE:
        d_skin = np.full(size, np.inf, np.float32)  # skin and garment look alike: colour cannot tell them apart
    skin_like = cv2.medianBlur(((d_skin < d_garment) & (d_skin < SKIN_TOLERANCE) & person).astype(np.uint8), 5) > 0

    # 3. labels: the hem, then the top's region below it grown by colour
    colour_ok = np.isfinite(d_skin).any() and garment is not None
    skin_px = skin_like if colour_ok else np.ones(size, bool)
    hands_part = np.isin(parts, (P.LEFT_HAND, P.RIGHT_HAND))
    body = (torso | legs | (hands_part & ~skin_px)) & ~face
    d_near, lower = d_garment, None
    tolerance, stop = GARMENT_TOLERANCE, size[0]
    bottom = float(size[0])  # without a colour model, or in a half-body photo: the top runs out of the frame
    if garment is not None:
        tolerance = float(np.clip(2.0 * np.percentile(d_garment[sample], 90), MIN_GARMENT_TOLERANCE, GARMENT_TOLERANCE))
        lower = None if extrapolated else lower_palette(lab, legs, kp, hip_y, sw, garment)
        y0 = int(max(t0, 0))
        profile = garment_profile(lab, (torso | legs) & ~face, garment, lower, (y0, size[0] - 1), tolerance, sw,
                                  skin_like & (d_skin < BARE_SKIN) if colour_ok else None, d_skin)
        # the end is looked for below mid-torso (a v-neck, the neck or a print are higher up)
        mid_torso = int(min(shoulder_y + 0.5 * (hip_y - shoulder_y), shoulder_y + 0.6 * sw))
        stop = profile.stop(mid_torso, sw)
        threshold = max(CHANGE_FACTOR * profile.chest_distance(mid_torso), MIN_CHANGE)
        # skin is left out: a forearm across the top is no hem (a bare midriff ends the scan as a bare band)
        edge = edge_hem(lab, (torso | legs) & ~face & ~skin_like, garment, (mid_torso, stop), sw, threshold,
                        float((rh[0] + lh[0] + rs[0] + ls[0]) / 4))
        if edge is not None:  # what starts under the edge is worn below the top
            stop = edge[0] + 1
            lower = edge[1] if lower is None else np.concatenate([lower, edge[1]])
        if not extrapolated or stop < size[0]:  # hips unseen: only where the top visibly ends
            bottom = float(max(hem_row(profile.like[:stop - y0], y0), t0))
    above_bottom = rows <= bottom
    upper = body & above_bottom
    d_lower = palette_distance(lab, lower)
    if lower is not None:
        # the garment's colours just above the hem (a gradient or print differs there from the chest's)
        band = body & ~skin_px & (rows > bottom - 0.25 * sw) & above_bottom & (d_lower >= tolerance)
        hem_colours = colour_palette(lab[band], GARMENT_COLOURS)
        if hem_colours is not None:
            d_near = np.minimum(d_garment, palette_distance(lab, hem_colours))
        like = cv2.medianBlur(((d_near < tolerance) & (d_near < d_lower) & ~skin_px).astype(np.uint8), 5) > 0
        # a hem is seldom level: the top may go on a little below the row where the scan stopped
        upper = grow_region(upper, body & ~above_bottom & like & (rows < stop + 0.1 * sw))

    out[torso & upper] = CIHP.UPPER_CLOTHES
    out[torso & ~upper] = CIHP.PANTS
    out[torso & ~upper & skin_like] = CIHP.NECK  # bare midriff: CIHP's torso skin, VITON-HD's neck label
    below_and_lower = ~above_bottom & (d_lower < d_near)
    for arm_parts, hand, label in ((_LEFT_ARM, P.LEFT_HAND, CIHP.LEFT_ARM), (_RIGHT_ARM, P.RIGHT_HAND, CIHP.RIGHT_ARM)):
        arm = np.isin(parts, arm_parts)
        out[arm] = CIHP.UPPER_CLOTHES
        out[arm & below_and_lower & ~skin_px] = CIHP.PANTS  # a hand hanging over the trousers
        out[arm & skin_px] = label
        out[(parts == hand) & skin_px] = label
        out[(parts == hand) & ~skin_px] = CIHP.PANTS
        out[(parts == hand) & ~skin_px & upper] = CIHP.UPPER_CLOTHES  # the top behind a hand on the hip
    for leg_parts, foot, leg_label, shoe_label in ((_LEFT_LEG, P.LEFT_FOOT, CIHP.LEFT_LEG, CIHP.LEFT_SHOE),
                                                    (_RIGHT_LEG, P.RIGHT_FOOT, CIHP.RIGHT_LEG, CIHP.RIGHT_SHOE)):
        leg = np.isin(parts, leg_parts)
        out[leg] = CIHP.PANTS
        out[leg & upper] = CIHP.UPPER_CLOTHES
        out[leg & ~upper & skin_like] = leg_label
        out[parts == foot] = shoe_label
        # a foot above the hem in the top's colours: ankles Pose placed under a tunic (or a top reaching them)
        out[(parts == foot) & above_bottom & (d_near < tolerance) & ~skin_px] = CIHP.UPPER_CLOTHES

    head = np.isin(parts, (P.HEAD_LEFT, P.HEAD_RIGHT))
    chin_y = float(np.flatnonzero(face.any(axis=1))[-1]) if face.any() else shoulder_y - 0.25 * sw
    near_neck_axis = np.abs(np.arange(size[1])[None, :] - neck[0]) < 0.25 * sw
    neck_zone = (rows > chin_y - 0.02 * sw) & near_neck_axis
    out[head] = CIHP.HAIR
    # below the chin, head pixels are hair only where they look like the hair above the face
    face_top = float(np.flatnonzero(face.any(axis=1))[0]) if face.any() else chin_y - 0.5 * sw
    crown = head & ~face & (rows < face_top)
    hair_colour = colour_palette(lab[crown], 1)
    if garment is not None:
        d_hair = palette_distance(lab, hair_colour)
        if hair_colour is not None:
            out[head & (rows > chin_y) & (d_garment < d_hair)] = CIHP.UPPER_CLOTHES
        # the top's shoulders beside the neck reach into the head's parts, above the chin
        beside = head & ~face & (rows > (face_top + chin_y) / 2) & ~skin_like
        out[beside & (d_garment < d_hair) & (d_garment < tolerance)] = CIHP.UPPER_CLOTHES
    out[head & neck_zone] = CIHP.NECK
    out[torso & skin_like & (rows < shoulder_y + 0.35 * sw) & near_neck_axis] = CIHP.NECK
    # person pixels above the chin that are neither face nor arms are hair (a bun, long hair), but for the
    # top's shoulders: torso pixels of the garment's colour beside the head, which a short neck lifts above the chin
    above_chin = person & (rows < chin_y) & ~np.isin(out, (CIHP.LEFT_ARM, CIHP.RIGHT_ARM)) & (out != CIHP.NECK)
    shoulders = above_chin & (rows > (face_top + chin_y) / 2) & (out == CIHP.UPPER_CLOTHES) & (d_garment < tolerance)
    out[above_chin & ~shoulders] = CIHP.HAIR
    out[face] = CIHP.FACE

    # hands from landmarks, to the nearer pose wrist
    dil = cv2.dilate(person_mask, np.ones((7, 7), np.uint8)).astype(bool)
    for pts in hands:
        centre = pts.mean(axis=0)
        wrists = [(w, lbl) for w, lbl in ((Body25.L_WRIST, CIHP.LEFT_ARM), (Body25.R_WRIST, CIHP.RIGHT_ARM))
                  if g.present(kp, w)]
        if not wrists:
            continue
        w, lbl = min(wrists, key=lambda wl: float(np.linalg.norm(g.xy(kp, wl[0]) - centre)))
        if np.linalg.norm(g.xy(kp, w) - centre) > 0.6 * sw:
            continue  # a hand of someone else, or a wrong match
        hull = np.zeros(size, np.uint8)
        cv2.fillPoly(hull, [cv2.convexHull(np.round(pts).astype(np.int32))], 1)
        hull = cv2.dilate(hull, np.ones((3, 3), np.uint8)).astype(bool) & dil & (out != CIHP.FACE)
        out[hull] = lbl
    out[~person & ~np.isin(out, (CIHP.LEFT_ARM, CIHP.RIGHT_ARM))] = CIHP.BACKGROUND
    return out
