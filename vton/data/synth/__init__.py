"""A synthetic VITON-HD: stylised people wearing flat garments, with the true warp flow.

VITON-HD cannot be downloaded here and has no ground-truth flow; this generator
draws both. Modules, in dependency order:

- `texture`: colours, garment textures, backgrounds;
- `body`: a frontal body skeleton, its BODY_25 keypoints, drawing primitives;
- `garment`: the flat garment template and the person-to-cloth mapping (the truth);
- `render`: one `Pair` (`generate_pair`);
- `writer`: a VITON-HD-layout folder (`write_dataset`);
- `sheet`: a contact sheet of pairs to look at (``synth --grid``).

Flow convention (DESIGN.md): ``warped(p) = cloth(p + flow(p))`` with
``grid_sample(align_corners=False)``, offsets in normalized units, ``x`` then ``y``.
"""
from vton.data.synth.render import Rendered, SampleInfo, generate_pair, render_pair
from vton.data.synth.writer import item_seed, sample_name, save_pair, write_dataset

__all__ = ["Rendered", "SampleInfo", "generate_pair", "render_pair", "item_seed", "sample_name", "save_pair", "write_dataset"]
