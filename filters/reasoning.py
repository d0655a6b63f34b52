"""Reasoning filters: no instruction planted in the problem, a final answer present, not truncated, length bounds, step
depth, language, repetition (of the solution by Gopher's rules; of a reasoning model's thinking by windows, where a
loop shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from datatrove.data import Document
from datatrove.pipeline.filters import GopherRepetitionFilter

from filters.answers import extract_answer_with_method
from filters.contract import Drop, FilterResult, RowFilter
from filters.dedup import WhitespaceTokenizer
from filters.injection import planted_instruction
from filters.language import language_reason
from filters.schemas import reasons
from filters.steps.text import step_depth

REASONING_FILTER_REASONS = reasons(
    __name__, "instruction_in_problem", "truncated_thinking", "empty", "truncated", "thinking_too_long",
    "thinking_repetition", "too_short", "too_long", "no_final_answer", "too_few_steps", "language", "repetition",
)  # fmt: skip


@dataclass(frozen=True)
class ReasoningFilterConfig:
    """Bounds for the reasoning filters; lengths are in completion tokens (of the solution, in words, where a
    reasoning model's thinking came apart); ``languages`` empty turns the language filter off."""

    min_tokens: int = 8
    max_tokens: int = 2048
    require_answer: bool = True
    drop_truncated: bool = True
    min_steps: int = 1
    languages: tuple[str, ...] = ("en",)
    max_thinking_words: int = 24_000
    max_thinking_repetition: float = 0.3  # share of a thinking window in repeated 10-word runs; 1.0 turns it off


def repetition_filter() -> GopherRepetitionFilter:
    """Gopher's duplicate line/paragraph/n-gram rules; the top-n-gram rule is off (short traces repeat 'step')."""
    return GopherRepetitionFilter(top_n_grams=(), language=WhitespaceTokenizer())


def thinking_loop(
    thinking: str, n: int = 10, window: int = 500, max_fraction: float = 0.3
) -> tuple[int, float] | None:
    """Where a reasoning model's thinking loops: (first word, share) of the ``window``-word stretch with the most of
    its words inside an ``n``-word run that already occurred within ``window`` words before, where that share is
    above ``max_fraction``; None where the thinking does not loop. Long thinking rechecks and restates (short
    phrases repeat), so whole-text repetition rules would drop sound traces; a loop repeats whole sentences."""
    words = thinking.split()
    if len(words) < 2 * n:
        return None
    last: dict[tuple[str, ...], int] = {}
    repeated = np.zeros(len(words), dtype=np.int32)
    for start in range(len(words) - n + 1):
        gram = tuple(words[start : start + n])
        before = last.get(gram)
        if before is not None and start - before < window:
            repeated[start : start + n] = 1
        last[gram] = start
    size = min(window, len(words))
    totals = np.concatenate([[0], np.cumsum(repeated)])
    shares = (totals[size:] - totals[:-size]) / size
    worst = int(np.argmax(shares))
    return (worst, float(shares[worst])) if shares[worst] > max_fraction else None


def reasoning_decision(row: dict, config: ReasoningFilterConfig, repetition: GopherRepetitionFilter) -> Drop | None:
    """Why a row fails the reasoning filters, or None where it passes."""
    text = row["text"] or ""
    thinking = row.get("thinking")
    if row.get("problem") and (instruction := planted_instruction(row["problem"])):
        return Drop("instruction_in_problem", instruction)
    if thinking is not None and row.get("thinking_closed") is False:
        return Drop("truncated_thinking")  # an unclosed <think>: the model ran out of tokens while thinking
    if not text.strip():
        return Drop("empty")
    if config.drop_truncated and row.get("finish_reason") == "length":
        return Drop("truncated")
    if thinking is not None and len(thinking.split()) > config.max_thinking_words:
        return Drop("thinking_too_long")
    if thinking and (loop := thinking_loop(thinking, max_fraction=config.max_thinking_repetition)):
        return Drop("thinking_repetition", f"{loop[1]:.0%} of the 500 words from word {loop[0]} repeat")
    # the length bounds measure the solution: a reasoning model's completion tokens count its thinking too
    tokens = len(text.split()) if thinking is not None else row.get("completion_tokens") or len(text.split())
    if tokens < config.min_tokens:
        return Drop("too_short")
    if tokens > config.max_tokens:
        return Drop("too_long")
    if config.require_answer and row["kind"] == "cot" and extract_answer_with_method(text)[1] in (None, "last_number"):
        return Drop("no_final_answer")
    if row["kind"] == "cot" and step_depth(text) < config.min_steps:
        return Drop("too_few_steps")
    if config.languages and (language := language_reason(text, config.languages)):
        return Drop("language", language)
    verdict = repetition.filter(Document(text=text, id=row["id"]))
    if verdict is not True:
        return Drop("repetition", verdict[1] if isinstance(verdict, tuple) else "rule")
    return None


class ReasoningFilter(RowFilter):
    """The reasoning filters over rows with ``kind``, ``problem``, ``text``, ``finish_reason`` and
    ``completion_tokens``: planted instructions, format, length, truncation, step depth, language and repetition."""

    name = "reasoning_filtered"

    def __init__(self, config: ReasoningFilterConfig | None = None) -> None:
        self.config = config or ReasoningFilterConfig()
        self.repetition = repetition_filter()

    def reads(self) -> Sequence[str]:
        return ("id", "kind", "problem", "text", "thinking", "thinking_closed", "finish_reason", "completion_tokens")

    def decide_row(self, row: dict[str, Any]) -> Drop | None:
        return reasoning_decision(row, self.config, self.repetition)


def reasoning_filter(frame: pl.DataFrame, config: ReasoningFilterConfig | None = None) -> FilterResult:
    """:class:`ReasoningFilter` applied once."""
    return ReasoningFilter(config)(frame)
