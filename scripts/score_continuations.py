"""Do hybrids generate better when trained on what generation feeds them? Continue test prompts with each hybrid
(sampling, the saved generation defaults, spectrogram feedback) and score the generated codes under a judge model
(a token-only model trained on real audio's codes): the judge's NLL of the continuation, lower = closer to the code
statistics of real audio. A proxy, not a listening test.

    python scripts/score_continuations.py --models runs/demo-hybrid runs/demo-hybrid-recon --judge hub/whisper-gpt-demo-gpt
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from datasets import load_dataset

from whisper_gpt_hf import WhisperGPTForCausalLM, WhisperGPTSpectrogramFeedback
from whisper_gpt_hf.assets import CORPUS_SMALL as SMALL_CORPUS, PROCESSOR_DEFAULT as DEFAULT_PROCESSOR
from transformers import AutoProcessor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--judge", required=True)
    ap.add_argument("--dataset", default=str(SMALL_CORPUS))
    ap.add_argument("--prompts", type=int, default=12, help="test clips used as prompts (balanced by category)")
    ap.add_argument("--prompt-frames", type=int, default=75)
    ap.add_argument("--new-frames", type=int, default=150)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    torch.set_num_threads(1)
    processor = AutoProcessor.from_pretrained(str(DEFAULT_PROCESSOR))
    feedback = WhisperGPTSpectrogramFeedback(processor.audio_tokenizer, processor.feature_extractor)
    test = load_dataset(args.dataset, split="test")
    by_cat: dict[str, list[int]] = {}
    for i, c in enumerate(test["category"]):
        by_cat.setdefault(c, []).append(i)
    picks = [i for c in sorted(by_cat) for i in by_cat[c][: args.prompts // len(by_cat)]]
    judge = WhisperGPTForCausalLM.from_pretrained(args.judge).eval()
    results = {}
    for path in args.models:
        model = WhisperGPTForCausalLM.from_pretrained(path).eval()
        per_cat: dict[str, list[float]] = {}
        for i in picks:
            audio = test[i]["audio"]["array"].astype(np.float32)
            inputs = processor(audio=audio[: args.prompt_frames * 320], sampling_rate=24000)
            for seed in args.seeds:
                torch.manual_seed(seed)
                with torch.no_grad():
                    codes = model.generate(**inputs, spectrogram_feedback=feedback, max_new_tokens=args.new_frames,
                                           do_sample=True, top_k=50)
                    logits = judge(input_ids=codes).logits[:, :-1].log_softmax(-1)
                target = codes[:, 1:]
                nll = -logits.gather(-1, target[..., None])[..., 0]
                start = inputs["input_ids"].shape[1] - 1  # scores of the generated codes only
                per_cat.setdefault(test[i]["category"], []).append(float(nll[:, start:].mean()))
        results[path] = {c: float(np.mean(v)) for c, v in per_cat.items()}
        results[path]["all"] = float(np.mean([x for v in per_cat.values() for x in v]))
        print(path, json.dumps({k: round(v, 4) for k, v in results[path].items()}), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
