"""Scores of a results folder: SSIM and PSNR (paired), LPIPS (paired), FID and KID, as one JSON-ready dict.

A results folder is what ``python -m vton generate`` writes (`vton.diffusion.generate`), or any
folder whose images are named as HR-VITON's ``test_generator.py`` names them,
``{person stem}_{cloth stem}.png``. The pairs scored are the dataset split's pairs list, read as
``generate`` reads it (``--pairs paired``: each person with its own cloth, and the person photo is
the ground truth; ``unpaired``: the listed cloth, no ground truth).

What is compared with what:

- SSIM, PSNR and LPIPS (paired only): each result against its person photo, both at the scoring
  size (the results' own size unless ``size`` says otherwise; images are resized with area
  averaging to shrink, bilinear to enlarge, as `vton.data.VitonHD` reads them).
- FID and KID (paired and unpaired, as papers report both): the results against the split's real
  person photos (each person of the pairs list once), both at the scoring size, through
  pytorch-fid's Inception (`vton.nn.inception`; it resizes to 299x299 itself).

LPIPS needs the lpips package's linear-layer file and a torchvision backbone file; FID and KID
need pytorch-fid's Inception file. Without them those metrics are ``{"available": false,
"why": ...}``, never a number.

Processes. Under ``torchrun`` each process (``RANK`` / ``WORLD_SIZE``, `Shard`) scores batch ``k``
of the results and of the real photos when ``k mod world_size`` is its rank; every rank but 0 writes
its per-image numbers and features to ``OUT/.score/rank-NNNNN.safetensors`` (then a status
``rank-NNNNN.json``, also its heartbeat); rank 0 waits for every part of the same launch
(`score_key`), puts them back in list order and computes the set metrics. No collectives. One
process writes nothing at all.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vton.diffusion.generate import PARAMS_FILE, RUN_FILE, Job, RankFailed, Shard, is_complete, make_jobs
from vton.errors import InputError
from vton.io import atomic_save_json, atomic_save_safetensors
from vton.types import Size

Progress = Callable[[int, int, str], None]

SCORE_DIR = ".score"
FORMAT = 1
HEARTBEAT_SECONDS = 2.0
NO_TRUTH = "unpaired results have no ground truth (each person wears another cloth)"
SSIM_HOW = "scikit-image structural_similarity: 7x7 uniform window, mean over RGB, data_range 255"
PSNR_HOW = "10 log10(255^2 / MSE) per image, averaged; an image equal to its truth has PSNR inf"


@dataclass(frozen=True)
class ScoreOptions:
    """What to score and with which weights (the CLI's flags)."""

    pairs: str  # "paired" or "unpaired"
    split: str = "test"
    size: Size | None = None  # (H, W) everything is compared at; None: the results' own size
    batch_size: int = 16
    lpips: tuple[str, str] | None = None  # (linear-layer file, backbone file)
    inception: str | None = None  # pytorch-fid's pt_inception-2015-12-05-6726825d.pth
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    kid_seed: int = 0
    per_pair: bool = False  # also list every pair's SSIM / PSNR / LPIPS

    def __post_init__(self):
        if self.pairs not in ("paired", "unpaired"):
            raise InputError(f"pairs must be 'paired' or 'unpaired', got {self.pairs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch size must be a positive integer, got {self.batch_size!r}")
        if self.kid_subsets < 1 or self.kid_subset_size < 2:
            raise InputError(f"KID needs at least 1 subset of at least 2 images, got {self.kid_subsets} subsets "
                             f"of {self.kid_subset_size}")


# ----------------------------------------------------------------------------- the results folder


@dataclass(frozen=True)
class ResultsFolder:
    """A results folder and what it says about itself (``params.json`` / ``run.json`` when `generate` wrote it)."""

    folder: Path
    params: dict | None = None  # generate's settings (pairs, split, size, steps, ...), or None
    key: str | None = None  # their key: an image counts only when it carries it
    data: str | None = None  # the dataset folder generate read
    run: dict | None = None  # run.json (written when generate finished), or None

    @classmethod
    def open(cls, folder: str | os.PathLike) -> "ResultsFolder":
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"results folder not found: {folder}")
        params = key = data = run = None
        if (folder / PARAMS_FILE).is_file():
            try:
                doc = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
                params, key, data = dict(doc["params"]), str(doc["key"]), doc.get("data")
            except (OSError, ValueError, KeyError, TypeError):
                raise InputError(f"{folder / PARAMS_FILE} is unreadable (not the params.json generate writes)") from None
        if (folder / RUN_FILE).is_file():
            try:
                run = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise InputError(f"{folder / RUN_FILE} is unreadable (not the run.json generate writes)") from None
        return cls(folder, params, key, data, run)

    @property
    def pairs(self) -> str | None:
        return None if self.params is None else self.params.get("pairs")

    @property
    def split(self) -> str | None:
        return None if self.params is None else self.params.get("split")

    def is_done(self, job: Job) -> bool:
        """The pair's image is there (and, for a generate folder, finished with the folder's settings)."""
        path = self.folder / job.name
        return is_complete(path, self.key) if self.key else path.is_file()

    def image_names(self) -> list[str]:
        return sorted(p.name for p in self.folder.glob("*.png") if not p.name.startswith("."))


