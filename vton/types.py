"""The conventions of the whole project, stated once (see DESIGN.md, "Conventions").

Images
    At the I/O boundary: ``uint8`` numpy arrays ``(H, W, 3)``, RGB.
    Inside models: float tensors ``(B, C, H, W)`` in ``[-1, 1]``.
Masks
    numpy ``uint8 (H, W)`` in ``{0, 1}``; tensors ``(B, 1, H, W)`` float in ``{0, 1}``.
Sizes
    Always ``(H, W)``. VITON-HD is 1024x768 (H x W); keep the 4:3 aspect.
Flows
    Sampling offsets in normalized grid units (``[-1, 1]`` per axis), channel 0 is
    ``x``, channel 1 is ``y``, shape ``(B, 2, H, W)``:
    ``warped(p) = cloth(p + flow(p))`` with ``grid_sample(align_corners=False)``.
    Being normalized, a flow is upsampled without rescaling its values.
Latents
    ``(B, 4, H/8, W/8)``, already multiplied by the VAE's ``scaling_factor``.
Keypoints
    OpenPose BODY_25 order (`Body25`), pixel coordinates, ``(25, 3)`` float32 with
    ``(x, y, confidence)``; a missing point is ``(0, 0, 0)`` like OpenPose JSON.
Parse maps
    CIHP's 20 labels (`CIHP`, VITON-HD ``image-parse-v3``) as ``uint8 (H, W)``;
    the warp network takes HR-VITON's 13 merged groups (`Group`) as one-hot.
DensePose-style IUV
    ``uint8 (H, W, 3)``: channel 0 is the part index I (0 = background, 1..24 as
    DensePose), channels 1 and 2 are U and V scaled to 0..255 (detectron2's IUV
    dump layout). See `DensePosePart`. `Person.densepose` is always IUV; a DensePose
    image may also come as detectron2's ``dp_segm`` colour render (VITON-HD's
    ``image-densepose``), see `DensePoseEncoding`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

import numpy as np

Size = tuple[int, int]
"""An image size as ``(H, W)``."""

VITON_HD_SIZE: Size = (1024, 768)
DEFAULT_SIZE: Size = (256, 192)
LATENT_CHANNELS = 4
VAE_FACTOR = 8


# ----------------------------------------------------------------------------- keypoints


class Body25(IntEnum):
    """OpenPose BODY_25 keypoint indices. "Left" is the subject's left."""

    NOSE = 0
    NECK = 1
    R_SHOULDER = 2
    R_ELBOW = 3
    R_WRIST = 4
    L_SHOULDER = 5
    L_ELBOW = 6
    L_WRIST = 7
    MID_HIP = 8
    R_HIP = 9
    R_KNEE = 10
    R_ANKLE = 11
    L_HIP = 12
    L_KNEE = 13
    L_ANKLE = 14
    R_EYE = 15
    L_EYE = 16
    R_EAR = 17
    L_EAR = 18
    L_BIG_TOE = 19
    L_SMALL_TOE = 20
    L_HEEL = 21
    R_BIG_TOE = 22
    R_SMALL_TOE = 23
    R_HEEL = 24


NUM_KEYPOINTS = len(Body25)

