"""Try-on results for a whole split: one image per pair, split over processes, resumable.

What HR-VITON's ``test_generator.py`` does for VITON-HD's test list, for any pipeline folder:
every pair of the split's pairs list gets one result image in ``OUT``, named as HR-VITON
names it, ``{person stem}_{cloth stem}.png`` (the stem is the name up to its first dot;
paired = each person with its own cloth, so ``00001_00_00001_00.png``).

Determinism. Each pair's noise comes from its own seed, `pair_seed` (a SHA-256 of the run
seed and the pair's two names), drawn from its own ``torch.Generator``, so a result does
not depend on the order, the batch or the number of processes. Pairs are cut into batches
of ``batch_size`` consecutive pairs of the full list *before* they are dealt to processes
(batch ``k`` goes to rank ``k mod world_size``), so a batch holds the same pairs on one
process or on many and the images are bit-identical on the same device type (on a CPU,
with the same number of intra-op threads per process: PyTorch's CPU kernels round
differently with 1 and 2 threads; ``torchrun`` gives each process 1 thread, so compare with
a one-process run under ``OMP_NUM_THREADS=1``). A batch of N pairs gives the same images as
N single runs up to the kernels' float rounding: on the CPU here, a few pixels differ by
one grey level (see tests/test_generate.py); a resumed run whose batches lost members can
differ from an uninterrupted one by as much.

Resuming. An image is written atomically (temp file + ``os.replace``) and carries the run's
`params_key` in a PNG text chunk (``vton-generate``); an image counts as done only when its
key matches, so a rerun skips what is complete, redoes what a stopped run left missing, and
never takes a half-written or other-settings file as done. ``params.json`` (written first,
by rank 0) holds the settings: a rerun with other settings is refused unless it overwrites.

Processes. Under ``torchrun`` / ``accelerate launch`` each process reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` (`Shard.from_env`); there are no collectives. Every rank
writes its own images and a small part file ``OUT/.generate/rank-NNNNN.json`` (its status,
counts, a heartbeat while it runs); rank 0, when its own share is done, waits for the other
parts (`wait_for_ranks`, with a timeout on silence), checks every image and writes
``run.json``.

Layout of ``OUT``::

    OUT/
      params.json              the settings and their key (written at the start)
      run.json                 weights fingerprints, settings, counts, time, device (at the end)
      <person>_<cloth>.png     one per pair
      .generate/rank-*.json    per-process status
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vton.errors import InputError
from vton.io import atomic_save_json, atomic_write_bytes
from vton.types import DEFAULT_SIZE, Pair, Size

Progress = Callable[[int, int, str], None]

FORMAT = 1  # bump when the meaning of a result changes, so older folders are not taken as done
PARAMS_FILE = "params.json"
RUN_FILE = "run.json"
PARTS_DIR = ".generate"
PNG_KEY = "vton-generate"  # the PNG text chunk holding a result's key, seed and names
PAIRS_MODES = ("paired", "unpaired")
COMPONENTS = ("warper", "vae", "unet", "scheduler")


class RankFailed(RuntimeError):
    """Another process of the run failed or fell silent (rank 0 raises it while waiting).

    ``reported`` is True when that process has printed its own message (a part that says failed)."""

    def __init__(self, message: str, reported: bool = False):
        super().__init__(message)
        self.reported = reported


# ----------------------------------------------------------------------------- options, jobs, shards


@dataclass(frozen=True)
class GenerateOptions:
    """What a run generates and how it samples (the CLI's flags)."""

    pairs: str = "unpaired"  # "paired": each person with its own cloth; "unpaired": the pairs file's cloth
    split: str = "test"
    size: Size = DEFAULT_SIZE  # (H, W) of the results
    steps: int = 50  # DDIM steps
    eta: float = 0.0
    strength: float = 1.0
    seed: int = 0  # the run seed; each pair's seed is derived from it (`pair_seed`)
    batch_size: int = 1  # pairs sampled as one batch

    def __post_init__(self):
        if self.pairs not in PAIRS_MODES:
            raise InputError(f"pairs must be 'paired' or 'unpaired', got {self.pairs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch size must be a positive integer, got {self.batch_size!r}")


@dataclass(frozen=True)
class Job:
    """One pair to generate: its place in the pairs list, its names, its output file name and noise seed."""

    index: int
    person: str
    cloth: str
    name: str  # output file name, e.g. "00001_00_00002_00.png"
    seed: int


@dataclass(frozen=True)
class Shard:
    """This process's place in the run: ``rank`` of ``world_size`` (``LOCAL_RANK`` picks its GPU)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self):
        if self.world_size < 1 or not 0 <= self.rank < self.world_size or self.local_rank < 0:
            raise InputError(f"bad process layout: RANK={self.rank}, WORLD_SIZE={self.world_size}, "
                             f"LOCAL_RANK={self.local_rank} (need 0 <= RANK < WORLD_SIZE)")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def label(self) -> str:
        return f"rank {self.rank} of {self.world_size}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Shard":
        """The layout ``torchrun`` / ``accelerate launch`` set (RANK, WORLD_SIZE, LOCAL_RANK); one process without."""
        values = {}
        for var, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", None)):
            text = environ.get(var)
            if text is None or text == "":
                values[var] = default
                continue
            try:
                values[var] = int(text)
            except ValueError:
                raise InputError(f"environment variable {var}={text!r} is not an integer") from None
        local = values["LOCAL_RANK"] if values["LOCAL_RANK"] is not None else values["RANK"]
        return cls(rank=values["RANK"], world_size=values["WORLD_SIZE"], local_rank=local)


def _stem(name: str) -> str:
    """HR-VITON's stem: the file name up to its first dot."""
    return Path(name).name.split(".")[0]


def result_name(person: str, cloth: str) -> str:
    """The file a pair's result is written to, as HR-VITON's test_generator names it: ``person_cloth.png``.

    Example:
        >>> result_name("00001_00.jpg", "00002_00.jpg")
        '00001_00_00002_00.png'
    """
    return f"{_stem(person)}_{_stem(cloth)}.png"


def pair_seed(run_seed: int, person: str, cloth: str) -> int:
    """A pair's noise seed in ``[0, 2**63)``: the first 8 bytes of SHA-256 over the run seed and both names.

    Stable across processes, machines and Python versions (unlike ``hash()``).
    """
    digest = hashlib.sha256(f"vton-generate\0{int(run_seed)}\0{person}\0{cloth}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def make_jobs(pairs: Sequence[tuple[str, str]], run_seed: int) -> list[Job]:
    """One `Job` per distinct output file, in list order. A pair listed twice is generated once; two different
    pairs that would share a file name (``a.jpg`` / ``a.png``) are an `InputError`."""
    jobs: list[Job] = []
    seen: dict[str, tuple[str, str]] = {}
    for index, (person, cloth) in enumerate(pairs):
        name = result_name(person, cloth)
        if name in seen:
            if seen[name] != (person, cloth):
                raise InputError(f"pairs {seen[name][0]} {seen[name][1]} and {person} {cloth} would both be written "
                                 f"to {name}; rename one of them")
            continue
        seen[name] = (person, cloth)
        jobs.append(Job(index=index, person=person, cloth=cloth, name=name, seed=pair_seed(run_seed, person, cloth)))
    return jobs


def make_batches(jobs: Sequence[Job], batch_size: int) -> list[list[Job]]:
    """Consecutive chunks of ``batch_size`` jobs of the full list (the last may be shorter)."""
    return [list(jobs[i:i + batch_size]) for i in range(0, len(jobs), batch_size)]


def shard_batches(batches: Sequence[list[Job]], shard: Shard) -> list[list[Job]]:
    """Batch ``k`` goes to rank ``k mod world_size``: every batch to exactly one rank, the same pairs together
    whatever the number of ranks."""
    return [b for k, b in enumerate(batches) if k % shard.world_size == shard.rank]


# ----------------------------------------------------------------------------- settings and their key


def weights_fingerprints(folder: str | os.PathLike) -> dict[str, str]:
    """``{component: "sha256:<16 hex>"}`` over every file of each component folder (names and contents), so
    retrained weights of the same shapes get a new fingerprint. Reads every byte (a few seconds per GB)."""
    folder = Path(folder)
    out = {}
    for component in COMPONENTS:
        h = hashlib.sha256()
        files = sorted(p for p in (folder / component).rglob("*") if p.is_file() and not p.name.startswith("."))
        for path in files:
            h.update(path.relative_to(folder / component).as_posix().encode() + b"\0")
            with open(path, "rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
        out[component] = "sha256:" + h.hexdigest()[:16]
    return out


def run_params(options: GenerateOptions, fingerprints: Mapping[str, str]) -> dict:
    """Everything a result image depends on (the batch size and the data folder's path are not in it)."""
    return {
        "format": FORMAT,
        "weights": dict(fingerprints),
        "split": options.split,
        "pairs": options.pairs,
        "size": [int(options.size[0]), int(options.size[1])],
        "steps": int(options.steps),
        "eta": float(options.eta),
        "strength": float(options.strength),
        "seed": int(options.seed),
    }


def params_key(params: Mapping) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of `run_params`."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def _flatten(d: Mapping, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def check_params(out: str | os.PathLike, params: Mapping, *, overwrite: bool = False) -> None:
    """Refuse (`InputError`) to write into ``out`` when its ``params.json`` holds other settings, unless ``overwrite``."""
    path = Path(out) / PARAMS_FILE
    if overwrite or not path.is_file():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))["params"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{path} is unreadable: pass --overwrite to start this folder afresh, or choose another --out") from None
    if params_key(old) == params_key(params):
        return
    a, b = _flatten(params), (_flatten(old) if isinstance(old, Mapping) else {})
    diffs = [f"{k} {a.get(k)!r} (was {b.get(k)!r})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    raise InputError(f"{out} holds results made with other settings ({'; '.join(diffs[:4])}"
                     f"{'; ...' if len(diffs) > 4 else ''}): pass --overwrite to replace them, or choose another --out")


def write_params(out: str | os.PathLike, params: Mapping, data: str | os.PathLike) -> Path:
    return atomic_save_json(Path(out) / PARAMS_FILE, {"key": params_key(params), "params": dict(params),
                                                      "data": str(Path(data).resolve()), "written": _now()})


# ----------------------------------------------------------------------------- result files


def save_result(path: str | os.PathLike, image: np.ndarray, info: Mapping) -> Path:
    """Write ``image uint8 (H, W, 3)`` as PNG atomically, with ``info`` (JSON) in its ``vton-generate`` text chunk."""
    from PIL import Image, PngImagePlugin

    png = PngImagePlugin.PngInfo()
    png.add_text(PNG_KEY, json.dumps(dict(info), sort_keys=True))
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), "RGB").save(buf, format="PNG", pnginfo=png)
    return atomic_write_bytes(path, buf.getvalue())


def read_result_info(path: str | os.PathLike) -> dict | None:
    """The ``vton-generate`` chunk of a result PNG (read from its header, nothing decoded), or None."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            text = getattr(im, "text", {}).get(PNG_KEY)
        return json.loads(text) if text else None
    except (OSError, ValueError, SyntaxError):
        return None


def is_complete(path: str | os.PathLike, key: str) -> bool:
    """Whether ``path`` is a finished result of the run whose `params_key` is ``key``."""
    info = read_result_info(path) if os.path.isfile(path) else None
    return info is not None and info.get("key") == key


def clean_stray_temps(out: str | os.PathLike, names: set[str]) -> int:
    """Remove the temp files a stopped writer left for any of ``names`` (``.NAME.<hex>.tmp``); return how many."""
    removed = 0
    try:
        entries = list(os.scandir(out))
    except FileNotFoundError:
        return 0
    for entry in entries:
        n = entry.name
        if n.startswith(".") and n.endswith(".tmp") and n.count(".") >= 3:
            target = n[1:n.rindex(".", 0, len(n) - 4)]
            if target in names:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed


# ----------------------------------------------------------------------------- sampling several pairs as one batch


def _cat(values: list):
    """Concatenate along the batch: tensors, lists of tensors, dataclasses of those (None stays None)."""
    first = values[0]
    if first is None:
        return None
    if isinstance(first, torch.Tensor):
        return torch.cat(values, dim=0)
    if isinstance(first, (list, tuple)):
        return type(first)(_cat(list(v)) for v in zip(*values))
    if dataclasses.is_dataclass(first):
        return dataclasses.replace(first, **{f.name: _cat([getattr(v, f.name) for v in values])
                                             for f in dataclasses.fields(first) if f.init})
    return first


def stack_conditionings(conds: list):
    """Several batch-1 `Conditioning` s (same size) as one of batch ``len(conds)``: every tensor concatenated
    along the batch, row ``i`` = ``conds[i]``. `TryOnPipeline.sample` with one seed per row then samples each
    row with its own generator (it expands batch-1 conditions to the seed count; a batch of N stays N)."""
    if len(conds) == 1:
        return conds[0]
    sizes = {tuple(c.size) for c in conds}
    if len(sizes) != 1:
        raise ValueError(f"conditionings of different sizes cannot be batched: {sorted(sizes)}")
    first = conds[0]
    fields = {}
    for f in dataclasses.fields(first):
        if f.name in ("size", "timings"):
            continue
        fields[f.name] = _cat([getattr(c, f.name) for c in conds])
    timings = {k: sum(c.timings.get(k, 0.0) for c in conds) for k in first.timings}
    return dataclasses.replace(first, timings=timings, **fields)


def sample_pairs(pipe, pairs: Sequence[Pair], seeds: Sequence[int], options: GenerateOptions,
                 progress: Progress | None = None) -> list[np.ndarray]:
    """Results ``uint8 (H, W, 3)`` for ``pairs``, pair ``i`` from noise seeded by ``seeds[i]``, sampled as one batch."""
    conds = [pipe.prepare(p.person, p.cloth, size=options.size) for p in pairs]
    result = pipe.sample(stack_conditionings(conds), num_inference_steps=options.steps, eta=options.eta,
                         strength=options.strength, seeds=[int(s) for s in seeds], progress=progress)
    if len(result.images) != len(pairs):
        raise RuntimeError(f"the pipeline returned {len(result.images)} images for a batch of {len(pairs)} pairs")
    return result.images


def iter_results(pipe, reader, jobs: Sequence[Job], options: GenerateOptions,
                 progress: Progress | None = None) -> Iterator[tuple[Job, np.ndarray]]:
    """``(job, image)`` for each job, in order, ``options.batch_size`` jobs per sampling batch (writes nothing).

    ``reader`` is a `vton.data.VitonHD` (or any sequence of `Pair` in the order of the jobs' ``index``).
    ``progress(done, total, message)`` is called after every batch and, with ``done`` unchanged, at each
    denoising step (the message names the step).
    """
    total = len(jobs)
    done = 0
    for batch in make_batches(jobs, options.batch_size):
        pairs = [reader[j.index] for j in batch]
        label = batch[0].name if len(batch) == 1 else f"{batch[0].name} +{len(batch) - 1}"
        step_progress = None
        if progress is not None:
            step_progress = lambda i, n, msg, d=done, lab=label: progress(d, total, f"{lab} step {i}/{n}")  # noqa: E731
        images = sample_pairs(pipe, pairs, [j.seed for j in batch], options, progress=step_progress)
        for job, image in zip(batch, images):
            yield job, image
        done += len(batch)
        if progress is not None:
            progress(done, total, label)


# ----------------------------------------------------------------------------- one process's share


@dataclass
class ShardReport:
    """What one process did."""

    rank: int
    world_size: int
    assigned: int  # pairs dealt to this process
    skipped: int  # already complete when it started
    generated: int  # written by this process in this run
    seconds: float
    device: str
    threads: int = 0  # torch's intra-op threads (on a CPU the last bits of a result depend on it)
    status: str = "done"  # "loading", "running", "done", "failed", "interrupted"
    error: str | None = None


def pending_jobs(out: str | os.PathLike, jobs: Sequence[Job], key: str) -> list[Job]:
    """The jobs whose result in ``out`` is missing or not this run's."""
    return [j for j in jobs if not is_complete(Path(out) / j.name, key)]


def generate(pipe, reader, out: str | os.PathLike, options: GenerateOptions, *, key: str,
             shard: Shard = Shard(), progress: Progress | None = None) -> ShardReport:
    """Write this process's share of the results of ``reader``'s pairs into ``out``; skip what is complete.

    Args:
        pipe: a `TryOnPipeline` (any object with its ``prepare`` / ``sample``).
        reader: the split (`vton.data.VitonHD`, built with ``paired`` as ``options.pairs`` says); its
            ``pairs`` list gives the jobs.
        out: the results folder.
        options: the sampling settings; ``options.size`` must fit the pipeline.
        key: `params_key` of the run's `run_params`; written into each image, and what counts as done.
        shard: this process's rank and the number of processes.
        progress: ``progress(done, total, message)`` over this process's pending pairs.
    Returns:
        a `ShardReport` with the counts.
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = make_jobs(reader.pairs, options.seed)
    mine = [j for b in shard_batches(make_batches(jobs, options.batch_size), shard) for j in b]
    clean_stray_temps(out, {j.name for j in mine})
    pending = pending_jobs(out, mine, key)
    generated = 0
    for job, image in iter_results(pipe, reader, pending, options, progress=progress):
        save_result(out / job.name, image, {"key": key, "seed": job.seed, "person": job.person, "cloth": job.cloth})
        generated += 1
    return ShardReport(rank=shard.rank, world_size=shard.world_size, assigned=len(mine),
                       skipped=len(mine) - len(pending), generated=generated, seconds=time.perf_counter() - t0,
                       device=str(getattr(pipe, "device", "cpu")), threads=torch.get_num_threads())


# ----------------------------------------------------------------------------- part files and the wait


def part_path(out: str | os.PathLike, rank: int) -> Path:
    return Path(out) / PARTS_DIR / f"rank-{rank:05d}.json"


def write_part(out: str | os.PathLike, key: str, report: ShardReport, **extra) -> None:
    """Record this process's status (also its heartbeat: rank 0 times out only on parts that stop changing)."""
    atomic_save_json(part_path(out, report.rank), {"key": key, **dataclasses.asdict(report), "beat": time.time(), **extra})


def read_part(out: str | os.PathLike, rank: int) -> dict | None:
    try:
        return json.loads(part_path(out, rank).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def wait_for_ranks(out: str | os.PathLike, shard: Shard, key: str, jobs: Sequence[Job], *,
                   timeout: float = 600.0, poll: float = 0.25) -> list[dict]:
    """Rank 0: wait until every other rank's part says done and every job's image is complete.

    Raises `RankFailed` as soon as a part says failed, or when no other part has changed for ``timeout``
    seconds while some are unfinished. Returns the other ranks' parts.
    """
    others = list(range(1, shard.world_size))
    last_seen: list = [None] * len(others)
    last_change = time.monotonic()
    while True:
        parts = [read_part(out, r) for r in others]
        current = [p if p is not None and p.get("key") == key and p.get("world_size") == shard.world_size else None
                   for p in parts]
        for r, p in zip(others, current):
            if p is not None and p.get("status") == "failed":
                raise RankFailed(f"rank {r} of {shard.world_size} failed: {p.get('error') or 'no message'}", reported=True)
            if p is not None and p.get("status") == "interrupted":
                raise RankFailed(f"rank {r} of {shard.world_size} was interrupted (rerun the same command to finish)")
        if current != last_seen:
            last_seen, last_change = current, time.monotonic()
        if all(p is not None and p.get("status") == "done" for p in current):
            missing = pending_jobs(out, jobs, key)
            if not missing:
                return [p for p in current if p is not None]
        if time.monotonic() - last_change > timeout:
            silent = [r for r, p in zip(others, current) if p is None or p.get("status") != "done"]
            what = (f"rank(s) {', '.join(map(str, silent))} of {shard.world_size}" if silent
                    else f"{len(pending_jobs(out, jobs, key))} images the other ranks reported done")
            raise RankFailed(f"timed out after {timeout:g} s without progress waiting for {what} "
                             "(rerun the same command to finish)")
        time.sleep(poll)


# ----------------------------------------------------------------------------- run.json


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_run(out: str | os.PathLike, *, params: Mapping, options: GenerateOptions, weights: str | os.PathLike,
              data: str | os.PathLike, pairs_file: str | os.PathLike, jobs: Sequence[Job],
              reports: Sequence[Mapping], started: str, seconds: float) -> dict:
    """Write ``run.json`` (rank 0, at the end) and return it."""
    generated = sum(int(r.get("generated", 0)) for r in reports)
    skipped = sum(int(r.get("skipped", 0)) for r in reports)
    run = {
        "command": "generate",
        "format": FORMAT,
        "key": params_key(params),
        "data": str(Path(data).resolve()),
        "split": options.split,
        "pairs": options.pairs,
        "pairs_file": str(Path(pairs_file).resolve()),
        "weights": {"folder": str(Path(weights).resolve()), "fingerprints": dict(params["weights"])},
        "sampling": {"steps": options.steps, "eta": options.eta, "strength": options.strength, "seed": options.seed,
                     "size": [int(options.size[0]), int(options.size[1])], "batch_size": options.batch_size},
        "counts": {"pairs": len(jobs), "generated": generated, "skipped": skipped},
        "processes": len(reports),
        "device": sorted({str(r.get("device")) for r in reports}),
        "ranks": [{k: r.get(k) for k in ("rank", "device", "threads", "assigned", "skipped", "generated", "seconds")} for r in reports],
        "started": started,
        "finished": _now(),
        "seconds": round(seconds, 3),
        "seconds_per_image": round(seconds / generated, 4) if generated else None,
        "torch": torch.__version__,
    }
    atomic_save_json(Path(out) / RUN_FILE, run)
    return run
