"""A tiny Standard MIDI File writer: the composer in ``music.py`` writes its pieces with it; ``fluidsynth`` plays them.

- ``Midi``: collects tempo, time-signature, program and note events and writes a format-0 file (one track, all
  channels; note-offs sort before note-ons at the same tick);
- ``_vlq``: the MIDI variable-length quantity.
"""

from __future__ import annotations

import struct


class Midi:
    """Collects channel events and writes a format-0 Standard MIDI File (one track, all channels)."""

    def __init__(self, ticks_per_beat: int = 480):
        self.tpb = ticks_per_beat
        self.events: list[tuple[int, int, bytes]] = []  # (tick, order, bytes): offs sort before ons at one tick

    def meta(self, kind: int, data: bytes) -> None:
        self.events.append((0, 0, bytes([0xFF, kind]) + _vlq(len(data)) + data))

    def tempo(self, bpm: float) -> None:
        self.meta(0x51, struct.pack(">I", round(60_000_000 / bpm))[1:])

    def time_signature(self, beats: int) -> None:
        self.meta(0x58, bytes([beats, 2, 24, 8]))

    def program(self, channel: int, program: int, volume: int) -> None:
        self.events.append((0, 1, bytes([0xC0 | channel, program])))
        self.events.append((0, 1, bytes([0xB0 | channel, 7, volume])))  # channel volume: the mix

    def note(self, channel: int, tick: int, duration: int, pitch: int, velocity: int) -> None:
        pitch, velocity = min(max(pitch, 0), 127), min(max(velocity, 1), 127)
        self.events.append((tick, 3, bytes([0x90 | channel, pitch, velocity])))
        self.events.append((tick + max(duration, 1), 2, bytes([0x80 | channel, pitch, 0])))

    def to_bytes(self) -> bytes:
        track, last = bytearray(), 0
        for tick, _, data in sorted(self.events, key=lambda e: (e[0], e[1])):
            track += _vlq(tick - last) + data
            last = tick
        track += b"\x00\xff\x2f\x00"  # end of track
        header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, self.tpb)
        return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def _vlq(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits a byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


__all__ = ["Midi"]
