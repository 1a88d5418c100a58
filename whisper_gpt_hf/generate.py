"""Continue an audio prompt with a WHISPER-GPT model.

    whisper-gpt generate --model hub/whisper-gpt-demo-hybrid --prompt in.wav --seconds 3 --output out.wav --seed 0

The processor (feature extractor + codec) is loaded from the model folder when it has one, else from `--processor`,
else the embedded default (`hub/whisper-gpt-processor`). Same seed, same audio.
"""

from __future__ import annotations

import argparse
import os

import torch

from .assets import PROCESSOR_DEFAULT
from .audio_io import load_audio, save_audio
from .modeling import WhisperGPTForCausalLM, WhisperGPTProcessor, continue_audio


def load_model_and_processor(model_path: str, processor_path: str | None = None, device: str = "cpu"):
    """Load a checkpoint and the processor that belongs to it (folder's own, explicit, or the embedded default)."""
    model = WhisperGPTForCausalLM.from_pretrained(model_path).to(device).eval()
    if processor_path is None:
        own = os.path.join(model_path, "processor_config.json")
        processor_path = model_path if os.path.isfile(own) else str(PROCESSOR_DEFAULT)
    processor = WhisperGPTProcessor.from_pretrained(processor_path)
    processor.audio_tokenizer.to(device)
    return model, processor


def generate_file(args: argparse.Namespace) -> int:
    # One thread by default: per-frame codec decodes of small models lose more to thread spin-waits than they gain.
    torch.set_num_threads(args.threads or 1)
    model, processor = load_model_and_processor(args.model, args.processor, args.device)
    prompt = load_audio(args.prompt, processor.sampling_rate)
    if args.prompt_seconds is not None:
        prompt = prompt[: int(args.prompt_seconds * processor.sampling_rate)]
    audio = continue_audio(
        model,
        processor,
        prompt,
        sampling_rate=processor.sampling_rate,
        seconds=args.seconds,
        seed=args.seed,
        do_sample=not args.greedy,
        top_k=args.top_k,
        temperature=args.temperature,
    )
    save_audio(args.output, audio, processor.sampling_rate)
    print(
        f"Wrote {args.output}: {len(prompt) / processor.sampling_rate:.2f} s prompt + {args.seconds:.2f} s "
        f"continuation ({'hybrid with spectrogram feedback' if model.config.use_spectrogram else 'token-only'})."
    )
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="continue an audio prompt and write a WAV file",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder or Hub repo id")
    p.add_argument("--prompt", required=True, help="audio file to continue (any rate; stereo is averaged to mono)")
    p.add_argument("--seconds", type=float, required=True, help="seconds of audio to generate")
    p.add_argument("--output", required=True, help="output WAV path (prompt + continuation)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same audio (default 0)")
    p.add_argument("--processor", default=None, help="processor folder (default: the model's own or the embedded one)")
    p.add_argument("--prompt-seconds", type=float, default=None, help="use only the first N seconds of the prompt")
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of top-k sampling")
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.set_defaults(func=generate_file)
