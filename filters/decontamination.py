"""Benchmark decontamination: word n-gram overlap between generated text and benchmark test sets."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from filters.contract import Drop, RowFilter
from filters.schemas import reasons
from filters.stream import ROW, chunks
from filters.text import fold

_WORD = re.compile(r"[a-z0-9]+")
BENCHMARK_FIELDS = ("question", "problem", "prompt", "text")
BENCHMARK_SUFFIXES = (".jsonl", ".json", ".parquet")
SHIPPED_DIR = Path(__file__).parent / "data" / "benchmarks"
SHIPPED_BENCHMARKS = (SHIPPED_DIR / "gsm8k_test.jsonl", SHIPPED_DIR / "math500_test.jsonl")
SCANNED_COLUMNS = ("problem", "text", "thinking")
CONTAMINATION_REASONS = reasons(__name__, "contaminated")
FIVE_BITS = 1 << 22  # the bitmap of benchmark 5-gram keys (4 MB; about 5% full with GSM8K test and MATH-500)


def words(text: str) -> list[str]:
    """Lowercased alphanumeric words of the folded text: punctuation, case, white space, accents, invisible characters
    and look-alike letters do not hide an overlap."""
    return _WORD.findall(fold(text).lower())


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
        five_grams: dict[tuple[str, ...], dict[int, int]] = {}  # 5-gram -> item -> its first offset there
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
                    five_grams.setdefault(gram, {}).setdefault(len(self.items) - 1, offset)
        five_ids = np.array([[self.vocabulary[w] for w in g] for g in five_grams], dtype=np.int64)
        keys = self._keys(five_ids.reshape(-1, 5))
        # 5-gram (by its 64-bit key; a collision only adds a candidate the fuzzy pass rejects) -> item -> offset
        self.five_grams: dict[int, dict[int, int]] = dict(zip(keys.tolist(), five_grams.values(), strict=True))
        self.five_bits = np.zeros(FIVE_BITS, dtype=bool)  # the low bits of every key: most text 5-grams stop here
        self.five_bits[keys & np.uint64(FIVE_BITS - 1)] = True
        self._item_chars: dict[int, np.ndarray] = {}  # item -> its characters counted (the fuzzy pass's bound)
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
        ids = np.fromiter(map(self.vocabulary.get, tokens, itertools.repeat(0)), dtype=np.int64, count=len(tokens))
        shared: list[tuple[int, int]] = []  # (where a benchmark 5-gram starts in the text, its key)
        if len(tokens) >= 5 and self.five_grams:
            windows = np.lib.stride_tricks.sliding_window_view(ids, 5)
            keys = self._keys(windows)
            maybe = np.flatnonzero(self.five_bits[keys & np.uint64(FIVE_BITS - 1)])  # a bitmap rules most out
            grams = self.five_grams
            shared = [(i, key) for i, key in zip(maybe.tolist(), keys[maybe].tolist(), strict=True) if key in grams]
        if self.n >= 5:
            starts = {start for start, _ in shared}
            for start, _ in shared:
                if start + self.n - 5 in starts and (gram := tuple(tokens[start : start + self.n])) in self.grams:
                    return self.grams[gram]
        else:
            for gram in ngrams(tokens, self.n):
                if gram in self.grams:
                    return self.grams[gram]
        for start in map(int, np.flatnonzero(contained(ids, self.short_first_ids))):
            for item in self.short_by_first[tokens[start]]:
                if tuple(tokens[start : start + len(item)]) == item:
                    return self.short[item]
        return self._fuzzy(tokens, ids, shared)

    def _fuzzy(self, tokens: list[str], ids: np.ndarray, shared: list[tuple[int, int]]) -> str | None:
        """Compare each candidate item only with the windows that line up with a 5-gram it shares with the text (long
        items) or one of its words (short items)."""
        aligned: dict[int, set[int]] = {}  # candidate item -> where its window would start, by each shared 5-gram
        grams: dict[int, set[int]] = {}  # candidate item -> the distinct 5-grams it shares with the text
        for position, key in shared:
            for item, offset in self.five_grams[key].items():
                aligned.setdefault(item, set()).add(position - offset)
                grams.setdefault(item, set()).add(key)
        candidates = {item: starts for item, starts in aligned.items() if len(grams[item]) >= 2}
        if self.short_items:
            present = set(tokens)
            for item in self.short_items:
                item_tokens = self.items[item][1]
                if len(set(item_tokens) & present) >= len(item_tokens) - 1:
                    item_ids = [self.vocabulary[t] for t in item_tokens]
                    offsets = {i: item_ids.index(i) for i in item_ids}
                    candidates[item] = {int(p) - offsets[ids[p]] for p in np.flatnonzero(np.isin(ids, item_ids))}
        text_chars = None
        for item, starts in candidates.items():
            text_chars = text_chars or TextChars(tokens)
            if self._similar_window(text_chars, item, starts):
                return self.items[item][0]
        return None

    def _similar_window(self, text: TextChars, item: int, aligned: set[int]) -> bool:
        """Whether a window of the item's length starting near one of the ``aligned`` starts (words added or dropped
        before the anchor shift it by up to a tenth of the item) is ``fuzzy`` similar to the item. difflib's two
        upper bounds (the lengths, then the characters in common) are computed for all the windows at once; the few
        windows they leave are compared in full."""
        item_tokens = self.items[item][1]
        size = len(item_tokens)
        drift = np.arange(-(size // 10 + 1), size // 10 + 2)
        anchors = np.fromiter(aligned, dtype=np.int64, count=len(aligned))
        starts = np.unique(np.clip(np.add.outer(anchors, drift), 0, max(0, len(text.tokens) - size)))
        target = " ".join(item_tokens)
        if item not in self._item_chars:
            self._item_chars[item] = np.bincount(char_codes(target), minlength=CHARS)
        matcher = None
        for cluster in np.split(starts, np.flatnonzero(np.diff(starts) > size) + 1):  # windows that overlap
            begins = text.begins[cluster]
            ends = text.ends[np.minimum(cluster + size, len(text.tokens)) - 1]
            total = ends - begins + len(target)
            common = np.minimum(text.window_counts(begins, ends), self._item_chars[item]).sum(axis=1)
            close = (2 * np.minimum(ends - begins, len(target)) >= self.fuzzy * total) & (
                2 * common >= self.fuzzy * total
            )
            for begin, end in zip(begins[close].tolist(), ends[close].tolist(), strict=True):
                window = text.joined[begin:end]
                if 2 * common_subsequence(window, target) < self.fuzzy * (len(window) + len(target)):
                    continue  # difflib's matching blocks are a common subsequence: the ratio is at most this
                if matcher is None:
                    matcher = difflib.SequenceMatcher(autojunk=False)
                    matcher.set_seq2(target)
                matcher.set_seq1(window)
                if matcher.ratio() >= self.fuzzy:
                    return True
        return False


def common_subsequence(a: str, b: str) -> int:
    """The length of the longest common subsequence of ``a`` and ``b``, one bit per character of ``b`` (Hyyro's
    bit-parallel algorithm on Python integers: a few microseconds where difflib takes milliseconds)."""
    masks: dict[str, int] = {}
    for i, char in enumerate(b):
        masks[char] = masks.get(char, 0) | 1 << i
    full = (1 << len(b)) - 1
    row = full
    for char in a:
        matched = row & masks.get(char, 0)
        row = ((row + matched) | (row - matched)) & full
    return len(b) - row.bit_count()


CHARS = 37  # a-z, 0-9 and the space: all that words() leaves and the windows join with
_CODES = np.full(256, CHARS - 1, dtype=np.uint8)
_CODES[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)] = np.arange(CHARS - 1, dtype=np.uint8)


def char_codes(text: str) -> np.ndarray:
    """Each character of words() joined by spaces as a number in 0-36."""
    return _CODES[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]


class TextChars:
    """A text's words joined by spaces, where each word begins and ends in it, and its characters as numbers, so the
    characters of many runs of words are counted with one running sum."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.joined = " ".join(tokens)
        self.codes = char_codes(self.joined)
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        self.ends = np.cumsum(lengths + 1) - 1
        self.begins = self.ends - lengths

    def window_counts(self, begins: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Each character counted in each window ``joined[begin:end]`` (one running count over the span they cover)."""
        low, high = int(begins.min()), int(ends.max())
        one_hot = np.zeros((high - low + 1, CHARS), dtype=np.int32)
        one_hot[np.arange(1, high - low + 1), self.codes[low:high]] = 1
        running = np.cumsum(one_hot, axis=0)
        return running[ends - low] - running[begins - low]


def find_contamination(
    texts: list[str], benchmarks: dict[str, list[str]], n: int = 10, fuzzy: float = 0.9
) -> list[str | None]:
    """Per text, the name of the benchmark it overlaps (an ``n``-word run, a whole short item, or a window at
    least ``fuzzy`` similar to an item), or None."""
    index = BenchmarkIndex(benchmarks, n, fuzzy)
    return [index.match(text) for text in texts]


def scanned_columns(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The columns of ``frame`` that decontamination scans: the problem, the generated text and the thinking."""
    names = frame.collect_schema().names()
    return [c for c in SCANNED_COLUMNS if c in names]


def scan_fingerprint(
    frame: pl.DataFrame | pl.LazyFrame, benchmarks: dict[str, list[str]], n: int, fuzzy: float
) -> str:
    """What a scan of ``frame`` for contamination depends on: its rows' ids and scanned texts, every benchmark item
    and the settings. Equal fingerprints give equal scans, so a check can take a stage's scan instead of repeating it
    (polars' row hashes are stable within one polars version; across versions they differ and the scan is redone).
    The rows are hashed a chunk at a time."""
    digest = hashlib.sha256(f"{n}:{fuzzy}".encode())
    for name in sorted(benchmarks):
        digest.update(f"\0{name}\0".encode())
        digest.update("\0".join(benchmarks[name]).encode())
    for chunk in chunks(frame.lazy().select("id", *scanned_columns(frame))):
        digest.update(chunk.drop(ROW).hash_rows().to_numpy().tobytes())
    return digest.hexdigest()


def benchmark_name(source: str | Path) -> str:
    """The name a benchmark is reported under: a file's stem, or a `datasets` id's last part with its split."""
    path = Path(source)
    return path.stem if path.suffix in BENCHMARK_SUFFIXES else str(source).rstrip("/").split("/")[-1]


def benchmark_names(sources: Sequence[str | Path]) -> dict[str, str]:
    """A unique name per benchmark source: its ``benchmark_name``, widened by parent folders where two collide
    (``a/test.jsonl`` and ``b/test.jsonl`` are ``a/test`` and ``b/test``, never one set)."""
    paths = list(dict.fromkeys(str(s) for s in sources))
    depth = 0
    while True:
        names = [_name_at_depth(s, depth) for s in paths]
        if len(set(names)) == len(names) or depth > 64:
            return dict(zip(names, paths, strict=True))
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


def benchmark_files_there(sources: list[str], setting: str = "") -> list[str]:
    """``sources``, or a ValueError (after ``setting``, the name of where they came from) listing those that name a
    benchmark file (by suffix) that is not there: found before any model call, not after the teacher's requests."""
    missing = [s for s in sources if Path(s).suffix in BENCHMARK_SUFFIXES and not Path(s).is_file()]
    if missing:
        raise ValueError(f"{setting}benchmark files not found: {', '.join(missing)}")
    return sources


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
