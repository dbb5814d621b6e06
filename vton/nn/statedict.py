"""Reading other projects' weight files safely, and checking them against a module's keys.

A ``.pth`` / ``.pt`` is read with ``torch.load(weights_only=True)`` (tensors only, no code),
a ``.safetensors`` with safetensors. `check_state_dict` compares a file's keys and shapes
with what a module expects and names the first differences, so a wrong file is one clear
`InputError`, never a silent partial load.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from vton.errors import InputError


def read_state_dict(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """The ``{key: tensor}`` dict in a local weights file (``what`` names the file in messages).

    Raises:
        InputError: the file is missing, unreadable, holds code (a full pickle) or no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, a pickle with code, not a torch file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"could not read {what} from {path}: {first}") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # a checkpoint wrapping its state dict
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path} does not hold a state dict of tensors ({what})")
    return dict(state)


def check_state_dict(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size], path: str | Path,
                     what: str, *, ignore: Iterable[str] = ()) -> None:
    """Raise `InputError` unless ``state`` has exactly ``expected``'s keys (those starting with an ``ignore``
    prefix aside) with the same shapes."""
    ignore = tuple(ignore)
    keys = {k for k in state if not k.startswith(ignore)} if ignore else set(state)
    missing, unexpected = sorted(set(expected) - keys), sorted(keys - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({', '.join(unexpected[:3])}"
                         f"{', ...' if len(unexpected) > 3 else ''})")
        raise InputError(f"{path} is not {what}: {'; '.join(parts)}")
    for k, shape in expected.items():
        if tuple(state[k].shape) != tuple(shape):
            raise InputError(f"{path} is not {what}: {k} has shape {tuple(state[k].shape)}, expected {tuple(shape)}")
