"""TPS baseline: the spline interpolates its points, landmarks sit where a garment's corners are,
fallbacks say what they did, and on synthetic pairs it beats not warping at all."""
import numpy as np
import pytest
import torch

from vton.data.synth.render import generate_pair
from vton.errors import InputError
from vton.types import Body25
from vton.warp.evaluate import score_pairs
from vton.warp.tps import TPSConfig, eval_tps, fit_tps, garment_landmarks, tps_flow

SIZE = (128, 96)


def test_spline_interpolates_its_control_points():
    rng = np.random.default_rng(0)
    dst = rng.uniform(0, 1, (6, 2))
    src = dst + rng.normal(0, 0.05, (6, 2))
    w, a = fit_tps(dst, src)
    assert np.allclose(eval_tps(dst, dst, w, a), src, atol=1e-8)


def test_spline_reproduces_an_affine_map_exactly():
    rng = np.random.default_rng(1)
    dst = rng.uniform(0, 1, (7, 2))
    m = np.array([[1.1, 0.2], [-0.1, 0.9]])
    src = dst @ m.T + [0.05, -0.02]
    w, a = fit_tps(dst, src, regularization=0.3)  # smoothing cannot bend an affine map
    grid = rng.uniform(0, 1, (20, 2))
    assert np.allclose(eval_tps(grid, dst, w, a), grid @ m.T + [0.05, -0.02], atol=1e-8)


def tshirt_mask() -> np.ndarray:
    """A T-shaped garment: torso columns 30..65, rows 20..110; sleeves out to 10..85 in rows 20..45."""
    m = np.zeros(SIZE, np.uint8)
    m[20:110, 30:66] = 1
    m[20:45, 10:86] = 1
    return m


def test_landmarks_on_a_t_shirt_mask():
    lm = garment_landmarks(tshirt_mask())
    assert lm["right_hem"][0] == pytest.approx(30, abs=1) and lm["left_hem"][0] == pytest.approx(65, abs=1)
    assert lm["right_hem"][1] > 100 and lm["collar"][1] == 20
    assert lm["right_sleeve"][0] == 10 and lm["left_sleeve"][0] == 85  # sleeves: the far ends
    assert lm["right_shoulder"][0] < lm["collar"][0] < lm["left_shoulder"][0]


def test_no_sleeves_on_a_tank_top():
    m = np.zeros(SIZE, np.uint8)
    m[20:110, 30:66] = 1
    assert "right_sleeve" not in garment_landmarks(m) and "left_sleeve" not in garment_landmarks(m)


def test_empty_mask_is_a_clear_error():
    with pytest.raises(InputError, match="empty"):
        tps_flow(np.zeros(SIZE, np.uint8), np.zeros((25, 3), np.float32), SIZE)


def test_missing_keypoints_fall_back_with_a_note():
    kp = generate_pair(3, SIZE).person.keypoints.copy()
    none = tps_flow(tshirt_mask(), np.zeros((25, 3), np.float32), SIZE)
    assert none.method == "identity" and none.notes and torch.equal(none.flow, torch.zeros(1, 2, *SIZE))
    kp_few = np.zeros_like(kp)
    for j in (Body25.NECK, Body25.R_SHOULDER, Body25.L_SHOULDER):
        kp_few[j] = kp[j]
    few = tps_flow(tshirt_mask(), kp_few, SIZE)
    assert few.method == "affine" and any("3 landmark pairs" in n for n in few.notes)
    full = tps_flow(tshirt_mask(), kp, SIZE)
    assert full.method == "tps" and full.flow.shape == (1, 2, *SIZE)


def test_tps_flow_sends_body_points_to_garment_points():
    pair = generate_pair(5, SIZE)
    r = tps_flow(pair.cloth.mask, pair.person.keypoints, SIZE, TPSConfig(regularization=0.0))
    h, w = SIZE
    for (sx, sy), (dx, dy) in zip(r.src_points, r.dst_points):
        x, y = int(round(dx)), int(round(dy))
        if 0 <= x < w and 0 <= y < h:
            fx, fy = r.flow[0, :, y, x].tolist()
            # the garment point the body point samples, in cloth pixels (the pixel centre is <= 0.5 px off)
            assert abs(x + fx * w / 2 - sx) < 2 and abs(y + fy * h / 2 - sy) < 2


def test_tps_beats_identity_on_synthetic_pairs():
    pairs = [generate_pair(s, SIZE) for s in range(12)]
    tps = score_pairs(pairs, torch.cat([tps_flow(p.cloth.mask, p.person.keypoints, SIZE).flow for p in pairs]))
    ident = score_pairs(pairs, torch.zeros(len(pairs), 2, *SIZE))
    mean = lambda scores, k: float(np.mean([getattr(s, k) for s in scores]))  # noqa: E731
    assert mean(tps, "epe_px") < 0.75 * mean(ident, "epe_px")
    assert mean(tps, "mask_iou") > mean(ident, "mask_iou") + 0.1
    assert mean(tps, "fold_pct") < 2.0
