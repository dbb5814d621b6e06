"""Pictures of intermediate outputs: pure numpy / OpenCV / plotly, no Streamlit.

Every function takes the project's boundary types (`vton.types`): images are
``uint8 (H, W, 3)`` RGB, masks ``uint8 (H, W)`` in {0, 1}, flows ``float (2, h, w)``
in normalized grid units (channel 0 is x, 1 is y, ``warped(p) = cloth(p + flow(p))``
with ``align_corners=False``), keypoints BODY_25 ``(25, 3)``. Images come back as
``uint8 (H, W, 3)``; charts as ``plotly.graph_objects.Figure``.

Flow pictures measure offsets in *pixels of a reference size* (the full-resolution
image), so a colour or an arrow means the same displacement at every scale of the
pyramid: pass one ``max_pixels`` (see `flow_max_pixels`) to every `flow_to_color`.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np
import plotly.graph_objects as go
from PIL import Image

from vton.types import BODY25_EDGES, CIHP, CIHP_PALETTE, Body25, Size, check_image, check_keypoints

# ----------------------------------------------------------------------------- helpers


def _check_flow(flow: np.ndarray) -> np.ndarray:
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim == 4 and flow.shape[0] == 1:
        flow = flow[0]
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow must be (2, H, W) normalized offsets (x, y), got shape {flow.shape}")
    return flow


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an ``uint8`` image (``(H, W, 3)`` RGB or ``(H, W)`` grey) as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def _data_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def resize(image: np.ndarray, size: Size, nearest: bool = False) -> np.ndarray:
    """Resize an image, mask or label map to ``size`` (H, W)."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA if image.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def mask_to_image(mask: np.ndarray) -> np.ndarray:
    """A {0, 1} mask as a black-and-white ``uint8 (H, W, 3)`` image."""
    m = (np.asarray(mask) > 0).astype(np.uint8) * 255
    return np.repeat(m[..., None], 3, axis=2)


# ----------------------------------------------------------------------------- flows


def flow_to_pixels(flow: np.ndarray, size: Size) -> np.ndarray:
    """Normalized offsets ``(2, h, w)`` -> offsets in pixels of an image of ``size`` (H, W).

    With ``align_corners=False`` the normalized range [-1, 1] spans W pixels in x and
    H pixels in y, so one unit is ``W / 2`` pixels in x and ``H / 2`` in y.
    """
    flow = _check_flow(flow)
    h, w = size
    return flow * np.array([w / 2.0, h / 2.0], dtype=np.float32).reshape(2, 1, 1)


def flow_max_pixels(flows: Iterable[np.ndarray], size: Size) -> float:
    """The largest offset length, in pixels of ``size``, over several flows (one colour scale for all)."""
    best = 0.0
    for f in flows:
        px = flow_to_pixels(f, size)
        best = max(best, float(np.sqrt((px**2).sum(0)).max(initial=0.0)))
    return best


def flow_to_color(flow: np.ndarray, size: Size, max_pixels: float | None = None) -> np.ndarray:
    """Colour-wheel picture of a flow: hue = direction, saturation = length / ``max_pixels``.

    ``size`` is the reference image size the offsets are measured in; the picture has
    the flow's own resolution. White means no motion; a fully saturated colour means
    an offset of ``max_pixels`` (or more). Use one ``max_pixels`` for every scale so
    colours compare.
    """
    px = flow_to_pixels(flow, size)
    dx, dy = px[0], px[1]
    mag = np.sqrt(dx**2 + dy**2)
    if max_pixels is None:
        max_pixels = float(mag.max(initial=0.0))
    angle = (np.degrees(np.arctan2(dy, dx)) % 360.0) / 2.0  # OpenCV hue is 0..180
    sat = np.clip(mag / max(max_pixels, 1e-6), 0.0, 1.0)
    hsv = np.stack([angle, sat * 255.0, np.full_like(sat, 255.0)], axis=-1).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def color_wheel(diameter: int = 96) -> np.ndarray:
    """The key of `flow_to_color`: a disc whose rim is ``max_pixels`` in each direction (y down)."""
    r = diameter / 2.0
    yy, xx = np.mgrid[0:diameter, 0:diameter].astype(np.float32) + 0.5
    dx, dy = (xx - r) / r, (yy - r) / r
    flow = np.stack([dx, dy])  # normalized with size (2, 2): 1 unit = 1 pixel
    img = flow_to_color(flow, (2, 2), max_pixels=1.0)
    img[dx**2 + dy**2 > 1.0] = 255
    return img


