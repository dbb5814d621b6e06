"""Upper garments: the flat in-shop template, and the true mapping from person pixels to cloth pixels.

A garment is built in *template units* (chest half-width = 1, x to the image
right, y down, the shoulder line at y = 0), then scaled and centred into the
cloth frame. It has up to three parts, each with its own smooth mapping from
the person image to the template:

- the torso: a homography taking the person's shoulder-top and hem corners to the
  template's, followed by a cylinder foreshortening across the body;
- each sleeve: a homography per arm segment (upper arm; and forearm for long
  sleeves) taking a quad around the arm bone to the flat sleeve's quad.

The parts are composited along the arms' outlines (sleeves in front of the torso,
the arm drawn last in front): smoothly where two parts' mappings meet (seams), as
a hard step where they do not (an arm in front of the torso), so the mapping is
defined everywhere, smooth inside each part, and jumps only at occlusion edges. The person-to-cloth
map ``q(p)`` in cloth pixels becomes the flow of DESIGN.md by `flow_from_map`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vton.data.synth.body import SIDES, Body, fill_polygon, segment_distance
from vton.data.synth.texture import smooth_noise

KINDS = ("tshirt", "long_sleeve", "tank")

LENGTHS = ("cropped", "regular", "long", "tunic")
"""How far a top reaches, drawn by `sample_length` (hem below the mid-hip point, in torso lengths):
cropped -0.42..-0.28 (bare midriff); regular -0.02..0.22 (`Fit.sample`'s own draw); long 0.25..0.45
(an untucked shirt over the hips); tunic 0.45..0.75 (over the thighs, on trousers or a skirt)."""
LENGTH_P = (0.1, 0.5, 0.25, 0.15)


@dataclass(frozen=True)
class Length:
    """A top's length class and what it changes (`regular` changes nothing)."""

    name: str  # one of `LENGTHS`
    hem_drop: float | None = None  # replaces `Fit.hem_drop` (None: keep the fit's own draw)
    length_scale: float = 1.0  # the flat template's shoulder-to-hem length, times this
    hem_scale: float = 1.0  # the flat template's hem half-width, times this
    hem_flare: float = 1.05  # the hem on the body is at least this x the hip half-width


def sample_length(rng: np.random.Generator) -> Length:
    """A top's `Length`, from a random stream of its own (see `render.render_pair`), so adding lengths
    moved none of the generator's older draws: a `regular` top is drawn as before, byte for byte."""
    name = str(rng.choice(LENGTHS, p=LENGTH_P))
    if name == "regular":
        return Length(name)
    lo, hi = {"cropped": (-0.42, -0.28), "long": (0.25, 0.45), "tunic": (0.45, 0.75)}[name]
    drop = float(rng.uniform(lo, hi))
    # the flat garment is as much longer (shorter) as the hem is lower (higher) than a regular one's
    scale = (1 + drop) / 1.1
    flare = 1.05 if name == "cropped" else float(rng.uniform(1.15, 1.3) if name == "long" else rng.uniform(1.25, 1.45))
    return Length(name, hem_drop=drop, length_scale=scale, hem_scale=1.0 if name == "cropped" else flare / 1.1,
                  hem_flare=flare)


@dataclass
class Sleeve:
    """A flat sleeve in template units: seam from ``top`` (shoulder) to ``bottom`` (armpit),
    axis ``axis`` (unit), ``length`` along it, ``end_half`` half-width at the cuff."""

    top: np.ndarray
    bottom: np.ndarray
    axis: np.ndarray
    length: float
    end_half: float

    def quad(self, t0: float = 0.0, t1: float = 1.0) -> np.ndarray:
        """The flat quad ``[top, top-end, bottom-end, bottom]`` of the piece between fractions t0 and t1.

        The whole sleeve (0 to 1) runs from the seam to the cuff, whose edge is square to
        the axis; a piece's corners lie on the sleeve's straight side edges, so pieces tile it.
        """
        mid = (self.top + self.bottom) / 2
        cuff = mid + self.axis * self.length
        n_out = _outer_normal(self.axis, self.top - mid)
        cuff_top, cuff_bottom = cuff + n_out * self.end_half, cuff - n_out * self.end_half
        top = [self.top * (1 - t) + cuff_top * t for t in (t0, t1)]
        bottom = [self.bottom * (1 - t) + cuff_bottom * t for t in (t0, t1)]
        return np.array([top[0], top[1], bottom[1], bottom[0]], np.float64)


@dataclass
class Template:
    """A flat garment in template units, and how it sits in the cloth frame."""

    kind: str
    outline: np.ndarray  # (K, 2) torso polygon, template units
    neckline: np.ndarray  # (K, 2) polygon cut out of the torso
    sleeves: list[Sleeve]  # [right, left] or empty
    torso_quad: np.ndarray  # (4, 2) [shoulder R, shoulder L, hem L, hem R] anchors of the torso mapping
    hem_half: float
    length: float  # shoulder line to hem
    scale: float = 1.0  # template unit -> cloth pixels
    offset: np.ndarray = field(default_factory=lambda: np.zeros(2))  # cloth pixel of template (0, 0)

    def to_pixels(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p) * self.scale + self.offset

    def polygons(self) -> list[np.ndarray]:
        """The garment's filled polygons (torso, sleeves) in cloth pixels (the neckline is cut separately)."""
        polys = [self.to_pixels(self.outline)]
        polys += [self.to_pixels(s.quad()) for s in self.sleeves]
        return polys


def _outer_normal(axis: np.ndarray, towards: np.ndarray) -> np.ndarray:
    n = np.array([-axis[1], axis[0]])
    return n if float(n @ towards) >= 0 else -n


def _arc(center, rx, ry, a0, a1, n=12) -> np.ndarray:
    t = np.linspace(np.deg2rad(a0), np.deg2rad(a1), n)
    return np.stack([center[0] + rx * np.cos(t), center[1] + ry * np.sin(t)], 1)


def sample_template(rng: np.random.Generator, kind: str, size: tuple[int, int], length_scale: float = 1.0,
                    hem_scale: float = 1.0) -> Template:
    """A random flat garment of ``kind`` fitted into a cloth frame of ``size`` (H, W); its shoulder-to-hem
    length and hem width are the drawn ones times ``length_scale`` / ``hem_scale`` (`Length`)."""
    if kind not in KINDS:
        raise ValueError(f"garment kind must be one of {KINDS}, got {kind!r}")
    h, w = size
    neck_half = rng.uniform(0.3, 0.42)
    slope = rng.uniform(0.08, 0.2)
    base_length = rng.uniform(2.3, 2.8)  # a regular top's; a long sleeve is measured on it
    length = base_length * length_scale
    hem_half = rng.uniform(0.95, 1.05) * hem_scale
    armpit = rng.uniform(0.5, 0.65)
    if kind == "tank":
        strap = rng.uniform(0.18, 0.3)
        s_x = neck_half + strap
        depth = rng.uniform(0.45, 0.85)
        right = [(-neck_half, -slope), (-s_x, -slope * 0.6)]
        right += [tuple(p) for p in _arc((-1.0, -slope * 0.6), 1.0 - s_x, armpit + slope * 0.6 + 0.1, 0, 90)[1:-1]]
        right += [(-1.0, armpit + 0.1)]
    else:
        depth = rng.uniform(0.15, 0.3) if rng.random() < 0.7 else rng.uniform(0.4, 0.65)
        right = [(-neck_half, -slope), (-1.0, 0.0), (-1.0, armpit)]
    right = np.array(right, np.float64)
    left = right[::-1] * [-1, 1]
    hem = np.array([[-hem_half, length], [hem_half, length]])
    outline = np.concatenate([right, hem, left])
    if depth > 0.38 and kind != "tank" and rng.random() < 0.6:  # v-neck
        neckline = np.array([[-neck_half, -slope - 0.3], [-neck_half, -slope], [0.0, depth], [neck_half, -slope],
                             [neck_half, -slope - 0.3]])
    else:
        neckline = np.concatenate([[[neck_half, -slope - 0.3]],
                                   _arc((0.0, -slope), neck_half, depth + slope * 0.2, 0, 180),
                                   [[-neck_half, -slope - 0.3]]])
    sleeves = []
    if kind != "tank":
        long_ = kind == "long_sleeve"
        angle = rng.uniform(22, 38) if long_ else rng.uniform(45, 68)  # from straight down
        sl = rng.uniform(0.85, 1.0) * base_length if long_ else rng.uniform(0.45, 0.75)
        end_half = armpit / 2 * (rng.uniform(0.45, 0.6) if long_ else rng.uniform(0.75, 0.95))
        for s in SIDES:
            a = np.deg2rad(angle)
            axis = np.array([s * np.sin(a), np.cos(a)])
            top, bottom = np.array([s * 1.0, 0.0]), np.array([s * 1.0, armpit])
            sleeves.append(Sleeve(top=top, bottom=bottom, axis=axis, length=sl, end_half=end_half))
    t = Template(kind=kind, outline=outline, neckline=neckline, sleeves=sleeves,
                 torso_quad=np.array([[-1.0, 0.0], [1.0, 0.0], [hem_half, length], [-hem_half, length]]),
                 hem_half=hem_half, length=length)
    # fit into the frame: scale the bounding box to ~80-90% of the frame, centred
    pts = np.concatenate(t.polygons() + [neckline[1:-1]])
    lo, hi = pts.min(0), pts.max(0)
    scale = min(0.9 * w / (hi[0] - lo[0]), 0.88 * h / (hi[1] - lo[1])) * rng.uniform(0.86, 1.0)
    t.scale = float(scale)
    t.offset = np.array([w / 2, h / 2]) - (lo + hi) / 2 * scale + rng.uniform(-0.015, 0.015, 2) * [w, h]
    return t


def template_mask(t: Template, size: tuple[int, int]) -> np.ndarray:
    """The flat garment's mask ``uint8 (H, W)`` in the cloth frame."""
    mask = np.zeros(size, np.uint8)
    for poly in t.polygons():
        fill_polygon(mask, poly)
    cut = np.zeros(size, np.uint8)
    fill_polygon(cut, t.to_pixels(t.neckline))
    mask[cut == 1] = 0
    return mask


# ----------------------------------------------------------------------------- the mapping


def _apply_homography(m: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homography to points ``(..., 2)``; the denominator is kept positive."""
    x, y = xy[..., 0], xy[..., 1]
    den = m[2, 0] * x + m[2, 1] * y + m[2, 2]
    den = np.where(den > 0, np.maximum(den, 1e-2), np.minimum(den, -1e-2))
    return np.stack([(m[0, 0] * x + m[0, 1] * y + m[0, 2]) / den, (m[1, 0] * x + m[1, 1] * y + m[1, 2]) / den], -1)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)).astype(np.float64)


_SEAM = 0.06
"""Template units within which two part mappings count as meeting at a seam (see `_blend_weight`)."""


def _blend_weight(inside: np.ndarray, gap: np.ndarray, soft: float = 0.6) -> np.ndarray:
    """How much of a sleeve piece's mapping a pixel takes, from its signed distance
    ``inside`` to the piece's outline (pixels, > 0 inside) and the ``gap`` (template units)
    between the piece's mapping and the one beneath.

    Where the two mappings meet (a seam: small gap) the switch is a smooth sigmoid
    over about a pixel; where they do not (an arm in front of the torso: a large gap)
    it is a hard step, so no pixel samples a point between two parts of the flat garment.
    Mixing error is at most ``_SEAM / 4`` template units.
    """
    smooth = 0.5 * (1 + np.tanh(0.5 * inside / soft))
    hard = (inside >= 0).astype(np.float64)
    near = np.clip(1 - gap / _SEAM, 0, 1)
    return near * smooth + (1 - near) * hard


@dataclass
class Fit:
    """How a garment sits on a body: the person-side anchors and the deformation knobs."""

    hem_drop: float  # hem below the mid-hip, in torso lengths
    hem_width: float  # hem half-width relative to the shoulder-top half width
    cylinder: float  # 0..0.35: foreshortening of the cloth towards the body's sides
    wobble: float  # amplitude of the low-frequency deformation, in cloth pixels
    sleeve_reach: float  # short sleeve: fraction of the upper arm it covers
    sleeve_loose: float  # sleeve radius / arm radius
    hem_flare: float = 1.05  # the hem half-width on the body is at least this x the hip half-width

    @staticmethod
    def sample(rng: np.random.Generator, t: Template, length: Length | None = None) -> "Fit":
        """Draw a fit; a `Length` other than regular then sets the hem (the same draws are made either way)."""
        fit = Fit(hem_drop=rng.uniform(-0.02, 0.22), hem_width=t.hem_half * rng.uniform(0.75, 0.98),
                  cylinder=rng.uniform(0.0, 0.3), wobble=rng.uniform(0.0, 0.035) * t.scale * 2,
                  sleeve_reach=rng.uniform(0.35, 0.7), sleeve_loose=rng.uniform(1.08, 1.3))
        if length is not None and length.hem_drop is not None:
            fit.hem_drop, fit.hem_flare = length.hem_drop, length.hem_flare
        return fit


@dataclass
class GarmentMap:
    """The person-to-cloth mapping of one garment on one body."""

    q: np.ndarray  # float32 (H, W, 2): cloth pixel (x, y) seen at each person pixel
    sleeve_front: list[np.ndarray]  # per side (right, left), float32 (H, W) {0, 1}: 1 where that sleeve is in front
    arm_order: tuple[int, int]


def _torso_map(body: Body, t: Template, fit: Fit, xy: np.ndarray) -> np.ndarray:
    s_r, s_l = body.shoulder_top(0), body.shoulder_top(1)
    half = float(np.linalg.norm(s_l - s_r)) / 2
    hem_c = body.mid_hip + body.down * fit.hem_drop * body.torso_length
    hem_half = max(body.hip_half * fit.hem_flare, half * fit.hem_width)
    person = np.array([s_r, s_l, hem_c + body.across * hem_half, hem_c - body.across * hem_half])
    u = _apply_homography(_homography(person, t.torso_quad), xy)  # template units
    # cylinder: the cloth is foreshortened towards the sides of the body (fixed points 0 and +-1)
    frac = np.clip(u[..., 1] / t.length, 0, 1)
    half_w = 1.0 + (t.hem_half - 1.0) * frac
    x = u[..., 0] / half_w
    x = x + fit.cylinder * (x ** 3 - x) * np.exp(-np.maximum(np.abs(x) - 1, 0) * 2)
    u[..., 0] = x * half_w
    for side in range(len(t.sleeves)):
        u = _fold_into_wedge(u, t, side)
    return u


def _fold_into_wedge(u: np.ndarray, t: Template, side: int) -> np.ndarray:
    """Send the torso mapping's extension beyond one side seam into the empty wedge under the sleeve.

    Seen from the armpit ``A``, the flat sleeve starts ``wedge`` radians from the torso's
    side (``A`` to the hem). A point outside the side at angle ``phi`` goes to angle
    ``c (1 - exp(-phi / c))`` (``c = wedge / 2``, the wedge's middle) at the same distance: identical to
    first order at the seam, and never onto the sleeve, so the torso part cannot paint
    a second sleeve beside the body.
    """
    s = SIDES[side]
    a = t.sleeves[side].bottom
    down = np.array([s * t.hem_half, t.length]) - a
    down = down / np.linalg.norm(down)
    quad = t.sleeves[side].quad()
    edge = quad[2] - quad[3]  # the sleeve's lower edge, from the armpit to the cuff
    wedge = float(np.arccos(np.clip(edge @ down / np.linalg.norm(edge), -1, 1)))
    c = 0.5 * wedge
    out = np.array([-down[1], down[0]])
    out = out if out[0] * s > 0 else -out
    v = u - a
    v_out = v @ out
    hit = v_out > 0  # outside the side line
    if not hit.any():
        return u
    v_out, v_down = v_out[hit], v[hit] @ down
    phi = np.arctan2(v_out, v_down)
    r = np.hypot(v_out, v_down)
    folded = c * (1 - np.exp(-phi / c))
    u = u.copy()
    u[hit] = a + r[:, None] * (np.cos(folded)[:, None] * down + np.sin(folded)[:, None] * out)
    return u


def _sleeve_pieces(body: Body, t: Template, fit: Fit, side: int) -> list["_Piece"]:
    """The pieces of one sleeve: the upper arm, and the forearm for long sleeves.

    Each piece's person quad is a little wider (`_QUAD_WIDEN`) than the capsule where
    it is in front, so the sleeve's outline on the body is the capsule's (the arm's,
    loosened), and the flat sleeve's own side edges fall just outside it.
    """
    sl = t.sleeves[side]
    s, e, wr = body.shoulders[side], body.elbows[side], body.wrists[side]
    d1 = (e - s) / np.linalg.norm(e - s)
    n1 = _outer_normal(d1, SIDES[side] * body.across)
    r_s = body.arm_radius * fit.sleeve_loose
    r_e = (body.arm_radius + body.forearm_radius) / 2 * fit.sleeve_loose
    k = _QUAD_WIDEN
    seam = s - d1 * r_s * 0.3
    if t.kind != "long_sleeve":
        c = s + d1 * fit.sleeve_reach * float(np.linalg.norm(e - s))
        r_c = r_s + (r_e - r_s) * fit.sleeve_reach
        person = np.array([seam + n1 * r_s * k, c + n1 * r_c * k, c - n1 * r_c * k, seam - n1 * r_s * k])
        return [_Piece(person, sl.quad(0, 1), s + d1 * r_s * 0.25, c, r_s, r_c)]
    upper_len, fore_len = float(np.linalg.norm(e - s)), float(np.linalg.norm(wr - e))
    split = upper_len / (upper_len + fore_len * 0.95)
    d2 = (wr - e) / np.linalg.norm(wr - e)
    n2 = _outer_normal(d2, n1) if float(d2 @ d1) > -0.5 else _outer_normal(d2, SIDES[side] * body.across)
    cuff = e + d2 * fore_len * 0.95
    r_c = body.forearm_radius * fit.sleeve_loose * 1.05
    upper = np.array([seam + n1 * r_s * k, e + n1 * r_e * k, e - n1 * r_e * k, seam - n1 * r_s * k])
    lower = np.array([e + n2 * r_e * k, cuff + n2 * r_c * k, cuff - n2 * r_c * k, e - n2 * r_e * k])
    return [_Piece(upper, sl.quad(0, split), s + d1 * r_s * 0.25, e, r_s, r_e),
            _Piece(lower, sl.quad(split, 1), e, cuff, r_e, r_c)]


_QUAD_WIDEN = 1.15


@dataclass
class _Piece:
    """One sleeve piece: person quad -> flat quad, in front inside the tapered capsule ``a``-``b``."""

    person: np.ndarray  # (4, 2) person pixels [top, top-end, bottom-end, bottom]
    flat: np.ndarray  # (4, 2) template units, same order
    a: np.ndarray
    b: np.ndarray
    radius_a: float
    radius_b: float


def garment_map(rng: np.random.Generator, body: Body, t: Template, fit: Fit) -> GarmentMap:
    """The smooth person-to-cloth map of garment ``t`` worn by ``body`` (see module docstring)."""
    h, w = body.size
    ys, xs = np.mgrid[0:h, 0:w]
    xy = np.stack([xs, ys], -1).astype(np.float64)
    u = _torso_map(body, t, fit, xy)
    fronts = [np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)]
    for side in body.arm_order:
        if not t.sleeves:
            break
        pieces = _sleeve_pieces(body, t, fit, side)
        for i, pc in enumerate(pieces):
            dist, along = segment_distance(xy, pc.a, pc.b)
            inside = pc.radius_a + (pc.radius_b - pc.radius_a) * np.clip(along, 0, 1) - dist  # > 0 in the capsule
            if i == len(pieces) - 1:  # past the cuff the arm is skin: give it back to the torso mapping
                inside = np.minimum(inside, (1 - along) * float(np.linalg.norm(pc.b - pc.a)) + 1.5)
            piece = _apply_homography(_homography(pc.person, pc.flat), xy)
            u = u + _blend_weight(inside, np.linalg.norm(piece - u, axis=-1))[..., None] * (piece - u)
            front = (inside >= 0).astype(np.float32)
            fronts[side] = np.maximum(fronts[side], front)
            for other in (0, 1):  # a sleeve in front hides the other sleeve behind it
                if other != side:
                    fronts[other] = fronts[other] * (1 - front)
    q = t.to_pixels(u)
    if fit.wobble > 0:
        q = q + fit.wobble * smooth_noise(rng, (h, w), (4, 3), 2)
    q[..., 0] = np.clip(q[..., 0], 0, w - 1)
    q[..., 1] = np.clip(q[..., 1], 0, h - 1)
    return GarmentMap(q=q.astype(np.float32), sleeve_front=fronts, arm_order=body.arm_order)


# ----------------------------------------------------------------------------- sampling and flow


def flow_from_map(q: np.ndarray) -> np.ndarray:
    """Cloth pixel coordinates ``q (H, W, 2)`` -> DESIGN.md flow ``float32 (2, H, W)``.

    With ``align_corners=False`` pixel ``j`` has normalized coordinate ``(2j + 1) / W - 1``,
    so the offset to cloth pixel ``q`` is ``2 (q - j) / W``.
    """
    h, w = q.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([2 * (q[..., 0] - xs) / w, 2 * (q[..., 1] - ys) / h]).astype(np.float32)


def bilinear_sample(image: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Sample ``image (H, W, C)`` float at pixel coordinates ``q (H', W', 2)`` like
    ``grid_sample(mode="bilinear", padding_mode="zeros", align_corners=False)``."""
    h, w = image.shape[:2]
    channels = image.shape[2]
    x, y = q[..., 0].astype(np.float32), q[..., 1].astype(np.float32)
    x0, y0 = np.floor(x), np.floor(y)
    wx, wy = x - x0, y - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    flat = image.reshape(h * w, channels)
    out = np.zeros(q.shape[:2] + (channels,), np.float32)
    for dy, fy in ((0, 1 - wy), (1, wy)):
        for dx, fx in ((0, 1 - wx), (1, wx)):
            xi, yi = x0 + dx, y0 + dy
            weight = fx * fy * ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h))  # zeros padding
            index = np.clip(yi, 0, h - 1) * w + np.clip(xi, 0, w - 1)
            out += np.take(flat, index, axis=0) * weight[..., None]
    return out
