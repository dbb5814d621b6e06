"""`TryOnPipeline`: warp -> composite -> DDIM in latent space -> one decode -> paste back.

One folder holds the whole chain (``save_pretrained`` / ``from_pretrained``; diffusers'
``model_index.json`` names the classes, importable from `vton.warp` and `vton.diffusion`)::

    weights/
      model_index.json
      warper/     FlowWarpNet           (config.json + safetensors)
      vae/        AutoencoderKL
      unet/       TryOnUNet
      scheduler/  DDIMScheduler

Two calls, so that a sampling setting never re-runs the warp:

    cond = pipe.prepare(person, cloth, size=(256, 192))          # warp, composite, latents
    result = pipe.sample(cond, num_inference_steps=50, seeds=[0, 1, 2])

``pipe(person, cloth, ...)`` does both.

Sampling (DCI-VTON's start, with a strength knob): with ``S`` = ``num_inference_steps``
the DDIM schedule (trailing spacing) has timesteps ``999 ... 0``; ``strength`` keeps the
last ``max(1, round(strength * S))`` of them, and x_t at the first kept timestep t0 is
the composite's latent noised to t0 (``sqrt(abar) z_c + sqrt(1 - abar) eps``). At
``strength=1`` t0 = 999, where a faint trace (``sqrt(abar_999)`` ~ 0.07) of the
composite remains. The UNet sees ``[x_t, z_c, mask]`` at every step. Latents are not
clamped. After the loop the latents are decoded once (one decode per output image)
and the region outside the agnostic mask is pasted back from the person photo.

Photos of another aspect: `prepare` pads the person photo to the working aspect (`PAD_FILL`: its
reflection; the cloth photo with its border colour, `CLOTH_PAD_FILL`), every map with 0 (the pad is
background, no body part, never repainted), and records where the photo sits (`Padding`, in
``Conditioning.padding`` and ``TryOnResult.padding``); ``TryOnResult.photo_images()`` crops a result back
to the photo's aspect and size, which is what the CLI writes and the lab shows.

Seeds: each seed gets its own ``torch.Generator``, so a batch of seeds gives the same
images as the same seeds run one by one.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, ModelMixin, SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from vton import checks
from vton.diffusion.trajectory import Trajectory, TrajectoryRecorder
from vton.diffusion.unet import TryOnUNet
from vton.diffusion.vae import check_vae_config, decode, encode
from vton.errors import InputError
from vton.tensors import pairs_to_batch, tensor_to_image, tensor_to_mask
from vton.types import DEFAULT_SIZE, VAE_FACTOR, Cloth, Pair, Person, Size
from vton.warp.network import FlowWarpNet, WarpOutput

Progress = Callable[[int, int, str], None]


def default_scheduler(num_train_timesteps: int = 1000) -> DDIMScheduler:
    """The DDIM scheduler we train and sample with: Stable Diffusion's scaled-linear betas,
    trailing timestep spacing (the first step is always t = T - 1), no sample clipping,
    and a final step that lands on the predicted x_0."""
    return DDIMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )


# ----------------------------------------------------------------------------- results


@dataclass
class Conditioning:
    """Everything sampling needs that does not depend on the sampler settings (batch of 1).

    Tensors are on the pipeline's device; ``(H, W)`` = ``size``, ``(h, w)`` = ``size / 8``.
    """

    size: Size
    warp: WarpOutput  # the warper's output at `size`
    person: torch.Tensor  # (1, 3, H, W) [-1, 1], the photo (pasted back outside the mask)
    composite: torch.Tensor  # (1, 3, H, W) [-1, 1], agnostic with the aligned warped cloth pasted in
    mask: torch.Tensor  # (1, 1, H, W) {0, 1}, agnostic mask: 1 where the try-on paints
    cond_latents: torch.Tensor  # (1, 4, h, w) scaled latent of `composite`
    mask_latents: torch.Tensor  # (1, 1, h, w) mask at latent size (a latent pixel is masked if any of its 8x8 is)
    cloth_latents: torch.Tensor | None = None  # (1, 4, h, w) latent of the in-shop cloth, for cross-attention
    timings: dict[str, float] = field(default_factory=dict)  # warp, encode seconds
    padding: "Padding | None" = None  # where the person photo sits in `size` (None: it was at `size`)

    @property
    def composite_image(self) -> np.ndarray:
        return tensor_to_image(self.composite[0])

    @property
    def agnostic_mask(self) -> np.ndarray:
        return tensor_to_mask(self.mask[0])


@dataclass
class TryOnResult:
    """Sampling's outputs at the working size ``(H, W)``; `photo_images` gives them in the photo's geometry."""

    images: list[np.ndarray]  # one uint8 (H, W, 3) per seed
    composite: np.ndarray  # uint8 (H, W, 3): the diffusion's starting point
    warp: WarpOutput
    agnostic_mask: np.ndarray  # uint8 (H, W) {0, 1}
    seeds: list[int] | None  # None when a caller's generator was used
    timings: dict[str, float]  # seconds: warp, encode, sampling, decode
    trajectory: Trajectory | None = None
    padding: "Padding | None" = None  # where the person photo sits in (H, W) (None: it was at (H, W))

    def photo_images(self, size: Size | None = None) -> list[np.ndarray]:
        """The try-ons cropped to the person photo's aspect (the padding removed) and scaled to its size,
        or to ``size`` (H, W): what is written and shown as the final result."""
        if self.padding is None:
            return [im if size is None else cv2.resize(im, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)
                    for im in self.images]
        return [self.padding.to_photo(im, size) for im in self.images]


# ----------------------------------------------------------------------------- helpers


PAD_FILLS = ("border", "reflect", "edge")
"""How a photo is padded to the working aspect: ``border`` with its own border colour (one colour per
padded side: the median of its outermost rows or columns), ``reflect`` with its mirror image, ``edge`` by
repeating its edge pixels (the old way: it smears streaks the output keeps; for comparison only)."""
PAD_FILL = "reflect"
"""The fill `resize_person` uses. Measured with ``scripts/measure_padding.py`` (embedded weights, 8 held-out
pairs cut square, landscape and 1:2, 24 cuts): the try-on scores SSIM 0.7457 / PSNR 17.03 dB with the person
reflected (and the cloth in its border colour), 0.7420 / 16.87 dB with both in their border colour; the
warper never sees the person photo (its pad is 0 in every map it reads)."""
CLOTH_PAD_FILL = "border"
"""The fill `resize_cloth` uses: on the same cuts the warper's warped-mask IoU is 0.8422 (aligned-cloth error
29.4 / 255) with the cloth photo's border colour (its plain background), 0.8397 (29.8) reflected: a garment
touching the photo's edge is mirrored into the pad."""
BORDER_WIDTH = 0.02
"""The border colour is the median of this fraction of the photo's side (at least 1 pixel) next to the pad."""


