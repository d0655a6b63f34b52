"""Benchmark decontamination: word n-gram overlap between generated text and benchmark test sets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from filters.contract import FilterResult, split_by_reason

_WORD = re.compile(r"[a-z0-9]+")
BENCHMARK_FIELDS = ("question", "problem", "prompt", "text")


def words(text: str) -> list[str]:
    """Lowercased alphanumeric words: punctuation, case and white space do not hide an overlap."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


class BenchmarkIndex:
    """Every n-gram of every benchmark item, mapped to the benchmark it came from.

    An item shorter than ``n`` words is indexed whole and matched as a contiguous run of words.
    """

    def __init__(self, benchmarks: dict[str, list[str]], n: int = 8) -> None:
        self.n = n
        self.grams: dict[tuple[str, ...], str] = {}
        self.short: dict[tuple[str, ...], str] = {}
        for name, texts in benchmarks.items():
            for text in texts:
                tokens = words(text)
                if not tokens:
                    continue
                if len(tokens) < n:
                    self.short.setdefault(tuple(tokens), name)
                for gram in ngrams(tokens, n):
                    self.grams.setdefault(gram, name)
        self.short_lengths = sorted({len(s) for s in self.short})

    def match(self, text: str) -> str | None:
        """The name of a benchmark that ``text`` overlaps, or None."""
        tokens = words(text)
        for gram in ngrams(tokens, self.n):
            if gram in self.grams:
                return self.grams[gram]
        for length in self.short_lengths:
            for gram in ngrams(tokens, length):
                if gram in self.short:
                    return self.short[gram]
        return None


def find_contamination(texts: list[str], benchmarks: dict[str, list[str]], n: int = 8) -> list[str | None]:
    """Per text, the name of the benchmark it overlaps by an ``n``-word run (or whole short item), or None."""
    index = BenchmarkIndex(benchmarks, n)
    return [index.match(text) for text in texts]


def load_benchmark(path: str | Path) -> list[str]:
    """The question texts of a benchmark file (jsonl or parquet), from its first known question field."""
    path = Path(path)
    if path.suffix == ".parquet":
        records = pl.read_parquet(path).to_dicts()
    else:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        raise ValueError(f"{path}: the benchmark file holds no rows")
    field = next((f for f in BENCHMARK_FIELDS if f in records[0]), None)
    if field is None:
        raise ValueError(f"{path}: line 1: no question field (looked for {', '.join(BENCHMARK_FIELDS)})")
    return [str(r[field]) for r in records]


def decontaminate(frame: pl.DataFrame, index: BenchmarkIndex, columns: Sequence[str]) -> FilterResult:
    """Drop rows where any of ``columns`` overlaps a benchmark; the reason names the benchmark and column."""
    reasons: list[str | None] = []
    for row in frame.select(columns).iter_rows():
        reason = None
        for column, text in zip(columns, row, strict=True):
            hit = index.match(text) if text else None
            if hit:
                reason = f"contaminated:{hit}:{column}"
                break
        reasons.append(reason)
    return split_by_reason(frame, reasons)
