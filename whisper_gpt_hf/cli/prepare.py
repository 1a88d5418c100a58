"""`whisper-gpt prepare`: encode a dataset once (codes + causal mel slices, cut into windows) into a folder that
`train --prepared`, `evaluate --prepared` and `experiment --prepared` read directly.

    # one process
    whisper-gpt prepare --dataset hub/whisper-gpt-corpus-small --output-dir data/prepared-small
    # any number of processes (each takes its shards; on a GPU machine each encodes on its own GPU)
    accelerate launch --config_file configs/accelerate/cpu_2proc.yaml -m whisper_gpt_hf.cli prepare \\
        --dataset hub/whisper-gpt-corpus-small --split train validation --output-dir data/prepared-small
    torchrun --nproc_per_node 8 -m whisper_gpt_hf.cli prepare --dataset org/corpus --streaming --output-dir P

Layout: `P/<split>/dataset` (`save_to_disk`), `P/<split>/preparation_report.json` (the skipped clips of every
shard) and `P/<split>/prepare_config.json` (the settings and the hash they are keyed by). While it runs, finished
shards of `--shard-size` clips sit in `P/<split>.partial/`: kill it at any moment and run the same command again,
and it continues with the unfinished shards. The processes coordinate through those files only (`RANK` /
`WORLD_SIZE` as set by `accelerate launch` or `torchrun`; no process group), so they must share the file system.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import torch

logger = logging.getLogger(__name__)


def process_layout() -> tuple[int, int, int]:
    """`(rank, world_size, local_rank)` of a launch by `accelerate launch` / `torchrun` (`(0, 1, 0)` alone)."""
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is not in [0, WORLD_SIZE={world}).")
    return rank, world, local


def encode_device(requested: str, local_rank: int) -> torch.device:
    """`auto`: this process's GPU (`cuda:LOCAL_RANK`) when there is one, else the CPU."""
    if requested == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(requested)


def prepare_command(args: argparse.Namespace) -> int:
    from whisper_gpt_hf.data import load_audio_dataset, prepare_dataset, source_cache_key

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    rank, world, local_rank = process_layout()
    logging.getLogger("whisper_gpt_hf").setLevel(logging.INFO if rank == 0 else logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.processor:
        from whisper_gpt_hf.modeling import WhisperGPTProcessor

        processor = WhisperGPTProcessor.from_pretrained(args.processor)
    else:
        from whisper_gpt_hf.assets import default_processor

        processor = default_processor()
    processor.audio_tokenizer.to(encode_device(args.device, local_rank))
    batched = {"auto": None, "on": True, "off": False}[args.batched_encoding]

    splits = args.split
    if not splits:
        everything = load_audio_dataset(args.dataset, audio_column=args.audio_column, config_name=args.dataset_config,
                                        streaming=args.streaming, sampling_rate=processor.sampling_rate)
        splits = list(everything)
    for split in splits:
        raw = load_audio_dataset(args.dataset, split=split, audio_column=args.audio_column,
                                 config_name=args.dataset_config, streaming=args.streaming,
                                 sampling_rate=processor.sampling_rate)
        _, report = prepare_dataset(
            raw, processor, audio_column=args.audio_column, window_frames=args.window_frames,
            min_frames=args.min_frames, batch_size=args.batch_size, category_column=args.category_column or None,
            desc=split, id_column=args.id_column or None, progress=not args.quiet,
            cache_key=source_cache_key(args.dataset, args.dataset_config, split),
            output_dir=os.path.join(args.output_dir, split), feature_dtype=args.feature_dtype,
            features_from=args.features_from, batched_encoding=batched, process_index=rank, num_processes=world,
            shard_size=args.shard_size,
        )
        if rank == 0:
            print(f"{split}: {report.summary()}", file=sys.stderr)
    if rank == 0:
        print(f"Prepared {', '.join(splits)} into {args.output_dir}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("prepare", help="encode a dataset once into a prepared folder (across processes)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="Hub repo id, Hub-layout folder, audiofolder or save_to_disk "
                                                    "folder")
    p.add_argument("--split", nargs="+", default=None, help="splits to prepare (default: every split)")
    p.add_argument("--output-dir", required=True, help="the prepared folder (one subfolder per split)")
    p.add_argument("--processor", default=None, help="processor folder / repo id (default: the embedded one)")
    p.add_argument("--dataset-config", default=None)
    p.add_argument("--audio-column", default="audio")
    p.add_argument("--category-column", default="category", help="'' for none")
    p.add_argument("--id-column", default="id", help="names clips in the report ('' for none)")
    p.add_argument("--streaming", action="store_true", help="stream the source (split across processes with "
                                                            "datasets.distributed.split_dataset_by_node)")
    p.add_argument("--window-frames", type=int, default=256, help="frames per example (75 frames = 1 s)")
    p.add_argument("--min-frames", type=int, default=16, help="shortest clip / trailing window kept")
    p.add_argument("--batch-size", type=int, default=8, help="clips encoded together (length-bucketed)")
    p.add_argument("--shard-size", type=int, default=256, help="clips per shard at most (the unit a rerun reuses; "
                                                               "the shards come in a multiple of the processes)")
    p.add_argument("--feature-dtype", choices=["float16", "float32"], default="float16",
                   help="storage of the mel slices (float16: half the bytes, relative error <= 2^-11)")
    p.add_argument("--features-from", choices=["audio", "reconstruction"], default="audio",
                   help="mel slices of the audio, or of the codec's decode of the clip's own codes (what generation "
                        "feeds the model)")
    p.add_argument("--batched-encoding", choices=["auto", "on", "off"], default="auto",
                   help="one codec call per batch (auto: on a GPU) or per clip (auto: on CPU, where it is faster)")
    p.add_argument("--device", default="auto", help="where the codec runs (auto: this process's GPU, else CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=prepare_command)


__all__ = ["add_parser", "encode_device", "prepare_command", "process_layout"]
