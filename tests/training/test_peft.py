"""LoRA through `peft` (whisper_gpt_hf/peft_utils.py) and training with `transformers.Trainer` and the data collator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import test_audio, tiny_model, tiny_processor

peft = pytest.importorskip("peft")

from whisper_gpt_hf.training.peft import (  # noqa: E402
    DECODER_ONLY_TARGET_MODULES,
    DEFAULT_TARGET_MODULES,
    apply_lora,
    trainable_parameters,
)


def _batch(seed: int = 0, batch: int = 2, frames: int = 24):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 64, (batch, frames), generator=g)
    return dict(input_ids=ids, input_features=torch.randn(batch, frames, 16, generator=g), labels=ids.clone())


def _train(model, batch, steps: int, lr: float = 1e-2) -> list[float]:
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    model.eval()
    return losses


def test_lora_targets_every_block_and_only_adapters_train():
    model = apply_lora(tiny_model(), r=4, alpha=8)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    # 2 decoder + 2 spectrogram blocks, 4 linear layers each, A and B per layer.
    assert len(trainable) == (2 + 2) * len(DEFAULT_TARGET_MODULES) * 2
    assert any("spectrogram_encoder" in n for n in trainable)
    n_trainable, n_total = trainable_parameters(model)
    assert 0 < n_trainable < n_total

    decoder_only = apply_lora(tiny_model(), r=4, target_modules=DECODER_ONLY_TARGET_MODULES)
    names = [n for n, p in decoder_only.named_parameters() if p.requires_grad]
    assert len(names) == 2 * len(DEFAULT_TARGET_MODULES) * 2
    assert not any("spectrogram_encoder" in n for n in names)


def test_lora_training_changes_only_adapters_and_reduces_loss():
    batch = _batch()
    model = apply_lora(tiny_model(), r=4, alpha=8)
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    losses = _train(model, batch, steps=15)
    assert losses[-1] < losses[0] - 0.1, losses
    for n, p in model.named_parameters():
        if n in frozen_before:
            assert torch.equal(p, frozen_before[n]), f"frozen parameter {n} moved"
    # LoRA B starts at zero; training made it non-zero.
    assert any(p.abs().sum() > 0 for n, p in model.named_parameters() if ".lora_B." in n)


def test_lora_merge_and_adapter_round_trip_give_the_same_logits(tmp_path):
    batch = _batch(seed=1)
    inputs = {k: batch[k] for k in ("input_ids", "input_features")}
    model = apply_lora(tiny_model(), r=4, alpha=8)
    _train(model, batch, steps=5)
    with torch.no_grad():
        adapted = model(**inputs).logits
        base = model.get_base_model()
        with model.disable_adapter():
            plain = model(**inputs).logits
    assert not torch.allclose(adapted, plain, atol=1e-4)  # the adapter does something

    model.save_pretrained(tmp_path / "adapter")  # writes only the adapter
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    reloaded = peft.PeftModel.from_pretrained(tiny_model(), tmp_path / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, adapted, atol=1e-5, rtol=1e-5)

    merged = model.merge_and_unload()
    assert type(merged).__name__ == "WhisperGPTForCausalLM" and merged is base
    assert not any("lora" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(**inputs).logits, adapted, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------- Trainer
@pytest.fixture(scope="module")
def prepared():
    """Windows prepared the user's way: an in-memory audio dataset through `data.prepare_dataset`."""
    import datasets

    from whisper_gpt_hf.data import prepare_dataset

    raw = datasets.Dataset.from_dict(
        {"audio": [{"array": test_audio(0.65, seed=i), "sampling_rate": 24000} for i in range(4)],
         "category": ["speech", "music"] * 2}
    ).cast_column("audio", datasets.Audio(sampling_rate=24000))
    windows, report = prepare_dataset(raw, tiny_processor(), window_frames=24, min_frames=8, progress=False)
    assert report.num_skipped == 0 and len(windows) == 8  # 49 frames per clip -> 24 + 24 (+ 1 dropped)
    return windows


def _trainer(model, dataset, output_dir, steps: int, **overrides):
    from transformers import Trainer, TrainingArguments

    from whisper_gpt_hf.data import WhisperGPTDataCollator

    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=4, per_device_eval_batch_size=8,
        learning_rate=1e-2, lr_scheduler_type="constant", warmup_steps=0, logging_steps=1, save_strategy="no",
        report_to=[], use_cpu=True, seed=0, dataloader_num_workers=0, **overrides,
    )
    # The Trainer drops the dataset's non-model columns (category, clip_id, ...) before collating.
    return Trainer(model=model, args=args, train_dataset=dataset, eval_dataset=dataset,
                   data_collator=WhisperGPTDataCollator(return_metadata=False))


def test_transformers_trainer_trains_with_the_collator(prepared, tmp_path):
    from whisper_gpt_hf.evaluation import evaluate_model

    model = tiny_model(seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = _trainer(model, prepared, tmp_path, steps=12)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05, losses
    assert all(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n.endswith("qkv_proj.weight"))

    # Trainer's eval loss (the model's own loss, one batch of equal-length windows) is the evaluation module's NLL.
    eval_loss = trainer.evaluate()["eval_loss"]
    assert eval_loss == pytest.approx(evaluate_model(model, prepared, batch_size=3).nll, rel=1e-5)

    trainer.save_model(str(tmp_path / "final"))
    from whisper_gpt_hf import WhisperGPTForCausalLM

    reloaded = WhisperGPTForCausalLM.from_pretrained(tmp_path / "final")
    assert evaluate_model(reloaded, prepared).nll == pytest.approx(eval_loss, rel=1e-5)


def test_transformers_trainer_with_lora_trains_only_adapters(prepared, tmp_path):
    model = apply_lora(tiny_model(seed=1), r=4, alpha=8)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainer = _trainer(model, prepared, tmp_path, steps=4)
    trainer.train()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    assert any(p.abs().sum() > 0 for n, p in model.named_parameters() if ".lora_B." in n)
