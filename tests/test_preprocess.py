"""Fast property tests of the MediaPipe-free preprocessing: agnostic, parse-agnostic, IUV, cloth mask.

A hand-drawn figure (keypoints + a CIHP parse drawn from them) stands in for a
person, so every expected pixel is known.
"""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from vton.errors import InputError
from vton.preprocess import geometry as g
from vton.preprocess.agnostic import GREY, make_agnostic
from vton.preprocess.cloth import cloth_mask
from vton.preprocess.densepose import colorize_iuv, densepose_from_pose
from vton.preprocess.detect import (MIRROR_LANDMARKS, MP_TO_BODY25, OPENPOSE_OFFSETS, average_keypoints,
                                   landmarks_to_body25, to_openpose)
from vton.types import CIHP, Body25 as B, DensePosePart as P

# ----------------------------------------------------------------------------- a drawn figure

_POINTS = {  # at 256x192 (H x W); subject faces the camera, so their right is image left
    B.NOSE: (96, 40), B.NECK: (96, 70), B.R_SHOULDER: (66, 72), B.L_SHOULDER: (126, 72),
    B.R_ELBOW: (56, 112), B.L_ELBOW: (136, 112), B.R_WRIST: (50, 150), B.L_WRIST: (142, 150),
    B.MID_HIP: (96, 150), B.R_HIP: (80, 150), B.L_HIP: (112, 150), B.R_KNEE: (80, 200),
    B.L_KNEE: (112, 200), B.R_ANKLE: (80, 244), B.L_ANKLE: (112, 244), B.R_EYE: (90, 35), B.L_EYE: (102, 35),
}


def figure(scale: float = 1.0):
    """Keypoints ``(25, 3)``, CIHP parse, person mask and an image of a drawn person at ``scale`` x 256x192."""
    h, w = int(256 * scale), int(192 * scale)
    kp = np.zeros((25, 3), np.float32)
    for k, (x, y) in _POINTS.items():
        kp[k] = (x * scale, y * scale, 1.0)
    s = scale
    parse = np.zeros((h, w), np.uint8)

    def cap(label, a, b, r):
        m = np.zeros((h, w), np.uint8)
        g.draw_capsule(m, kp[a, :2], kp[b, :2], r * s)
        parse[m == 1] = label

    cap(CIHP.RIGHT_LEG, B.R_HIP, B.R_ANKLE, 9)
    cap(CIHP.LEFT_LEG, B.L_HIP, B.L_ANKLE, 9)
    pants = np.zeros((h, w), np.uint8)
    g.draw_polygon(pants, [kp[B.R_HIP, :2] + (-12 * s, -4 * s), kp[B.L_HIP, :2] + (12 * s, -4 * s),
                           kp[B.L_KNEE, :2] + (10 * s, 0), kp[B.R_KNEE, :2] + (-10 * s, 0)])
    parse[pants == 1] = CIHP.PANTS
    cap(CIHP.RIGHT_ARM, B.R_SHOULDER, B.R_WRIST, 7)
    cap(CIHP.LEFT_ARM, B.L_SHOULDER, B.L_WRIST, 7)
    for wrist in (B.R_WRIST, B.L_WRIST):  # hands hang 16 px below the wrists
        m = np.zeros((h, w), np.uint8)
        g.draw_capsule(m, kp[wrist, :2], kp[wrist, :2] + (0, 16 * s), 6 * s)
        parse[m == 1] = CIHP.LEFT_ARM if wrist == B.L_WRIST else CIHP.RIGHT_ARM
    cap(CIHP.NECK, B.NECK, B.NOSE, 8)
    shirt = np.zeros((h, w), np.uint8)
    g.draw_polygon(shirt, [kp[B.R_SHOULDER, :2] + (-4 * s, -3 * s), kp[B.L_SHOULDER, :2] + (4 * s, -3 * s),
                           kp[B.L_HIP, :2] + (6 * s, 2 * s), kp[B.R_HIP, :2] + (-6 * s, 2 * s)])
    parse[shirt == 1] = CIHP.UPPER_CLOTHES
    cap(CIHP.UPPER_CLOTHES, B.R_SHOULDER, B.R_ELBOW, 9)  # short sleeves
    cap(CIHP.UPPER_CLOTHES, B.L_SHOULDER, B.L_ELBOW, 9)
    hair = np.zeros((h, w), np.uint8)
    g.draw_ellipse(hair, kp[B.NOSE, :2] - (0, 6 * s), (19 * s, 22 * s))
    parse[hair == 1] = CIHP.HAIR
    face = np.zeros((h, w), np.uint8)
    g.draw_ellipse(face, kp[B.NOSE, :2] + (0, 2 * s), (14 * s, 17 * s))
    parse[face == 1] = CIHP.FACE
    person = (parse > 0).astype(np.uint8)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return kp, parse, person, image


