"""Benchmark decontamination: word n-gram overlap between generated text and benchmark test sets."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from filters.contract import Drop, Filter

_WORD = re.compile(r"[a-z0-9]+")
BENCHMARK_FIELDS = ("question", "problem", "prompt", "text")
BENCHMARK_SUFFIXES = (".jsonl", ".json", ".parquet")
SHIPPED_DIR = Path(__file__).parent / "data" / "benchmarks"
SHIPPED_BENCHMARKS = (SHIPPED_DIR / "gsm8k_test.jsonl", SHIPPED_DIR / "math500_test.jsonl")


def words(text: str) -> list[str]:
    """Lowercased alphanumeric words: punctuation, case and white space do not hide an overlap."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


class BenchmarkIndex:
    """Every n-gram of every benchmark item, mapped to the benchmark it came from, plus a fuzzy pass.

    An item shorter than ``n`` words is indexed whole and matched as a contiguous run of words. The fuzzy pass
    catches items whose names or numbers were changed: a benchmark item that shares words (short items) or at least
    two 5-grams (long items) with the text is compared, character by character, with every window of the text of the
    item's length; a ratio of ``fuzzy`` or more is a hit.
    """

    def __init__(self, benchmarks: dict[str, list[str]], n: int = 10, fuzzy: float = 0.9) -> None:
        self.n = n
        self.fuzzy = fuzzy
        self.grams: dict[tuple[str, ...], str] = {}
        self.short: dict[tuple[str, ...], str] = {}
        self.items: list[tuple[str, tuple[str, ...]]] = []
        self.five_grams: dict[tuple[str, ...], set[int]] = {}
        for name, texts in benchmarks.items():
            for text in texts:
                tokens = words(text)
                if not tokens:
                    continue
                if len(tokens) < n:
                    self.short.setdefault(tuple(tokens), name)
                for gram in ngrams(tokens, n):
                    self.grams.setdefault(gram, name)
                self.items.append((name, tuple(tokens)))
                for gram in ngrams(tokens, 5):
                    self.five_grams.setdefault(gram, set()).add(len(self.items) - 1)
        self.short_lengths = sorted({len(s) for s in self.short})
        self.short_items = [i for i, (_, tokens) in enumerate(self.items) if len(tokens) < 5]

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
        return self._fuzzy(tokens)

    def _fuzzy(self, tokens: list[str]) -> str | None:
        shared: dict[int, int] = {}
        for gram in set(ngrams(tokens, 5)):
            for item in self.five_grams.get(gram, ()):
                shared[item] = shared.get(item, 0) + 1
        present = set(tokens)
        candidates = [i for i, count in shared.items() if count >= 2]
        candidates += [
            i for i in self.short_items if len(set(self.items[i][1]) & present) >= len(self.items[i][1]) - 1
        ]
        for item in candidates:
            name, item_tokens = self.items[item]
            target = " ".join(item_tokens)
            matcher = difflib.SequenceMatcher(autojunk=False)
            matcher.set_seq2(target)
            size = len(item_tokens)
            for start in range(max(1, len(tokens) - size + 1)):
                matcher.set_seq1(" ".join(tokens[start : start + size]))
                if (
                    matcher.real_quick_ratio() >= self.fuzzy
                    and matcher.quick_ratio() >= self.fuzzy
                    and matcher.ratio() >= self.fuzzy
                ):
                    return name
        return None


def find_contamination(
    texts: list[str], benchmarks: dict[str, list[str]], n: int = 10, fuzzy: float = 0.9
) -> list[str | None]:
    """Per text, the name of the benchmark it overlaps (an ``n``-word run, a whole short item, or a window at
    least ``fuzzy`` similar to an item), or None."""
    index = BenchmarkIndex(benchmarks, n, fuzzy)
    return [index.match(text) for text in texts]


def benchmark_name(source: str | Path) -> str:
    """The name a benchmark is reported under: a file's stem, or a `datasets` id's last part with its split."""
    path = Path(source)
    return path.stem if path.suffix in BENCHMARK_SUFFIXES else str(source).rstrip("/").split("/")[-1]


def benchmark_names(sources: Sequence[str | Path]) -> dict[str, str]:
    """A unique name per benchmark source: its ``benchmark_name``, widened by parent folders where two collide
    (``a/test.jsonl`` and ``b/test.jsonl`` are ``a/test`` and ``b/test``, never one set)."""
    sources = list(dict.fromkeys(str(s) for s in sources))
    depth = 0
    while True:
        names = [_name_at_depth(s, depth) for s in sources]
        if len(set(names)) == len(names) or depth > 64:
            return dict(zip(names, sources, strict=True))
        depth += 1


def benchmark_sources(shipped: bool, extra: Sequence[str], disabled: bool) -> list[str]:
    """The benchmark sources to decontaminate against: the shipped sets (where ``shipped``) and ``extra``; none only
    where decontamination is ``disabled`` explicitly, never by an empty list."""
    if disabled:
        return []
    sources = [*(str(p) for p in SHIPPED_BENCHMARKS if shipped), *extra]
    if not sources:
        raise ValueError(
            "decontamination has no benchmark sets (shipped: false and no benchmarks given); "
            "set `disabled: true` in the decontaminated config to turn it off explicitly"
        )
    return sources


def _name_at_depth(source: str, depth: int) -> str:
    parents = Path(source).parent.parts[-depth:] if depth else ()
    return "/".join([*parents, benchmark_name(source)])


def load_benchmark(source: str | Path) -> list[str]:
    """The question texts of a benchmark: a jsonl/parquet file, or a `datasets` id (or local dataset folder) with an
    optional ``@split`` (default ``test``), read from the first known question field; a bad row names its place."""
    path = Path(source)
    if path.suffix in BENCHMARK_SUFFIXES:
        if path.suffix == ".parquet":
            records = pl.read_parquet(path).to_dicts()
        else:
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        where, unit = str(path), "line"
    else:
        import datasets

        dataset_id, _, split = str(source).partition("@")
        records = list(datasets.load_dataset(dataset_id, split=split or "test"))
        where, unit = f"{dataset_id}[{split or 'test'}]", "row"
    if not records:
        raise ValueError(f"{where}: the benchmark holds no rows")
    field = next((f for f in BENCHMARK_FIELDS if f in records[0]), None)
    if field is None:
        raise ValueError(f"{where}: {unit} 1: no question field (looked for {', '.join(BENCHMARK_FIELDS)})")
    for number, record in enumerate(records, 1):
        if not isinstance(record.get(field), str) or not record[field].strip():
            raise ValueError(f"{where}: {unit} {number}: field {field!r} is missing, empty or not text")
    return [r[field] for r in records]


class Decontaminate(Filter):
    """Drop rows where any of ``columns`` overlaps a benchmark: code ``contaminated``, the benchmark as detail."""

    name = "decontaminated"

    def __init__(self, index: BenchmarkIndex, columns: Sequence[str]) -> None:
        self.index, self.columns = index, list(columns)
        self.matched_on: dict[str, str] = {}  # row id -> the column that overlapped

    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        decisions: list[Drop | None] = []
        for row_id, *texts in frame.select("id", *self.columns).iter_rows():
            decision = None
            for column, text in zip(self.columns, texts, strict=True):
                if text and (benchmark := self.index.match(text)):
                    decision, self.matched_on[row_id] = Drop("contaminated", benchmark), column
                    break
            decisions.append(decision)
        return decisions
