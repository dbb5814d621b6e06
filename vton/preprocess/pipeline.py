"""Person and cloth photos -> `vton.types.Person` / `vton.types.Cloth`, every map at the photo's size.

`Preprocessor` owns the MediaPipe graphs (created on first use, then reused)
and a lock, so one instance can serve Streamlit's script threads.
`preprocess_person` / `preprocess_cloth` use a module-level default instance.

Person steps, each timed (``timings``) and reported through ``progress``:

1. pose: MediaPipe Pose -> BODY_25. Pose is steadier when the person fills
   its (square) input, so when nobody is found it runs again on the photo
   padded to a square, then with a grey margin (tight crops), then on a square
   under the largest face, then on 3 x 3 tiles (a small person in a large
   photo). A person filling less than `REFINE_BELOW` of the photo is detected
   again on a square around them. Several faces -> the person with the largest
   face is used and a note says so. The keypoints are then the mean of Pose on
   a square view of the person and on its mirror image (the "flip test" of pose
   estimation), moved to OpenPose's joint positions (`detect.to_openpose`).
2. masks: Pose's segmentation, thresholded; the components holding the
   body keypoints are kept and their holes filled. When the parse is the
   geometric one, the mask is then grown over the garment where the
   segmentation lost it (`_garment_reach`: pixels of the top's colours, unlike
   the background, within the body's reach), since that parse labels nothing
   outside the person mask.
3. parse: the given map, else the given human parser's (`parser.HumanParser`: a local
   SegFormer-like folder, labels mapped to CIHP by name), else `parse.geometric_parse`
   (face mesh + hands).
4. densepose: the given DensePose image, IUV or detectron2's dp_segm colour
   render (VITON-HD's ``image-densepose``; decoded to part indices, U = V = 0),
   told apart from the pixels (`densepose.read_densepose`; ``sources
   ["densepose_encoding"]`` says which), else `densepose.densepose_from_pose`
   (IUV). Photos with a side over `WORK_SIDE` get the parse and IUV built at
   that size and scaled back.
5. agnostic: `agnostic.make_agnostic`.

Bad input raises `InputError` with one sentence: no person, shoulders missing
or cut off, person too small, a map of the wrong size, a person photo given as
cloth, a cloth mask that is empty or everything.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from vton import checks
from vton.errors import InputError
from vton.preprocess import geometry as g
from vton.preprocess.agnostic import make_agnostic
from vton.preprocess.cloth import cloth_mask, fill_holes
from vton.preprocess.densepose import densepose_from_pose, read_densepose
from vton.preprocess.detect import (MIRROR_LANDMARKS, SEGMENTATION_THRESHOLD, Detectors, PoseResult, average_keypoints,
                                   landmarks_to_body25, to_openpose)
from vton.preprocess.parse import (GARMENT_COLOURS, MIN_GARMENT_TOLERANCE, colour_palette,
                                   geometric_parse, grow_region, lab_image, palette_distance)
from vton.types import CIHP, Body25, Cloth, DensePoseEncoding, Person, Source

if TYPE_CHECKING:
    from vton.preprocess.parser import HumanParser

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
"""When Pose finds nobody, it is run again with a margin of this fraction of the longer side all round."""
REFINE_BELOW = 0.6
"""When the square around the person is smaller than this fraction of the photo's longer side, Pose runs again on it."""

POSE_SIDE = 256
"""The flip test's square view is shrunk (area filter) to this side first, MediaPipe Pose's input size."""

WORK_SIDE = 1024
"""Longer side (pixels) above which the geometric parse and IUV are built on a downscaled copy."""

STEPS = ("pose", "masks", "parse", "densepose", "agnostic")


