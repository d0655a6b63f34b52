"""Answer verification with math-verify, run in worker processes so its SIGALRM timeouts work and never hang a run.

Answer types: multiple choice (a letter), boolean (yes/no, true/false), math (numbers, fractions, LaTeX, sets,
intervals, tuples: math-verify), and exact text. Where a problem has no gold answer, a majority vote over its samples
decides, and on problems that do have gold the same vote is audited against the gold check.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, TimeoutError, wait
from functools import lru_cache

import polars as pl

from filters.answers import boolean_value, choice_letter, extract_answer, extract_answer_with_method
from filters.contract import FilterResult, split_by_reason

__all__ = [
    "answer_type",
    "extract_answer",
    "majority_vote",
    "majority_votes",
    "verify",
    "verify_many",
    "verify_traces",
]

_MATHY = re.compile(r"[\\^_{}0-9=<>]")
_WORDS = re.compile(r"[A-Za-z][A-Za-z .,'-]*[A-Za-z.]")  # two or more letters: a text answer, not a product of symbols


def _as_latex(answer: str) -> str:
    answer = answer.strip()
    return answer if answer.startswith("$") else f"${answer}$"


@lru_cache(maxsize=4096)
def _parse(answer: str, timeout_s: int) -> tuple:
    from math_verify import parse

    return tuple(parse(_as_latex(answer), parsing_timeout=timeout_s))


def _is_math(parsed: tuple) -> bool:
    return any(not isinstance(item, str) for item in parsed)


def answer_type(gold: str, timeout_s: int = 5) -> str | None:
    """``choice``, ``boolean``, ``math`` or ``text``; None for an empty gold or math that math-verify cannot read."""
    gold = gold.strip()
    if not gold:
        return None
    if choice_letter(gold):
        return "choice"
    if boolean_value(gold):
        return "boolean"
    if _WORDS.fullmatch(gold):
        return "text"
    if _is_math(_parse(gold, timeout_s)):
        return "math"
    return None if _MATHY.search(gold) else "text"


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("\\text", "").strip(" .{}$").split())


def same_answer(predicted: str, gold: str, kind: str, timeout_s: int = 5) -> bool:
    """Whether two extracted answers agree under the gold's answer type."""
    if kind == "choice":
        return choice_letter(predicted) == choice_letter(gold)
    if kind == "boolean":
        return boolean_value(predicted) == boolean_value(gold)
    if _normal(predicted) == _normal(gold):
        return True
    if kind == "text":
        return False
    from math_verify import verify as math_equal

    pred_parsed = _parse(predicted, timeout_s)
    return bool(pred_parsed) and bool(
        math_equal(list(_parse(gold, timeout_s)), list(pred_parsed), timeout_seconds=timeout_s)
    )


def verify(prediction_text: str, gold: str, timeout_s: int = 5) -> bool | None:
    """True if the final answer of ``prediction_text`` equals ``gold``; None where the gold cannot be parsed."""
    kind = answer_type(gold, timeout_s)
    if kind is None:
        return None
    predicted = extract_answer(prediction_text)
    return predicted is not None and same_answer(predicted, gold.strip(), kind, timeout_s)


def _verify_chunk(pairs: list[tuple[str, str]], timeout_s: int) -> list[bool | None]:
    return [verify(prediction, gold, timeout_s) for prediction, gold in pairs]


def verify_many(
    predictions: Sequence[str], golds: Sequence[str], workers: int = 2, timeout_s: int = 5, chunk: int = 64
) -> list[bool | None]:
    """``verify`` over many pairs in a pool of processes; order kept.

    Each item is bounded by math-verify's own timeouts; a worker stuck past the chunk's whole budget (C code a signal
    cannot interrupt) is killed and its chunk counts as unverified (False), so nothing can hang a run.
    """
    pairs = list(zip(predictions, golds, strict=True))
    if not pairs:
        return []
    chunks = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(chunks))), mp_context=context)
    try:
        futures = [pool.submit(_verify_chunk, part, timeout_s) for part in chunks]
        budget = 30 + 3 * timeout_s * chunk * len(chunks) / max(1, min(workers, len(chunks)))
        done, _ = wait(futures, timeout=budget)
        out: list[bool | None] = []
        for future, part in zip(futures, chunks, strict=True):
            try:
                out += future.result(timeout=0) if future in done else [False] * len(part)
            except TimeoutError:
                out += [False] * len(part)
        return out
    finally:
        for process in list(getattr(pool, "_processes", {}).values()):
            if process.is_alive():
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)


def majority_vote(
    answers: Sequence[str | None], min_agreement: float = 0.5, timeout_s: int = 5
) -> tuple[str | None, float, list[bool]]:
    """The answer most samples agree on (equivalence by answer type), its share of all samples, and per sample
    whether it agrees with the winner. No winner (None) where the share is under ``min_agreement`` or tied."""
    clusters: list[list[int]] = []
    for index, answer in enumerate(answers):
        if not answer:
            continue
        kind = answer_type(answer, timeout_s) or "text"
        for cluster in clusters:
            if same_answer(answer, answers[cluster[0]], kind, timeout_s):
                cluster.append(index)
                break
        else:
            clusters.append([index])
    if not clusters:
        return None, 0.0, [False] * len(answers)
    clusters.sort(key=len, reverse=True)
    best = clusters[0]
    share = len(best) / len(answers)
    if share < min_agreement or (len(clusters) > 1 and len(clusters[1]) == len(best)):
        return None, share, [False] * len(answers)
    members = set(best)
    return answers[best[0]], share, [i in members for i in range(len(answers))]