# ----------------------------------------------------------------------------- agnostic


def test_agnostic_covers_garment_keeps_face_lower_body_and_hands():
    kp, parse, _, image = figure()
    a = make_agnostic(image, parse, kp)
    assert a.mask.dtype == np.uint8 and set(np.unique(a.mask)) <= {0, 1}
    upper = parse == CIHP.UPPER_CLOTHES
    assert a.mask[upper].mean() == 1.0
    assert a.mask[parse == CIHP.FACE].mean() == 0.0
    for lower in (CIHP.PANTS, CIHP.LEFT_LEG, CIHP.RIGHT_LEG):
        assert a.mask[parse == lower].mean() == 0.0
    for wrist in (B.R_WRIST, B.L_WRIST):
        x, y = kp[wrist, :2].astype(int)
        assert a.mask[y + 18, x] == 0, "hands (arm pixels outside the parse-agnostic arm mask) are kept"
    assert (a.mask[parse == CIHP.NECK]).mean() > 0.5, "the neck box is repainted"
    # the image is grey exactly where the mask is set, and untouched elsewhere
    assert (a.image[a.mask == 1] == GREY).all()
    assert (a.image[a.mask == 0] == image[a.mask == 0]).all()


def test_parse_agnostic_removes_garment_neck_and_upper_arms_only():
    kp, parse, _, image = figure()
    pa = make_agnostic(image, parse, kp).parse
    assert not np.isin(pa, (CIHP.UPPER_CLOTHES, CIHP.NECK)).any()
    assert (pa[parse == CIHP.FACE] == CIHP.FACE).all()
    assert (pa[parse == CIHP.PANTS] == CIHP.PANTS).all()
    x, y = kp[B.R_WRIST, :2].astype(int)
    assert pa[y + 18, x] == CIHP.RIGHT_ARM, "hands survive"
    # it only ever removes labels (to background), never invents them
    changed = pa != parse
    assert (pa[changed] == CIHP.BACKGROUND).all()


def test_agnostic_scales_with_the_photo():
    kp1, parse1, _, img1 = figure(1.0)
    kp2, parse2, _, img2 = figure(2.0)
    m1 = make_agnostic(img1, parse1, kp1).mask
    m2 = make_agnostic(img2, parse2, kp2).mask
    down = cv2.resize(m2, m1.shape[::-1], interpolation=cv2.INTER_NEAREST)
    iou = (down & m1).sum() / (down | m1).sum()
    assert iou > 0.93, iou


@pytest.mark.parametrize("missing", list(B))
def test_agnostic_never_crashes_on_a_missing_keypoint(missing):
    kp, parse, _, image = figure()
    kp[missing] = 0
    a = make_agnostic(image, parse, kp)
    assert a.mask[parse == CIHP.UPPER_CLOTHES].mean() == 1.0  # the garment itself is always masked
    assert a.mask[parse == CIHP.FACE].mean() == 0.0


def test_agnostic_with_no_keypoints_masks_the_garment_labels():
    _, parse, _, image = figure()
    a = make_agnostic(image, parse, np.zeros((25, 3), np.float32))
    assert (a.mask == (parse == CIHP.UPPER_CLOTHES)).all()


def test_half_body_without_hips_still_covers_the_torso_to_the_garment_bottom():
    kp, parse, _, image = figure()
    h = 160  # a half-body crop: the photo ends just below the hips
    kp, parse, image = kp.copy(), parse[:h], image[:h]
    for i in (B.MID_HIP, B.R_HIP, B.L_HIP, B.R_KNEE, B.L_KNEE, B.R_ANKLE, B.L_ANKLE):
        kp[i] = 0
    a = make_agnostic(image, parse, kp)
    mid_x = int(kp[B.NECK, 0])
    garment_bottom = np.flatnonzero(parse[:, mid_x] == CIHP.UPPER_CLOTHES)[-1]
    assert a.mask[int(kp[B.NECK, 1]) : garment_bottom + 1, mid_x].mean() == 1.0
    assert a.mask[parse == CIHP.PANTS].mean() == 0.0
    # low-confidence hips inside the photo count as missing too
    kp2, parse2, _, image2 = figure()
    kp2[[B.R_HIP, B.L_HIP], 2] = 0.1
    kp2[[B.R_HIP, B.L_HIP], 1] = 100  # wrong, too high
    a2 = make_agnostic(image2, parse2, kp2)
    assert a2.mask[int(kp2[B.NECK, 1]) : 150, mid_x].mean() == 1.0


