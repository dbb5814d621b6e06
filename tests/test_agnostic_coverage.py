"""The agnostic mask of a photo without a parse file hides the whole garment (issue 12, part 2).

MediaPipe runs for real on a handful of held-out synthetic people (dataset seed 8080, test split:
used by no other test and no training), preprocessed from the photo alone, scored on the drawing's
own parse with `scripts.measure_agnostic` (the full tables: ``python -m scripts.measure_agnostic``).
Measured on these people: 99.4% of the top covered, 0.4% of the face, 0.9% of the trousers and
skirts at 256x192; 99.4%, 1.4%, 1.1% at 512x384. Before issue 12 the geometric parse labelled a top
reaching below the hips as trousers, and the mask covered 88.5% of the top on average.

Three people of dataset seed 60606 (the set that missed the target) are checked one by one: two whose
MediaPipe person mask loses much of the top (held 51% and 53% of the body), which the geometric parse
could not label until `pipeline._garment_reach` grew the mask over the garment, and a gradient tunic
whose hem scan stopped early. Their tops were 66%, 78% and 79% covered before, 97.5%, 97.2% and 99.2%
after; MediaPipe's masks held 51% and 53% of the first two bodies, the grown ones 95% and 83%.
"""
from __future__ import annotations

import numpy as np
import pytest

from scripts.measure_agnostic import TARGETS, measure, meets_targets, score_mask, summarise
from vton.data.synth import item_seed, render_pair, sample_name
from vton.preprocess.pipeline import Preprocessor, _garment_reach
from vton.types import Body25

SEED = 8080


@pytest.fixture(scope="module")
def pre():
    p = Preprocessor()
    yield p
    p.close()


@pytest.mark.parametrize("size, n", [((256, 192), 8), ((512, 384), 4)], ids=["256x192", "512x384"])
def test_agnostic_mask_covers_tops_of_every_length(pre, size, n):
    scores, missed = measure(pre, SEED, n, size)
    assert not missed, f"MediaPipe found nobody in {missed}"
    lengths = {s.length for s in scores}
    assert lengths - {"regular"}, "the people should wear tops of several lengths"
    assert {s.lower_kind for s in scores} >= {"pants", "skirt"}, "over trousers and skirts"
    summary = summarise(scores)
    assert all(meets_targets(summary).values()), (summary, TARGETS)
    # no single person keeps a strip of the old garment: the hem is covered on each
    assert min(s.upper for s in scores) > 0.95, [(s.name, s.length, round(s.upper, 3)) for s in scores]
    assert np.mean([s.upper for s in scores if s.length != "regular"]) >= 0.97


LOST_BY_THE_MASK = {16: "tunic, purple on a purplish background", 27: "long top, its lower part lost"}
GRADIENT_TUNIC = 20


@pytest.mark.parametrize("index", [*LOST_BY_THE_MASK, GRADIENT_TUNIC], ids=["tunic", "long", "gradient"])
def test_tops_the_person_mask_or_the_hem_scan_lost_are_covered(pre, index):
    r = render_pair(item_seed(60606, index, "test"), (256, 192), sample_name(index))
    truth = r.pair.person
    p = pre.person(truth.image)
    s = score_mask(p.agnostic_mask, truth.parse)
    assert s["upper"] > 0.95, (r.pair.name, r.info.length, s)  # 0.66, 0.78 and 0.79 before
    assert s["face"] is None or s["face"] <= 0.05, s  # the long top's person: 4.3% before as after
    assert s["lower"] is None or s["lower"] <= 0.15, s
    # the grown person mask holds the body (MediaPipe's held 51% and 53% of the first two) and little else
    assert p.person_mask[truth.person_mask == 1].mean() > 0.8
    assert truth.person_mask[p.person_mask == 1].mean() > 0.97
    assert (p.parse[p.person_mask == 0] == 0).all()


def _drawn_person(background: tuple[int, int, int], ramp: float = 0.2) -> tuple[np.ndarray, ...]:
    """A 192x144 drawing: a plain top from the shoulders (row 40) to a tunic's hem (row 170) on ``background``
    (a vertical gradient of +-``ramp``), a face above it; the true top, a person mask that lost the top below
    row 100, keypoints."""
    h, w = 192, 144
    ramp = np.linspace(1 - ramp, 1 + ramp, h)[:, None, None]
    image = np.clip(np.array(background, np.float32) * ramp * np.ones((h, w, 3)), 0, 255).astype(np.uint8)
    top = np.zeros((h, w), bool)
    top[40:170, 42:102] = True
    image[top] = (120, 40, 130)
    image[12:40, 60:84] = (200, 160, 130)  # the face
    kp = np.zeros((25, 3), np.float32)
    for joint, (x, y) in {Body25.NOSE: (72, 24), Body25.NECK: (72, 42), Body25.R_SHOULDER: (48, 42),
                          Body25.L_SHOULDER: (96, 42), Body25.MID_HIP: (72, 110), Body25.R_HIP: (56, 110),
                          Body25.L_HIP: (88, 110)}.items():
        kp[joint] = (x, y, 0.9)
    mask = np.zeros((h, w), np.uint8)
    mask[12:100, 42:102] = 1
    return image, top, mask, kp


def test_garment_reach_grows_the_mask_over_a_lost_top_and_not_over_a_background_of_its_colour():
    image, top, mask, kp = _drawn_person((60, 90, 70))
    grown = _garment_reach(image, mask, kp)
    assert grown[top].mean() > 0.95, grown[top].mean()  # the top below row 100, lost by the mask, is back
    assert grown[~top & (mask == 0)].sum() == 0  # and nothing of the background
    assert _garment_reach(image, np.zeros_like(mask), kp).sum() == 0  # no chest in the mask: nothing to grow
    same, _, mask, kp = _drawn_person((120, 40, 130), ramp=0.0)  # a background of the top's colour: nothing grows
    assert _garment_reach(same, mask, kp) is mask