class Preprocessor:
    """Holds the MediaPipe models (created once, on first use) and turns photos into `Person` / `Cloth`.

    Thread-safe: MediaPipe calls run under one lock.

    Example:
        >>> pre = Preprocessor()
        >>> person = pre.person(load_image("person.jpg"))
        >>> person.sources["parse"], person.notes
    """

    def __init__(self, *, openpose_offsets: bool = True) -> None:
        """``openpose_offsets=False`` keeps MediaPipe's own joint positions (flip-tested) instead of
        moving them where OpenPose puts them (`detect.to_openpose`)."""
        checks.bool_argument("openpose_offsets", openpose_offsets)
        self._lock = threading.Lock()
        self._detectors: Detectors | None = None
        self.openpose_offsets = openpose_offsets

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
               parse_source: Source = Source.USER_FILE, densepose_source: Source = Source.USER_FILE,
               parser: HumanParser | None = None) -> Person:
        """Preprocess a person photo ``uint8 (H, W, 3)`` (any size) into a `Person` at that size.

        Args:
            parse: optional CIHP ``uint8 (H, W)`` map (e.g. VITON-HD ``image-parse-v3``) used instead of
                the geometric parse; recorded as ``parse_source``.
            densepose: optional DensePose image ``uint8 (H, W, 3)`` used instead of the pose-built map:
                IUV, or a dp_segm colour render (JPEG or PNG, min-max normalised or not), detected
                from its pixels; recorded as ``densepose_source``, its encoding as
                ``sources["densepose_encoding"]``.
            parser: a `vton.preprocess.parser.HumanParser` (`load_parser`) whose map replaces the geometric
                parse, as a given ``parse`` would (not both); recorded as ``Source.PARSER``.
            progress: ``progress(done, total, message)`` after each step.
            timings: if given, filled with seconds per step (`STEPS`).

        Raises:
            InputError: ``image`` not ``uint8 (H, W, 3)``; ``parse`` / ``densepose`` not of the photo's size and
                encoding; no person found, or one too small.
        """
        checks.image_argument("image", image)
        if progress is not None and not callable(progress):
            raise InputError(f"progress must be a function progress(done, total, message), got {progress!r}")
        if timings is not None and not isinstance(timings, dict):
            raise InputError(f"timings must be a dict to fill (or None), got {type(timings).__name__}")
        size = image.shape[:2]
        _check_maps(size, parse, densepose)
        if parse is not None and parser is not None:
            raise InputError("give a parse map or a human parser, not both")
        notes: list[str] = []
        densepose_encoding = DensePoseEncoding.IUV
        if densepose is not None:
            densepose, densepose_encoding = read_densepose(densepose)
            if densepose_encoding is DensePoseEncoding.DP_SEGM:
                notes.append("the DensePose image is a dp_segm colour render (as VITON-HD's image-densepose): its "
                             "part indices were decoded from the colours; U and V are not in the render (set to 0)")
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
            pose = self._find_person(det, image, notes)
            lap("pose")
            person_mask = _person_mask(pose, size)
            lap("masks")
            sources = {"image": Source.USER_FILE, "keypoints": Source.MEDIAPIPE, "person_mask": Source.MEDIAPIPE}
            if parse is None and parser is None:
                oval = _face_oval(det, image, pose.keypoints)
                if oval is None:
                    notes.append("no face mesh found near the pose; the face is an ellipse around the eyes and nose")
                hands = det.hand_points(image)
        work = _WorkingSize(size, pose.keypoints, person_mask)
        if parser is not None:  # the parser's map is taken as a dataset's parse file is
            parsed = parser(image, pose.keypoints)
            parse = parsed.parse
            notes.extend(parsed.notes)
            sources["parse"] = Source.PARSER
        elif parse is None:
            small = work.down_image(image)
            grown = _garment_reach(small, work.mask, work.kp)
            if grown is not work.mask:  # the parse labels the garment MediaPipe's segmentation lost
                before = int(person_mask.sum())
                person_mask = person_mask | work.up(grown, keep=np.ones_like(person_mask))
                work.mask = grown
                notes.append(f"person mask grown over {int(person_mask.sum()) - before} pixels of the garment "
                             "that MediaPipe's segmentation lost")
            parse = work.up(geometric_parse(small, work.mask, work.kp, work.points(oval),
                                            [work.points(h) for h in hands]), keep=person_mask)
            sources["parse"] = Source.GEOMETRIC
        else:
            sources["parse"] = parse_source
        lap("parse")
        if densepose is None:
            densepose = work.up(densepose_from_pose(work.kp, work.mask, work.down_labels(parse)), keep=person_mask)
            sources["densepose"] = Source.GEOMETRIC
        else:
            sources["densepose"] = densepose_source
        sources["densepose_encoding"] = densepose_encoding
        lap("densepose")
        agn = make_agnostic(image, parse, pose.keypoints)
        sources.update(agnostic=Source.GEOMETRIC, agnostic_mask=Source.GEOMETRIC, parse_agnostic=Source.GEOMETRIC)
        lap("agnostic")
        return Person(image=image, keypoints=pose.keypoints, person_mask=person_mask, parse=parse,
                      densepose=densepose, agnostic=agn.image, agnostic_mask=agn.mask, parse_agnostic=agn.parse,
                      sources=sources, notes=notes, detected_keypoints=pose.detected if self.openpose_offsets else None)

    def keypoints(self, image: np.ndarray, notes: list[str] | None = None) -> np.ndarray:
        """Only step 1: the BODY_25 keypoints ``float32 (25, 3)`` of the photo's most prominent person.

        Raises `InputError` like `person` does; notes about the search go to ``notes``.
        """
        checks.image_argument("image", image)
        with self._lock:
            return self._find_person(self.detectors, image, [] if notes is None else notes).keypoints

    def _find_person(self, det: Detectors, image: np.ndarray, notes: list[str]) -> PoseResult:
        """Step 1: the most prominent person's pose (see the module docstring for the retries)."""
        h, w = image.shape[:2]
        faces = det.face_boxes(image)
        faces = faces[np.argsort(-_areas(faces), kind="stable")]
        if len(faces):
            prominent = _areas(faces) >= PROMINENT_FACE * _areas(faces)[0]
            if prominent.sum() > 1:
                notes.append(f"{int(prominent.sum())} people found; used the most prominent (largest face)")
        pose = det.run_pose(image)
        fallbacks = [_square_box(0, 0, w, h), _margin_box(h, w, PAD_RETRY)]
        if len(faces):
            fallbacks.append(_box_below_face(faces[0]))
        for box in fallbacks:  # speculative views: kept only with both shoulders visible
            if pose is not None:
                break
            pose = _with_shoulders(_pose_in_box(det, image, box), (h, w))
        if pose is not None and len(faces) > 1 and not _nose_in(pose.keypoints, faces[0]):
            pose = _pose_in_box(det, image, _box_below_face(faces[0])) or pose  # a pose on someone else
        if pose is None:
            pose = _with_shoulders(_search_tiles(det, image), (h, w))
            if pose is not None:
                notes.append("the person was found only on a part of the photo (small in a large photo?)")
        if pose is None:
            raise InputError("no person found in the photo (MediaPipe Pose found no body); give a photo of "
                             "one person facing the camera, cropped around them if they are small in it")
        box = _box_around(pose)
        if box[2] - box[0] < REFINE_BELOW * max(h, w):
            # a person small in the frame (or beside others): Pose is steadier when they fill its input
            sw = g.shoulder_width(pose.keypoints)
            refined = _pose_in_box(det, image, box)
            if refined is not None and g.shoulder_width(refined.keypoints) is not None:
                pose = refined
                if sw is not None and sw < SMALL_PERSON * max(h, w):
                    notes.append(f"the person is small in the photo ({sw:.0f} px between the shoulders); "
                                 "detected again on a crop around them")
        _check_shoulders(pose, (h, w))
        sw = g.shoulder_width(pose.keypoints)
        if sw < MIN_SHOULDER_PX:
            raise InputError(f"the person is too small in the photo ({sw:.0f} px between the shoulders); "
                             "crop the photo around the person")
        kp = _flip_tested(det, image, pose)
        return replace(pose, keypoints=to_openpose(kp) if self.openpose_offsets else kp, detected=kp)

    # ------------------------------------------------------------------ cloth

    def cloth(self, image: np.ndarray, *, mask: np.ndarray | None = None,
              mask_source: Source = Source.USER_FILE) -> Cloth:
        """Preprocess an in-shop garment photo into a `Cloth` (mask from `cloth.cloth_mask` unless given).

        Raises:
            InputError: ``image`` not ``uint8 (H, W, 3)``; a given mask of the wrong size; a face in the photo (a
                person photo given as cloth); a computed mask that is empty or covers almost everything.
        """
        checks.image_argument("image", image)
        if mask is not None:
            numeric = isinstance(mask, np.ndarray) and (mask.dtype == bool or np.issubdtype(mask.dtype, np.number))
            if not numeric or mask.ndim != 2:
                got = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
                raise InputError(f"mask must be a (H, W) array like the cloth photo (0 = background), got {got}")
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


