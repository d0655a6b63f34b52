"""The one contract every filter follows: a polars frame in, the kept rows and the dropped rows with a reason out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class FilterResult:
    """``kept`` has the input's columns; ``dropped`` has them plus ``reason`` (why the row went)."""

    kept: pl.DataFrame
    dropped: pl.DataFrame

    @property
    def reasons(self) -> dict[str, int]:
        """Dropped-row counts per reason, largest first."""
        if self.dropped.is_empty():
            return {}
        counts = self.dropped.group_by("reason").len().sort("len", descending=True)
        return dict(zip(counts["reason"].to_list(), counts["len"].to_list(), strict=True))


def split_by_reason(frame: pl.DataFrame, reasons: Sequence[str | None]) -> FilterResult:
    """Rows whose reason is None are kept; the others are dropped carrying their reason."""
    marked = frame.with_columns(pl.Series("reason", list(reasons), dtype=pl.String))
    return FilterResult(
        kept=marked.filter(pl.col("reason").is_null()).drop("reason"),
        dropped=marked.filter(pl.col("reason").is_not_null()),
    )


def chain(frame: pl.DataFrame, *results: FilterResult) -> FilterResult:
    """Combine the drops of several filters applied in sequence: the last kept rows and every dropped row."""
    dropped = [r.dropped for r in results if not r.dropped.is_empty()]
    empty = frame.head(0).with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
    return FilterResult(results[-1].kept if results else frame, pl.concat([empty, *dropped], how="diagonal_relaxed"))
