"""Warping: the flow at each of the five scales, folds, the warped cloth, the TPS baseline, error vs ground truth."""
import numpy as np
import streamlit as st
import torch

from lab import stages, ui
from lab.session import get_prepared, get_warper
from lab.settings import current
from vton import viz
from vton.registry import describe_origin

s = current()
st.title("Warping")
st.caption("The warper predicts a sampling flow coarse to fine: `warped(p) = cloth(p + flow(p))`. Offsets are shown "
           f"in pixels of the working size ({s.size[0]} x {s.size[1]}), with one colour scale for every level.")


def fold_stats(flow: np.ndarray, garment: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Fold mask (Jacobian determinant <= 0) of a (2, h, w) flow, and its share of the garment's pixels.

    ``garment`` (any size, resized to the flow's) is where the warped cloth lands; the share is
    over all pixels without it. Inside the garment is what `eval warp` and the model card count.
    """
    from vton.warp.ops import fold_mask

    folds = fold_mask(torch.from_numpy(flow)[None])[0, 0].numpy()
    region = None if garment is None else viz.resize(garment.astype(np.float32), folds.shape) > 0.5
    share = float(folds[region].mean()) if region is not None and region.any() else float(folds.mean())
    return folds.astype(np.uint8), share


def epe(flow: np.ndarray, gt: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, float]:
    """End-point error map (pixels at the ground truth's size) and its mean inside ``mask``."""
    from vton.warp.ops import end_point_error, resize_flow

    g = torch.from_numpy(np.ascontiguousarray(gt, np.float32))[None]
    f = resize_flow(torch.from_numpy(flow)[None], tuple(g.shape[-2:]))  # measure in working-size pixels
    m = torch.from_numpy(mask.astype(np.float32))[None, None] if mask is not None else None
    emap = end_point_error(f, g, reduction="none")[0, 0].numpy()
    return emap, float(end_point_error(f, g, m))


prep = get_prepared(s)
if prep is not None:
    person, cloth, truth = prep.person, prep.cloth, prep.inp.pair.truth if prep.inp.pair else None
    warper = get_warper(s)
    view = None
    net_name = type(warper[0]).__name__ if warper is not None else "warper"
    if warper is not None:
        net, weights_id = warper
        st.caption(f"Warper: **{type(net).__name__}**, {describe_origin(net)}. Every flow is shown in our "
                   "convention (normalised sampling offsets), converted at the model's boundary.")
        with ui.guard("Warping"):
            view = stages.warp_stage(prep.key, net, weights_id, person, cloth, s.models.device, s.models.dtype)

    if view is not None:
        flows = view.flows
        names = [f"level {i + 1} ({f.shape[1]}x{f.shape[2]})" for i, f in enumerate(flows)]
        max_px = viz.flow_max_pixels(flows, s.size)
        st.subheader(f"Flow at {len(flows)} scales")
        st.caption(f"Warper ran in {view.seconds * 1000:.0f} ms. Colour: hue = direction, saturation = length; "
                   f"full colour = {max_px:.1f} px (shared by all levels).")
        cols = st.columns(len(flows) + 1)
        garment = view.warped_mask > 0.5
        for col, f, name in zip(cols, flows, names):
            _, share = fold_stats(f, garment)
            ui.image(viz.flow_to_color(f, s.size, max_px), name, container=col, key=f"flow_{name.split()[1]}")
            col.metric("folded", f"{share:.2%}", label_visibility="visible",
                       help="share of the warped garment's pixels where the flow folds (det J <= 0), the model "
                            "card's measure; outside the garment the flow samples nothing that is kept")
        cols[-1].image(viz.color_wheel(96), caption=f"key: rim = {max_px:.1f} px", width=96)

        tabs = st.tabs(names)
        for tab, f, name in zip(tabs, flows, names):
            with tab:
                c1, c2 = st.columns([3, 2])
                with c1:
                    mask = view.warped_mask > 0.5
                    st.plotly_chart(viz.quiver_figure(f, s.size, background=person.image, mask=mask if mask.any() else None,
                                                      max_arrows=20, title=f"{name}: where each pixel samples the cloth"),
                                    width="stretch", key=f"quiver_{name}", config={"displaylogo": False})
                with c2:
                    folds, share = fold_stats(f, garment)
                    sc = st.columns(2)
                    ui.image(viz.warp_image(cloth.image, f, padding="border"), f"Cloth warped by {name}",
                             container=sc[0], key=f"warped_{name.split()[1]}")
                    ui.image(viz.deformed_grid(person.image, f, spacing=max(6, s.size[0] // 24),
                                               mask=view.warped_mask > 0.5),
                             "Deformed grid over the person", container=sc[1], key=f"grid_{name.split()[1]}")
                    ui.image(viz.overlay_mask(person.image, folds, (255, 0, 0), 0.8),
                             f"Fold map (det J <= 0): {share:.2%} of the garment", container=sc[0],
                             key=f"folds_{name.split()[1]}")
        st.plotly_chart(viz.magnitude_histogram(dict(zip(names, flows)), s.size), width="stretch", key="hist",
                        config={"displaylogo": False})

        st.subheader("Final warped cloth: before and after occlusion handling")
        alpha = st.slider("Blend over the agnostic image", 0.0, 1.0, 0.7, 0.05, key="warp_blend")
        cols = st.columns(5)
        ui.image(view.warped_cloth, "Warped cloth (before)", container=cols[0], key="warped_cloth")
        ui.image((view.warped_mask > 0.5).astype(np.uint8), "Warped mask (before)", container=cols[1],
                 key="warped_mask")
        ui.image(view.aligned_cloth, "Warped cloth (after occlusion)", container=cols[2], key="aligned_cloth")
        ui.image((view.aligned_mask > 0.5).astype(np.uint8), "Warped mask (after occlusion)", container=cols[3],
                 key="aligned_mask")
        pasted = (person.agnostic * (1 - view.aligned_mask[..., None]) + view.aligned_cloth * view.aligned_mask[..., None])
        ui.image(viz.blend(person.agnostic, pasted.round().astype(np.uint8), alpha), "Over the agnostic image",
                 container=cols[4], key="warp_overlay")

    st.subheader("TPS baseline side by side")
    with ui.guard("TPS baseline"):
        tps = stages.tps_stage(prep.key, person, cloth)
        cols = st.columns(4)
        tps_folds, tps_share = fold_stats(tps.flow, tps.warped_mask > 0)
        over = viz.overlay_mask(person.agnostic, tps.warped_mask, (0, 0, 0), 0.0)
        over[tps.warped_mask > 0] = tps.warped_cloth[tps.warped_mask > 0]
        ui.image(over, f"TPS warp over the agnostic ({tps.seconds * 1000:.0f} ms)", container=cols[0], key="tps")
        ui.image(viz.flow_to_color(tps.flow, s.size, viz.flow_max_pixels([tps.flow] + (view.flows if view else []),
                                                                          s.size)),
                 f"TPS flow; folded {tps_share:.2%}", container=cols[1], key="tps_flow")
        if view is not None:
            net_over = person.agnostic.copy()
            m = view.aligned_mask > 0.5
            net_over[m] = view.aligned_cloth[m]
            ui.image(net_over, f"{net_name} over the agnostic", container=cols[2], key="net_over")
        if truth is not None and truth.warped_cloth is not None:
            ui.image(truth.warped_cloth, "Ground-truth warped cloth", source="synthetic", container=cols[3],
                     key="gt_warped")

    if truth is not None and truth.flow is not None:
        st.subheader("End-point error against the ground-truth flow")
        gt_mask = truth.warped_mask if truth.warped_mask is not None else None
        cols = st.columns(4)
        candidates = [(net_name, view.flows[-1])] if view is not None else []
        with ui.guard("TPS baseline"):
            candidates.append(("TPS", stages.tps_stage(prep.key, person, cloth).flow))
        for col, (name, flow) in zip(cols, candidates):
            m = viz.resize(gt_mask, truth.flow.shape[1:], nearest=True) if gt_mask is not None else None
            emap, mean = epe(flow, truth.flow, m)
            ui.image(viz.heatmap(emap, vmax=max(float(np.percentile(emap, 99)), 1.0)),
                     f"{name}: EPE map, mean {mean:.2f} px inside the true cloth", container=col,
                     key=f"epe_{name}")
            col.metric(f"{name} mean EPE", f"{mean:.2f} px")
