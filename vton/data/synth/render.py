"""One synthetic try-on example: draw a person wearing a flat garment, with the true warp.

Layers, back to front (each paints both the RGB image and the CIHP parse, so
the parse is exact): background, long hair behind the body, legs and shoes,
pants or skirt, torso skin, shoulder caps, neck, the garment's torso, then each
arm (skin, then its sleeve) in `Body.arm_order`, then the head (hair behind,
strands of long hair over the garment, ears, face, eyes, mouth, hair in front).

The ground truth covers the whole garment, hidden parts included: the torso
behind a crossed forearm, or behind a strand of hair, is in ``gt.warped_mask``
but not in the parse's ``UPPER_CLOTHES``.

The garment pixels of the person image are ``gt.warped_cloth * shading`` with a
smooth multiplicative shading in ``[0.5, 1]`` (body curvature, folds, light),
so inside the visible ``UPPER_CLOTHES`` region the photo and the ground truth
agree up to shading.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from vton.data.synth import texture as tx
from vton.data.synth.body import SIDES, Body, fill_circle, fill_ellipse, fill_limb, fill_polygon, sample_body
from vton.data.synth.garment import (KINDS, Fit, GarmentMap, Template, bilinear_sample, flow_from_map,
                                     garment_map, sample_length, sample_template, template_mask)
from vton.preprocess.agnostic import make_agnostic
from vton.preprocess.densepose import densepose_from_pose
from vton.types import CIHP, Body25, Cloth, GroundTruth, Pair, Person, Source

HAIR_STYLES = ("short", "bob", "long", "bun", "buzz")
_LENGTH_STREAM = 0x1E9
"""Second word of the seed of the top-length stream (`garment.sample_length`)."""
JPEG_QUALITY = 95
"""Person and cloth images are stored as JPEG (VITON-HD's format); the generator
works on the decoded JPEG, so the files on disk are exactly what the ground truth was built from."""


@dataclass(frozen=True)
class SampleInfo:
    """What was drawn, for tests, benchmarks split by difficulty, and the lab's captions."""

    garment: str  # one of `garment.KINDS`
    texture: str  # one of `texture.TEXTURES`
    arm_pose: str  # one of `body.ARM_POSES`
    hair: str  # one of `HAIR_STYLES`
    occluded: int  # pixels of the warped garment hidden by an arm (or hair)
    length: str = "regular"  # one of `garment.LENGTHS`: how far the top reaches


@dataclass
class Rendered:
    """`render_pair`'s result: the pair, the JPEG bytes its images were decoded from, and `SampleInfo`."""

    pair: Pair
    jpegs: dict[str, bytes]  # "image", "cloth"
    info: SampleInfo


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """``uint8 (H, W, 3)`` RGB -> JPEG bytes (Pillow, the library `vton.io.load_image` decodes with)."""
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="JPEG", quality=quality, subsampling=0)  # 4:4:4: no colour bleed
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> ``uint8 (H, W, 3)`` RGB, decoded as `vton.io.load_image` does."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).copy()


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- the cloth


