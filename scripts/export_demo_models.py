"""Copy the demo runs (scripts/train_demo_models.sh) into hub/ as model-only folders (the processor is shared).

    python scripts/export_demo_models.py
"""

import os
import shutil

from whisper_gpt_hf import WhisperGPTForCausalLM
from whisper_gpt_hf.assets import DEMO_GPT, DEMO_HYBRID

for run, target in (("runs/demo-hybrid", DEMO_HYBRID), ("runs/demo-gpt", DEMO_GPT)):
    model = WhisperGPTForCausalLM.from_pretrained(run)
    shutil.rmtree(target, ignore_errors=True)
    model.save_pretrained(target)  # weights, config, generation config, remote-code files
    for name in ("training_summary.json", "run_config.json"):
        shutil.copy(os.path.join(run, name), target)
    print(f"{run} -> {target} ({model.num_parameters():,} parameters)")
