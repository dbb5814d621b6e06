"""Preprocessing: every map the person and cloth photos turn into, each with its source."""
import numpy as np
import streamlit as st

from lab import stages, ui
from lab.session import USER_DENSEPOSE, USER_PARSE, get_prepared
from lab.settings import current
from vton import viz
from vton.errors import InputError
from vton.types import Body25, Source

s = current()
st.title("Preprocessing")
st.caption("Pose (OpenPose BODY_25), person mask, parse map (CIHP labels), DensePose-style IUV, agnostic image "
           "and mask, cloth mask. Each map says where it came from.")


def _store_upload(widget_key: str, state_key: str, kind: str) -> None:
    """Decode an uploaded parse / DensePose file into session state (at the working size)."""
    from vton.io import load_image, load_label_png

    up = st.session_state.get(widget_key)
    if up is None:
        for key in (state_key, state_key + "_error", state_key + "_encoding"):
            st.session_state.pop(key, None)
        return
    try:
        data = up.getvalue()
        array = load_label_png(data) if kind == "parse" else load_image(data, min_side=1)
        if kind == "parse" and array.size and int(array.max()) > 19:
            raise InputError(f"{up.name} holds label {int(array.max())}; a CIHP parse map has labels 0..19")
        if kind == "densepose":  # IUV or a dp_segm colour render: detected here, decoded by the preprocessing
            from vton.preprocess.densepose import detect_densepose_encoding

            try:
                st.session_state[state_key + "_encoding"] = detect_densepose_encoding(array)
            except InputError as e:
                raise InputError(f"{up.name}: {e}") from None
        st.session_state[state_key] = viz.resize(array, s.size, nearest=True)
        st.session_state.pop(state_key + "_error", None)
    except InputError as e:
        st.session_state.pop(state_key, None)
        st.session_state.pop(state_key + "_encoding", None)
        st.session_state[state_key + "_error"] = f"{kind} file: {e}"


with st.expander("Replace a built-in map with your own file", icon=":material/upload_file:"):
    c1, c2 = st.columns(2)
    c1.file_uploader("Parse map (PNG: CIHP labels, VITON-HD palette or greyscale)", key="upload_parse",
                     on_change=_store_upload, args=("upload_parse", USER_PARSE, "parse"))
    c2.file_uploader("DensePose image: IUV (PNG: I, U, V channels) or the dp_segm colour render of VITON-HD's "
                     "image-densepose (JPEG/PNG); the encoding is detected", key="upload_densepose",
                     on_change=_store_upload, args=("upload_densepose", USER_DENSEPOSE, "densepose"))
    st.caption("Files are resized (nearest) to the working size. They replace the built-in maps on every page "
               "until removed.")
for key in (USER_PARSE, USER_DENSEPOSE):
    if st.session_state.get(key + "_error"):
        st.error(st.session_state[key + "_error"], icon=":material/error:")
_encoding = st.session_state.get(USER_DENSEPOSE + "_encoding")
_densepose_name = f"DensePose ({_encoding.label})" if _encoding is not None else "DensePose"
mine = [name for key, name in ((USER_PARSE, "parse map"), (USER_DENSEPOSE, _densepose_name)) if key in st.session_state]
if mine:
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.info(f"Using your own {' and '.join(mine)} on every page.", icon=":material/upload_file:")
    if c2.button("Use the built-in maps", key="drop_user_maps"):
        for key in (USER_PARSE, USER_DENSEPOSE):
            st.session_state.pop(key, None)
        st.rerun()

