"""Copy the demo runs (scripts/train_demo_models.sh) into hub/ as model-only folders (the processor is shared).

    python scripts/export_demo_models.py
"""

import os
import shutil

from whisper_gpt_hf import WhisperGPTForCausalLM
from whisper_gpt_hf.assets import DEMO_GPT, DEMO_HYBRID, strip_remote_code

for run, target in (("runs/demo-hybrid", DEMO_HYBRID), ("runs/demo-gpt", DEMO_GPT)):
    model = WhisperGPTForCausalLM.from_pretrained(run)
    shutil.rmtree(target, ignore_errors=True)
    model.save_pretrained(target)  # weights, config, generation config (and remote-code files: dropped next)
    strip_remote_code(target)  # loaded with the package; `whisper-gpt publish` writes the remote code
    for name in ("training_summary.json", "run_config.json"):
        shutil.copy(os.path.join(run, name), target)
    print(f"{run} -> {target} ({model.num_parameters():,} parameters)")
