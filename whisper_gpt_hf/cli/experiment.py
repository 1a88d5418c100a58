"""`whisper-gpt experiment`: the paper's Tables 1-2 (see `whisper_gpt_hf.evaluation.experiment`)."""

from __future__ import annotations

import argparse
import dataclasses
import logging

import torch

from whisper_gpt_hf.evaluation import experiment


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="the paper's Tables 1-2: train hybrid + GPT baselines, evaluate",
                              parents=[experiment.argument_parser(add_help=False)],
                              description=experiment.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)


def arguments_from_namespace(namespace: argparse.Namespace) -> experiment.ExperimentArguments:
    names = {f.name for f in dataclasses.fields(experiment.ExperimentArguments)}
    return experiment.ExperimentArguments(**{k: v for k, v in vars(namespace).items() if k in names})


def run(namespace: argparse.Namespace) -> int:
    arguments = arguments_from_namespace(namespace)
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("whisper_gpt_hf").setLevel(logging.INFO)
    results, paths = experiment.run_experiment(arguments.to_config())
    with open(paths["markdown"]) as f:
        print(f.read())
    print("Wrote " + ", ".join(paths.values()))
    return 0