def majority_votes(
    groups: Sequence[Sequence[str | None]], min_agreement: float = 0.5, workers: int = 2, timeout_s: int = 5
) -> list[tuple[str | None, float, list[bool]]]:
    """``majority_vote`` over many groups of answers in worker processes (math-verify's timeouts need main threads)."""
    if not groups:
        return []
    size = max(1, len(groups) // max(1, workers))
    parts = [list(map(list, groups[i : i + size])) for i in range(0, len(groups), size)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        done = pool.map(_vote_chunk, parts, [min_agreement] * len(parts), [timeout_s] * len(parts))
        return [vote for part in done for vote in part]


def _vote_chunk(
    groups: list[list[str | None]], min_agreement: float, timeout_s: int
) -> list[tuple[str | None, float, list[bool]]]:
    return [majority_vote(group, min_agreement, timeout_s) for group in groups]


def _jaccard(a: str, b: str) -> float:
    sa, sb = set(a.lower().split()), set(b.lower().split())
    return len(sa & sb) / max(1, len(sa | sb))


def diverse_subset(texts: Sequence[str], k: int) -> list[int]:
    """Indexes of up to ``k`` texts chosen greedily so each new one is least similar (word Jaccard) to those chosen."""
    if len(texts) <= k:
        return list(range(len(texts)))
    chosen = [0]
    while len(chosen) < k:
        rest = [i for i in range(len(texts)) if i not in chosen]
        chosen.append(min(rest, key=lambda i: max(_jaccard(texts[i], texts[j]) for j in chosen)))
    return sorted(chosen)


def verify_traces(
    frame: pl.DataFrame, workers: int = 2, max_per_problem: int = 4, min_agreement: float = 0.5
) -> tuple[FilterResult, dict[str, float]]:
    """Decide every CoT row by its gold answer (math-verify) or, where there is none, by majority vote.

    Keeps up to ``max_per_problem`` correct traces a problem, preferring diverse ones. Adds ``verified``,
    ``extracted_answer``, ``extraction``, ``verifier`` (the method that decided the row) and ``teacher_pass_rate``.
    Also returns the verifier audit: on problems with gold, how often the majority vote agrees with the gold check.
    Rows of other kinds pass through with ``verified`` null.
    """
    is_cot = frame["kind"] == "cot"
    cot = frame.filter(is_cot)
    extracted = [extract_answer_with_method(text) for text in cot["text"]]
    golds = [a or "" for a in cot["answer"].to_list()]
    gold_verdicts = verify_many(cot["text"].to_list(), golds, workers=workers)
    problem_ids = cot["problem_id"].to_list()
    by_problem: dict[str, list[int]] = {}
    for index, problem in enumerate(problem_ids):
        by_problem.setdefault(problem, []).append(index)
    problems = list(by_problem)
    groups = [[extracted[i][0] for i in by_problem[p]] for p in problems]
    votes = majority_votes(groups, min_agreement, workers)
    vote_verdicts: list[bool | None] = [None] * cot.height
    for problem, (winner, _, agrees) in zip(problems, votes, strict=True):
        for index, agree in zip(by_problem[problem], agrees, strict=True):
            vote_verdicts[index] = None if winner is None else agree
    winners = {problem: vote[0] for problem, vote in zip(problems, votes, strict=True)}
    verdicts, methods = [], []
    for gold, by_gold, by_vote in zip(golds, gold_verdicts, vote_verdicts, strict=True):
        if gold.strip():
            verdicts.append(by_gold)
            methods.append(f"math-verify:{answer_type(gold) or 'unparseable'}")
        else:
            verdicts.append(bool(by_vote))
            methods.append("majority_vote")
    audited = [
        (g, v is True)
        for gold, g, v in zip(golds, gold_verdicts, vote_verdicts, strict=True)
        if gold.strip() and g is not None
    ]
    accepted = [g for g, v in audited if v]
    audit = {
        "audited_rows": len(audited),
        "majority_vote_agrees_with_gold": round(sum(g == v for g, v in audited) / len(audited), 4)
        if audited
        else None,
        "majority_vote_precision": round(sum(accepted) / len(accepted), 4) if accepted else None,
        "rows_by_majority_vote": methods.count("majority_vote"),
    }
    cot = cot.with_columns(
        pl.Series("verified", [bool(v) for v in verdicts], dtype=pl.Boolean),
        pl.Series("extracted_answer", [e[0] for e in extracted], dtype=pl.String),
        pl.Series("extraction", [e[1] for e in extracted], dtype=pl.String),
        pl.Series("verifier", methods, dtype=pl.String),
        pl.Series("_gold_ok", [v is not None for v in verdicts], dtype=pl.Boolean),
    ).with_columns(
        pl.col("verified").cast(pl.Float64).mean().over("problem_id").alias("teacher_pass_rate"),
        pl.when(pl.col("verifier") == "majority_vote")
        .then(pl.col("problem_id").replace_strict(winners, default=None, return_dtype=pl.String))
        .otherwise(pl.col("answer"))
        .alias("answer"),
    )
    keep: set[int] = set()
    texts = cot["text"].to_list()
    for indexes in by_problem.values():
        correct = [i for i in indexes if verdicts[i]]
        keep.update(correct[j] for j in diverse_subset([texts[i] for i in correct], max_per_problem))
    reasons = [
        "gold_unparseable"
        if verdicts[i] is None
        else "wrong_answer"
        if not verdicts[i]
        else None
        if i in keep
        else "over_per_problem_limit"
        for i in range(cot.height)
    ]
    checked = split_by_reason(cot.drop("_gold_ok"), reasons)
    kept = pl.concat([checked.kept, frame.filter(~is_cot)], how="diagonal_relaxed")
    return FilterResult(kept, checked.dropped), audit
