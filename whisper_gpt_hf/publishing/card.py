"""Card templates: Markdown files filled with one checkpoint's or corpus's values. One mechanism for every card.

The templates sit next to the model card at the repository root (in a wheel: ``whisper_gpt_hf/embedded/``):

- ``MODEL_CARD.md``           the model card, rendered by ``conversion.hub_ready.render_model_card``
- ``cards/codec.md``          a trained codec (``codec_training.model_card``)
- ``cards/processor.md``      the default processor that bundles it (``codec_training.processor_card``)
- ``cards/dataset.md``        a synthetic corpus (``corpus._dataset_card``), with ``cards/dataset_how.md`` or
  ``cards/dataset_how_held_out.md`` as its "How it was made" part

Every ``{{ name }}`` is replaced by its value; a name without a value is an error (a card never ships with holes)
unless the caller lists it as optional; ``<!-- template: ... -->`` comments (notes for the template's editors) are
dropped.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from whisper_gpt_hf.assets import CARD_TEMPLATES_DIR

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
TEMPLATE_COMMENT = re.compile(r"<!--\s*template:.*?-->\n?", re.S)


class CardTemplateError(ValueError):
    """A template names a value that was not given (or given empty)."""


def template_placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(TEMPLATE_COMMENT.sub("", template)))


def render_template(template: str, values: Mapping[str, object], optional: Collection[str] = ()) -> str:
    """Replace every `{{ name }}` with `values[name]`; a missing or empty value raises unless `name` is optional."""
    body = TEMPLATE_COMMENT.sub("", template)
    missing = sorted(name for name in set(PLACEHOLDER.findall(body))
                     if values.get(name) is None or (values.get(name) == "" and name not in optional))
    if missing:
        raise CardTemplateError(f"The card template needs values for: {', '.join(missing)}.")
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), body)


def card_template(name: str) -> str:
    """The text of `cards/<name>.md`."""
    path = CARD_TEMPLATES_DIR / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"The card template {path} is missing; reinstall the package (the wheel ships it in "
                                "whisper_gpt_hf/embedded/cards/) or restore cards/ in the checkout.")
    return path.read_text(encoding="utf-8")


def render_card(name: str, values: Mapping[str, object], optional: Collection[str] = ()) -> str:
    """`cards/<name>.md` filled with `values`."""
    return render_template(card_template(name), values, optional)


__all__ = ["CardTemplateError", "card_template", "render_card", "render_template", "template_placeholders"]
