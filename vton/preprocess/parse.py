"""A geometric CIHP parse map for a new photo (no offline human parser exists).

Built from the person mask, BODY_25 keypoints, MediaPipe's face oval and hand
landmarks, and two colour models measured on the photo itself:

1. Body parts: every person pixel takes the nearest body part of the
   DensePose-style map (`densepose.densepose_from_pose`): head, torso, upper and
   lower arms, hands, legs, feet.
2. Colours (CIE Lab, lightness down-weighted against shading): *skin* is the mean colour of the face, *garment* up to
   three k-means colours of the middle of the torso (stripes, checks), *pants*
   two colours of the legs around the knees. A pixel is skin-coloured when it is nearer the
   skin colour than every garment colour (and within `SKIN_TOLERANCE`). When skin
   and garment are too alike (`MIN_SKIN_GARMENT_DISTANCE`) colour is not used.
3. Labels: the face oval is FACE; other head pixels are NECK (below the chin,
   near the neck axis) or HAIR. The torso is UPPER_CLOTHES down to the garment
   bottom (the last row, scanning down from the chest, where most body pixels
   are nearer a garment colour than a pants colour) and PANTS below; skin-coloured torso
   pixels near the neck are NECK. Arms are LEFT_ARM / RIGHT_ARM where
   skin-coloured and UPPER_CLOTHES (sleeves) where not; hands always arms,
   drawn from hand landmarks when MediaPipe finds them. Legs are
   LEFT_LEG / RIGHT_LEG where skin-coloured and PANTS where not; feet are shoes.

It is a stand-in, good enough that the agnostic mask covers the garment and
keeps face, hair, hands and lower body; it does not know belts, bags, scarves
or hats. "Left" is the subject's left (CIHP and BODY_25 agree).
"""
from __future__ import annotations

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
"""Without a pants colour, a pixel within this (Lab) of a garment colour looks like the garment."""
GARMENT_COLOURS = 3
"""Colour centres describing the garment (stripes, checks, prints)."""

_LEFT_ARM = (P.UPPER_ARM_LEFT_FRONT, P.LOWER_ARM_LEFT_FRONT)
_RIGHT_ARM = (P.UPPER_ARM_RIGHT_FRONT, P.LOWER_ARM_RIGHT_FRONT)
_LEFT_LEG = (P.UPPER_LEG_LEFT_FRONT, P.LOWER_LEG_LEFT_FRONT)
_RIGHT_LEG = (P.UPPER_LEG_RIGHT_FRONT, P.LOWER_LEG_RIGHT_FRONT)


LIGHTNESS_WEIGHT = 0.5
"""Lab lightness is scaled by this before any colour distance: shading and folds change lightness most."""


def _lab(image: np.ndarray) -> np.ndarray:
    """CIE Lab ``float32 (H, W, 3)`` with L scaled by `LIGHTNESS_WEIGHT` (distances are shading-tolerant)."""
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


