"""The persisted cross-batch dedup index: later batches see earlier ones without reprocessing them."""

from pathlib import Path

import polars as pl
import pytest

from filters.dedup import Dedup, MinhashSigner, minhash_duplicates
from filters.dedup_index import BandHasher, DedupIndex, IndexDedup, index_rows
from tests.test_curation import PASSAGE

PROBLEM = "Tom has 12 apples and buys 7 more at the market on Sunday morning. How many apples does Tom have now?"


def rows(ids: list[str], problems: list[str | None], texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": ids, "problem_id": [f"p-{p}" if p else None for p in problems], "problem": problems, "text": texts}
    )


@pytest.fixture
def index_with_first_batch(tmp_path: Path) -> DedupIndex:
    first = rows(["a", "b"], [PROBLEM, None], ["Step 1: 12 + 7 = 19. The answer is \\boxed{19}.", PASSAGE])
    writer = DedupIndex(tmp_path)
    writer.write("b1", index_rows(first, writer.hasher))
    assert DedupIndex(tmp_path).load(["b1"]) == ["b1"]  # pending: b1 is not published yet
    assert writer.commit(["b1", "b9"]) == ["b1"]
    index = DedupIndex(tmp_path)
    assert index.load(["b1", "b0"]) == ["b0"]  # b0 never wrote an index
    return index


@pytest.mark.parametrize(
    ("problem", "text", "reason"),
    [
        (PROBLEM, "another trace", "earlier_batch_exact_duplicate_problem"),
        ("  " + PROBLEM.upper(), "another trace", "earlier_batch_exact_duplicate_problem"),
        (PROBLEM.replace(" now?", "?"), "another trace", "earlier_batch_near_duplicate_problem"),
        (PROBLEM.replace("12", "15"), "another trace", None),  # only the numbers differ: a new problem
        (None, PASSAGE, "earlier_batch_exact_duplicate_text"),
        (None, PASSAGE.replace("green plants", "plants"), "earlier_batch_near_duplicate_text"),
        (None, "A passage about volcanoes, magma chambers and the way lava cools into basalt over time.", None),
    ],
)
def test_a_new_batch_is_checked_against_the_earlier_batch(
    index_with_first_batch: DedupIndex, problem: str | None, text: str, reason: str | None
) -> None:
    result = IndexDedup(index_with_first_batch)(rows(["x"], [problem], [text]))
    assert (result.dropped["code"].to_list() or [None]) == [reason]
    assert (result.dropped["detail"].to_list() or ["b1"]) == ["b1"]  # the batch that holds the row already


def test_index_matches_agree_with_the_in_batch_minhash() -> None:
    texts = [PASSAGE, PASSAGE.replace("green plants", "plants"), PROBLEM, PROBLEM.replace("12", "15")]
    hasher = BandHasher()
    first = {(b, 0) for b in hasher.bands(texts[0])} | {(b, 2) for b in hasher.bands(texts[2])}
    shared = [any((b, j) in first for b in hasher.bands(t) for j in (0, 2)) for t in texts[1::2]]
    assert shared == [True, False]
    assert minhash_duplicates(texts) == {1}


def test_a_batch_that_fails_after_dedup_never_blocks_a_later_batch(tmp_path: Path) -> None:
    failed = DedupIndex(tmp_path)
    failed.write("b1", index_rows(rows(["a"], [PROBLEM], ["a trace"]), failed.hasher))  # b1 then fails: no publish
    later = DedupIndex(tmp_path)
    assert later.load(["b1"]) == ["b1"]
    result = IndexDedup(later)(rows(["x"], [PROBLEM], ["another trace"]))
    assert result.dropped.is_empty()


def test_rewriting_a_batch_replaces_its_index_and_short_texts_match_exactly(tmp_path: Path) -> None:
    index = DedupIndex(tmp_path)
    index.write("b1", index_rows(rows(["a"], [None], ["two words"]), index.hasher))
    index.write("b1", index_rows(rows(["a"], [None], ["three short words"]), index.hasher))
    assert [p.name for p in (tmp_path / "pending").iterdir()] == ["b1.parquet"]
    index.commit(["b1"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b1.parquet", "pending"]
    later = DedupIndex(tmp_path)
    later.load(["b1"])
    assert later.match("text", ["two words", "Three  short words", "three short"]) == [None, ("exact", "b1"), None]


def test_a_batch_signs_each_text_once_for_its_own_dedup_and_the_index(tmp_path: Path) -> None:
    """The in-batch MinHash stages (datatrove's, fed the signatures) and the index read one signer."""
    batch = rows(
        ["a", "b", "c", "d"],
        [PROBLEM, PROBLEM.replace("12", "15"), None, None],
        ["Step 1: 12 + 7 = 19. The answer is \\boxed{19}.", "Step 1: 15 + 7 = 22.", PASSAGE, PASSAGE + " Indeed."],
    )
    signer = MinhashSigner()
    in_batch = Dedup(signer=signer)(batch)
    assert in_batch.dropped["code"].to_list() == ["near_duplicate_text"]
    IndexDedup(DedupIndex(tmp_path, signer))(in_batch.kept)
    distinct = {*batch["problem"].drop_nulls(), *batch["text"]}
    assert signer.computed == len(distinct)