def _pad_amounts(size: Size, target: Size) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding that gives ``size`` the aspect ratio of ``target`` (both H, W)."""
    h, w = size
    th, tw = target
    if h * tw < th * w:  # too wide: pad rows
        extra = round(w * th / tw) - h
        return extra // 2, extra - extra // 2, 0, 0
    extra = round(h * tw / th) - w  # too tall (or equal): pad columns
    return 0, 0, extra // 2, extra - extra // 2


@dataclass(frozen=True)
class Padding:
    """Where a photo sits in the working image: padded to the working aspect, then scaled to ``size``.

    ``pad`` is ``(top, bottom, left, right)`` in the photo's pixels; the padded photo, ``photo_size``
    plus ``pad``, is scaled to the working ``size`` (H, W). `to_photo` maps a working-size image (a
    try-on, a composite, a mask) back to the photo's geometry, so callers never recompute it.

    Example:
        >>> padding = Padding.fit((512, 512), (256, 192))   # a square photo at 4:3: 171 rows added
        >>> padding.pad                                        # (85, 86, 0, 0)
        >>> [round(v, 1) for v in padding.box]                 # [31.9, 223.8, 0.0, 192.0]
        >>> padding.to_photo(result.images[0]).shape           # (512, 512, 3)
    """

    photo_size: Size
    pad: tuple[int, int, int, int]
    size: Size

    @staticmethod
    def fit(photo_size: Size, size: Size) -> "Padding":
        """The padding that gives a photo of ``photo_size`` the aspect of ``size`` (both (H, W))."""
        photo_size = (int(photo_size[0]), int(photo_size[1]))
        size = (int(size[0]), int(size[1]))
        pad = (0, 0, 0, 0) if photo_size == size else _pad_amounts(photo_size, size)
        return Padding(photo_size=photo_size, pad=pad, size=size)

    @property
    def padded_size(self) -> Size:
        t, b, l, r = self.pad
        return self.photo_size[0] + t + b, self.photo_size[1] + l + r

    @property
    def scale(self) -> tuple[float, float]:
        """Working pixels per photo pixel, (y, x)."""
        ph, pw = self.padded_size
        return self.size[0] / ph, self.size[1] / pw

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The photo's region ``(y0, y1, x0, x1)`` in working pixels (edges, not centres; may be fractional)."""
        sy, sx = self.scale
        t, _, l, _ = self.pad
        return t * sy, (t + self.photo_size[0]) * sy, l * sx, (l + self.photo_size[1]) * sx

    @property
    def is_identity(self) -> bool:
        return self.photo_size == self.size and not any(self.pad)

    def to_photo(self, image: np.ndarray, size: Size | None = None, nearest: bool = False) -> np.ndarray:
        """A working-size ``image`` ``(H, W[, C])`` cropped to the photo's region and scaled to the photo's
        size, or to ``size`` (H, W) when given (its aspect is the caller's choice). ``nearest`` for masks
        and labels; images are resampled exactly (an affine map of pixel centres: bicubic up, area down)."""
        if image.shape[:2] != tuple(self.size):
            raise ValueError(f"the image is {image.shape[1]}x{image.shape[0]}, not at the working size "
                             f"{self.size[1]}x{self.size[0]} (W x H) this padding maps from")
        oh, ow = (int(size[0]), int(size[1])) if size is not None else self.photo_size
        if self.is_identity and (oh, ow) == tuple(self.size):
            return image.copy()
        y0, y1, x0, x1 = self.box
        ky, kx = (y1 - y0) / oh, (x1 - x0) / ow  # working pixels per output pixel
        if nearest or (ky <= 1 and kx <= 1):
            interp = cv2.INTER_NEAREST if nearest else cv2.INTER_CUBIC
            m = np.float64([[kx, 0, x0 + 0.5 * kx - 0.5], [0, ky, y0 + 0.5 * ky - 0.5]])  # output centre -> working
            return cv2.warpAffine(image, m, (ow, oh), flags=interp | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        # shrinking: area filtering on the crop (rounded to whole working pixels)
        r0, c0 = int(round(y0)), int(round(x0))
        crop = image[r0:max(int(round(y1)), r0 + 1), c0:max(int(round(x1)), c0 + 1)]
        return cv2.resize(crop, (ow, oh), interpolation=cv2.INTER_AREA)


def border_colours(image: np.ndarray, pad: tuple[int, int, int, int]) -> list[np.ndarray]:
    """Per side (top, bottom, left, right): the median colour of the `BORDER_WIDTH` of ``image`` next to it."""
    h, w = image.shape[:2]
    ky, kx = max(1, round(BORDER_WIDTH * h)), max(1, round(BORDER_WIDTH * w))
    strips = (image[:ky], image[h - ky:], image[:, :kx], image[:, w - kx:])
    return [np.median(s.reshape(-1, *image.shape[2:]), axis=0).astype(image.dtype) for s in strips]


def pad_image(image: np.ndarray, pad: tuple[int, int, int, int], fill: str | None = None) -> np.ndarray:
    """``image`` ``(H, W[, C])`` padded by ``(top, bottom, left, right)`` with ``fill`` (one of `PAD_FILLS`;
    None: `PAD_FILL`)."""
    fill = fill or PAD_FILL
    if fill not in PAD_FILLS:
        raise ValueError(f"fill must be one of {PAD_FILLS}, got {fill!r}")
    t, b, l, r = pad
    if not any(pad):
        return image
    widths = ((t, b), (l, r)) + ((0, 0),) * (image.ndim - 2)
    if fill == "edge":
        return np.pad(image, widths, mode="edge")
    if fill == "reflect":
        return np.pad(image, widths, mode="reflect")
    out = np.pad(image, widths)
    h, w = image.shape[:2]
    top, bottom, left, right = border_colours(image, pad)
    out[:t] = top
    out[t + h:] = bottom
    out[:, :l] = left
    out[:, l + w:] = right
    return out


def _pad(a: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    """Masks and labels: zeros (background, no garment, no DensePose part, nothing to repaint) in the pad."""
    t, b, l, r = pad
    if not any(pad):
        return a
    return np.pad(a, ((t, b), (l, r)) + ((0, 0),) * (a.ndim - 2))


def resize_person(person: Person, size: Size, fill: str | None = None) -> Person:
    """``person`` at ``size`` (H, W), its aspect ratio kept: first padded to the target's aspect
    (`Padding.fit`; the photo with ``fill``, see `PAD_FILLS`; every map with 0: the pad is background,
    no body part, nothing to repaint; ``fill`` None is `PAD_FILL`), then resized (images with area filtering, labels and masks
    nearest). The agnostic image's pad is the photo's, as outside any mask. Keypoints follow."""
    if tuple(person.size) == tuple(size):
        return person
    padding = Padding.fit(person.size, size)
    pad, fill = padding.pad, fill or PAD_FILL
    ph, pw = padding.padded_size
    h, w = size
    photo = pad_image(person.image, pad, fill)
    agnostic = photo.copy()
    agnostic[pad[0]:pad[0] + person.size[0], pad[2]:pad[2] + person.size[1]] = person.agnostic
    img = lambda a: cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)  # noqa: E731
    lab = lambda a: cv2.resize(_pad(a, pad), (w, h), interpolation=cv2.INTER_NEAREST)  # noqa: E731
    kp = person.keypoints.copy()
    seen = kp[:, 2] > 0
    kp[seen, 0] = (kp[seen, 0] + pad[2]) * w / pw
    kp[seen, 1] = (kp[seen, 1] + pad[0]) * h / ph
    return replace(
        person, image=img(photo), keypoints=kp, person_mask=lab(person.person_mask), parse=lab(person.parse),
        densepose=lab(person.densepose), agnostic=img(agnostic), agnostic_mask=lab(person.agnostic_mask),
        parse_agnostic=lab(person.parse_agnostic), sources=dict(person.sources), notes=list(person.notes),
        detected_keypoints=None,
    )


def resize_cloth(cloth: Cloth, size: Size, fill: str | None = None) -> Cloth:
    """``cloth`` at ``size``, aspect kept by padding (the photo with ``fill``, default `CLOTH_PAD_FILL`; the mask
    with 0)."""
    if tuple(cloth.size) == tuple(size):
        return cloth
    pad = Padding.fit(cloth.size, size).pad
    h, w = size
    return Cloth(
        image=cv2.resize(pad_image(cloth.image, pad, fill or CLOTH_PAD_FILL), (w, h), interpolation=cv2.INTER_AREA),
        mask=cv2.resize(_pad(cloth.mask, pad), (w, h), interpolation=cv2.INTER_NEAREST),
        sources=dict(cloth.sources),
    )


def make_composite(agnostic: torch.Tensor, mask: torch.Tensor, warp: WarpOutput) -> torch.Tensor:
    """The agnostic image with the occlusion-aligned warped cloth pasted in, inside the agnostic mask.

    ``agnostic (B, 3, H, W)``, ``mask (B, 1, H, W)`` -> ``(B, 3, H, W)`` in ``[-1, 1]``.
    """
    return paste_cloth(agnostic, mask, warp.aligned_cloth, warp.aligned_mask)


def paste_cloth(agnostic: torch.Tensor, mask: torch.Tensor, cloth: torch.Tensor, cloth_mask: torch.Tensor) -> torch.Tensor:
    """``agnostic * (1 - m) + cloth * m`` with ``m = cloth_mask * mask`` (all ``(B, C, H, W)``)."""
    m = cloth_mask * mask
    return agnostic * (1 - m) + cloth * m


def to_canvas(x: torch.Tensor, canvas: Size | None, mask: bool = False) -> torch.Tensor:
    """``x (B, C, H, W)`` resized to a denoiser's fixed ``canvas`` (H, W), ignoring the aspect as the model
    was trained (the seed squashes 4:3 photos to 512x512); unchanged when ``canvas`` is None or already the size.
    Images are resized bilinearly with antialiasing; masks (``mask=True``) by nearest neighbour."""
    if canvas is None or tuple(x.shape[-2:]) == tuple(canvas):
        return x
    if mask:
        return F.interpolate(x, size=canvas, mode="nearest-exact")
    return F.interpolate(x, size=canvas, mode="bilinear", align_corners=False, antialias=True)


def from_canvas(images: torch.Tensor, size: Size) -> torch.Tensor:
    """Decoded images ``(B, 3, h, w)`` back at the working ``size`` (the inverse squash of `to_canvas`)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def latent_mask(mask: torch.Tensor, factor: int = VAE_FACTOR) -> torch.Tensor:
    """A pixel mask ``(B, 1, H, W)`` -> ``(B, 1, H/f, W/f)``: 1 where any pixel of the f x f cell is 1."""
    return F.max_pool2d(mask, factor)


def check_steps(num_inference_steps: int, strength: float, eta: float, num_train_timesteps: int) -> None:
    """Raise `InputError` unless the sampler settings are usable: 1..T steps, strength in (0, 1], eta in [0, 1]."""
    def number(value) -> float:
        try:
            return float("nan") if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            return float("nan")

    if (isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, (int, np.integer))
            or not 1 <= num_inference_steps <= num_train_timesteps):
        raise InputError(f"steps must be an integer from 1 to {num_train_timesteps} (num_inference_steps), "
                         f"got {num_inference_steps!r}")
    if not 0.0 < number(strength) <= 1.0:
        raise InputError(f"strength must be in (0, 1], got {strength!r}")
    if not 0.0 <= number(eta) <= 1.0:
        raise InputError(f"eta must be in [0, 1] (0 = deterministic DDIM, 1 = DDPM-like), got {eta!r}")


# ----------------------------------------------------------------------------- the pipeline


class TryOnPipeline(DiffusionPipeline):
    """Warp a garment onto a person, then refine the composite with latent DDIM.

    Components: ``warper`` (any warper: `FlowWarpNet`, or a port in `vton.compat`), ``vae``
    (`AutoencoderKL`, f=8), ``unet`` (any denoiser: `TryOnUNet` or a port), ``scheduler``
    (`DDIMScheduler`, or any scheduler with its interface, e.g. `vton.compat.SeedScheduler`).
    The pipeline relies only on the interfaces `vton.registry` describes: a warper's
    ``warp(batch)``, ``multiple`` and ``densepose_encoding``; a denoiser's
    ``forward(sample, t, cloth_latents)``, ``downsampling``, ``uses_cloth_latents`` and
    ``canvas_size`` (the size it encodes at: None = the working size; the seed squashes to
    512x512).
    """

    model_cpu_offload_seq = "warper->vae->unet->vae"

    def __init__(self, warper: ModelMixin, vae: AutoencoderKL, unet: ModelMixin, scheduler: SchedulerMixin):
        super().__init__()
        self.register_modules(warper=warper, vae=vae, unet=unet, scheduler=scheduler)
        self.check_components()

    def check_components(self) -> None:
        """Raise `InputError` when the components do not fit together."""
        check_vae_config(dict(self.vae.config), where="the pipeline's VAE")
        latent = self.vae.config.latent_channels
        need = 2 * latent + 1
        if self.unet.config.in_channels != need:
            raise InputError(
                f"the UNet takes {self.unet.config.in_channels} input channels; with a {latent}-channel VAE it must take "
                f"{need} (x_t, composite latent, mask)")
        if self.unet.config.out_channels != latent:
            raise InputError(f"the UNet predicts {self.unet.config.out_channels} channels, the VAE has {latent}")
        lacking = [a for a in ("from_config", "set_timesteps", "add_noise", "step") if not hasattr(self.scheduler, a)]
        if lacking:
            raise InputError(f"the scheduler {type(self.scheduler).__name__} lacks {', '.join(lacking)} "
                             "(a diffusers-style scheduler is needed)")
        canvas = self.canvas_size
        if canvas is not None and (canvas[0] % (VAE_FACTOR * self.unet.downsampling) or canvas[1] % (VAE_FACTOR * self.unet.downsampling)):
            raise InputError(f"the UNet's canvas {canvas[0]}x{canvas[1]} is not divisible by {VAE_FACTOR * self.unet.downsampling}")

    @property
    def canvas_size(self) -> Size | None:
        """The (H, W) the UNet and VAE work at, when it is fixed (the seed's 512x512); None = the working size."""
        canvas = getattr(self.unet, "canvas_size", None)
        return None if canvas is None else (int(canvas[0]), int(canvas[1]))

    @property
    def size_multiple(self) -> int:
        """Image H and W must be divisible by this (warper levels, VAE factor x UNet levels; only the warper's
        when the UNet has a fixed canvas)."""
        if self.canvas_size is not None:
            return int(self.warper.multiple)
        return int(np.lcm(self.warper.multiple, VAE_FACTOR * self.unet.downsampling))

    # ------------------------------------------------------------------ stage 1: condition

    @torch.no_grad()
    def prepare(self, person: Person, cloth: Cloth, size: Size = DEFAULT_SIZE) -> Conditioning:
        """Warp the cloth, build the composite and encode it (everything but sampling).

        Raises:
            InputError: ``person`` / ``cloth`` not a `Person` / `Cloth` with maps of one size, or ``size``
                not ``(H, W)`` divisible by `size_multiple`.
        """
        checks.person_argument("person", person)
        checks.cloth_argument("cloth", cloth)
        size = checks.size_argument("size", size)
        m = self.size_multiple
        if size[0] % m or size[1] % m or min(size) <= 0:
            raise InputError(f"size {size[0]}x{size[1]} must be positive and divisible by {m} for these models")
        device, dtype = self.unet.device, self.unet.dtype
        padding = Padding.fit(person.size, size)
        person, cloth = resize_person(person, size), resize_cloth(cloth, size)
        pair = Pair(name="", cloth_name="", person=person, cloth=cloth)
        # the DensePose tensor in the encoding the warper was trained on, whichever the person's came in
        batch = pairs_to_batch([pair], densepose_encoding=self.warper.densepose_encoding).to(device, dtype)

        t0 = time.perf_counter()
        warp = self.warper.warp(batch)
        t1 = time.perf_counter()
        composite = make_composite(batch.agnostic, batch.agnostic_mask, warp)
        canvas = self.canvas_size
        cond_latents = encode(self.vae, to_canvas(composite, canvas)).to(dtype)
        uses_cloth = bool(getattr(self.unet, "uses_cloth_latents", False))
        cloth_latents = encode(self.vae, to_canvas(batch.cloth, canvas)).to(dtype) if uses_cloth else None
        t2 = time.perf_counter()
        return Conditioning(
            size=size, warp=warp, person=batch.person, composite=composite, mask=batch.agnostic_mask,
            cond_latents=cond_latents, mask_latents=self.latent_mask(batch.agnostic_mask), cloth_latents=cloth_latents,
            timings={"warp": t1 - t0, "encode": t2 - t1}, padding=padding,
        )

    @torch.no_grad()
    def time_costs(self, size: Size, batch: int = 1) -> dict[str, float]:
        """Seconds of one denoising step (a UNet call at ``batch``) and of one decode (of one image) at working
        ``size``, measured now on zero inputs (the weights' values do not change the cost). For estimates before
        a long run. The step is timed at the batch itself because its cost is not linear in the batch (the
        seed's UNet on a CPU: a batch of 4 costs 1.8x a batch of 1, `vton.nn.gemmconv`)."""
        checks.positive_int_argument("batch", batch)
        canvas = self.canvas_size or (int(size[0]), int(size[1]))
        device, dtype = self.unet.device, self.unet.dtype
        c = self.vae.config.latent_channels
        h, w = canvas[0] // VAE_FACTOR, canvas[1] // VAE_FACTOR
        sample = torch.zeros(batch, 2 * c + 1, h, w, device=device, dtype=dtype)
        cloth = torch.zeros(batch, c, h, w, device=device, dtype=dtype) if getattr(self.unet, "uses_cloth_latents", False) else None
        t = torch.full((batch,), 500, device=device, dtype=torch.long)
        t0 = time.perf_counter()
        self.unet(sample, t, cloth)
        t1 = time.perf_counter()
        decode(self.vae, sample[:1, :c].to(self.vae.dtype))
        t2 = time.perf_counter()
        return {"step": t1 - t0, "decode": t2 - t1, "batch": batch}

    def estimate_seconds(self, costs: dict[str, float], num_inference_steps: int, strength: float = 1.0,
                         batch: int = 1) -> float:
        """Expected sampling time from `time_costs`: the kept steps at ``batch`` and one decode per image. A step
        timed at another batch is scaled linearly to this one (an upper bound where batching pays)."""
        keep = max(1, round(strength * num_inference_steps))
        step = costs["step"] * batch / costs.get("batch", 1)
        return keep * step + batch * costs["decode"]

    def latent_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The agnostic mask ``(B, 1, H, W)`` {0, 1} at the working size -> the UNet's mask channel ``(B, 1, h, w)``
        in ``[0, 1]``: the denoiser's own rule when it has one (the seed resizes its mask like an image, then
        takes the nearest latent pixel), else 1 where any pixel of the 8x8 cell is masked (`latent_mask`)."""
        own = getattr(self.unet, "latent_mask", None)
        if callable(own):
            return own(mask)
        return latent_mask(to_canvas(mask, self.canvas_size, mask=True))

    def decoder_for(self, cond: Conditioning) -> Callable[[torch.Tensor], list[np.ndarray]]:
        """Latents ``(B, 4, h, w)`` -> uint8 images with the unmasked region pasted back from the photo."""

        @torch.no_grad()
        def decode_images(latents: torch.Tensor) -> list[np.ndarray]:
            images = decode(self.vae, latents.to(self.vae.device, self.vae.dtype)).float()
            images = from_canvas(images, cond.size)
            images = cond.person * (1 - cond.mask) + images * cond.mask
            return [tensor_to_image(im) for im in images]

        return decode_images

    # ------------------------------------------------------------------ stage 2: sample

    @torch.no_grad()
    def sample(
        self,
        cond: Conditioning,
        *,
        num_inference_steps: int = 50,
        eta: float = 0.0,
        strength: float = 1.0,
        seeds: list[int] | None = None,
        generator: torch.Generator | None = None,
        record_trajectory: bool = False,
        progress: Progress | None = None,
    ) -> TryOnResult:
        """DDIM from the noised composite latent; one batch of ``len(seeds)`` samples (default ``[0]``).

        Raises:
            InputError: ``cond`` not what `prepare` returns; steps, strength or eta out of range (`check_steps`);
                ``seeds`` not a list of whole numbers in [0, 2**63); both ``seeds`` and ``generator``.
        """
        checks.instance_argument("cond", cond, Conditioning, " (what TryOnPipeline.prepare returns)")
        check_steps(num_inference_steps, strength, eta, self.scheduler.config.num_train_timesteps)
        checks.bool_argument("record_trajectory", record_trajectory)
        device, dtype = self.unet.device, self.unet.dtype
        if seeds is not None and generator is not None:
            raise InputError("pass seeds or a generator, not both")
        if generator is not None:
            checks.instance_argument("generator", generator, torch.Generator)
        if seeds is None and generator is None:
            seeds = [0]
        if seeds is not None:
            if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__"):
                raise InputError(f"seeds must be a list of whole numbers, e.g. [0, 1], got {seeds!r}")
            if len(seeds) == 0:
                raise InputError("seeds is empty: give at least one seed")
            bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s < 2**63]
            if bad:
                raise InputError(f"seeds must be whole numbers in [0, 2**63), got {bad[0]!r} in {list(seeds)!r}")
            generators = [torch.Generator(device).manual_seed(int(s)) for s in seeds]
        else:
            generators = [generator]
        b = len(generators)

        # 1. timesteps (a private scheduler, so concurrent callers never share state)
        scheduler = type(self.scheduler).from_config(self.scheduler.config)
        scheduler.set_timesteps(num_inference_steps, device=device)
        keep = max(1, round(strength * num_inference_steps))
        timesteps = scheduler.timesteps[num_inference_steps - keep:]

        # 2. start: the composite latent noised to the first timestep
        z_c = cond.cond_latents.expand(b, -1, -1, -1)
        mask = cond.mask_latents.to(dtype).expand(b, -1, -1, -1)
        cloth = cond.cloth_latents.expand(b, -1, -1, -1) if cond.cloth_latents is not None else None
        noise = randn_tensor(tuple(z_c.shape), generator=generators, device=device, dtype=dtype)
        latents = scheduler.add_noise(z_c, noise, timesteps[:1].repeat(b))

        # 3. the DDIM loop
        recorder = TrajectoryRecorder() if record_trajectory else None
        step_gen = generators if eta > 0 else None
        t_start = time.perf_counter()
        for i, t in enumerate(timesteps):
            t0 = time.perf_counter()
            eps = self.unet(torch.cat([latents, z_c, mask], dim=1), t.expand(b), cloth)
            if not torch.isfinite(eps).all():
                raise InputError(f"the UNet checkpoint produces NaN/inf noise predictions (step {i + 1}, t={int(t)}); it is broken or does not match this VAE")
            out = scheduler.step(eps, t, latents, eta=eta, generator=step_gen)
            if recorder is not None:
                recorder.add(int(t), latents, out.pred_original_sample, eps, time.perf_counter() - t0)
            # the last step lands on its x0 prediction: with trailing spacing and a step count
            # that does not divide T, its "previous" timestep is 0, not the clean end point
            latents = out.prev_sample if i + 1 < len(timesteps) else out.pred_original_sample
            if progress is not None:
                progress(i + 1, len(timesteps), f"t={int(t)}")
        t_sampled = time.perf_counter()

        # 4. one decode, paste the unmasked region back
        decoder = self.decoder_for(cond)
        images = decoder(latents)
        t_decoded = time.perf_counter()

        timings = dict(cond.timings, sampling=t_sampled - t_start, decode=t_decoded - t_sampled)
        return TryOnResult(
            images=images, composite=cond.composite_image, warp=cond.warp, agnostic_mask=cond.agnostic_mask,
            seeds=list(seeds) if seeds is not None else None, timings=timings,
            trajectory=recorder.finish(decoder) if recorder is not None else None, padding=cond.padding,
        )

    def __call__(
        self,
        person: Person,
        cloth: Cloth,
        *,
        size: Size = DEFAULT_SIZE,
        num_inference_steps: int = 50,
        eta: float = 0.0,
        strength: float = 1.0,
        seeds: list[int] | None = None,
        generator: torch.Generator | None = None,
        record_trajectory: bool = False,
        progress: Progress | None = None,
    ) -> TryOnResult:
        """`prepare` then `sample` (see the module docstring for the sampling semantics)."""
        if seeds is not None and generator is not None:
            raise InputError("pass seeds or a generator, not both")
        check_steps(num_inference_steps, strength, eta, self.scheduler.config.num_train_timesteps)
        cond = self.prepare(person, cloth, size)
        return self.sample(
            cond, num_inference_steps=num_inference_steps, eta=eta, strength=strength, seeds=seeds,
            generator=generator, record_trajectory=record_trajectory, progress=progress,
        )


def load_pipeline(folder, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> TryOnPipeline:
    """Load a `TryOnPipeline` folder (local only) with a clear message when it is missing or incomplete.

    Raises:
        InputError: ``folder`` not a path to a pipeline folder (``model_index.json`` and the warper, vae, unet and
            scheduler folders) whose models load; ``device`` not a device of this machine; ``dtype`` not a
            floating torch dtype.
    """
    folder = checks.path_argument("folder", folder)
    checks.device_argument("device", device)
    checks.dtype_argument("dtype", dtype)
    if not folder.is_dir():
        raise InputError(f"weights folder not found: {folder} (train with `python -m vton train ...` or pass --weights)")
    if not (folder / "model_index.json").is_file():
        raise InputError(f"{folder} is not a try-on pipeline folder (no model_index.json)")
    missing = [c for c in ("warper", "vae", "unet", "scheduler") if not (folder / c).is_dir()]
    if missing:
        raise InputError(f"pipeline folder {folder} lacks {', '.join(missing)}")
    try:
        pipe = TryOnPipeline.from_pretrained(str(folder), local_files_only=True, low_cpu_mem_usage=False)
    except InputError:
        raise
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot load the pipeline in {folder}: {first}") from None
    pipe.vae.requires_grad_(False).eval()
    pipe.unet.requires_grad_(False).eval()
    pipe.warper.requires_grad_(False).eval()
    return pipe.to(device) if dtype == torch.float32 else pipe.to(device=device, dtype=dtype)