def _garment_bottom(like_garment: np.ndarray, body: np.ndarray, chest_y: float, hip_y: float, sw: float) -> float:
    """Scan down from the chest: the last row where most body pixels look like the garment."""
    h = body.shape[0]
    y0, y1 = int(max(chest_y, 0)), int(min(hip_y + 1.2 * sw, h - 1))
    bottom = y0
    for y in range(y0, y1 + 1):
        row = body[y]
        if row.any() and like_garment[y][row].mean() >= 0.5:
            bottom = y
        elif y > hip_y - 0.3 * sw:
            break
    return float(max(bottom, chest_y))


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
    lab = _lab(image)
    face = face_region(size, kp, face_oval).astype(bool) & cv2.dilate(person_mask, np.ones((5, 5), np.uint8)).astype(bool)
    rs, ls = g.xy(kp, Body25.R_SHOULDER), g.xy(kp, Body25.L_SHOULDER)
    rh, lh, extrapolated = g.torso_hips(kp, person_mask=person_mask)
    shoulder_y, hip_y = (rs[1] + ls[1]) / 2, (rh[1] + lh[1]) / 2
    neck = (rs + ls) / 2
    torso = parts == P.TORSO_FRONT

    # 2. colour models: skin from the face, garment from the chest, pants from the thighs
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
    legs = np.isin(parts, _LEFT_LEG + _RIGHT_LEG)
    knees = [kp[i, 1] for i in (Body25.R_KNEE, Body25.L_KNEE) if g.present(kp, i)]
    pants = None
    if knees and not extrapolated:  # pants (or bare legs) measured around the knees, below any long top
        pants = colour_palette(lab[legs & (np.arange(size[0])[:, None] > min(knees) - 0.15 * sw)], 2)
    d_garment, d_pants = palette_distance(lab, garment), palette_distance(lab, pants)
    if skin is not None and garment is not None and palette_distance(skin, garment).min() < MIN_SKIN_GARMENT_DISTANCE:
        d_skin = np.full(size, np.inf, np.float32)  # skin and garment look alike: colour cannot tell them apart
    skin_like = cv2.medianBlur(((d_skin < d_garment) & (d_skin < SKIN_TOLERANCE) & person).astype(np.uint8), 5) > 0
    like_garment = (d_garment < d_pants) if pants is not None else (d_garment < GARMENT_TOLERANCE)

    # 3. labels
    if extrapolated:  # half-body photo: the garment runs out of the frame
        bottom = float(size[0])
    else:
        bottom = _garment_bottom(like_garment, (torso | legs) & ~face, t0, hip_y, sw)
    rows = np.arange(size[0])[:, None]
    above_bottom = rows <= bottom

    out[torso & above_bottom] = CIHP.UPPER_CLOTHES
    out[torso & ~above_bottom] = CIHP.PANTS
    for arm_parts, hand, label in ((_LEFT_ARM, P.LEFT_HAND, CIHP.LEFT_ARM), (_RIGHT_ARM, P.RIGHT_HAND, CIHP.RIGHT_ARM)):
        arm = np.isin(parts, arm_parts)
        out[arm] = CIHP.UPPER_CLOTHES
        out[arm & (skin_like if np.isfinite(d_skin).any() and garment is not None else True)] = label
        out[parts == hand] = label
    for leg_parts, foot, leg_label, shoe_label in ((_LEFT_LEG, P.LEFT_FOOT, CIHP.LEFT_LEG, CIHP.LEFT_SHOE),
                                                    (_RIGHT_LEG, P.RIGHT_FOOT, CIHP.RIGHT_LEG, CIHP.RIGHT_SHOE)):
        leg = np.isin(parts, leg_parts)
        out[leg] = CIHP.PANTS
        out[leg & above_bottom] = CIHP.UPPER_CLOTHES
        out[leg & ~above_bottom & skin_like] = leg_label
        out[parts == foot] = shoe_label

    head = np.isin(parts, (P.HEAD_LEFT, P.HEAD_RIGHT))
    chin_y = float(np.flatnonzero(face.any(axis=1))[-1]) if face.any() else shoulder_y - 0.25 * sw
    near_neck_axis = np.abs(np.arange(size[1])[None, :] - neck[0]) < 0.25 * sw
    neck_zone = (rows > chin_y - 0.02 * sw) & near_neck_axis
    out[head] = CIHP.HAIR
    # below the chin, head pixels are hair only where they look like the hair above the face
    face_top = float(np.flatnonzero(face.any(axis=1))[0]) if face.any() else chin_y - 0.5 * sw
    crown = head & ~face & (rows < face_top)
    hair_colour = colour_palette(lab[crown], 1)
    if hair_colour is not None and garment is not None:
        low = head & (rows > chin_y)
        out[low & (d_garment < palette_distance(lab, hair_colour))] = CIHP.UPPER_CLOTHES
    out[head & neck_zone] = CIHP.NECK
    out[torso & skin_like & (rows < shoulder_y + 0.35 * sw) & near_neck_axis] = CIHP.NECK
    # person pixels above the chin that are neither face nor arms are hair (a bun, long hair)
    out[person & (rows < chin_y) & ~np.isin(out, (CIHP.LEFT_ARM, CIHP.RIGHT_ARM)) & (out != CIHP.NECK)] = CIHP.HAIR
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
