"""Training throughput: WHISPER-GPT hybrid-4m and gpt-s vs transformers' `GPT2LMHeadModel` of gpt-s size.

One step = forward + loss + backward + AdamW step on a batch of 8 x 256 frames, fp32 on CPU, train mode (dropout
on). Inputs are random codes (and, for the hybrid, random mel slices: the features are precomputed in training, so
the front end is not part of a step). Reported: tokens (frames) per second and the ratio against the named anchor
measured in the same run, `GPT2LMHeadModel(n_embd=256, n_layer=4, n_head=4, n_positions=1024, vocab_size=1024)`.

    python benchmarks/bench_training.py --quick
    python benchmarks/bench_training.py --threads 2 --output benchmarks/results/training.md

GPT-2's attention dropout is set to 0.0 to match WHISPER-GPT's `attention_dropout` default; residual and embedding
dropout are 0.1 in both. Both use the same attention implementation (printed).
"""

from __future__ import annotations

from common import Report, markdown_table, measure_interleaved, median, parse_args, set_threads, spread


def extra_args(parser) -> None:
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--frames", type=int, default=256)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], extra_args)
    threads = set_threads(args.threads)
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from whisper_gpt_hf import WhisperGPTConfig, WhisperGPTForCausalLM

    # The first (checked) step is always run untimed; `warmup` counts it.
    warmup = args.warmup if args.warmup is not None else 1 if args.quick else 3
    repeats = args.repeats if args.repeats is not None else 3 if args.quick else 10
    batch, frames = args.batch_size, args.frames
    tokens = batch * frames

    report = Report("Training throughput: WHISPER-GPT vs transformers GPT2LMHeadModel", args, threads)
    report.add(
        f"- step: forward + backward + AdamW (lr 3e-4), batch {batch} x {frames} frames = {tokens} tokens, fp32, "
        f"train mode; warm-up {warmup} steps, median of {repeats} timed steps",
        "",
    )

    torch.manual_seed(0)
    gpt2_config = GPT2Config(
        n_embd=256, n_layer=4, n_head=4, n_positions=1024, vocab_size=1024, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None,
    )
    models = {
        "GPT2LMHeadModel (gpt-s size)": GPT2LMHeadModel(gpt2_config),
        "WhisperGPT gpt-s": WhisperGPTForCausalLM(WhisperGPTConfig.from_preset("gpt-s")),
        "WhisperGPT hybrid-4m": WhisperGPTForCausalLM(WhisperGPTConfig.from_preset("hybrid-4m")),
    }
    input_ids = torch.randint(0, 1024, (batch, frames))
    input_features = torch.randn(batch, frames, 64) * 0.5

    steps = {}
    for name, model in models.items():
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
        inputs = dict(input_ids=input_ids, labels=input_ids)
        if getattr(model.config, "use_spectrogram", False):
            inputs["input_features"] = input_features

        def step(model=model, optimizer=optimizer, inputs=inputs):
            loss = model(**inputs, use_cache=False).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss

        assert torch.isfinite(step()).item()  # the first warm-up step
        steps[name] = step
    timed = measure_interleaved(steps, max(0, warmup - 1), repeats)
    results = {
        # unique parameters: a tied head counts once
        name: (sum(p.numel() for p in model.parameters()), model.config._attn_implementation, timed[name])
        for name, model in models.items()
    }

    anchor = median(results["GPT2LMHeadModel (gpt-s size)"][2])
    rows = []
    for name, (params, attn, times) in results.items():
        m = median(times)
        rows.append([
            name, f"{params / 1e6:.3f}M", attn, f"{m * 1e3:.0f}", spread([t * 1e3 for t in times]),
            f"{tokens / m:,.0f}", f"{anchor / m:.2f}x",
        ])
    report.add(
        "Anchor: **`GPT2LMHeadModel` at gpt-s size** (n_embd 256, n_layer 4, n_head 4, n_positions 1024, vocab 1024, "
        "tied head). Ratio = anchor step time / row step time (tokens/s relative to GPT-2; above 1x = faster).",
        "",
        *markdown_table(
            ["model", "parameters", "attention", "median ms / step", "min-max ms", "tokens/s", "tokens/s vs GPT2"],
            rows,
        ),
    )
    report.finish()


if __name__ == "__main__":
    main()
