"""Person and cloth photos -> `vton.types.Person` / `vton.types.Cloth`, every map at the photo's size.

`Preprocessor` owns the MediaPipe graphs (created on first use, then reused)
and a lock, so one instance can serve Streamlit's script threads.
`preprocess_person` / `preprocess_cloth` use a module-level default instance.

Person steps, each timed (``timings``) and reported through ``progress``:

1. pose: MediaPipe Pose -> BODY_25. No person -> retried with a grey margin
   around the photo (tight crops), then on a crop around the largest face; a small person (shoulders under `SMALL_PERSON` of the longer
   side) -> re-detected on a crop around them. Several faces -> the person with
   the largest face is used and a note says so.
2. masks: Pose's segmentation, thresholded; the components holding the
   body keypoints are kept and their holes filled.
3. parse: the given map, else `parse.geometric_parse` (face mesh + hands).
4. densepose: the given IUV, else `densepose.densepose_from_pose`.
5. agnostic: `agnostic.make_agnostic`.

Bad input raises `InputError` with one sentence: no person, shoulders missing
or cut off, person too small, a map of the wrong size, a person photo given as
cloth, a cloth mask that is empty or everything.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import cv2
import numpy as np

from vton.errors import InputError
from vton.preprocess import geometry as g
from vton.preprocess.agnostic import make_agnostic
from vton.preprocess.cloth import cloth_mask, fill_holes
from vton.preprocess.densepose import densepose_from_pose
from vton.preprocess.detect import SEGMENTATION_THRESHOLD, Detectors, PoseResult, landmarks_to_body25
from vton.preprocess.parse import geometric_parse
from vton.types import CIHP, Body25, Cloth, DensePosePart, Person, Source, check_image

Progress = Callable[[int, int, str], None]

SMALL_PERSON = 0.12
"""Shoulder width below this fraction of the photo's longer side -> detect again on a crop."""
MIN_SHOULDER_PX = 12
"""Shoulder width (pixels, after cropping) below which the person is too small to preprocess."""
MIN_SHOULDER_VISIBILITY = 0.5
PROMINENT_FACE = 0.25
"""A face counts as another person when its area is at least this fraction of the largest face's."""
CLOTH_FACE_SCORE = 0.8
PAD_RETRY = 0.15
"""When Pose finds nobody, it is run again with a margin of this fraction of the height on every side."""

STEPS = ("pose", "masks", "parse", "densepose", "agnostic")


