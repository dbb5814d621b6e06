"""What every training loop shares: the Accelerator, atomic checkpoints, resume, progress,
and how a run of several processes ends, on success and on failure.

Checkpoints
-----------
A checkpoint is a folder ``OUT/checkpoints/step-000123/`` holding one diffusers
model folder per model (``config.json`` + ``*.safetensors``), ``optimizer.pt``
(a plain state dict, read back with ``weights_only=True``), ``rng.safetensors``
(the random generators' states a loop needs to resume exactly where it stopped) and
``state.json`` (the step and whatever the loop wants to keep). It is written to a
hidden temporary folder, synced to disk and renamed into place, so a crash never
leaves half a checkpoint; only the main process writes.

Several processes (``torchrun`` / ``accelerate launch``)
------------------------------------------------------
- Collectives (DDP's gradient all-reduce, gathers, barriers) give up after the
  collective timeout, `collective_timeout`: 60 s, or ``VTON_COLLECTIVE_TIMEOUT``
  seconds. It is passed to ``init_process_group`` through Accelerate's
  ``InitProcessGroupKwargs``. (torch's own default is 30 minutes.)
- Every process stamps a heartbeat in the launcher's rendezvous store once a second
  (`RankWatch`). When a collective fails (a peer died: gloo notices at once; a peer
  hangs: the timeout), the process reads the stamps and raises `RankFailure`
  naming the rank(s) that stopped; a process that fails on its own (a NaN loss, bad
  data) first writes why into the store, so the others can say so.
- Where one process works alone (the main one writing a checkpoint or exporting),
  the others wait at `rendezvous`, a store barrier that waits for as long as the
  ranks it waits for are alive (their heartbeats move), and not a guessed time.
- `training_run` wraps a loop: on every path, return or exception, it finishes the
  trackers, drops the prepared objects, stops the heartbeat and destroys the process
  group, so every process leaves the same way. Results are printed once, by rank 0,
  and flushed (`print_result`).
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs, ProjectConfiguration, set_seed

from vton.errors import InputError

CHECKPOINTS = "checkpoints"
STEP_PREFIX = "step-"
RNG_FILE = "rng.safetensors"

COLLECTIVE_TIMEOUT_ENV = "VTON_COLLECTIVE_TIMEOUT"
DEFAULT_COLLECTIVE_TIMEOUT = 60.0  # seconds; see the module docstring
HEARTBEAT_INTERVAL = 1.0  # seconds between two stamps of a process's heartbeat
STALE_AFTER = 4.0  # seconds without a stamp, once a collective failed: that process stopped (killed, hung, machine gone)
STALE_WHILE_WAITING = 30.0  # the same while waiting at a rendezvous, where nothing has failed yet (a busy machine may lag)
EXIT_RANK_FAILED = 1  # what a training command returns when a peer process failed

Progress = Callable[[int, int, str], None]
"""The library's one progress callback: ``progress(done, total, message)``."""


# ----------------------------------------------------------------------------- processes


def process_rank() -> int:
    """This process's global rank as the launcher set it (``RANK``; 0 when launched alone)."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0 (or a process launched alone): the one that draws progress bars and prints results."""
    return process_rank() == 0


def print_result(result: dict, *, indent: int | None = None) -> None:
    """Write ``result`` as JSON to stdout, from rank 0 only, in one write, flushed.

    One write per run: every process printing its own copy interleaved them
    (``{...}{...}\\n\\n``) and left the JSON unreadable.
    """
    if is_main_process():
        sys.stdout.write(json.dumps(result, indent=indent) + "\n")
        sys.stdout.flush()


