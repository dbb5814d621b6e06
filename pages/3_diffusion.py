"""Diffusion: DDIM sampling with a trajectory scrubber, per-step charts, a seed grid, a steps sweep and export."""
import streamlit as st

from lab import exporting, models, stages, ui
from lab.session import get_pipeline, get_prepared, run_sampling
from lab.settings import current
from vton import viz

s = current()
st.title("Diffusion")
st.caption("Latent DDIM from the noised composite (agnostic + warped cloth). Steps, eta, strength and seed are in the "
           "sidebar; changing them re-runs only the sampling, never preprocessing or warping.")
st.caption(models.describe_weights(s.models))

sp = s.sampling
params = stages.RunParams(sp.steps, sp.eta, sp.strength, (sp.seed,))

c1, c2, _ = st.columns([1, 2, 3], vertical_alignment="center")
pressed = c1.button("Run", type="primary", icon=":material/play_arrow:", key="diff_run")
auto = c2.toggle("Run when settings change", value=True, key="diff_auto",
                 help="Off: sampling waits for the Run button (useful for many steps on a CPU).")
if pressed:
    st.session_state["diff_requested"] = params

prep = get_prepared(s)
loaded = get_pipeline(s) if prep is not None else None
run = None
if prep is not None and loaded is not None:
    pipe, model_id = loaded
    st.caption(models.describe_models(pipe))
    estimate = 0.0
    with ui.guard("Timing"):
        estimate = models.estimated_seconds(pipe, model_id, s.size, sp.steps, sp.strength)
    slow = estimate > models.AUTO_RUN_LIMIT_S
    if pressed or st.session_state.get("diff_requested") == params or (auto and not slow):
        run = run_sampling(s, prep, pipe, model_id, params)
    elif auto and slow:
        st.info(f"With these models this run takes about {estimate:.0f} s on {s.models.device}, so it waits for "
                "**Run** instead of starting on every change.", icon=":material/timer:")
    else:
        st.info("Press **Run** to sample with these settings.", icon=":material/play_arrow:")

if run is not None:
    result, truth = run.result, prep.inp.truth_image
    st.subheader(f"Result · {sp.steps} steps, eta {sp.eta:g}, strength {sp.strength:g}, seed {sp.seed}")
    cols = st.columns(4)
    ui.image(run.composite, "Composite (agnostic + warped cloth): the starting point", container=cols[0],
             key="composite")
    # the final result in the photo's geometry (a photo of another aspect was padded to the working size)
    ui.image(prep.inp.to_photo(run.images[0]), f"Try-on, seed {sp.seed}", container=cols[1], key=f"result_seed{sp.seed}")
    if truth is not None:
        ui.image(truth, "Ground truth", source="dataset", container=cols[2], key="truth")
        m = viz.image_metrics(run.images[0], truth)
        cols[3].metric("SSIM vs ground truth", f"{m['ssim']:.3f}")
        cols[3].metric("PSNR vs ground truth", f"{m['psnr']:.2f} dB")
    t = result.timings
    cols[3].caption(" · ".join(f"{k} {v * 1000:.0f} ms" for k, v in t.items()))

    traj = result.trajectory

    @st.fragment
    def scrubber() -> None:
        """Only this panel re-runs while scrubbing; frames decode on demand and stay cached."""
        n = len(traj)
        step = (st.slider("Step", 1, n, n, key="traj_step", help="x_t entering the step, and the step's prediction of x0")
                if n > 1 else 1)  # a one-step run has nothing to scrub
        i = step - 1
        cols = st.columns([1, 1, 2])
        ui.image(stages.decode_frame(run.key, i, "xt", run), f"x_t at t={traj.timesteps[i]} (decoded)",
                 container=cols[0], key=f"xt_{i}")
        ui.image(stages.decode_frame(run.key, i, "x0", run), f"predicted x̂0 at t={traj.timesteps[i]}",
                 container=cols[1], key=f"x0_{i}")
        cols[2].markdown(f"**step {step} / {n}** · t = {traj.timesteps[i]} · "
                         f"noise-prediction RMS {float(traj.eps_norm[i, 0]):.3f} · {traj.step_seconds[i] * 1000:.0f} ms")

    if traj is not None and len(traj):
        st.subheader("Trajectory")
        scrubber()
        steps_axis = list(range(1, len(traj) + 1))
        x0 = traj.pred_x0[:, 0].float()
        dx0 = [float("nan")] + (x0[1:] - x0[:-1]).pow(2).mean(dim=(1, 2, 3)).sqrt().tolist()
        cols = st.columns(3)
        cols[0].plotly_chart(viz.trajectory_figure({"RMS of predicted noise": traj.eps_norm[:, 0].tolist()},
                                                   steps_axis, "step", "Noise prediction"), key="chart_eps")
        cols[1].plotly_chart(viz.trajectory_figure({"RMS change of x̂0 (latent)": dx0}, steps_axis, "step",
                                                   "Change of x̂0 between steps"), key="chart_dx0")
        cols[2].plotly_chart(viz.trajectory_figure({"ms per step": [v * 1000 for v in traj.step_seconds]}, steps_axis,
                                                   "step", "Time per step"), key="chart_time")

    st.subheader("Seed grid")
    c1, c2 = st.columns([1, 4], vertical_alignment="bottom")
    n_seeds = c1.number_input("Seeds", 2, 8, 4, key="grid_n")
    grid_params = stages.RunParams(sp.steps, sp.eta, sp.strength, tuple(sp.seed + k for k in range(int(n_seeds))))
    if c2.button("Run seed grid (one batch)", icon=":material/grid_view:", key="grid_run"):
        st.session_state["grid_requested"] = grid_params
    if st.session_state.get("grid_requested") == grid_params:
        grid = run_sampling(s, prep, pipe, model_id, grid_params)
        if grid is not None:
            st.caption(f"{len(grid_params.seeds)} seeds in one batch: {grid.seconds:.1f} s")
            cols = st.columns(len(grid.images))
            for col, seed, img in zip(cols, grid_params.seeds, grid.images):
                ui.image(prep.inp.to_photo(img), f"seed {seed}", container=col, key=f"grid_seed{seed}")

    st.subheader("Steps sweep")
    c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
    sweep = c1.multiselect("Steps", [5, 10, 25, 50, 100, 200], default=[10, 25, 50], key="sweep_steps")
    sweep_params = [stages.RunParams(n, sp.eta, sp.strength, (sp.seed,)) for n in sorted(sweep)]
    if c2.button("Run steps sweep", icon=":material/linear_scale:", key="sweep_run"):
        st.session_state["sweep_requested"] = sweep_params
    if sweep_params and st.session_state.get("sweep_requested") == sweep_params:
        cols = st.columns(len(sweep_params))
        for col, p in zip(cols, sweep_params):
            with col:
                r = run_sampling(s, prep, pipe, model_id, p)
                if r is not None:
                    ui.image(prep.inp.to_photo(r.images[0]), f"{p.steps} steps · {r.result.timings.get('sampling', r.seconds):.2f} s",
                             key=f"sweep_{p.steps}")

    st.subheader("Export")
    warp_view = stages.warp_stage(prep.key, pipe.warper, model_id, prep.person, prep.cloth, s.models.device,
                                  s.models.dtype)
    st.download_button(
        "Download this run (zip: every stage's images, keypoints, trajectory GIF, parameters, models, timings)",
        lambda: exporting.build_run_zip(s, prep, run, warp_view), file_name="vton_run.zip", mime="application/zip",
        icon=":material/folder_zip:", on_click="ignore", key="export_zip",
    )
