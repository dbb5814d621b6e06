"""Compare: two runs side by side (steps, seed, models or input), their difference, SSIM / PSNR vs ground truth;
or a results folder written by ``python -m vton generate``: any pair's result beside its inputs and ground truth."""
from dataclasses import replace

import streamlit as st

from lab import results as lr
from lab import stages, ui
from lab.session import get_pipeline, get_prepared, run_sampling
from lab.settings import INPUT_FOLDER, INPUT_SAMPLE, MAX_SEED, PHOTO_SAMPLE, current, synthetic_names
from vton import viz

TWO_RUNS, RESULTS = "Two runs", "A results folder"


def results_folder(s) -> None:
    """A folder written by `generate`: pick a pair, see its result, inputs, ground truth, SSIM / PSNR and run.json."""
    st.caption("Open a folder written by `python -m vton generate` (or any folder of `<person>_<cloth>.png` results). "
               "The dataset is this page's field, else the sidebar's dataset folder, else the one its params.json names.")
    c = st.columns([3, 2])
    folder = c[0].text_input("Results folder", key="results_folder", placeholder="results/paired")
    data = c[1].text_input("Dataset folder (optional)", key="results_data", placeholder="/data/viton-hd")
    sidebar_data = s.inputs.folder if s.inputs.kind == INPUT_FOLDER else None
    if not folder.strip():
        st.info("Type the path of a results folder (what `python -m vton generate --out` wrote).",
                icon=":material/folder_open:")
        return
    view = None
    with ui.guard("Results folder"):
        view = lr.open_results(folder.strip(), data.strip(), sidebar_data)
    if view is None:
        return
    st.caption(f"{lr.run_summary(view)} · dataset {view.data} (from {view.data_from})")
    if not view.names:
        st.info(f"No finished results in {view.folder} yet ({view.total} pairs listed).", icon=":material/hourglass_empty:")
        return
    labels = [f"{n}  ({p} + {c})" for n, p, c in zip(view.names, view.persons, view.cloths)]
    k = st.selectbox("Pair", range(len(labels)), format_func=labels.__getitem__, key="results_pair")
    pair = None
    with ui.guard("Pair"):
        pair = lr.pair_view(view, int(k))
    if pair is None:
        return
    cols = st.columns(4)
    name = view.names[int(k)].removesuffix(".png")
    ui.image(pair["result"], f"Result {view.names[int(k)]}", container=cols[0], key=f"res_{name}")
    ui.image(pair["person"], f"Person {view.persons[int(k)]}", container=cols[1], key=f"res_person_{name}")
    ui.image(pair["cloth"], f"Cloth {view.cloths[int(k)]}", container=cols[2], key=f"res_cloth_{name}")
    if pair["truth"] is not None:
        ui.image(pair["truth"], "Ground truth (the person photo)", container=cols[3], key=f"res_truth_{name}")
        m = st.columns(4)
        m[0].metric("SSIM vs ground truth", f"{pair['ssim']:.3f}")
        m[1].metric("PSNR vs ground truth", lr.psnr_text(pair["psnr"]))
        h, w = pair["result"].shape[:2]
        m[2].caption(f"At the result's size, {h}x{w}; `python -m vton score` averages these over the folder.")
        ui.image(viz.difference_image(pair["result"], pair["truth"], 4.0), "|result - ground truth| x 4",
                 container=m[3], key=f"res_diff_{name}")
    else:
        cols[3].caption("Unpaired: the person wears another cloth, so there is no ground truth (and no SSIM / PSNR).")
    with st.expander("Run parameters (run.json)" if view.run else "Settings (params.json; the run has not finished)"):
        if view.run or view.params:
            st.json(view.run or view.params, expanded=1)
        else:
            st.caption("This folder has neither run.json nor params.json.")


