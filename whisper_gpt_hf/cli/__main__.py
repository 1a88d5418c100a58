"""`python -m whisper_gpt_hf.cli ...` (and `accelerate launch -m whisper_gpt_hf.cli ...`)."""

import sys

from whisper_gpt_hf.cli import main

sys.exit(main())
