"""Is full bandwidth worth it? The log-mel L1 of a model's predictions, decoded with the codec, against the codec's own
reconstruction ceiling.

Metric (one number per system and category: mean absolute difference of the package's causal 64-band log-mel, the
LM's own input features, over frames and bands, pooled over the frames of all clips):

- **teacher-forced next frame**: each test clip (its first `--max-frames` frames) is encoded with all the codec's
  codebooks at its top bandwidth. Position t sees the true frames <= t (codes and real-audio mel slices, as in
  `evaluate`) and predicts frame t + 1 greedily: the coarse code is the argmax of the trunk's logits; for a
  `num_codebooks = K > 1` model codebooks 2..K follow from the depth head, each conditioned on the codes predicted
  before it in the same frame (what `generate(do_sample=False)` picks for one frame). The sequence [true frame 0,
  predicted frames 1..T-1] is decoded with the codec (with the model's K codebooks, and with the coarse codebook
  alone) and its log-mel is compared with the real audio's on frames 1..T-1 (frame 0 is never predicted).
- **ceiling**: the codec's decode of the true codes, with the first k codebooks (k at each target bandwidth: 1, 2,
  4 for the committed codec), scored on the same frames. A model's predictions cannot beat the ceiling with the same
  number of codebooks except by chance; perfect predictions give exactly it (tests/test_full_bandwidth_check.py).
- **repeat previous frame**: the trivial predictor (frame t + 1 := true frame t), decoded with 1 and with all
  codebooks: a floor that any model must beat.
- **free-running continuations** (`--continuations N` prompts per category, 0 to skip): the first
  `--prompt-seconds` of a clip continued by `--continue-seconds` (top-k 50 sampling, seed 0, as `continue_audio`),
  decoded with the model's K codebooks and with the coarse one; log-mel L1 against the real continuation on the
  generated frames, beside the codec's reconstruction of those frames. A continuation is not meant to copy the real
  audio, so this is a loose check (no model gets near the ceiling), not a score.

Writes `full_bandwidth_check.json` and `full_bandwidth_check.md` to `--output-dir`:

    python scripts/full_bandwidth_check.py --model runs/hybrid-k4 --compare runs/hybrid-k1 \\
        --dataset data/corpus-30min --split test --output-dir docs/full-bandwidth

`--demo-wavs DIR` also writes the first continuation prompt's WAVs (prompt + continuation of each model, decoded with
all its codebooks and, for K > 1, with the coarse codebook alone: the same codes at two bandwidths).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from whisper_gpt_hf.audio.io import save_audio
from whisper_gpt_hf.audio.codec.data import load_clips, to_float
from whisper_gpt_hf.loading import load_model_and_processor
from whisper_gpt_hf.modeling import WhisperGPTSpectrogramFeedback

CATEGORIES = ("speech", "music", "all")


# ----------------------------------------------------------------------------------------------------------------------
# the pieces of the metric


def true_codes(processor, audio: np.ndarray) -> tuple[torch.Tensor, torch.LongTensor]:
    """`(input_features [1, T, n_mels], codes [T, K])` of one float clip, K = the codec's codebooks at its top
    bandwidth (coarse first), from the processor exactly as a model sees them."""
    levels = processor.num_codebooks
    extra = {"num_codebooks": levels} if levels > 1 else {}
    inputs = processor(audio=audio, sampling_rate=processor.sampling_rate, **extra)
    codes = inputs["input_ids"][0, :, None]
    if levels > 1:
        codes = torch.cat([codes, inputs["fine_input_ids"][0]], dim=-1)
    return inputs["input_features"], codes


@torch.no_grad()
def predict_next_frames(model, input_features: torch.Tensor, codes: torch.LongTensor) -> torch.LongTensor:
    """Teacher-forced greedy next-frame prediction: `[T - 1, K_model]`, row t - 1 = the model's frame t given the
    true frames < t. Coarse: argmax of the trunk's logits; codebooks 2..K: the depth head, greedy, each given the
    codes already predicted for that frame."""
    levels = model.config.num_codebooks
    device = model.device
    ids = codes[None, :, 0].to(device)
    out = model.model(input_ids=ids, input_features=input_features.to(device), use_cache=False)
    hidden = out.last_hidden_state[0, :-1]  # the state at t predicts frame t + 1
    chosen = model.lm_head(hidden).argmax(-1, keepdim=True)
    for _ in range(levels - 1):
        logits = model.depth_head(hidden, chosen)[:, -1]  # the next codebook of the same frame
        chosen = torch.cat([chosen, logits.argmax(-1, keepdim=True)], dim=1)
    return chosen.cpu()


def log_mel(processor, audio: np.ndarray) -> np.ndarray:
    """The package's causal log-mel `[T, n_mels]` (the LM's input features) of one float clip."""
    waveform = torch.from_numpy(np.ascontiguousarray(audio, np.float32))[None]
    return processor.feature_extractor.extract(waveform)[0].numpy()


def decoded_l1(processor, codes: torch.LongTensor, target_mel: np.ndarray, start: int = 1) -> tuple[float, int]:
    """Decode `codes [T, k]` with the codec (all k codebooks given) and return `(sum, count)` of the absolute log-mel
    difference to `target_mel [T, n_mels]` over frames `start..T-1`."""
    audio = processor.decode(codes[None])
    mel = log_mel(processor, audio)
    if mel.shape != target_mel.shape:
        raise RuntimeError(f"decoded log-mel {mel.shape} does not match the target {target_mel.shape}.")
    diff = np.abs(mel[start:] - target_mel[start:])
    return float(diff.sum()), int(diff.size)


def with_first_frame(codes: torch.LongTensor, predicted: torch.LongTensor) -> torch.LongTensor:
    """[true frame 0, predicted frames 1..T-1] with the predicted codebooks: `[T, predicted.shape[1]]`."""
    return torch.cat([codes[:1, : predicted.shape[1]], predicted], dim=0)


def ceiling_levels(processor) -> list[int]:
    """Codebooks at each of the codec's target bandwidths (ascending, distinct), the top one last."""
    codec = processor.audio_tokenizer
    top = processor.num_codebooks
    found = {min(top, codec.quantizer.get_num_quantizers_for_bandwidth(b))
             for b in (codec.config.target_bandwidths or [])}
    return sorted(found | {1, top})


