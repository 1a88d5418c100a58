"""Generation speed against real time: token-only gpt-s vs hybrid-4m with spectrogram feedback.

Greedy decoding with the KV cache, batch 1, from a 1 s prompt (75 frames) to `--new-frames` new frames (150 = 2 s).
The hybrid model needs the mel slice of every frame it generates, so each step runs `WhisperGPTSpectrogramFeedback`:
decode the newest frame with the codec (stateful: the decoder's state carries from step to step; the "window" rows
are the previous implementation, re-decoding `context_frames` earlier frames each step), then the causal mel front
end. `--compile` adds rows with the decode step compiled (`torch.compile(fullgraph=True)`, static cache). Reported:
generated frames per second, the real-time factor against the named anchor **real time = 75 frames/s** (RTF above
1 = faster than real time), and a profile of where a hybrid step's time goes (feedback: codec decode and mel; model
forward; the rest of `generate()`).

    python benchmarks/bench_generation.py --quick
    python benchmarks/bench_generation.py --quick --threads 1 --compile --output benchmarks/results/generation.md

Each run is timed twice: wall time, and the CPU time of the generating thread (`time.thread_time`; with
`--threads 1` all of torch's work runs on that thread). On a shared, loaded machine the wall time also counts the
time other processes hold the cores, so the CPU-time columns give the steadier ratio; the where-the-time-goes table
splits CPU time.

The models are randomly initialised (speed does not depend on the weights). Their vocabulary is set to the codec's
codebook size so that every generated code can be decoded. The codec is the default processor's
(`hub/whisper-gpt-processor`) when it exists, else the tests' tiny k-means codec (a printed note says which).
"""

from __future__ import annotations

import time

from common import Report, load_processor, markdown_table, median, parse_args, set_threads, spread, test_audio


def extra_args(parser) -> None:
    parser.add_argument("--new-frames", type=int, default=150, help="frames to generate (75 = 1 s)")
    parser.add_argument("--prompt-seconds", type=float, default=1.0)
    parser.add_argument("--context-frames", type=int, default=20, help="WhisperGPTSpectrogramFeedback context")
    parser.add_argument("--compile", action="store_true",
                        help="add rows compiled with torch.compile(fullgraph=True) (static cache; ~1 min compile each)")
    parser.add_argument(
        "--skip-full-size-codec", action="store_true",
        help="leave out the row with a random EnCodec of facebook/encodec_24khz's size (the slowest row)",
    )


# The where-the-time-goes stopwatches count the generating thread's CPU time (see the module docstring).
clock = time.thread_time


class Stopwatch:
    """Accumulated CPU seconds and call count of one code region."""

    def __init__(self):
        self.seconds = 0.0
        self.calls = 0

    def reset(self):
        self.seconds, self.calls = 0.0, 0