BODY25_EDGES: tuple[tuple[Body25, Body25], ...] = tuple(
    (Body25(a), Body25(b))
    for a, b in [
        (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
        (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
        (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
    ]
)
"""The limbs OpenPose draws for BODY_25, as pairs of keypoints."""


# ----------------------------------------------------------------------------- labels


class CIHP(IntEnum):
    """CIHP / LIP human parsing labels, as in VITON-HD's ``image-parse-v3``.

    VITON-HD uses label 10 (CIHP's "torso skin") for the neck.
    """

    BACKGROUND = 0
    HAT = 1
    HAIR = 2
    GLOVE = 3
    SUNGLASSES = 4
    UPPER_CLOTHES = 5
    DRESS = 6
    COAT = 7
    SOCKS = 8
    PANTS = 9
    NECK = 10
    SCARF = 11
    SKIRT = 12
    FACE = 13
    LEFT_ARM = 14
    RIGHT_ARM = 15
    LEFT_LEG = 16
    RIGHT_LEG = 17
    LEFT_SHOE = 18
    RIGHT_SHOE = 19


class Group(IntEnum):
    """HR-VITON's 13 merged parse groups, the warp network's one-hot input."""

    BACKGROUND = 0
    HAIR = 1
    FACE = 2
    UPPER = 3
    BOTTOM = 4
    LEFT_ARM = 5
    RIGHT_ARM = 6
    LEFT_LEG = 7
    RIGHT_LEG = 8
    LEFT_SHOE = 9
    RIGHT_SHOE = 10
    SOCKS = 11
    NOISE = 12


NUM_GROUPS = len(Group)

CIHP_TO_GROUP: dict[CIHP, Group] = {
    CIHP.BACKGROUND: Group.BACKGROUND, CIHP.NECK: Group.BACKGROUND,
    CIHP.HAT: Group.HAIR, CIHP.HAIR: Group.HAIR,
    CIHP.SUNGLASSES: Group.FACE, CIHP.FACE: Group.FACE,
    CIHP.UPPER_CLOTHES: Group.UPPER, CIHP.DRESS: Group.UPPER, CIHP.COAT: Group.UPPER,
    CIHP.PANTS: Group.BOTTOM, CIHP.SKIRT: Group.BOTTOM,
    CIHP.LEFT_ARM: Group.LEFT_ARM, CIHP.RIGHT_ARM: Group.RIGHT_ARM,
    CIHP.LEFT_LEG: Group.LEFT_LEG, CIHP.RIGHT_LEG: Group.RIGHT_LEG,
    CIHP.LEFT_SHOE: Group.LEFT_SHOE, CIHP.RIGHT_SHOE: Group.RIGHT_SHOE,
    CIHP.SOCKS: Group.SOCKS,
    CIHP.GLOVE: Group.NOISE, CIHP.SCARF: Group.NOISE,
}
"""HR-VITON's merge of the 20 CIHP labels into 13 groups (``cp_dataset.py``)."""

_CIHP_TO_GROUP_LUT = np.array([CIHP_TO_GROUP[CIHP(i)] for i in range(len(CIHP))], dtype=np.uint8)


CIHP_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (128, 0, 0), (254, 0, 0), (0, 85, 0), (169, 0, 51), (254, 85, 0), (0, 0, 85),
    (0, 119, 221), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0), (0, 0, 254),
    (51, 169, 220), (0, 254, 254), (85, 254, 169), (169, 254, 85), (254, 254, 0), (254, 169, 0),
)
"""The P-mode palette of VITON-HD's ``image-parse-v3`` PNGs, indexed by `CIHP` label."""


def cihp_to_groups(parse: np.ndarray) -> np.ndarray:
    """Map a CIHP label map ``uint8 (H, W)`` to HR-VITON group indices ``uint8 (H, W)``."""
    parse = np.asarray(parse)
    if parse.ndim != 2:
        raise ValueError(f"parse map must be (H, W) labels, got shape {parse.shape}")
    if parse.size and int(parse.max()) >= len(CIHP):
        raise ValueError(f"parse map has label {int(parse.max())}; CIHP labels are 0..{len(CIHP) - 1}")
    return _CIHP_TO_GROUP_LUT[parse]


class DensePosePart(IntEnum):
    """DensePose's 24 surface part indices (0 is background), channel 0 of an IUV map.

    "Left"/"right" follow DensePose's own naming (subject's side).
    """

    BACKGROUND = 0
    TORSO_BACK = 1
    TORSO_FRONT = 2
    RIGHT_HAND = 3
    LEFT_HAND = 4
    LEFT_FOOT = 5
    RIGHT_FOOT = 6
    UPPER_LEG_RIGHT_BACK = 7
    UPPER_LEG_LEFT_BACK = 8
    UPPER_LEG_RIGHT_FRONT = 9
    UPPER_LEG_LEFT_FRONT = 10
    LOWER_LEG_RIGHT_BACK = 11
    LOWER_LEG_LEFT_BACK = 12
    LOWER_LEG_RIGHT_FRONT = 13
    LOWER_LEG_LEFT_FRONT = 14
    UPPER_ARM_LEFT_FRONT = 15
    UPPER_ARM_RIGHT_FRONT = 16
    UPPER_ARM_LEFT_BACK = 17
    UPPER_ARM_RIGHT_BACK = 18
    LOWER_ARM_LEFT_FRONT = 19
    LOWER_ARM_RIGHT_FRONT = 20
    LOWER_ARM_LEFT_BACK = 21
    LOWER_ARM_RIGHT_BACK = 22
    HEAD_RIGHT = 23
    HEAD_LEFT = 24


class DensePoseEncoding(str, Enum):
    """How a DensePose image (a file, or the tensor a warper takes) encodes the body.

    ``IUV``: ours and detectron2's IUV dump layout, channel 0 the part index 0..24,
    channels 1, 2 U and V in 0..255 (lossless PNG only: JPEG would change the indices).
    ``DP_SEGM``: detectron2's ``dp_segm`` visualisation as VITON-HD ships it in
    ``image-densepose/``: ``cv2.applyColorMap(uint8(I * 255 / 24), COLORMAP_PARULA)``
    inside the person, black outside, written by ``cv2.imwrite`` (so its RGB is the
    colormap's colours), usually JPEG. Part indices only: U and V are not in it.
    See `vton.preprocess.densepose`.
    """

    IUV = "iuv"
    DP_SEGM = "dp_segm"

    @property
    def label(self) -> str:
        """A short human name: ``"IUV"`` or ``"dp_segm colour render"``."""
        return "IUV" if self is DensePoseEncoding.IUV else "dp_segm colour render"


# ----------------------------------------------------------------------------- sources


class Source(str, Enum):
    """Where a map came from; the lab shows it beside every map."""

    MEDIAPIPE = "mediapipe"
    GEOMETRIC = "geometric"
    DATASET = "dataset"
    USER_FILE = "user file"
    SYNTHETIC = "synthetic"
    PARSER = "human parser"  # a local semantic-segmentation model (vton.preprocess.parser)


# ----------------------------------------------------------------------------- checks


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check a boundary image is ``uint8 (H, W, 3)``; return it."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name} must be a uint8 (H, W, 3) RGB array, got {got}")
    return image


