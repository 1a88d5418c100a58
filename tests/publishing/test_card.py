"""Card templates (whisper_gpt_hf/cards.py, cards/*.md next to MODEL_CARD.md): one mechanism for every card."""

import pytest

from whisper_gpt_hf.assets import CARD_TEMPLATES_DIR, PROCESSOR_DEFAULT
from whisper_gpt_hf.publishing.card import CardTemplateError, card_template, render_template, template_placeholders


def test_render_refuses_holes_but_allows_declared_optional_ones():
    template = "<!-- template: a note for editors -->\n# {{ name }}\n{{ extra }}\n"
    assert render_template(template, {"name": "x", "extra": "y"}) == "# x\ny\n"
    with pytest.raises(CardTemplateError, match="needs values for: extra"):
        render_template(template, {"name": "x", "extra": ""})
    with pytest.raises(CardTemplateError, match="extra, name"):
        render_template(template, {})
    assert render_template(template, {"name": "x", "extra": ""}, optional={"extra"}) == "# x\n\n"


def test_every_card_has_its_template_file():
    names = {p.stem for p in CARD_TEMPLATES_DIR.glob("*.md")}
    assert {"codec", "processor", "dataset", "dataset_how", "dataset_how_held_out"} <= names
    assert template_placeholders(card_template("processor")) == {"codec_name"}


def test_processor_card_renders_the_committed_readme():
    from whisper_gpt_hf.audio.codec.card import processor_card

    assert processor_card("whisper-gpt-codec-small") == (PROCESSOR_DEFAULT / "README.md").read_text()


@pytest.mark.parametrize("held_out", [False, True], ids=["default", "held-out"])
def test_dataset_card_fills_every_placeholder(tmp_path, held_out):
    import yaml

    from whisper_gpt_hf.audio import corpus

    (tmp_path / "train.parquet").write_bytes(b"0" * 2048)
    split = {"speech": {"clips": 3, "minutes": 1.5}, "music": {"clips": 2, "minutes": 0.75}}
    report = {"size": "small", "seed": 3, "output_dir": "hub/c", "speech_minutes_requested": 1.0,
              "music_minutes_requested": corpus.SIZES["small"].music_minutes,
              "splits": {s: split for s in corpus.SPLITS}, "clip_seconds": {"speech": [1.0, 4.5], "music": [2, 8]},
              "languages": ["de", "en"], "voices": 7,
              "tools": {"espeak-ng": "eSpeak NG 1.51", "sox": "SoX 14.4", "fluidsynth": "fluidsynth 2.3",
                        "soundfont": "FluidR3_GM.sf2"}}
    if held_out:
        report.update(held_out=True, pools=corpus.held_out_pools())
    infos = [{"name": s, "num_examples": 5, "num_bytes": 1000} for s in corpus.SPLITS]
    card = corpus.dataset_card(report, infos, tmp_path)
    assert "{{" not in card and "template:" not in card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["pretty_name"].endswith("(small, held-out)" if held_out else "(small)")
    assert "**4.5 min of speech and 2.2 min of music, 15 clips," in card
    assert "--seed 3 --output hub/c --speech-minutes 1" in card and "eSpeak NG 1.51" in card
    assert ("**Held out**" in card) == held_out
    assert ("in 2 languages the default build\n  does not speak (de, en)" if held_out else "in 2 languages (de, en)") in card


def test_codec_card_renders_from_the_committed_training_summary():
    import json

    from whisper_gpt_hf.assets import CODEC_SMALL
    from whisper_gpt_hf.audio.codec.arguments import parse_command_line
    from whisper_gpt_hf.audio.codec.card import model_card, report_section

    meta = json.loads((CODEC_SMALL / "training_summary.json").read_text())
    args = parse_command_line(meta["command"])
    report = report_section((CODEC_SMALL / "README.md").read_text())
    card = model_card(meta, args, report)
    assert "{{" not in card and "template:" not in card
    assert meta["command"] in card and report in card
    assert f"{meta['num_parameters']:,} (plus codebook buffers)" in card
    args.max_steps = meta["step"] + 100  # a run cut short by --max-minutes says so
    assert f"stopped it at step {meta['step']} of the {meta['step'] + 100}-step" in model_card(meta, args, report)
