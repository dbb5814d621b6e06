"""MediaPipe detectors (legacy ``mp.solutions`` API, bundled models, offline) and their outputs.

`Detectors` creates the MediaPipe graphs once; its methods take an ``uint8
(H, W, 3)`` RGB photo and return numpy arrays in that photo's pixel
coordinates. It is not thread-safe by itself: `vton.preprocess.Preprocessor`
holds the lock.

Pose landmarks (33, MediaPipe's order) map to OpenPose BODY_25 (`MP_TO_BODY25`):
neck is the mid-shoulder point and MidHip the mid-hip point (confidence = the
smaller of the two); the small toes have no MediaPipe landmark and stay
``(0, 0, 0)``. MediaPipe's "left" is the subject's left, as in OpenPose, so no
side swap is needed. Confidence is MediaPipe's ``visibility``; a landmark
outside the photo or with visibility below `MIN_VISIBILITY` becomes ``(0, 0, 0)``.

MediaPipe does not put the joints where a COCO-trained model like OpenPose
does: its shoulders sit ~9% of a shoulder width further inside the body.
`to_openpose` moves shoulders, elbows, wrists and hips by `OPENPOSE_OFFSETS`:
fixed offsets in each joint's own frame, in shoulder widths, measured on
synthetic people whose joints are drawn at the joint centres (the shoulder joint
one arm radius inside the shoulder's outline), by ``scripts/calibrate_keypoints.py``.
They were not checked against OpenPose on real photos (no OpenPose runs offline
here); ``Preprocessor(openpose_offsets=False)`` keeps MediaPipe's positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vton.types import NUM_KEYPOINTS, Body25

MIN_VISIBILITY = 0.2
"""Pose landmarks below this visibility are written as missing ``(0, 0, 0)``."""

SEGMENTATION_THRESHOLD = 0.5

MP_TO_BODY25: dict[Body25, int] = {
    Body25.NOSE: 0,
    Body25.R_SHOULDER: 12, Body25.R_ELBOW: 14, Body25.R_WRIST: 16,
    Body25.L_SHOULDER: 11, Body25.L_ELBOW: 13, Body25.L_WRIST: 15,
    Body25.R_HIP: 24, Body25.R_KNEE: 26, Body25.R_ANKLE: 28,
    Body25.L_HIP: 23, Body25.L_KNEE: 25, Body25.L_ANKLE: 27,
    Body25.R_EYE: 5, Body25.L_EYE: 2, Body25.R_EAR: 8, Body25.L_EAR: 7,
    Body25.L_BIG_TOE: 31, Body25.L_HEEL: 29, Body25.R_BIG_TOE: 32, Body25.R_HEEL: 30,
}
"""BODY_25 index -> MediaPipe Pose landmark index (neck and MidHip are midpoints)."""


MIRROR_LANDMARKS = np.arange(33)
"""MediaPipe Pose landmark index of each landmark in a horizontally mirrored photo (left and right swap)."""
for _a in (1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31):
    _b = _a + 3 if _a < 4 else _a + 1
    MIRROR_LANDMARKS[_a], MIRROR_LANDMARKS[_b] = _b, _a


def average_keypoints(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean of two BODY_25 estimates where both found a joint (mean confidence), else whichever found it."""
    out = np.where((a[:, 2:] > 0) | (b[:, 2:] <= 0), a, b).astype(np.float32)
    both = (a[:, 2] > 0) & (b[:, 2] > 0)
    out[both] = (a[both] + b[both]) / 2
    return out


OPENPOSE_OFFSETS: dict[str, tuple[float, float]] = {
    # joint pair: (along, outward) in shoulder widths: the median over 233 synthetic people
    # (seeds 1000-1239 at 256x192, both sides) of drawn joint - flip-tested MediaPipe joint,
    # printed by `python -m scripts.calibrate_keypoints`.
    "shoulder": (-0.024, 0.093),
    "elbow": (0.037, 0.013),
    "wrist": (0.074, 0.027),
    "hip": (-0.002, 0.048),
}
"""How far OpenPose's joints lie from MediaPipe's, in each joint's frame (see `openpose_frames`)."""