def check_mask(mask: np.ndarray, name: str = "mask", size: Size | None = None) -> np.ndarray:
    """Check a boundary mask is ``uint8 (H, W)`` in {0, 1} (and of ``size`` if given); return it."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.ndim != 2:
        got = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"{name} must be a uint8 (H, W) array in {{0, 1}}, got {got}")
    if mask.size and int(mask.max()) > 1:
        raise ValueError(f"{name} must hold only 0 and 1, found {int(mask.max())}")
    if size is not None and mask.shape != tuple(size):
        raise ValueError(f"{name} must be {tuple(size)} (H, W), got {mask.shape}")
    return mask


def check_keypoints(kp: np.ndarray) -> np.ndarray:
    """Check BODY_25 keypoints ``(25, 3)``; return them as float32."""
    kp = np.asarray(kp, dtype=np.float32)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be BODY_25 (25, 3) (x, y, confidence), got {kp.shape}")
    return kp


def parse_size(text: str) -> Size:
    """Parse ``"256x192"`` (H x W) into ``(256, 192)``."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 256x192 (H x W), got {text!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return h, w


# ----------------------------------------------------------------------------- stage results


@dataclass
class Person:
    """A preprocessed person photo: everything the warp and diffusion stages need.

    All arrays share the photo's ``(H, W)``.
    """

    image: np.ndarray  # uint8 (H, W, 3) RGB
    keypoints: np.ndarray  # float32 (25, 3) BODY_25, pixels + confidence
    person_mask: np.ndarray  # uint8 (H, W) {0, 1}
    parse: np.ndarray  # uint8 (H, W) CIHP labels
    densepose: np.ndarray  # uint8 (H, W, 3) IUV, see module docstring
    agnostic: np.ndarray  # uint8 (H, W, 3) photo with the garment region greyed out
    agnostic_mask: np.ndarray  # uint8 (H, W) {0, 1}: 1 where the try-on may paint
    parse_agnostic: np.ndarray  # uint8 (H, W) CIHP labels with the garment region removed
    # field name -> where it came from; "densepose_encoding" -> the `DensePoseEncoding` the DensePose map
    # was read from (DP_SEGM: decoded from a colour render, U = V = 0 unknown)
    sources: dict[str, Source | DensePoseEncoding] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # warnings for the user ("2 people found, used the largest")
    # the pose detector's own joint positions, before they were moved to OpenPose's (None if never moved)
    detected_keypoints: np.ndarray | None = None

    @property
    def size(self) -> Size:
        return self.image.shape[:2]

    @property
    def densepose_encoding(self) -> DensePoseEncoding:
        """The encoding ``densepose`` was read from (``sources["densepose_encoding"]``; IUV when unsaid).

        Whatever it says, ``densepose`` itself is IUV; after a ``DP_SEGM`` render its U and V are 0.
        """
        return DensePoseEncoding(self.sources.get("densepose_encoding", DensePoseEncoding.IUV))

    @property
    def parse_agnostic_groups(self) -> np.ndarray:
        """``parse_agnostic`` as HR-VITON's 13 groups, ``uint8 (H, W)``."""
        return cihp_to_groups(self.parse_agnostic)


@dataclass
class Cloth:
    """A preprocessed in-shop garment photo."""

    image: np.ndarray  # uint8 (H, W, 3) RGB
    mask: np.ndarray  # uint8 (H, W) {0, 1}
    sources: dict[str, Source] = field(default_factory=dict)

    @property
    def size(self) -> Size:
        return self.image.shape[:2]


@dataclass
class GroundTruth:
    """What the synthetic data knows and VITON-HD does not (all optional)."""

    flow: np.ndarray | None = None  # float32 (2, H, W) normalized sampling offsets (cloth -> person)
    warped_cloth: np.ndarray | None = None  # uint8 (H, W, 3): cloth warped by `flow`, before shading
    warped_mask: np.ndarray | None = None  # uint8 (H, W) {0, 1}


@dataclass
class Pair:
    """One try-on example: a person, a garment, and whatever ground truth exists.

    In a *paired* example the person wears ``cloth`` and ``person.image`` is the
    ground-truth try-on.
    """

    name: str  # person image file name, e.g. "000001_00.jpg"
    cloth_name: str
    person: Person
    cloth: Cloth
    truth: GroundTruth = field(default_factory=GroundTruth)
