"""Train a small codec in the EnCodec architecture on the synthesized corpus: the package's offline audio tokenizer.

A randomly initialised transformers `EncodecModel` has all-zero codebooks (every frame encodes to code 0) and
`facebook/encodec_24khz` cannot be downloaded here, so this trains a reduced `EncodecModel` (24 kHz, hop 8*5*4*2 =
320, causal convolutions, 1024-code codebooks, 1 codebook at 0.75 kbps / 2 at 1.5 kbps / 4 at 3 kbps, ~0.7 M parameters)
with:

- reconstruction losses: multi-scale mel L1 (log and linear magnitude, STFT sizes 128..2048), multi-scale STFT loss
  (spectral convergence + log-magnitude L1 on the same STFTs) and waveform L1 (optionally a negative SI-SNR term);
- a commitment loss (each residual layer's input -> stop-gradient of its quantized value, averaged over the layers
  used, as EnCodec);
- weight-norm data-dependent init of the encoder (its output starts with unit spread, so codebooks can follow it);
- codebooks as EnCodec trains them: k-means on encoder outputs at step 0, then exponential moving averages of the
  assigned encoder outputs (`cluster_size` / `embed_avg`, Laplace-smoothed) with dead-code replacement, all on the
  model's own `quantizer.layers[i].codebook` buffers, so `model.encode` / `model.decode` use exactly what was trained.
  Gradients pass the quantizer by the straight-through estimator. Each step uses the codebooks of one of the
  configured `target_bandwidths`, drawn at random (EnCodec's bandwidth sampling), so every bandwidth decodes and each
  residual level learns what the levels before it leave.

Why the bandwidth ladder needs care: the first committed codec (sampling 2 or 4 codebooks, the commitment summed over
the layers) let its encoder collapse onto the first codebook's 1024 points (0.6 % of the encoder output's energy left
for the residual levels, measured), so decoding 1, 2 or 4 codebooks gave the same log-mel L1. Drawing a single
codebook too, and a commitment averaged over the layers (EnCodec's recipe), was not enough in short runs (3-minute
pilots from scratch, in 64 and 16 latent dims: the same L1 at every bandwidth). `--coarse-dims N` keeps the first
codebook to the leading N latent dimensions, so the others reach the decoder only through codebooks 2..: the decoder
must learn to read them (see `restrict_to_coarse`). `--init-from` starts from an existing codec's weights.

The pieces live next to this loop: `config` (architecture, init), `quantization` (the EMA residual VQ), `losses`,
`data` (clips and crops), `arguments` (`CodecTrainingArguments`), `saving` / `card` (the codec folder and its card);
the checkpoints are `whisper_gpt_hf.training.checkpointing`'s (safetensors + JSON, written atomically, rotated: the
model with its codebook buffers, the optimizer, the schedule, every RNG; the crop sampler's RNG, the bandwidth
generator and the training time ride in `trainer_state.json`), so a resumed run equals an uninterrupted one. The
schedule is `whisper_gpt_hf.training.schedule.warmup_cosine` (warmup ramp `(s + 1) / (w + 1)`; the committed codec
was trained with the former `(s + 1) / w`, a difference of under one warmup step).

There is **no adversarial loss** (EnCodec's multi-scale STFT discriminator) and no loss balancer: that, the tiny size
and ~25 CPU-minutes of training put it far below `facebook/encodec_24khz`. It exists so that tests and demos run
offline with codes that mean something; online users should use `facebook/encodec_24khz`.

Train a codec from scratch with the bandwidth ladder (and save the default processor that bundles it):

    nice -n 5 whisper-gpt train-codec --dataset data/whisper-gpt-corpus-large \
        --output-dir hub/whisper-gpt-codec-small --processor-output-dir hub/whisper-gpt-processor \
        --checkpoint-dir runs/codec-small --max-steps 2000 --max-minutes 40 --batch-size 16 \
        --segment-seconds 0.64 --lr 1.5e-3 --seed 0 --save-every 100 --num-threads 1 \
        --coarse-dims 32 --continuous-fraction 0.3 --corr-weight 0.2 --commit-weight 0.05
    # interrupted? the same command with --resume continues from the newest checkpoint, exactly

The committed codec was not trained by that one command but in three stages (first codec, then two retrainings with
`--init-from`); its model card lists them with their exact commands.

Then measure it and put the numbers into its model card:

    whisper-gpt codec-report --codec hub/whisper-gpt-codec-small --dataset hub/whisper-gpt-corpus-small \
        --split test --output-dir docs --update-card

Single process only (the EMA codebook statistics are not all-reduced across processes).
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np
import torch

from whisper_gpt_hf.audio.codec.arguments import MIN_LR_RATIO, CodecTrainingArguments
from whisper_gpt_hf.audio.codec.config import (
    SAMPLING_RATE,
    data_dependent_init,
    load_initial_weights,
    num_parameters,
    quantizers_per_bandwidth,
    small_codec_config,
)
from whisper_gpt_hf.audio.codec.data import SegmentSampler, load_clips
from whisper_gpt_hf.audio.codec.losses import MultiScaleMelLoss, correlation_loss
from whisper_gpt_hf.audio.codec.quantization import (
    init_codebooks_kmeans,
    residual_energy,
    residual_quantize,
)
from whisper_gpt_hf.audio.codec.saving import save_codec, save_default_processor
from whisper_gpt_hf.training.checkpointing import (
    CheckpointReadError,
    list_checkpoints,
    load_training_state,
    remove_unfinished,
    save_checkpoint,
)
from whisper_gpt_hf.training.schedule import warmup_cosine_scheduler

LOSS_KEYS = ("loss", "mel", "stft", "wave", "corr", "commit")
SAVE_TOTAL_LIMIT = 2  # checkpoints kept in --checkpoint-dir


def training_step(model, loss_fn, audio: torch.Tensor, n_q: int, args: CodecTrainingArguments, generator=None) -> dict:
    """One forward pass: encode, quantize (EMA-updating the codebooks), decode; returns the losses.

    `n_q = 0` is a continuous step (`--continuous-fraction`): the codebooks are updated and the commitment computed
    with all of them, but the decoder gets the unquantized encoder output. Why: the finer codebooks only help if the
    decoder reads detail the coarse code lacks; trained on quantized latents alone, a small decoder learns to render
    what one codebook carries and ignores the rest (measured: equal L1 at every bandwidth). Trained on the continuous
    latent too, it reads all of it, and each added codebook brings the quantized latent closer to it.
    """
    z = model.encoder(audio)
    quantize_n_q = n_q or model.config.num_quantizers
    zq, codes, commit, replaced = residual_quantize(model, z, quantize_n_q, update_codebooks=True,
                                                    decay=args.ema_decay, dead_threshold=dead_code_threshold(args, z),
                                                    generator=generator, coarse_dims=args.coarse_dims)
    y = model.decoder(zq if n_q else z)[..., : audio.shape[-1]]
    spectral = loss_fn.losses(y, audio)
    mel, stft = spectral["mel"], spectral["stft"]
    wave = (y - audio).abs().mean()
    corr = correlation_loss(y, audio)
    loss = (args.mel_weight * mel + args.stft_weight * stft + args.wave_weight * wave
            + args.corr_weight * corr + args.commit_weight * commit)
    return {"loss": loss, "mel": mel.detach(), "stft": stft.detach(), "wave": wave.detach(), "corr": corr.detach(),
            "commit": commit.detach(), "replaced": replaced, "distinct": int(codes[0].unique().numel()),
            "z": z.detach()}


def dead_code_threshold(args, z: torch.Tensor) -> float:
    # in units of the uniform share (batch frames / codebook size): independent of batch size and segment length
    return args.dead_code_fraction * z.shape[0] * z.shape[-1] / args.codebook_size



@torch.no_grad()
def encoder_outputs(model, sampler: SegmentSampler, seconds: float, batch_size: int, device) -> torch.Tensor:
    """Encoder output vectors `[N, D]` of `seconds` of random training crops (the k-means pool)."""
    chunks, n = [], 0
    while n < seconds * SAMPLING_RATE:
        audio = sampler.sample(batch_size).to(device)
        chunks.append(model.encoder(audio).permute(0, 2, 1).reshape(-1, model.config.hidden_size).float().cpu())
        n += audio.numel()
    return torch.cat(chunks)



def _generator_state(generator: torch.Generator) -> str:
    return generator.get_state().numpy().tobytes().hex()  # JSON-ready (trainer_state.json)


def _set_generator_state(generator: torch.Generator, state: str) -> None:
    generator.set_state(torch.frombuffer(bytearray.fromhex(state), dtype=torch.uint8).clone())


def newest_checkpoint(checkpoint_dir: str | os.PathLike) -> str | None:
    """The newest complete checkpoint in `checkpoint_dir` (after removing a killed run's unfinished ones), or None.

    A checkpoint of the earlier `train-codec` (Accelerate `save_state`: the crop sampler and the step pickled in
    `custom_checkpoint_*.pkl`) is refused, never unpickled."""
    checkpoint_dir = os.fspath(checkpoint_dir)
    if not os.path.isdir(checkpoint_dir):
        return None
    remove_unfinished(checkpoint_dir)
    found = list_checkpoints(checkpoint_dir)
    if not found:
        return None
    path = found[-1][1]
    if os.path.isfile(os.path.join(path, "optimizer.bin")) and not os.path.isfile(
            os.path.join(path, "optimizer.safetensors")):
        raise CheckpointReadError(
            f"{path} was written by the earlier train-codec (Accelerate pickles), which --resume no longer reads. "
            "Start a new run (another --checkpoint-dir), or continue from its weights: save them as a codec folder "
            "and pass --init-from.")
    return path


def train(args: CodecTrainingArguments) -> dict:
    """Train (or resume) and save the codec to `args.output_dir`; returns a summary (also used by the tests)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import EncodecModel

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    accelerator = Accelerator(mixed_precision=args.mixed_precision, cpu=args.cpu)
    if accelerator.num_processes > 1:
        raise RuntimeError("train-codec runs in one process: the EMA codebook statistics are not all-reduced.")
    set_seed(args.seed)
    config = small_codec_config(args.num_filters, args.hidden_size, args.codebook_size,
                                target_bandwidths=args.target_bandwidths)
    model = EncodecModel(config)
    resumed_from = newest_checkpoint(args.checkpoint_dir) if args.resume else None
    init_from = args.init_from
    if init_from and resumed_from is None:
        load_initial_weights(model, init_from)
    clips = load_clips(args.dataset, "train", max_seconds=args.max_train_seconds)
    train_hours = sum(len(c["audio"]) for c in clips) / SAMPLING_RATE / 3600
    sampler = SegmentSampler(clips, int(args.segment_seconds * SAMPLING_RATE), args.seed)
    loss_fn = MultiScaleMelLoss().to(accelerator.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.5, 0.9), weight_decay=0.0)
    scheduler = warmup_cosine_scheduler(optimizer, args.warmup_steps, args.max_steps, MIN_LR_RATIO)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    raw = accelerator.unwrap_model(model)
    generator = torch.Generator().manual_seed(args.seed)  # bandwidth draws and dead-code restarts
    step, train_seconds = 0, 0.0

    if resumed_from is not None:
        # model (codebook buffers included), optimizer, schedule, global RNGs; the rest from the JSON record
        record = load_training_state(accelerator, resumed_from, model, optimizer, scheduler)
        step, train_seconds = int(record["step"]), float(record["train_seconds"])
        sampler.load_state_dict(record["sampler"])
        _set_generator_state(generator, record["generator"])
        accelerator.print(f"resumed from {resumed_from} at step {step}")
    elif init_from and not args.refit_codebooks:
        accelerator.print(f"starting from the weights and codebooks of {init_from}")
    else:
        if not init_from:
            data_dependent_init(raw.encoder, sampler.sample(args.batch_size).to(accelerator.device))
        pool = encoder_outputs(raw, sampler, args.kmeans_seconds, args.batch_size, accelerator.device)
        batch_frames = args.batch_size * math.ceil(args.segment_seconds * SAMPLING_RATE / raw.config.hop_length)
        init_codebooks_kmeans(raw, pool, iters=args.kmeans_iters, seed=args.seed, batch_frames=batch_frames,
                              coarse_dims=args.coarse_dims)

    def checkpoint() -> str:
        extra = {"train_seconds": train_seconds, "sampler": sampler.state_dict(),
                 "generator": _generator_state(generator)}
        return save_checkpoint(accelerator, args.checkpoint_dir, step, SAVE_TOTAL_LIMIT, extra,
                               model=model, optimizer=optimizer, scheduler=scheduler)

    start_step = step
    choices = quantizers_per_bandwidth(raw)
    history = []
    model.train()
    bar = tqdm(total=args.max_steps, initial=start_step, desc="train-codec", unit="step",
               disable=not accelerator.is_local_main_process or args.no_progress)
    t0, deadline = time.perf_counter(), time.perf_counter() + args.max_minutes * 60 if args.max_minutes else math.inf
    while step < args.max_steps and time.perf_counter() < deadline:
        tick = time.perf_counter()
        audio = sampler.sample(args.batch_size).to(accelerator.device)
        n_q = choices[int(torch.randint(len(choices), (1,), generator=generator))]
        if args.continuous_fraction > 0 and float(torch.rand(1, generator=generator)) < args.continuous_fraction:
            n_q = 0  # a continuous step (see training_step)
        with accelerator.autocast():
            out = training_step(raw, loss_fn, audio, n_q, args, generator)
        accelerator.backward(out["loss"])
        accelerator.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        train_seconds += time.perf_counter() - tick
        record = {"step": step, "n_q": n_q, "replaced": out["replaced"], "distinct": out["distinct"],
                  "lr": scheduler.get_last_lr()[0],
                  **{k: float(out[k].detach()) for k in LOSS_KEYS}}
        if args.log_every and step % args.log_every == 0:
            record["residual_energy"] = [round(v, 4) for v in residual_energy(raw, out["z"])]
        history.append(record)
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.3f}", mel=f"{record['mel']:.3f}", codes=record["distinct"],
                        dead=record["replaced"])
        if args.log_file and (step % args.log_every == 0 or step == args.max_steps):
            with open(args.log_file, "a") as f:
                f.write(json.dumps(record) + "\n")
        if args.save_every and step % args.save_every == 0:
            checkpoint()
    bar.close()
    # always leave a checkpoint at the last step, so `--resume` with a larger --max-steps continues from here
    checkpoint()
    summary = {
        "start_step": start_step,
        "step": step,
        "train_seconds": round(train_seconds, 1),
        "wall_seconds_this_run": round(time.perf_counter() - t0, 1),
        "resumed_from": str(resumed_from) if resumed_from else None,
        "train_hours": round(train_hours, 3),
        "num_parameters": num_parameters(raw),
        "final": {k: float(np.mean([h[k] for h in history[-50:]])) for k in LOSS_KEYS} if history else None,
        "final_residual_energy": next((h["residual_energy"] for h in reversed(history) if "residual_energy" in h),
                                      None),
        "init_from": str(init_from) if init_from else None,
        "final_steps_averaged": min(50, len(history)),
        "history": history,
    }
    if args.output_dir:
        save_codec(raw, args.output_dir, args, summary)
        if args.processor_output_dir:
            save_default_processor(args.output_dir, args.processor_output_dir)
    return summary


__all__ = [
    "LOSS_KEYS",
    "dead_code_threshold",
    "encoder_outputs",
    "newest_checkpoint",
    "train",
    "training_step",
]
