"""Answer verification with math-verify, run in worker processes so its SIGALRM timeouts work and never hang a run."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import polars as pl

from filters.answers import extract_answer, extract_answer_with_method
from filters.contract import FilterResult, split_by_reason

__all__ = ["extract_answer", "verify", "verify_many", "verify_traces"]


def _as_latex(answer: str) -> str:
    answer = answer.strip()
    return answer if answer.startswith("$") else f"${answer}$"


def verify(prediction_text: str, gold: str, timeout_s: int = 5) -> bool | None:
    """True if the final answer of ``prediction_text`` equals ``gold``; None where the gold is empty.

    Math golds are compared by math-verify; a gold it cannot read as math is compared as normalized text.
    """
    from math_verify import parse
    from math_verify import verify as math_equal

    gold = gold.strip()
    if not gold:
        return None
    predicted = extract_answer(prediction_text)
    if predicted is None:
        return False
    if " ".join(predicted.lower().split()) == " ".join(gold.lower().split()):
        return True
    gold_parsed = parse(_as_latex(gold), parsing_timeout=timeout_s)
    if all(isinstance(item, str) for item in gold_parsed):
        return False
    pred_parsed = parse(_as_latex(predicted), parsing_timeout=timeout_s)
    if not pred_parsed:
        return False
    return bool(math_equal(gold_parsed, pred_parsed, timeout_seconds=timeout_s))


def _verify_chunk(pairs: list[tuple[str, str]], timeout_s: int) -> list[bool | None]:
    return [verify(prediction, gold, timeout_s) for prediction, gold in pairs]


def verify_many(
    predictions: Sequence[str], golds: Sequence[str], workers: int = 2, timeout_s: int = 5, chunk: int = 64
) -> list[bool | None]:
    """``verify`` over many pairs in a pool of processes; order kept."""
    pairs = list(zip(predictions, golds, strict=True))
    if not pairs:
        return []
    chunks = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(chunks))), mp_context=context) as pool:
        results = pool.map(_verify_chunk, chunks, [timeout_s] * len(chunks))
        return [verdict for part in results for verdict in part]


def verify_traces(frame: pl.DataFrame, workers: int = 2, max_per_problem: int = 4) -> FilterResult:
    """Check every CoT row's final answer against its gold; keep up to ``max_per_problem`` correct traces a problem.

    Adds ``verified``, ``extracted_answer``, ``extraction``, ``verifier`` and ``teacher_pass_rate`` (the share of
    the problem's samples that verified). Rows of other kinds pass through with ``verified`` null.
    """
    is_cot = (frame["kind"] == "cot").to_list()
    cot = frame.filter(pl.Series(is_cot))
    verdicts = verify_many(cot["text"].to_list(), cot["answer"].to_list(), workers=workers)
    extracted = [extract_answer_with_method(text) for text in cot["text"]]
    cot = cot.with_columns(
        pl.Series("verified", [bool(v) for v in verdicts], dtype=pl.Boolean),
        pl.Series("extracted_answer", [e[0] for e in extracted], dtype=pl.String),
        pl.Series("extraction", [e[1] for e in extracted], dtype=pl.String),
        pl.lit("math-verify").alias("verifier"),
        pl.Series("_gold_ok", [v is not None for v in verdicts], dtype=pl.Boolean),
    )
    cot = cot.with_columns(
        pl.col("verified").cast(pl.Float64).mean().over("problem_id").alias("teacher_pass_rate"),
        pl.col("verified").cum_sum().over("problem_id").alias("_correct_rank"),
    )
    reasons = [
        "gold_unparseable"
        if not gold_ok
        else "wrong_answer"
        if not ok
        else "over_per_problem_limit"
        if rank > max_per_problem
        else None
        for gold_ok, ok, rank in cot.select("_gold_ok", "verified", "_correct_rank").iter_rows()
    ]
    checked = split_by_reason(cot.drop("_gold_ok", "_correct_rank"), reasons)
    others = frame.filter(~pl.Series(is_cot))
    kept = pl.concat([checked.kept, others], how="diagonal_relaxed")
    return FilterResult(kept, checked.dropped)
