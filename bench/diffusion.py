"""Benchmark of the diffusion stage; prints one JSON object.

    python bench/diffusion.py [--weights assets/weights] [--size 256x192] [--threads 2] [--device cpu]

Measures, on the pipeline's default configs (random weights unless ``--weights``; the
timings do not depend on the weight values):

- ``unet_step``: one UNet forward at batch 1 (median seconds), its FLOPs (PyTorch's
  FlopCounterMode) and achieved FLOP/s, beside a plain fp32 matmul's FLOP/s measured in
  the same run (the machine's practical ceiling);
- ``pipeline_50_steps`` / ``pipeline_200_steps``: a whole call (warp, encode, sampling,
  one decode), with its timings split;
- ``trajectory_overhead``: sampling 50 steps with and without recording;
- ``seeds``: 4 seeds as one batch against the same 4 one by one;
- ``vae``: encode and decode of one image;
- ``peak_memory_mb``: peak resident memory of the process (CPU) or peak allocated (CUDA).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vton.types import Cloth, Person, parse_size  # noqa: E402


def median_seconds(fn, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_flops(device: str, n: int = 1024, repeat: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

    def run():
        a @ b
        sync(device)

    return 2 * n**3 / median_seconds(run, repeat, warmup=2)


def fake_inputs(size) -> tuple[Person, Cloth]:
    rng = np.random.default_rng(0)
    h, w = size
    mask = np.zeros((h, w), np.uint8)
    mask[h // 5: 3 * h // 5, w // 4: 3 * w // 4] = 1
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    parse = rng.integers(0, 20, (h, w)).astype(np.uint8)
    iuv = np.stack([rng.integers(0, 25, (h, w)), rng.integers(0, 256, (h, w)), rng.integers(0, 256, (h, w))], -1).astype(np.uint8)
    person = Person(image=image, keypoints=np.zeros((25, 3), np.float32), person_mask=np.ones((h, w), np.uint8),
                    parse=parse, densepose=iuv, agnostic=image, agnostic_mask=mask, parse_agnostic=parse)
    return person, Cloth(image=image.copy(), mask=mask.copy())


def build_pipeline(weights: str | None, device: str):
    from diffusers import AutoencoderKL

    from vton.diffusion.pipeline import TryOnPipeline, default_scheduler, load_pipeline
    from vton.diffusion.unet import TryOnUNet
    from vton.diffusion.vae import small_vae_config
    from vton.warp.network import FlowWarpNet

    if weights:
        return load_pipeline(weights, device=device)
    torch.manual_seed(0)
    pipe = TryOnPipeline(warper=FlowWarpNet().eval(), vae=AutoencoderKL(**small_vae_config()).eval(),
                         unet=TryOnUNet().eval(), scheduler=default_scheduler())
    return pipe.to(device)


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if platform.system() == "Linux" else rss / 2**20


def report(partial: dict) -> None:
    """Progress on stderr (a long run under load still shows what it measured)."""
    print(json.dumps({k: v for k, v in partial.items() if k != "unet_config"}, default=float), file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a TryOnPipeline folder (default: random weights, default configs)")
    parser.add_argument("--size", type=parse_size, default=(256, 192))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeat", type=int, default=1, help="timed repetitions of the pipeline runs (median)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    from torch.utils.flop_counter import FlopCounterMode

    from vton.diffusion.vae import decode, encode

    pipe = build_pipeline(args.weights, device)
    person, cloth = fake_inputs(args.size)
    out: dict = {"device": device, "threads": torch.get_num_threads(), "size": list(args.size), "torch": torch.__version__,
                 "unet_config": {k: v for k, v in pipe.unet.config.items() if not k.startswith("_")},
                 "unet_params_m": round(sum(p.numel() for p in pipe.unet.parameters()) / 1e6, 3)}

    with torch.no_grad():
        # 1. UNet step vs matmul
        h, w = args.size[0] // 8, args.size[1] // 8
        x = torch.randn(1, 9, h, w, device=device)
        t = torch.tensor([500], device=device)
        cloth_lat = torch.randn(1, 4, h, w, device=device) if pipe.unet.config.cross_attention else None
        counter = FlopCounterMode(display=False)
        with counter:
            pipe.unet(x, t, cloth_lat)
        flops = counter.get_total_flops()

        def unet_step():
            pipe.unet(x, t, cloth_lat)
            sync(device)

        step = median_seconds(unet_step, repeat=10, warmup=2)
        mm = matmul_flops(device)
        out["unet_step"] = {"seconds": step, "gflop": flops / 1e9, "achieved_gflops": flops / step / 1e9,
                            "matmul_gflops": mm / 1e9, "fraction_of_matmul": flops / step / mm}
        report(out)

        # 2. whole pipeline
        for steps in (50, 200):
            timings = []

            def run():
                timings.append(pipe(person, cloth, size=args.size, num_inference_steps=steps, seeds=[0]).timings)

            total = median_seconds(run, repeat=args.repeat, warmup=1 if steps == 50 else 0)
            out[f"pipeline_{steps}_steps"] = {"seconds": total, "timings": timings[-1]}
            report(out)

        # 3. trajectory overhead, 4. seeds batched vs sequential
        cond = pipe.prepare(person, cloth, args.size)
        plain = median_seconds(lambda: pipe.sample(cond, num_inference_steps=50), args.repeat)
        recorded = median_seconds(lambda: pipe.sample(cond, num_inference_steps=50, record_trajectory=True), args.repeat)
        out["trajectory_overhead"] = {"without": plain, "with": recorded, "relative": recorded / plain - 1}
        report(out)
        seeds = [0, 1, 2, 3]
        batched = median_seconds(lambda: pipe.sample(cond, num_inference_steps=50, seeds=seeds), 1)
        sequential = median_seconds(lambda: [pipe.sample(cond, num_inference_steps=50, seeds=[s]) for s in seeds], 1, warmup=0)
        out["seeds"] = {"n": len(seeds), "batched": batched, "sequential": sequential, "speedup": sequential / batched}

        # 5. VAE
        image = torch.rand(1, 3, *args.size, device=device) * 2 - 1
        z = encode(pipe.vae, image)
        out["vae"] = {
            "encode": median_seconds(lambda: (encode(pipe.vae, image), sync(device)), args.repeat),
            "decode": median_seconds(lambda: (decode(pipe.vae, z), sync(device)), args.repeat),
        }
    out["peak_memory_mb"] = peak_memory_mb(device)
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
