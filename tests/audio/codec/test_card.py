"""The codec card: the committed codec's card re-renders byte for byte from its stored command, and a codec with a
`training_args.json` is rendered from that."""

from __future__ import annotations

import dataclasses
import json
import shutil

from whisper_gpt_hf.assets import CODEC_SMALL
from whisper_gpt_hf.audio.codec import card
from whisper_gpt_hf.audio.codec.arguments import load_arguments, save_arguments


def _copy_card(tmp_path):
    for name in ("README.md", "training_summary.json"):
        shutil.copy(CODEC_SMALL / name, tmp_path / name)
    return tmp_path


def test_the_committed_card_rerenders_unchanged(tmp_path):
    folder = _copy_card(tmp_path)
    card.rewrite_card(folder)
    assert (folder / "README.md").read_text() == (CODEC_SMALL / "README.md").read_text()


def test_training_args_json_is_what_the_card_is_rendered_from(tmp_path):
    folder = _copy_card(tmp_path)
    args = dataclasses.replace(load_arguments(CODEC_SMALL), max_steps=1600, warmup_steps=30)
    save_arguments(args, folder)
    card.rewrite_card(folder, card_note="A new note.")
    text = (folder / "README.md").read_text()
    assert "stopped it at step 1500 of the 1600-step schedule" in text and "A new note." in text
    assert json.loads((folder / "training_summary.json").read_text())["card_note"] == "A new note."
    report = card.report_section((CODEC_SMALL / "README.md").read_text())
    assert report in text  # the codec-report block is kept


def test_update_card_report_replaces_only_the_block(tmp_path):
    folder = _copy_card(tmp_path)
    card.update_card_report(folder, "| new | table |")
    text = (folder / "README.md").read_text()
    assert f"{card.CARD_REPORT_BEGIN}\n| new | table |\n{card.CARD_REPORT_END}" in text
    before = (CODEC_SMALL / "README.md").read_text()
    assert text.split(card.CARD_REPORT_BEGIN)[0] == before.split(card.CARD_REPORT_BEGIN)[0]