def collective_timeout() -> datetime.timedelta:
    """How long a collective waits for the other processes: ``VTON_COLLECTIVE_TIMEOUT`` seconds, default 60."""
    text = os.environ.get(COLLECTIVE_TIMEOUT_ENV, "")
    if not text:
        return datetime.timedelta(seconds=DEFAULT_COLLECTIVE_TIMEOUT)
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InputError(f"{COLLECTIVE_TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    return datetime.timedelta(seconds=seconds)


class RankFailure(RuntimeError):
    """Another process of this run failed or stopped; the message names its rank."""


class _StoreLost(Exception):
    pass


def _first_line(error: BaseException, limit: int = 240) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else ""
    return f"{type(error).__name__}: {line[:limit]}"


class RankWatch:
    """Heartbeats of every process of a run, kept in the launcher's rendezvous store.

    The store is the one ``MASTER_ADDR:MASTER_PORT`` names: torchrun's agent keeps it
    (it outlives the workers), a plain ``env://`` launch has rank 0 keep it. Each
    process bumps a counter there every `HEARTBEAT_INTERVAL` from a daemon thread, on
    its own connection; a process whose counter has not moved for `STALE_AFTER`
    seconds has stopped. A process leaving on an error writes why (`leave`).
    """

    def __init__(self, rank: int, world: int, *, interval: float = HEARTBEAT_INTERVAL, stale_after: float = STALE_AFTER):
        self.rank, self.world, self.interval, self.stale_after = rank, world, interval, stale_after
        self.address = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        # torchrun / accelerate launch (torch elastic) keep the store in the launcher; a plain env:// launch in rank 0
        self.rank0_holds_store = "TORCHELASTIC_RUN_ID" not in os.environ
        run = os.environ.get("TORCHELASTIC_RUN_ID", "env")
        self.prefix = f"vton-watch/{run}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/"
        self._calls = 0
        self._gone: set[int] = set()  # ranks found stopped: nobody waits for them any more
        self._store = self._connect()
        self._beat_store = self._connect()
        self._store.add(self._key("beat", rank), 1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="vton-heartbeat", daemon=True)
        self._thread.start()

    @classmethod
    def for_this_process(cls, num_processes: int) -> "RankWatch | None":
        """A watch when this process is one of several launched through a store (else None)."""
        if num_processes < 2 or "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
            return None
        return cls(process_rank(), num_processes)

    def _connect(self):
        import torch.distributed as dist

        host, port = self.address.rsplit(":", 1)
        return dist.TCPStore(host, int(port), is_master=False, timeout=datetime.timedelta(seconds=10),
                             wait_for_workers=False)

    def _key(self, kind: str, rank: int) -> str:
        return f"{self.prefix}{kind}/{rank}"

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat_store.add(self._key("beat", self.rank), 1)
            except Exception:  # the store is gone (its keeper stopped): whoever looks will say so
                return

    def _others(self) -> list[int]:
        return [r for r in range(self.world) if r != self.rank]

    def _beats(self, ranks: list[int]) -> dict[int, int]:
        try:
            return {r: int(self._store.add(self._key("beat", r), 0)) for r in ranks}
        except Exception as e:
            raise _StoreLost() from e

    def _reason(self, rank: int) -> str | None:
        key = self._key("exit", rank)
        try:
            return self._store.get(key).decode() if self._store.check([key]) else None
        except Exception as e:
            raise _StoreLost() from e

    def _store_lost(self) -> dict[int, str]:
        if self.rank0_holds_store and self.rank != 0:
            return {0: f"stopped (it kept the rendezvous store at {self.address}, which no longer answers)"}
        return {-1: f"the launcher's rendezvous store at {self.address} no longer answers (the launcher stopped)"}

    def stopped_ranks(self, ranks: list[int] | None = None, *, window: float | None = None) -> dict[int, str]:
        """``{rank: what happened}`` for the ranks (default: all others) that stopped or said they failed.

        Watches their heartbeats for up to ``window`` seconds (default `stale_after`);
        returns as soon as every rank is seen alive or has said why it left.
        """
        ranks = self._others() if ranks is None else ranks
        window = self.stale_after if window is None else window
        try:
            first = self._beats(ranks)
            deadline = time.monotonic() + window
            alive: set[int] = set()
            reasons: dict[int, str] = {}
            while True:
                for r in ranks:
                    if r not in reasons and (why := self._reason(r)) is not None:
                        reasons[r] = why
                now = self._beats([r for r in ranks if r not in alive])
                alive |= {r for r, n in now.items() if n != first[r]}
                if all(r in alive or r in reasons for r in ranks) or time.monotonic() >= deadline:
                    break
                time.sleep(min(0.2, self.interval / 4))
        except _StoreLost:
            return self._store_lost()
        out = {r: f"failed: {why}" for r, why in reasons.items()}
        out |= {r: f"stopped (no heartbeat for {window:.0f} s: killed, hung, or its machine is gone)"
                for r in ranks if r not in alive and r not in reasons}
        self._gone |= {r for r in out if r not in alive}
        return out

    def failure(self, what: str, cause: BaseException | None = None, stopped: dict[int, str] | None = None) -> RankFailure:
        """The `RankFailure` to raise after ``what`` (e.g. "a collective failed") went wrong."""
        stopped = self.stopped_ranks() if stopped is None else stopped
        named = "; ".join(f"rank {r} of {self.world} {why}" if r >= 0 else why for r, why in sorted(stopped.items()))
        if not named:
            named = f"every other rank of {self.world} still answers, so the fault is in the connection or in rank {self.rank}"
        tail = f" ({_first_line(cause)})" if cause is not None else ""
        return RankFailure(f"{named}: rank {self.rank} stops too, after {what}{tail}")

    def rendezvous(self, name: str) -> None:
        """Wait until every process reached the rendezvous called ``name`` (all call them in the same order).

        Waits for as long as the missing processes' heartbeats move; raises `RankFailure`
        once one of them said it failed, or its heartbeat stood still for `STALE_WHILE_WAITING`.
        """
        self._calls += 1
        key = lambda r: self._key(f"at/{self._calls}", r)  # noqa: E731
        what = f"waiting for the others at '{name}'"
        try:
            self._store.set(key(self.rank), name)
            missing = self._others()
            beats, moved = self._beats(missing), {r: time.monotonic() for r in missing}
            pause = 0.005
            while missing := [r for r in missing if not self._store.check([key(r)])]:
                now, seen = time.monotonic(), self._beats(missing)
                moved |= {r: now for r in missing if seen[r] != beats[r]}
                beats |= seen
                stopped = {r: f"failed: {why}" for r in missing if (why := self._reason(r)) is not None}
                stopped |= {r: f"stopped (no heartbeat for {STALE_WHILE_WAITING:.0f} s while the others waited)"
                            for r in missing if r not in stopped and now - moved[r] > STALE_WHILE_WAITING}
                if stopped:
                    self._gone |= set(stopped)
                    raise self.failure(what, stopped=stopped)
                time.sleep(pause)
                pause = min(0.2, pause * 1.5)
        except RankFailure:
            raise
        except _StoreLost:
            raise self.failure(what, stopped=self._store_lost()) from None
        except Exception as e:
            raise self.failure(what, e) from None

    def leave(self, reason: str) -> None:
        """Tell the others why this process leaves (best effort)."""
        try:
            self._store.set(self._key("exit", self.rank), reason)
        except Exception:
            pass

    def close(self, *, ok: bool) -> None:
        """Stop the heartbeat. When rank 0 keeps the store, it leaves last (the others need the store until then)."""
        self._stop.set()
        self._thread.join(timeout=2 * self.interval)
        if not self.rank0_holds_store:
            return
        try:
            if self.rank != 0:
                self._store.set(self._key("left", self.rank), "1")
                return
            # rank 0: wait (briefly) until the others are done with the store; after a failure, long
            # enough for them to read why this process left
            deadline = time.monotonic() + (30.0 if ok else self.stale_after + 2.0)
            others = [r for r in self._others() if r not in self._gone]
            while others and time.monotonic() < deadline:
                others = [r for r in others if not self._store.check([self._key("left", r)])
                          and not self._store.check([self._key("exit", r)])]
                time.sleep(0.02)
        except Exception:
            pass


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
    only slow things down. With ``log_dir`` it logs to TensorBoard. With several processes
    its collectives time out after `collective_timeout` and a `RankWatch` runs; end the
    loop inside `training_run`.
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
        kwargs_handlers=[InitProcessGroupKwargs(timeout=collective_timeout())],
    )
    accelerator.vton_watch = RankWatch.for_this_process(accelerator.num_processes)
    set_seed(seed, device_specific=True)
    return accelerator


