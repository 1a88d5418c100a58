"""Audio in and out, and the audio the project makes for itself.

- `io`: the one audio-file reader and writer (mono rule, resampling, atomic writes) behind every verb.
- `corpus/`: the synthetic speech + music corpus (`whisper-gpt make-corpus`).
- `codec/`: training the small EnCodec-architecture codec (`whisper-gpt train-codec`) and its quality report
  (`whisper-gpt codec-report`).
"""