def test_agnostic_checks_shapes():
    kp, parse, _, image = figure()
    with pytest.raises(ValueError, match="parse"):
        make_agnostic(image, parse[:-1], kp)
    with pytest.raises(ValueError, match="25"):
        make_agnostic(image, parse, kp[:18])


# ----------------------------------------------------------------------------- DensePose-style IUV


def _at(iuv, kp, a, b, frac):
    x, y = (kp[a, :2] * (1 - frac) + kp[b, :2] * frac).round().astype(int)
    return iuv[y, x]


def test_iuv_parts_sit_on_the_right_limbs_and_sides():
    kp, parse, person, _ = figure()
    iuv = densepose_from_pose(kp, person)
    assert iuv.dtype == np.uint8 and iuv.shape == (*person.shape, 3)
    assert (iuv[person == 0] == 0).all()
    assert (iuv[..., 0][person == 1] > 0).all()
    assert _at(iuv, kp, B.R_SHOULDER, B.R_ELBOW, 0.6)[0] == P.UPPER_ARM_RIGHT_FRONT
    assert _at(iuv, kp, B.L_ELBOW, B.L_WRIST, 0.5)[0] == P.LOWER_ARM_LEFT_FRONT
    assert _at(iuv, kp, B.R_HIP, B.R_KNEE, 0.5)[0] == P.UPPER_LEG_RIGHT_FRONT
    assert _at(iuv, kp, B.L_KNEE, B.L_ANKLE, 0.5)[0] == P.LOWER_LEG_LEFT_FRONT
    assert _at(iuv, kp, B.NECK, B.MID_HIP, 0.5)[0] == P.TORSO_FRONT
    nose = kp[B.NOSE, :2].astype(int)
    assert iuv[nose[1], nose[0] - 6, 0] == P.HEAD_RIGHT  # subject's right is image left here
    assert iuv[nose[1], nose[0] + 6, 0] == P.HEAD_LEFT


def test_iuv_v_runs_along_and_u_across_a_limb():
    kp, _, person, _ = figure()
    iuv = densepose_from_pose(kp, person)
    vs = [int(_at(iuv, kp, B.L_HIP, B.L_KNEE, f)[2]) for f in (0.2, 0.5, 0.8)]
    assert vs[0] < vs[1] < vs[2]
    assert abs(int(_at(iuv, kp, B.L_HIP, B.L_KNEE, 0.5)[1]) - 128) <= 2, "U is 128 on the axis"
    mid = ((kp[B.L_HIP, :2] + kp[B.L_KNEE, :2]) / 2).astype(int)
    left_px, right_px = iuv[mid[1], mid[0] - 6], iuv[mid[1], mid[0] + 6]
    assert left_px[0] == right_px[0] == P.UPPER_LEG_LEFT_FRONT
    # U runs from the subject's right (image left for a person facing us) to their left
    assert left_px[1] < 128 < right_px[1]


def test_iuv_respects_the_parse_and_is_deterministic():
    kp, parse, person, _ = figure()
    a = densepose_from_pose(kp, person, parse)
    assert (a == densepose_from_pose(kp, person, parse)).all()
    assert (a[parse == CIHP.HAIR, 0] == 0).all(), "hair is not body surface"
    assert np.isin(a[parse == CIHP.RIGHT_ARM, 0], (P.UPPER_ARM_RIGHT_FRONT, P.LOWER_ARM_RIGHT_FRONT, P.RIGHT_HAND)).all()


def test_iuv_without_shoulders_is_empty_and_other_gaps_do_not_crash():
    kp, _, person, _ = figure()
    kp0 = kp.copy()
    kp0[B.R_SHOULDER] = 0
    assert not densepose_from_pose(kp0, person).any()
    for i in B:
        if i in (B.R_SHOULDER, B.L_SHOULDER):
            continue
        k = kp.copy()
        k[i] = 0
        assert densepose_from_pose(k, person)[..., 0][person == 1].min() > 0