def _watch(accelerator: Accelerator | None) -> RankWatch | None:
    return getattr(accelerator, "vton_watch", None)


def _is_collective_error(error: BaseException) -> bool:
    """Did ``error`` come from talking to the other processes (rather than from this one's own work)?"""
    import torch.distributed as dist

    if isinstance(error, dist.DistError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        s in text for s in ("gloo", "Gloo", "NCCL", "c10d", "Connection reset", "Connection closed", "Timed out", "timed out",
                            "ProcessGroup", "Broken pipe"))


def rendezvous(accelerator: Accelerator, name: str) -> None:
    """Every process waits here until all arrived; for as long as the missing ones are alive (see `RankWatch`)."""
    watch = _watch(accelerator)
    if watch is not None:
        watch.rendezvous(name)
    elif accelerator.num_processes > 1:
        accelerator.wait_for_everyone()


@contextmanager
def training_run(accelerator: Accelerator) -> Iterator[Accelerator]:
    """Run a training loop so that every process leaves it the same way, on every path.

    On return or exception: the trackers are finished, the prepared objects dropped, the
    heartbeat stopped and the process group destroyed. An error from a collective
    becomes a `RankFailure` naming the rank that stopped; any other error is first
    written to the store (so the others can name it) and then raised as it was.
    """
    watch = _watch(accelerator)
    try:
        yield accelerator
    except BaseException as error:
        failure = error if isinstance(error, RankFailure) else None
        if failure is None and watch is not None and _is_collective_error(error):
            failure = watch.failure("a collective failed", error)
        if watch is not None:
            watch.leave(str(failure) if failure is not None else f"{_first_line(error)} (on rank {watch.rank})")
        _teardown(accelerator, ok=False)
        if failure is not None and failure is not error:
            raise failure from error
        raise
    _teardown(accelerator, ok=True)


