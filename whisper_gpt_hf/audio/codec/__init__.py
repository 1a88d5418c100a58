"""The small EnCodec-architecture codec: training (`whisper-gpt train-codec`) and the quality report
(`whisper-gpt codec-report`). One concern per module:

- `config`: the reduced 24 kHz `EncodecConfig`, the encoder's data-dependent init, `--init-from`, codebooks/bandwidths.
- `quantization`: residual VQ with EMA codebooks on the model's buffers (k-means init, EMA, dead codes, coarse dims).
- `data`: clips of any `datasets` audio source in memory, random crops (`SegmentSampler`).
- `losses`: multi-scale mel + STFT, waveform correlation.
- `arguments`: `CodecTrainingArguments` (the `HfArgumentParser` dataclass behind the flags), `training_args.json`.
- `train`: the training loop, checkpointed by `whisper_gpt_hf.training.checkpointing`.
- `saving`: the codec folder and the default processor that bundles it (the codec wing's `hub/` asset builders).
- `card`: their model cards (`cards/codec.md`, `cards/processor.md`).
- `report`: codebook usage and reconstruction quality per category (`codec-report`).

The command-line parts are `whisper_gpt_hf.cli.train_codec` and `whisper_gpt_hf.cli.codec_report`.
"""
