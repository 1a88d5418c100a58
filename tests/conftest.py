"""Test set-up: make `tests/helpers.py` importable from every test folder, keep torch to the CI's 2 cores."""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the suite may download; the olah tests override this
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models on 2 cores: one thread is faster than two (no spin-waiting on a busy core), and subprocesses
# (accelerate launch, remote-code loads) inherit OMP_NUM_THREADS instead of oversubscribing the machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)