@torch.no_grad()
def continue_codes(model, processor, prompt: np.ndarray, new_frames: int, seed: int = 0) -> torch.LongTensor:
    """Prompt + continuation codes `[T, K_model]`: one `generate()` call with top-k 50 sampling (what `continue_audio`
    does for a continuation that fits in the context), spectrogram feedback from the full-bandwidth decode."""
    levels = model.config.num_codebooks
    extra = {"num_codebooks": levels} if levels > 1 else {}
    inputs = processor(audio=prompt, sampling_rate=processor.sampling_rate, **extra)
    kwargs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"],
              "max_new_tokens": new_frames, "min_new_tokens": new_frames, "do_sample": True, "top_k": 50,
              "temperature": 1.0}
    if model.config.use_spectrogram:
        kwargs.update(input_features=inputs["input_features"], spectrogram_feedback=WhisperGPTSpectrogramFeedback(
            processor.audio_tokenizer, processor.feature_extractor))
    if levels > 1:
        kwargs["fine_input_ids"] = inputs["fine_input_ids"]
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        out = model.generate(**{k: v.to(model.device) if torch.is_tensor(v) else v for k, v in kwargs.items()})
    finally:
        torch.random.set_rng_state(state)
    return (out[0] if out.ndim == 3 else out[0, :, None]).cpu()


# ----------------------------------------------------------------------------------------------------------------------
# the check


class _Sums:
    """Pooled `(sum, count)` per system and category."""

    def __init__(self):
        self.sums: dict[str, dict[str, list[float]]] = {}

    def add(self, system: str, category: str, value: tuple[float, int]) -> None:
        for cat in (category, "all"):
            acc = self.sums.setdefault(system, {}).setdefault(cat, [0.0, 0])
            acc[0] += value[0]
            acc[1] += value[1]

    def means(self) -> dict[str, dict[str, float]]:
        return {s: {c: a[0] / a[1] for c, a in cats.items() if a[1]} for s, cats in self.sums.items()}


