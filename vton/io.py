"""Reading and writing files at the I/O boundary.

Reading
    `load_image` turns any image a user may hand us (a path, bytes, a file object
    such as a Streamlit upload) into the boundary convention, ``uint8 (H, W, 3)``
    RGB, or raises one `InputError` with a plain sentence. `load_label_png`,
    `load_mask` and `load_keypoints_json` read the dataset's label maps, masks and
    OpenPose JSON into the conventions of `vton.types`.
Writing
    Every writer is atomic: it writes a temporary file in the target's folder and
    ``os.replace`` s it over the target, so a crash or a failed encode never leaves
    a half-written file (the old file, if any, stays). Parent folders are created.
"""
from __future__ import annotations

import io
import json
import os
import uuid
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Union

import numpy as np
from PIL import Image, ImageOps

from vton.errors import InputError
from vton.types import CIHP_PALETTE, NUM_KEYPOINTS, check_image, check_keypoints

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]
"""A path, raw encoded bytes, or a binary file object (anything with ``read()``)."""

MAX_PIXELS = 40_000_000
MIN_SIDE = 64
WHITE = (255, 255, 255)


# ----------------------------------------------------------------------------- reading images


def _read_bytes(source: ImageSource) -> tuple[bytes, str]:
    """The encoded bytes of ``source`` and a name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "the image"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"file not found: {path}")
        if path.is_dir():
            raise InputError(f"{path} is a folder, not an image file")
        try:
            return path.read_bytes(), str(path)
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "the uploaded file"))
        # getvalue() (BytesIO, Streamlit uploads) reads all of it whatever the position after an earlier read
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise InputError(f"{name} was opened as text; open it in binary mode ('rb')")
        return bytes(data), name
    raise InputError(f"cannot read an image from a {type(source).__name__}; give a path, bytes or a file object")


def _open_decoded(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Open ``data`` with PIL, check its header size against ``max_pixels``, then decode it fully."""
    if not data:
        raise InputError(f"{name} is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise InputError(f"{name} is too large to open safely ({e})") from None
        except Image.UnidentifiedImageError:
            raise InputError(f"{name} is not an image (or not a format we can read)") from None
        except Exception as e:  # a corrupt header can raise nearly anything inside a PIL plugin
            raise InputError(f"{name} could not be read as an image: {e}") from None
        w, h = im.size  # header only: nothing decoded yet
        if w * h > max_pixels:
            raise InputError(
                f"{name} is {w}x{h} px ({w * h / 1e6:.1f} megapixels), over the limit of "
                f"{max_pixels / 1e6:.1f} megapixels; downscale it first"
            )
        if w <= 0 or h <= 0:
            raise InputError(f"{name} claims an empty size {w}x{h}")
        try:
            im.load()  # the full decode: truncated or corrupt data fails here
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise InputError(f"{name} is too large to open safely ({e})") from None
        except Exception as e:
            raise InputError(f"{name} is truncated or corrupt and could not be decoded ({e})") from None
    return im


def _to_uint8_array(im: Image.Image) -> np.ndarray:
    """An 8-bit array of a 16/32-bit greyscale PIL image: ``I;16*`` and ``I`` are scaled, not clipped."""
    a = np.asarray(im)
    if im.mode.startswith("I;16") or im.mode == "I":
        return (np.clip(a.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
    if im.mode == "F":
        scale = 255.0 if float(np.nanmax(a, initial=0.0)) <= 1.0 else 1.0
        return np.clip(np.nan_to_num(a) * scale, 0, 255).round().astype(np.uint8)
    return a.astype(np.uint8)


_SRGB = None


def _to_srgb(im: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile (Display P3 phone photos, print CMYK JPEGs) to get sRGB.

    Images without a profile, or with one lcms cannot read, are used as they are.
    """
    global _SRGB
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    from PIL import ImageCms

    try:
        if _SRGB is None:
            _SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGBA" if im.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Any PIL mode -> ``uint8 (H, W, 3)`` RGB; transparency is composited on white."""
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, WHITE + (255,))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        grey = _to_uint8_array(im)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(im.convert("RGB"))  # P, L, 1, CMYK, YCbCr, LAB, HSV, RGB (16-bit RGB PNGs open as RGB)


def load_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE) -> np.ndarray:
    """Read an image into ``uint8 (H, W, 3)`` RGB, or raise one `InputError`.

    EXIF orientation is applied; an embedded ICC profile is converted to sRGB;
    palette, greyscale, 16-bit, CMYK and other modes are converted; transparency
    is composited on white. The pixel count in the
    header is checked against ``max_pixels`` before anything is decoded (a
    decompression bomb never allocates), then the whole image is decoded so a
    truncated or corrupt file is caught here rather than later.

    Args:
        source: a path, the encoded bytes, or a binary file object (e.g. a Streamlit upload).
        max_pixels: the largest ``W * H`` accepted.
        min_side: the smallest height or width accepted, in pixels.
    Example:
        >>> image = load_image("assets/samples/photos/astronaut.png")
        >>> image.shape, image.dtype
        ((512, 512, 3), dtype('uint8'))
    """
    data, name = _read_bytes(source)
    im = _open_decoded(data, name, max_pixels)
    try:
        im = ImageOps.exif_transpose(im)
        rgb = _to_rgb(_to_srgb(im))
    except Exception as e:
        raise InputError(f"{name} could not be converted to RGB ({im.mode}): {e}") from None
    h, w = rgb.shape[:2]
    if min(h, w) < min_side:
        raise InputError(f"{name} is only {w}x{h} px; at least {min_side} px on each side is needed")
    return np.array(rgb, dtype=np.uint8, order="C")  # a writable copy (PIL's arrays are read-only)


# ----------------------------------------------------------------------------- reading labels, masks, keypoints


_PALETTE_LUT = {rgb: i for i, rgb in enumerate(CIHP_PALETTE)}


def load_label_png(path: ImageSource, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a label map (e.g. ``image-parse-v3``) into ``uint8 (H, W)`` label indices.

    P-mode PNGs give their palette indices, greyscale ones their values. An RGB
    image is accepted only when every colour is in `CIHP_PALETTE` (a parse map
    re-saved as RGB); its colours are mapped back to labels.
    """
    data, name = _read_bytes(path)
    im = _open_decoded(data, name, max_pixels)
    if im.mode in ("P", "L"):
        return np.array(im, dtype=np.uint8)
    if im.mode.startswith("I"):
        a = np.asarray(im)
        if a.size and int(a.max()) > 255:
            raise InputError(f"{name} holds label {int(a.max())}; labels must be 0..255")
        return a.astype(np.uint8)
    if im.mode in ("RGB", "RGBA"):
        rgb = np.asarray(im.convert("RGB"))
        colours, inverse = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
        unknown = [tuple(int(v) for v in c) for c in colours if tuple(int(v) for v in c) not in _PALETTE_LUT]
        if unknown:
            raise InputError(
                f"{name} is an RGB image with colours outside the CIHP palette (e.g. {unknown[0]}); "
                "save label maps as P-mode or greyscale PNG"
            )
        lut = np.array([_PALETTE_LUT[tuple(int(v) for v in c)] for c in colours], dtype=np.uint8)
        return lut[inverse.reshape(-1)].reshape(rgb.shape[:2])
    raise InputError(f"{name} is a {im.mode} image; a label map must be a P-mode or greyscale PNG")


def load_mask(path: ImageSource, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a mask into ``uint8 (H, W)`` in {0, 1}.

    8-bit images are thresholded at 128 (JPEG-safe), after conversion to
    greyscale; a greyscale or palette image whose values are all 0 or 1 is
    taken as the mask itself (masks saved without scaling to 0/255).
    """
    data, name = _read_bytes(path)
    im = _open_decoded(data, name, max_pixels)
    if im.mode == "1":
        return np.array(im, dtype=np.uint8)
    if im.mode in ("L", "P"):
        values = np.asarray(im)
        if values.size and int(values.max()) <= 1:
            return values.astype(np.uint8)
    if im.mode.startswith("I;16") or im.mode == "I":
        return (_to_uint8_array(im) >= 128).astype(np.uint8)
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGB")  # a mask's alpha carries no meaning here
    grey = np.asarray(im.convert("L"))
    return (grey >= 128).astype(np.uint8)


def load_keypoints_json(path: str | os.PathLike) -> np.ndarray:
    """Read OpenPose 1.3 JSON into BODY_25 keypoints ``float32 (25, 3)``.

    The first person's ``pose_keypoints_2d`` is used; a file with no person gives
    all zeros (every point missing, like OpenPose).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("people", None), list):
        raise InputError(f"{path} is not OpenPose JSON: it has no 'people' list")
    if not doc["people"]:
        return np.zeros((NUM_KEYPOINTS, 3), np.float32)
    values = doc["people"][0].get("pose_keypoints_2d") if isinstance(doc["people"][0], dict) else None
    if not isinstance(values, list):
        raise InputError(f"{path}: the first person has no 'pose_keypoints_2d' list")
    if len(values) != NUM_KEYPOINTS * 3:
        n = f"{len(values) // 3} keypoints" if len(values) % 3 == 0 else f"{len(values)} numbers"
        raise InputError(f"{path} has {n}; BODY_25 needs {NUM_KEYPOINTS} (x, y, confidence) triples")
    try:
        kp = np.asarray(values, dtype=np.float32).reshape(NUM_KEYPOINTS, 3)
    except (TypeError, ValueError):
        raise InputError(f"{path}: pose_keypoints_2d holds values that are not numbers") from None
    if not np.isfinite(kp).all():
        raise InputError(f"{path}: pose_keypoints_2d holds NaN or infinite values")
    return kp


def keypoints_to_openpose_json(kp: np.ndarray) -> dict[str, Any]:
    """BODY_25 keypoints ``(25, 3)`` -> an OpenPose 1.3 JSON document (no person when all are missing)."""
    kp = check_keypoints(kp)
    if not kp.any():
        return {"version": 1.3, "people": []}
    person = {
        "person_id": [-1],
        "pose_keypoints_2d": [round(float(v), 3) for v in kp.reshape(-1)],
        "face_keypoints_2d": [],
        "hand_left_keypoints_2d": [],
        "hand_right_keypoints_2d": [],
        "pose_keypoints_3d": [],
        "face_keypoints_3d": [],
        "hand_left_keypoints_3d": [],
        "hand_right_keypoints_3d": [],
    }
    return {"version": 1.3, "people": [person]}


# ----------------------------------------------------------------------------- atomic writers


@contextmanager
def _atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``)."""
    with _atomic_path(path) as tmp:
        # os.open with 0o666 lets the umask decide permissions, as a plain open() would.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


_PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def _encode(im: Image.Image, path: Path) -> bytes:
    fmt = _PIL_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot save an image as {path.name!r}: use one of {', '.join(sorted(_PIL_FORMATS))}")
    buf = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


def atomic_save_image(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save an RGB image ``uint8 (H, W, 3)`` or a mask ``uint8 (H, W)`` in {0, 1} (written as 0/255).

    The format follows the suffix (.png, .jpg, .webp, .bmp, .tif). A 2-D ``uint8``
    array with values above 1 is saved as a greyscale image unchanged.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.ndim == 2 and array.dtype == np.uint8:
        grey = array * np.uint8(255) if array.size and int(array.max()) <= 1 else array
        im = Image.fromarray(np.ascontiguousarray(grey), "L")
    else:
        im = Image.fromarray(np.ascontiguousarray(check_image(array)), "RGB")
    return atomic_write_bytes(path, _encode(im, path))


def atomic_save_label_png(path: str | os.PathLike, labels: np.ndarray,
                          palette: tuple[tuple[int, int, int], ...] = CIHP_PALETTE) -> Path:
    """Save a label map ``uint8 (H, W)`` as a P-mode PNG whose palette colours each label."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be a uint8 (H, W) array, got {labels.dtype} {labels.shape}")
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"label maps are saved as PNG (lossless), got {Path(path).name!r}")
    im = Image.fromarray(np.ascontiguousarray(labels), "P")
    flat = [v for rgb in palette for v in rgb]
    im.putpalette(flat + [0] * (768 - len(flat)))
    return atomic_write_bytes(path, _encode(im, Path(path)))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def atomic_save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Save ``obj`` as indented UTF-8 JSON (numpy scalars/arrays and paths are converted)."""
    text = json.dumps(obj, indent=2, default=_json_default, ensure_ascii=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_safetensors(path: str | os.PathLike, tensors: Mapping[str, Any],
                            metadata: Mapping[str, str] | None = None) -> Path:
    """Save a dict of torch tensors (or of numpy arrays) as safetensors, with string ``metadata``."""
    meta = None if metadata is None else {str(k): str(v) for k, v in metadata.items()}
    if tensors and all(isinstance(v, np.ndarray) for v in tensors.values()):
        from safetensors.numpy import save

        data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=meta)
    else:
        from safetensors.torch import save

        data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=meta)
    return atomic_write_bytes(path, data)


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save one array as ``.npy`` (no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())
