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


@dataclass
class PoseResult:
    """One MediaPipe Pose run on a photo of size ``(H, W)``."""

    keypoints: np.ndarray  # float32 (25, 3) BODY_25 in pixels, (0, 0, 0) where missing
    landmarks: np.ndarray  # float32 (33, 4) MediaPipe (x px, y px, z, visibility), unfiltered
    segmentation: np.ndarray  # float32 (H, W) person probability in [0, 1]


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
