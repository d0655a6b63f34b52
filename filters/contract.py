"""The one contract every filter follows (after datatrove's ``BaseFilter``): a filter only decides, per row, whether it
goes and why (``Drop(code, detail)``); the base owns the split into kept and dropped rows and the counts."""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import polars as pl

from filters.ray_workers import ActorPool, free_cpus, in_ray_job, init_ray
from filters.schemas import declared

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Drop:
    """Why a row goes: ``code``, one word every stage's report groups by (declared with ``reasons`` by the check that
    emits it); ``detail``, what is particular to the row."""

    code: str
    detail: str | None = None

    def __post_init__(self) -> None:
        declared(self.code)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


def sorted_reasons(counts: Mapping[str, int]) -> dict[str, int]:
    """Dropped-row counts per code, largest first (ties by code): the order every report shows them in."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class FilterResult:
    """``kept`` has the input's columns; ``dropped`` has them plus ``code`` and ``detail`` (why each row went)."""

    kept: pl.DataFrame
    dropped: pl.DataFrame

    @property
    def reasons(self) -> dict[str, int]:
        """Dropped-row counts per code, largest first."""
        return sorted_reasons(collections.Counter(self.dropped["code"].to_list()) if self.dropped_rows else {})

    @property
    def kept_rows(self) -> int:
        return self.kept.height

    @property
    def dropped_rows(self) -> int:
        return self.dropped.height


def split_by_decision(frame: pl.DataFrame, decisions: Sequence[Drop | None]) -> FilterResult:
    """Rows decided None are kept; the others are dropped carrying their code and detail."""
    if len(decisions) != frame.height:
        raise ValueError(f"{len(decisions)} decisions for {frame.height} rows")
    marked = frame.with_columns(
        pl.Series("code", [d.code if d else None for d in decisions], dtype=pl.String),
        pl.Series("detail", [d.detail if d else None for d in decisions], dtype=pl.String),
    )
    return split_by_code(marked)


def split_by_code(marked: pl.DataFrame) -> FilterResult:
    """Rows whose ``code`` is null are kept (without ``code`` and ``detail``); the others are dropped."""
    return FilterResult(
        kept=marked.filter(pl.col("code").is_null()).drop("code", "detail"),
        dropped=marked.filter(pl.col("code").is_not_null()),
    )


def chain(frame: pl.DataFrame, *results: FilterResult) -> FilterResult:
    """Combine the drops of several filters applied in sequence: the last kept rows and every dropped row."""
    dropped = [r.dropped for r in results if not r.dropped.is_empty()]
    empty = frame.head(0).with_columns(
        pl.lit(None, dtype=pl.String).alias("code"), pl.lit(None, dtype=pl.String).alias("detail")
    )
    return FilterResult(results[-1].kept if results else frame, pl.concat([empty, *dropped], how="diagonal_relaxed"))


class Filter(ABC):
    """A filter: ``decide`` gives one decision per row of a frame (None keeps it); calling the filter splits the frame
    by them. Filters that need the whole frame (dedup, a vote) decide over it; others decide row by row."""

    name: ClassVar[str]

    @abstractmethod
    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        """One decision per row of the annotated frame, in order."""

    def reads(self) -> Sequence[str]:
        """The columns the filter reads (all where empty): a stream hands a whole-batch filter only these."""
        return ()

    def annotate(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows with the columns this filter adds for every row it sees (verification's verdicts); as they are
        by default."""
        return frame

    def __call__(self, frame: pl.DataFrame) -> FilterResult:
        annotated = self.annotate(frame)
        return split_by_decision(annotated, self.decide(annotated))


class RowFilter(Filter):
    """A filter that decides each row on its own (``decide_row``, over the columns it ``reads``). A frame of
    ``parallel_rows`` rows or more is decided in ``workers`` processes (in a step on a Ray cluster, actors on its
    free CPUs), a chunk of rows at a time, each worker holding one copy of the filter; decisions come back in order,
    the same as in one process. Rows become Python objects a chunk at a time, and only a few chunks are out at once,
    so the memory on top of the frame stays the same however long the batch is."""

    parallel_rows: int = 5_000  # below this, starting the workers costs more than they save
    chunk_rows: int = 2_000  # at most this many rows a chunk (about 30 MB of 3,000-word traces)
    workers: int = os.cpu_count() or 1

    _pool: Executor | None = None  # the workers kept by ``workers_open`` across calls

    @abstractmethod
    def decide_row(self, row: dict[str, Any]) -> Drop | None:
        """Why ``row`` goes, or None to keep it (over the columns it ``reads``; only these travel to the workers)."""

    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        wanted = frame.select([c for c in self.reads() if c in frame.columns] or frame.columns)
        if self._pool is None and (wanted.height < self.parallel_rows or self.workers < 2):
            return [self.decide_row(row) for row in wanted.iter_rows(named=True)]
        # four chunks a worker at least (a slow chunk does not hold up the rest), made only as workers take them
        size = max(1, min(self.chunk_rows, -(-wanted.height // (4 * self.workers))))
        chunks = (wanted.slice(start, size).to_dicts() for start in range(0, wanted.height, size))
        with self.workers_open(wanted.height):
            assert self._pool is not None
            return [
                decision
                for part in ordered_map(self._pool, _decide_rows, chunks, 2 * self.workers)
                for decision in part
            ]

    @contextlib.contextmanager
    def workers_open(self, rows: int) -> Iterator[None]:
        """One pool of workers for every ``decide`` inside the block, even of chunks under ``parallel_rows``, where
        the block decides ``rows`` rows in all (a stream of chunks starts them once); none for fewer rows."""
        if self._pool is not None or self.workers < 2 or rows < self.parallel_rows:
            yield
            return
        pool: Executor
        if in_ray_job():  # a step on a Ray cluster: its workers are actors there, on CPUs nothing else holds
            init_ray()
            workers = min(self.workers, free_cpus())
            if workers < 2:
                yield
                return
            pool = ActorPool(workers, _install, self)
        else:
            context = multiprocessing.get_context("forkserver")
            pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_install, initargs=(self,))
        with pool:
            self._pool = pool
            try:
                yield
            finally:
                self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_pool"}


def ordered_map(pool: Executor, work: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[R]:
    """``pool.map(work, items)`` with at most ``ahead`` items handed out at a time: ``items`` is read only as results
    come back (``Executor.map`` would take them all at once, holding every one in memory)."""
    pending: collections.deque[Future[R]] = collections.deque()
    for item in items:
        pending.append(pool.submit(work, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


_installed: list[RowFilter] = []  # the filter a worker process decides with, set once when the worker starts


def _install(row_filter: RowFilter) -> None:
    _installed[:] = [row_filter]


def _decide_rows(rows: list[dict[str, Any]]) -> list[Drop | None]:
    return [_installed[0].decide_row(row) for row in rows]