def warp_image(image: np.ndarray, flow: np.ndarray, nearest: bool = False, padding: str = "zeros") -> np.ndarray:
    """Sample ``image`` at ``p + flow(p)`` (the flow convention); the flow is resized to the image first.

    Numpy twin of ``grid_sample(align_corners=False)`` for pictures; ``padding`` is ``"zeros"`` or
    ``"border"`` as in ``grid_sample`` (the warper pads the cloth with its border, the mask with zeros).
    """
    if padding not in ("zeros", "border"):
        raise ValueError(f"padding must be 'zeros' or 'border', got {padding!r}")
    h, w = image.shape[:2]
    flow = _check_flow(flow)
    if flow.shape[1:] != (h, w):  # normalized units: resize values unchanged
        flow = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in flow])
    px = flow_to_pixels(flow, (h, w))
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    border = cv2.BORDER_CONSTANT if padding == "zeros" else cv2.BORDER_REPLICATE
    return cv2.remap(image, xs + px[0], ys + px[1], interp, borderMode=border, borderValue=0)


def deformed_grid(
    image: np.ndarray,
    flow: np.ndarray,
    spacing: int = 12,
    color: tuple[int, int, int] = (255, 0, 255),
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """A regular grid on the cloth, carried by the flow, drawn over ``image`` (e.g. the person).

    Straight, evenly spaced lines mean a rigid move; bunched or crossing lines show
    compression and folds. ``mask`` (optional, image size) limits the grid to the warped cloth.
    """
    check_image(image)
    h, w = image.shape[:2]
    grid = np.zeros((h, w), np.uint8)
    grid[::spacing, :] = 255
    grid[:, ::spacing] = 255
    warped = warp_image(grid, flow) > 96
    if mask is not None:
        warped &= resize(np.asarray(mask, np.uint8), (h, w), nearest=True) > 0
    out = image.copy()
    out[warped] = color
    return out


def overlay_mask(
    image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (255, 0, 0), opacity: float = 0.5
) -> np.ndarray:
    """Tint ``image`` with ``color`` where ``mask`` is set; ``opacity`` in [0, 1]."""
    check_image(image)
    m = resize(np.asarray(mask, np.uint8), image.shape[:2], nearest=True) > 0
    out = image.astype(np.float32)
    out[m] = (1 - opacity) * out[m] + opacity * np.asarray(color, np.float32)
    return out.round().astype(np.uint8)


GARMENT_LABELS = (CIHP.UPPER_CLOTHES, CIHP.DRESS, CIHP.COAT)
"""The labels of the garment a try-on replaces (what the agnostic mask must hide)."""
MISS_COLOUR = (255, 220, 0)
"""Warning yellow: true garment pixels the agnostic mask leaves visible."""


@dataclass(frozen=True)
class MaskMisses:
    """`agnostic_misses`'s picture and numbers."""

    image: np.ndarray  # uint8 (H, W, 3): the mask tinted on the photo, the misses painted over it
    missed: np.ndarray  # uint8 (H, W) {0, 1}: true garment pixels outside the agnostic mask
    share: float  # missed / true garment pixels (0.0 when the truth shows no garment)
    garment_pixels: int  # true garment pixels


def agnostic_misses(image: np.ndarray, agnostic_mask: np.ndarray, true_parse: np.ndarray,
                    color: tuple[int, int, int] = (255, 0, 128), opacity: float = 0.5,
                    miss_color: tuple[int, int, int] = MISS_COLOUR) -> MaskMisses:
    """The agnostic mask on the photo, with the true garment pixels it leaves visible drawn over it.

    A pixel the try-on cannot repaint keeps a strip of the old garment in every result; this makes
    such a miss visible on a pair with ground truth (a synthetic pair's drawn parse, a dataset's
    ``image-parse-v3``).

    Args:
        image: ``uint8 (H, W, 3)`` the person photo.
        agnostic_mask: ``uint8 (H, W) {0, 1}``: 1 where the try-on repaints (resized, nearest, if needed).
        true_parse: ``uint8 (H, W)`` CIHP labels of the truth; `GARMENT_LABELS` are the garment.
        color, opacity: the mask's tint; ``miss_color``: the misses, painted opaque.

    Example:
        >>> m = agnostic_misses(person.image, person.agnostic_mask, pair.person.parse)
        >>> f"{m.share:.1%} of the garment stays visible"
    """
    check_image(image)
    size = image.shape[:2]
    mask = resize(np.asarray(agnostic_mask, np.uint8), size, nearest=True) > 0
    garment = np.isin(resize(np.asarray(true_parse, np.uint8), size, nearest=True), GARMENT_LABELS)
    missed = garment & ~mask
    out = overlay_mask(image, mask.astype(np.uint8), color, opacity)
    out[missed] = miss_color
    total = int(garment.sum())
    return MaskMisses(image=out, missed=missed.astype(np.uint8), share=float(missed.sum()) / total if total else 0.0,
                      garment_pixels=total)


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) * a + alpha * b`` for two images of one size."""
    if a.shape != b.shape:
        raise ValueError(f"blend needs images of one shape, got {a.shape} and {b.shape}")
    return ((1 - alpha) * a.astype(np.float32) + alpha * b.astype(np.float32)).round().astype(np.uint8)


def heatmap(values: np.ndarray, vmax: float | None = None, colormap: int = cv2.COLORMAP_INFERNO) -> np.ndarray:
    """A non-negative ``(H, W)`` float map as a colour image, 0 black .. ``vmax`` bright."""
    v = np.asarray(values, dtype=np.float32)
    vmax = float(v.max(initial=0.0)) if vmax is None else vmax
    scaled = np.clip(v / max(vmax, 1e-6), 0, 1) * 255
    return cv2.cvtColor(cv2.applyColorMap(scaled.astype(np.uint8), colormap), cv2.COLOR_BGR2RGB)


def magnitude_histogram(flows: dict[str, np.ndarray], size: Size, bins: int = 40) -> go.Figure:
    """Histogram of offset lengths (pixels of ``size``), one trace per named flow (e.g. per scale)."""
    fig = go.Figure()
    for name, f in flows.items():
        px = flow_to_pixels(f, size)
        mag = np.sqrt((px**2).sum(0)).ravel()
        fig.add_trace(go.Histogram(x=mag, name=name, nbinsx=bins, opacity=0.6, histnorm="percent"))
    fig.update_layout(
        barmode="overlay", xaxis_title=f"offset length (px at {size[0]}x{size[1]})", yaxis_title="% of pixels",
        height=320, margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    )
    return fig


def quiver_figure(
    flow: np.ndarray,
    size: Size,
    background: np.ndarray | None = None,
    max_arrows: int = 24,
    mask: np.ndarray | None = None,
    title: str | None = None,
) -> go.Figure:
    """Arrows of a flow (subsampled to about ``max_arrows`` per side) over an image of ``size``.

    An arrow at person pixel p points to where p samples the cloth, ``p + flow(p)``;
    hovering shows p and the offset in pixels. Arrows are drawn longer than the
    offsets when those are short next to the arrow spacing (the title says by how
    much); the hover values are always the true offsets. ``mask`` (image size) keeps
    only arrows inside it (e.g. the warped cloth).
    """
    flow = _check_flow(flow)
    h, w = size
    fh, fw = flow.shape[1:]
    step = max(1, int(np.ceil(max(fh, fw) / max_arrows)))
    ys = np.arange(step // 2, fh, step)
    xs = np.arange(step // 2, fw, step)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    px = flow_to_pixels(flow, size)
    # flow cell centre -> image pixel coordinates
    x0 = (gx + 0.5) * w / fw - 0.5
    y0 = (gy + 0.5) * h / fh - 0.5
    dx, dy = px[0][gy, gx], px[1][gy, gx]
    keep = np.ones_like(x0, bool)
    if mask is not None:
        m = np.asarray(mask) > 0
        keep &= m[np.clip(y0.round().astype(int), 0, h - 1), np.clip(x0.round().astype(int), 0, w - 1)]
    x0, y0, dx, dy = x0[keep], y0[keep], dx[keep], dy[keep]
    spacing = step * max(h / fh, w / fw)  # image pixels between neighbouring arrows
    longest = float(np.sqrt(dx**2 + dy**2).max(initial=0.0))
    scale = max(1.0, 0.9 * spacing / longest) if longest > 1e-6 else 1.0
    if scale > 1.0:
        title = f"{title} (arrows x{scale:.1f})" if title else f"arrows x{scale:.1f}"
    fig = go.Figure()
    if background is not None:
        fig.add_trace(go.Image(source=_data_uri(resize(background, size)), hoverinfo="skip"))
    # shafts as one trace with gaps, heads as markers at the tips
    lx = np.stack([x0, x0 + scale * dx, np.full_like(x0, np.nan)], 1).ravel()
    ly = np.stack([y0, y0 + scale * dy, np.full_like(y0, np.nan)], 1).ravel()
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color="#00e5ff", width=1.5), hoverinfo="skip",
                             showlegend=False))
    angle = np.degrees(np.arctan2(dx, -dy))  # plotly's arrow marker points up; y axis is flipped
    fig.add_trace(go.Scatter(
        x=x0 + scale * dx, y=y0 + scale * dy, mode="markers",
        marker=dict(symbol="arrow", size=7, angle=angle, color="#00e5ff"), hoverinfo="skip", showlegend=False,
    ))
    fig.add_trace(go.Scatter(
        x=x0, y=y0, mode="markers", marker=dict(size=4, color="#ffea00"), showlegend=False,
        customdata=np.stack([dx, dy, np.sqrt(dx**2 + dy**2)], 1),
        hovertemplate="pixel (%{x:.0f}, %{y:.0f})<br>offset dx=%{customdata[0]:.1f} px, "
                      "dy=%{customdata[1]:.1f} px<br>|d|=%{customdata[2]:.1f} px<extra></extra>",
    ))
    _image_axes(fig, size, title)
    return fig


def _image_axes(fig: go.Figure, size: Size, title: str | None, height: int = 420) -> None:
    h, w = size
    fig.update_xaxes(range=[-0.5, w - 0.5], showgrid=False, zeroline=False, visible=False)
    fig.update_yaxes(range=[h - 0.5, -0.5], showgrid=False, zeroline=False, visible=False,
                     scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0), title=title,
                      plot_bgcolor="rgba(0,0,0,0)")


# ----------------------------------------------------------------------------- people


@dataclass(frozen=True)
class LegendEntry:
    """One row of a parse-map legend."""

    label: int
    name: str
    color: str  # "#rrggbb"
    fraction: float  # share of the pixels with this label


def colorize_parse(parse: np.ndarray) -> np.ndarray:
    """CIHP labels ``uint8 (H, W)`` -> ``uint8 (H, W, 3)`` with VITON-HD's palette."""
    parse = np.asarray(parse)
    if parse.ndim != 2:
        raise ValueError(f"parse map must be (H, W) labels, got shape {parse.shape}")
    if parse.size and int(parse.max()) >= len(CIHP_PALETTE):
        raise ValueError(f"parse map has label {int(parse.max())}; CIHP labels are 0..{len(CIHP_PALETTE) - 1}")
    return np.asarray(CIHP_PALETTE, dtype=np.uint8)[parse]


