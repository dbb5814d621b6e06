"""The denoising trajectory: what DDIM saw and predicted at every step, kept in latent space.

Recording costs one small copy per step (``B x 4 x h x w`` floats, twice); images are
decoded only when someone looks at a step (`Trajectory.decode`), so recording does
not slow sampling down measurably.

Shapes for ``S`` steps and ``B`` samples (seeds), latents ``(4, h, w)``:

- ``timesteps``: ``S`` ints, the DDIM timestep t of each step, descending;
- ``latents``: ``(S, B, 4, h, w)``, x_t *entering* step i (CPU, float32);
- ``pred_x0``: ``(S, B, 4, h, w)``, the step's prediction of x_0 from x_t and eps;
- ``eps_norm``: ``(S, B)``, RMS of the predicted noise per sample (1.0 for unit noise);
- ``step_seconds``: ``S`` floats, wall time of each step (UNet + scheduler).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch

Decoder = Callable[[torch.Tensor], list[np.ndarray]]
"""Scaled latents ``(B, 4, h, w)`` -> one ``uint8 (H, W, 3)`` image per sample."""


@dataclass
class Trajectory:
    timesteps: list[int]
    latents: torch.Tensor
    pred_x0: torch.Tensor
    eps_norm: torch.Tensor
    step_seconds: list[float]
    decoder: Decoder | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.timesteps)

    def __post_init__(self):
        s = len(self.timesteps)
        for name in ("latents", "pred_x0"):
            t = getattr(self, name)
            if t.ndim != 5 or t.shape[0] != s:
                raise ValueError(f"trajectory {name} must be (steps={s}, B, 4, h, w), got {tuple(t.shape)}")
        if tuple(self.eps_norm.shape) != tuple(self.latents.shape[:2]):
            raise ValueError(f"eps_norm must be (steps, B) = {tuple(self.latents.shape[:2])}, got {tuple(self.eps_norm.shape)}")

    def decode(self, step: int, which: Literal["x0", "xt"] = "x0") -> list[np.ndarray]:
        """Decode step ``step`` (0-based, negative counts from the end) to one image per sample.

        ``which="x0"`` shows the step's predicted clean image, ``"xt"`` the noisy latent itself.
        The pipeline's decoder pastes the unmasked region back, as for the final images.
        """
        if self.decoder is None:
            raise RuntimeError("this trajectory has no decoder (loaded from a file): attach one with .decoder = pipe.decoder_for(cond)")
        if not -len(self) <= step < len(self):
            raise IndexError(f"step {step} is outside the trajectory's {len(self)} steps")
        if which not in ("x0", "xt"):
            raise ValueError(f"which must be 'x0' or 'xt', got {which!r}")
        latents = (self.pred_x0 if which == "x0" else self.latents)[step]
        return self.decoder(latents)

    # ------------------------------------------------------------------ files

    def save(self, path: str | Path) -> None:
        """Write the trajectory as one ``.safetensors`` file (atomically)."""
        from vton.io import atomic_save_safetensors

        tensors = {
            "latents": self.latents.contiguous(),
            "pred_x0": self.pred_x0.contiguous(),
            "eps_norm": self.eps_norm.contiguous(),
            "timesteps": torch.tensor(self.timesteps, dtype=torch.int64),
            "step_seconds": torch.tensor(self.step_seconds, dtype=torch.float64),
        }
        atomic_save_safetensors(path, tensors, metadata={"format": "vton.trajectory", "steps": str(len(self))})

    @classmethod
    def load(cls, path: str | Path) -> "Trajectory":
        from safetensors.torch import load_file

        t = load_file(str(path))
        return cls(
            timesteps=[int(v) for v in t["timesteps"]],
            latents=t["latents"],
            pred_x0=t["pred_x0"],
            eps_norm=t["eps_norm"],
            step_seconds=[float(v) for v in t["step_seconds"]],
        )


class TrajectoryRecorder:
    """Collects one step at a time; `finish` stacks them into a `Trajectory`."""

    def __init__(self):
        self.timesteps: list[int] = []
        self.latents: list[torch.Tensor] = []
        self.pred_x0: list[torch.Tensor] = []
        self.eps_norm: list[torch.Tensor] = []
        self.step_seconds: list[float] = []

    def add(self, t: int, x_t: torch.Tensor, pred_x0: torch.Tensor, eps: torch.Tensor, seconds: float) -> None:
        self.timesteps.append(int(t))
        # kept on the sampling device until `finish`: a per-step copy to the CPU would
        # synchronise a GPU at every step
        self.latents.append(x_t.detach().float().clone())
        self.pred_x0.append(pred_x0.detach().float().clone())
        self.eps_norm.append(eps.detach().float().pow(2).mean(dim=(1, 2, 3)).sqrt())
        self.step_seconds.append(seconds)

    def finish(self, decoder: Decoder | None = None) -> Trajectory:
        return Trajectory(
            timesteps=self.timesteps,
            latents=torch.stack(self.latents).cpu(),
            pred_x0=torch.stack(self.pred_x0).cpu(),
            eps_norm=torch.stack(self.eps_norm).cpu(),
            step_seconds=self.step_seconds,
            decoder=decoder,
        )
