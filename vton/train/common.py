"""What every training loop shares: the Accelerator, atomic checkpoints, resume, progress.

A checkpoint is a folder ``OUT/checkpoints/step-000123/`` holding one diffusers
model folder per model (``config.json`` + ``*.safetensors``), ``optimizer.pt``
(a plain state dict, read back with ``weights_only=True``) and ``state.json``
(the step and whatever the loop wants to keep). It is written to a hidden
temporary folder and renamed into place, so a crash never leaves half a
checkpoint; only the main process writes.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed

from vton.errors import InputError

CHECKPOINTS = "checkpoints"
STEP_PREFIX = "step-"

Progress = Callable[[int, int, str], None]
"""The library's one progress callback: ``progress(done, total, message)``."""


def make_accelerator(
    seed: int,
    *,
    mixed_precision: str = "no",
    cpu: bool | None = None,
    log_dir: str | Path | None = None,
    gradient_accumulation_steps: int = 1,
) -> Accelerator:
    """An `Accelerator` on CUDA when present (else CPU, gloo when several processes), seeded.

    ``mixed_precision`` ("no", "fp16", "bf16") is dropped to "no" on a CPU, where it would
    only slow things down. With ``log_dir`` it logs to TensorBoard.
    """
    cpu = (not torch.cuda.is_available()) if cpu is None else cpu
    if cpu:
        mixed_precision = "no"
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=mixed_precision,
        gradient_accumulation_steps=gradient_accumulation_steps,
        log_with="tensorboard" if log_dir is not None else None,
        project_config=ProjectConfiguration(project_dir=str(log_dir), logging_dir=str(log_dir)) if log_dir else None,
    )
    set_seed(seed, device_specific=True)
    return accelerator


def check_replicas_agree(accelerator: Accelerator, model: torch.nn.Module, *, rtol: float = 1e-5) -> None:
    """Raise `RuntimeError` unless every process holds the same weights (no-op for one process).

    Data-parallel replicas stay identical only when every gradient went through the
    wrapped model's ``forward`` (so DDP could average it); calling the unwrapped module
    trains each process on its own shard silently. A per-tensor checksum is gathered
    from all processes and compared, which costs one small all-gather.
    """
    if accelerator.num_processes < 2:
        return
    params = list(accelerator.unwrap_model(model).parameters())
    sums = torch.stack([p.detach().double().sum() for p in params]).to(accelerator.device)
    everyone = accelerator.gather(sums[None]).cpu()
    spread = (everyone - everyone[0]).abs().amax(dim=0)
    bad = spread > rtol * everyone[0].abs().clamp_min(1.0)
    if bool(bad.any()):
        raise RuntimeError(
            f"training replicas diverged: {int(bad.sum())} of {len(params)} parameter tensors differ between "
            "processes (gradients were not synchronised)")


def finish_training(accelerator: Accelerator, model: torch.nn.Module) -> None:
    """End a training loop on every process: check the replicas agree, then tear down.

    All processes meet at a barrier before the process group is destroyed. Without it,
    a process that reaches ``destroy_process_group`` while another is still busy (rank 0
    exporting, say) can leave gloo hanging at exit, now and then: CI saw a finished
    two-process run hang for ten minutes after printing its result.
    """
    check_replicas_agree(accelerator, model)
    accelerator.wait_for_everyone()
    accelerator.end_training()


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    On an exception the temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result should look like any new folder
    try:
        yield tmp
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_checkpoint(
    out_dir: str | Path,
    step: int,
    models: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict | None = None,
    *,
    accelerator: Accelerator | None = None,
    keep: int = 3,
) -> Path | None:
    """Write ``out_dir/checkpoints/step-{step:06d}`` atomically; keep the newest ``keep``.

    ``models`` are diffusers ``ModelMixin`` s (possibly wrapped by Accelerate/DDP; they are
    unwrapped). Returns the folder on the main process, ``None`` elsewhere.
    """
    if accelerator is not None:
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            return None
        models = {k: accelerator.unwrap_model(m) for k, m in models.items()}
    root = Path(out_dir) / CHECKPOINTS
    final = root / f"{STEP_PREFIX}{step:06d}"
    with atomic_dir(final) as tmp:
        for name, model in models.items():
            model.save_pretrained(tmp / name, safe_serialization=True)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, "extra": extra or {}}, indent=2))
    for old in sorted(root.glob(f"{STEP_PREFIX}*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder under ``out_dir``, or ``None``."""
    done = sorted(p for p in (Path(out_dir) / CHECKPOINTS).glob(f"{STEP_PREFIX}*") if (p / "state.json").is_file())
    return done[-1] if done else None


def load_checkpoint(
    path: str | Path,
    models: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer | None = None,
) -> tuple[int, dict]:
    """Load a `save_checkpoint` folder into ``models`` (strict) and ``optimizer``; return ``(step, extra)``."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / "state.json").is_file():
        raise InputError(f"{path} is not a checkpoint folder (no state.json)")
    for name, model in models.items():
        files = sorted((path / name).glob("*.safetensors"))
        if not files:
            raise InputError(f"checkpoint {path} has no weights for {name!r}")
        state = {}
        for f in files:
            state.update(load_file(str(f)))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise InputError(f"checkpoint {path}/{name} does not match the model: {str(e).splitlines()[0]}") from None
    if optimizer is not None and (path / "optimizer.pt").is_file():
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
    state = json.loads((path / "state.json").read_text())
    return int(state["step"]), state.get("extra", {})


def export_final(dst: str | Path, model: torch.nn.Module) -> Path:
    """Save ``model`` as a diffusers folder at ``dst``, atomically (replacing what was there)."""
    with atomic_dir(dst) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
    return Path(dst)


def tqdm_progress(desc: str, *, disable: bool = False) -> Progress:
    """A `Progress` callback drawing a tqdm bar (what the CLI passes to the library)."""
    from tqdm.auto import tqdm

    bar = None

    def progress(done: int, total: int, message: str = "") -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, disable=disable, dynamic_ncols=True)
        bar.n = done
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return progress