def test_iuv_is_fast_at_256x192():
    kp, parse, person, _ = figure()
    best = min(_timed(lambda: densepose_from_pose(kp, person, parse)) for _ in range(5))
    assert best < 0.020, f"{best * 1000:.1f} ms"


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_colorize_iuv():
    kp, _, person, _ = figure()
    vis = colorize_iuv(densepose_from_pose(kp, person))
    assert vis.shape == (*person.shape, 3) and vis.dtype == np.uint8
    assert (vis[person == 0] == 0).all() and vis[person == 1].any(axis=-1).all()


# ----------------------------------------------------------------------------- cloth mask


def _cloth_photo(background, seed=0):
    rng = np.random.default_rng(seed)
    h, w = 256, 192
    img = np.empty((h, w, 3), np.float32)
    img[:] = background
    img += rng.normal(0, 3, img.shape)  # JPEG-ish noise
    truth = np.zeros((h, w), np.uint8)
    g.draw_polygon(truth, [np.array(p, float) for p in [(40, 40), (152, 40), (180, 100), (150, 110), (150, 220),
                                                         (42, 220), (42, 110), (12, 100)]])
    img[truth == 1] = (200, 40, 60)
    img[100:110, 60:130][truth[100:110, 60:130] == 1] = background  # a stripe of background colour: a hole
    return np.clip(img, 0, 255).astype(np.uint8), truth


@pytest.mark.parametrize("background", [(255, 255, 255), (120, 170, 200), (30, 30, 30)])
def test_cloth_mask_finds_the_garment_on_any_plain_background(background):
    img, truth = _cloth_photo(background)
    m = cloth_mask(img)
    iou = (m & truth).sum() / (m | truth).sum()
    assert iou > 0.95, iou
    assert m[105, 90] == 1, "holes inside the garment are filled"


def test_cloth_mask_rejects_empty_and_full():
    flat = np.full((128, 96, 3), 200, np.uint8)
    with pytest.raises(InputError, match="no garment"):
        cloth_mask(flat)
    full = np.full((128, 96, 3), (200, 40, 60), np.uint8)  # the garment fills all but a 2 px frame
    full[:2], full[-2:], full[:, :2], full[:, -2:] = 255, 255, 255, 255
    with pytest.raises(InputError, match="could not be told apart"):
        cloth_mask(full)


# ----------------------------------------------------------------------------- MediaPipe -> BODY_25


def test_mediapipe_landmarks_map_to_body25_sides_midpoints_and_gaps():
    h, w = 200, 100
    lm = np.zeros((33, 4), np.float32)
    lm[:, 0] = np.arange(33)  # x = landmark index, to see which one lands where
    lm[:, 1] = 50
    lm[:, 3] = 0.9
    lm[11, :2] = (70, 40)  # MediaPipe left shoulder (subject's left, image right)
    lm[12, :2] = (30, 44)
    lm[23, 3] = 0.1  # left hip barely visible
    lm[27, 1] = 250  # left ankle below the photo
    kp = landmarks_to_body25(lm, (h, w))
    assert kp.shape == (25, 3) and kp.dtype == np.float32
    assert tuple(kp[B.L_SHOULDER, :2]) == (70, 40) and tuple(kp[B.R_SHOULDER, :2]) == (30, 44)
    assert tuple(kp[B.NECK, :2]) == (50, 42)
    assert kp[B.R_ELBOW, 0] == 14 and kp[B.L_WRIST, 0] == 15 and kp[B.R_HEEL, 0] == 30
    assert (kp[B.L_HIP] == 0).all() and (kp[B.MID_HIP] == 0).all(), "not visible -> missing, and so is MidHip"
    assert (kp[B.L_ANKLE] == 0).all(), "out of frame -> missing"
    assert (kp[B.L_SMALL_TOE] == 0).all() and (kp[B.R_SMALL_TOE] == 0).all(), "MediaPipe has no small toes"
    assert set(MP_TO_BODY25) | {B.NECK, B.MID_HIP, B.L_SMALL_TOE, B.R_SMALL_TOE} == set(B)


