"""A persisted dedup index: each batch leaves one parquet file of hashes, later batches are checked against it.

A row of an earlier batch is stored as its exact hash (normalized text) and its MinHash band keys (datatrove's
shingles and permutations, one key per bucket, with the text's number sequence folded in so number variants stay
distinct). Checking a new batch reads these files only: earlier batches' texts are never reprocessed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from filters.contract import Drop, Filter
from filters.dedup import MinhashSigner, normalize_text
from filters.schemas import Schema, reasons
from filters.text import NUMBER

EARLIER_BATCH_REASONS = reasons(
    __name__, *(f"earlier_batch_{way}_duplicate_{label}" for way in ("exact", "near") for label in ("problem", "text"))
)
"""A row an earlier batch already holds, matched exactly or near, by its problem or its text."""
INDEX_SCHEMA: Schema = {"label": pl.String, "id": pl.String, "exact": pl.UInt64, "bands": pl.List(pl.UInt64)}


def _digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class BandHasher:
    """Exact hashes and MinHash band keys, from the signatures ``signer`` computed (datatrove's own code)."""

    def __init__(self, signer: MinhashSigner | None = None) -> None:
        self.signer = signer or MinhashSigner()

    def exact(self, text: str) -> int:
        return _digest(normalize_text(text).encode())

    def bands(self, text: str) -> list[int]:
        """One key per bucket (empty for a text shorter than the n-gram size), specific to the text's numbers."""
        signature = self.signer.signature(text)
        if signature is None:
            return []
        numbers = "\x1f".join(NUMBER.findall(text)).encode()
        return [
            _digest(bucket_index.to_bytes(2, "little") + np.asarray(bucket, dtype=np.uint64).tobytes() + numbers)
            for bucket_index, bucket in enumerate(signature)
        ]

    def frame(self, label: str, ids: Sequence[str], texts: Sequence[str]) -> pl.DataFrame:
        """Index rows for ``texts`` (one per text) under ``label`` (``problem`` or ``text``)."""
        return pl.DataFrame(
            {
                "label": [label] * len(texts),
                "id": list(ids),
                "exact": [self.exact(t) for t in texts],
                "bands": [self.bands(t) for t in texts],
            },
            schema=INDEX_SCHEMA,
        )


class DedupIndex:
    """The index files of earlier batches under ``folder`` (``<batch>.parquet``), loaded for lookups.

    A batch's index is written as pending (``pending/<batch>.parquet``) when it is deduplicated and counts only once
    it is committed, when the batch's rows are published: a batch that fails later never blocks later batches with
    rows that were never kept."""

    def __init__(self, folder: str | os.PathLike, signer: MinhashSigner | None = None) -> None:
        """``signer``: the MinHash settings and signatures (shared with the in-batch dedup, so each text is signed
        once)."""
        self.folder = Path(folder)
        self.hasher = BandHasher(signer)
        self._exact: dict[tuple[str, int], str] = {}
        self._bands: dict[tuple[str, int], str] = {}
        self.loaded: list[str] = []

    def indexed_batches(self) -> set[str]:
        return {p.stem for p in self.folder.glob("*.parquet")} if self.folder.is_dir() else set()

    def load(self, batches: Sequence[str]) -> list[str]:
        """Load the index of each of ``batches`` that has one; return those that have none."""
        present = self.indexed_batches()
        for batch in batches:
            if batch not in present:
                continue
            self._remember(pl.read_parquet(self.folder / f"{batch}.parquet"), batch)
            self.loaded.append(batch)
        return [b for b in batches if b not in present]

    def _remember(self, rows: pl.DataFrame, batch: str) -> None:
        """Make ``rows`` (index rows of ``batch``) known to lookups; the first batch to hold a key keeps it."""
        for label, exact, bands in rows.select("label", "exact", "bands").iter_rows():
            self._exact.setdefault((label, exact), batch)
            for band in bands:
                self._bands.setdefault((label, band), batch)

    def match(self, label: str, texts: Sequence[str]) -> list[tuple[str, str] | None]:
        """Per text, (``exact`` or ``near``, the earlier batch it repeats), or None where it is new."""
        return self.match_rows(self.hasher.frame(label, [""] * len(texts), texts))

    def match_rows(self, rows: pl.DataFrame) -> list[tuple[str, str] | None]:
        """:meth:`match` for rows already hashed (``BandHasher.frame``), so a batch hashes its texts once."""
        out: list[tuple[str, str] | None] = []
        for label, exact, bands in rows.select("label", "exact", "bands").iter_rows():
            batch = self._exact.get((label, exact))
            if batch is not None:
                out.append(("exact", batch))
                continue
            near = next((b for k in bands if (b := self._bands.get((label, k))) is not None), None)
            out.append(("near", near) if near is not None else None)
        return out

    @property
    def pending(self) -> Path:
        return self.folder / "pending"

    def write(self, batch: str, frames: Sequence[pl.DataFrame]) -> Path:
        """Store ``batch``'s index rows as pending (one file, replacing an earlier version atomically)."""
        self.pending.mkdir(parents=True, exist_ok=True)
        path = self.pending / f"{batch}.parquet"
        partial = path.with_name(path.name + ".partial")
        pl.concat([pl.DataFrame(schema=INDEX_SCHEMA), *frames]).write_parquet(partial)
        partial.replace(path)
        return path

    def commit(self, batches: Sequence[str]) -> list[str]:
        """Make the pending index of each of ``batches`` count (their rows are published); return those committed."""
        done = []
        for batch in batches:
            pending = self.pending / f"{batch}.parquet"
            if pending.is_file():
                pending.replace(self.folder / f"{batch}.parquet")
                done.append(batch)
        return done

    def repeats_across(self, batches: Sequence[str]) -> dict[str, set[str]]:
        """Per batch of ``batches`` (oldest first), the ids (problem ids, row ids) whose problem or text repeats a row
        that a batch before it kept, matched as ``IndexDedup`` matches them. Batches deduplicated at the same time
        could not see each other's rows (neither was committed); sequential batches repeat nothing here."""
        seen = DedupIndex(self.folder, self.hasher.signer)
        repeats: dict[str, set[str]] = {}
        for batch in batches:
            files = [p for p in (self.pending / f"{batch}.parquet", self.folder / f"{batch}.parquet") if p.is_file()]
            if not files:
                continue
            path = files[0]
            rows = pl.read_parquet(path)
            repeated = pl.Series([m is not None for m in seen.match_rows(rows)], dtype=pl.Boolean)
            repeats[batch] = set(rows.filter(repeated)["id"].to_list())
            seen._remember(rows.filter(~repeated), batch)
        return repeats


def _earlier(match: tuple[str, str] | None, label: str) -> Drop | None:
    """A row an earlier batch already holds: which way it matched (exact or near) and the batch, as detail."""
    return Drop(f"earlier_batch_{match[0]}_duplicate_{label}", match[1]) if match else None


class IndexDedup(Filter):
    """Drop rows whose problem (CoT rows) or generated ``text`` repeats a row of an earlier batch in ``index``;
    ``kept_index_rows`` are the index rows of what is kept, for this batch's own index file."""

    name = "deduplicated"

    def __init__(self, index: DedupIndex) -> None:
        self.index = index
        self.kept_index_rows: list[pl.DataFrame] = []

    def reads(self) -> Sequence[str]:
        return ("id", "problem_id", "problem", "text")

    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        problem_rows, text_rows = index_rows(frame, self.index.hasher)
        seen = dict(zip(problem_rows["id"], self.index.match_rows(problem_rows), strict=True))
        texts = dict(zip(text_rows["id"], self.index.match_rows(text_rows), strict=True))
        decisions = [
            _earlier(seen.get(p), "problem") or _earlier(texts[i], "text")
            for p, i in zip(frame["problem_id"], frame["id"], strict=True)
        ]
        kept = [row for row, d in zip(frame.iter_rows(named=True), decisions, strict=True) if d is None]
        kept_problems = {r["problem_id"] for r in kept if r["problem_id"] is not None}
        self.kept_index_rows = [
            problem_rows.filter(pl.col("id").is_in(list(kept_problems))),
            text_rows.filter(pl.col("id").is_in([r["id"] for r in kept])),
        ]
        return decisions


def index_rows(frame: pl.DataFrame, hasher: BandHasher) -> list[pl.DataFrame]:
    """The index rows a batch leaves for later ones: its distinct problems and its generated texts."""
    problems = frame.filter(pl.col("problem_id").is_not_null()).unique("problem_id", maintain_order=True)
    return [
        hasher.frame("problem", problems["problem_id"].to_list(), problems["problem"].to_list()),
        hasher.frame("text", frame["id"].to_list(), frame["text"].to_list()),
    ]
