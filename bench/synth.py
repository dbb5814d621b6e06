"""Benchmark of the synthetic generator on one CPU core; prints one JSON object.

    python bench/synth.py [--sizes 256x192,512x384] [--n 40]

For every size: samples per second of ``generate_pair`` (drawing, ground truth,
agnostic and DensePose-style maps, JPEG round trip) and of ``write_dataset``
(the same plus writing every file of the layout atomically, fsync included),
both as CPU time (``process_time``: all threads' CPU seconds, so the rate one
core sustains) and as wall time (which depends on how busy the machine and its
disk are).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vton.data.synth import generate_pair, item_seed, write_dataset  # noqa: E402
from vton.types import parse_size  # noqa: E402


def rate(n: int, fn) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"per_s_cpu": round(n / cpu, 2), "per_s_wall": round(n / wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="256x192,512x384")
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    out = {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(), "n": args.n,
           "sizes": {}}
    for text in args.sizes.split(","):
        size = parse_size(text)
        generate_pair(0, size)  # warm-up (imports, caches)
        result = {"generate_pair": rate(args.n, lambda: [generate_pair(item_seed(0, i), size) for i in range(args.n)])}
        with tempfile.TemporaryDirectory() as d:
            result["write_dataset"] = rate(args.n, lambda: write_dataset(d, args.n, 0, size))
        out["sizes"][text] = result
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
