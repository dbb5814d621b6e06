"""Colours, garment textures and backgrounds for the synthetic generator.

Everything here is float32 RGB in ``[0, 1]``, shape ``(H, W, 3)``, drawn from a
`numpy.random.Generator` the caller passes in (so a sample is a pure function of
its seed).
"""
from __future__ import annotations

import colorsys

import cv2
import numpy as np

TEXTURES = ("plain", "stripes", "checks", "dots", "logo", "gradient", "noise")

SKIN_TONES = np.array([
    (255, 224, 196), (241, 194, 160), (224, 172, 135), (198, 142, 104),
    (170, 112, 78), (141, 85, 54), (110, 66, 42), (80, 50, 35),
], np.float32) / 255
HAIR_COLOURS = np.array([
    (20, 16, 14), (45, 30, 22), (85, 55, 35), (140, 95, 55), (200, 160, 100),
    (230, 205, 150), (150, 60, 30), (150, 150, 150),
], np.float32) / 255


def random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.2, 0.95),
                  val: tuple[float, float] = (0.25, 0.98)) -> np.ndarray:
    """A random RGB colour ``float32 (3,)`` from a hue, saturation and value range."""
    if rng.random() < 0.15:  # greys, black and white garments are common
        v = rng.uniform(0.08, 0.97)
        return np.full(3, v, np.float32)
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val)), np.float32)


def jitter(rng: np.random.Generator, colour: np.ndarray, amount: float = 0.05) -> np.ndarray:
    """``colour`` with a small per-channel random change, clipped to ``[0, 1]``."""
    return np.clip(colour + rng.uniform(-amount, amount, 3), 0, 1).astype(np.float32)


def smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int],
                 channels: int = 1) -> np.ndarray:
    """Low-frequency noise ``float32 (H, W, channels)`` in about ``[-1, 1]``: a random
    ``cells`` grid upsampled bicubically (smooth, no high frequencies)."""
    h, w = size
    grid = rng.uniform(-1, 1, (cells[0], cells[1], channels)).astype(np.float32)
    out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return out.reshape(h, w, channels)