class Preprocessor:
    """Holds the MediaPipe models (created once, on first use) and turns photos into `Person` / `Cloth`.

    Thread-safe: MediaPipe calls run under one lock.

    Example:
        >>> pre = Preprocessor()
        >>> person = pre.person(load_image("person.jpg"))
        >>> person.sources["parse"], person.notes
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detectors: Detectors | None = None

    @property
    def detectors(self) -> Detectors:
        if self._detectors is None:
            self._detectors = Detectors()
        return self._detectors

    def close(self) -> None:
        with self._lock:
            if self._detectors is not None:
                self._detectors.close()
                self._detectors = None

    # ------------------------------------------------------------------ person

    def person(self, image: np.ndarray, *, parse: np.ndarray | None = None, densepose: np.ndarray | None = None,
               progress: Progress | None = None, timings: dict[str, float] | None = None,
               parse_source: Source = Source.USER_FILE, densepose_source: Source = Source.USER_FILE) -> Person:
        """Preprocess a person photo ``uint8 (H, W, 3)`` (any size) into a `Person` at that size.

        Args:
            parse: optional CIHP ``uint8 (H, W)`` map (e.g. VITON-HD ``image-parse-v3``) used instead of
                the geometric parse; recorded as ``parse_source``.
            densepose: optional IUV ``uint8 (H, W, 3)`` used instead of the pose-built map.
            progress: ``progress(done, total, message)`` after each step.
            timings: if given, filled with seconds per step (`STEPS`).
        """
        check_image(image)
        size = image.shape[:2]
        _check_maps(size, parse, densepose)
        notes: list[str] = []
        timings = {} if timings is None else timings
        report = progress or (lambda done, total, message: None)
        clock = time.perf_counter()

        def lap(step: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[step] = now - clock
            clock = now
            report(STEPS.index(step) + 1, len(STEPS), step)

        with self._lock:
            det = self.detectors
            pose, face_boxes = self._find_person(det, image, notes)
            lap("pose")
            person_mask = _person_mask(pose, size)
            lap("masks")
            sources = {"image": Source.USER_FILE, "keypoints": Source.MEDIAPIPE, "person_mask": Source.MEDIAPIPE}
            if parse is None:
                oval = det.face_oval_points(image)
                oval = oval if _near_face(oval, pose.keypoints) else None
                if oval is None:
                    notes.append("no face mesh found near the pose; the face is an ellipse around the eyes and nose")
                hands = det.hand_points(image)
        if parse is None:
            parse = geometric_parse(image, person_mask, pose.keypoints, oval, hands)
            sources["parse"] = Source.GEOMETRIC
        else:
            sources["parse"] = parse_source
        lap("parse")
        if densepose is None:
            densepose = densepose_from_pose(pose.keypoints, person_mask, parse)
            sources["densepose"] = Source.GEOMETRIC
        else:
            sources["densepose"] = densepose_source
        lap("densepose")
        agn = make_agnostic(image, parse, pose.keypoints)
        sources.update(agnostic=Source.GEOMETRIC, agnostic_mask=Source.GEOMETRIC, parse_agnostic=Source.GEOMETRIC)
        lap("agnostic")
        return Person(image=image, keypoints=pose.keypoints, person_mask=person_mask, parse=parse,
                      densepose=densepose, agnostic=agn.image, agnostic_mask=agn.mask, parse_agnostic=agn.parse,
                      sources=sources, notes=notes)

    def _find_person(self, det: Detectors, image: np.ndarray, notes: list[str]) -> tuple[PoseResult, np.ndarray]:
        """Step 1: the most prominent person's pose, re-detected on a crop when needed."""
        h, w = image.shape[:2]
        faces = det.face_boxes(image)
        faces = faces[np.argsort(-_areas(faces))]
        if len(faces):
            prominent = _areas(faces) >= PROMINENT_FACE * _areas(faces)[0]
            if prominent.sum() > 1:
                notes.append(f"{int(prominent.sum())} people found; used the most prominent (largest face)")
        pose = det.run_pose(image)
        if pose is None:  # tight crops (VITON-HD's framing) are found more often with a margin around them
            pose = _pose_on_padded(det, image, PAD_RETRY)
        if len(faces) and (pose is None or not _nose_in(pose.keypoints, faces[0])):
            # no pose, or a pose on someone other than the largest face: look around that face
            retry = _pose_on_crop(det, image, _box_below_face(faces[0], (h, w)))
            if retry is not None:
                pose = retry
        if pose is None:
            raise InputError("no person found in the photo (MediaPipe Pose found no body); "
                             "give a photo of one person facing the camera")
        sw = g.shoulder_width(pose.keypoints)
        if sw is not None and sw < SMALL_PERSON * max(h, w):
            retry = _pose_on_crop(det, image, _box_around(pose, (h, w)))
            if retry is not None and g.shoulder_width(retry.keypoints) is not None:
                pose = retry
                notes.append(f"the person is small in the photo ({sw:.0f} px between the shoulders); "
                             "detected again on a crop around them")
        _check_shoulders(pose, (h, w))
        sw = g.shoulder_width(pose.keypoints)
        if sw < MIN_SHOULDER_PX:
            raise InputError(f"the person is too small in the photo ({sw:.0f} px between the shoulders); "
                             "crop the photo around the person")
        return pose, faces

    # ------------------------------------------------------------------ cloth

    def cloth(self, image: np.ndarray, *, mask: np.ndarray | None = None,
              mask_source: Source = Source.USER_FILE) -> Cloth:
        """Preprocess an in-shop garment photo into a `Cloth` (mask from `cloth.cloth_mask` unless given).

        Raises:
            InputError: a given mask of the wrong size; a face in the photo (a person photo given as
                cloth); a computed mask that is empty or covers almost everything.
        """
        check_image(image)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != image.shape[:2]:
                raise InputError(f"the cloth mask is {mask.shape[1]}x{mask.shape[0]} but the cloth photo is "
                                 f"{image.shape[1]}x{image.shape[0]} (W x H)")
            return Cloth(image=image, mask=(mask > 0).astype(np.uint8),
                         sources={"image": Source.USER_FILE, "mask": mask_source})
        with self._lock:
            faces = self.detectors.face_boxes(image)
        if len(faces) and faces[:, 4].max() >= CLOTH_FACE_SCORE:
            raise InputError("the cloth photo shows a person (a face was found); give an in-shop garment photo")
        return Cloth(image=image, mask=cloth_mask(image), sources={"image": Source.USER_FILE, "mask": Source.GEOMETRIC})


