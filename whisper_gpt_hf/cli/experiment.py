"""`whisper-gpt experiment`: the paper's Tables 1-2 (see `whisper_gpt_hf.evaluation.experiment`)."""

from __future__ import annotations

import argparse
import json
import logging

import torch

from whisper_gpt_hf.evaluation import experiment
from whisper_gpt_hf.evaluation.experiment import FULL_RUN, PAPER_PRESETS, TINY_MODEL_OVERRIDES, TINY_RUN, ExperimentConfig, run_experiment


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    run_defaults = TINY_RUN if args.tiny else FULL_RUN
    values = {k: (getattr(args, k) if getattr(args, k) is not None else run_defaults[k]) for k in FULL_RUN}
    extra = json.loads(args.model_overrides) if args.model_overrides else {}
    if not isinstance(extra, dict):
        raise ValueError(f"--model-overrides must be a JSON object, got {args.model_overrides!r}.")
    per_preset = {}
    for preset in args.presets:
        base = dict(TINY_MODEL_OVERRIDES.get(preset, {})) if args.tiny else {}
        # Either one object for every preset, or {"preset": {...}} per preset.
        specific = extra.get(preset) if isinstance(extra.get(preset), dict) else None
        shared = {k: v for k, v in extra.items() if k not in PAPER_PRESETS}
        per_preset[preset] = {**base, **shared, **(specific or {})}
    return ExperimentConfig(
        dataset=args.dataset, output_dir=args.output_dir, presets=list(args.presets), learning_rate=args.learning_rate,
        seed=args.seed, seeds=list(args.seeds) if args.seeds else None, processor=args.processor, dataset_config=args.dataset_config, audio_column=args.audio_column,
        category_column=args.category_column, train_split=args.train_split,
        eval_split=args.eval_split or None, test_split=args.test_split,
        model_overrides={k: v for k, v in per_preset.items() if v}, eval_batch_size=args.eval_batch_size,
        save_every=args.save_every, mixed_precision=args.mixed_precision, data_cache_dir=args.data_cache_dir,
        features_from=args.features_from, prepared=args.prepared, **values,
    )



def experiment_command(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("whisper_gpt_hf").setLevel(logging.INFO)
    config = config_from_args(args)
    results, paths = run_experiment(config)
    with open(paths["markdown"]) as f:
        print(f.read())
    print("Wrote " + ", ".join(paths.values()))
    return 0



def add_parser(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="the paper's Tables 1-2: train hybrid + GPT baselines, evaluate",
                              description=experiment.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True,
                   help="Hub repo id, Hub-layout folder, audiofolder or save_to_disk folder")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--presets", nargs="+", default=list(PAPER_PRESETS), choices=list(PAPER_PRESETS))
    p.add_argument("--tiny", action="store_true",
                   help=f"smoke run: tiny versions of the presets and small run defaults {TINY_RUN}")
    run = p.add_argument_group("budget (identical for every preset; defaults: full run / --tiny)")
    for key in ("max_steps", "batch_size", "window_frames", "min_frames", "warmup_steps", "max_clips", "log_every",
                "eval_every"):
        run.add_argument("--" + key.replace("_", "-"), type=int, default=None,
                         help=f"default {FULL_RUN[key]} / {TINY_RUN[key]}")
    run.add_argument("--report-to", choices=["tensorboard", "none"], default=None,
                     help=f"default {FULL_RUN['report_to']} / {TINY_RUN['report_to']}")
    run.add_argument("--learning-rate", type=float, default=1e-3)
    run.add_argument("--seed", type=int, default=0, help="initialisation and data order seed (the same for all)")
    run.add_argument("--seeds", type=int, nargs="+", default=None,
                     help="train every preset once per seed (OUTPUT/models/seed-S/PRESET); the table shows the mean "
                          "and spread over seeds")
    run.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (a rerun then resumes)")
    run.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=None)
    p.add_argument("--model-overrides", default=None,
                   help='JSON config overrides: {"dropout": 0.0} for every preset or {"gpt-l": {...}} for one')
    p.add_argument("--processor", default=None, help="processor folder (default: the embedded one)")
    p.add_argument("--dataset-config", default=None)
    p.add_argument("--audio-column", default="audio")
    p.add_argument("--category-column", default="category")
    p.add_argument("--train-split", default="train")
    p.add_argument("--eval-split", default="validation", help="validation split for training curves ('' for none)")
    p.add_argument("--test-split", default="test")
    p.add_argument("--eval-batch-size", type=int, default=8)
    p.add_argument("--data-cache-dir", default=None, help="prepared-data cache (default OUTPUT/prepared)")
    p.add_argument("--prepared", default=None, help="read the splits from a `whisper-gpt prepare` folder (--dataset "
                                                    "then only names the corpus)")
    p.add_argument("--features-from", choices=["audio", "reconstruction"], default="audio",
                   help="mel slices of the audio, or of the codec's decode of each clip's own codes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=experiment_command)
