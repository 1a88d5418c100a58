"""Publishing: Hub-ready model folders, the cards rendered from template files, and the upload.

- `folder`: `make_hub_ready` / `verify_hub_ready`: a model + its processor + remote code + card, checked loadable.
- `card`: every card (model, codec, processor, dataset) rendered from its template file (`MODEL_CARD.md` at the
  repository root, the others in `cards/`), with the evaluation numbers and training data from the run's own record.
- `publish`: `whisper-gpt publish` (build the folder, then upload it with `huggingface_hub`).
"""
