"""A training-free baseline warp: a thin-plate spline from garment landmarks to body keypoints.

Landmarks on the in-shop garment come from the geometry of its mask alone
(`garment_landmarks`): the collar centre, the two shoulder corners, the two hem
corners and, when the garment has sleeves, the two sleeve ends. Each is paired
with a body point built from the person's BODY_25 keypoints (`body_points`):
neck, shoulders, hips spread out to the body's outline, and a point along each
arm as far from the shoulder as the sleeve is long.

A thin-plate spline ``f`` that maps body points to garment points is solved in
numpy (a ``(n + 3)``-square linear system) and evaluated at every person pixel,
which is exactly a sampling flow: ``flow(p) = f(p) - p`` (normalized units, see
`vton.warp.ops`). With too few points for a spline it falls back to an affine
fit (3 points), a scale-and-shift fit (2 points) or the identity, and says so
in ``TPSResult.notes``.

The garment is assumed to be photographed from the front, upright, so the
garment's right side (the wearer's right) is on the left of the image, as is a
facing person's right shoulder.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vton.errors import InputError
from vton.types import Body25, Size, check_keypoints

LANDMARKS: tuple[str, ...] = (
    "collar", "right_shoulder", "left_shoulder", "right_hem", "left_hem", "right_sleeve", "left_sleeve",
)
"""Garment landmark names, wearer's sides (``right_*`` is on the image's left)."""


@dataclass(frozen=True)
class TPSConfig:
    """Geometry knobs of the baseline (defaults suit frontal VITON-HD-like photos)."""

    hip_spread: float = 1.8  # hem corners sit this many times farther from MidHip than the hip keypoints
    shoulder_spread: float = 1.15  # shoulder corners sit this many times farther from the neck than the shoulders
    shoulder_drop: float = 0.07  # ... and this fraction of the neck-to-hips length lower
    shoulder_band: float = 0.12  # fraction of the garment height searched for the shoulder corners
    hem_band: float = 0.04  # fraction of the garment height above the bottom where the hem corners are read
    sleeve_margin: float = 0.08  # a side extends this fraction of the torso width beyond the torso: a sleeve
    regularization: float = 0.3  # TPS smoothing (points in units of the image size); less folds, lower EPE


@dataclass
class TPSResult:
    """A TPS warp and the correspondences that define it (pixel coordinates ``(n, 2)`` as ``(x, y)``)."""

    flow: torch.Tensor  # (1, 2, H, W) normalized sampling offsets at the person size
    src_points: np.ndarray  # float32 (n, 2) garment landmarks in cloth pixels
    dst_points: np.ndarray  # float32 (n, 2) body points in person pixels
    names: list[str] = field(default_factory=list)  # landmark name of each pair
    method: str = "tps"  # "tps", "affine", "scale", or "identity"
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- garment landmarks


def _run_through(row: np.ndarray, x: int) -> tuple[int, int] | None:
    """``(first, last)`` column of the run of True pixels in ``row`` containing column ``x`` (or None)."""
    if not row[x]:
        return None
    off = np.flatnonzero(~row)
    left = off[off < x]
    right = off[off > x]
    return (int(left[-1]) + 1 if left.size else 0, int(right[0]) - 1 if right.size else row.size - 1)


def garment_landmarks(cloth_mask: np.ndarray, config: TPSConfig = TPSConfig()) -> dict[str, np.ndarray]:
    """Landmarks of a front-facing garment from its mask, ``name -> (x, y)`` in pixels.

    Sleeve ends are present only when the garment has sleeves, i.e. a side
    reaches clearly beyond the torso width measured near the hem.
    """
    mask = np.asarray(cloth_mask) > 0
    if mask.ndim != 2:
        raise InputError(f"cloth mask must be (H, W), got shape {mask.shape}")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size < 4 or cols.size < 4 or mask.sum() < 16:
        raise InputError("the cloth mask is empty (or a few pixels): cannot place garment landmarks")
    top = int(rows[0])
    cx = 0.5 * (cols[0] + cols[-1])  # garments are photographed symmetric about this column
    centre = int(round(cx))

    # the torso is the run of garment pixels through the centre column; sleeves hang outside it
    runs = {r: _run_through(mask[r], centre) for r in range(top, int(rows[-1]) + 1)}
    torso_rows = [r for r, run in runs.items() if run is not None]
    if len(torso_rows) < 4:
        raise InputError("the cloth mask has no body through its centre column: cannot place garment landmarks")
    # from the top down to where the centre column leaves the garment (a neckline may start lower)
    bottom = max(torso_rows)
    height = bottom - top + 1

    # hem corners: the torso run just above its bottom; torso width from its lower half
    hem_row = max(r for r in torso_rows if r <= bottom - int(round(config.hem_band * height)))
    hem_l, hem_r = (float(v) for v in runs[hem_row])
    lower = [r for r in torso_rows if r >= top + height // 2]
    torso_l = float(np.median([runs[r][0] for r in lower]))
    torso_r = float(np.median([runs[r][1] for r in lower]))
    torso_w = max(torso_r - torso_l, 1.0)
    margin = config.sleeve_margin * torso_w

    # collar: the top of the garment on the centre line (the shoulder seams meet the neck there)
    collar_y = float(top)

    # shoulder corners: the torso run's extent within the top band, no wider than the torso + margin
    band_rows = [r for r in torso_rows if r <= top + max(int(config.shoulder_band * height), 1)] or torso_rows[:1]
    sh_l = max(min(float(runs[r][0]) for r in band_rows), torso_l - margin)
    sh_r = min(max(float(runs[r][1]) for r in band_rows), torso_r + margin)
    sh_y = float(band_rows[-1])
    for r in band_rows:  # the first row whose run reaches the shoulder corner's x
        if runs[r][0] <= sh_l + 1 or runs[r][1] >= sh_r - 1:
            sh_y = float(r)
            break

    points = {
        "collar": np.array([cx, collar_y]),
        "right_shoulder": np.array([sh_l, sh_y]),
        "left_shoulder": np.array([sh_r, sh_y]),
        "right_hem": np.array([hem_l, float(hem_row)]),
        "left_hem": np.array([hem_r, float(hem_row)]),
    }

    # sleeves: the farthest pixel on each side, if beyond the torso by the margin
    ys, xs = np.nonzero(mask)
    for name, side_x, beyond in (
        ("right_sleeve", xs.min(), torso_l - margin - xs.min()),
        ("left_sleeve", xs.max(), xs.max() - (torso_r + margin)),
    ):
        if beyond > 0:
            points[name] = np.array([float(side_x), float(ys[xs == side_x].mean())])
    return {k: v.astype(np.float32) for k, v in points.items()}


# ----------------------------------------------------------------------------- body points


def _valid(kp: np.ndarray, *joints: Body25) -> bool:
    return all(kp[j, 2] > 0 for j in joints)


def body_points(
    keypoints: np.ndarray, garment: dict[str, np.ndarray], config: TPSConfig = TPSConfig()
) -> dict[str, np.ndarray]:
    """Where each garment landmark should land on the body, ``name -> (x, y)`` person pixels.

    Only landmarks whose keypoints are all present are returned.
    """
    kp = check_keypoints(keypoints)
    xy = kp[:, :2].astype(np.float64)
    out: dict[str, np.ndarray] = {}
    neck_ok = _valid(kp, Body25.NECK)
    if neck_ok:
        out["collar"] = xy[Body25.NECK]
    down = np.zeros(2)
    if neck_ok and _valid(kp, Body25.R_HIP, Body25.L_HIP):
        down = 0.5 * (xy[Body25.R_HIP] + xy[Body25.L_HIP]) - xy[Body25.NECK]  # neck -> mid-hips
    for name, joint in (("right_shoulder", Body25.R_SHOULDER), ("left_shoulder", Body25.L_SHOULDER)):
        if _valid(kp, joint):
            out[name] = xy[joint]
            if neck_ok:
                out[name] = xy[Body25.NECK] + config.shoulder_spread * (xy[joint] - xy[Body25.NECK])
                out[name] = out[name] + config.shoulder_drop * down
    if _valid(kp, Body25.R_HIP, Body25.L_HIP):
        mid = 0.5 * (xy[Body25.R_HIP] + xy[Body25.L_HIP])
        out["right_hem"] = mid + config.hip_spread * (xy[Body25.R_HIP] - mid)
        out["left_hem"] = mid + config.hip_spread * (xy[Body25.L_HIP] - mid)

    # sleeves: as far along shoulder -> elbow -> wrist as the sleeve is long, scaled by torso lengths
    g_torso = _torso_length(garment.get("collar"), garment.get("right_hem"), garment.get("left_hem"))
    b_torso = _torso_length(out.get("collar"), out.get("right_hem"), out.get("left_hem"))
    for side, (sh, el, wr) in (
        ("right", (Body25.R_SHOULDER, Body25.R_ELBOW, Body25.R_WRIST)),
        ("left", (Body25.L_SHOULDER, Body25.L_ELBOW, Body25.L_WRIST)),
    ):
        sleeve, corner = garment.get(f"{side}_sleeve"), garment.get(f"{side}_shoulder")
        if sleeve is None or corner is None or g_torso is None or b_torso is None or not _valid(kp, sh, el):
            continue
        length = float(np.linalg.norm(sleeve - corner)) * b_torso / g_torso
        chain = [xy[sh], xy[el]] + ([xy[wr]] if _valid(kp, wr) else [])
        out[f"{side}_sleeve"] = _walk(chain, length)
    return {k: v.astype(np.float32) for k, v in out.items()}


def _torso_length(collar, hem_a, hem_b) -> float | None:
    if collar is None or hem_a is None or hem_b is None:
        return None
    length = float(np.linalg.norm(0.5 * (hem_a + hem_b) - collar))
    return length if length > 1 else None


def _walk(chain: list[np.ndarray], length: float) -> np.ndarray:
    """The point ``length`` pixels along a polyline (extrapolating past its last segment)."""
    for a, b in zip(chain[:-1], chain[1:]):
        seg = float(np.linalg.norm(b - a))
        if length <= seg or b is chain[-1]:
            return a + (b - a) * (length / max(seg, 1e-6))
        length -= seg
    return chain[-1]


# ----------------------------------------------------------------------------- the spline


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    """``U(r) = r**2 log r**2`` with ``U(0) = 0``, from squared distances."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r2 > 0, r2 * np.log(np.maximum(r2, 1e-300)), 0.0)


