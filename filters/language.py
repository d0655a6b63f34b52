"""Language identification offline: py3langid's model ships inside its wheel, so nothing is downloaded."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

_NOT_PROSE = re.compile(r"\\boxed\{[^}]*\}|\$[^$]*\$|[\d_=+\-*/^×÷<>()\[\]{}|\\]+")


@cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def known_languages() -> frozenset[str]:
    """The ISO 639-1 codes the identifier knows (97 of them from py3langid's model)."""
    return frozenset(_identifier().nb_classes)


def prose(text: str) -> str:
    """The text with numbers, formulas and LaTeX removed: what a language identifier can judge."""
    return " ".join(_NOT_PROSE.sub(" ", text).split())


def language_reason(
    text: str, allowed: Sequence[str], min_letters: int = 20, min_probability: float = 0.05
) -> str | None:
    """The language code of the text's prose where it is in none of ``allowed`` (ISO 639-1 codes), else None.

    Text with fewer than ``min_letters`` letters of prose (a bare calculation) is kept: there is nothing to judge.
    A row goes only where the allowed languages together get less than ``min_probability``.
    """
    words = prose(text)
    if sum(map(str.isalpha, words)) < min_letters:
        return None
    ranked = _identifier().rank(words)
    if sum(p for lang, p in ranked if lang in allowed) >= min_probability:
        return None
    return ranked[0][0]