OPENPOSE_MOVED = {"shoulder": (Body25.R_SHOULDER, Body25.L_SHOULDER), "elbow": (Body25.R_ELBOW, Body25.L_ELBOW),
                  "wrist": (Body25.R_WRIST, Body25.L_WRIST), "hip": (Body25.R_HIP, Body25.L_HIP)}
"""The joints `to_openpose` moves, as (subject's right, left) per `OPENPOSE_OFFSETS` key."""

_PARENT = {Body25.R_ELBOW: Body25.R_SHOULDER, Body25.L_ELBOW: Body25.L_SHOULDER,
           Body25.R_WRIST: Body25.R_ELBOW, Body25.L_WRIST: Body25.L_ELBOW}


def openpose_frames(kp: np.ndarray) -> tuple[float, dict[int, tuple[np.ndarray, np.ndarray]]] | None:
    """Shoulder width and, per joint of `OPENPOSE_MOVED`, two unit vectors ``(along, outward)`` in pixels.

    Shoulders and hips: ``along`` points down the body (perpendicular to the shoulder line),
    ``outward`` along the shoulder line away from the body's middle. Elbows and wrists:
    ``along`` follows the limb (shoulder -> elbow, elbow -> wrist), ``outward`` is its normal
    on the body's outer side. ``None`` without both shoulders.
    """
    rs, ls = kp[Body25.R_SHOULDER], kp[Body25.L_SHOULDER]
    if rs[2] <= 0 or ls[2] <= 0:
        return None
    sw = float(np.hypot(*(ls[:2] - rs[:2])))
    if sw < 1e-6:
        return None
    across = (ls[:2] - rs[:2]) / sw  # subject's right -> left
    down = np.array([-across[1], across[0]])
    frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for name, (right, left) in OPENPOSE_MOVED.items():
        for joint, side in ((right, -1.0), (left, 1.0)):
            if name in ("shoulder", "hip"):
                frames[joint] = (down, side * across)
                continue
            parent = kp[_PARENT[joint]]
            d = kp[joint, :2] - parent[:2]
            n = float(np.hypot(*d))
            d = d / n if parent[2] > 0 and n > 1e-6 else down
            frames[joint] = (d, side * np.array([d[1], -d[0]]))
    return sw, frames


def to_openpose(kp: np.ndarray, offsets: dict[str, tuple[float, float]] = OPENPOSE_OFFSETS) -> np.ndarray:
    """Move MediaPipe's shoulders, elbows, wrists and hips to where OpenPose puts them (`OPENPOSE_OFFSETS`).

    Neck and MidHip follow their joints; other joints and missing ones are unchanged, and so
    is everything when a shoulder is missing. Frames come from the unmoved joints.
    """
    got = openpose_frames(kp)
    if got is None:
        return kp.copy()
    sw, frames = got
    out = kp.copy()
    for name, (right, left) in OPENPOSE_MOVED.items():
        along, outward = offsets[name]
        for joint in (right, left):
            if kp[joint, 2] > 0:
                a, o = frames[joint]
                out[joint, :2] = kp[joint, :2] + sw * (along * a + outward * o)
    for mid, (j1, j2) in {Body25.NECK: (Body25.R_SHOULDER, Body25.L_SHOULDER),
                          Body25.MID_HIP: (Body25.R_HIP, Body25.L_HIP)}.items():
        if out[mid, 2] > 0 and out[j1, 2] > 0 and out[j2, 2] > 0:
            out[mid, :2] = (out[j1, :2] + out[j2, :2]) / 2
    return out


@dataclass
class PoseResult:
    """One MediaPipe Pose run on a photo of size ``(H, W)``."""

    keypoints: np.ndarray  # float32 (25, 3) BODY_25 in pixels, (0, 0, 0) where missing
    landmarks: np.ndarray  # float32 (33, 4) MediaPipe (x px, y px, z, visibility), unfiltered
    segmentation: np.ndarray  # float32 (H, W) person probability in [0, 1]
    detected: np.ndarray | None = None  # float32 (25, 3) the flip-tested MediaPipe joints, before `to_openpose`


