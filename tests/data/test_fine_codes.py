"""Full-bandwidth models (`num_codebooks = K > 1`) on the training side: prepared data with the fine codes, the
collator, a real tiny `whisper-gpt train` run and `evaluate`'s per-codebook NLL next to the coarse NLL."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import HOP, SR, test_audio, tiny_config, tiny_model, tiny_processor

from whisper_gpt_hf import WhisperGPTForCausalLM
from whisper_gpt_hf.cli import main as cli_main
from whisper_gpt_hf.data import WhisperGPTDataCollator, load_audio_dataset, prepare_dataset
from whisper_gpt_hf.evaluation import evaluate_model

WINDOW, MIN_FRAMES = 32, 8
DEPTH = dict(depth_hidden_size=16, depth_num_layers=1, depth_num_heads=2, depth_intermediate_size=32)


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.fixture(scope="module")
def audiofolder(tmp_path_factory):
    root = tmp_path_factory.mktemp("fine_data")
    clips = {}
    for split, seeds in (("train", range(4)), ("validation", range(4, 6))):
        (root / split).mkdir()
        for seed in seeds:
            clips[f"clip{seed}.wav"] = test_audio(2.0, seed)[: (40 + 10 * seed) * HOP]
            sf.write(root / split / f"clip{seed}.wav", clips[f"clip{seed}.wav"], SR)
    return root, clips


def _prepare(audiofolder, processor, **kwargs):
    raw = load_audio_dataset(str(audiofolder[0]), split="train")
    return prepare_dataset(raw, processor, window_frames=WINDOW, min_frames=MIN_FRAMES, progress=False,
                           feature_dtype="float32", **kwargs)[0]


def test_prepared_fine_codes_match_the_processor(audiofolder, processor):
    K = processor.num_codebooks
    coarse, full = _prepare(audiofolder, processor), _prepare(audiofolder, processor, num_codebooks=K)
    assert "fine_input_ids" not in coarse.column_names
    assert coarse["input_ids"] == full["input_ids"]  # the coarse codes are the same either way
    for row in full:
        wave, _ = sf.read(audiofolder[0] / "train" / row["clip_id"].split("/")[-1], dtype="float32")
        ref = processor(audio=wave, sampling_rate=SR, num_codebooks=K)
        start, n = row["start_frame"], row["length"]
        assert np.asarray(row["fine_input_ids"]).shape == (n, K - 1)
        np.testing.assert_array_equal(row["fine_input_ids"], ref["fine_input_ids"][0, start : start + n].numpy())


def test_reconstruction_features_decode_all_codebooks(audiofolder, processor):
    K = processor.num_codebooks
    full = _prepare(audiofolder, processor, num_codebooks=K, features_from="reconstruction")
    row = full[0]
    wave, _ = sf.read(audiofolder[0] / "train" / row["clip_id"].split("/")[-1], dtype="float32")
    ref = processor(audio=wave, sampling_rate=SR, num_codebooks=K)
    codes = torch.cat([ref["input_ids"][..., None], ref["fine_input_ids"]], dim=-1)
    fe = processor.feature_extractor
    expected = fe(processor.batch_decode(codes), sampling_rate=SR, return_tensors="pt")["input_features"][0]
    n = row["length"]
    np.testing.assert_allclose(np.asarray(row["input_features"]), expected[:n].numpy(), atol=1e-4)
    coarse_only = fe(processor.batch_decode(codes[..., 0]), sampling_rate=SR, return_tensors="pt")["input_features"]
    assert not np.allclose(np.asarray(row["input_features"]), coarse_only[0, :n].numpy(), atol=1e-3)


def test_collator_pads_fine_codes_and_the_model_scores_them(audiofolder, processor):
    K = processor.num_codebooks
    full = _prepare(audiofolder, processor, num_codebooks=K).with_format("numpy")
    rows = [full[0], full[len(full) - 1]]
    batch = WhisperGPTDataCollator(return_metadata=False)(rows)
    lengths = [r["length"] for r in rows]
    assert batch["fine_input_ids"].shape == (2, max(lengths), K - 1)
    short = int(np.argmin(lengths))
    assert (batch["fine_input_ids"][short, min(lengths):] == 0).all()
    model = tiny_model(num_codebooks=K, **DEPTH).train()
    out = model(**batch)
    assert out.fine_losses.shape == (K - 1,)
    torch.testing.assert_close(out.loss, out.coarse_loss + out.fine_losses.mean())


def test_train_and_evaluate_a_full_bandwidth_model(audiofolder, processor, tmp_path, capsys):
    K = processor.num_codebooks
    processor.save_pretrained(tmp_path / "processor")
    tiny = {k: v for k, v in tiny_config().to_dict().items()
            if k in ("spectrogram_hidden_size", "spectrogram_num_layers", "spectrogram_num_heads",
                     "spectrogram_intermediate_size", "token_embedding_size", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "intermediate_size", "dropout", "tie_word_embeddings")}
    overrides = {**tiny, "max_position_embeddings": 64, "num_codebooks": K, **DEPTH}
    out = tmp_path / "run"
    assert cli_main(["train", "--dataset", str(audiofolder[0]), "--preset", "hybrid-4m",
                     "--processor", str(tmp_path / "processor"), "--model-overrides", json.dumps(overrides),
                     "--window-frames", str(WINDOW), "--min-frames", str(MIN_FRAMES), "--batch-size", "2",
                     "--learning-rate", "3e-3", "--warmup-steps", "1", "--max-steps", "3", "--log-every", "1",
                     "--eval-split", "", "--report-to", "none", "--output-dir", str(out), "--seed", "3"]) == 0
    model = WhisperGPTForCausalLM.from_pretrained(out)
    assert model.config.num_codebooks == K
    # The fine codes reached the training loss: at initialisation it is coarse + mean fine NLL, about 2 ln(64)
    # (a coarse-only loss would be about ln(64) = 4.16).
    first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert first["step"] == 1 and first["train/loss"] == pytest.approx(2 * np.log(64), abs=0.3)

    full = _prepare(audiofolder, processor, num_codebooks=K)
    result = evaluate_model(model, full, batch_size=2)
    assert len(result.fine_nll) == K - 1 and all(np.isfinite(result.fine_nll))
    # The coarse NLL is the paper's metric, unchanged by the fine codes in the data.
    coarse = evaluate_model(model, _prepare(audiofolder, processor), batch_size=2)
    assert coarse.fine_nll is None
    assert result.nll == pytest.approx(coarse.nll, abs=1e-6) and result.num_tokens == coarse.num_tokens
    # Per-codebook NLL by hand on one window: the mean over its scored frames of -log p(code).
    one = full.select([0])
    r1 = evaluate_model(model, one, batch_size=1)
    batch = WhisperGPTDataCollator(return_metadata=False)([one.with_format("numpy")[0]])
    with torch.no_grad():
        logits = model.eval()(**{k: v for k, v in batch.items() if k != "labels"}).fine_logits
    hand = torch.nn.functional.cross_entropy(logits[0].transpose(0, 1).reshape(-1, logits.shape[-1]),
                                             batch["fine_input_ids"][0, 1:].T.reshape(-1), reduction="none")
    np.testing.assert_allclose(r1.fine_nll, hand.view(K - 1, -1).mean(-1).numpy(), rtol=1e-5)
    assert json.loads(json.dumps(result.to_dict()))["fine_nll"] == pytest.approx(result.fine_nll)

    capsys.readouterr()
    assert cli_main(["evaluate", "--model", str(out), "--dataset", str(audiofolder[0]), "--split", "validation",
                     "--window-frames", str(WINDOW), "--min-frames", str(MIN_FRAMES), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["results"][0]["fine_nll"]) == K - 1