# ---------------------------------------------------------------------- helpers


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _nose_in(kp: np.ndarray, box: np.ndarray, grow: float = 0.5) -> bool:
    """Whether the pose's face (nose, else neck region) lies in ``box`` grown by ``grow`` of its size."""
    pts = [g.xy(kp, i) for i in (Body25.NOSE, Body25.R_EYE, Body25.L_EYE) if g.present(kp, i)]
    if not pts:
        return False
    x, y = np.mean(pts, axis=0)
    bw, bh = box[2] - box[0], box[3] - box[1]
    return bool(box[0] - grow * bw <= x <= box[2] + grow * bw and box[1] - grow * bh <= y <= box[3] + grow * bh)


def _box_below_face(face: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A crop (x0, y0, x1, y1) likely to hold the body under a face box: 5 faces wide, down to the bottom."""
    h, w = size
    cx, fw, fh = (face[0] + face[2]) / 2, face[2] - face[0], face[3] - face[1]
    x0, x1 = cx - 2.5 * fw, cx + 2.5 * fw
    y0, y1 = face[1] - 1.0 * fh, min(h, face[3] + 8 * fh)
    return _clip_box((x0, y0, x1, y1), size)


def _box_around(pose: PoseResult, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A crop around the pose's landmarks (visible or not), padded by half the body size."""
    lm = pose.landmarks[:, :2]
    x0, y0 = lm.min(axis=0)
    x1, y1 = lm.max(axis=0)
    pad = 0.5 * max(x1 - x0, y1 - y0)
    return _clip_box((x0 - pad, y0 - pad, x1 + pad, y1 + pad), size)


def _clip_box(box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = size
    x0, y0, x1, y1 = box
    return int(max(0, x0)), int(max(0, y0)), int(min(w, np.ceil(x1))), int(min(h, np.ceil(y1)))


def _pose_on_crop(det: Detectors, image: np.ndarray, box: tuple[int, int, int, int]) -> PoseResult | None:
    """Pose on ``image[y0:y1, x0:x1]``, mapped back to the full photo (segmentation pasted into zeros)."""
    x0, y0, x1, y1 = box
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    crop = image[y0:y1, x0:x1]
    r = det.run_pose(crop)
    if r is None:
        return None
    h, w = image.shape[:2]
    lm = r.landmarks.copy()
    lm[:, 0] += x0
    lm[:, 1] += y0
    seg = np.zeros((h, w), np.float32)
    seg[y0:y1, x0:x1] = r.segmentation
    return PoseResult(landmarks_to_body25(lm, (h, w)), lm, seg)


def _pose_on_padded(det: Detectors, image: np.ndarray, frac: float) -> PoseResult | None:
    """Pose on the photo with a grey margin of ``frac`` of its height on every side, mapped back."""
    h, w = image.shape[:2]
    p = max(1, int(round(frac * h)))
    padded = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    r = det.run_pose(padded)
    if r is None:
        return None
    lm = r.landmarks.copy()
    lm[:, :2] -= p
    return PoseResult(landmarks_to_body25(lm, (h, w)), lm, np.ascontiguousarray(r.segmentation[p:p + h, p:p + w]))


def _check_shoulders(pose: PoseResult, size: tuple[int, int]) -> None:
    """Both shoulders visible and inside the photo, else `InputError`."""
    h, w = size
    missing = []
    for name, j in (("right", 12), ("left", 11)):
        x, y, _, vis = pose.landmarks[j]
        if not (0 <= x < w and 0 <= y < h) or vis < MIN_SHOULDER_VISIBILITY:
            missing.append(name)
    if missing:
        raise InputError(f"the person's {' and '.join(missing)} shoulder{'s are' if len(missing) == 2 else ' is'} "
                         "not visible (cut off or hidden); the try-on needs both shoulders in the photo")


def _person_mask(pose: PoseResult, size: tuple[int, int]) -> np.ndarray:
    """Step 2: thresholded segmentation, components holding body keypoints (else the largest), holes filled."""
    seg = pose.segmentation
    if seg.shape != tuple(size):
        seg = cv2.resize(seg, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    mask = (seg > SEGMENTATION_THRESHOLD).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        raise InputError("no person found in the photo (the person segmentation is empty)")
    kp = pose.keypoints
    keep = set()
    for i in (Body25.NECK, Body25.R_SHOULDER, Body25.L_SHOULDER, Body25.MID_HIP, Body25.NOSE):
        if g.present(kp, i):
            x, y = g.pt(g.xy(kp, i))
            if labels[y, x] > 0:
                keep.add(int(labels[y, x]))
    if not keep:
        keep = {1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))}
    return fill_holes(np.isin(labels, sorted(keep)).astype(np.uint8))


def _near_face(oval: np.ndarray | None, kp: np.ndarray) -> bool:
    """Whether a face-mesh oval belongs to the pose's person (its centre within half a shoulder width of the nose)."""
    if oval is None:
        return False
    sw = g.shoulder_width(kp) or 0.0
    pts = [g.xy(kp, i) for i in (Body25.NOSE, Body25.R_EYE, Body25.L_EYE) if g.present(kp, i)]
    if not pts:
        return True
    return float(np.linalg.norm(oval.mean(axis=0) - np.mean(pts, axis=0))) < 0.5 * max(sw, 1.0)


def _check_maps(size: tuple[int, int], parse: np.ndarray | None, densepose: np.ndarray | None) -> None:
    """Given maps must match the photo's size and encoding (`InputError` otherwise)."""
    h, w = size
    if parse is not None:
        if parse.ndim != 2 or parse.shape != (h, w) or parse.dtype != np.uint8:
            raise InputError(f"the parse map is {parse.dtype} {parse.shape}; it must be uint8 ({h}, {w}) like the photo")
        if parse.size and int(parse.max()) >= len(CIHP):
            raise InputError(f"the parse map has label {int(parse.max())}; CIHP labels are 0..{len(CIHP) - 1}")
    if densepose is not None:
        if densepose.shape != (h, w, 3) or densepose.dtype != np.uint8:
            raise InputError(f"the DensePose image is {densepose.dtype} {densepose.shape}; "
                             f"it must be uint8 ({h}, {w}, 3) like the photo")
        if densepose.size and int(densepose[..., 0].max()) >= len(DensePosePart):
            raise InputError(f"the DensePose image has part index {int(densepose[..., 0].max())}; "
                             f"parts are 0..{len(DensePosePart) - 1}")


# ---------------------------------------------------------------------- module-level default

_default: Preprocessor | None = None
_default_lock = threading.Lock()


def default_preprocessor() -> Preprocessor:
    """The shared `Preprocessor`, created on first call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Preprocessor()
        return _default


def preprocess_person(image: np.ndarray, *, parse: np.ndarray | None = None, densepose: np.ndarray | None = None,
                      progress: Progress | None = None) -> Person:
    """Preprocess a person photo with the default `Preprocessor` (see `Preprocessor.person`)."""
    return default_preprocessor().person(image, parse=parse, densepose=densepose, progress=progress)


def preprocess_cloth(image: np.ndarray, *, mask: np.ndarray | None = None) -> Cloth:
    """Preprocess a garment photo with the default `Preprocessor` (see `Preprocessor.cloth`)."""
    return default_preprocessor().cloth(image, mask=mask)