def fit_tps(dst: np.ndarray, src: np.ndarray, regularization: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Solve the thin-plate spline ``f`` with ``f(dst_i) ~= src_i``.

    Returns ``(weights (n, 2), affine (3, 2))``; evaluate with `eval_tps`.
    Raises ``np.linalg.LinAlgError`` when the points are degenerate (collinear).
    """
    n = dst.shape[0]
    k = _tps_kernel(((dst[:, None] - dst[None]) ** 2).sum(-1)) + regularization * np.eye(n)
    p = np.hstack([np.ones((n, 1)), dst])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n], system[:n, n:], system[n:, :n] = k, p, p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = src
    if np.linalg.matrix_rank(p) < 3:
        raise np.linalg.LinAlgError("TPS control points are collinear")
    sol = np.linalg.solve(system, rhs)
    return sol[:n], sol[n:]


def eval_tps(points: np.ndarray, dst: np.ndarray, weights: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Evaluate a spline from `fit_tps` at ``points (m, 2)`` -> ``(m, 2)``."""
    u = _tps_kernel(((points[:, None] - dst[None]) ** 2).sum(-1))
    return u @ weights + np.hstack([np.ones((len(points), 1)), points]) @ affine


# ----------------------------------------------------------------------------- the baseline


def tps_flow(
    cloth_mask: np.ndarray, keypoints: np.ndarray, size: Size, config: TPSConfig = TPSConfig()
) -> TPSResult:
    """The TPS baseline's sampling flow for a garment (its mask) onto a person (its keypoints).

    Args:
        cloth_mask: ``uint8 (h, w)`` in ``{0, 1}``, the in-shop garment's mask.
        keypoints: BODY_25 ``(25, 3)`` in person pixels (`vton.types.Body25`).
        size: the person image's ``(H, W)``; the flow has this size.

    Returns:
        A `TPSResult` whose ``flow`` is ``(1, 2, H, W)``.
    """
    h, w = int(size[0]), int(size[1])
    ch, cw = np.asarray(cloth_mask).shape[:2]
    garment = garment_landmarks(cloth_mask, config)
    body = body_points(keypoints, garment, config)
    names = [n for n in LANDMARKS if n in garment and n in body]
    notes: list[str] = []
    missing = [n for n in LANDMARKS if n in garment and n not in body]
    if missing:
        notes.append(f"no keypoints for {', '.join(missing)}; left out of the fit")

    # work in person pixels, scaled by the image size for a well-conditioned system
    scale = float(max(h, w))
    src = np.array([garment[n] for n in names], dtype=np.float64).reshape(-1, 2)
    src_person = (src + 0.5) * np.array([w / cw, h / ch]) - 0.5  # cloth pixels -> person pixels
    dst = np.array([body[n] for n in names], dtype=np.float64).reshape(-1, 2)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)

    method = "tps"
    mapped: np.ndarray | None = None
    if len(names) >= 4:
        try:
            weights, affine = fit_tps(dst / scale, src_person / scale, config.regularization)
            mapped = eval_tps(grid / scale, dst / scale, weights, affine) * scale
        except np.linalg.LinAlgError:
            notes.append("the control points are collinear; used an affine fit instead of a spline")
    if mapped is None and len(names) >= 3:
        method = "affine"
        a = np.hstack([np.ones((len(dst), 1)), dst])
        affine, *_ = np.linalg.lstsq(a, src_person, rcond=None)
        mapped = np.hstack([np.ones((len(grid), 1)), grid]) @ affine
    if mapped is None and len(names) == 2 and np.linalg.norm(dst[1] - dst[0]) > 1:
        method = "scale"
        s = np.linalg.norm(src_person[1] - src_person[0]) / np.linalg.norm(dst[1] - dst[0])
        mapped = (grid - dst.mean(0)) * s + src_person.mean(0)
        notes.append("only 2 landmark pairs: fitted a scale and shift")
    if mapped is None:
        method = "identity"
        mapped = grid
        notes.append(f"only {len(names)} landmark pairs: returned the identity warp")
    elif method == "affine" and len(names) == 3:
        notes.append("only 3 landmark pairs: fitted an affine map")

    offsets = (mapped - grid).reshape(h, w, 2)
    flow = torch.from_numpy(offsets.astype(np.float32)).permute(2, 0, 1)[None]
    flow = flow / torch.tensor([w / 2.0, h / 2.0]).view(1, 2, 1, 1)
    return TPSResult(
        flow=flow.contiguous(),
        src_points=src.astype(np.float32),
        dst_points=dst.astype(np.float32),
        names=names,
        method=method,
        notes=notes,
    )
