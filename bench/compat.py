"""Speed of the seed's models at their real size; prints one JSON object.

    python bench/compat.py [--steps 3] [--threads 2] [--device cpu] [--skip-bf16]

Random weights (the architecture is what costs, not the values):

- ``seed_unet``: the seed's UNet (`vton.compat.SeedUNet`, ``UNet(9, 4)``, hidden 64, time 256:
  737.7 M parameters) on 64x64 latents (a 512x512 canvas): seconds per step at batch 1 and as a
  batched seed grid of 4 (and their ratio), fp32 and bf16, with the peak memory of each (each
  configuration runs in its own process, so ``peak_rss_mb`` is that configuration's alone on a CPU;
  peak allocated on CUDA);
  on a CPU its deep levels run as one GEMM over the batch (`vton.nn.gemmconv`), which is what makes the grid
  cheap: 1.5x one seed in fp32 on 2 cores (4.1x with PyTorch's convolution there);
- ``sd_vae``: Stable Diffusion 1.5's VAE architecture (AutoencoderKL, block_out_channels
  128/256/512/512, 2 layers per block, 4 latent channels, 32 groups, scaling 0.18215): encode and
  decode of one 512x512 image;
- ``loops``: on the same weights, in one run, our try-on loop (`TryOnPipeline.sample`: UNet steps,
  one decode at the end) against the seed's own (`VitonPipeline.__call__`: a UNet step *and* a VAE
  decode of the predicted x0 at every step), each timed over ``--steps`` steps and extrapolated to
  200: ``ours_200 = prepare + 200 x step + decode``, ``seed_200 = encode + 200 x (step + decode)``.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED_UNET = dict(in_channels=9, out_channels=4, hidden_channels=64, time_emb_dim=256)
SD15_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2, norm_num_groups=32,
    block_out_channels=(128, 256, 512, 512), scaling_factor=0.18215,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
)
CANVAS = 512


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed_unet(device: str, dtype: torch.dtype):
    from vton.compat import SeedUNet

    torch.manual_seed(0)
    return SeedUNet(**SEED_UNET).to(device=device, dtype=dtype).eval().requires_grad_(False)


def sd_vae(device: str, dtype: torch.dtype = torch.float32):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(**SD15_VAE).to(device=device, dtype=dtype).eval().requires_grad_(False)


# ----------------------------------------------------------------------------- one configuration per process


def part_unet(device: str, dtype_name: str, batch: int, repeat: int) -> dict:
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    unet = seed_unet(device, dtype)
    x = torch.randn(batch, 9, CANVAS // 8, CANVAS // 8, device=device, dtype=dtype)
    t = torch.full((batch,), 500, device=device, dtype=torch.long)
    with torch.inference_mode():
        seconds = timed(lambda: unet(x, t), device, repeat)
    return {"dtype": dtype_name, "batch": batch, "seconds_per_step": seconds,
            "parameters_m": sum(p.numel() for p in unet.parameters()) / 1e6, "peak_rss_mb": peak_mb(device)}


def part_vae(device: str, repeat: int) -> dict:
    from vton.diffusion.vae import decode, encode

    vae = sd_vae(device)
    image = torch.rand(1, 3, CANVAS, CANVAS, device=device) * 2 - 1
    with torch.inference_mode():
        z = encode(vae, image)
        enc = timed(lambda: encode(vae, image), device, repeat)
        dec = timed(lambda: decode(vae, z), device, repeat)
    return {"encode_seconds": enc, "decode_seconds": dec, "latent": list(z.shape),
            "parameters_m": sum(p.numel() for p in vae.parameters()) / 1e6, "peak_rss_mb": peak_mb(device)}


def part_loops(device: str, steps: int) -> dict:
    """Ours and the seed's loop on the same UNet and VAE, ``steps`` steps each."""
    from vton.compat import SeedDenoiser, SeedScheduler
    from vton.diffusion.pipeline import Conditioning, TryOnPipeline
    from vton.diffusion.vae import decode, encode

    unet = seed_unet(device, torch.float32)
    denoiser = SeedDenoiser.from_port(unet).to(device).eval().requires_grad_(False)
    vae = sd_vae(device)
    scheduler = SeedScheduler()
    scheduler.set_timesteps(200, device=device)
    timesteps = scheduler.timesteps[:steps]
    composite = torch.rand(1, 3, CANVAS, CANVAS, device=device) * 2 - 1
    mask = torch.ones(1, 1, CANVAS // 8, CANVAS // 8, device=device)
    g = torch.Generator(device).manual_seed(0)

    with torch.inference_mode():
        # the seed: encode once, then per step one UNet call and one decode of x0
        t0 = time.perf_counter()
        z = encode(vae, composite)
        sync(device)
        seed_encode = time.perf_counter() - t0
        x = scheduler.add_noise(z, torch.randn(z.shape, generator=g, device=device), timesteps[:1])
        t0 = time.perf_counter()
        for t in timesteps:
            eps = denoiser(torch.cat([x, z, mask], 1), t.expand(1))
            out = scheduler.step(eps, t, x)
            x = out.prev_sample
            decode(vae, out.pred_original_sample).clamp(-1, 1)
        sync(device)
        seed_step = (time.perf_counter() - t0) / steps

        # ours: TryOnPipeline.sample itself on the same composite latent (UNet steps, then one decode)
        pipe = TryOnPipeline(warper=torch.nn.Identity(), vae=vae, unet=denoiser, scheduler=scheduler)
        work = (512, 384)  # any working size: the 512x512 canvas decides the cost
        cond = Conditioning(
            size=work, warp=None, person=torch.zeros(1, 3, *work, device=device), composite=composite,
            mask=torch.ones(1, 1, *work, device=device), cond_latents=z, mask_latents=mask,
        )
        t0 = time.perf_counter()
        result = pipe.sample(cond, num_inference_steps=200, strength=steps / 200, seeds=[0])
        sync(device)
        ours_total = time.perf_counter() - t0
        ours_decode = result.timings["decode"]
        ours_step = result.timings["sampling"] / steps

    ours_200 = seed_encode + 200 * ours_step + ours_decode
    seed_200 = seed_encode + 200 * seed_step
    return {
        "steps_timed": steps, "encode_seconds": seed_encode,
        "ours": {"seconds_per_step": ours_step, "decode_seconds": ours_decode, "extrapolated_200_steps": ours_200,
                 "measured_call_seconds": ours_total},
        "seed": {"seconds_per_step": seed_step, "extrapolated_200_steps": seed_200},
        "speedup_200_steps": seed_200 / ours_200,
    }


# ----------------------------------------------------------------------------- driver


def run_part(args: argparse.Namespace, *part: str) -> dict:
    cmd = [sys.executable, __file__, "--part", *part, "--device", args.device, "--threads", str(args.threads),
           "--steps", str(args.steps), "--repeat", str(args.repeat)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="steps timed in each loop (default 3)")
    p.add_argument("--repeat", type=int, default=3, help="repeats of each UNet / VAE timing (median)")
    p.add_argument("--skip-bf16", action="store_true")
    p.add_argument("--part", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    if args.part:  # one configuration, in this process
        kind = args.part[0]
        if kind == "unet":
            result = part_unet(args.device, args.part[1], int(args.part[2]), args.repeat)
        elif kind == "vae":
            result = part_vae(args.device, args.repeat)
        else:
            result = part_loops(args.device, args.steps)
        print(json.dumps(result))
        return

    half = "bf16" if args.device == "cpu" else "fp16"
    dtypes = ["fp32"] + ([] if args.skip_bf16 else [half] + (["bf16"] if half != "bf16" else []))
    unet = {}
    for dt in dtypes:
        one, four = run_part(args, "unet", dt, "1"), run_part(args, "unet", dt, "4")
        entry = {"batch_1": one, "batch_4": four}
        if "seconds_per_step" in one and "seconds_per_step" in four:
            entry["grid_of_4_over_one_seed"] = four["seconds_per_step"] / one["seconds_per_step"]
        unet[dt] = entry
    report = {
        "machine": {"device": args.device, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
                    "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None},
        "canvas": [CANVAS, CANVAS],
        "seed_unet": unet,
        "sd_vae": run_part(args, "vae"),
        "loops": run_part(args, "loops"),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
