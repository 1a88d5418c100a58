"""Preparation at scale (`whisper_gpt_hf.data.prepare_dataset`, `whisper-gpt prepare`): float16 storage within its
documented bound, batched vs per-clip encoding, 1 vs 2 processes (threads sharing a cache, and a real `accelerate
launch`), an interrupted preparation rerun from its finished shards, reconstruction features, cache keys, and
`train` / `evaluate` reading a prepared folder. Everything runs on a few seconds of audio in tmp folders."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import HOP, SR, test_audio, tiny_config, tiny_processor

from whisper_gpt_hf.data import preparation as data_module
from whisper_gpt_hf.cli import main as cli_main
from whisper_gpt_hf.data import (
    FLOAT16_ABSOLUTE_ERROR,
    FLOAT16_RELATIVE_ERROR,
    load_audio_dataset,
    load_prepared,
    load_prepared_split,
    prepare_dataset,
    processor_fingerprint,
)

REPO = Path(__file__).resolve().parents[2]
WINDOW, MIN_FRAMES = 32, 8
# clip lengths in samples: whole and partial frames, one clip too short (skipped), one undecodable file
LENGTHS = [75 * HOP, 90 * HOP + 17, 40 * HOP, 70 * HOP - 5, 3 * HOP, 55 * HOP + 300, 81 * HOP, 33 * HOP + 1]


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """An audiofolder: `train/` (8 clips, one too short, + a corrupt file) and `validation/` (2 clips)."""
    root = tmp_path_factory.mktemp("prepare")
    for split, lengths in (("train", LENGTHS), ("validation", [50 * HOP, 64 * HOP + 9])):
        (root / split).mkdir()
        rows = []
        for i, n in enumerate(lengths):
            name = f"{split}-{i}.wav"
            sf.write(root / split / name, test_audio(3.0, 20 * len(split) + i)[:n], SR)
            rows.append(f"{name},{'speech' if i % 2 else 'music'}\n")
        if split == "train":
            (root / split / "zz-corrupt.wav").write_bytes(b"RIFF....WAVEfmt " + bytes(64))
            rows.append("zz-corrupt.wav,music\n")
        (root / split / "metadata.csv").write_text("file_name,category\n" + "".join(rows))
    return root


def raw_train(folder, streaming: bool = False):
    return load_audio_dataset(str(folder), split="train", streaming=streaming)


def prepare(folder, processor, **kwargs):
    kwargs = {"window_frames": WINDOW, "min_frames": MIN_FRAMES, "batch_size": 3, "progress": False, **kwargs}
    return prepare_dataset(raw_train(folder, kwargs.pop("streaming", False)), processor, **kwargs)


@pytest.fixture(scope="module")
def reference(folder, processor):
    """One process, no cache, float16, per-clip encoding: what every other way of preparing must reproduce."""
    return prepare(folder, processor, batched_encoding=False)


def as_arrays(dataset):
    return [(r["clip_id"], r["start_frame"], np.asarray(r["input_ids"]), np.asarray(r["input_features"], np.float32),
             r["category"]) for r in dataset]


def test_float16_storage_is_within_the_documented_bound_of_float32(folder, processor, reference):
    half, _ = reference
    full, _ = prepare(folder, processor, feature_dtype="float32")
    assert half.features["input_features"].feature.feature.dtype == "float16"
    assert full.features["input_features"].feature.feature.dtype == "float32"
    worst = 0.0
    for h, f in zip(as_arrays(half), as_arrays(full), strict=True):
        assert h[:2] == f[:2] and h[4] == f[4]
        np.testing.assert_array_equal(h[2], f[2])  # codes exactly
        np.testing.assert_allclose(h[3], f[3], rtol=FLOAT16_RELATIVE_ERROR, atol=FLOAT16_ABSOLUTE_ERROR)
        worst = max(worst, float(np.abs(h[3] - f[3]).max()))
    assert 0 < worst <= FLOAT16_RELATIVE_ERROR * 3  # really rounded, and by no more than the bound at |x| <= 3
    # float32 storage is the processor's own output, as before
    wave, _ = sf.read(folder / "train" / "train-1.wav", dtype="float32")
    ref = processor(audio=wave, sampling_rate=SR)
    rows = [r for r in full if r["clip_id"].endswith("train-1.wav")]
    feats = np.concatenate([np.asarray(r["input_features"], np.float32) for r in rows])
    np.testing.assert_allclose(feats, ref["input_features"][0, : len(feats)].numpy(), rtol=0, atol=1e-6)


def test_batched_encoding_gives_the_per_clip_examples(folder, processor, reference):
    """Length-bucketed batches of clips in one codec call: the codes of every clip equal `processor.encode` of
    the clip alone, so the prepared examples are identical."""
    batched, report = prepare(folder, processor, batched_encoding=True, batch_size=4)
    assert batched.to_list() == reference[0].to_list() and report == reference[1]
    # The trained codec (real, well separated codes): most clips take the one-call result, the few with a frame
    # near a tie between two codes are re-encoded alone; either way every code equals the clip encoded alone.
    from whisper_gpt_hf.assets import default_processor

    trained = default_processor()
    clips = [test_audio(3.0, s)[: 24000 + 4001 * s] for s in range(8)]  # 8 lengths, most not whole frames
    for proc in (processor, trained):
        stats = {}
        one_call = data_module._encode_codes_batched(proc, clips, stats)
        for clip, codes in zip(clips, one_call, strict=True):
            np.testing.assert_array_equal(codes, proc.encode([clip])[0].numpy())
    assert stats["clips"] == 8 and stats["re_encoded"] <= 4


def _two_processes(run):
    """Run `run(process_index)` for process 1 in a thread and process 0 here, as two launched processes would."""
    results, errors = {}, []

    def worker():
        try:
            results[1] = run(1)
        except Exception as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    results[0] = run(0)
    thread.join(timeout=120)
    assert not errors, errors
    return results


def test_two_processes_prepare_the_examples_of_one(folder, processor, reference, tmp_path):
    """Each process encodes every other shard of 2 clips, the main one merges: the examples equal those of one
    process, in the same order, and the merged report lists the skipped clips of every shard."""
    results = _two_processes(lambda rank: prepare(folder, processor, cache_dir=tmp_path, desc="train",
                                                  process_index=rank, num_processes=2, shard_size=2))
    for rank in (0, 1):
        dataset, report = results[rank]
        assert dataset.to_list() == reference[0].to_list()
        assert report == reference[1]
    reasons = {os.path.basename(name): reason for name, reason in reference[1].skipped}
    assert set(reasons) == {"train-4.wav", "zz-corrupt.wav"} and reasons["train-4.wav"].startswith("too short")
    assert reference[1].num_clips == len(LENGTHS) + 1
    (target,) = [p for p in tmp_path.iterdir()]
    assert target.name.startswith("train-") and sorted(os.listdir(target)) == [
        "dataset", "preparation_report.json", "prepare_config.json"]  # the shards are merged and removed


@pytest.mark.parametrize("rows, processes, shard_size", [(9, 2, 2), (600, 2, 256), (1000, 3, 256), (9, 1, 2),
                                                         (600, 1, 256), (0, 2, 4)])
def test_every_process_gets_as_many_clips(rows, processes, shard_size):
    """Shards come in a multiple of the processes, so none works through a last round alone: 600 clips in shards of
    256 on 2 processes used to be 3 shards (512 clips for one process, 88 for the other: 1.2x at best); one process
    keeps ceil(rows / shard_size) shards, the layout a single-process rerun reuses."""
    count = data_module._num_index_shards(rows, processes, shard_size)
    assert count % processes == 0
    bounds = [data_module._shard_bounds(rows, count, s) for s in range(count)]
    assert bounds[0][0] == 0 and bounds[-1][1] == rows and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert all(end - start <= shard_size for start, end in bounds)
    per_process = [sum(end - start for start, end in bounds[r::processes]) for r in range(processes)]
    assert max(per_process) - min(per_process) <= 1
    if processes == 1:
        assert count == max(1, -(-rows // shard_size))


def test_waiting_for_another_process_ends_soon_after_its_file_appears(tmp_path):
    """The file-system wait polls every 5 ms at first, backing off to 0.2 s: a 2-process preparation used to lose up
    to 1 s in each of its two waits (a fixed 1 s poll), which on a short run made 2 processes slower than 1."""
    flag, touched = tmp_path / "shard-done", {}

    def finish():
        flag.touch()
        touched["at"] = time.monotonic()

    timer = threading.Timer(0.3, finish)
    timer.start()
    data_module._wait_for(flag.exists, "the test's flag")
    returned = time.monotonic()
    timer.join()
    assert flag.exists() and returned - touched["at"] < 0.5  # a 1 s poll returns ~0.7 s after the touch


def test_two_independent_runs_preparing_the_same_data_at_once_both_finish(folder, processor, reference, tmp_path,
                                                                          monkeypatch):
    """Two single-process runs on one dataset and cache (a hybrid and a gpt-s run started together): the one that
    merges first removes the shared work folder; the other must use its result instead of waiting forever for
    shards that are gone (found when the two runs of scripts/outside_check.sh hung). Run "b" is held back until
    run "a" has merged, which is the order that hung."""
    results, errors = {}, []
    original, calls = data_module._prepare_examples, {"b": 0}

    def held_back(*args, **kwargs):  # "b" stops in its second shard until "a" has merged and cleaned up
        if threading.current_thread().name == "b":
            calls["b"] += 1
            deadline = time.time() + 60
            while calls["b"] == 2 and time.time() < deadline and not any(
                    p.is_dir() and not p.name.endswith(".partial") and ".tmp-" not in p.name for p in tmp_path.iterdir()):
                time.sleep(0.05)
        return original(*args, **kwargs)

    monkeypatch.setattr(data_module, "_prepare_examples", held_back)

    def worker(name, shard_size):
        try:
            results[name] = prepare(folder, processor, cache_dir=tmp_path, desc="train", shard_size=shard_size)
        except Exception as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(name, 1), name=name, daemon=True) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a preparation is still waiting for shards that are gone"
    assert not errors, errors
    for name in ("a", "b"):
        assert results[name][0].to_list() == reference[0].to_list()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_two_processes_split_a_stream_by_node(folder, processor, reference, tmp_path):
    """Streaming: `split_dataset_by_node` gives each process its part; the merged examples are those of one process
    (rank by rank, so compared clip by clip)."""
    results = _two_processes(lambda rank: prepare(folder, processor, streaming=True, cache_dir=tmp_path,
                                                  cache_key="stream", process_index=rank, num_processes=2,
                                                  shard_size=2))
    key = lambda r: (r["clip_id"], r["start_frame"])  # noqa: E731
    expected = sorted(reference[0].to_list(), key=key)
    for rank in (0, 1):
        dataset, report = results[rank]
        assert sorted(dataset.to_list(), key=key) == expected
        assert report.num_clips == reference[1].num_clips and report.num_examples == reference[1].num_examples
        assert sorted(report.skipped) == sorted(reference[1].skipped)


def test_an_interrupted_preparation_reruns_only_unfinished_shards(folder, processor, reference, tmp_path,
                                                                  monkeypatch):
    """Shards are written atomically as they finish: after a crash in the 4th shard, a rerun encodes only the clips
    of the unfinished shards, leaves the finished ones untouched and ends with the same examples."""
    encode = data_module.encode_clips
    encoded = []

    def counting(processor, clips, *args, **kwargs):
        if len(encoded) == 6 and crash:
            raise KeyboardInterrupt("killed")  # what a kill leaves: no partial shard is ever visible
        encoded.extend(len(c) for c in clips)
        return encode(processor, clips, *args, **kwargs)

    monkeypatch.setattr(data_module, "encode_clips", counting)
    crash = True
    kwargs = dict(cache_dir=tmp_path, desc="train", batch_size=1, shard_size=2)
    with pytest.raises(KeyboardInterrupt):
        prepare(folder, processor, **kwargs)
    (work,) = [p for p in tmp_path.iterdir()]
    assert work.name.endswith(".partial")
    finished = sorted(p.name for p in work.iterdir() if p.name.startswith("shard-"))
    assert finished == ["shard-00000-of-00005", "shard-00001-of-00005", "shard-00002-of-00005"]
    stamps = {name: os.stat(work / name / "preparation_report.json").st_mtime_ns for name in finished}
    crash, first_run = False, len(encoded)
    merge = data_module._merge_shards

    def checking_merge(work_dir, *args):  # just before merging: the reused shards are the files of the first run
        assert {n: os.stat(Path(work_dir) / n / "preparation_report.json").st_mtime_ns for n in finished} == stamps
        return merge(work_dir, *args)

    monkeypatch.setattr(data_module, "_merge_shards", checking_merge)
    dataset, report = prepare(folder, processor, **kwargs)
    # shards 0-2 (clips 0-5; train-4 too short) are reused; the crash lost one clip of shard 3, and the rerun
    # encodes the clips of shards 3-4 only: train-6 and train-7 (shard 4 is the corrupt file)
    assert first_run == 6 and sorted(encoded[first_run:]) == sorted([LENGTHS[6], LENGTHS[7]])  # length-bucketed
    assert dataset.to_list() == reference[0].to_list() and report == reference[1]
    assert not work.exists() and stamps  # merged, then the shards were removed


def test_accelerate_launch_two_processes_match_one(folder, tmp_path):
    """`accelerate launch` (2 CPU processes) of `whisper-gpt prepare` writes the examples one process writes."""
    tiny_processor().save_pretrained(tmp_path / "processor")
    args = ["prepare", "--dataset", str(folder), "--processor", str(tmp_path / "processor"), "--window-frames",
            str(WINDOW), "--min-frames", str(MIN_FRAMES), "--shard-size", "2", "--quiet"]
    assert cli_main([*args, "--output-dir", str(tmp_path / "one")]) == 0
    port = 29500 + os.getpid() % 1000
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "configs" / "accelerate" / "cpu_2proc.yaml"), "--main_process_port", str(port),
           "-m", "whisper_gpt_hf.cli", *args, "--output-dir", str(tmp_path / "two")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for split in ("train", "validation"):
        one, one_report = load_prepared(tmp_path / "one" / split)
        two, two_report = load_prepared(tmp_path / "two" / split)
        assert len(one) > 0 and one.to_list() == two.to_list() and one_report == two_report


def test_reconstruction_features_are_the_mel_of_the_decoded_codes(folder, processor, reference, tmp_path):
    """`features_from="reconstruction"`: the front end run on `processor.decode` of the clip's own codes (what
    generation feeds the model), trimmed to the clip's frames; other features than the audio's, another cache."""
    rec, _ = prepare(folder, processor, features_from="reconstruction", feature_dtype="float32",
                     batched_encoding=False)
    audio = {(r[0], r[1]): r for r in as_arrays(reference[0])}
    fe = processor.feature_extractor
    clips: dict[str, list] = {}
    for row in as_arrays(rec):
        clips.setdefault(row[0], []).append(row)
    for name, rows in clips.items():
        codes = np.concatenate([r[2] for r in rows])
        feats = np.concatenate([r[3] for r in rows])
        decoded = processor.decode(torch.as_tensor(codes))
        assert len(decoded) == len(codes) * HOP
        expected = fe(decoded, sampling_rate=SR, return_tensors="np")["input_features"][0, : len(codes)]
        np.testing.assert_allclose(feats, expected, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(codes, np.concatenate([audio[(name, r[1])][2] for r in rows]))
        from_audio = np.concatenate([audio[(name, r[1])][3] for r in rows])
        assert np.abs(feats - from_audio).mean() > 0.02  # the codec's decode is not the audio
    # batched decoding matches to float rounding (well inside the float16 bound)
    batched, _ = prepare(folder, processor, features_from="reconstruction", feature_dtype="float32",
                         batched_encoding=True)
    for b, r in zip(as_arrays(batched), as_arrays(rec), strict=True):
        np.testing.assert_array_equal(b[2], r[2])
        np.testing.assert_allclose(b[3], r[3], rtol=0, atol=1e-4)
    # part of the cache key: the two kinds never share a cache entry
    prepare(folder, processor, cache_dir=tmp_path, desc="train")
    prepare(folder, processor, cache_dir=tmp_path, desc="train", features_from="reconstruction")
    assert len({p.name for p in tmp_path.iterdir()}) == 2


def test_float32_audio_keeps_the_version_1_cache_key(folder, processor, tmp_path):
    """Caches written before float16 storage existed hold float32 audio features under the version-1 key; that
    preparation keeps the key (and reuses them), every other one gets a new key."""
    from whisper_gpt_hf.data import source_cache_key

    key = source_cache_key(str(folder), None, "train")
    old = {"data": key, "processor": processor_fingerprint(processor), "window_frames": WINDOW,
           "min_frames": MIN_FRAMES, "audio_column": "audio", "category_column": "category", "id_column": "id",
           "version": 1}
    digest = hashlib.sha256(json.dumps(old, sort_keys=True, default=str).encode()).hexdigest()[:16]
    for dtype in ("float32", "float16"):
        prepare(folder, processor, cache_dir=tmp_path, cache_key=key, desc="train", feature_dtype=dtype)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert f"train-{digest}" in names and len(names) == 2


def test_a_prepared_folder_with_other_settings_is_refused(folder, processor, tmp_path):
    prepare(folder, processor, output_dir=tmp_path / "P" / "train", cache_key="k")
    again, _ = prepare(folder, processor, output_dir=tmp_path / "P" / "train", cache_key="k")
    assert len(again) > 0
    with pytest.raises(ValueError, match="other settings"):
        prepare(folder, processor, output_dir=tmp_path / "P" / "train", cache_key="k", window_frames=16)
    with pytest.raises(ValueError, match="features-from"):
        load_prepared_split(tmp_path / "P", "train", processor, features_from="reconstruction")
    with pytest.raises(ValueError, match="window-frames"):
        load_prepared_split(tmp_path / "P", "train", processor, max_window_frames=16)
    with pytest.raises(FileNotFoundError, match="prepare"):
        load_prepared_split(tmp_path / "P", "test", processor)
    with pytest.raises(ValueError, match="another processor"):
        load_prepared_split(tmp_path / "P", "train", tiny_processor(n_mels=8))
    with pytest.raises(ValueError, match="cache_dir"):
        prepare(folder, processor, process_index=1, num_processes=2)


def test_train_and_evaluate_read_a_prepared_folder(folder, tmp_path, capsys):
    tiny_processor().save_pretrained(tmp_path / "processor")
    prepared = tmp_path / "P"
    assert cli_main(["prepare", "--dataset", str(folder), "--processor", str(tmp_path / "processor"), "--output-dir",
                     str(prepared), "--window-frames", str(WINDOW), "--min-frames", str(MIN_FRAMES), "--quiet"]) == 0
    arch = {k: v for k, v in tiny_config().to_dict().items()
            if k in ("spectrogram_hidden_size", "spectrogram_num_layers", "spectrogram_num_heads",
                     "spectrogram_intermediate_size", "token_embedding_size", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "intermediate_size", "tie_word_embeddings")}
    out = tmp_path / "run"
    assert cli_main(["train", "--prepared", str(prepared), "--preset", "hybrid-4m", "--processor",
                     str(tmp_path / "processor"), "--model-overrides", json.dumps({**arch, "max_position_embeddings": 64}),
                     "--window-frames", str(WINDOW), "--batch-size", "2", "--max-steps", "2", "--warmup-steps", "1",
                     "--report-to", "none", "--output-dir", str(out)]) == 0
    report = json.loads((out / "preparation_report-train.json").read_text())
    assert report == json.loads((prepared / "train" / "preparation_report.json").read_text())
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["step"] == 2 and summary["eval/tokens"] > 0  # the validation split came from the folder too
    capsys.readouterr()
    assert cli_main(["evaluate", "--model", str(out), "--prepared", str(prepared), "--split", "validation",
                     "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    dataset, _ = load_prepared(prepared / "validation")
    assert result["results"][0]["num_tokens"] == sum(n - 1 for n in dataset["length"])
    with pytest.raises(ValueError, match="features-from"):
        cli_main(["evaluate", "--model", str(out), "--prepared", str(prepared), "--split", "validation",
                  "--features-from", "reconstruction"])


def test_sigkill_mid_run_then_rerun_reuses_the_finished_shards(tmp_path):
    """A real `kill -9` of `whisper-gpt prepare` after some shards (it may leave a half-written `.tmp-` folder):
    the same command run again ends with exactly what an uninterrupted run writes. (That the rerun reuses the
    finished shards rather than redoing them is checked in-process above.)"""
    import signal
    import time

    from whisper_gpt_hf.assets import default_processor

    (tmp_path / "d" / "train").mkdir(parents=True)
    for i in range(16):
        sf.write(tmp_path / "d" / "train" / f"c{i:02d}.wav", test_audio(3.0, i), SR)
    default_processor().save_pretrained(tmp_path / "processor")
    args = [sys.executable, "-m", "whisper_gpt_hf.cli", "prepare", "--dataset", str(tmp_path / "d"), "--processor",
            str(tmp_path / "processor"), "--shard-size", "1", "--quiet", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    work = tmp_path / "killed" / "train.partial"
    proc = subprocess.Popen([*args, "--output-dir", str(tmp_path / "killed")], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and len(list(work.glob("shard-?????-of-?????"))) < 3 and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "train").exists(), "finished before the kill: nothing was interrupted"
    assert 3 <= len(list(work.glob("shard-?????-of-?????"))) < 16
    assert subprocess.run([*args, "--output-dir", str(tmp_path / "killed")], env=env, cwd=REPO,
                          capture_output=True, timeout=300).returncode == 0
    assert subprocess.run([*args, "--output-dir", str(tmp_path / "clean")], env=env, cwd=REPO,
                          capture_output=True, timeout=300).returncode == 0
    killed, killed_report = load_prepared(tmp_path / "killed" / "train")
    clean, clean_report = load_prepared(tmp_path / "clean" / "train")
    assert killed.to_list() == clean.to_list() and killed_report == clean_report and killed_report.num_prepared == 16