def check_clip(models: dict, processor, audio: np.ndarray, category: str, l1: _Sums, acc: _Sums,
               levels: list[int]) -> None:
    """Add one clip's teacher-forced numbers to `l1` (log-mel L1) and `acc` (top-1 code accuracy per codebook)."""
    features, codes = true_codes(processor, audio)
    target = log_mel(processor, audio[: codes.shape[0] * processor.feature_extractor.hop_length])
    if target.shape[0] != codes.shape[0]:
        raise RuntimeError(f"{target.shape[0]} mel frames for {codes.shape[0]} codec frames: the time grids differ.")
    for k in levels:
        l1.add(f"ceiling@{k}", category, decoded_l1(processor, codes[:, :k], target))
    repeat = with_first_frame(codes, codes[:-1])
    for k in sorted({1, levels[-1]}):
        l1.add(f"repeat@{k}", category, decoded_l1(processor, repeat[:, :k], target))
    for name, model in models.items():
        predicted = predict_next_frames(model, features, codes)
        seq = with_first_frame(codes, predicted)
        k_model = predicted.shape[1]
        l1.add(f"{name}@{k_model}", category, decoded_l1(processor, seq, target))
        if k_model > 1:
            l1.add(f"{name}@1", category, decoded_l1(processor, seq[:, :1], target))
        for j in range(k_model):
            hits = (predicted[:, j] == codes[1:, j])
            acc.add(f"{name}/codebook{j + 1}", category, (float(hits.sum()), int(hits.numel())))