class _WorkingSize:
    """Geometric maps of photos larger than `WORK_SIDE` are built at that size and scaled back (nearest).

    A 3000x2250 photo took 11 s at full size; the parse and IUV are geometric
    stand-ins whose detail does not grow with the photo, so they are built with
    the longer side at `WORK_SIDE` and upsampled, then cut to the full-size
    person mask. Photos at or under `WORK_SIDE` are untouched (scale 1).
    """

    def __init__(self, size: tuple[int, int], kp: np.ndarray, person_mask: np.ndarray) -> None:
        self.size = size
        self.scale = min(1.0, WORK_SIDE / max(size))
        self.small = (max(1, round(size[0] * self.scale)), max(1, round(size[1] * self.scale)))
        self.kp = kp.copy()
        self.kp[kp[:, 2] > 0, :2] *= self.scale
        self.mask = self.down_labels(person_mask)

    def down_image(self, image: np.ndarray) -> np.ndarray:
        if self.scale == 1.0:
            return image
        return cv2.resize(image, self.small[::-1], interpolation=cv2.INTER_AREA)

    def down_labels(self, labels: np.ndarray | None) -> np.ndarray | None:
        if labels is None or self.scale == 1.0:
            return labels
        return cv2.resize(labels, self.small[::-1], interpolation=cv2.INTER_NEAREST)

    def points(self, pts: np.ndarray | None) -> np.ndarray | None:
        return None if pts is None else pts * self.scale

    def up(self, labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """``labels`` (2-D, or 3-D like IUV) back at full size, zero outside ``keep`` grown by a scale step."""
        if self.scale == 1.0:
            return labels
        out = cv2.resize(labels, self.size[::-1], interpolation=cv2.INTER_NEAREST)
        k = 2 * int(np.ceil(1 / self.scale)) + 1
        grown = cv2.dilate(keep, np.ones((k, k), np.uint8))
        out[grown == 0] = 0
        return out


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


Box = tuple[int, int, int, int]
"""A square region ``(x0, y0, x1, y1)`` of a photo in pixels; it may reach outside the photo (grey there)."""


def _square_box(x0: float, y0: float, x1: float, y1: float, grow: float = 1.0) -> Box:
    """The square with the centre of ``(x0, y0, x1, y1)`` and side ``grow`` x its longer side."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * grow / 2
    return int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half))


def _margin_box(h: int, w: int, frac: float) -> Box:
    """The photo, made square, with a margin of ``frac`` of its longer side all round."""
    return _square_box(0, 0, w, h, 1 + 2 * frac)


def _box_below_face(face: np.ndarray) -> Box:
    """A square likely to hold the upper body under a face box: 7 face heights, from just above the face."""
    fh = face[3] - face[1]
    cx = (face[0] + face[2]) / 2
    return _square_box(cx - 3.5 * fh, face[1] - 0.8 * fh, cx + 3.5 * fh, face[1] + 6.2 * fh)


def _box_around(pose: PoseResult, grow: float = 1.3) -> Box:
    """A square around the pose's 33 landmarks (visible or not), ``grow`` x their extent."""
    lm = pose.landmarks[:, :2]
    return _square_box(*lm.min(axis=0), *lm.max(axis=0), grow=grow)


def _view(image: np.ndarray, box: Box) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The pixels of ``box`` (grey outside the photo) and the photo region ``(sx0, sy0, sx1, sy1)`` they show."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    view = np.full((y1 - y0, x1 - x0, 3), 128, np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        view[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return view, (sx0, sy0, sx1, sy1)


def _pose_in_box(det: Detectors, image: np.ndarray, box: Box) -> PoseResult | None:
    """Pose on the square ``box`` of the photo (grey outside the photo), mapped back to the photo."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    if x1 - x0 < 16:
        return None
    view, (sx0, sy0, sx1, sy1) = _view(image, box)
    if sx1 <= sx0 or sy1 <= sy0:
        return None
    r = det.run_pose(view)
    if r is None:
        return None
    lm = r.landmarks.copy()
    lm[:, 0] += x0
    lm[:, 1] += y0
    seg = np.zeros((h, w), np.float32)
    seg[sy0:sy1, sx0:sx1] = r.segmentation[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    return PoseResult(landmarks_to_body25(lm, (h, w)), lm, seg)


def _flip_tested(det: Detectors, image: np.ndarray, pose: PoseResult) -> np.ndarray:
    """BODY_25 keypoints averaged over Pose on a square view of the person and on its mirror image.

    The view is the photo padded to a square, or for a person small in the photo (whom
    `_find_person` refined on a crop) the square around them. On synthetic people the flip test
    lowered the median joint error after the OpenPose offsets from ~0.055 to ~0.050 shoulder
    widths (two-fold cross-validated over 233 people; README, "Keypoints"). A view where Pose
    finds nobody is left out.
    """
    h, w = image.shape[:2]
    box = _box_around(pose)
    if box[2] - box[0] >= REFINE_BELOW * max(h, w):
        box = _square_box(0, 0, w, h)
    view, _ = _view(image, box)
    scale = min(1.0, POSE_SIDE / view.shape[0])
    if scale < 1.0:  # Pose samples its input down to 256 px without smoothing; aliasing adds jitter
        side = max(1, round(view.shape[0] * scale))
        view = cv2.resize(view, (side, side), interpolation=cv2.INTER_AREA)
        scale = side / (box[2] - box[0])
    estimates = []
    for mirrored in (False, True):
        r = det.run_pose(np.ascontiguousarray(view[:, ::-1]) if mirrored else view)
        if r is None:
            continue
        lm = r.landmarks.copy()
        if mirrored:  # back to the photo's x, and the mirror's "left" landmarks are the subject's right ones
            lm[:, 0] = view.shape[1] - lm[:, 0]
            lm = lm[MIRROR_LANDMARKS]
        lm[:, :2] = lm[:, :2] / scale + np.array(box[:2], np.float32)
        estimates.append(landmarks_to_body25(lm, (h, w)))
    if not estimates:
        return pose.keypoints
    kp = estimates[0] if len(estimates) == 1 else average_keypoints(*estimates)
    keep = (kp[:, 2] > 0) | (pose.keypoints[:, 2] <= 0)
    return np.where(keep[:, None], kp, pose.keypoints).astype(np.float32)


def _face_oval(det: Detectors, image: np.ndarray, kp: np.ndarray) -> np.ndarray | None:
    """The face-mesh oval of the pose's person, found on a square around their face (1.2 shoulder widths)."""
    pts = [g.xy(kp, i) for i in (Body25.NOSE, Body25.R_EYE, Body25.L_EYE, Body25.R_EAR, Body25.L_EAR) if g.present(kp, i)]
    sw = g.shoulder_width(kp)
    if not pts or not sw:
        return None
    cx, cy = np.mean(pts, axis=0)
    box = _square_box(cx - 0.6 * sw, cy - 0.6 * sw, cx + 0.6 * sw, cy + 0.6 * sw)
    view, _ = _view(image, box)
    oval = det.face_oval_points(view)
    if oval is None:
        return None
    oval = oval + np.array(box[:2], np.float32)
    return oval if _near_face(oval, kp) else None


def _search_tiles(det: Detectors, image: np.ndarray) -> PoseResult | None:
    """Last resort for a small person in a large photo: Pose on 3 x 3 overlapping squares of half the size."""
    h, w = image.shape[:2]
    side = max(h, w) / 2
    for cy in np.linspace(side / 2, max(h - side / 2, side / 2), 3):
        for cx in np.linspace(side / 2, max(w - side / 2, side / 2), 3):
            box = _square_box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
            r = _pose_in_box(det, image, box)
            if r is not None and g.shoulder_width(r.keypoints) is not None and _inside(_box_around(r, 1.0), box):
                return r  # refined on a square around the person by the caller
    return None


def _inside(inner: Box, outer: Box) -> bool:
    """Whether ``inner`` lies within ``outer`` (a person cut by a tile's edge is not small)."""
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]



