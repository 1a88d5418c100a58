"""`whisper_gpt_hf.audio.corpus.speech`: the text units the planner deals, and the held-out voice pools."""

from __future__ import annotations

from whisper_gpt_hf.audio.corpus import speech
from whisper_gpt_hf.audio.corpus.texts import TEXTS


def test_text_units_are_short_and_cover_the_text():
    for passages in TEXTS.values():
        for passage in passages:
            units = speech._split_units(passage)
            assert all(len(u.split()) <= speech.MAX_WORDS for u in units)
            assert " ".join(units).split() == passage.split()


def test_held_out_voices_are_disjoint_from_the_default_voices():
    default_voices = {v for vs in speech.LANGUAGE_VOICES.values() for v in vs}
    held_voices = {v for vs in speech.HELD_OUT_LANGUAGE_VOICES.values() for v in vs}
    assert not default_voices & held_voices
    assert not set(speech.LANGUAGE_VOICES) & set(speech.HELD_OUT_LANGUAGE_VOICES)
    assert len(speech.HELD_OUT_LANGUAGE_VOICES) >= 2
    assert not set(speech.VARIANTS) & set(speech.HELD_OUT_VARIANTS) and "" not in speech.HELD_OUT_VARIANTS
    for lang in speech.HELD_OUT_LANGUAGE_VOICES:  # each held-out language reads its own text
        assert sum(len(p.split()) for p in TEXTS[lang]) >= 200