def parse_legend(parse: np.ndarray) -> list[LegendEntry]:
    """The labels present in a parse map, with their palette colour and pixel share."""
    counts = np.bincount(np.asarray(parse).ravel(), minlength=len(CIHP))
    total = max(int(counts.sum()), 1)
    return [
        LegendEntry(int(i), CIHP(i).name.lower().replace("_", " "), "#%02x%02x%02x" % CIHP_PALETTE[i], counts[i] / total)
        for i in range(len(CIHP)) if counts[i]
    ]


def skeleton_figure(
    image: np.ndarray, keypoints: np.ndarray, min_confidence: float = 0.05, opacity: float = 1.0, height: int = 520,
    detected: np.ndarray | None = None,
) -> go.Figure:
    """The photo with its BODY_25 skeleton; hovering a joint shows its name, position and confidence.

    Joints with confidence below ``min_confidence`` (missing ones are ``(0, 0, 0)``) are not drawn.
    ``detected`` (the detector's own positions, `Person.detected_keypoints`) adds a hollow ring
    where each moved joint was found and a thin line to where it was moved.
    """
    check_image(image)
    kp = check_keypoints(keypoints)
    size = image.shape[:2]
    fig = go.Figure(go.Image(source=_data_uri(image), hoverinfo="skip", opacity=opacity))
    seen = kp[:, 2] >= min_confidence
    if detected is not None:
        det = check_keypoints(detected)
        moved = np.flatnonzero(seen & (det[:, 2] >= min_confidence) & (np.abs(det[:, :2] - kp[:, :2]).max(axis=1) > 0.5))
        fig.add_trace(go.Scatter(x=[v for i in moved for v in (det[i, 0], kp[i, 0], None)],
                                 y=[v for i in moved for v in (det[i, 1], kp[i, 1], None)], mode="lines",
                                 line=dict(color="white", width=1, dash="dot"), hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(
            x=det[moved, 0], y=det[moved, 1], mode="markers", text=[Body25(i).name for i in moved], showlegend=False,
            marker=dict(size=9, symbol="circle-open", color="white", line=dict(width=2)),
            hovertemplate="%{text} as MediaPipe found it<br>x=%{x:.1f}, y=%{y:.1f}<extra></extra>"))
    lx, ly = [], []
    for a, b in BODY25_EDGES:
        if seen[a] and seen[b]:
            lx += [kp[a, 0], kp[b, 0], None]
            ly += [kp[a, 1], kp[b, 1], None]
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color="#00ff88", width=3), hoverinfo="skip",
                             showlegend=False))
    idx = np.flatnonzero(seen)
    names = [Body25(i).name for i in idx]
    fig.add_trace(go.Scatter(
        x=kp[idx, 0], y=kp[idx, 1], mode="markers", text=names, showlegend=False,
        marker=dict(size=9, color=kp[idx, 2], colorscale="Viridis", cmin=0, cmax=1, line=dict(color="white", width=1)),
        customdata=np.stack([idx, kp[idx, 2]], 1) if len(idx) else None,
        hovertemplate="%{text} (#%{customdata[0]})<br>x=%{x:.1f}, y=%{y:.1f}<br>"
                      "confidence %{customdata[1]:.2f}<extra></extra>",
    ))
    _image_axes(fig, size, None, height=height)
    return fig