def landmarks_to_body25(lm: np.ndarray, size: tuple[int, int], min_visibility: float = MIN_VISIBILITY) -> np.ndarray:
    """Map MediaPipe's 33 landmarks ``(33, >=4)`` (x px, y px, z, visibility) to BODY_25 ``(25, 3)``."""
    h, w = size
    kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)

    def usable(j: int) -> bool:
        x, y, v = lm[j, 0], lm[j, 1], lm[j, 3]
        return bool(v >= min_visibility and 0 <= x < w and 0 <= y < h)

    for b, j in MP_TO_BODY25.items():
        if usable(j):
            kp[b] = (lm[j, 0], lm[j, 1], lm[j, 3])
    for b, (j1, j2) in {Body25.NECK: (11, 12), Body25.MID_HIP: (23, 24)}.items():
        if usable(j1) and usable(j2):
            kp[b, :2] = (lm[j1, :2] + lm[j2, :2]) / 2
            kp[b, 2] = min(lm[j1, 3], lm[j2, 3])
    return kp


class Detectors:
    """The MediaPipe graphs, created once: pose (with segmentation), face mesh, hands, face detection."""

    def __init__(self) -> None:
        import mediapipe as mp  # imported here: ~1 s, and only the preprocess stage needs it

        s = mp.solutions
        self.pose = s.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True,
                                min_detection_confidence=0.5)
        self.face_mesh = s.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                                              min_detection_confidence=0.5)
        self.hands = s.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1,
                                   min_detection_confidence=0.5)
        self.faces = s.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.6)
        self.face_oval = sorted({i for edge in s.face_mesh.FACEMESH_FACE_OVAL for i in edge})

    def close(self) -> None:
        for graph in (self.pose, self.face_mesh, self.hands, self.faces):
            graph.close()

    def run_pose(self, image: np.ndarray) -> PoseResult | None:
        """MediaPipe Pose on the photo; None when no person is found."""
        h, w = image.shape[:2]
        r = self.pose.process(np.ascontiguousarray(image))
        if r.pose_landmarks is None:
            return None
        lm = np.array([(p.x * w, p.y * h, p.z * w, p.visibility) for p in r.pose_landmarks.landmark], np.float32)
        seg = r.segmentation_mask if r.segmentation_mask is not None else np.zeros((h, w), np.float32)
        return PoseResult(landmarks_to_body25(lm, (h, w)), lm, np.asarray(seg, np.float32))

    def face_boxes(self, image: np.ndarray) -> np.ndarray:
        """Faces found by the full-range face detector: ``float32 (N, 5)`` (x0, y0, x1, y1, score) in pixels."""
        h, w = image.shape[:2]
        r = self.faces.process(np.ascontiguousarray(image))
        boxes = []
        for d in r.detections or []:
            b = d.location_data.relative_bounding_box
            boxes.append((b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h, d.score[0]))
        return np.array(boxes, np.float32).reshape(-1, 5)

    def face_oval_points(self, image: np.ndarray) -> np.ndarray | None:
        """The face-oval outline of one face ``float32 (K, 2)`` (x, y) pixels, or None."""
        h, w = image.shape[:2]
        r = self.face_mesh.process(np.ascontiguousarray(image))
        if not r.multi_face_landmarks:
            return None
        lm = r.multi_face_landmarks[0].landmark
        return np.array([(lm[i].x * w, lm[i].y * h) for i in self.face_oval], np.float32)

    def hand_points(self, image: np.ndarray) -> list[np.ndarray]:
        """The 21 landmarks ``float32 (21, 2)`` (x, y) pixels of each hand found (at most two).

        MediaPipe's handedness label assumes a mirrored selfie, so it is not
        used; callers assign each hand to the nearest pose wrist.
        """
        h, w = image.shape[:2]
        r = self.hands.process(np.ascontiguousarray(image))
        return [np.array([(p.x * w, p.y * h) for p in hand.landmark], np.float32)
                for hand in r.multi_hand_landmarks or []]
