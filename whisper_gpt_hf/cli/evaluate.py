"""`whisper-gpt evaluate`: score one or more models on the same prepared windows (see `whisper_gpt_hf.evaluation`)."""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from whisper_gpt_hf.evaluation import scoring
from whisper_gpt_hf.evaluation.scoring import (
    check_same_positions,
    evaluate_model,
    plot_position_nll,
    prepare_for_scoring,
    results_table,
)


def evaluate_command(args: argparse.Namespace) -> int:
    from whisper_gpt_hf import data
    from whisper_gpt_hf.loading import check_model_processor, load_model, load_model_and_processor

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.max_windows is not None and args.max_windows < 1:
        raise ValueError(f"--max-windows must be >= 1, got {args.max_windows}; leave it out to score every window.")
    model, processor, processor_source = load_model_and_processor(args.model, args.processor, args.device)
    print(f"processor: {processor_source}", file=sys.stderr)
    models = [(args.model, model)]
    for path in args.compare or []:
        models.append((path, load_model(path, args.device)))
    for path, m in models[1:]:
        check_model_processor(m, processor, path)  # --compare models are scored with the first model's processor
    window = min(args.window_frames, *(m.config.max_position_embeddings for _, m in models))

    if args.prepared:  # windows from `whisper-gpt prepare` (checked: same processor and kind, fit the context)
        prepared, report = data.load_prepared_split(args.prepared, args.split, processor, args.features_from, window)
        args.dataset = args.dataset or args.prepared
    elif not args.dataset:
        raise ValueError("Pass --dataset (audio to prepare) or --prepared (a `whisper-gpt prepare` folder).")
    else:
        prepared, report = prepare_for_scoring(
            processor, args.dataset, args.split, window_frames=window, min_frames=args.min_frames,
            dataset_config=args.dataset_config, audio_column=args.audio_column,
            category_column=args.category_column, features_from=args.features_from, progress=not args.json,
            num_codebooks=max(getattr(m.config, "num_codebooks", 1) for _, m in models),
        )
    if args.max_windows is not None:
        prepared = prepared.select(range(min(args.max_windows, len(prepared))))
    print(report.summary(), file=sys.stderr)

    results = [
        evaluate_model(m, prepared, batch_size=args.batch_size, category_column=args.category_column,
                       name=os.path.basename(os.path.normpath(path)) or path, progress=not args.json)
        for path, m in models
    ]
    check_same_positions(results)
    if args.plot_positions:
        plot_position_nll(results, args.plot_positions, title=f"{args.dataset} [{args.split}]")
    if args.json:
        print(json.dumps({"dataset": args.dataset, "split": args.split, "window_frames": window,
                          "processor": processor_source, "results": [r.to_dict() for r in results]}, indent=2))
    else:
        print(f"{args.dataset} [{args.split}]: {len(prepared)} windows of <= {window} frames; scored: positions 1..L-1 "
              "of each window (the same codes for every model)")
        print(f"processor: {processor_source}")
        print(results_table(results, markdown=False))
        for r in results:
            if r.fine_nll is not None:  # the NLL above is the coarse codebook's (the paper's metric)
                print(f"{r.name}: fine codebooks NLL (nats) " + ", ".join(
                    f"{k + 2}: {x:.4f}" for k, x in enumerate(r.fine_nll)))
        if args.plot_positions:
            print(f"Wrote {args.plot_positions}")
    return 0



def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="NLL / PPL / accuracy of one or more models on a dataset",
                              description=scoring.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder or Hub repo id")
    p.add_argument("--dataset", default=None, help="Hub repo id, Hub-layout folder or audiofolder")
    p.add_argument("--prepared", default=None, help="score the split of a `whisper-gpt prepare` folder instead")
    p.add_argument("--features-from", choices=["audio", "reconstruction"], default="audio",
                   help="mel slices of the audio, or of the codec's decode of each clip's own codes (what "
                        "generation feeds the model)")
    p.add_argument("--split", default="test", help="split to score (default test)")
    p.add_argument("--dataset-config", default=None, help="dataset configuration name")
    p.add_argument("--audio-column", default="audio")
    p.add_argument("--category-column", default="category", help="per-category numbers group by this column")
    p.add_argument("--processor", default=None, help="processor folder (default: the model's own or the embedded one)")
    p.add_argument("--compare", nargs="*", default=[], metavar="DIR",
                   help="more models scored on the same prepared windows (they must share the processor's codec)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--window-frames", type=int, default=256, help="frames per scored window (capped by the context)")
    p.add_argument("--min-frames", type=int, default=16, help="shortest clip / trailing window scored")
    p.add_argument("--max-windows", type=int, default=None, help="score only the first N windows (quick looks)")
    p.add_argument("--json", action="store_true", help="print JSON (with per-position NLL) instead of the table")
    p.add_argument("--plot-positions", default=None, metavar="PNG", help="write a per-position NLL plot")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=evaluate_command)
