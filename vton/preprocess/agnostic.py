"""Agnostic image, agnostic mask and parse-agnostic, after HR-VITON's v3.2 rules, at any size.

The agnostic image hides what the try-on must repaint (the upper garment, the
neck and the upper arms) under flat grey ``(128, 128, 128)``, so the model
cannot copy the old garment. The rules (HR-VITON ``get_agnostic`` /
``get_parse_agnostic``), with every length scaled by the shoulder width ``sw``
instead of being tied to 768x1024 pixels:

1. ``r = sw / 15``: HR-VITON's ``sw / 16 + 1`` at VITON-HD's typical shoulder
   width (~240 px), made exactly proportional so that the mask of a photo at
   half the size is the mask at full size, halved. The hips are moved along
   the hip line so that the hip width equals the shoulder width (the drawn
   torso is then as wide as the shoulders, whatever the hip detector did).
2. Arms: a band of width ``10 r`` between the shoulders, discs of radius ``5 r``
   at the shoulders, and capsules of width ``10 r`` along shoulder-elbow-wrist.
3. Torso: the shoulders-hips polygon, bands of width ``6 r`` along each side,
   a band of width ``12 r`` between the hips, and ellipses ``(3 r, 6 r)`` at the hips.
4. Neck: the box ``[neck.x - 5 r, neck.x + 5 r] x [neck.y - 9 r, neck.y]``.
5. Ours, beyond HR-VITON: every upper-clothes / dress / coat pixel of the parse
   is masked too, so no piece of the old garment survives a loose fit.
6. Restored (taken out of the mask): face and sunglasses everywhere; hair and
   hat above the shoulder line; the lower body (pants, skirt, legs, socks,
   shoes); arm and glove pixels outside the parse-agnostic's arm mask
   (`parse_arm_masks`: mostly the hands), as the parse-agnostic keeps them.

Missing keypoints (OpenPose ``(0, 0, 0)``) skip the parts that need them.
Half-body photos (hips missing, out of frame or below `geometry.HIP_MIN_CONF`)
close the torso at the bottom of the upper garment instead (`geometry.torso_hips`).

The parse-agnostic removes upper clothes and neck, and arm pixels inside the
arm mask of ``get_parse_agnostic`` (bands of width ``10 rp`` along
shoulder-shoulder-elbow-wrist, discs ``15 rp`` at shoulder and elbow and ``4 rp``
at the wrist), with ``rp = sw / 24`` (HR-VITON's fixed 10 px at VITON-HD's
typical shoulder width).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vton.preprocess import geometry as g
from vton.types import CIHP, Body25, check_image, check_keypoints

GREY = 128

UPPER_LABELS = (CIHP.UPPER_CLOTHES, CIHP.DRESS, CIHP.COAT)
FACE_LABELS = (CIHP.FACE, CIHP.SUNGLASSES)
HAIR_LABELS = (CIHP.HAIR, CIHP.HAT)
LOWER_LABELS = (CIHP.PANTS, CIHP.SKIRT, CIHP.LEFT_LEG, CIHP.RIGHT_LEG, CIHP.SOCKS,
                CIHP.LEFT_SHOE, CIHP.RIGHT_SHOE)


@dataclass
class Agnostic:
    """The clothing-agnostic view of a person photo, all at the photo's ``(H, W)``."""

    image: np.ndarray  # uint8 (H, W, 3): the photo, grey (128) where `mask` is 1
    mask: np.ndarray  # uint8 (H, W) {0, 1}: 1 where the try-on repaints
    parse: np.ndarray  # uint8 (H, W) CIHP labels with garment, neck and upper arms set to background


def agnostic_radius(kp: np.ndarray, size: tuple[int, int]) -> float:
    """``r = shoulder_width / 15`` (HR-VITON's ``sw / 16 + 1`` at sw = 240 px); ``W / 45`` without shoulders."""
    sw = g.shoulder_width(kp)
    return (sw if sw is not None else size[1] / 3) / 15


