"""Benchmark of the warp stage; prints one JSON object.

    python bench/warp.py [--weights FOLDER] [--sizes 256x192,512x384] [--batches 1,4,8] [--device cpu|cuda]
                         [--threads N] [--repeat 3]

For every resolution and batch size: the median FlowWarpNet forward time (no grad)
and per-sample time; one training step (forward + backward) at the first size and
batch; the TPS baseline per pair; the parameter count; peak memory (on CUDA,
``torch.cuda.max_memory_allocated`` per case; on the CPU the process's peak resident
set, which only grows, so read it as "peak so far").
Random weights unless ``--weights`` (speed does not depend on them). Runs on the
CPU, and on CUDA too when it is present and ``--device`` is not given.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from vton.types import parse_size  # noqa: E402
from vton.warp.network import FlowWarpNet  # noqa: E402
from vton.warp.tps import tps_flow  # noqa: E402


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def median_seconds(fn, device: str, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def inputs(batch: int, size, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    cloth = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    mask = (torch.rand(batch, 1, h, w, generator=g) > 0.5).float()
    dp = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    labels = torch.randint(0, 13, (batch, h, w), generator=g)
    parse = torch.nn.functional.one_hot(labels, 13).permute(0, 3, 1, 2).float()
    return [t.to(device) for t in (cloth, mask, dp, parse)]


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return rss / 1024


def bench_device(net: FlowWarpNet, device: str, sizes, batches, repeat: int) -> dict:
    net = net.to(device).eval()
    cases = []
    for size in sizes:
        for batch in batches:
            x = inputs(batch, size, device)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            try:
                with torch.no_grad():
                    seconds = median_seconds(lambda: net(*x), device, repeat)
            except RuntimeError as e:  # out of memory on a small machine: say so, keep going
                cases.append({"size": list(size), "batch": batch, "error": str(e).splitlines()[0]})
                continue
            cases.append({
                "size": list(size), "batch": batch, "forward_s": round(seconds, 4),
                "per_sample_s": round(seconds / batch, 4), "peak_memory_mb": round(peak_memory_mb(device), 1),
            })
    # one training step at the first size and batch
    size, batch = sizes[0], batches[min(1, len(batches) - 1)]
    net.train()
    x = inputs(batch, size, device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step():
        out = net(*x)
        loss = out.warped_cloth.mean() + out.seg_logits.mean() + sum(f.abs().mean() for f in out.flows)
        opt.zero_grad()
        loss.backward()
        opt.step()

    train_s = median_seconds(step, device, repeat)
    net.eval()
    return {"forward": cases, "train_step": {"size": list(size), "batch": batch, "seconds": round(train_s, 4)}}


def bench_tps(size, repeat: int) -> dict:
    from vton.data.synth.render import generate_pair

    pair = generate_pair(0, size)
    seconds = median_seconds(lambda: tps_flow(pair.cloth.mask, pair.person.keypoints, size), "cpu", repeat)
    return {"size": list(size), "per_pair_s": round(seconds, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a FlowWarpNet folder (default: random weights, default config)")
    parser.add_argument("--sizes", default="256x192,512x384", help="comma-separated H x W")
    parser.add_argument("--batches", default="1,4,8", help="comma-separated batch sizes")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    net = FlowWarpNet.from_pretrained(args.weights) if args.weights else FlowWarpNet()
    devices = [args.device] if args.device else (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])

    out: dict = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "weights": args.weights or "random (default config)",
        "config": {k: v for k, v in net.config.items() if not k.startswith("_")},
        "parameters": sum(p.numel() for p in net.parameters()),
        "devices": {},
    }
    if "cuda" in devices:
        out["gpu"] = torch.cuda.get_device_name()
    for device in devices:
        out["devices"][device] = bench_device(net, device, sizes, batches, args.repeat)
    out["tps"] = bench_tps(sizes[0], args.repeat)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