# ----------------------------------------------------------------------------- comparing results


def difference_image(a: np.ndarray, b: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """Per-pixel ``|a - b|`` (mean over RGB, times ``gain``) as a heat map; images of one size."""
    check_image(a, "a")
    check_image(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"difference needs images of one shape, got {a.shape} and {b.shape}")
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(-1)
    return heatmap(diff * gain, vmax=255.0)


def image_metrics(result: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """SSIM and PSNR (dB, capped at 99 for identical images) of ``result`` against ``truth``.

    ``truth`` is resized to ``result``'s size when they differ.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    check_image(result, "result")
    check_image(truth, "truth")
    truth = resize(truth, result.shape[:2])
    ssim = structural_similarity(truth, result, channel_axis=2, data_range=255)
    with np.errstate(divide="ignore"):  # identical images: infinite PSNR, reported as 99 dB
        psnr = peak_signal_noise_ratio(truth, result, data_range=255)
    return {"ssim": float(ssim), "psnr": float(min(psnr, 99.0))}


# ----------------------------------------------------------------------------- trajectories


def trajectory_figure(series: dict[str, Sequence[float]], x: Sequence[float], x_title: str, title: str) -> go.Figure:
    """Line chart of several per-step quantities (e.g. noise-prediction norm) over the sampling steps."""
    fig = go.Figure()
    for name, ys in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(ys), mode="lines+markers", name=name))
    fig.update_layout(title=title, xaxis_title=x_title, height=280, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h"))
    return fig


def animated_gif(frames: Sequence[np.ndarray], duration_ms: int = 120, max_side: int = 256) -> bytes:
    """Frames ``uint8 (H, W, 3)`` -> looping GIF bytes (frames shrunk to ``max_side``; last frame held)."""
    if not frames:
        raise ValueError("an animated GIF needs at least one frame")
    h, w = frames[0].shape[:2]
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    imgs = [Image.fromarray(resize(check_image(f, "frame"), size)) for f in frames]
    durations = [duration_ms] * (len(imgs) - 1) + [max(duration_ms, 1000)]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=durations, loop=0)
    return buf.getvalue()


@dataclass(frozen=True)
class MaskDisagreement:
    """`mask_disagreement`'s picture and numbers."""

    image: np.ndarray  # uint8 (H, W, 3): the photo, tinted where both masks agree, coloured where only one holds
    only_a: int  # pixels in mask a only
    only_b: int  # pixels in mask b only
    share: float  # (only_a + only_b) / pixels in either mask (0.0 when both are empty)


ONLY_A_COLOUR, ONLY_B_COLOUR, BOTH_COLOUR = (0, 200, 255), (255, 120, 0), (120, 120, 255)
"""Cyan: only in the first mask (MediaPipe's person); orange: only in the second (the parser's); blue: both."""


def mask_disagreement(image: np.ndarray, a: np.ndarray, b: np.ndarray, opacity: float = 0.5) -> MaskDisagreement:
    """Two masks of one photo on it: both tinted blue, ``a`` only cyan, ``b`` only orange (opaque).

    Args:
        image: ``uint8 (H, W, 3)`` the photo.
        a, b: ``(H, W)`` masks (non-zero = in), e.g. MediaPipe's person mask and a parser's foreground;
            resized (nearest) to the photo if needed.
        opacity: the tint of the agreeing part.

    Example:
        >>> d = mask_disagreement(person.image, person.person_mask, person.parse > 0)
        >>> f"{d.share:.1%} of the person is in one mask only"
    """
    check_image(image)
    size = image.shape[:2]
    ma = resize(np.asarray(a, np.uint8), size, nearest=True) > 0
    mb = resize(np.asarray(b, np.uint8), size, nearest=True) > 0
    out = overlay_mask(image, (ma & mb).astype(np.uint8), BOTH_COLOUR, opacity)
    out[ma & ~mb] = ONLY_A_COLOUR
    out[mb & ~ma] = ONLY_B_COLOUR
    only_a, only_b, union = int((ma & ~mb).sum()), int((mb & ~ma).sum()), int((ma | mb).sum())
    return MaskDisagreement(out, only_a, only_b, (only_a + only_b) / union if union else 0.0)