def test_mirrored_landmarks_swap_sides_and_keep_the_middle():
    assert (MIRROR_LANDMARKS[MIRROR_LANDMARKS] == np.arange(33)).all()
    assert MIRROR_LANDMARKS[0] == 0 and MIRROR_LANDMARKS[11] == 12 and MIRROR_LANDMARKS[2] == 5
    assert MIRROR_LANDMARKS[23] == 24 and MIRROR_LANDMARKS[31] == 32 and MIRROR_LANDMARKS[9] == 10


def test_average_keypoints_takes_whichever_found_a_joint():
    a, b = np.zeros((25, 3), np.float32), np.zeros((25, 3), np.float32)
    a[B.NOSE], b[B.NOSE] = (10, 20, 0.8), (12, 22, 0.6)
    a[B.R_WRIST] = (5, 5, 0.5)
    b[B.L_WRIST] = (7, 7, 0.4)
    kp = average_keypoints(a, b)
    assert np.allclose(kp[B.NOSE], (11, 21, 0.7))
    assert np.allclose(kp[B.R_WRIST], (5, 5, 0.5)) and np.allclose(kp[B.L_WRIST], (7, 7, 0.4))
    assert (kp[B.L_ELBOW] == 0).all()


def _upright_body(angle_deg: float = 0.0) -> np.ndarray:
    """A frontal skeleton, shoulder width 100 px, arms hanging, rotated by ``angle_deg`` about the neck."""
    kp = np.zeros((25, 3), np.float32)
    pts = {B.NECK: (0, 0), B.R_SHOULDER: (-50, 0), B.L_SHOULDER: (50, 0), B.R_ELBOW: (-55, 70), B.L_ELBOW: (55, 70),
           B.R_WRIST: (-55, 140), B.L_WRIST: (55, 140), B.R_HIP: (-35, 160), B.L_HIP: (35, 160), B.MID_HIP: (0, 160),
           B.NOSE: (0, -40)}
    t = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    for j, p in pts.items():
        kp[j] = (*(rot @ np.array(p, float) + (200, 150)), 0.9)
    return kp


def test_openpose_offsets_move_joints_in_the_bodys_own_frame():
    kp = _upright_body()
    out = to_openpose(kp)
    sh_along, sh_out = OPENPOSE_OFFSETS["shoulder"]
    # upright: "outward" is -x for the subject's right (image left), +x for the left; "along" is down
    assert np.allclose(out[B.R_SHOULDER, :2], kp[B.R_SHOULDER, :2] + 100 * np.array([-sh_out, sh_along]), atol=1e-3)
    assert np.allclose(out[B.L_SHOULDER, :2], kp[B.L_SHOULDER, :2] + 100 * np.array([sh_out, sh_along]), atol=1e-3)
    assert np.allclose(out[B.NECK, :2], (out[B.R_SHOULDER, :2] + out[B.L_SHOULDER, :2]) / 2)
    assert np.allclose(out[B.MID_HIP, :2], (out[B.R_HIP, :2] + out[B.L_HIP, :2]) / 2)
    assert (out[B.NOSE] == kp[B.NOSE]).all() and (out[:, 2] == kp[:, 2]).all()
    # the same body turned by 30 degrees: the same moves, turned with it
    turned = to_openpose(_upright_body(30.0))
    t = np.deg2rad(30.0)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    moves = out[:, :2] - kp[:, :2]
    assert np.allclose(turned[:, :2] - _upright_body(30.0)[:, :2], moves @ rot.T, atol=1e-3)
    # mirrored body -> mirrored moves (the table is the same for both sides)
    assert np.isclose(moves[B.R_WRIST, 0], -moves[B.L_WRIST, 0]) and np.isclose(moves[B.R_HIP, 1], moves[B.L_HIP, 1])


def test_openpose_offsets_leave_missing_joints_and_shoulderless_poses_alone():
    kp = _upright_body()
    kp[B.L_ELBOW] = 0
    out = to_openpose(kp)
    assert (out[B.L_ELBOW] == 0).all() and not np.allclose(out[B.L_WRIST], kp[B.L_WRIST])  # wrist frame: falls back to "down"
    kp[B.R_SHOULDER] = 0
    assert (to_openpose(kp) == kp).all()
    zero = {name: (0.0, 0.0) for name in OPENPOSE_OFFSETS}
    assert np.allclose(to_openpose(_upright_body(), zero), _upright_body())