prep = get_prepared(s)
if prep is not None:
    person, cloth = prep.person, prep.cloth
    src = person.sources
    ui.notes(person.notes)
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="pre_opacity")

    st.subheader("Pose")
    c1, c2 = st.columns([3, 2])
    with c1:
        st.plotly_chart(viz.skeleton_figure(person.image, person.keypoints, detected=person.detected_keypoints),
                        width="stretch", key="skeleton", config={"displaylogo": False})
        moved = (" · rings: where MediaPipe found the shoulders, elbows, wrists and hips before they were moved "
                 "to OpenPose's places" if person.detected_keypoints is not None else "")
        st.caption(f"BODY_25 keypoints · source: {getattr(src.get('keypoints'), 'value', 'unknown')} · "
                   f"hover a joint for its name and confidence{moved}")
    with c2:
        kp = person.keypoints
        st.dataframe(
            {"joint": [b.name for b in Body25], "x": kp[:, 0].round(1), "y": kp[:, 1].round(1),
             "confidence": kp[:, 2].round(2)},
            height=420, hide_index=True,
        )
        from vton.io import keypoints_to_openpose_json
        import json

        st.download_button("Download keypoints (OpenPose JSON)", json.dumps(keypoints_to_openpose_json(kp)),
                           file_name="keypoints.json", mime="application/json", icon=":material/download:")

    st.subheader("Masks and maps")
    cols = st.columns(4)
    ui.image(viz.overlay_mask(person.image, person.person_mask, (0, 200, 255), opacity), "Person mask",
             source=src.get("person_mask"), container=cols[0], key="person_mask")
    ui.image(viz.colorize_parse(person.parse), "Parse map", source=src.get("parse"), container=cols[1],
             key="parse")
    from vton.preprocess.densepose import colorize_iuv, render_dp_segm
    from vton.types import DensePoseEncoding

    encoding = person.densepose_encoding
    ui.image(colorize_iuv(person.densepose), f"DensePose parts (I) · read as {encoding.label}",
             source=src.get("densepose"), container=cols[2], key="densepose_i")
    if encoding is DensePoseEncoding.DP_SEGM:  # no U, V to show: show the parts as the render they came from
        ui.image(render_dp_segm(person.densepose[..., 0]), "DensePose as a dp_segm render · U and V are not in "
                 "the render (0)", source=src.get("densepose"), container=cols[3], key="densepose_render")
    else:
        uv = np.concatenate([person.densepose[..., 1], person.densepose[..., 2]], axis=1)
        ui.image(viz.heatmap(uv.astype(np.float32), 255.0), "DensePose U | V", source=src.get("densepose"),
                 container=cols[3], key="densepose_uv")
    with st.expander("Parse legend", expanded=True):
        legend = viz.parse_legend(person.parse)
        st.markdown("  ".join(
            f"<span style='display:inline-block;width:0.9em;height:0.9em;background:{e.color};"
            f"border:1px solid #888;vertical-align:middle'></span> {e.name} ({e.fraction:.1%})" for e in legend),
            unsafe_allow_html=True)

    if src.get("parse") is Source.PARSER:  # the human parser's labels, and where it and MediaPipe disagree
        st.subheader("Human parser")
        parser = stages.parser_of(prep.maps)
        cols = st.columns([2, 3])
        d = viz.mask_disagreement(person.image, person.person_mask, person.parse > 0, opacity)
        ui.image(d.image, f"Person mask (MediaPipe) vs parser · {d.share:.1%} disagree · cyan: MediaPipe only "
                 f"({d.only_a} px), orange: parser only ({d.only_b} px)", container=cols[0], key="parser_disagreement")
        with cols[1].expander(f"Parser labels -> CIHP ({parser.folder.name})", expanded=True):
            st.dataframe(parser.label_map.rows(), hide_index=True, key="parser_label_map")
            if parser.label_map.unmapped:
                st.caption("No CIHP counterpart (background in the parse map): " + ", ".join(parser.label_map.unmapped))

    st.subheader("Agnostic (what the try-on may repaint)")
    cols = st.columns(4)
    truth = prep.inp.pair.person.parse if prep.inp.pair is not None else None  # a pair with ground truth
    if truth is not None:
        miss = viz.agnostic_misses(person.image, person.agnostic_mask, truth, opacity=opacity)
        ui.image(miss.image, f"Agnostic mask on photo · yellow: {miss.share:.1%} of the true garment left visible",
                 source=src.get("agnostic_mask"), container=cols[0], key="agnostic_mask")
        if miss.share > 0.03:
            cols[0].warning(f"{miss.share:.1%} of the garment ({int(miss.missed.sum())} px) stays outside the mask: "
                            "every try-on keeps it", icon=":material/warning:")
    else:
        ui.image(viz.overlay_mask(person.image, person.agnostic_mask, (255, 0, 128), opacity), "Agnostic mask on photo",
                 source=src.get("agnostic_mask"), container=cols[0], key="agnostic_mask")
    ui.image(person.agnostic, "Agnostic image", source=src.get("agnostic"), container=cols[1], key="agnostic")
    ui.image(viz.colorize_parse(person.parse_agnostic), "Parse-agnostic", source=src.get("parse_agnostic"),
             container=cols[2], key="parse_agnostic")

    st.subheader("Cloth")
    cols = st.columns(4)
    ui.image(cloth.image, "Cloth", source=cloth.sources.get("image"), container=cols[0], key="cloth")
    ui.image(cloth.mask, "Cloth mask", source=cloth.sources.get("mask"), container=cols[1], key="cloth_mask")
    ui.image(viz.overlay_mask(cloth.image, 1 - cloth.mask, (0, 0, 0), opacity), "Cloth with background dimmed",
             container=cols[2], key="cloth_masked")
