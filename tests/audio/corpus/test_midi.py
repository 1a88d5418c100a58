"""`whisper_gpt_hf.audio.corpus.midi`: the Standard MIDI File writer, on its own and on a composed piece."""

from __future__ import annotations

from whisper_gpt_hf.audio.corpus import midi, music


def test_midi_writer():
    assert [midi._vlq(v) for v in (0, 127, 128, 0x3FFF, 0x4000)] == [
        b"\x00", b"\x7f", b"\x81\x00", b"\xff\x7f", b"\x81\x80\x00"]
    data, description, source, _ = music.compose("test-piece", seconds=4.0)
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    assert int.from_bytes(data[18:22], "big") == len(data) - 22  # track length field matches
    assert data.endswith(b"\xff\x2f\x00")
    assert "BPM" in description and "melody=" in source
    assert music.compose("test-piece", seconds=4.0)[0] == data  # composing is seeded
