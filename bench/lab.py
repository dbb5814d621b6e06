"""How responsive the lab is, server side: prints JSON.

For each page: the time of a cold first run (every Streamlit cache cleared, models
loaded from disk), then of re-runs after changing only the DDIM steps slider, only
the seed, and (diffusion page) only the trajectory scrubber. Each page runs under
`streamlit.testing.v1.AppTest` with the shared sidebar, as in ``streamlit_app.py``.

    python bench/lab.py                       # embedded weights, bundled sample, defaults
    python bench/lab.py --size "128 x 96" --steps 10
    python bench/lab.py --pipeline /path/to/pipeline   # another weights folder

Without embedded weights (``assets/weights``) and no ``--pipeline``, a tiny random-weight
pipeline is written to a temporary folder and the JSON says so: its times show the lab's
own overhead and the sampling loop's, not the quality or cost of trained models.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/1_preprocessing.py", "pages/2_warping.py", "pages/3_diffusion.py", "pages/4_compare.py"]


def harness(page: str):
    from streamlit.testing.v1 import AppTest

    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import runpy
from lab.settings import sidebar
sidebar()
runpy.run_path({str(ROOT / page)!r})
"""
    return AppTest.from_string(script, default_timeout=1800)


def timed(at) -> dict:
    t0 = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t0
    problems = [e.value for e in at.exception] + [e.value for e in at.error]
    return {"seconds": round(seconds, 3), **({"problems": problems} if problems else {})}


def bench_page(page: str, pipeline: str | None, size: str, steps: int) -> dict:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    at = harness(page)
    at.session_state["size"] = size
    at.session_state["steps"] = steps
    if pipeline:
        at.session_state["pipeline_folder"] = pipeline
    out = {"cold_first_run": timed(at), "rerun_unchanged": timed(at)}
    at.sidebar.slider(key="steps").set_value(steps + 1)
    out["rerun_after_steps"] = timed(at)
    at.sidebar.number_input(key="seed").set_value(1)
    out["rerun_after_seed"] = timed(at)
    if page.endswith("3_diffusion.py") and "problems" not in out["cold_first_run"]:
        at.slider(key="traj_step").set_value(1)
        out["rerun_after_scrubber"] = timed(at)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", help="a TryOnPipeline folder (default: assets/weights, else a tiny random one)")
    ap.add_argument("--size", default="256 x 192", help="working size as the sidebar shows it, e.g. '128 x 96'")
    ap.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the model card's, else 50)")
    ap.add_argument("--page", action="append", help="only these page files (default: all)")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from vton.diffusion.defaults import sampling_defaults
    from lab.settings import SIZES, ModelChoice, default_pipeline_folder

    if a.size not in SIZES:
        ap.error(f"--size must be one of {list(SIZES)}")
    pipeline, weights = a.pipeline, "given"
    if pipeline is None:
        pipeline, weights = default_pipeline_folder(), "embedded (assets/weights)"
    tmp = None
    if pipeline is None:
        from lab.fixtures import write_tiny_pipeline

        tmp = tempfile.TemporaryDirectory()
        pipeline, weights = str(write_tiny_pipeline(Path(tmp.name) / "pipe")), "tiny random pipeline (no embedded weights)"
    steps = a.steps or sampling_defaults(pipeline).steps
    import torch

    report = {
        "what": "server-side seconds per script run of each lab page under AppTest",
        "weights": weights, "pipeline": pipeline, "size": a.size, "steps": steps, "input": "bundled sample (default)",
        "torch_threads": torch.get_num_threads(), "machine": platform.machine(), "python": platform.python_version(),
        "pages": {},
    }
    for page in a.page or PAGES:
        report["pages"][Path(page).stem] = bench_page(page, pipeline, a.size, steps)
    print(json.dumps(report, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