def resolve_mode(results: ResultsFolder, pairs: str | None, split: str | None) -> tuple[str, str]:
    """``(pairs, split)``: the flags, else the folder's ``params.json``; a flag that contradicts it is an error."""
    for flag, given, own in (("--pairs", pairs, results.pairs), ("--split", split, results.split)):
        if given is not None and own is not None and given != own:
            raise InputError(f"{results.folder} holds {flag.lstrip('-')} {own!r} results (its params.json), "
                             f"not {given!r}: drop {flag} or pass {flag} {own}")
    pairs = pairs or results.pairs
    if pairs is None:
        raise InputError(f"{results.folder} has no params.json saying whether its results are paired: pass --pairs")
    return pairs, split or results.split or "test"


def image_size(path: Path) -> tuple[int, int]:
    """``(H, W)`` from an image's header (nothing decoded)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (OSError, ValueError, SyntaxError):
        raise InputError(f"{path} is not a readable image") from None


@dataclass
class Plan:
    """Everything scoring needs, checked before any model is loaded."""

    results: ResultsFolder
    data: Path
    options: ScoreOptions
    jobs: list[Job]  # the pairs, in list order; result i is results.folder / jobs[i].name
    real: list[int]  # pair indices whose person photo is in the real set (each person once)
    results_size: Size
    size: Size  # the scoring size
    reader: object  # vton.data.VitonHD at the scoring size, paired as options.pairs says

    @property
    def paired(self) -> bool:
        return self.options.pairs == "paired"


def plan(results: ResultsFolder, data: str | os.PathLike, options: ScoreOptions) -> Plan:
    """Check the folder against the dataset's pairs list: every result present and finished, all of one size."""
    from vton.data import VitonHD

    reader = VitonHD(data, options.split, paired=options.pairs == "paired")
    jobs = make_jobs(reader.pairs, 0)
    missing = [j for j in jobs if not results.is_done(j)]
    if missing:
        why = " or unfinished" if results.key else ""
        raise InputError(f"{len(missing)} of {len(jobs)} results are missing{why} in {results.folder} "
                         f"(e.g. {missing[0].name} for {missing[0].person} {missing[0].cloth}): finish it with generate, "
                         f"or check --data / --split / --pairs")
    sizes: dict[tuple[int, int], str] = {}
    for j in jobs:
        sizes.setdefault(image_size(results.folder / j.name), j.name)
        if len(sizes) > 1:
            (a, na), (b, nb) = list(sizes.items())
            raise InputError(f"results of different sizes in {results.folder}: {na} is {a[0]}x{a[1]}, "
                             f"{nb} is {b[0]}x{b[1]}")
    results_size = next(iter(sizes))
    size = tuple(options.size) if options.size is not None else results_size
    seen: set[str] = set()
    real = []
    for j in jobs:
        if j.person not in seen:
            seen.add(j.person)
            real.append(j.index)
    reader = VitonHD(data, options.split, size=size, paired=options.pairs == "paired")
    return Plan(results, Path(data), options, jobs, real, results_size, size, reader)


