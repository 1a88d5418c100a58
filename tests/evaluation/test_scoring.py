"""Evaluation (whisper_gpt_hf/evaluation/scoring.py): exact token sums, batch-size invariance, identical scoring positions."""

from __future__ import annotations

import json
import math

import datasets
import numpy as np
import pytest
import torch

from helpers import test_audio, tiny_model, tiny_processor
from whisper_gpt_hf.evaluation import (
    EvalResult,
    check_same_positions,
    evaluate_model,
    plot_position_nll,
    results_table,
)


# Windows of different lengths (masking must be right) in two categories.
WINDOW_LENGTHS = [40, 7, 23, 40, 2, 31, 16, 40, 11, 29]


@pytest.fixture(scope="module")
def prepared() -> datasets.Dataset:
    """A prepared dataset in `data.prepare_dataset`'s layout, cut by hand from real processor output."""
    processor = tiny_processor()
    rows = {"input_ids": [], "input_features": [], "length": [], "category": [], "clip_id": []}
    for i, n in enumerate(WINDOW_LENGTHS):
        enc = processor(audio=test_audio(0.6, seed=i), sampling_rate=24000, return_tensors="np")
        start = i % 3
        rows["input_ids"].append(enc["input_ids"][0, start : start + n].astype(np.int64))
        rows["input_features"].append(enc["input_features"][0, start : start + n].astype(np.float32))
        rows["length"].append(n)
        rows["category"].append("speech" if i % 2 else "music")
        rows["clip_id"].append(f"clip{i}")
    assert all(len(x) == n for x, n in zip(rows["input_ids"], WINDOW_LENGTHS))
    return datasets.Dataset.from_dict(rows)


def _hand_nll(model, row) -> tuple[float, int, int]:
    """Sum of -log p(code p | frames < p) over p = 1..L-1 for one unpadded window, and the top-1 hits."""
    ids = torch.tensor(row["input_ids"])[None]
    feats = torch.tensor(np.asarray(row["input_features"], dtype=np.float32))[None]
    with torch.no_grad():
        logits = model(input_ids=ids, input_features=feats).logits[0].double()
    log_probs = torch.log_softmax(logits, -1)
    targets = ids[0, 1:]
    nll = -log_probs[:-1].gather(-1, targets[:, None]).sum().item()
    hits = int((log_probs[:-1].argmax(-1) == targets).sum())
    return nll, hits, len(targets)


def test_nll_equals_a_hand_computation(prepared):
    model = tiny_model(seed=3)
    one = prepared.select([0])
    result = evaluate_model(model, one, batch_size=1)
    nll_sum, hits, count = _hand_nll(model, one[0])
    assert result.num_tokens == count == WINDOW_LENGTHS[0] - 1
    assert result.nll == pytest.approx(nll_sum / count, rel=1e-6)
    assert result.ppl == pytest.approx(math.exp(nll_sum / count), rel=1e-6)
    assert result.accuracy == pytest.approx(hits / count)
    assert result.per_category == {"music": result.overall}


def test_batch_size_does_not_change_the_result(prepared):
    model = tiny_model(seed=4)
    r1 = evaluate_model(model, prepared, batch_size=1)
    r8 = evaluate_model(model, prepared, batch_size=8)
    r3 = evaluate_model(model, prepared, batch_size=3)
    # Exact token sums: every window of L frames scores L - 1 codes, whatever the padding around it.
    assert r1.num_tokens == r8.num_tokens == r3.num_tokens == sum(n - 1 for n in WINDOW_LENGTHS)
    for r in (r8, r3):
        assert r.nll == pytest.approx(r1.nll, rel=1e-5)
        assert r.accuracy == pytest.approx(r1.accuracy, abs=1e-12)
        np.testing.assert_array_equal(r.position_count, r1.position_count)
        np.testing.assert_allclose(r.position_nll[1:], r1.position_nll[1:], rtol=1e-5)
        for cat in ("speech", "music"):
            assert r.per_category[cat].nll == pytest.approx(r1.per_category[cat].nll, rel=1e-5)
    # The overall NLL is the sum over all windows, not a mean of per-window or per-batch means.
    hand = [_hand_nll(model, prepared[i]) for i in range(len(prepared))]
    assert r1.nll == pytest.approx(sum(h[0] for h in hand) / sum(h[2] for h in hand), rel=1e-5)
    per_window_mean = np.mean([h[0] / h[2] for h in hand])
    assert abs(per_window_mean - r1.nll) > 1e-4  # the two definitions differ here, so the check above means something


def test_categories_and_positions_add_up(prepared):
    r = evaluate_model(tiny_model(seed=5), prepared, batch_size=4)
    cats = r.per_category
    assert set(cats) == {"speech", "music"}
    assert sum(c.num_tokens for c in cats.values()) == r.num_tokens
    assert sum(c.nll * c.num_tokens for c in cats.values()) == pytest.approx(r.nll * r.num_tokens, rel=1e-9)
    # Position 0 is never scored; position p is scored once per window longer than p.
    assert r.position_count[0] == 0 and np.isnan(r.position_nll[0])
    expected = [sum(n > p for n in WINDOW_LENGTHS) for p in range(max(WINDOW_LENGTHS))]
    expected[0] = 0
    np.testing.assert_array_equal(r.position_count, expected)
    np.testing.assert_allclose(np.nansum(r.position_nll * r.position_count), r.nll * r.num_tokens, rtol=1e-9)


def test_hybrid_and_token_only_are_scored_on_identical_positions(prepared, tmp_path):
    hybrid, gpt = tiny_model(True, seed=6), tiny_model(False, seed=6)
    rh = evaluate_model(hybrid, prepared, batch_size=8, name="hybrid")
    rg = evaluate_model(gpt, prepared, batch_size=3, name="gpt")
    assert rh.num_tokens == rg.num_tokens
    assert {k: v.num_tokens for k, v in rh.per_category.items()} == {
        k: v.num_tokens for k, v in rg.per_category.items()
    }
    np.testing.assert_array_equal(rh.position_count, rg.position_count)
    check_same_positions([rh, rg])
    assert rh.nll != pytest.approx(rg.nll)  # different models, different numbers
    assert rh.use_spectrogram and not rg.use_spectrogram

    fewer = evaluate_model(gpt, prepared.select(range(5)), batch_size=3, name="gpt-half")
    with pytest.raises(ValueError, match="same prepared dataset"):
        check_same_positions([rh, fewer])

    # Reporting: the parameter count stands on every row; JSON is valid (NaN-free); the plot is a PNG.
    table = results_table([rh, rg])
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == 2 * 3  # (all, music, speech) per model
    for line in rows:
        name = line.split("|")[1].strip()
        params = (rh if name == "hybrid" else rg).num_parameters
        assert f"{params / 1e3:.1f}k" in line
    payload = json.loads(json.dumps(rh.to_dict(), allow_nan=False))
    assert payload["position_nll"][0] is None and payload["num_tokens"] == rh.num_tokens
    png = plot_position_nll([rh, rg], str(tmp_path / "positions.png"))
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_eval_result_rows_include_overall(prepared):
    r = evaluate_model(tiny_model(seed=7), prepared.select(range(3)), batch_size=2)
    assert isinstance(r, EvalResult)
    assert list(r.rows())[0] == "all" and r.rows()["all"].num_tokens == r.num_tokens
    assert r.num_parameters == tiny_model(seed=7).num_parameters()