def test_iuv_legs_out_of_frame_are_legs_never_head():
    kp, parse, person, _ = figure()
    for i in (B.R_KNEE, B.L_KNEE, B.R_ANKLE, B.L_ANKLE):
        kp[i] = 0  # MediaPipe drops knees it thinks are out of frame
    iuv = densepose_from_pose(kp, person)
    legs = np.isin(parse, (CIHP.LEFT_LEG, CIHP.RIGHT_LEG, CIHP.PANTS))
    below_hips = legs & (np.arange(person.shape[0])[:, None] > kp[B.MID_HIP, 1] + 10)
    assert not np.isin(iuv[..., 0][below_hips], (P.HEAD_LEFT, P.HEAD_RIGHT)).any()
    assert np.isin(iuv[..., 0][below_hips], (P.UPPER_LEG_LEFT_FRONT, P.UPPER_LEG_RIGHT_FRONT)).mean() > 0.9


# ----------------------------------------------------------------------------- the geometric parse: the hem


def test_hem_row_splits_garment_rows_from_the_rest_and_survives_a_crossing_forearm():
    from vton.preprocess.parse import hem_row

    profile = np.r_[np.full(40, 0.95), np.full(3, 0.0), np.full(20, 0.9), np.full(30, 0.05)].astype(np.float32)
    assert hem_row(profile, 10) == 10 + 62  # three rows of forearm do not end the top
    assert hem_row(np.full(5, 0.1, np.float32), 10) == 10  # nothing looks like the garment
    with_gap = profile.copy()
    with_gap[45:50] = np.nan  # rows without body pixels count for nothing
    assert hem_row(with_gap, 0) == 62


def test_grow_region_adds_only_what_touches_the_seed():
    from vton.preprocess.parse import grow_region

    seed = np.zeros((20, 20), bool)
    seed[2:8, 5:15] = True
    cand = np.zeros_like(seed)
    cand[8:12, 6:10] = True  # touches the seed (a hem lower on one side)
    cand[15:18, 5:15] = True  # an island of the same colour further down: not the top
    grown = grow_region(seed, cand)
    assert grown[8:12, 6:10].all() and not grown[15:18].any() and grown[seed].all()


def test_edge_hem_finds_a_plain_colour_under_a_hem_and_not_under_stripes():
    from vton.preprocess.parse import edge_hem

    h, w, sw = 120, 60, 50.0
    lab = np.zeros((h, w, 3), np.float32)
    lab[:] = (30, 20, 20)  # the top
    lab[80:] = (22, 0, -25)  # trousers of a near colour, from row 80
    body = np.ones((h, w), bool)
    garment = np.array([[30, 20, 20]], np.float32)
    row, colours = edge_hem(lab, body, garment, (30, h), sw, threshold=6.0, centre_x=w / 2)
    assert abs(row - 80) <= 2 and np.allclose(colours.mean(0), (22, 0, -25), atol=1)
    striped = np.zeros_like(lab)
    striped[:] = (30, 20, 20)
    for y0 in range(0, h, 16):
        striped[y0:y0 + 8] = (25, -10, 5)
    assert edge_hem(striped, body, np.array([[30, 20, 20], [25, -10, 5]], np.float32), (30, h), sw, 6.0, w / 2) is None


def test_geometric_parse_covers_tops_of_every_length_from_true_pose():
    """The drawings' own keypoints and person mask (no MediaPipe): measured 98.0% of the top under the
    mask on average (each above 0.81), 0% of the face, 11% of the trousers and skirts (one person's black
    tunic over a black skirt: 100%)."""
    from vton.data.synth import item_seed, render_pair
    from vton.preprocess.parse import geometric_parse

    upper, face, lower, lengths = [], [], [], set()
    for i in range(12):
        r = render_pair(item_seed(777, i, "test"), (256, 192))
        t = r.pair.person
        a = make_agnostic(t.image, geometric_parse(t.image, t.person_mask, t.keypoints), t.keypoints)
        lengths.add(r.info.length)
        upper.append(a.mask[t.parse == CIHP.UPPER_CLOTHES].mean())
        face.append(a.mask[t.parse == CIHP.FACE].mean())
        worn_below = np.isin(t.parse, (CIHP.PANTS, CIHP.SKIRT))
        if worn_below.any():
            lower.append(a.mask[worn_below].mean())
    assert {"tunic", "long", "cropped"} <= lengths
    assert np.mean(upper) >= 0.97 and min(upper) > 0.75, np.round(upper, 3)
    assert np.mean(face) <= 0.02 and np.mean(lower) <= 0.15, (np.round(face, 3), np.round(lower, 3))
