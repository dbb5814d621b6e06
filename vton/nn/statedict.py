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


def layout_mismatch(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]) -> str | None:
    """How ``found``'s keys and shapes differ from ``expected``'s, in a few words naming the first cases
    ("3 missing (e.g. ...); 1 of another shape (e.g. k: expected (..), found (..))"); None when they agree."""
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    wrong = [k for k in expected if k in found and tuple(expected[k]) != tuple(found[k])]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} of another shape (e.g. {k}: expected {tuple(expected[k])}, found {tuple(found[k])})")
    return "; ".join(parts) or None


def check_folder_weights(model: torch.nn.Module, folder: str | Path) -> None:
    """Raise `InputError` unless the ``*.safetensors`` in ``folder`` hold exactly ``model``'s keys and shapes
    (diffusers' ``from_pretrained`` only warns about missing or unexpected weights)."""
    from safetensors import safe_open

    saved: dict[str, tuple[int, ...]] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                saved[key] = tuple(f.get_slice(key).get_shape())
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if (problem := layout_mismatch(expected, saved)) is not None:
        raise InputError(f"weights in {folder} do not match its config.json: {problem}")