def _teardown(accelerator: Accelerator, *, ok: bool) -> None:
    for tracker in accelerator.trackers:
        try:
            tracker.finish()
        except Exception:
            pass
    accelerator.free_memory()
    import torch.distributed as dist

    watch = _watch(accelerator)
    accelerator.vton_watch = None
    if watch is not None and ok:  # all passed the last rendezvous: leave the store (rank 0's may live in its group)
        watch.close(ok=True)
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()  # after a failure, first: the others' pending collectives fail now, not at their timeout
    if watch is not None and not ok:
        watch.close(ok=False)


def training_command(run: Callable) -> Callable:
    """Wrap a CLI training command: a `RankFailure` becomes one ``error: ...`` line and exit code 1."""

    @functools.wraps(run)
    def wrapped(args):
        try:
            return run(args)
        except RankFailure as e:
            _close_progress_bars()  # so that the error starts a line of its own
            sys.stdout.flush()
            print(f"error: {e}", file=sys.stderr, flush=True)
            return EXIT_RANK_FAILED

    return wrapped


def _close_progress_bars() -> None:
    if "tqdm" in sys.modules:
        from tqdm.auto import tqdm

        for bar in list(getattr(tqdm, "_instances", ())):
            try:
                bar.close()
            except Exception:
                pass


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
    """The end of a training loop, on every process: check the replicas agree.

    The main process exports next; then every process meets at `rendezvous` (so none
    leaves while rank 0 still writes) and `training_run` tears the run down.
    """
    check_replicas_agree(accelerator, model)


# ----------------------------------------------------------------------------- resuming exactly


def sampler_generator(loader) -> torch.Generator | None:
    """The generator that shuffles ``loader`` (Accelerate's synchronised one when several processes), if any."""
    generator = getattr(loader, "synchronized_generator", None)
    if generator is None:
        for sampler in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
            generator = getattr(sampler, "generator", None)
            if generator is not None:
                break
    return generator


def epoch_rng(loader) -> dict[str, torch.Tensor]:
    """The random state an epoch of ``loader`` starts from: take it just before iterating.

    With it (and the number of batches already done) a resumed run sees the same
    batches in the same order as the run it continues.
    """
    state = {"epoch_torch": torch.get_rng_state()}
    generator = sampler_generator(loader)
    if generator is not None:
        state["epoch_sampler"] = generator.get_state()
    return state