def _normalised_hips(kp: np.ndarray, parse: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The hips that close the torso, spread (or narrowed) to the shoulder width."""
    hips = g.torso_hips(kp, parse=parse)
    if hips is None:
        return None
    rh, lh, _ = hips
    sw = g.shoulder_width(kp)
    mid, half = (rh + lh) / 2, (rh - lh) / 2
    n = float(np.linalg.norm(half))
    if n < 1e-6:  # both hips on one point: take the shoulders' direction
        half = (g.xy(kp, Body25.R_SHOULDER) - g.xy(kp, Body25.L_SHOULDER)) / 2
    else:
        half = half / n * sw / 2
    return mid + half, mid - half


def _arm_mask(kp: np.ndarray, size: tuple[int, int], r: float) -> np.ndarray:
    """Step 2: the drawn arm region (shoulder band, shoulder discs, arm capsules)."""
    mask = np.zeros(size, np.uint8)
    rs, ls = Body25.R_SHOULDER, Body25.L_SHOULDER
    if g.present(kp, rs) and g.present(kp, ls):
        g.draw_capsule(mask, g.xy(kp, rs), g.xy(kp, ls), 5 * r)
    for s in (rs, ls):
        if g.present(kp, s):
            g.draw_capsule(mask, g.xy(kp, s), g.xy(kp, s), 5 * r)
    for a, b in [(Body25.R_SHOULDER, Body25.R_ELBOW), (Body25.R_ELBOW, Body25.R_WRIST),
                 (Body25.L_SHOULDER, Body25.L_ELBOW), (Body25.L_ELBOW, Body25.L_WRIST)]:
        if g.present(kp, a) and g.present(kp, b):
            g.draw_capsule(mask, g.xy(kp, a), g.xy(kp, b), 5 * r)
    return mask


def _torso_and_neck_mask(kp: np.ndarray, parse: np.ndarray, r: float) -> np.ndarray:
    """Steps 3 and 4: the torso polygon, its side bands, hip ellipses, and the neck box."""
    mask = np.zeros(parse.shape, np.uint8)
    hips = _normalised_hips(kp, parse)
    if hips is not None:
        rs, ls = g.xy(kp, Body25.R_SHOULDER), g.xy(kp, Body25.L_SHOULDER)
        rh, lh = hips
        g.draw_polygon(mask, [rs, ls, lh, rh])
        g.draw_capsule(mask, rs, rh, 3 * r)
        g.draw_capsule(mask, ls, lh, 3 * r)
        g.draw_capsule(mask, rh, lh, 6 * r)
        for hip in (rh, lh):
            g.draw_ellipse(mask, hip, (3 * r, 6 * r))
    if g.present(kp, Body25.NECK):
        neck = g.xy(kp, Body25.NECK)
    elif g.shoulder_width(kp) is not None:
        neck = (g.xy(kp, Body25.R_SHOULDER) + g.xy(kp, Body25.L_SHOULDER)) / 2
    else:
        neck = None
    if neck is not None:
        x0, y0 = g.pt((neck[0] - 5 * r, neck[1] - 9 * r))
        x1, y1 = g.pt((neck[0] + 5 * r, neck[1]))
        mask[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = 1
    return mask


def _shoulder_line(kp: np.ndarray) -> float | None:
    """The row of the higher shoulder (smaller y), or None without shoulders."""
    ys = [kp[i, 1] for i in (Body25.R_SHOULDER, Body25.L_SHOULDER) if g.present(kp, i)]
    return float(min(ys)) if ys else None


def agnostic_mask(parse: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """The agnostic mask ``uint8 (H, W) {0, 1}`` (rules 1-6 of the module docstring)."""
    kp = check_keypoints(keypoints)
    r = agnostic_radius(kp, parse.shape)
    arms = _arm_mask(kp, parse.shape, r)
    mask = arms | _torso_and_neck_mask(kp, parse, r)
    mask[np.isin(parse, UPPER_LABELS)] = 1
    keep = np.isin(parse, FACE_LABELS) | np.isin(parse, LOWER_LABELS)
    arm_masks = parse_arm_masks(kp, parse.shape)
    for label, arm in arm_masks.items():
        keep |= (parse == label) & (arm == 0)
    keep |= (parse == CIHP.GLOVE) & (arm_masks[CIHP.LEFT_ARM] == 0) & (arm_masks[CIHP.RIGHT_ARM] == 0)
    hair = np.isin(parse, HAIR_LABELS)
    line = _shoulder_line(kp)
    if line is not None:
        hair[int(max(line, 0)):] = False
    keep |= hair
    mask[keep] = 0
    return mask


def parse_arm_masks(kp: np.ndarray, size: tuple[int, int]) -> dict[CIHP, np.ndarray]:
    """``get_parse_agnostic``'s drawn arm masks ``uint8 (H, W)``, one per CIHP arm label.

    Bands of width ``10 rp`` along shoulder-shoulder-elbow-wrist, discs of radius
    ``15 rp`` at the shoulder and elbow and ``4 rp`` at the wrist, ``rp = sw / 24``.
    Arm pixels outside them (hands, mostly) are kept in both the parse-agnostic
    and the agnostic image.
    """
    sw = g.shoulder_width(kp)
    rp = (sw if sw is not None else size[1] / 3) / 24
    chains = {
        CIHP.LEFT_ARM: (Body25.R_SHOULDER, Body25.L_SHOULDER, Body25.L_ELBOW, Body25.L_WRIST),
        CIHP.RIGHT_ARM: (Body25.L_SHOULDER, Body25.R_SHOULDER, Body25.R_ELBOW, Body25.R_WRIST),
    }
    masks = {}
    for label, chain in chains.items():
        arm = np.zeros(size, np.uint8)
        for a, b in zip(chain[:-1], chain[1:]):
            if not (g.present(kp, a) and g.present(kp, b)):
                continue
            g.draw_capsule(arm, g.xy(kp, a), g.xy(kp, b), 5 * rp)
            disc = 4 * rp if b == chain[-1] else 15 * rp
            g.draw_capsule(arm, g.xy(kp, b), g.xy(kp, b), disc)
        masks[label] = arm
    return masks


def parse_agnostic(parse: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """HR-VITON's parse-agnostic ``uint8 (H, W)`` CIHP labels (see module docstring)."""
    kp = check_keypoints(keypoints)
    out = parse.copy()
    for label, arm in parse_arm_masks(kp, parse.shape).items():
        out[(arm == 1) & (parse == label)] = CIHP.BACKGROUND
    out[np.isin(parse, UPPER_LABELS) | (parse == CIHP.NECK)] = CIHP.BACKGROUND
    return out


def make_agnostic(image: np.ndarray, parse: np.ndarray, keypoints: np.ndarray) -> Agnostic:
    """Build the agnostic image, mask and parse of a person photo.

    Args:
        image: ``uint8 (H, W, 3)`` RGB photo.
        parse: ``uint8 (H, W)`` CIHP labels of the same photo.
        keypoints: ``(25, 3)`` BODY_25 ``(x, y, confidence)`` in pixels; ``(0, 0, 0)`` = missing.

    Returns:
        `Agnostic` with the grey-filled image, the ``{0, 1}`` mask and the parse-agnostic.

    Example:
        >>> a = make_agnostic(image, parse, keypoints)
        >>> a.image[a.mask == 1]  # all 128
    """
    check_image(image)
    parse = np.asarray(parse)
    if parse.dtype != np.uint8 or parse.shape != image.shape[:2]:
        raise ValueError(f"parse must be uint8 {image.shape[:2]} (H, W), got {parse.dtype} {parse.shape}")
    mask = agnostic_mask(parse, keypoints)
    out = image.copy()
    out[mask == 1] = GREY
    return Agnostic(image=out, mask=mask, parse=parse_agnostic(parse, keypoints))