def two_runs(s) -> None:
    st.caption("Run A uses the sidebar's settings; run B starts from them and changes what you set below. "
               "Both are cached, so switching back and forth is instant.")

    with st.expander("Run B settings", expanded=True):
        c = st.columns(4)
        b_steps = c[0].slider("DDIM steps (B)", 1, 200, s.sampling.steps, key="cmp_steps")
        b_seed = c[1].number_input("Seed (B)", 0, MAX_SEED, min(s.sampling.seed + 1, MAX_SEED), key="cmp_seed")
        b_eta = c[2].slider("eta (B)", 0.0, 1.0, s.sampling.eta, 0.05, key="cmp_eta")
        b_pipeline = c[3].text_input("Pipeline folder (B)", value=s.models.pipeline or "", key="cmp_pipeline",
                                     help="Another weights folder to compare models; empty: same as A.")
        try:
            options = [f"synthetic: {n}" for n in synthetic_names()] + [PHOTO_SAMPLE]
        except Exception:
            options = [PHOTO_SAMPLE]
        b_sample = st.selectbox("Input (B)", ["same as A"] + options, key="cmp_input")

    s_b = replace(
        s,
        sampling=replace(s.sampling, steps=int(b_steps), seed=int(b_seed), eta=float(b_eta)),
        models=replace(s.models, pipeline=b_pipeline.strip() or s.models.pipeline),
        inputs=s.inputs if b_sample == "same as A" else replace(s.inputs, kind=INPUT_SAMPLE, sample=b_sample),
    )

    results = {}
    cols = st.columns(2)
    for col, name, settings in zip(cols, "AB", (s, s_b)):
        with col:
            sp = settings.sampling
            st.subheader(f"Run {name}")
            st.caption(f"{sp.steps} steps · eta {sp.eta:g} · strength {sp.strength:g} · seed {sp.seed}")
            prep = get_prepared(settings)
            loaded = get_pipeline(settings) if prep is not None else None
            if loaded is None:
                continue
            pipe, model_id = loaded
            run = run_sampling(settings, prep, pipe, model_id, stages.RunParams(sp.steps, sp.eta, sp.strength, (sp.seed,)))
            if run is None:
                continue
            results[name] = (run, prep)
            ui.image(run.images[0], f"Run {name} ({run.result.timings.get('sampling', run.seconds):.2f} s sampling)",
                     key=f"cmp_{name}", width=360)
            truth = prep.inp.truth_image
            if truth is not None:
                m = viz.image_metrics(run.images[0], truth)
                mc = st.columns(2)
                mc[0].metric("SSIM vs ground truth", f"{m['ssim']:.3f}")
                mc[1].metric("PSNR vs ground truth", f"{m['psnr']:.2f} dB")
            else:
                st.caption("No ground truth for this input (SSIM / PSNR need a paired sample).")

    if len(results) == 2:
        (ra, pa), (rb, pb) = results["A"], results["B"]
        st.subheader("Difference |A - B|")
        a, b = ra.images[0], rb.images[0]
        if a.shape != b.shape:
            st.error(f"The runs have different sizes ({a.shape[:2]} vs {b.shape[:2]}); no difference image.")
        else:
            gain = st.slider("Gain", 1.0, 16.0, 4.0, 1.0, key="cmp_gain")
            cols = st.columns(3)
            ui.image(viz.difference_image(a, b, gain), f"|A - B| x {gain:g}", container=cols[0], key="cmp_diff",
                     width=300)
            m = viz.image_metrics(b, a)
            cols[1].metric("SSIM(A, B)", f"{m['ssim']:.3f}")
            cols[1].metric("PSNR(A, B)", f"{m['psnr']:.2f} dB")
            for col, (name, (run, prep)) in zip([cols[2]], [("A", results["A"])]):
                if prep.inp.truth_image is not None:
                    ui.image(viz.difference_image(run.images[0], prep.inp.truth_image, gain),
                             f"|A - ground truth| x {gain:g}", container=col, key="cmp_diff_gt", width=300)


s = current()
st.title("Compare")
if st.radio("Compare", [TWO_RUNS, RESULTS], horizontal=True, key="cmp_mode", label_visibility="collapsed") == RESULTS:
    results_folder(s)
else:
    two_runs(s)
