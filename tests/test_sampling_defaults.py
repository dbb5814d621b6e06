"""A pipeline folder's model card sets the sampling defaults that the CLI and the lab use."""
import json

from vton.diffusion.defaults import SamplingDefaults, sampling_defaults


def test_model_card_lines_set_the_defaults(tmp_path):
    (tmp_path / "MODEL_CARD.md").write_text("# Card\n\nDefault DDIM steps: 30\nDefault strength: 0.6\nDefault eta: 0.2\n")
    assert sampling_defaults(tmp_path) == SamplingDefaults(steps=30, strength=0.6, eta=0.2)


def test_missing_or_out_of_range_values_fall_back(tmp_path):
    assert sampling_defaults(None) == SamplingDefaults()
    assert sampling_defaults(tmp_path / "absent") == SamplingDefaults()
    (tmp_path / "MODEL_CARD.md").write_text("Default strength: 7\n")
    (tmp_path / "model_index.json").write_text(json.dumps({"num_inference_steps": 20}))
    assert sampling_defaults(tmp_path) == SamplingDefaults(steps=20, strength=1.0, eta=0.0)


def test_the_shipped_card_states_its_defaults():
    from pathlib import Path

    card = (Path(__file__).resolve().parents[1] / "assets" / "weights" / "MODEL_CARD.md").read_text()
    assert "Default DDIM steps:" in card and "Default strength:" in card