def _rotated_coords(size: tuple[int, int], angle: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    return c * x + s * y, -s * x + c * y


def _bands(u: np.ndarray, period: float, duty: float) -> np.ndarray:
    """1 inside a band of ``duty * period`` pixels every ``period`` pixels, anti-aliased edges."""
    phase = np.mod(u, period)
    inside = np.maximum(np.minimum(phase, duty * period - phase), phase - period)  # < 0 outside the band
    return np.clip(inside + 0.5, 0, 1)


def garment_texture(rng: np.random.Generator, size: tuple[int, int], kind: str) -> np.ndarray:
    """A garment texture ``float32 (H, W, 3)`` in ``[0, 1]`` filling the whole frame.

    ``kind`` is one of `TEXTURES`; scales are relative to the frame height so the
    look does not change with resolution.
    """
    h, w = size
    base, other = random_colour(rng), random_colour(rng)
    if np.abs(base - other).sum() < 0.4:
        other = 1 - base
    unit = h / 256
    if kind == "plain":
        t = np.broadcast_to(base, (h, w, 3)).copy()
    elif kind in ("stripes", "checks"):
        angle = rng.choice([0.0, np.pi / 2, rng.uniform(0, np.pi)], p=[0.45, 0.35, 0.2])
        period = rng.uniform(7, 24) * unit
        u, v = _rotated_coords(size, angle)
        a = _bands(u, period, rng.uniform(0.25, 0.6))
        if kind == "checks":
            b = _bands(v, period * rng.uniform(0.8, 1.25), rng.uniform(0.3, 0.6))
            a = np.clip(0.55 * a + 0.55 * b, 0, 1) if rng.random() < 0.5 else np.abs(a - b)
        t = base * (1 - a[..., None]) + other * a[..., None]
    elif kind == "dots":
        period = rng.uniform(11, 24) * unit
        radius = period * rng.uniform(0.15, 0.35)
        u, v = _rotated_coords(size, rng.uniform(0, np.pi / 4))
        du = np.mod(u, period) - period / 2
        dv = np.mod(v + (period / 2) * (np.floor(u / period) % 2) * (rng.random() < 0.5), period) - period / 2
        a = np.clip(radius - np.sqrt(du * du + dv * dv) + 0.5, 0, 1)
        t = base * (1 - a[..., None]) + other * a[..., None]
    elif kind == "gradient":
        u, _ = _rotated_coords(size, rng.uniform(0, 2 * np.pi))
        a = (u - u.min()) / max(float(np.ptp(u)), 1e-6)
        t = base * (1 - a[..., None]) + other * a[..., None]
    elif kind == "noise":
        n = smooth_noise(rng, size, (int(rng.integers(4, 12)), int(rng.integers(3, 9))))[..., 0]
        if rng.random() < 0.5:  # camouflage-like patches
            third = random_colour(rng)
            t = np.where((n < -0.2)[..., None], base, np.where((n < 0.25)[..., None], other, third))
        else:
            a = (n + 1) / 2
            t = base * (1 - a[..., None]) + other * a[..., None]
        t = t + rng.normal(0, 0.015, (h, w, 1)).astype(np.float32)
    elif kind == "logo":
        t = np.broadcast_to(base, (h, w, 3)).copy()
    else:
        raise ValueError(f"texture kind must be one of {TEXTURES}, got {kind!r}")
    return np.clip(t, 0, 1).astype(np.float32)


_LETTERS = "ABCDEFGHKLMNPRSTVXYZ0123456789"


def draw_logo(rng: np.random.Generator, texture: np.ndarray, center: tuple[float, float], width: float) -> None:
    """Draw a print (a few letters and/or a shape) about ``width`` pixels wide at ``center``, in place."""
    colour = tuple(float(c) for c in random_colour(rng))
    cx, cy = center
    if rng.random() < 0.5:  # a shape behind or instead of text
        r = width * rng.uniform(0.2, 0.4)
        shape = rng.integers(3)
        if shape == 0:
            cv2.circle(texture, (int(cx * 16), int(cy * 16)), int(r * 16), colour, -1, cv2.LINE_AA, 4)
        elif shape == 1:
            pts = np.array([[cx - r, cy + r * 0.8], [cx + r, cy + r * 0.8], [cx, cy - r]]) * 16
            cv2.fillPoly(texture, [pts.astype(np.int32)], colour, cv2.LINE_AA, 4)
        else:
            cv2.rectangle(texture, (int((cx - r) * 16), int((cy - r * 0.6) * 16)),
                          (int((cx + r) * 16), int((cy + r * 0.6) * 16)), colour, -1, cv2.LINE_AA, 4)
        colour = tuple(float(c) for c in random_colour(rng))
    if rng.random() < 0.8:
        text = "".join(rng.choice(list(_LETTERS), int(rng.integers(2, 6))))
        font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX]))
        thick = max(1, int(round(width / 40)))
        (tw, th), _ = cv2.getTextSize(text, font, 1.0, thick)
        scale = width / max(tw, 1)
        org = (int(cx - tw * scale / 2), int(cy + th * scale / 2))
        cv2.putText(texture, text, org, font, scale, colour, thick, cv2.LINE_AA)


def background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A person-photo background ``float32 (H, W, 3)``: flat, gradient or soft noise.

    Mostly light studio greys like VITON-HD, sometimes colours."""
    h, w = size
    studio = rng.random() < 0.5
    c1 = np.full(3, rng.uniform(0.75, 0.97), np.float32) if studio else random_colour(rng, (0.05, 0.6), (0.3, 0.95))
    kind = rng.choice(["flat", "gradient", "noise"], p=[0.4, 0.35, 0.25])
    if kind == "flat":
        bg = np.broadcast_to(c1, (h, w, 3)).copy()
    elif kind == "gradient":
        c2 = jitter(rng, c1, 0.25)
        u, _ = _rotated_coords(size, rng.uniform(0, 2 * np.pi))
        a = ((u - u.min()) / max(float(np.ptp(u)), 1e-6))[..., None]
        bg = c1 * (1 - a) + c2 * a
    else:
        bg = c1 + 0.12 * smooth_noise(rng, size, (int(rng.integers(3, 8)), int(rng.integers(3, 8))), 3)
    return np.clip(bg, 0, 1).astype(np.float32)