def _with_shoulders(pose: PoseResult | None, size: tuple[int, int]) -> PoseResult | None:
    """``pose`` if both its shoulders are visible in the photo, else None."""
    try:
        return pose if pose is not None and _check_shoulders(pose, size) is None else None
    except InputError:
        return None


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


REACH_BELOW_HIPS = 1.6
"""`_garment_reach` looks for the garment down to this many torso lengths (mid-shoulder to mid-hip) below the hips:
synthetic tunics end up to 0.75 (true) torso lengths below them, and Pose's hips and torso length are often short."""
REACH_FLARE = 1.8
"""... and that far down, up to this times half the hip width (at least half the shoulder width) either side."""
REACH_SIDE = 0.25
"""Margin (shoulder widths) beside the shoulders and hips of the looked-at torso, for loose garments."""
REACH_ARM = 1.3
"""Sleeves are looked for within this many shoulder widths of each shoulder (an arm's length), and in capsules
of `REACH_ARM_RADIUS` shoulder widths along Pose's arms: on synthetic people Pose misplaces the elbows and wrists
of a sleeve it cannot see, so its arm keypoints alone do not say where the sleeve is."""
REACH_ARM_RADIUS = 0.4
REACH_HEAD = 0.45
"""No growth within this many shoulder widths of the face's centre, nor higher than 0.2 shoulder widths above the
higher shoulder: the face and hair stay as MediaPipe found them."""
REACH_TOLERANCE = 12.0
"""The most (Lab) a pixel may stray from the chest's colours to join the garment; tighter than the parse's
`GARMENT_TOLERANCE` (20): on the astronaut photo 20 let the flag's red stripes beside the orange suit in
(1278 pixels, against 361 at 12), while on the synthetic sets 12 lost at most 0.05 points of top coverage."""
REACH_BACKGROUND_RATIO = 0.6
"""A pixel joins the garment only when its Lab distance to the garment's colours is under this times its distance to
the background (the nearer of a 4-colour background palette and the mean background around it): a photo whose
background has the garment's colour grows nothing there. Synthetic sets barely depend on it (seed 60606 at 256x192:
97.02% of the tops at 0.5, 97.05% at 0.6, 97.07% at 0.85); on the astronaut photo 0.7 added 361 pixels along the
suit's edge and the flag, 0.6 141, 0.5 46."""


