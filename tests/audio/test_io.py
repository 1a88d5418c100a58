"""Audio files (`whisper_gpt_hf.audio.io`): atomic WAV writes with unique temporary names (probe rows 6.02, 1.76) and
clear errors for missing or unreadable inputs (1.67, 1.65/1.66). The downmix rule for files is in test_stereo_rule.py.
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import soundfile as sf
from helpers import SR

from whisper_gpt_hf.audio.io import load_audio, read_audio, save_audio

ROUNDS = 60


def _writer(path: str, value: float, queue) -> None:
    failures, bad_reads = 0, 0
    for _ in range(ROUNDS):
        try:
            save_audio(path, np.full(4800, value, np.float32), SR)
            audio, _ = sf.read(path, dtype="float32")
            # what was read is one writer's whole file, never a mix or a truncated one
            if len(audio) != 4800 or not (np.all(audio == audio[0]) and audio[0] in (np.float32(0.25), -0.5)):
                bad_reads += 1
        except Exception:  # noqa: BLE001  (counted: the probe saw FileNotFoundError from the shared '.tmp' name)
            failures += 1
    queue.put((failures, bad_reads))


def test_concurrent_writers_never_fail_or_leave_a_partial_file(tmp_path):
    """Probe 6.02: with one fixed `<out>.tmp` name, 84/300 and 166/300 writes failed and reads saw truncated files."""
    path = str(tmp_path / "race.wav")
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, value, queue)) for value in (0.25, -0.5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    results = [queue.get(timeout=10) for _ in procs]
    assert results == [(0, 0), (0, 0)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.wav"]  # no temporary file left behind


def test_a_folder_as_output_is_refused_without_a_stray_file(tmp_path):
    """Probe 1.76: IsADirectoryError "'gen.tmp' -> 'gen'" and a stray gen.tmp."""
    (tmp_path / "gen").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder; pass a file name"):
        save_audio(tmp_path / "gen", np.zeros(100, np.float32), SR)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.wav"
    save_audio(path, np.full(100, 0.5, np.float32), SR)
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_audio(path, np.zeros(100, np.float32), -1)  # an invalid rate: soundfile refuses mid-write
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_written_wav_is_16_bit_clipped_and_readable(tmp_path):
    path = tmp_path / "a" / "b.wav"  # parent folders are created
    save_audio(path, np.array([0.0, 0.5, 2.0, -3.0], np.float32), SR)
    info = sf.info(path)
    assert (info.samplerate, info.subtype, info.frames) == (SR, "PCM_16", 4)
    np.testing.assert_allclose(load_audio(path, SR), [0.0, 0.5, 32767 / 32768, -1.0], atol=1e-4)


def test_missing_and_unreadable_inputs_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):  # probe 1.67: 'System error.'
        read_audio(tmp_path / "nope.wav")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        read_audio(tmp_path)
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(ValueError, match=r"Cannot read audio file .*text\.wav"):
        read_audio(tmp_path / "text.wav")