def restore_epoch_rng(loader, state: dict[str, torch.Tensor]) -> None:
    """Undo `epoch_rng`: the next iteration of ``loader`` starts as that epoch did."""
    if "epoch_torch" in state:
        torch.set_rng_state(state["epoch_torch"])
    generator = sampler_generator(loader)
    if generator is not None and "epoch_sampler" in state:
        generator.set_state(state["epoch_sampler"])


# ----------------------------------------------------------------------------- atomic folders and checkpoints


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` to disk (a rename is only as durable as what it renames)."""
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(folder)


def _fsync_dir(folder: str | Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _recover(path: Path) -> None:
    """A crash between the two renames of a replacement leaves ``path`` missing and ``.{name}.old-PID`` beside it: put it back."""
    if path.exists():
        return
    olds = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.replace(olds[-1], path)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    On an exception the temporary folder is removed and ``path`` is untouched. The new
    files are synced to disk before the rename; a replacement moves the old folder aside
    first, and a crash between those two renames is repaired by the next call.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result should look like any new folder
    try:
        yield tmp
        _fsync_tree(tmp)
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
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
    rng: dict[str, torch.Tensor] | None = None,
) -> Path | None:
    """Write ``out_dir/checkpoints/step-{step:06d}`` atomically; keep the newest ``keep``.

    ``models`` are diffusers ``ModelMixin`` s (possibly wrapped by Accelerate/DDP; they are
    unwrapped). ``rng`` maps names to generator states (``Generator.get_state()``), read
    back by `load_rng`. With ``accelerator``, only the main process writes and the others
    wait for it (`rendezvous`). Returns the folder on the main process, ``None`` elsewhere.
    """
    main = accelerator is None or accelerator.is_main_process
    root = Path(out_dir) / CHECKPOINTS
    final = root / f"{STEP_PREFIX}{step:06d}"
    if main:
        if accelerator is not None:
            models = {k: accelerator.unwrap_model(m) for k, m in models.items()}
        for stale in root.glob(f".{STEP_PREFIX}*.tmp-*"):  # left by a crash mid-write; only the main process writes
            shutil.rmtree(stale, ignore_errors=True)
        with atomic_dir(final) as tmp:
            for name, model in models.items():
                model.save_pretrained(tmp / name, safe_serialization=True)
            if optimizer is not None:
                torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            if rng:
                from safetensors.torch import save_file

                save_file({k: v.detach().cpu().contiguous() for k, v in rng.items()}, str(tmp / RNG_FILE))
            (tmp / "state.json").write_text(json.dumps({"step": step, "extra": extra or {}}, indent=2))
        for old in sorted(root.glob(f"{STEP_PREFIX}*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    if accelerator is not None:
        rendezvous(accelerator, f"checkpoint {step}")
    return final if main else None


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder under ``out_dir``, or ``None``."""
    root = Path(out_dir) / CHECKPOINTS
    for old in root.glob(f".{STEP_PREFIX}*.old-*"):  # a replacement cut short between its two renames
        _recover(root / old.name[1:].split(".old-")[0])
    done = sorted(p for p in root.glob(f"{STEP_PREFIX}*") if (p / "state.json").is_file())
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


def load_rng(path: str | Path) -> dict[str, torch.Tensor]:
    """The generator states a checkpoint kept (empty for checkpoints written without them)."""
    from safetensors.torch import load_file

    file = Path(path) / RNG_FILE
    return load_file(str(file)) if file.is_file() else {}


def export_final(dst: str | Path, model: torch.nn.Module) -> Path:
    """Save ``model`` as a diffusers folder at ``dst``, atomically (replacing what was there)."""
    with atomic_dir(dst) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
    return Path(dst)


def tqdm_progress(desc: str, *, disable: bool = False) -> Progress:
    """A `Progress` callback drawing a tqdm bar (what the CLI passes to the library); rank 0 only draws."""
    from tqdm.auto import tqdm

    disable = disable or not is_main_process()
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
