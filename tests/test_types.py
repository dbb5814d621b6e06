"""The conventions of vton.types and vton.tensors, checked against their sources (HR-VITON, OpenPose)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vton.tensors import (
    TryOnBatch, collate, densepose_to_tensor, groups_one_hot, image_to_tensor, mask_to_tensor,
    tensor_to_image, tensor_to_mask,
)
from vton.types import (
    BODY25_EDGES, CIHP, CIHP_PALETTE, CIHP_TO_GROUP, NUM_GROUPS, Body25, Group, check_image, check_keypoints,
    check_mask, cihp_to_groups, parse_size,
)

# HR-VITON cp_dataset.py (and VITON-HD datasets.py): group index -> (name, CIHP labels), as published.
HR_VITON_LABELS = {
    0: ["background", [0, 10]],
    1: ["hair", [1, 2]],
    2: ["face", [4, 13]],
    3: ["upper", [5, 6, 7]],
    4: ["bottom", [9, 12]],
    5: ["left_arm", [14]],
    6: ["right_arm", [15]],
    7: ["left_leg", [16]],
    8: ["right_leg", [17]],
    9: ["left_shoe", [18]],
    10: ["right_shoe", [19]],
    11: ["socks", [8]],
    12: ["noise", [3, 11]],
}

# OpenPose's BODY_25 output order (doc/02_output.md, POSE_BODY_25_BODY_PARTS).
OPENPOSE_BODY_25 = [
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe",
    "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
]


# ----------------------------------------------------------------------------- labels


def test_cihp_to_groups_is_hr_vitons_table():
    assert NUM_GROUPS == len(HR_VITON_LABELS) == 13 and len(CIHP) == 20
    expected = {label: group for group, (_, labels) in HR_VITON_LABELS.items() for label in labels}
    assert sorted(expected) == list(range(20))  # the table covers every CIHP label once
    for label in CIHP:
        assert CIHP_TO_GROUP[label] == expected[int(label)], label.name
        assert Group(expected[int(label)]).name.lower() == HR_VITON_LABELS[expected[int(label)]][0]
    all_labels = np.arange(20, dtype=np.uint8).reshape(4, 5)
    np.testing.assert_array_equal(cihp_to_groups(all_labels), np.vectorize(expected.get)(all_labels))


def test_cihp_label_values_are_the_lip_order():
    names = ["background", "hat", "hair", "glove", "sunglasses", "upper_clothes", "dress", "coat", "socks",
             "pants", "neck", "scarf", "skirt", "face", "left_arm", "right_arm", "left_leg", "right_leg",
             "left_shoe", "right_shoe"]
    assert [c.name.lower() for c in CIHP] == names
    assert len(CIHP_PALETTE) == 20 and len(set(CIHP_PALETTE)) == 20


def test_groups_one_hot_sums_to_one_and_rejects_bad_labels():
    parse = np.random.default_rng(0).integers(0, 20, (16, 12)).astype(np.uint8)
    one_hot = groups_one_hot(parse)
    assert one_hot.shape == (13, 16, 12)
    torch.testing.assert_close(one_hot.sum(0), torch.ones(16, 12))
    np.testing.assert_array_equal(one_hot.argmax(0).numpy(), cihp_to_groups(parse))
    with pytest.raises(ValueError, match="label 20"):
        cihp_to_groups(np.full((2, 2), 20, np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        cihp_to_groups(np.zeros((2, 2, 3), np.uint8))


# ----------------------------------------------------------------------------- keypoints


def test_body25_order_is_openposes():
    def openpose_name(member: Body25) -> str:
        words = member.name.split("_")
        side = words[0] if words[0] in ("R", "L") else ""
        rest = words[1:] if side else words
        return side + "".join(w.capitalize() for w in rest)

    assert [openpose_name(m) for m in Body25] == OPENPOSE_BODY_25


def test_body25_edges_form_a_left_right_symmetric_tree():
    assert len(BODY25_EDGES) == 24
    # a tree over all 25 points: 24 edges and connected
    reached, frontier = {Body25.NECK}, [Body25.NECK]
    while frontier:
        node = frontier.pop()
        for a, b in BODY25_EDGES:
            for u, v in ((a, b), (b, a)):
                if u == node and v not in reached:
                    reached.add(v)
                    frontier.append(v)
    assert reached == set(Body25)

    def mirror(p: Body25) -> Body25:
        name = p.name
        if name.startswith("R_"):
            return Body25["L_" + name[2:]]
        if name.startswith("L_"):
            return Body25["R_" + name[2:]]
        return p

    edges = {frozenset(e) for e in BODY25_EDGES}
    assert {frozenset(map(mirror, e)) for e in edges} == edges


def test_check_keypoints_names_the_shape():
    assert check_keypoints(np.zeros((25, 3), np.float64)).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(18, 3\)"):
        check_keypoints(np.zeros((18, 3)))


# ----------------------------------------------------------------------------- tensors


def test_image_tensor_round_trip_is_exact_for_every_value():
    values = np.arange(256, dtype=np.uint8)
    image = np.stack([values, values[::-1], np.roll(values, 7)], -1).reshape(16, 16, 3)
    t = image_to_tensor(image)
    assert t.shape == (3, 16, 16) and t.dtype == torch.float32
    assert t.min() == -1 and t.max() == 1
    assert t[0, 0, 0] == -1 and t[1, 0, 0] == 1  # channel 0 is red: values[0] = 0, values[::-1][0] = 255
    np.testing.assert_array_equal(tensor_to_image(t), image)
    np.testing.assert_array_equal(tensor_to_image(t[None]), image)
    assert (tensor_to_image(torch.full((3, 2, 2), 5.0)) == 255).all()  # out of range is clamped
    assert (tensor_to_image(torch.full((3, 2, 2), -5.0)) == 0).all()


def test_mask_and_densepose_tensors():
    mask = (np.random.default_rng(1).random((8, 6)) > 0.5).astype(np.uint8)
    t = mask_to_tensor(mask)
    assert t.shape == (1, 8, 6)
    np.testing.assert_array_equal(tensor_to_mask(t), mask)
    iuv = np.zeros((8, 6, 3), np.uint8)
    iuv[..., 0] = 24
    iuv[..., 1] = 255
    d = densepose_to_tensor(iuv)
    assert d.shape == (3, 8, 6)
    torch.testing.assert_close(d, torch.cat([torch.ones(2, 8, 6), -torch.ones(1, 8, 6)]))


def test_boundary_checks_say_what_they_got():
    with pytest.raises(ValueError, match="float32"):
        check_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="found 255"):
        check_mask(np.full((4, 4), 255, np.uint8))
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        check_mask(np.zeros((4, 4), np.uint8), size=(8, 8))
    assert parse_size("256x192") == (256, 192)
    for bad in ("256", "0x192", "axb"):
        with pytest.raises(ValueError):
            parse_size(bad)


def _item(h: int = 8, w: int = 6, flow: bool = False) -> dict[str, torch.Tensor]:
    item = {
        "person": torch.zeros(3, h, w), "cloth": torch.zeros(3, h, w), "cloth_mask": torch.zeros(1, h, w),
        "densepose": torch.zeros(3, h, w), "parse_agnostic": torch.zeros(13, h, w), "parse": torch.zeros(13, h, w),
        "agnostic": torch.zeros(3, h, w), "agnostic_mask": torch.zeros(1, h, w),
    }
    if flow:
        item["gt_flow"] = torch.ones(2, h, w)
    return item


def test_collate_keeps_ground_truth_only_when_every_item_has_it():
    full = collate([_item(flow=True), _item(flow=True)])
    assert full.gt_flow.shape == (2, 2, 8, 6) and full.gt_warped_cloth is None
    partial = collate([_item(flow=True), _item(flow=False)])
    assert partial.gt_flow is None
    assert isinstance(partial, TryOnBatch) and len(partial) == 2 and partial.size == (8, 6)


def test_batch_to_casts_floats_only():
    batch = collate([_item(flow=True)])
    half = batch.to("cpu", torch.float16)
    assert half.person.dtype == torch.float16 and half.gt_flow.dtype == torch.float16 and half.gt_warped_mask is None
