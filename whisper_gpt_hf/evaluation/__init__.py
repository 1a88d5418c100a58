"""Evaluation: scoring models fairly on a dataset, and the paper's experiment built on it.

- `scoring`: `evaluate_model` (per-position next-code NLL, PPL, accuracy, per category and per codebook), the
  fair-comparison rule (`check_same_positions`: every model scored on the same positions), tables and plots.
- `experiment`: the paper's Tables 1-2 (`whisper-gpt experiment`): train the hybrid and the token-only baselines on
  the same data and budget, evaluate them together, write the report.

    from whisper_gpt_hf.evaluation import evaluate_model, results_table
"""

from .scoring import (
    CategoryResult,
    EvalResult,
    check_same_positions,
    evaluate_model,
    format_params,
    plot_position_nll,
    prepare_for_scoring,
    results_table,
    score_batch,
)

__all__ = [
    "CategoryResult",
    "EvalResult",
    "check_same_positions",
    "evaluate_model",
    "format_params",
    "plot_position_nll",
    "prepare_for_scoring",
    "results_table",
    "score_batch",
]
