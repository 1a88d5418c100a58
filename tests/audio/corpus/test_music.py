"""`whisper_gpt_hf.audio.corpus.music`: the held-out composer draws only from pools the default composer never uses."""

from __future__ import annotations

from whisper_gpt_hf.audio.corpus import music


def _midi_events(midi: bytes):
    """(status, data) of every channel event in one of the composer's format-0 files (no running status)."""
    data, i, events = midi[22:], 0, []
    while i < len(data):
        while data[i] & 0x80:  # delta time
            i += 1
        i += 1
        status = data[i]
        if status == 0xFF:
            length, j = 0, i + 2
            while data[j] & 0x80:
                length, j = (length << 7) | (data[j] & 0x7F), j + 1
            length, j = (length << 7) | data[j], j + 1
            events.append((status, data[i + 1 : j + length]))
            i = j + length
        else:
            size = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
            events.append((status, data[i + 1 : i + 1 + size]))
            i += 1 + size
    return events


def test_held_out_music_pools_are_disjoint_from_the_default_pools():
    default_programs = {p for p, _, _ in music.MELODY + music.CHORDS + music.BASS}
    assert not default_programs & set(music.held_out_music_pools()["music_programs"])
    assert not {tuple(s) for s in music.MODES.values()} & {tuple(s) for s in music.HELD_OUT_MODES.values()}
    assert not set(music.RHYTHMS) & set(music.HELD_OUT_RHYTHMS)
    assert not {tuple(p) for p in music.PROGRESSIONS} & {tuple(p) for p in music.HELD_OUT_PROGRESSIONS}
    assert not set(music.CHORD_PATTERNS) & set(music.HELD_OUT_CHORD_PATTERNS)
    assert not set(music.BASS_PATTERNS) & set(music.HELD_OUT_BASS_PATTERNS)
    assert 0 not in {kit for kit, _ in music.HELD_OUT_KITS}  # the Standard kit is the default build's


def test_held_out_composer_uses_only_held_out_programs_kits_metres_and_tempi():
    default_programs = {p for p, _, _ in music.MELODY + music.CHORDS + music.BASS}
    held_programs = set(music.held_out_music_pools()["music_programs"])
    kits = {kit for kit, _ in music.HELD_OUT_KITS}
    textures = set()
    for i in range(150):
        midi, description, source, extra = music.compose_held_out(f"held-out-test/{i}", seconds=5.0)
        assert music.compose_held_out(f"held-out-test/{i}", seconds=5.0)[0] == midi  # seeded
        events = _midi_events(midi)
        programs = [(status & 0x0F, data[0]) for status, data in events if status & 0xF0 == 0xC0]
        assert {p for ch, p in programs if ch != 9} <= held_programs
        assert {p for ch, p in programs if ch == 9} <= kits
        meta = {data[0]: data for status, data in events if status == 0xFF}
        assert meta[0x58][2] in (5, 7)  # time signature numerator: 5/4 or 7/4 only
        bpm = 60_000_000 / int.from_bytes(meta[0x51][2:5], "big")
        assert bpm < 64 or bpm > 181, description
        assert any(status & 0xF0 == 0x90 for status, _ in events)
        textures.add(extra["ensemble"])
    assert textures == set(music.HELD_OUT_TEXTURES)
    for i in range(150):  # and the default composer never plays a held-out instrument
        events = _midi_events(music.compose(f"default-test/{i}", seconds=5.0)[0])
        assert {data[0] for status, data in events if status & 0xF0 == 0xC0 and status != 0xC9} <= default_programs
