"""The offline demo: the whole system on the committed corpus, codec and two small WHISPER-GPT checkpoints.

    whisper-gpt demo                      # writes to ./demo_outputs
    whisper-gpt demo --output-dir OUT --seconds 2 --max-test-clips 40

1. loads the embedded processor (causal mel front end + small trained codec) and the corpus test split;
2. scores the hybrid and the token-only checkpoint on the same windows (NLL, PPL, top-1, params);
3. continues a speech prompt and a music prompt with the hybrid (spectrogram feedback) into WAV files;
4. draws the per-position NLL of both models and prompt-vs-continuation spectrograms into PNGs.

Nothing is downloaded. Runs in a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from whisper_gpt_hf.assets import CORPUS_SMALL, DEMO_GPT, DEMO_HYBRID, PROCESSOR_DEFAULT, require
from whisper_gpt_hf.audio.io import save_audio
from whisper_gpt_hf.data import load_audio_dataset, prepare_dataset
from whisper_gpt_hf.evaluation import evaluate_model, plot_position_nll, results_table


def pick_prompts(dataset, seconds: float, sampling_rate: int) -> dict[str, np.ndarray]:
    """The first test clip of each category that is long enough to give a `seconds`-long prompt."""
    prompts: dict[str, np.ndarray] = {}
    for example in dataset:
        category = example.get("category", "audio")
        audio = np.asarray(example["audio"]["array"], dtype=np.float32)
        if category not in prompts and len(audio) >= seconds * sampling_rate:
            prompts[category] = audio[: int(seconds * sampling_rate)]
        if {"speech", "music"} <= set(prompts):
            break
    return prompts


def plot_spectrograms(items: dict[str, tuple[np.ndarray, int]], processor, path: str) -> str:
    """Log-mel of each prompt + continuation, with a line where the generated part starts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(items), 1, figsize=(9, 2.6 * len(items)), squeeze=False)
    hop_s = processor.feature_extractor.hop_length / processor.sampling_rate
    for ax, (name, (audio, prompt_len)) in zip(axes[:, 0], items.items()):
        mel = processor.feature_extractor(audio, sampling_rate=processor.sampling_rate, return_tensors="np")
        mel = mel["input_features"][0].T
        ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, mel.shape[1] * hop_s, 0, mel.shape[0]))
        ax.axvline(prompt_len / processor.sampling_rate, color="cyan", lw=2, ls="--")
        ax.set_title(f"{name}: prompt | continuation (hybrid, spectrogram feedback)")
        ax.set_ylabel("mel bin")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_demo(args: argparse.Namespace) -> dict:
    # here, not at the top: `whisper-gpt demo --help` stays fast
    from whisper_gpt_hf.modeling import WhisperGPTForCausalLM, WhisperGPTProcessor, continue_audio

    start = time.time()
    # One thread by default: these models are small, and per-frame codec decodes during generation spend more time
    # spin-waiting for a second thread than computing when anything else runs on the machine (benchmarks/README.md, "Noise and threads").
    torch.set_num_threads(args.threads or 1)
    os.makedirs(args.output_dir, exist_ok=True)

    def out(name: str) -> str:
        return os.path.join(args.output_dir, name)

    print("Loading the embedded processor, corpus and checkpoints (offline) ...")
    processor = WhisperGPTProcessor.from_pretrained(str(require(PROCESSOR_DEFAULT, "The default processor")))
    models = {
        "hybrid": WhisperGPTForCausalLM.from_pretrained(str(require(DEMO_HYBRID, "The demo hybrid model"))).eval(),
        "token-only": WhisperGPTForCausalLM.from_pretrained(str(require(DEMO_GPT, "The demo token-only model"))).eval(),
    }
    test = load_audio_dataset(str(require(CORPUS_SMALL, "The small corpus")), split=args.split)
    scored = test
    if args.max_test_clips:
        # Half from each end of the split: the corpus is stored grouped by category, so both categories stay.
        n, head = len(test), args.max_test_clips // 2
        tail = args.max_test_clips - head
        scored = test.select(sorted(set(range(min(head, n))) | set(range(max(0, n - tail), n))))

    window = min(m.config.max_position_embeddings for m in models.values())
    prepared, report = prepare_dataset(scored, processor, window_frames=min(args.window_frames, window),
                                       desc="Encoding the test split")
    print(report.summary())
    results = []
    for name, model in models.items():
        results.append(evaluate_model(model, prepared, batch_size=8, name=name, progress=True))
    table = results_table(results)
    print(f"\nNext-code prediction on the corpus '{args.split}' split (same windows and positions for both):\n")
    print(table)
    with open(out("scores.json"), "w") as f:
        json.dump([r.to_dict() for r in results], f, indent=2)
    with open(out("scores.md"), "w") as f:
        f.write(table + "\n")
    nll_png = plot_position_nll(results, out("per_position_nll.png"), title="NLL by position in the window", smooth=8)

    prompts = pick_prompts(test, args.prompt_seconds, processor.sampling_rate)
    written, spectra = [], {}
    for category, prompt in tqdm(prompts.items(), desc="Continuing prompts", unit="prompt"):
        audio = continue_audio(models["hybrid"], processor, prompt, processor.sampling_rate,
                               seconds=args.seconds, seed=args.seed, top_k=args.top_k)
        for suffix, clip in (("prompt", prompt), ("continuation", audio)):
            path = out(f"{category}_{suffix}.wav")
            save_audio(path, clip, processor.sampling_rate)
            written.append(path)
        spectra[category] = (audio, len(prompt))
    spec_png = plot_spectrograms(spectra, processor, out("spectrograms.png"))

    print(f"\nDone in {time.time() - start:.0f} s. Wrote:")
    for path in [out("scores.md"), out("scores.json"), nll_png, spec_png, *written]:
        print(f"  {path}")
    return {"results": results, "files": written + [nll_png, spec_png]}


