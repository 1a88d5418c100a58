"""Continue an audio prompt with a WHISPER-GPT model.

    whisper-gpt generate --model hub/whisper-gpt-demo-hybrid --prompt in.wav --seconds 3 --output out.wav --seed 0

The processor (feature extractor + codec) is `--processor` when given, else the model's own (its folder or Hub repo
has a `processor_config.json`), else the embedded default (`hub/whisper-gpt-processor`); the output line says which.
The model is loaded strictly (`loading.load_model`: missing, unexpected or non-finite weights are refused). The WAV
is written atomically and never over the prompt. Same seed, same audio.
"""

from __future__ import annotations

import argparse
import math
import os

import torch

from whisper_gpt_hf.audio.io import atomic_output, load_audio, save_audio
from whisper_gpt_hf.loading import load_model_and_processor


def check_paths(prompt: str, output: str) -> None:
    """Refuse an `--output` that would overwrite the `--prompt` or that is a folder, before any work is done."""
    if not os.path.exists(prompt):
        raise FileNotFoundError(f"--prompt {prompt} does not exist; pass an audio file to continue.")
    if os.path.isdir(output):
        raise IsADirectoryError(f"--output {output} is a folder; pass a file name, e.g. "
                                f"{os.path.join(output, 'out.wav')}.")
    same = os.path.exists(output) and os.path.samefile(prompt, output)
    if same or os.path.abspath(prompt) == os.path.abspath(output):
        raise ValueError(f"--output {output} is the --prompt file: it would be overwritten. Pass another --output.")


def check_seconds(seconds: float, prompt_seconds: float | None) -> None:
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"--seconds must be a positive number of seconds to generate, got {seconds}.")
    if prompt_seconds is not None and (not math.isfinite(prompt_seconds) or prompt_seconds <= 0):
        raise ValueError(f"--prompt-seconds must be a positive number of seconds (the prompt's start to keep), "
                         f"got {prompt_seconds}; leave it out to use the whole prompt.")


def stream_to_file(output: str, model, processor, prompt, kwargs: dict) -> None:
    """Generate with a `WhisperGPTAudioStreamer` and append each chunk to a WAV as it arrives.

    The WAV grows in a uniquely named temporary file next to `output` (its header is updated at every chunk, so it
    can be read, or played, while it grows), then is renamed to `output` when generation ends: `output` itself is
    only ever a complete file."""
    from threading import Thread

    import numpy as np
    import soundfile as sf

    from whisper_gpt_hf.modeling import WhisperGPTAudioStreamer, continue_audio

    streamer = WhisperGPTAudioStreamer(processor, chunk_frames=15, include_prompt=True)  # 0.2 s chunks
    failure: list[BaseException] = []

    def run():
        try:
            continue_audio(model, processor, prompt, streamer=streamer, **kwargs)
        except BaseException as error:  # re-raised in the main thread
            failure.append(error)

    thread = Thread(target=run, daemon=True)
    with atomic_output(output, suffix=".partial.wav") as tmp:
        print(f"Streaming into {tmp} (renamed to {output} at the end).", flush=True)
        with sf.SoundFile(tmp, "w", samplerate=processor.sampling_rate, channels=1, subtype="PCM_16",
                          format="WAV") as f:
            thread.start()
            for chunk in streamer:
                f.write(np.clip(chunk, -1.0, 1.0))
                f.flush()  # rewrites the header: the partial file is a valid WAV at every chunk
        thread.join()
        if failure:
            raise failure[0]


def generate_file(args: argparse.Namespace) -> int:
    from whisper_gpt_hf.modeling import continue_audio  # here, not at the top: `whisper-gpt generate --help` stays fast

    check_paths(args.prompt, args.output)
    check_seconds(args.seconds, args.prompt_seconds)
    # One thread by default: per-frame codec decodes of small models lose more to thread spin-waits than they gain.
    torch.set_num_threads(args.threads or 1)
    model, processor, processor_source = load_model_and_processor(args.model, args.processor, args.device)
    prompt = load_audio(args.prompt, processor.sampling_rate)
    if args.prompt_seconds is not None:
        prompt = prompt[: max(1, int(args.prompt_seconds * processor.sampling_rate))]
    kwargs = dict(
        sampling_rate=processor.sampling_rate,
        seconds=args.seconds,
        seed=args.seed,
        do_sample=not args.greedy,
        top_k=args.top_k,
        temperature=args.temperature,
        extend_stride=args.extend_stride,
    )
    if args.stream:
        stream_to_file(args.output, model, processor, prompt, kwargs)
    else:
        audio = continue_audio(model, processor, prompt, **kwargs)
        save_audio(args.output, audio, processor.sampling_rate)
    print(
        f"Wrote {args.output}: {len(prompt) / processor.sampling_rate:.2f} s prompt + {args.seconds:.2f} s "
        f"continuation ({'hybrid with spectrogram feedback' if model.config.use_spectrogram else 'token-only'}; "
        f"processor: {processor_source})."
    )
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="continue an audio prompt and write a WAV file",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder or Hub repo id")
    p.add_argument("--prompt", required=True, help="audio file to continue (any rate; stereo is averaged to mono)")
    p.add_argument("--seconds", type=float, required=True,
                   help="seconds of audio to generate; any length: past the model's context a window slides")
    p.add_argument("--extend-stride", type=float, default=None,
                   help="past the context: seconds generated per window slide (default: half the context); the "
                        "model keeps the last context - stride as its prompt")
    p.add_argument("--stream", action="store_true",
                   help="write the WAV progressively as frames are generated (a growing temporary file next to "
                        "--output, renamed at the end)")
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
