"""What save_pretrained writes loads with trust_remote_code=True where whisper_gpt_hf cannot be imported."""

import json
import textwrap

import numpy as np
import torch
from helpers import SR, run_without_package, test_audio, tiny_model, tiny_processor

CHILD = textwrap.dedent(
    """
    import numpy as np, torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoProcessor
    folder = sys.argv[1]
    proc = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    audio = np.load(folder + "/audio.npy")
    inputs = proc(audio=audio, sampling_rate=24000)
    lm = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    base = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    with torch.no_grad():
        logits = lm(**inputs).logits
        hidden = base(**inputs).last_hidden_state
    np.save(folder + "/child_logits.npy", logits.numpy())
    np.save(folder + "/child_hidden.npy", hidden.numpy())
    np.save(folder + "/child_ids.npy", inputs["input_ids"].numpy())
    print(type(lm).__module__, type(proc).__name__)
    """
)


def test_remote_code_load_in_a_clean_process(tmp_path):
    model, processor = tiny_model(True), tiny_processor()
    folder = tmp_path / "ckpt"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    for name in ("configuration", "modeling", "generation", "feature_extraction", "processing"):
        assert (folder / f"{name}_whisper_gpt.py").exists(), name
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert {"AutoConfig", "AutoModel", "AutoModelForCausalLM"} <= set(auto_map)
    audio = test_audio(0.5)
    np.save(folder / "audio.npy", audio)

    result = run_without_package(CHILD, folder, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "transformers_modules" in result.stdout and "WhisperGPTProcessor" in result.stdout

    inputs = processor(audio=audio, sampling_rate=SR)
    with torch.no_grad():
        expected_logits = model(**inputs).logits.numpy()
        expected_hidden = model.model(**inputs).last_hidden_state.numpy()
    np.testing.assert_array_equal(np.load(folder / "child_ids.npy"), inputs["input_ids"].numpy())
    np.testing.assert_allclose(np.load(folder / "child_logits.npy"), expected_logits, atol=1e-6)
    np.testing.assert_allclose(np.load(folder / "child_hidden.npy"), expected_hidden, atol=1e-6)
