"""Filters over batches of any length: whole rows are read from storage a chunk at a time, and kept and dropped rows
are written to parquet as each chunk is decided. A stage holds one chunk of whole rows, plus the narrow columns its
whole-batch filters (dedup, votes over a problem's samples) read, never the batch of whole rows."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from filters.contract import Filter, FilterResult, RowFilter, chain, sorted_reasons, split_by_code

ROW = "_row"  # a row's position in the stream's source, carried by every chunk
CHUNK_ROWS = 5_000  # whole rows a chunk: about 100 MB of 3,000-word traces

Step = Callable[[pl.DataFrame], FilterResult]


@dataclass(frozen=True)
class Streamed:
    """A streamed filter's result: kept and dropped rows as scans of the parquet files they were written to (the
    shape of :class:`FilterResult`'s frames), with their counts."""

    kept: pl.LazyFrame
    dropped: pl.LazyFrame
    kept_rows: int
    dropped_rows: int
    reasons: dict[str, int]


def height(source: pl.LazyFrame) -> int:
    """The rows of ``source`` (from the parquet footers, for a scan)."""
    return source.select(pl.len()).collect().item()


def chunks(source: pl.LazyFrame, rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
    """``source`` ``rows`` rows at a time, each row numbered in ``_row`` (one empty chunk where it has none)."""
    numbered = source.with_row_index(ROW)
    for start in range(0, max(height(source), 1), rows):
        yield numbered.slice(start, rows).collect()


class ParquetSink:
    """Frames appended to one parquet file as row groups; the first frame fixes the schema the others are cast to."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pl.DataFrame) -> None:
        table = frame.drop(ROW, strict=False).to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        elif table.schema != self._writer.schema:
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)
        self.rows += frame.height

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def stream(source: pl.LazyFrame, step: Step, folder: Path, chunk_rows: int = CHUNK_ROWS) -> Streamed:
    """``step`` over ``source`` a chunk at a time, its kept and dropped rows written to ``folder`` (every chunk is
    written, an empty one too, so both files exist with their columns)."""
    folder.mkdir(parents=True, exist_ok=True)
    kept, dropped = ParquetSink(folder / "kept.parquet"), ParquetSink(folder / "dropped.parquet")
    reasons: collections.Counter[str] = collections.Counter()
    try:
        for chunk in chunks(source, chunk_rows):
            result = step(chunk)
            kept.write(result.kept)
            dropped.write(result.dropped)
            reasons.update(result.reasons)
    finally:
        kept.close()
        dropped.close()
    return Streamed(
        pl.scan_parquet(kept.path), pl.scan_parquet(dropped.path), kept.rows, dropped.rows, sorted_reasons(reasons)
    )


def stream_rows(source: pl.LazyFrame, row_filter: RowFilter, folder: Path, chunk_rows: int = CHUNK_ROWS) -> Streamed:
    """A row filter streamed over ``source``, its workers (where the batch is long enough for them) started once for
    every chunk."""
    with row_filter.workers_open(height(source)):
        return stream(source, row_filter, folder, chunk_rows)


def decided(source: pl.LazyFrame, filters: Sequence[Filter]) -> Step:
    """``filters`` applied in sequence to the whole batch at once, over only the columns they read; as a step that
    splits each chunk of whole rows by those decisions and carries the columns the filters annotate (verdicts)."""
    names = source.collect_schema().names()
    reads = [c for f in filters for c in f.reads()]
    wanted = [c for c in dict.fromkeys(reads) if c in names] if all(f.reads() for f in filters) else names
    narrow = source.with_row_index(ROW).select(ROW, *wanted).collect()
    results: list[FilterResult] = []
    for each in filters:
        results.append(each(results[-1].kept if results else narrow))
    outcome = chain(narrow, *results)
    undecided = [pl.lit(None, dtype=pl.String).alias("code"), pl.lit(None, dtype=pl.String).alias("detail")]
    verdicts = pl.concat([outcome.kept.with_columns(undecided), outcome.dropped], how="diagonal_relaxed").sort(ROW)

    def step(chunk: pl.DataFrame) -> FilterResult:
        start = chunk[ROW][0] if chunk.height else 0
        part = verdicts.slice(start, chunk.height)
        if not part[ROW].equals(chunk[ROW]):
            raise RuntimeError(f"rows {start}-{start + chunk.height} of the stream were not decided in order")
        added = [c for c in part.columns if c not in chunk.columns and c not in ("code", "detail")]
        rows = chunk.select([c for c in chunk.columns if c not in part.columns or c == ROW]).hstack(part.drop(ROW))
        return split_by_code(rows.select(*chunk.columns, *added, "code", "detail"))

    return step


def then(first: Streamed, second: Streamed) -> Streamed:
    """Two streams in sequence (``second`` read ``first``'s kept rows): the last kept rows and every dropped row."""
    reasons = collections.Counter(first.reasons) + collections.Counter(second.reasons)
    return Streamed(
        second.kept,
        pl.concat([first.dropped, second.dropped], how="diagonal_relaxed"),
        second.kept_rows,
        first.dropped_rows + second.dropped_rows,
        sorted_reasons(reasons),
    )