def timed_forward(model) -> Stopwatch:
    """Accumulate the wall time of `model.forward` (hooks on the top module)."""
    watch = Stopwatch()
    state = {}

    def pre(module, args, kwargs):
        state["start"] = clock()

    def post(module, args, kwargs, output):
        watch.seconds += clock() - state["start"]
        watch.calls += 1

    model.register_forward_pre_hook(pre, with_kwargs=True)
    model.register_forward_hook(post, with_kwargs=True)
    return watch


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], extra_args)
    threads = set_threads(args.threads)
    import torch

    from whisper_gpt_hf import WhisperGPTConfig, WhisperGPTForCausalLM, WhisperGPTSpectrogramFeedback

    class TimedFeedback(WhisperGPTSpectrogramFeedback):
        """The real feedback, with stopwatches around the whole call and its codec decode."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.total, self.codec = Stopwatch(), Stopwatch()

        def decode(self, codes):  # the window fallback's codec call
            start = clock()
            out = super().decode(codes)
            self.codec.seconds += clock() - start
            self.codec.calls += 1
            return out

        def decode_stream(self, codes, state):  # the stateful codec call
            start = clock()
            out = super().decode_stream(codes, state)
            self.codec.seconds += clock() - start
            self.codec.calls += 1
            return out

        def __call__(self, codes, start_frame, attention_mask=None):
            start = clock()
            out = super().__call__(codes, start_frame, attention_mask)
            self.total.seconds += clock() - start
            self.total.calls += 1
            return out

    warmup = args.warmup if args.warmup is not None else 1 if args.quick else 2
    repeats = args.repeats if args.repeats is not None else 2 if args.quick else 5
    new_frames = args.new_frames

    title = "Generation speed vs real time: gpt-s (token-only) and hybrid-4m (spectrogram feedback)"
    report = Report(title, args, threads)
    processor, codec_note = load_processor()
    vocab = processor.audio_tokenizer.config.codebook_size
    n_mels = processor.feature_extractor.feature_size  # 64 for the default front end; follow the processor's
    frame_rate = WhisperGPTConfig().frame_rate
    prompt = test_audio(args.prompt_seconds, seed=0)
    inputs = processor(audio=prompt, sampling_rate=processor.sampling_rate, return_tensors="pt")
    prompt_frames = inputs["input_ids"].shape[1]
    report.add(
        f"- {codec_note}",
        f"- models: presets with `vocab_size={vocab}` (the codec's codebook size), random weights, eval mode, fp32; "
        f"greedy, `use_cache=True`, batch 1",
        f"- prompt {args.prompt_seconds:g} s = {prompt_frames} frames; {new_frames} new frames "
        f"({new_frames / frame_rate:.2f} s); feedback `context_frames={args.context_frames}`; warm-up {warmup} "
        f"generation(s), median of {repeats}",
        "",
    )

    torch.manual_seed(0)
    hybrid = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset("hybrid-4m", vocab_size=vocab, n_mels=n_mels)).eval()
    cases = [  # (name, model, feedback or None)
        ("gpt-s (token-only)",
         WhisperGPTForCausalLM(WhisperGPTConfig.from_preset("gpt-s", vocab_size=vocab)).eval(), None),
        ("hybrid-4m + feedback (stateful codec)", hybrid,
         TimedFeedback(processor.audio_tokenizer, processor.feature_extractor)),
        (f"hybrid-4m + feedback (window of {args.context_frames}, before)", hybrid,
         TimedFeedback(processor.audio_tokenizer, processor.feature_extractor, context_frames=args.context_frames,
                       stateful=False)),
    ]
    if not args.skip_full_size_codec:
        # Speed does not depend on the weights: a random EncodecModel of facebook/encodec_24khz's architecture, with
        # random codebooks (a random EncodecModel's are all zero) so that different codes decode differently.
        from transformers import EncodecConfig, EncodecModel

        full_codec = EncodecModel(EncodecConfig()).eval()
        with torch.no_grad():
            for layer in full_codec.quantizer.layers:
                layer.codebook.embed.normal_()
        full_vocab = full_codec.config.codebook_size
        full_hybrid = WhisperGPTForCausalLM(
            WhisperGPTConfig.from_preset("hybrid-4m", vocab_size=full_vocab, n_mels=n_mels)
        ).eval()
        cases.append(("hybrid-4m + feedback (stateful), full-size EnCodec", full_hybrid,
                      TimedFeedback(full_codec, processor.feature_extractor)))
        cases.append((f"hybrid-4m + feedback (window of {args.context_frames}, before), full-size EnCodec", full_hybrid,
                      TimedFeedback(full_codec, processor.feature_extractor, context_frames=args.context_frames,
                                    stateful=False)))
        report.add(
            f"- full-size rows: the same feedback with a randomly initialised EnCodec of `facebook/encodec_24khz`'s "
            f"architecture ({sum(p.numel() for p in full_codec.parameters()) / 1e6:.2f}M parameters, random "
            f"codebooks of {full_vocab}; model `vocab_size={full_vocab}`): what a real-size codec costs per step",
            "- stateful = `WhisperGPTSpectrogramFeedback` (the default: each step decodes only the new frame, carrying "
            "the codec decoder's state); window = the previous implementation (`stateful=False`: each step re-decodes "
            f"the new frame plus {args.context_frames} earlier ones)",
            "",
        )

    cases = [(*case, None) for case in cases]  # (name, model, feedback, extra generate kwargs)
    if args.compile:
        # torch.compile(fullgraph=True) of the decode step through generate(): a static cache (it covers the
        # spectrogram blocks too) and transformers' CompileConfig, allowed on CPU. Separate model copies: the
        # forward-timing hooks of the eager rows would break the graph. The feedback runs eagerly between steps.
        import copy

        from transformers import CompileConfig

        compile_config = CompileConfig(fullgraph=True, mode="default")
        compile_config._compile_all_devices = True  # transformers compiles on CUDA only unless told
        compiled = dict(cache_implementation="static", compile_config=compile_config)
        cases.append(("gpt-s (token-only), compiled", copy.deepcopy(cases[0][1]), None, compiled))
        cases.append(("hybrid-4m + feedback (stateful), compiled", copy.deepcopy(hybrid),
                      TimedFeedback(processor.audio_tokenizer, processor.feature_extractor), compiled))
        if not args.skip_full_size_codec:
            cases.append(("hybrid-4m + feedback (stateful), full-size EnCodec, compiled", copy.deepcopy(full_hybrid),
                          TimedFeedback(full_codec, processor.feature_extractor), compiled))
        report.add(
            "- compiled rows: `generate(..., cache_implementation=\"static\", compile_config=CompileConfig("
            "fullgraph=True, mode=\"default\"))` (inductor, CPU allowed); compile time is in the warm-up, not timed",
            "",
        )

    runs = {}
    for name, model, feedback, extra in cases:
        kwargs = dict(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], do_sample=False, use_cache=True,
            pad_token_id=0,
        )
        if feedback is not None:
            kwargs.update(input_features=inputs["input_features"], spectrogram_feedback=feedback)
        kwargs.update(extra or {})

        def generate(n, model=model, kwargs=kwargs):
            with torch.inference_mode():
                out = model.generate(**kwargs, max_new_tokens=n, min_new_tokens=n)
            assert out.shape == (1, prompt_frames + n), out.shape
            return out

        for _ in range(warmup):  # compiled rows warm up at the timed length (a static cache's size is in the graph)
            generate(new_frames if extra else min(new_frames, 10))
        runs[name] = (generate, Stopwatch() if extra else timed_forward(model), feedback)

    # Repeats interleaved across the models (see common.measure_interleaved), with the stopwatches read per run.
    times = {name: [] for name in runs}
    cpu_times = {name: [] for name in runs}
    profiles = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (generate, forward_watch, feedback) in runs.items():
            forward_watch.reset()
            if feedback is not None:
                feedback.total.reset()
                feedback.codec.reset()
            start, cpu_start = time.perf_counter(), clock()
            generate(new_frames)
            elapsed, cpu = time.perf_counter() - start, clock() - cpu_start
            times[name].append(elapsed)
            cpu_times[name].append(cpu)
            profiles[name].append(dict(
                total=cpu, forward=forward_watch.seconds, steps=forward_watch.calls,
                feedback=feedback.total.seconds if feedback else 0.0, codec=feedback.codec.seconds if feedback else 0.0,
                feedback_calls=feedback.total.calls if feedback else 0,
            ))
    results = {
        name: (sum(p.numel() for p in model.parameters()), times[name], profiles[name], cpu_times[name])
        for name, model, *_ in cases
    }

    anchor_name = "gpt-s (token-only)"
    compiled_anchor = "gpt-s (token-only), compiled"
    rows = []
    for name, (params, times, _, cpu) in results.items():
        m, c = median(times), median(cpu)
        fps = new_frames / m
        # like for like: a compiled row against compiled gpt-s, an eager row against eager gpt-s
        same = compiled_anchor if name.endswith(", compiled") and compiled_anchor in results else anchor_name
        rows.append([
            name, f"{params / 1e6:.3f}M", f"{m:.3f}", spread(times), f"{m / new_frames * 1e3:.2f}", f"{fps:,.1f}",
            f"{fps / frame_rate:.2f}x", f"{median(results[anchor_name][1]) / m:.2f}x",
            f"{c:.3f}", f"{new_frames / c / frame_rate:.2f}x", f"{median(results[anchor_name][3]) / c:.2f}x",
            f"{median(results[same][1]) / m:.2f}x / {median(results[same][3]) / c:.2f}x",
        ])
    report.add(
        f"Anchor: **real time = {frame_rate:g} frames/s** (EnCodec 24 kHz, hop 320). RTF = generated frames/s / "
        f"{frame_rate:g} (above 1x = faster than real time). \"speed vs gpt-s\" compares with gpt-s in this run, "
        "by wall time and by the generating thread's CPU time (the steadier one on a loaded machine), always against "
        "eager gpt-s; \"vs gpt-s, same mode\" compares like for like (a compiled row with compiled gpt-s).",
        "",
        *markdown_table(
            ["model", "parameters", "median s", "min-max s", "ms / frame", "frames/s", "RTF (vs 75 frames/s)",
             "speed vs gpt-s", "median CPU s", "RTF (CPU time)", "speed vs gpt-s (CPU time)",
             "vs gpt-s, same mode (wall / CPU)"],
            rows,
        ),
        "",
    )

    # Profile: the repeat with the median total time (the upper one for an even count), per model.
    prof_rows = []
    for name, (_, times, profiles, _) in results.items():
        p = sorted(profiles, key=lambda p: p["total"])[len(profiles) // 2]
        mel = p["feedback"] - p["codec"]
        rest = p["total"] - p["forward"] - p["feedback"]
        share = lambda x: f"{x * 1e3:.0f} ms ({100 * x / p['total']:.0f}%)"  # noqa: E731
        timed = p["steps"] > 0  # compiled rows have no forward hooks: forward and rest are not split
        prof_rows.append([
            name, f"{p['total'] * 1e3:.0f} ms", p["steps"] if timed else "-", share(p["forward"]) if timed else "-",
            share(p["feedback"]) if p["feedback_calls"] else "-",
            share(p["codec"]) if p["feedback_calls"] else "-",
            share(mel) if p["feedback_calls"] else "-",
            share(rest) if timed else f"forward + rest: {share(p['total'] - p['feedback'])}",
        ])
    report.add(
        "Where the time goes (CPU time of the generating thread, the repeat with the median CPU time): model forward "
        "= all `forward` calls (prefill + one per step); "
        "feedback = `WhisperGPTSpectrogramFeedback.__call__` (codec decode + causal mel); rest = the remainder of "
        "`generate()` (input preparation, logits processing, stopping criteria, cache bookkeeping).",
        "",
        *markdown_table(
            ["model", "total", "forward calls", "model forward", "feedback (total)", "  codec decode", "  mel",
             "rest of generate()"],
            prof_rows,
        ),
    )
    report.finish()


if __name__ == "__main__":
    main()