def _draw_cloth(rng: np.random.Generator, t: Template, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, str]:
    """The in-shop cloth image (float ``(H, W, 3)``), its mask and the texture kind."""
    mask = template_mask(t, size)
    kind = str(rng.choice(tx.TEXTURES, p=[0.14, 0.2, 0.14, 0.13, 0.14, 0.11, 0.14]))
    tex = tx.garment_texture(rng, size, kind)
    if kind == "logo" or rng.random() < 0.12:
        tx.draw_logo(rng, tex, tuple(t.to_pixels((rng.uniform(-0.1, 0.1), t.length * rng.uniform(0.28, 0.42)))),
                     t.scale * rng.uniform(0.7, 1.3))
    if rng.random() < 0.6:  # ribbed collar and cuffs in a trim colour
        trim = tuple(float(c) for c in (tx.random_colour(rng) if rng.random() < 0.5 else tex[size[0] // 2, size[1] // 2] * 0.8))
        thick = max(1, int(round(t.scale * rng.uniform(0.05, 0.1))))
        cv2.polylines(tex, [np.round(t.to_pixels(t.neckline[1:-1]) * 16).astype(np.int32)], False, trim, thick * 2,
                      cv2.LINE_AA, 4)
        for s in t.sleeves:
            q = t.to_pixels(s.quad(0.93, 1.0))
            cv2.fillPoly(tex, [np.round(q * 16).astype(np.int32)], trim, cv2.LINE_AA, 4)
    tex *= (0.965 + 0.035 * tx.smooth_noise(rng, size, (5, 4)))  # the flat lay's soft light and creases
    white = np.float32(rng.uniform(0.94, 1.0))
    bg = np.full(size + (3,), white, np.float32) - rng.uniform(0, 0.02, 3).astype(np.float32)
    cloth = np.where(mask[..., None] == 1, tex, bg)
    return cloth, mask, kind


# ----------------------------------------------------------------------------- shading


def _shading(rng: np.random.Generator, body: Body, gm: GarmentMap) -> np.ndarray:
    """Smooth multiplicative garment shading ``float32 (H, W)`` in ``[0.5, 1]``.

    Computed on a 4x coarser grid and upsampled bilinearly: it has no detail finer than that."""
    h, w = body.size
    f = 4
    hs, ws = (h + f - 1) // f, (w + f - 1) // f
    ys, xs = np.mgrid[0:hs, 0:ws].astype(np.float64) * f + (f - 1) / 2
    xy = np.stack([xs, ys], -1)
    small = lambda a: cv2.resize(a, (ws, hs), interpolation=cv2.INTER_AREA)  # noqa: E731
    rel = ((xy - body.neck) @ body.across) / (body.shoulder_half * 1.25)
    shade = 1.0 - 0.3 * np.clip(np.abs(rel) - 0.45, 0, None) ** 1.5  # the torso turns away at its sides
    for side in (0, 1):  # sleeves are cylinders too
        if gm.sleeve_front[side].max() > 0:
            a = small(gm.sleeve_front[side])
            s, e = body.shoulders[side], body.elbows[side]
            d = (e - s) / max(float(np.linalg.norm(e - s)), 1e-6)
            off = np.abs((xy - s) @ np.array([-d[1], d[0]])) / (body.arm_radius * 1.1)
            shade = shade * (1 - a * 0.35 * np.clip(off - 0.35, 0, 1) ** 1.5)
    for _ in range(int(rng.integers(1, 6))):  # folds: soft dark creases
        c = body.neck + body.down * body.torso_length * rng.uniform(0.1, 1.0) \
            + body.across * body.shoulder_half * rng.uniform(-1, 1)
        ang = rng.uniform(0, np.pi)
        d = np.array([np.cos(ang), np.sin(ang)])
        along = (xy - c) @ d
        across = (xy - c) @ np.array([-d[1], d[0]])
        length, width = body.torso_length * rng.uniform(0.1, 0.35), body.shoulder_half * rng.uniform(0.06, 0.14)
        shade = shade - rng.uniform(0.08, 0.25) * np.exp(-(across / width) ** 2 - (along / length) ** 2)
    shade = shade + 0.06 * tx.smooth_noise(rng, (hs, ws), (4, 3))[..., 0] - 0.04
    shade = cv2.resize(shade.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(shade, 0.5, 1.0)


# ----------------------------------------------------------------------------- the person


class _Canvas:
    """An RGB float image and its CIHP parse, painted together layer by layer."""

    def __init__(self, bg: np.ndarray):
        self.image = bg.copy()
        self.parse = np.zeros(bg.shape[:2], np.uint8)
        self.scratch = np.zeros(bg.shape[:2], np.uint8)

    def new(self) -> np.ndarray:
        self.scratch[:] = 0
        return self.scratch

    def paint(self, mask: np.ndarray, label: CIHP, colour) -> None:
        m = mask.astype(bool)
        self.parse[m] = label
        self.image[m] = colour[m] if np.ndim(colour) == 3 else colour


def _draw_lower_body(rng: np.random.Generator, c: _Canvas, body: Body, skin: np.ndarray) -> None:
    """Legs and shoes, then pants (long or shorts) or a skirt over them."""
    leg_labels = (CIHP.RIGHT_LEG, CIHP.LEFT_LEG)
    shoe_labels = (CIHP.RIGHT_SHOE, CIHP.LEFT_SHOE)
    r_hip, r_knee, r_ankle = body.leg_radius, body.leg_radius * 0.78, body.leg_radius * 0.55
    for side in (0, 1):
        c.paint(fill_limb(fill_limb(c.new(), body.hips[side], body.knees[side], r_hip, r_knee),
                          body.knees[side], body.ankles[side], r_knee, r_ankle), leg_labels[side], skin)
        shoe = tx.jitter(rng, np.full(3, 0.1 if rng.random() < 0.6 else 0.9, np.float32), 0.08)
        toe = body.ankles[side] + body.down * r_ankle * 1.5 + SIDES[side] * body.across * r_ankle * 0.5
        m = fill_ellipse(c.new(), (body.ankles[side] + toe) / 2, (r_ankle * 1.5, r_ankle * 1.6))
        c.paint(m, shoe_labels[side], shoe)
    waist = body.mid_hip - body.down * body.torso_length * 0.18
    colour = tx.random_colour(rng, (0.1, 0.7), (0.1, 0.8))
    if rng.random() < 0.4:
        colour = tx.jitter(rng, np.array([0.2, 0.3, 0.5], np.float32), 0.08)  # denim
    hip_poly = [waist - body.across * body.hip_half, waist + body.across * body.hip_half,
                body.hips[1] + body.across * body.leg_radius, body.hips[0] - body.across * body.leg_radius]
    if rng.random() < 0.7:  # pants: long, or shorts ending above the knee
        m = fill_polygon(c.new(), hip_poly)
        shorts = rng.random() < 0.3
        reach = rng.uniform(0.3, 0.65)
        for side in (0, 1):
            hip, knee = body.hips[side], body.knees[side]
            if shorts:
                fill_limb(m, hip, hip + (knee - hip) * reach, r_hip * 1.1, r_hip * 1.05)
            else:
                fill_limb(m, hip, knee, r_hip * 1.08, r_knee * 1.1)
                fill_limb(m, knee, body.ankles[side], r_knee * 1.1, r_ankle * 1.15)
        c.paint(m, CIHP.PANTS, colour)
    else:  # skirt: a trapezoid from the waist to around the knees
        hem = body.mid_hip + body.down * body.torso_length * rng.uniform(0.45, 1.1)
        flare = body.hip_half * rng.uniform(1.1, 1.6)
        c.paint(fill_polygon(c.new(), [waist - body.across * body.hip_half, waist + body.across * body.hip_half,
                                       hem + body.across * flare, hem - body.across * flare]), CIHP.SKIRT, colour)


def _draw_arm(c: _Canvas, body: Body, side: int, skin: np.ndarray, cap: bool = False) -> None:
    """One arm. ``cap=True`` draws only the shoulder cap, which lies *under* the garment
    (a sleeve or the torso covers it; a tank top leaves it bare); the rest lies on top."""
    s, e, wr = body.shoulders[side], body.elbows[side], body.wrists[side]
    label = CIHP.RIGHT_ARM if side == 0 else CIHP.LEFT_ARM
    d = (e - s) / max(float(np.linalg.norm(e - s)), 1e-6)
    start = s + d * body.arm_radius * 0.6
    r_e = (body.arm_radius + body.forearm_radius) / 2
    if cap:
        c.paint(fill_limb(c.new(), s, start, body.arm_radius, body.arm_radius), label, skin)
        return
    m = fill_limb(c.new(), start, e, body.arm_radius, r_e)
    fill_limb(m, e, wr, r_e, body.forearm_radius * 0.8)
    hand = wr + (wr - e) / max(float(np.linalg.norm(wr - e)), 1e-6) * body.forearm_radius * 1.3
    fill_limb(m, wr, hand, body.forearm_radius * 0.9, body.forearm_radius * 0.95)
    c.paint(m, label, skin)


def _draw_head(rng: np.random.Generator, c: _Canvas, body: Body, skin: np.ndarray, xy: np.ndarray, style: str,
               hair: np.ndarray) -> None:
    """Hair behind (bob, long), ears, the face with eyes and mouth, then the hair cap (and bun) in front."""
    ax, ay = body.head_axes
    angle = float(np.degrees(np.arctan2(body.down[0], body.down[1]))) * -1
    up = -body.down
    if style in ("bob", "long"):
        fill = fill_ellipse(c.new(), body.head + body.down * ay * 0.1, (ax * 1.22, ay * 1.05), angle)
        c.paint(fill, CIHP.HAIR, hair)
    if style == "long" and rng.random() < 0.6:  # strands falling over the front, hiding some garment
        for side in [k for k in (0, 1) if rng.random() < 0.7]:
            s = SIDES[side]
            start = body.head + s * body.across * ax * 0.9 + body.down * ay * 0.1
            end = body.neck + s * body.across * body.shoulder_half * rng.uniform(0.35, 0.65) \
                + body.down * body.torso_length * rng.uniform(0.1, 0.4)
            c.paint(fill_limb(c.new(), start, end, ax * rng.uniform(0.3, 0.45), ax * rng.uniform(0.15, 0.25)),
                    CIHP.HAIR, hair)
    fp = body.face_points()
    for ear in (Body25.R_EAR, Body25.L_EAR):
        c.paint(fill_ellipse(c.new(), fp[ear], (ax * 0.16, ay * 0.22), angle), CIHP.FACE, skin * 0.95)
    c.paint(fill_ellipse(c.new(), body.head, (ax, ay), angle), CIHP.FACE, skin)
    dark = np.array([0.08, 0.06, 0.05], np.float32)
    for eye in (Body25.R_EYE, Body25.L_EYE):
        c.paint(fill_circle(c.new(), fp[eye], max(ax * 0.1, 0.8)), CIHP.FACE, dark)
    mouth = body.head + body.down * ay * 0.5
    c.paint(fill_ellipse(c.new(), mouth, (ax * 0.28, max(ay * 0.05, 0.6)), angle), CIHP.FACE, skin * 0.7)
    if style == "buzz":
        return
    # the cap: an ellipse around the skull, above a wavy hairline
    rel = xy - body.head
    along_up = rel @ up
    across = rel @ body.across
    line = ay * rng.uniform(0.2, 0.45) + ay * 0.12 * np.sin(across / ax * rng.uniform(1, 3) + rng.uniform(0, 6))
    inside = ((across / (ax * 1.1)) ** 2 + ((along_up - ay * 0.08) / (ay * 1.08)) ** 2) <= 1
    cap = inside & ((along_up > line) | ((np.abs(across) > ax * 0.82) & (along_up > -ay * (0.6 if style != "short" else 0.1))))
    c.paint(cap, CIHP.HAIR, hair)
    if style == "bun":
        c.paint(fill_circle(c.new(), body.head + up * ay * 1.1, ax * 0.45), CIHP.HAIR, hair)


def _soften_edges(image: np.ndarray, parse: np.ndarray) -> np.ndarray:
    """Anti-alias the drawing: pixels on a label boundary get the 3x3 mean of their neighbourhood.

    The parse stays exact; only the one-pixel seam between two labels is blended, as a
    camera's blur would."""
    edge = np.zeros(parse.shape, bool)
    edge[:, 1:] |= parse[:, 1:] != parse[:, :-1]
    edge[:, :-1] |= parse[:, 1:] != parse[:, :-1]
    edge[1:] |= parse[1:] != parse[:-1]
    edge[:-1] |= parse[1:] != parse[:-1]
    out = image.copy()
    out[edge] = cv2.blur(image, (3, 3))[edge]
    return out


def generate_pair(seed: int, size: tuple[int, int] = (256, 192), name: str = "000001_00.jpg") -> Pair:
    """Draw one synthetic example, a pure function of ``seed`` and ``size``.

    Args:
        seed: a non-negative integer; the same seed gives the same arrays, byte for byte.
        size: ``(H, W)`` of the person and the cloth image (VITON-HD's 4:3 keeps people in proportion).
        name: the file name the pair will carry (``name`` and ``cloth_name``; paired data).

    Returns:
        `Pair` whose person fields come from the drawing (``SYNTHETIC``) and from
        `make_agnostic` / `densepose_from_pose`, exactly as a photo's would, and whose
        ``truth`` holds the flow ``float32 (2, H, W)``, the warped cloth and its mask.
        The person and cloth images are already JPEG-decoded (quality `JPEG_QUALITY`):
        they equal what `write_dataset`'s ``.jpg`` files read back as.
    """
    return render_pair(seed, size, name).pair


def render_pair(seed: int, size: tuple[int, int] = (256, 192),
                name: str = "000001_00.jpg") -> Rendered:
    """`generate_pair`, plus the JPEG bytes the person and cloth arrays were decoded from, and what was drawn."""
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    h, w = size
    if h < 32 or w < 24:
        raise ValueError(f"size must be at least 32x24 (H x W), got {size}")
    rng = np.random.default_rng(int(seed))
    ys, xs = np.mgrid[0:h, 0:w]
    xy = np.stack([xs, ys], -1).astype(np.float64)

    # the top's length comes from a stream of its own: drawing it moved none of the older draws, so a
    # "regular" top (half of them) is the same, byte for byte, as before lengths existed
    length = sample_length(np.random.default_rng([int(seed), _LENGTH_STREAM]))
    body = sample_body(rng, size)
    kind = str(rng.choice(KINDS, p=[0.4, 0.35, 0.25]))
    template = sample_template(rng, kind, size, length.length_scale, length.hem_scale)
    cloth_f, cloth_mask, texture_kind = _draw_cloth(rng, template, size)
    cloth_jpg = encode_jpeg(_to_u8(cloth_f))
    cloth = decode_jpeg(cloth_jpg)

    gm = garment_map(rng, body, template, Fit.sample(rng, template, length))
    rgbm = np.concatenate([cloth.astype(np.float32) / 255, cloth_mask[..., None].astype(np.float32)], -1)
    sampled = bilinear_sample(rgbm, gm.q)
    warped = _to_u8(sampled[..., :3])
    warped_mask = (sampled[..., 3] > 0.5).astype(np.uint8)
    garment = warped.astype(np.float32) / 255 * _shading(rng, body, gm)[..., None]

    skin = tx.jitter(rng, tx.SKIN_TONES[rng.integers(len(tx.SKIN_TONES))], 0.04)
    hair = tx.jitter(rng, tx.HAIR_COLOURS[rng.integers(len(tx.HAIR_COLOURS))], 0.04)
    style = str(rng.choice(HAIR_STYLES))
    light = (0.95 + 0.06 * tx.smooth_noise(rng, size, (3, 3))[..., 0])[..., None]
    skin_lit = np.clip(skin * light, 0, 1)

    c = _Canvas(tx.background(rng, size))
    ax, ay = body.head_axes
    if style == "long":
        c.paint(fill_ellipse(c.new(), body.chin + body.down * ay * 0.5, (ax * 1.2, ay * 1.5)), CIHP.HAIR, hair)
    _draw_lower_body(rng, c, body, skin_lit)
    up = -body.down * body.arm_radius * 0.8
    waist = body.mid_hip - body.down * body.torso_length * 0.15
    torso = fill_polygon(c.new(), [body.shoulders[0] + up, body.shoulders[1] + up,
                                   waist + body.across * body.hip_half * 0.95, waist - body.across * body.hip_half * 0.95])
    c.paint(torso, CIHP.NECK, skin_lit)  # CIHP's torso skin is VITON-HD's neck label; arms cover the shoulders
    for side in (0, 1):
        _draw_arm(c, body, side, skin_lit, cap=True)
    c.paint(fill_limb(c.new(), body.neck, body.chin, body.neck_radius * 1.1, body.neck_radius), CIHP.NECK,
            skin_lit * 0.93)
    in_front = np.maximum(gm.sleeve_front[0], gm.sleeve_front[1]) >= 0.5
    c.paint((warped_mask == 1) & ~in_front, CIHP.UPPER_CLOTHES, garment)
    for side in gm.arm_order:
        _draw_arm(c, body, side, skin_lit)
        c.paint((warped_mask == 1) & (gm.sleeve_front[side] >= 0.5), CIHP.UPPER_CLOTHES, garment)
    _draw_head(rng, c, body, skin_lit, xy, style, hair)

    image_jpg = encode_jpeg(_to_u8(_soften_edges(c.image, c.parse)))
    image = decode_jpeg(image_jpg)
    parse = c.parse
    person_mask = (parse != CIHP.BACKGROUND).astype(np.uint8)
    fp = body.face_points()
    hidden = {k for k in (Body25.R_EAR, Body25.L_EAR)
              if not (0 <= fp[k][0] < w and 0 <= fp[k][1] < h) or parse[int(fp[k][1]), int(fp[k][0])] != CIHP.FACE}
    if abs(body.yaw) > 0.08:  # the far ear turns behind the head
        hidden.add(Body25.L_EAR if body.yaw > 0 else Body25.R_EAR)
    keypoints = body.keypoints(hidden)
    agn = make_agnostic(image, parse, keypoints)
    densepose = densepose_from_pose(keypoints, person_mask, parse)
    person = Person(
        image=image, keypoints=keypoints, person_mask=person_mask, parse=parse, densepose=densepose,
        agnostic=agn.image, agnostic_mask=agn.mask, parse_agnostic=agn.parse,
        sources={"image": Source.SYNTHETIC, "keypoints": Source.SYNTHETIC, "person_mask": Source.SYNTHETIC,
                 "parse": Source.SYNTHETIC, "densepose": Source.GEOMETRIC, "agnostic": Source.GEOMETRIC},
        notes=[f"synthetic: {kind}{'' if length.name == 'regular' else f' ({length.name})'}, arms {body.arm_pose}, "
               f"hair {style}"],
    )
    pair = Pair(name=name, cloth_name=name, person=person,
                cloth=Cloth(image=cloth, mask=cloth_mask, sources={"image": Source.SYNTHETIC, "mask": Source.SYNTHETIC}),
                truth=GroundTruth(flow=flow_from_map(gm.q), warped_cloth=warped, warped_mask=warped_mask))
    occluded = int(((warped_mask == 1) & (parse != CIHP.UPPER_CLOTHES)).sum())
    info = SampleInfo(garment=kind, texture=texture_kind, arm_pose=body.arm_pose, hair=style, occluded=occluded,
                      length=length.name)
    return Rendered(pair=pair, jpegs={"image": image_jpg, "cloth": cloth_jpg}, info=info)