def score_key(p: Plan, world_size: int) -> str:
    """What a run's part files belong to: the folders, the options, the number of processes and the launch."""
    doc = {"format": FORMAT, "results": str(p.results.folder.resolve()), "data": str(p.data.resolve()),
           "results_key": p.results.key, "options": dataclasses.asdict(p.options), "world_size": world_size,
           # torchrun / accelerate launch name each launch: a part left by an earlier launch is never taken
           "launch": [os.environ.get(v) for v in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT")]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- models


@dataclass
class Models:
    lpips: torch.nn.Module | None = None
    inception: torch.nn.Module | None = None
    device: str = "cpu"


def load_models(options: ScoreOptions, device: str = "cpu") -> Models:
    """The LPIPS and Inception networks the options point at (`InputError` for a wrong or unreadable file)."""
    models = Models(device=device)
    if options.lpips is not None:
        from vton.nn.lpips import LPIPS

        models.lpips = LPIPS.from_files(*options.lpips).to(device)
    if options.inception is not None:
        from vton.nn.inception import FIDInceptionV3

        models.inception = FIDInceptionV3.from_file(options.inception).to(device)
    return models


# ----------------------------------------------------------------------------- one process's share


def _batches(n: int, batch_size: int, shard: Shard) -> list[list[int]]:
    """Positions ``0..n-1`` in batches of ``batch_size``; batch ``k`` to rank ``k mod world_size``."""
    return [list(range(s, min(n, s + batch_size))) for k, s in enumerate(range(0, n, batch_size))
            if k % shard.world_size == shard.rank]


def _to_batch(images: Sequence[np.ndarray], device: str) -> torch.Tensor:
    from vton.tensors import image_to_tensor

    return torch.stack([image_to_tensor(im) for im in images]).to(device)


def read_result(p: Plan, job: Job) -> np.ndarray:
    """A result image ``uint8 (H, W, 3)`` at the scoring size."""
    from vton.data.vitonhd import resize_image
    from vton.io import load_image

    return resize_image(load_image(p.results.folder / job.name, min_side=1), p.size)


@torch.no_grad()
def score_share(p: Plan, models: Models, shard: Shard = Shard(), progress: Progress | None = None) -> dict[str, np.ndarray]:
    """This process's numbers: per-result SSIM / PSNR / LPIPS (paired) and Inception features of its share of the
    results and of the real photos. Arrays keyed ``fake_index``, ``ssim``, ``psnr``, ``lpips``, ``fake_features``,
    ``real_index``, ``real_features`` (positions into ``p.jobs`` / ``p.real``)."""
    from vton import metrics

    o, dev = p.options, models.device
    fake_batches = _batches(len(p.jobs), o.batch_size, shard)
    real_batches = _batches(len(p.real), o.batch_size, shard) if models.inception is not None else []
    total = sum(map(len, fake_batches)) + sum(map(len, real_batches))
    done = 0
    out: dict[str, list] = {k: [] for k in ("fake_index", "ssim", "psnr", "lpips", "fake_features", "real_index",
                                            "real_features")}
    for batch in fake_batches:
        fakes = [read_result(p, p.jobs[i]) for i in batch]
        out["fake_index"] += batch
        if p.paired:
            truths = [p.reader.person_image(p.jobs[i].index) for i in batch]
            out["ssim"] += [metrics.ssim(f, t) for f, t in zip(fakes, truths)]
            out["psnr"] += [metrics.psnr(f, t) for f, t in zip(fakes, truths)]
            if models.lpips is not None:
                out["lpips"] += models.lpips(_to_batch(fakes, dev), _to_batch(truths, dev)).double().cpu().tolist()
        if models.inception is not None:
            out["fake_features"].append(models.inception(_to_batch(fakes, dev)).float().cpu().numpy())
        done += len(batch)
        if progress:
            progress(done, total, p.jobs[batch[-1]].name)
    for batch in real_batches:
        reals = [p.reader.person_image(p.real[i]) for i in batch]
        out["real_index"] += batch
        out["real_features"].append(models.inception(_to_batch(reals, dev)).float().cpu().numpy())
        done += len(batch)
        if progress:
            progress(done, total, f"real {p.jobs[p.real[batch[-1]]].person}")
    arrays = {}
    for k, v in out.items():
        if k.endswith("features"):
            arrays[k] = np.concatenate(v) if v else np.zeros((0, 0), np.float32)
        else:
            arrays[k] = np.asarray(v, dtype=np.int64 if k.endswith("index") else np.float64)
    return arrays


# ----------------------------------------------------------------------------- part files (several processes)


def part_paths(results: ResultsFolder, rank: int) -> tuple[Path, Path]:
    base = results.folder / SCORE_DIR / f"rank-{rank:05d}"
    return base.with_suffix(".json"), base.with_suffix(".safetensors")


def write_status(results: ResultsFolder, key: str, shard: Shard, status: str, error: str | None = None) -> None:
    atomic_save_json(part_paths(results, shard.rank)[0], {"key": key, "rank": shard.rank, "world_size": shard.world_size,
                                                          "status": status, "error": error, "beat": time.time()})


def write_part(results: ResultsFolder, key: str, shard: Shard, arrays: dict[str, np.ndarray]) -> None:
    """This rank's arrays, then its status "done" (so a done status always has its arrays beside it)."""
    atomic_save_safetensors(part_paths(results, shard.rank)[1], {k: np.ascontiguousarray(v) for k, v in arrays.items()},
                            metadata={"key": key})
    write_status(results, key, shard, "done")


def _read_status(results: ResultsFolder, rank: int) -> dict | None:
    try:
        return json.loads(part_paths(results, rank)[0].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def wait_for_parts(results: ResultsFolder, key: str, shard: Shard, *, timeout: float = 600.0,
                   poll: float = 0.25) -> list[dict[str, np.ndarray]]:
    """Rank 0: the other ranks' arrays once each part says done; `RankFailed` when one failed or all fell silent."""
    from safetensors.numpy import load_file

    others = list(range(1, shard.world_size))
    last, last_change = None, time.monotonic()
    while True:
        current = [s if s is not None and s.get("key") == key else None for s in (_read_status(results, r) for r in others)]
        for r, s in zip(others, current):
            if s is not None and s.get("status") == "failed":
                raise RankFailed(f"rank {r} of {shard.world_size} failed: {s.get('error') or 'no message'}", reported=True)
        if all(s is not None and s.get("status") == "done" for s in current):
            return [load_file(str(part_paths(results, r)[1])) for r in others]
        beats = [None if s is None else (s.get("status"), s.get("beat")) for s in current]
        if beats != last:
            last, last_change = beats, time.monotonic()
        if time.monotonic() - last_change > timeout:
            silent = [str(r) for r, s in zip(others, current) if s is None or s.get("status") != "done"]
            raise RankFailed(f"timed out after {timeout:g} s waiting for rank(s) {', '.join(silent)} of {shard.world_size}")
        time.sleep(poll)


def merge_parts(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The ranks' arrays as one, in list order (by ``fake_index`` / ``real_index``)."""
    out = {}
    for side, fields in (("fake", ("ssim", "psnr", "lpips", "fake_features")), ("real", ("real_features",))):
        index = np.concatenate([q[f"{side}_index"] for q in parts])
        order = np.argsort(index, kind="stable")
        out[f"{side}_index"] = index[order]
        for f in fields:
            chunks = [q[f] for q in parts if q[f].size]
            out[f] = np.concatenate(chunks)[order] if chunks else parts[0][f]
    return out


# ----------------------------------------------------------------------------- the numbers


def unavailable(why: str) -> dict:
    return {"available": False, "why": why}


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def finish(p: Plan, arrays: dict[str, np.ndarray], models: Models) -> dict:
    """The JSON-ready scores from the merged arrays (every result present once)."""
    from vton import metrics

    o = p.options
    n = len(p.jobs)
    if sorted(arrays["fake_index"].tolist()) != list(range(n)):
        raise RuntimeError(f"the parts cover {len(arrays['fake_index'])} results, expected each of {n} once")
    h, w = p.size
    scores: dict = {}
    if not p.paired:
        scores["ssim"] = scores["psnr"] = scores["lpips"] = unavailable(NO_TRUTH)
    else:
        scores["ssim"] = {"value": _mean(arrays["ssim"]), "how": SSIM_HOW}
        finite = arrays["psnr"][np.isfinite(arrays["psnr"])]
        infinite = int(len(arrays["psnr"]) - len(finite))
        scores["psnr"] = {"value": None if infinite else _mean(finite), "infinite": infinite,
                          "finite_mean": _mean(finite), "how": PSNR_HOW + " (value is null when any is inf)"}
        if models.lpips is None:
            scores["lpips"] = unavailable("no LPIPS weights: pass --lpips alex.pth (or vgg.pth, from the lpips "
                                          "package) and --lpips-backbone with the torchvision AlexNet / VGG16 file")
        else:
            scores["lpips"] = {"value": _mean(arrays["lpips"]), "net": models.lpips.net_name, "version": "0.1",
                               "weights": [str(Path(x).name) for x in o.lpips]}
    if models.inception is None:
        why = "no Inception weights: pass --inception pt_inception-2015-12-05-6726825d.pth (pytorch-fid's file)"
        scores["fid"] = scores["kid"] = unavailable(why)
    else:
        fake, real = arrays["fake_features"].astype(np.float64), arrays["real_features"].astype(np.float64)
        if len(fake) < 2 or len(real) < 2:
            scores["fid"] = scores["kid"] = unavailable(f"FID and KID need at least 2 images per set, got {len(fake)} "
                                                        f"results and {len(real)} real photos")
        else:
            common = {"n_results": len(fake), "n_real": len(real), "dims": int(fake.shape[1]),
                      "real": f"the person photos of {o.split} (each person of the pairs list once), at {h}x{w}",
                      "weights": str(Path(o.inception).name)}
            scores["fid"] = {"value": metrics.fid(fake, real), **common}
            scores["kid"] = {**metrics.kernel_inception_distance(fake, real, n_subsets=o.kid_subsets,
                                                                 subset_size=o.kid_subset_size, seed=o.kid_seed),
                             "kernel": f"(x.y / {fake.shape[1]} + 1)^3", "estimator": "unbiased MMD^2", **common}
    out = {
        "results": str(p.results.folder), "data": str(p.data), "split": o.split, "pairs": o.pairs, "n": n,
        "size": [h, w], "results_size": list(p.results_size),
        "compared_at": f"{h}x{w}: " + ("the results' own size" if tuple(p.size) == tuple(p.results_size)
                                       else f"results resized from {p.results_size[0]}x{p.results_size[1]}")
                       + "; dataset photos resized to it (area averaging to shrink, bilinear to enlarge)",
        **scores,
    }
    if p.results.run is not None:
        out["generate"] = {"key": p.results.run.get("key"), "sampling": p.results.run.get("sampling"),
                           "weights": (p.results.run.get("weights") or {}).get("fingerprints")}
    if o.per_pair and p.paired:
        lp = arrays["lpips"]
        out["per_pair"] = [{"name": p.jobs[i].name, "ssim": float(arrays["ssim"][k]),
                            "psnr": None if math.isinf(arrays["psnr"][k]) else float(arrays["psnr"][k]),
                            **({"lpips": float(lp[k])} if len(lp) else {})}
                           for k, i in enumerate(arrays["fake_index"].tolist())]
    return out


def score(p: Plan, models: Models, *, shard: Shard = Shard(), progress: Progress | None = None,
          wait_timeout: float = 600.0) -> dict | None:
    """Score ``p`` on this process: its share, then (rank 0) everyone's merged; other ranks return None.

    One process writes nothing; several write their parts under ``OUT/.score/``.
    """
    if shard.world_size == 1:
        return finish(p, score_share(p, models, shard, progress), models)
    key = score_key(p, shard.world_size)
    write_status(p.results, key, shard, "running")
    last = time.monotonic()

    def beat(done: int, total: int, message: str = "") -> None:  # rank 0 times out only on ranks that fall silent
        nonlocal last
        if progress is not None:
            progress(done, total, message)
        if time.monotonic() - last >= HEARTBEAT_SECONDS:
            last = time.monotonic()
            write_status(p.results, key, shard, "running")

    try:
        arrays = score_share(p, models, shard, beat)
    except BaseException as e:
        write_status(p.results, key, shard, "failed", error=str(e) if isinstance(e, InputError) else f"{type(e).__name__}: {e}")
        raise
    if not shard.is_main:
        write_part(p.results, key, shard, arrays)
        return None
    parts = [arrays] + wait_for_parts(p.results, key, shard, timeout=wait_timeout)
    return finish(p, merge_parts(parts), models)