def check_continuation(models: dict, processor, audio: np.ndarray, category: str, l1: _Sums, levels: list[int],
                       prompt_frames: int, new_frames: int, seed: int, wavs: dict | None = None) -> None:
    """Free-running: log-mel L1 of each model's continuation (and of the codec's reconstruction) against the real
    audio on the generated frames."""
    hop = processor.feature_extractor.hop_length
    audio = audio[: (prompt_frames + new_frames) * hop]
    _, codes = true_codes(processor, audio)
    target = log_mel(processor, audio)
    for k in levels:
        l1.add(f"ceiling@{k}", category, decoded_l1(processor, codes[:, :k], target, start=prompt_frames))
    for name, model in models.items():
        seq = continue_codes(model, processor, audio[: prompt_frames * hop], new_frames, seed)
        k_model = seq.shape[1]
        l1.add(f"{name}@{k_model}", category, decoded_l1(processor, seq, target, start=prompt_frames))
        if wavs is not None:
            wavs[f"{name}-{k_model}cb"] = processor.decode(seq[None])
        if k_model > 1:
            l1.add(f"{name}@1", category, decoded_l1(processor, seq[:, :1], target, start=prompt_frames))
            if wavs is not None:
                wavs[f"{name}-1cb"] = processor.decode(seq[None, :, :1])


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def run_check(model_paths: dict[str, str], dataset: str, split: str = "test", processor_path: str | None = None,
              max_frames: int = 256, max_clips: int = 0, continuations: int = 4, prompt_seconds: float = 2.0,
              continue_seconds: float = 2.0, seed: int = 0, demo_wavs: str | None = None) -> dict:
    """Score every model (name -> folder) on `dataset`'s `split`; returns the JSON-able report."""
    start = time.perf_counter()
    models, processor, source = {}, None, None
    for name, path in model_paths.items():
        model, proc, src = load_model_and_processor(path, processor_path)
        models[name] = model
        if processor is None:
            processor, source = proc, src
        elif not _same_weights(proc.audio_tokenizer, processor.audio_tokenizer):
            raise ValueError(f"{path} comes with another codec than {next(iter(model_paths.values()))}: compare models "
                             "trained on the same codec's codes, or pass --processor.")
    for name, model in models.items():
        if model.config.num_codebooks > processor.num_codebooks:
            raise ValueError(f"{name} predicts {model.config.num_codebooks} codebooks but the codec gives "
                             f"{processor.num_codebooks}.")
    levels = ceiling_levels(processor)
    hop = processor.feature_extractor.hop_length
    clips = load_clips(dataset, split)
    if max_clips:
        clips = clips[:max_clips]
    l1, acc, free = _Sums(), _Sums(), _Sums()
    frames = {c: 0 for c in CATEGORIES}
    for clip in clips:
        audio = to_float(clip["audio"])[: max_frames * hop]
        if len(audio) < 2 * hop:
            continue
        check_clip(models, processor, audio, clip["category"], l1, acc, levels)
        n = -(-len(audio) // hop) - 1
        frames[clip["category"]] += n
        frames["all"] += n
    prompt_frames = round(prompt_seconds * processor.sampling_rate / hop)
    new_frames = round(continue_seconds * processor.sampling_rate / hop)
    used: dict[str, list[str]] = {}
    wavs: dict | None = {} if demo_wavs else None
    if continuations:
        for clip in clips:
            cat = clip["category"]
            if len(used.get(cat, [])) >= continuations or len(clip["audio"]) < (prompt_frames + new_frames) * hop:
                continue
            check_continuation(models, processor, to_float(clip["audio"]), cat, free, levels, prompt_frames,
                               new_frames, seed, wavs if wavs is not None and not used else None)
            if wavs is not None and not used:
                wavs["real"] = to_float(clip["audio"])[: (prompt_frames + new_frames) * hop]
                wavs["_prompt"] = clip["id"]
            used.setdefault(cat, []).append(clip["id"])
    if demo_wavs and wavs:
        os.makedirs(demo_wavs, exist_ok=True)
        for name, audio in wavs.items():
            if not name.startswith("_"):
                save_audio(os.path.join(demo_wavs, f"{name}.wav"), audio, processor.sampling_rate)
    report = {
        "dataset": str(dataset),
        "split": split,
        "processor": source,
        "models": {name: {"path": str(model_paths[name]), "num_codebooks": m.config.num_codebooks,
                          "parameters": m.num_parameters()} for name, m in models.items()},
        "codec_codebooks_top_bandwidth": processor.num_codebooks,
        "ceiling_codebooks": levels,
        "max_frames": max_frames,
        "clips": len(clips),
        "scored_frames": frames,
        "log_mel": "WhisperGPTFeatureExtractor.extract: causal, 64 mel bands, n_fft 1024, hop 320",
        "teacher_forced_log_mel_l1": l1.means(),
        "teacher_forced_code_accuracy": acc.means(),
        "free_running": {"prompts": used, "prompt_seconds": prompt_seconds, "continue_seconds": continue_seconds,
                         "seed": seed, "sampling": "top-k 50, temperature 1", "log_mel_l1": free.means()},
        "demo_wavs": {"folder": demo_wavs, "prompt": wavs.get("_prompt"),
                      "files": sorted(f"{n}.wav" for n in wavs if not n.startswith("_"))} if demo_wavs and wavs
        else None,
        "seconds_to_compute": None,
    }
    report["seconds_to_compute"] = round(time.perf_counter() - start, 1)
    return report


# ----------------------------------------------------------------------------------------------------------------------
# output


def _system_rows(means: dict, models: dict, what: str = "predictions") -> list[tuple[str, str]]:
    """(system key, description) in table order."""
    rows = []
    for key in sorted((k for k in means if k.startswith("ceiling@")), key=lambda k: int(k.split("@")[1])):
        rows.append((key, f"codec ceiling: true codes, {key.split('@')[1]} codebook(s)"))
    for name, info in models.items():
        k = info["num_codebooks"]
        rows.append((f"{name}@{k}", f"{name} (K={k}) {what}, {k} codebook(s)"))
        if k > 1:
            rows.append((f"{name}@1", f"{name} (K={k}) {what}, coarse codebook only"))
    for key in sorted((k for k in means if k.startswith("repeat@")), key=lambda k: int(k.split("@")[1])):
        rows.append((key, f"repeat previous frame, {key.split('@')[1]} codebook(s)"))
    return [(k, d) for k, d in rows if k in means]


def _table(means: dict, models: dict, what: str = "predictions") -> list[str]:
    cats = [c for c in CATEGORIES if any(c in v for v in means.values())]
    lines = ["| system | " + " | ".join(f"{c} L1 | {c} / ceiling" for c in cats) + " |",
             "|---|" + "---|---|" * len(cats)]
    for key, desc in _system_rows(means, models, what):
        k = key.split("@")[1]
        ceiling = means.get(f"ceiling@{k}", {})
        cells = []
        for c in cats:
            v = means[key].get(c)
            ref = ceiling.get(c)
            cells.append("–" if v is None else f"{v:.3f}")
            cells.append("–" if v is None or not ref else f"{v / ref:.2f}x")
        lines.append(f"| {desc} | " + " | ".join(cells) + " |")
    return lines


def markdown_report(report: dict) -> str:
    models = report["models"]
    lines = [
        "# Full-bandwidth check",
        "",
        f"`{report['split']}` split of `{report['dataset']}` ({report['clips']} clips, first {report['max_frames']} "
        f"frames of each; scored frames: " + ", ".join(f"{c} {n}" for c, n in report["scored_frames"].items()) + "). "
        f"Processor: {report['processor']}; the codec gives {report['codec_codebooks_top_bandwidth']} codebooks at its "
        "top bandwidth. Models: " + "; ".join(f"{n} = `{m['path']}` (K={m['num_codebooks']}, "
                                              f"{m['parameters'] / 1e6:.2f}M parameters)" for n, m in models.items())
        + ".",
        "",
        "## Teacher-forced next-frame predictions, decoded (log-mel L1, lower is better)",
        "",
        ("Position t sees the true frames <= t and predicts frame t + 1 greedily (coarse from the trunk, codebooks "
         "2..K from the depth head given the codes it already chose for that frame); [true frame 0, predictions] is "
         "decoded by the codec and compared with the real audio's log-mel on frames 1..T-1. `/ ceiling`: over the "
         "codec's decode of the true codes with the same number of codebooks."),
        "",
        *_table(report["teacher_forced_log_mel_l1"], models),
        "",
        "Top-1 accuracy of the greedy predictions per codebook:",
        "",
        "| model / codebook | " + " | ".join(CATEGORIES) + " |",
        "|---|" + "---|" * len(CATEGORIES),
    ]
    for key, cats in report["teacher_forced_code_accuracy"].items():
        lines.append(f"| {key} | " + " | ".join(f"{100 * cats[c]:.1f} %" if c in cats else "–" for c in CATEGORIES)
                     + " |")
    free = report["free_running"]
    if free["log_mel_l1"]:
        lines += [
            "",
            "## Free-running continuations (loose check)",
            "",
            f"{free['prompt_seconds']:g} s prompts (" + ", ".join(f"{c}: {', '.join(ids)}" for c, ids in
                                                              free["prompts"].items())
            + f") continued by {free['continue_seconds']:g} s ({free['sampling']}, seed {free['seed']}); log-mel L1 "
            "against the real continuation on the generated frames. A continuation is not meant to copy the real "
            "audio: the ceiling (codec reconstruction of the real frames) is out of reach by construction.",
            "",
            *_table(free["log_mel_l1"], models, "continuations"),
        ]
    lines += ["", f"Computed in {report['seconds_to_compute']:.0f} s.", ""]
    return "\n".join(lines)


def write_report(report: dict, output_dir: str | os.PathLike, name: str = "full_bandwidth_check") -> list[str]:
    """Write `<name>.json` and `<name>.md` atomically (temporary file, then rename)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, text in ((".json", json.dumps(report, indent=2) + "\n"), (".md", markdown_report(report))):
        path = out / f"{name}{suffix}"
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
        written.append(str(path))
    return written


def parse_models(values: list[str]) -> dict[str, str]:
    """`NAME=PATH` or `PATH` (named after its folder) -> {name: path}; names must be distinct."""
    models = {}
    for value in values:
        name, _, path = value.rpartition("=") if "=" in value else (Path(value.rstrip("/")).name, "", value)
        if name in models:
            raise SystemExit(f"Two models are named {name!r}: pass NAME=PATH to tell them apart.")
        models[name] = path
    return models


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the full-bandwidth model folder (NAME=PATH or PATH)")
    ap.add_argument("--compare", nargs="*", default=[], help="more model folders scored the same way (e.g. K=1)")
    ap.add_argument("--dataset", required=True, help="local Hub-layout corpus folder or Hub repo id")
    ap.add_argument("--split", default="test")
    ap.add_argument("--processor", default=None, help="default: the first model's own processor")
    ap.add_argument("--max-frames", type=int, default=256, help="frames of each clip scored (the training window)")
    ap.add_argument("--max-clips", type=int, default=0, help="0: every clip of the split")
    ap.add_argument("--continuations", type=int, default=4, help="free-running prompts per category (0: skip)")
    ap.add_argument("--prompt-seconds", type=float, default=2.0)
    ap.add_argument("--continue-seconds", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--demo-wavs", default=None, help="write the first continuation prompt's WAVs into this folder")
    ap.add_argument("--output-dir", default="docs/full-bandwidth")
    ap.add_argument("--num-threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    models = parse_models([args.model, *args.compare])
    report = run_check(models, args.dataset, args.split, args.processor, args.max_frames, args.max_clips,
                       args.continuations, args.prompt_seconds, args.continue_seconds, args.seed, args.demo_wavs)
    for path in write_report(report, args.output_dir):
        print(path)
    print(markdown_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