def _garment_reach(image: np.ndarray, mask: np.ndarray, kp: np.ndarray) -> np.ndarray:
    """The person mask ``uint8 (H, W)`` grown over the garment where MediaPipe's segmentation lost it, else ``mask`` itself.

    Why: the geometric parse labels nothing outside the person mask, and the segmentation sometimes drops a large
    part of a top: a purple top on a purplish background, a plaid or striped one, a tunic's lower half, a sleeve.
    On held-out synthetic people (dataset seed 60606, 39 people found at 256x192) it held less than 90% of the
    body for 7 of them, and the agnostic mask then covered 95.1% of the tops on average (96.1% at 512x384),
    under the 97% of issue 12.

    What: pixels that look like the top are added where they touch the mask, within where a garment can be:

    - the top's colours: up to `GARMENT_COLOURS` k-means colours of the chest (the middle half of the torso, 0.25
      shoulder widths either side of its axis, inside the mask), with the parse's tolerance (twice the chest's 90th
      percentile distance to them, clipped to [`MIN_GARMENT_TOLERANCE`, `REACH_TOLERANCE`]);
    - nearer those than the background by `REACH_BACKGROUND_RATIO`; the background is measured outside the
      mask and the looked-at region, 0.1 shoulder widths away from both;
    - in the looked-at region: the torso from shoulders to hips widened by `REACH_SIDE`, going on below the hips
      (`REACH_BELOW_HIPS`, `REACH_FLARE`), discs of `REACH_ARM` around the shoulders and capsules along Pose's
      arms; never near the face (`REACH_HEAD`);
    - after an opening (3 x 3) against single pixels, the parts of these touching the mask join it, holes filled.

    Measured (``python -m scripts.measure_agnostic``, 40 people per set, mean share of the true top under the
    agnostic mask, at 256x192 / 512x384), with the two parse fixes of the same change (a gradient top that darkens
    to the skin's colour is followed down in `parse.garment_profile`; feet above the hem in the top's colours are
    the top): seed 60606 95.1% / 96.1% before, 97.05% / 99.2% after (this growth alone 96.1% / 97.5%, the
    parse fixes alone 95.7% / 97.8%); seed 70707 98.2% / 96.6% -> 98.3% / 97.6%; the default seed 31337
    99.3% / 98.7% -> 99.3% / 99.1%. The face stayed at 0.7-1.2% (unchanged); trousers and skirts under the
    mask 12.3% at most (31337 at 512x384: 7.3% -> 9.8%, mostly a 178-pixel sliver of trousers under a tunic).
    What it cannot mend: a pose MediaPipe got wrong on a person it barely segmented (seed 60606, person 36 at
    256x192: 23% of the top covered, 2 points of that set's mean).

    The mask is left as it is without shoulders or chest pixels inside it, or when nothing is added.
    """
    sw = g.shoulder_width(kp)
    hips = g.torso_hips(kp, person_mask=mask)
    if sw is None or sw < 2 or hips is None:
        return mask
    size = mask.shape
    rs, ls = g.xy(kp, Body25.R_SHOULDER), g.xy(kp, Body25.L_SHOULDER)
    rh, lh, _ = hips
    look = _reach_region(kp, size, rs, ls, rh, lh, sw)
    person = mask.astype(bool)
    lab = lab_image(image)
    shoulder_y, hip_y, axis_x = (rs[1] + ls[1]) / 2, (rh[1] + lh[1]) / 2, (rs[0] + ls[0]) / 2
    chest = np.zeros(size, bool)
    chest[int(max(shoulder_y + 0.25 * (hip_y - shoulder_y), 0)):int(max(shoulder_y + 0.75 * (hip_y - shoulder_y), 0)) + 1,
          int(max(axis_x - 0.25 * sw, 0)):int(max(axis_x + 0.25 * sw, 0)) + 1] = True
    chest &= person
    garment = colour_palette(lab[chest], GARMENT_COLOURS)
    if garment is None:
        return mask
    d_garment = palette_distance(lab, garment)
    tolerance = float(np.clip(2.0 * np.percentile(d_garment[chest], 90), MIN_GARMENT_TOLERANCE, REACH_TOLERANCE))
    k = 2 * max(1, int(round(0.1 * sw))) + 1
    background = ~cv2.dilate((person | look).astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    palette = colour_palette(lab[background], 4)
    if palette is None:
        return mask
    box = (2 * int(round(sw)) + 1,) * 2  # the background around each pixel (a gradient, a shadow)
    weight = cv2.blur(background.astype(np.float32), box)
    local = cv2.blur(lab * background[..., None], box) / np.maximum(weight, 1e-3)[..., None]
    d_local = np.where(weight > 1e-3, np.linalg.norm(lab - local, axis=-1), np.inf)
    d_background = np.minimum(palette_distance(lab, palette), d_local)
    like = look & ~person & (d_garment < tolerance) & (d_garment < REACH_BACKGROUND_RATIO * d_background)
    like = cv2.morphologyEx(like.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    if not like.any():
        return mask
    grown = fill_holes(grow_region(person, like).astype(np.uint8))
    return grown if grown.sum() > mask.sum() else mask


def _reach_region(kp: np.ndarray, size: tuple[int, int], rs: np.ndarray, ls: np.ndarray, rh: np.ndarray,
                  lh: np.ndarray, sw: float) -> np.ndarray:
    """Where `_garment_reach` looks for the garment, ``bool (H, W)`` (see there and the ``REACH_`` constants)."""
    def unit(v: np.ndarray) -> np.ndarray:
        n = float(np.linalg.norm(v))
        return v / n if n > 1e-6 else v

    mid_shoulder, mid_hip = (rs + ls) / 2, (rh + lh) / 2
    down, across = unit(mid_hip - mid_shoulder), unit(rs - ls)  # ``across`` points to the subject's right
    if not down.any():
        down = np.array([0.0, 1.0])
    if not across.any():
        across = np.array([-1.0, 0.0])
    half = max(float(np.linalg.norm(rh - lh)), sw) / 2 * REACH_FLARE
    bottom = mid_hip + down * REACH_BELOW_HIPS * float(np.linalg.norm(mid_hip - mid_shoulder))
    side, lift = across * REACH_SIDE * sw, down * 0.1 * sw
    region = np.zeros(size, np.uint8)
    g.draw_polygon(region, [rs + side - lift, ls - side - lift, lh - side, bottom - across * half,
                            bottom + across * half, rh + side])
    for shoulder in (rs, ls):
        cv2.circle(region, g.pt(shoulder), int(round(REACH_ARM * sw)), 1, -1)
    for a, b in [(Body25.R_SHOULDER, Body25.R_ELBOW), (Body25.R_ELBOW, Body25.R_WRIST),
                 (Body25.L_SHOULDER, Body25.L_ELBOW), (Body25.L_ELBOW, Body25.L_WRIST)]:
        if g.present(kp, a) and g.present(kp, b):
            g.draw_capsule(region, g.xy(kp, a), g.xy(kp, b), REACH_ARM_RADIUS * sw)
    region[:max(int(min(rs[1], ls[1]) - 0.2 * sw), 0)] = 0
    face = [g.xy(kp, i) for i in (Body25.NOSE, Body25.R_EYE, Body25.L_EYE) if g.present(kp, i)]
    if face:
        cv2.circle(region, g.pt(np.mean(face, axis=0)), int(round(REACH_HEAD * sw)), 0, -1)
    return region.astype(bool)


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
    for name, value in (("parse", parse), ("densepose", densepose)):
        if value is not None and not isinstance(value, np.ndarray):
            raise InputError(f"{name} must be a numpy array like the photo (or None), got {type(value).__name__}")
    if parse is not None:
        if parse.ndim != 2 or parse.shape != (h, w) or parse.dtype != np.uint8:
            raise InputError(f"the parse map is {parse.dtype} {parse.shape}; it must be uint8 ({h}, {w}) like the photo")
        if parse.size and int(parse.max()) >= len(CIHP):
            raise InputError(f"the parse map has label {int(parse.max())}; CIHP labels are 0..{len(CIHP) - 1}")
    if densepose is not None:  # its encoding (IUV or a dp_segm render) is checked by `read_densepose`
        if densepose.shape != (h, w, 3) or densepose.dtype != np.uint8:
            raise InputError(f"the DensePose image is {densepose.dtype} {densepose.shape}; "
                             f"it must be uint8 ({h}, {w}, 3) like the photo")


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
                      progress: Progress | None = None, parser: HumanParser | None = None) -> Person:
    """Preprocess a person photo with the default `Preprocessor` (see `Preprocessor.person`)."""
    return default_preprocessor().person(image, parse=parse, densepose=densepose, progress=progress, parser=parser)


def preprocess_cloth(image: np.ndarray, *, mask: np.ndarray | None = None) -> Cloth:
    """Preprocess a garment photo with the default `Preprocessor` (see `Preprocessor.cloth`)."""
    return default_preprocessor().cloth(image, mask=mask)
