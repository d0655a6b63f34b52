"""Benchmark decontamination: word n-gram overlap between generated text and benchmark test sets."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from filters.contract import Drop, RowFilter

_WORD = re.compile(r"[a-z0-9]+")
BENCHMARK_FIELDS = ("question", "problem", "prompt", "text")
BENCHMARK_SUFFIXES = (".jsonl", ".json", ".parquet")
SHIPPED_DIR = Path(__file__).parent / "data" / "benchmarks"
SHIPPED_BENCHMARKS = (SHIPPED_DIR / "gsm8k_test.jsonl", SHIPPED_DIR / "math500_test.jsonl")
SCANNED_COLUMNS = ("problem", "text", "thinking")


def words(text: str) -> list[str]:
    """Lowercased alphanumeric words: punctuation, case and white space do not hide an overlap."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def contained(values: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """Which ``values`` are in ``sorted_unique`` (``np.isin`` without sorting the haystack again on every call)."""
    if not len(sorted_unique):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_unique, values), len(sorted_unique) - 1)
    return sorted_unique[at] == values


class BenchmarkIndex:
    """Every n-gram of every benchmark item, mapped to the benchmark it came from, plus a fuzzy pass.

    An item shorter than ``n`` words is indexed whole and matched as a contiguous run of words. The fuzzy pass
    catches items whose names or numbers were changed: a benchmark item that shares words (short items) or at least
    two 5-grams (long items) with the text is compared, character by character, with the windows of the text of the
    item's length that line up with what it shares; a ratio of ``fuzzy`` or more is a hit.

    A text is matched in time linear in its length: its words become ids and its 5-grams rolling hashes (numpy), so
    only the few places that share a 5-gram (or a short item's first word) with a benchmark reach Python.
    """

    def __init__(self, benchmarks: dict[str, list[str]], n: int = 10, fuzzy: float = 0.9) -> None:
        self.n = n
        self.fuzzy = fuzzy
        self.grams: dict[tuple[str, ...], str] = {}
        self.short: dict[tuple[str, ...], str] = {}
        self.items: list[tuple[str, tuple[str, ...]]] = []
        self.five_grams: dict[tuple[str, ...], dict[int, int]] = {}  # 5-gram -> item -> its first offset there
        self.vocabulary: dict[str, int] = {}  # benchmark word -> id (from 1; 0 is a word no benchmark has)
        for name, texts in benchmarks.items():
            for text in texts:
                tokens = words(text)
                if not tokens:
                    continue
                for token in tokens:
                    self.vocabulary.setdefault(token, len(self.vocabulary) + 1)
                if len(tokens) < n:
                    self.short.setdefault(tuple(tokens), name)
                for gram in ngrams(tokens, n):
                    self.grams.setdefault(gram, name)
                self.items.append((name, tuple(tokens)))
                for offset, gram in enumerate(ngrams(tokens, 5)):
                    self.five_grams.setdefault(gram, {}).setdefault(len(self.items) - 1, offset)
        five_ids = np.array([[self.vocabulary[w] for w in g] for g in self.five_grams], dtype=np.int64)
        self.five_keys = np.unique(self._keys(five_ids.reshape(-1, 5)))
        self.short_by_first: dict[str, list[tuple[str, ...]]] = {}
        for item in sorted(self.short, key=len):
            self.short_by_first.setdefault(item[0], []).append(item)
        self.short_first_ids = np.array(sorted(self.vocabulary[w] for w in self.short_by_first), dtype=np.int64)
        self.short_items = [i for i, (_, tokens) in enumerate(self.items) if len(tokens) < 5]

    @staticmethod
    def _keys(windows: np.ndarray) -> np.ndarray:
        """A 64-bit hash of each row of word ids (collisions only cost an exact look-up that fails)."""
        keys = np.zeros(len(windows), dtype=np.uint64)
        for column in windows.T.astype(np.uint64):
            keys = keys * np.uint64(1_000_003) + column
        return keys

    def match(self, text: str) -> str | None:
        """The name of a benchmark that ``text`` overlaps, or None. An ``n``-gram is looked up only where the 5-grams
        at both its ends are benchmark 5-grams."""
        tokens = words(text)
        ids = np.fromiter((self.vocabulary.get(t, 0) for t in tokens), dtype=np.int64, count=len(tokens))
        shared: list[int] = []  # where a benchmark 5-gram starts in the text
        if len(tokens) >= 5 and len(self.five_keys):
            windows = np.lib.stride_tricks.sliding_window_view(ids, 5)
            found = contained(self._keys(windows), self.five_keys) & windows.all(axis=1)
            shared = [int(i) for i in np.flatnonzero(found) if tuple(tokens[i : i + 5]) in self.five_grams]
        if self.n >= 5:
            starts = set(shared)
            for start in shared:
                if start + self.n - 5 in starts and (gram := tuple(tokens[start : start + self.n])) in self.grams:
                    return self.grams[gram]
        else:
            for gram in ngrams(tokens, self.n):
                if gram in self.grams:
                    return self.grams[gram]
        for start in np.flatnonzero(contained(ids, self.short_first_ids)):
            for item in self.short_by_first[tokens[start]]:
                if tuple(tokens[start : start + len(item)]) == item:
                    return self.short[item]
        return self._fuzzy(tokens, ids, shared)

    def _fuzzy(self, tokens: list[str], ids: np.ndarray, shared: list[int]) -> str | None:
        """Compare each candidate item only with the windows that line up with a 5-gram it shares with the text (long
        items) or one of its words (short items)."""
        aligned: dict[int, set[int]] = {}  # candidate item -> where its window would start, by each shared 5-gram
        grams: dict[int, set[tuple[str, ...]]] = {}  # candidate item -> the distinct 5-grams it shares with the text
        for position in shared:
            gram = tuple(tokens[position : position + 5])
            for item, offset in self.five_grams[gram].items():
                aligned.setdefault(item, set()).add(position - offset)
                grams.setdefault(item, set()).add(gram)
        candidates = {item: starts for item, starts in aligned.items() if len(grams[item]) >= 2}
        if self.short_items:
            present = set(tokens)
            for item in self.short_items:
                item_tokens = self.items[item][1]
                if len(set(item_tokens) & present) >= len(item_tokens) - 1:
                    item_ids = [self.vocabulary[t] for t in item_tokens]
                    offsets = {i: item_ids.index(i) for i in item_ids}
                    candidates[item] = {int(p) - offsets[ids[p]] for p in np.flatnonzero(np.isin(ids, item_ids))}
        for item, starts in candidates.items():
            name, item_tokens = self.items[item]
            if self._similar_window(tokens, item_tokens, starts):
                return name
        return None

    def _similar_window(self, tokens: list[str], item_tokens: tuple[str, ...], aligned: set[int]) -> bool:
        """Whether a window of the item's length starting near one of the ``aligned`` starts (words added or dropped
        before the anchor shift it by up to a tenth of the item) is ``fuzzy`` similar to the item."""
        size = len(item_tokens)
        drift = size // 10 + 1
        last = max(0, len(tokens) - size)
        starts = {min(max(0, a + d), last) for a in aligned for d in range(-drift, drift + 1)}
        target = " ".join(item_tokens)
        target_chars = Counter(target)
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(target)
        for start in sorted(starts):
            window = " ".join(tokens[start : start + size])
            total = len(window) + len(target)
            if 2 * min(len(window), len(target)) < self.fuzzy * total:
                continue  # real_quick_ratio: the lengths alone rule it out
            if 2 * (Counter(window) & target_chars).total() < self.fuzzy * total:
                continue  # quick_ratio (shared characters, counted in C)
            matcher.set_seq1(window)
            if matcher.ratio() >= self.fuzzy:
                return True
        return False


def find_contamination(
    texts: list[str], benchmarks: dict[str, list[str]], n: int = 10, fuzzy: float = 0.9
) -> list[str | None]:
    """Per text, the name of the benchmark it overlaps (an ``n``-word run, a whole short item, or a window at
    least ``fuzzy`` similar to an item), or None."""
    index = BenchmarkIndex(benchmarks, n, fuzzy)
    return [index.match(text) for text in texts]


def scanned_columns(frame: pl.DataFrame) -> list[str]:
    """The columns of ``frame`` that decontamination scans: the problem, the generated text and the thinking."""
    return [c for c in SCANNED_COLUMNS if c in frame.columns]


def scan_fingerprint(frame: pl.DataFrame, benchmarks: dict[str, list[str]], n: int, fuzzy: float) -> str:
    """What a scan of ``frame`` for contamination depends on: its rows' ids and scanned texts, every benchmark item
    and the settings. Equal fingerprints give equal scans, so a check can take a stage's scan instead of repeating it
    (polars' row hashes are stable within one polars version; across versions they differ and the scan is redone)."""
    digest = hashlib.sha256(f"{n}:{fuzzy}".encode())
    for name in sorted(benchmarks):
        digest.update(f"\0{name}\0".encode())
        digest.update("\0".join(benchmarks[name]).encode())
    digest.update(frame.select("id", *scanned_columns(frame)).hash_rows().to_numpy().tobytes())
    return digest.hexdigest()


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


class Decontaminate(RowFilter):
    """Drop rows where any of ``columns`` overlaps a benchmark: code ``contaminated``, the benchmark as detail."""

    name = "decontaminated"

    def __init__(self, index: BenchmarkIndex, columns: Sequence[str]) -> None:
        self.index, self.columns = index, list(columns)
        self.matched_on: dict[str, str] = {}  # row id -> the column that overlapped

    def reads(self) -> Sequence[str]:
        return ("id", *self.columns)

    def decide_row(self, row: dict[str, Any]) -> Drop | None:
        for column in self.columns:
            if (text := row[column]) and (benchmark := self.index.match(text)):
                return Drop("contaminated", benchmark)
        return None

    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        decisions = super().decide(frame)
        dropped = frame.filter(pl.Series([d is not None for d in decisions], dtype=pl.Boolean))
        for row_id, *texts in dropped.select("id", *self.columns).iter_rows():
            # the few rows dropped: which column overlapped, for the metadata's examples
            matched = (c for c, text in zip(self.columns, texts, strict=True) if text and self.index.match(text))
            self.matched_on[row_id] = next(matched)
        return decisions
