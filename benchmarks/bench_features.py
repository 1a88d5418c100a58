"""Feature extraction speed: WHISPER-GPT's causal log-mel front end vs transformers' `WhisperFeatureExtractor`.

Both featurize the same 30 s of audio (ours at 24 kHz, Whisper's resampled to the 16 kHz it requires; resampling is
not timed), one clip and a batch of 8 clips. Reported: seconds of audio per second of compute, and ratios against the
named anchor measured in the same run, `WhisperFeatureExtractor` on its default (torch, `device="cpu"`) path.

    python benchmarks/bench_features.py --quick
    python benchmarks/bench_features.py --threads 2 --output benchmarks/results/features.md

The two front ends do different work per second of audio: ours is 64 mels, n_fft 1024, hop 320 (75 frames/s) with
causal (left-padded) windows; Whisper's is 80 mels, n_fft 400, hop 160 (100 frames/s), centred, padded to 30 s and
normalised by the clip's max. Whisper's numpy path is what `__call__` takes when torch is not installed; it is timed
by making `is_torch_available()` return False inside its module for the duration of the call.
"""

from __future__ import annotations

import contextlib

from common import Report, markdown_table, measure_interleaved, median, parse_args, set_threads, spread, test_audio

SECONDS = 30.0


@contextlib.contextmanager
def whisper_numpy_path():
    """Make `WhisperFeatureExtractor.__call__` take its numpy branch (as on a machine without torch)."""
    import transformers.models.whisper.feature_extraction_whisper as whisper_fe

    original = whisper_fe.is_torch_available
    whisper_fe.is_torch_available = lambda: False
    try:
        yield
    finally:
        whisper_fe.is_torch_available = original


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    threads = set_threads(args.threads)
    import numpy as np
    import torch
    import torchaudio
    from transformers import WhisperFeatureExtractor

    from whisper_gpt_hf import WhisperGPTFeatureExtractor

    warmup = args.warmup if args.warmup is not None else 1 if args.quick else 2
    repeats = args.repeats if args.repeats is not None else 3 if args.quick else 10

    report = Report("Feature extraction: WHISPER-GPT vs transformers WhisperFeatureExtractor", args, threads)
    ours = WhisperGPTFeatureExtractor()
    whisper = WhisperFeatureExtractor()  # whisper-small defaults: 80 mels, 16 kHz, n_fft 400, hop 160, 30 s chunks
    report.add(
        f"- audio: {SECONDS:g} s per clip (tests' harmonic test signal), batches of 1 and 8 clips; warm-up {warmup}, "
        f"median of {repeats} repeats",
        f"- ours: {ours.feature_size} mels, n_fft {ours.n_fft}, hop {ours.hop_length} @ {ours.sampling_rate} Hz; "
        f"Whisper: {whisper.feature_size} mels, n_fft {whisper.n_fft}, hop {whisper.hop_length} @ "
        f"{whisper.sampling_rate} Hz",
        "",
    )

    clips24 = [test_audio(SECONDS, seed) for seed in range(8)]
    clips16 = [
        torchaudio.functional.resample(torch.from_numpy(c), ours.sampling_rate, whisper.sampling_rate).numpy()
        for c in clips24
    ]
    assert all(len(c) == int(SECONDS * whisper.sampling_rate) for c in clips16)

    cases = []  # (name, path, batch, fn)
    for batch in (1, 8):
        b24, b16 = clips24[:batch], clips16[:batch]
        wave = torch.from_numpy(np.stack(b24))
        cases += [
            ("WhisperFeatureExtractor", 'torch (default, `device="cpu"`), return_tensors="np"', batch,
             lambda b=b16: whisper(b, sampling_rate=16000, return_tensors="np")),
            ("WhisperFeatureExtractor", 'numpy (no torch), return_tensors="np"', batch,
             lambda b=b16: _numpy_whisper(whisper, b)),
            ("WhisperGPTFeatureExtractor", '`__call__`, return_tensors="pt"', batch,
             lambda b=b24: ours(b, sampling_rate=24000, return_tensors="pt")),
            ("WhisperGPTFeatureExtractor", '`__call__`, return_tensors="np"', batch,
             lambda b=b24: ours(b, sampling_rate=24000, return_tensors="np")),
            ("WhisperGPTFeatureExtractor", "`extract(tensor)` (no validation, no padding)", batch,
             lambda w=wave: _no_grad(ours.extract, w)),
        ]
        if batch > 1:  # the same work in one-clip pieces: shows what the batch's memory footprint costs on CPU
            cases.append(("WhisperGPTFeatureExtractor", "`extract(tensor)` one clip at a time (loop)", batch,
                          lambda w=wave: [_no_grad(ours.extract, w[i : i + 1]) for i in range(w.shape[0])]))

    # Sanity: every path produces features of the expected shape (and Whisper's two paths agree).
    out_np = whisper(clips16[:1], sampling_rate=16000, return_tensors="np")["input_features"]
    out_numpy = _numpy_whisper(whisper, clips16[:1])["input_features"]
    assert out_np.shape == out_numpy.shape == (1, whisper.feature_size, 3000), (out_np.shape, out_numpy.shape)
    assert np.abs(out_np - out_numpy).max() < 1e-3, "Whisper's numpy and torch paths disagree"
    assert tuple(ours(clips24[:1], sampling_rate=24000, return_tensors="pt")["input_features"].shape) == (1, 2250, 64)

    timed = measure_interleaved({i: case[3] for i, case in enumerate(cases)}, warmup, repeats)
    results = [(name, path, batch, timed[i]) for i, (name, path, batch, _) in enumerate(cases)]

    anchor = {b: median(t) for n, p, b, t in results if n == "WhisperFeatureExtractor" and "default" in p}
    numpy_anchor = {b: median(t) for n, p, b, t in results if n == "WhisperFeatureExtractor" and "numpy" in p}
    rows = []
    for name, path, batch, times in results:
        m = median(times)
        audio_seconds = SECONDS * batch
        rows.append([
            name, path, batch, f"{m * 1e3:.2f}", spread([t * 1e3 for t in times]), f"{audio_seconds / m:,.0f}",
            f"{anchor[batch] / m:.2f}x", f"{numpy_anchor[batch] / m:.2f}x",
        ])
    report.add(
        "Anchor: **WhisperFeatureExtractor, default torch path (`device=\"cpu\"`), same batch size**. "
        "Speed ratios are anchor time / row time (above 1x = faster than the anchor).",
        "",
        *markdown_table(
            ["extractor", "path", "clips", "median ms", "min-max ms", "audio s / compute s",
             "speed vs Whisper torch", "speed vs Whisper numpy"],
            rows,
        ),
        "",
    )
    ours_pt = {b: median(t) for n, p, b, t in results if n == "WhisperGPTFeatureExtractor" and '"pt"' in p}
    report.add(
        "Ratio ours/whisper in time (ours `__call__(return_tensors=\"pt\")` / Whisper default): "
        + ", ".join(f"batch {b}: {ours_pt[b] / anchor[b]:.2f}" for b in sorted(anchor))
        + " (below 1 = ours takes less time per second of audio)."
    )
    report.finish()


def _numpy_whisper(whisper, clips):
    with whisper_numpy_path():
        return whisper(clips, sampling_rate=16000, return_tensors="np")


def _no_grad(fn, *a):
    import torch

    with torch.inference_mode():
        return fn(*a)


if __name__ == "__main__":
    main()
