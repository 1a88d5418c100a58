"""Music: short pieces composed here from a seed, written as MIDI (``midi.py``) and rendered by ``fluidsynth``.

- the composer's tables: ``KEYS``, ``MODES``, ``PROGRESSIONS``, the General MIDI ``MELODY`` / ``CHORDS`` / ``BASS``
  instruments, ``RHYTHMS``, ``DRUMS`` (patterns on a 16th-note grid) and the chord and bass patterns;
- ``Piece`` and the parts ``_melody``, ``_chords``, ``_bass``, ``_drums``; ``compose`` puts one piece together;
- ``--held-out``: the ``HELD_OUT_*`` tables (instruments, scales, metres, tempi, drum kits, textures ``compose`` never
  uses), ``held_out_music_pools`` listing them, and ``compose_held_out`` drawing only from them;
- ``MusicPlanner``: one seeded piece per clip; ``render_music``: ``fluidsynth`` renders it dry to 24 kHz mono.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from whisper_gpt_hf.audio.corpus.common import SAMPLE_RATE, Clip, _finish, _run
from whisper_gpt_hf.audio.corpus.midi import Midi

# ----------------------------------------------------------------------------------------------------------------------
# a small seeded composer

KEYS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MODES = {
    "major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10], "dorian": [0, 2, 3, 5, 7, 9, 10],
    "mixolydian": [0, 2, 4, 5, 7, 9, 10], "lydian": [0, 2, 4, 6, 7, 9, 11], "phrygian": [0, 1, 3, 5, 7, 8, 10],
    "harmonic minor": [0, 2, 3, 5, 7, 8, 11],
}
# chord roots as 0-based scale degrees, one chord a bar
PROGRESSIONS = [
    [0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4], [1, 4, 0, 0], [0, 5, 1, 4], [5, 3, 0, 4], [0, 0, 3, 4], [0, 3, 0, 4],
    [0, 6, 5, 4], [0, 2, 3, 4], [0, 3, 5, 4, 0, 3, 4, 0], [0, 1, 0, 1], [0, 6, 0, 6], [3, 4, 0, 0],
]
# (GM program 0-based, name, centre MIDI note of its part)
MELODY = [
    (0, "Acoustic Grand Piano", 72), (4, "Electric Piano 1", 72), (6, "Harpsichord", 72), (8, "Celesta", 84),
    (9, "Glockenspiel", 84), (11, "Vibraphone", 72), (12, "Marimba", 72), (13, "Xylophone", 84),
    (16, "Drawbar Organ", 72), (21, "Accordion", 72), (22, "Harmonica", 72), (24, "Acoustic Guitar (nylon)", 64),
    (25, "Acoustic Guitar (steel)", 64), (26, "Electric Guitar (jazz)", 64), (27, "Electric Guitar (clean)", 64),
    (29, "Overdriven Guitar", 64), (40, "Violin", 76), (41, "Viola", 64), (42, "Cello", 52), (56, "Trumpet", 72),
    (57, "Trombone", 60), (60, "French Horn", 64), (64, "Soprano Sax", 72), (65, "Alto Sax", 70),
    (66, "Tenor Sax", 62), (68, "Oboe", 74), (70, "Bassoon", 52), (71, "Clarinet", 70), (72, "Piccolo", 86),
    (73, "Flute", 76), (74, "Recorder", 76), (75, "Pan Flute", 74), (79, "Ocarina", 76), (80, "Lead 1 (square)", 72),
    (81, "Lead 2 (sawtooth)", 72), (104, "Sitar", 64), (105, "Banjo", 66), (108, "Kalimba", 74),
    (114, "Steel Drums", 72),
]
CHORDS = [
    (0, "Acoustic Grand Piano", 60), (2, "Electric Grand Piano", 60), (4, "Electric Piano 1", 60),
    (5, "Electric Piano 2", 60), (6, "Harpsichord", 60), (11, "Vibraphone", 62), (16, "Drawbar Organ", 60),
    (19, "Church Organ", 60), (24, "Acoustic Guitar (nylon)", 57), (25, "Acoustic Guitar (steel)", 57),
    (27, "Electric Guitar (clean)", 57), (46, "Orchestral Harp", 60), (48, "String Ensemble 1", 60),
    (49, "String Ensemble 2", 60), (50, "Synth Strings 1", 60), (52, "Choir Aahs", 62), (61, "Brass Section", 60),
    (88, "Pad 1 (new age)", 60), (89, "Pad 2 (warm)", 60), (90, "Pad 3 (polysynth)", 60), (94, "Pad 7 (halo)", 60),
]
SUSTAINED = {16, 19, 48, 49, 50, 52, 61, 88, 89, 90, 94}  # instruments that want held chords, not plucked patterns
BASS = [
    (32, "Acoustic Bass", 38), (33, "Electric Bass (finger)", 38), (34, "Electric Bass (pick)", 38),
    (35, "Fretless Bass", 38), (36, "Slap Bass 1", 38), (38, "Synth Bass 1", 38), (39, "Synth Bass 2", 38),
    (43, "Contrabass", 38), (58, "Tuba", 38),
]
# melody rhythms: one bar of note lengths in beats
RHYTHMS = {
    4: [[1, 1, 1, 1], [2, 1, 1], [1.5, 0.5, 1, 1], [0.5, 0.5, 1, 0.5, 0.5, 1], [1, 0.5, 0.5, 2], [3, 1], [0.5] * 8,
        [1, 1, 2], [0.5, 0.5, 0.5, 0.5, 2], [1.5, 1.5, 1], [4]],
    3: [[1, 1, 1], [2, 1], [1.5, 0.5, 1], [0.5, 0.5, 1, 1], [3], [1, 0.5, 0.5, 1], [0.5] * 6],
}
# drum patterns on a 16th-note grid (12 steps for 3/4): {GM drum note: steps}
KICK, SNARE, STICK, CLAP, HAT, PEDAL_HAT, OPEN_HAT, RIDE, CRASH, TAMB, LOW_TOM, HIGH_TOM = (
    36, 38, 37, 39, 42, 44, 46, 51, 49, 54, 45, 50)
DRUMS = {
    4: {
        "rock": {KICK: [0, 8, 10], SNARE: [4, 12], HAT: list(range(0, 16, 2))},
        "disco": {KICK: [0, 4, 8, 12], CLAP: [4, 12], OPEN_HAT: [2, 6, 10, 14], HAT: [0, 4, 8, 12]},
        "half-time": {KICK: [0, 10], SNARE: [8], HAT: list(range(0, 16, 2))},
        "shuffle": {KICK: [0, 8], SNARE: [4, 12], RIDE: [0, 4, 6, 8, 12, 14], PEDAL_HAT: [4, 12]},
        "bossa nova": {KICK: [0, 3, 4, 7, 8, 11, 12, 15], STICK: [0, 3, 6, 10, 13], HAT: list(range(0, 16, 2))},
        "funk": {KICK: [0, 3, 10], SNARE: [4, 12, 7], HAT: list(range(16)), TAMB: [4, 12]},
    },
    3: {
        "waltz": {KICK: [0], STICK: [4, 8], HAT: list(range(0, 12, 2))},
        "jazz waltz": {KICK: [0], RIDE: [0, 4, 6, 8, 10], PEDAL_HAT: [4, 8]},
    },
}
SWUNG = {"shuffle", "jazz waltz"}
CHORD_PATTERNS = ["sustained", "half notes", "on the beat", "off-beat", "arpeggiated", "broken", "strummed"]
BASS_PATTERNS = ["whole notes", "root-fifth", "walking", "eighths"]


def _pick(rng: random.Random, table: list) -> tuple:
    return table[rng.randrange(len(table))]


def _place(pitch_class: int, centre: int) -> int:
    """The MIDI note of ``pitch_class`` nearest ``centre`` (within [centre - 6, centre + 6))."""
    return centre - 6 + (pitch_class - (centre - 6)) % 12


@dataclass
class Piece:
    bpm: int
    beats: int  # per bar, quarter-note beats
    root: int
    mode: str
    bars: int
    tpb: int = 480
    swing: bool = False
    midi: Midi = field(default_factory=Midi)

    def tick(self, bar: int, beat: float) -> int:
        t = round((bar * self.beats + beat) * self.tpb)
        # swing: off-beat eighths land on the third triplet
        if self.swing and t % self.tpb == self.tpb // 2:
            t += self.tpb // 6
        return t

    @property
    def scale(self) -> list[int]:
        return MODES[self.mode] if self.mode in MODES else HELD_OUT_MODES[self.mode]

    def chord_tones(self, degree: int, seventh: bool) -> list[int]:
        scale = self.scale
        steps = [0, 2, 4, 6] if seventh else [0, 2, 4]
        return [(self.root + scale[(degree + s) % len(scale)]) % 12 for s in steps]

    def degree_pitch(self, degree: int, tonic: int) -> int:
        scale = self.scale  # 7 notes for the default modes; 5 or 6 for some held-out scales
        return tonic + scale[degree % len(scale)] + 12 * (degree // len(scale))


def _melody(piece: Piece, rng: random.Random, chords: list[int], channel: int, centre: int, velocity: int,
            harmony_channel: int | None) -> None:
    """A 2-bar motif, repeated over the chords with small mutations; strong beats snap to chord tones."""
    tonic = _place(piece.root, centre - 3)
    scale = piece.scale
    rhythms = RHYTHMS[piece.beats] if piece.beats in RHYTHMS else HELD_OUT_RHYTHMS[piece.beats]
    motif = [rng.choice(rhythms) for _ in range(2)]
    degree = rng.choice([0, 2, 4])
    for bar in range(piece.bars):
        rhythm = motif[bar % 2] if rng.random() < 0.75 else rng.choice(rhythms)
        if bar % 4 == 3:
            rhythm = [piece.beats]  # phrase end: one long note
        chord = piece.chord_tones(chords[bar], False)
        beat = 0.0
        for length in rhythm:
            degree += rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3])
            degree = min(max(degree, -3), 9)
            if beat == 0 or length >= 2:  # strong beats and long notes rest on the nearest chord tone
                degree += next(d for d in (0, 1, -1, 2, -2, 3)
                               if (piece.root + scale[(degree + d) % len(scale)]) % 12 in chord)
            if rng.random() > 0.08:  # an occasional rest lets the phrase breathe
                start, end = piece.tick(bar, beat), piece.tick(bar, beat + length)
                vel = velocity + (12 if beat == 0 else 0) + rng.randint(-8, 8)
                piece.midi.note(channel, start, int((end - start) * 0.92), piece.degree_pitch(degree, tonic), vel)
                if harmony_channel is not None:  # a parallel line a third below
                    pitch = piece.degree_pitch(degree - 2, tonic)
                    piece.midi.note(harmony_channel, start, int((end - start) * 0.92), pitch, vel - 15)
            beat += length


def _chords(piece: Piece, rng: random.Random, chords: list[int], channel: int, centre: int, velocity: int,
            pattern: str) -> None:
    seventh = rng.random() < 0.3
    b, tpb = piece.beats, piece.tpb
    for bar in range(piece.bars):
        notes = sorted(_place(pc, centre) for pc in piece.chord_tones(chords[bar], seventh))

        def play(beat: float, length: float, pitches: list[int], stagger: int = 0, accent: int = 0) -> None:
            for i, pitch in enumerate(pitches):
                start = piece.tick(bar, beat) + i * stagger
                end = piece.tick(bar, beat + length)
                piece.midi.note(channel, start, end - start - tpb // 16, pitch, velocity + accent + rng.randint(-6, 6))

        if pattern == "sustained":
            play(0, b, notes)
        elif pattern == "half notes":
            for beat in range(0, b, 2):
                play(beat, min(2, b - beat), notes)
        elif pattern == "on the beat":
            for beat in range(b):
                play(beat, 0.9, notes, accent=8 if beat == 0 else 0)
        elif pattern == "off-beat":
            for beat in range(b):
                play(beat + 0.5, 0.4, notes)
        elif pattern == "arpeggiated":
            cycle = notes + [notes[0] + 12] + notes[-2:0:-1]
            for step in range(2 * b):
                play(step / 2, 0.5, [cycle[step % len(cycle)]])
        elif pattern == "broken":  # Alberti bass: low, high, middle, high
            for step in range(2 * b):
                play(step / 2, 0.5, [notes[[0, -1, 1, -1][step % 4]]])
        elif pattern == "tremolo":  # held-out: the chord repeated in sixteenths
            for step in range(4 * b):
                play(step / 4, 0.25, notes, accent=-12 + (10 if step % 4 == 0 else 0))
        elif pattern == "stabs":  # held-out: short syncopated chords every dotted quarter
            for beat in [1.5 * k for k in range(math.ceil(b / 1.5))]:
                play(beat, 0.35, notes, accent=6)
        elif pattern == "rolled":  # held-out: the chord's notes enter one by one, an eighth apart, and ring on
            for i, pitch in enumerate(notes + [notes[0] + 12]):
                play(0.5 * i, b - 0.5 * i, [pitch])
        else:  # strummed: a guitar-like spread of the chord on beats 1 and 3
            for beat in range(0, b, 2):
                play(beat, min(2, b - beat), notes + [notes[0] + 12], stagger=tpb // 24)


def _bass(piece: Piece, rng: random.Random, chords: list[int], channel: int, centre: int, velocity: int,
          pattern: str) -> None:
    b = piece.beats
    for bar in range(piece.bars):
        root, third, fifth = (_place(pc, centre) for pc in piece.chord_tones(chords[bar], False))
        next_root = _place(piece.chord_tones(chords[(bar + 1) % len(chords)], False)[0], centre)
        if pattern == "whole notes":
            line = [(0, b, root)]
        elif pattern == "root-fifth":
            line = [(0, 2, root), (2, b - 2, fifth)] if b == 4 else [(0, 1, root), (1, 1, fifth), (2, 1, fifth)]
        elif pattern == "walking":  # chord tones, then a chromatic approach to the next bar's root
            line = [(beat, 1, pitch) for beat, pitch in enumerate([root, third, fifth][: b - 1])]
            line.append((b - 1, 1, next_root + rng.choice([-1, 1])))
        elif pattern == "octaves":  # held-out: eighths leaping between the root and its octave
            line = [(step / 2, 0.5, root + 12 * (step % 2)) for step in range(2 * b)]
        elif pattern == "pedal":  # held-out: the key's tonic on every beat, whatever the chord
            line = [(beat, 1, _place(piece.root, centre)) for beat in range(b)]
        elif pattern == "dotted":  # held-out: root and fifth on a dotted-quarter grid
            line = [(1.5 * k, min(1.5, b - 1.5 * k), [root, fifth][k % 2]) for k in range(math.ceil(b / 1.5))]
        else:
            line = [(step / 2, 0.5, root) for step in range(2 * b)]
        for beat, length, pitch in line:
            start, end = piece.tick(bar, beat), piece.tick(bar, beat + length)
            piece.midi.note(channel, start, int((end - start) * 0.9), pitch, velocity + rng.randint(-6, 6))


def _drums(piece: Piece, rng: random.Random, style: str, velocity: int, table: dict | None = None) -> None:
    pattern = (DRUMS if table is None else table)[piece.beats][style]
    steps = 4 * piece.beats
    for bar in range(piece.bars):
        hits = {note: list(st) for note, st in pattern.items()}
        if bar % 4 == 3 and rng.random() < 0.5:  # a tom/snare fill into the next phrase
            half = steps // 2
            hits = {n: [s for s in st if s < half] for n, st in hits.items()}
            fill = list(range(half, steps, 1 if piece.bpm < 110 else 2))
            hits[SNARE] = hits.get(SNARE, []) + fill[::2]
            hits[HIGH_TOM] = fill[1::4]
            hits[LOW_TOM] = fill[3::4]
        if bar % 8 == 0:
            hits[CRASH] = [0]
        for note, st in hits.items():
            for step in st:
                accent = 10 if step % 4 == 0 else -6 if step % 2 else 0
                vel = velocity + accent + rng.randint(-8, 8)
                piece.midi.note(9, piece.tick(bar, step / 4), piece.tpb // 4, note, vel)


def compose(seed: str, seconds: float) -> tuple[bytes, str, str, dict]:
    """Compose one piece lasting at least ``seconds``. Returns (MIDI bytes, description, source, parameters)."""
    rng = random.Random(seed)
    beats = rng.choice([4, 4, 4, 3])
    bpm = rng.randrange(64, 172, 2) if beats == 4 else rng.randrange(84, 180, 2)
    style = rng.choice(sorted(DRUMS[beats]))
    ensemble = rng.choice(["solo", "duo", "trio", "band", "band", "band with harmony"])
    bars = math.ceil(seconds * bpm / 60 / beats) + 1  # one spare bar: the clip is cut, never short
    piece = Piece(bpm=bpm, beats=beats, root=rng.randrange(12), mode=rng.choice(sorted(MODES)), bars=bars,
                  swing=style in SWUNG and ensemble.startswith("band"))
    progression = rng.choice(PROGRESSIONS)
    chords = [progression[bar % len(progression)] for bar in range(bars)]
    midi = piece.midi
    midi.tempo(bpm)
    midi.time_signature(beats)

    mel = _pick(rng, MELODY)
    if ensemble == "solo":  # one keyboard or guitar plays both the tune and the chords
        keys = _pick(rng, [c for c in CHORDS if c[0] in {0, 2, 4, 5, 6, 24, 25, 27, 46}])
        mel, chord_inst = (keys[0], keys[1], keys[2] + 12), keys
    else:
        chord_inst = _pick(rng, CHORDS)
    mel_vel = rng.randint(80, 100)
    midi.program(0, mel[0], rng.randint(100, 120))
    harmony = None
    if ensemble == "band with harmony":
        harmony = _pick(rng, MELODY)
        midi.program(1, harmony[0], rng.randint(70, 95))
    _melody(piece, rng, chords, 0, mel[2], mel_vel, 1 if harmony else None)

    sustained = chord_inst[0] in SUSTAINED
    pattern = rng.choice(CHORD_PATTERNS[:3] if sustained else CHORD_PATTERNS)
    midi.program(2, chord_inst[0], rng.randint(70, 95))
    _chords(piece, rng, chords, 2, chord_inst[2], mel_vel - 20, pattern)

    parts = [f"{mel[1]} melody"] + ([f"{harmony[1]} harmony"] if harmony else [])
    parts.append(f"{chord_inst[1]} {pattern} chords")
    source = [f"melody={mel[1]}"] + ([f"harmony={harmony[1]}"] if harmony else []) + [f"chords={chord_inst[1]}"]
    if ensemble in ("trio", "band", "band with harmony"):
        bass = _pick(rng, BASS)
        bass_pattern = rng.choice(BASS_PATTERNS)
        midi.program(3, bass[0], rng.randint(95, 115))
        _bass(piece, rng, chords, 3, bass[2], rng.randint(80, 100), bass_pattern)
        parts.append(f"{bass[1]} {bass_pattern} bass")
        source.append(f"bass={bass[1]}")
    if ensemble.startswith("band"):
        midi.events.append((0, 1, bytes([0xB9, 7, rng.randint(80, 105)])))
        _drums(piece, rng, style, rng.randint(70, 95))
        parts.append(f"{style} drums")
        source.append(f"drums={style}")
    key = f"{KEYS[piece.root]} {piece.mode}"
    description = f"{', '.join(parts[:-1]) + ' and ' + parts[-1] if len(parts) > 1 else parts[0]}; " \
                  f"{key}, {beats}/4, {bpm} BPM"
    source += [f"key={key}", f"meter={beats}/4", f"tempo={bpm}"]
    return midi.to_bytes(), description, "fluidsynth " + "; ".join(source), {"ensemble": ensemble}


# ----------------------------------------------------------------------------------------------------------------------
# --held-out: instruments, scales, metres, tempi, drum kits and textures the composer above never uses

HELD_OUT_MODES = {
    "locrian": [0, 1, 3, 5, 6, 8, 10], "melodic minor": [0, 2, 3, 5, 7, 9, 11],
    "phrygian dominant": [0, 1, 4, 5, 7, 8, 10], "double harmonic": [0, 1, 4, 5, 7, 8, 11],
    "hungarian minor": [0, 2, 3, 6, 7, 8, 11], "major pentatonic": [0, 2, 4, 7, 9],
    "minor pentatonic": [0, 3, 5, 7, 10],
    "blues": [0, 3, 5, 6, 7, 10], "whole tone": [0, 2, 4, 6, 8, 10],
}
HELD_OUT_PROGRESSIONS = [
    [0, 4, 5, 2, 3, 0, 3, 4], [0, 1, 2, 1], [0, 2, 1, 4], [0, 5, 2, 6], [0, 0, 6, 6], [0, 4, 1, 5], [3, 2, 1, 0],
    [0, 2, 5, 3],
]
HELD_OUT_RHYTHMS = {  # odd metres: 5/4 and 7/4, one bar of note lengths in beats
    5: [[1, 1, 1, 1, 1], [1.5, 1.5, 2], [2, 1, 2], [3, 2], [1, 0.5, 0.5, 1, 2], [0.5] * 6 + [2], [2, 3], [5]],
    7: [[2, 2, 3], [1, 1, 1, 1, 1, 2], [3, 2, 2], [1.5, 0.5, 1, 1, 1, 2], [0.5] * 4 + [1, 1, 1, 2], [4, 3], [7]],
}
HELD_OUT_TEMPI = [(40, 64), (182, 222)]  # BPM ranges either side of the default 64-180
HELD_OUT_MELODY = [
    (1, "Bright Acoustic Piano", 72), (3, "Honky-tonk Piano", 72), (7, "Clavinet", 72), (10, "Music Box", 84),
    (14, "Tubular Bells", 72), (15, "Dulcimer", 72), (17, "Percussive Organ", 72), (18, "Rock Organ", 72),
    (20, "Reed Organ", 72), (23, "Tango Accordion", 72), (28, "Electric Guitar (muted)", 64),
    (30, "Distortion Guitar", 64), (53, "Voice Oohs", 72), (59, "Muted Trumpet", 72), (62, "Synth Brass 1", 64),
    (67, "Baritone Sax", 52), (69, "English Horn", 68), (76, "Blown Bottle", 76), (77, "Shakuhachi", 74),
    (78, "Whistle", 84), (82, "Lead 3 (calliope)", 72), (83, "Lead 4 (chiff)", 72), (84, "Lead 5 (charang)", 64),
    (85, "Lead 6 (voice)", 72), (106, "Shamisen", 64), (107, "Koto", 66), (109, "Bagpipe", 70), (110, "Fiddle", 76),
    (111, "Shanai", 72),
]
HELD_OUT_CHORDS = [
    (1, "Bright Acoustic Piano", 60), (3, "Honky-tonk Piano", 60), (7, "Clavinet", 60), (15, "Dulcimer", 60),
    (17, "Percussive Organ", 60), (18, "Rock Organ", 60), (20, "Reed Organ", 60), (28, "Electric Guitar (muted)", 57),
    (44, "Tremolo Strings", 60), (45, "Pizzicato Strings", 60), (51, "Synth Strings 2", 60), (53, "Voice Oohs", 62),
    (54, "Synth Voice", 62), (62, "Synth Brass 1", 60), (63, "Synth Brass 2", 60), (91, "Pad 4 (choir)", 60),
    (92, "Pad 5 (bowed)", 60), (93, "Pad 6 (metallic)", 60), (95, "Pad 8 (sweep)", 60), (107, "Koto", 60),
]
HELD_OUT_SUSTAINED = {18, 20, 44, 51, 53, 54, 62, 63, 91, 92, 93, 95}
HELD_OUT_BASS = [
    (37, "Slap Bass 2", 38), (87, "Lead 8 (bass + lead)", 38), (47, "Timpani", 45), (67, "Baritone Sax", 40),
    (45, "Pizzicato Strings", 40),
]
# drum kits (bank 128 presets of FluidR3_GM) other than the Standard kit the default build plays
HELD_OUT_KITS = [(8, "Room"), (16, "Power"), (24, "Electronic"), (25, "TR-808"), (32, "Jazz"), (40, "Brush"),
                 (48, "Orchestra")]
COWBELL, HI_BONGO, LO_BONGO, MUTE_CONGA, OPEN_CONGA, LOW_CONGA, CABASA, CLAVES, HI_WOOD, LO_WOOD, SHAKER = (
    56, 60, 61, 62, 63, 64, 69, 75, 76, 77, 82)
HELD_OUT_DRUMS = {  # 16th-note grids of 20 and 28 steps
    5: {
        "five (3+2)": {KICK: [0, 12], SNARE: [6, 16], HAT: list(range(0, 20, 2)), COWBELL: [0, 12]},
        "five (2+3)": {KICK: [0, 8, 14], SNARE: [4, 16], RIDE: list(range(0, 20, 4)), PEDAL_HAT: [4, 12]},
        "five hand percussion": {LOW_CONGA: [0, 12], OPEN_CONGA: [6, 16, 18], MUTE_CONGA: [3, 9, 15],
                                 CLAVES: [0, 6, 12, 16], SHAKER: list(range(0, 20, 2))},
    },
    7: {
        "seven (2+2+3)": {KICK: [0, 8, 16], SNARE: [4, 12, 22], HAT: list(range(0, 28, 2))},
        "seven (3+2+2)": {KICK: [0, 12, 20], SNARE: [6, 16, 24], RIDE: list(range(0, 28, 4)), COWBELL: [0]},
        "seven hand percussion": {LO_BONGO: [0, 8, 16], HI_BONGO: [2, 4, 10, 12, 18, 20, 24],
                                  CABASA: list(range(0, 28, 2)), HI_WOOD: [0, 8, 16, 22], LO_WOOD: [26]},
    },
}
HELD_OUT_CHORD_PATTERNS = ["tremolo", "stabs", "rolled"]
HELD_OUT_BASS_PATTERNS = ["octaves", "pedal", "dotted"]
HELD_OUT_TEXTURES = ["canon", "call and response", "drone", "doubled in octaves", "melody and rhythm section"]


def held_out_music_pools() -> dict:
    """What a --held-out build plays: instruments, kits, scales, metres, tempi, textures (for the card and report)."""
    return {
        "music_programs": sorted({program for program, _, _ in HELD_OUT_MELODY + HELD_OUT_CHORDS + HELD_OUT_BASS}),
        "drum_kits": [name for _, name in HELD_OUT_KITS],
        "modes": sorted(HELD_OUT_MODES),
        "metres": [f"{b}/4" for b in sorted(HELD_OUT_RHYTHMS)],
        "tempo_bpm": [list(r) for r in HELD_OUT_TEMPI],
        "textures": list(HELD_OUT_TEXTURES),
        "drum_styles": sorted(s for styles in HELD_OUT_DRUMS.values() for s in styles),
        "chord_patterns": list(HELD_OUT_CHORD_PATTERNS),
        "bass_patterns": list(HELD_OUT_BASS_PATTERNS),
    }


def compose_held_out(seed: str, seconds: float) -> tuple[bytes, str, str, dict]:
    """Like ``compose``, but every instrument, scale, metre, tempo, drum kit, pattern and texture comes from the
    held-out pools above, none of which ``compose`` ever draws."""
    rng = random.Random(seed)
    beats = rng.choice(sorted(HELD_OUT_RHYTHMS))
    bpm = rng.randrange(*rng.choice(HELD_OUT_TEMPI), 2)
    texture = rng.choice(HELD_OUT_TEXTURES)
    bars = math.ceil(seconds * bpm / 60 / beats) + 1  # one spare bar: the clip is cut, never short
    piece = Piece(bpm=bpm, beats=beats, root=rng.randrange(12), mode=rng.choice(sorted(HELD_OUT_MODES)), bars=bars)
    progression = [0] if texture == "drone" else rng.choice(HELD_OUT_PROGRESSIONS)
    chords = [progression[bar % len(progression)] for bar in range(bars)]
    midi = piece.midi
    midi.tempo(bpm)
    midi.time_signature(beats)

    mel = _pick(rng, HELD_OUT_MELODY)
    mel_vel = rng.randint(80, 100)
    midi.program(0, mel[0], rng.randint(100, 120))
    first = len(midi.events)
    _melody(piece, rng, chords, 0, mel[2], mel_vel, None)
    parts, source = [f"{mel[1]} melody"], [f"melody={mel[1]}"]

    if texture in ("canon", "call and response", "doubled in octaves"):
        notes, del_first = midi.events[first:], []  # the melody's notes only, before anything else is added
        second = _pick(rng, [m for m in HELD_OUT_MELODY if m[0] != mel[0]])
        midi.program(1, second[0], rng.randint(85, 110))
        octave = 12 * round((second[2] - mel[2]) / 12)
        # canon delay and call/response turns, in ticks: short enough that a clip of a few seconds holds both voices
        turn = (1 if bpm < 100 else 2) * piece.tpb if texture == "canon" else (2 if bpm < 100 else beats) * piece.tpb
        for (on_tick, _, on), (off_tick, _, _) in zip(notes[::2], notes[1::2]):  # _melody adds (on, off) pairs
            pitch, vel = on[1], on[2]
            if texture == "canon":  # the second voice follows one or two beats behind
                midi.note(1, on_tick + turn, off_tick - on_tick, pitch + octave, vel - 8)
            elif texture == "doubled in octaves":
                midi.note(1, on_tick, off_tick - on_tick, pitch + (octave or -12), vel - 10)
            elif (on_tick // turn) % 2:  # call and response: the second voice takes every other turn
                del_first.append(on_tick)
                midi.note(1, on_tick, off_tick - on_tick, pitch + octave, vel)
        if del_first:
            answered = set(del_first)
            kept = [pair for pair in zip(notes[::2], notes[1::2]) if pair[0][0] not in answered]
            midi.events[first:first + len(notes)] = [event for pair in kept for event in pair]
        role = {"canon": "canon", "call and response": "answer", "doubled in octaves": "octave doubling"}[texture]
        parts.append(f"{second[1]} {role}")
        source.append(f"second={second[1]}")

    if texture in ("canon", "call and response"):
        chord_inst = _pick(rng, HELD_OUT_CHORDS)
        patterns = ["tremolo", "rolled"] if chord_inst[0] in HELD_OUT_SUSTAINED else HELD_OUT_CHORD_PATTERNS
        pattern = rng.choice(patterns)
        midi.program(2, chord_inst[0], rng.randint(70, 95))
        _chords(piece, rng, chords, 2, chord_inst[2], mel_vel - 20, pattern)
        parts.append(f"{chord_inst[1]} {pattern} chords")
        source.append(f"chords={chord_inst[1]}")
    elif texture == "drone":  # the tonic (and the fifth, where the scale has one) held under the whole piece
        drone = _pick(rng, [c for c in HELD_OUT_CHORDS if c[0] in HELD_OUT_SUSTAINED])
        midi.program(2, drone[0], rng.randint(60, 85))
        tonic = _place(piece.root, drone[2] - 12)
        for bar in range(0, bars, 2):
            start, end = piece.tick(bar, 0), piece.tick(min(bar + 2, bars), 0)
            for pitch in (tonic, tonic + (7 if 7 in piece.scale else 12)):
                midi.note(2, start, end - start - piece.tpb // 16, pitch, mel_vel - 25 + rng.randint(-4, 4))
        parts.append(f"{drone[1]} drone")
        source.append(f"drone={drone[1]}")

    if texture in ("call and response", "doubled in octaves", "melody and rhythm section"):
        bass = _pick(rng, HELD_OUT_BASS)
        bass_pattern = rng.choice(HELD_OUT_BASS_PATTERNS)
        midi.program(3, bass[0], rng.randint(95, 115))
        _bass(piece, rng, chords, 3, bass[2], rng.randint(80, 100), bass_pattern)
        parts.append(f"{bass[1]} {bass_pattern} bass")
        source.append(f"bass={bass[1]}")
    if texture != "canon":
        kit = _pick(rng, HELD_OUT_KITS)
        styles = sorted(HELD_OUT_DRUMS[beats])
        style = next(s for s in styles if "hand" in s) if texture == "drone" else rng.choice(styles)
        midi.program(9, kit[0], rng.randint(80, 105))
        _drums(piece, rng, style, rng.randint(70, 95), HELD_OUT_DRUMS)
        parts.append(f"{style} drums ({kit[1]} kit)")
        source.append(f"drums={style}; kit={kit[1]}")
    key = f"{KEYS[piece.root]} {piece.mode}"
    description = f"{', '.join(parts[:-1]) + ' and ' + parts[-1] if len(parts) > 1 else parts[0]}; " \
                  f"{key}, {beats}/4, {bpm} BPM, {texture}"
    source += [f"key={key}", f"meter={beats}/4", f"tempo={bpm}", f"texture={texture}"]
    return midi.to_bytes(), description, "fluidsynth " + "; ".join(source), {"ensemble": texture}


# ----------------------------------------------------------------------------------------------------------------------
# planning and rendering


class MusicPlanner:
    """Plans music clips: a seeded length each, and a piece composed from its own seed (``compose`` or, with
    ``held_out``, ``compose_held_out``)."""

    def __init__(self, seed: int, clip_seconds: tuple[float, float], soundfont: str, held_out: bool = False):
        self.seed, self.clip_seconds, self.soundfont, self.held_out = seed, clip_seconds, soundfont, held_out
        self.prefix = f"whisper-gpt-corpus/{'held-out/' if held_out else ''}{seed}/music"
        self.rng = random.Random(self.prefix)
        self.next_index = 0

    def plan(self, seconds: float) -> list[Clip]:
        clips, planned = [], 0.0
        while planned < seconds:
            length = round(self.rng.uniform(*self.clip_seconds), 2)
            # each piece has its own RNG stream: piece i is the same whatever the corpus size
            midi, text, source, extra = (compose_held_out if self.held_out else compose)(
                f"{self.prefix}/{self.next_index}", length)
            params = dict(midi=midi, seconds=length, soundfont=self.soundfont,
                          peak_db=round(self.rng.uniform(-6.0, -1.0), 2), **extra)
            clips.append(Clip("music", self.next_index, text, source, params))
            self.next_index += 1
            planned += length
        return clips


def render_music(clip: Clip) -> Clip:
    """Render ``clip``'s piece (its ``params``: the MusicPlanner's plan, MIDI bytes included) with fluidsynth."""
    plan = clip.params
    with tempfile.TemporaryDirectory(prefix="wgpt-music-") as tmp:
        mid, raw = os.path.join(tmp, "piece.mid"), os.path.join(tmp, "piece.raw")
        Path(mid).write_bytes(plan["midi"])
        # -R 0 -C 0: no reverb/chorus (keeps the render dry and the bytes reproducible); float output: no dither
        _run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(SAMPLE_RATE),
              "-o", "synth.cpu-cores=1", "-O", "float", "-T", "raw", "-E", "little", "-F", raw, plan["soundfont"],
              mid])
        stereo = np.fromfile(raw, dtype="<f4").reshape(-1, 2)
    audio = stereo.mean(axis=1)[: round(plan["seconds"] * SAMPLE_RATE)]
    clip.flac, clip.seconds = _finish(audio, plan["peak_db"])
    return clip


__all__ = [
    "BASS",
    "BASS_PATTERNS",
    "CHORDS",
    "CHORD_PATTERNS",
    "DRUMS",
    "HELD_OUT_BASS",
    "HELD_OUT_BASS_PATTERNS",
    "HELD_OUT_CHORDS",
    "HELD_OUT_CHORD_PATTERNS",
    "HELD_OUT_DRUMS",
    "HELD_OUT_KITS",
    "HELD_OUT_MELODY",
    "HELD_OUT_MODES",
    "HELD_OUT_PROGRESSIONS",
    "HELD_OUT_RHYTHMS",
    "HELD_OUT_TEMPI",
    "HELD_OUT_TEXTURES",
    "KEYS",
    "MELODY",
    "MODES",
    "PROGRESSIONS",
    "RHYTHMS",
    "MusicPlanner",
    "Piece",
    "compose",
    "compose_held_out",
    "held_out_music_pools",
    "render_music",
]
