"""Streamed stages: the same rows kept and dropped as in memory, a chunk of whole rows at a time, and whole-batch
filters that see only the columns they read."""

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
import pytest

from bench.long_traces import make_traces
from filters.contract import Drop, Filter, FilterResult, RowFilter
from filters.decontamination import SHIPPED_BENCHMARKS, BenchmarkIndex, Decontaminate, load_benchmark
from filters.dedup import Dedup
from filters.reasoning import ReasoningFilter
from filters.schemas import reasons
from filters.stream import ROW, decided, stream, stream_rows, then
from filters.verify import VerifyTraces


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> pl.LazyFrame:
    """600 reasoning traces with repeats, benchmark questions, loops, cuts and wrong answers, stored as parquet."""
    path = tmp_path_factory.mktemp("batch") / "traces.parquet"
    make_traces(600, 250, seed=3).write_parquet(path)
    return pl.scan_parquet(path)


def _decontaminate() -> Decontaminate:
    index = BenchmarkIndex({p.stem: load_benchmark(p) for p in SHIPPED_BENCHMARKS})
    return Decontaminate(index, ["problem", "text", "thinking"])


FILTERS: dict[str, Callable[[], Filter]] = {
    "dedup": Dedup,
    "decontamination": _decontaminate,
    "reasoning": ReasoningFilter,
    "verification": lambda: VerifyTraces(workers=1),
}


@pytest.mark.parametrize("name", FILTERS)
def test_a_streamed_filter_keeps_and_drops_what_it_does_in_memory(
    name: str, batch: pl.LazyFrame, tmp_path: Path
) -> None:
    in_memory = FILTERS[name]()(batch.collect())
    made = FILTERS[name]()
    if isinstance(made, RowFilter):
        made.parallel_rows, made.workers = 100, 2  # one pool of two workers for all nine chunks
        streamed = stream_rows(batch, made, tmp_path, 70)
    else:
        streamed = stream(batch, decided(batch, [made]), tmp_path, 70)
    kept, dropped = streamed.kept.collect(), streamed.dropped.collect()
    assert in_memory.dropped.height > 0 and in_memory.kept.height > 0  # the batch gives each filter work
    assert (streamed.kept_rows, streamed.dropped_rows) == (kept.height, dropped.height)
    assert streamed.reasons == in_memory.reasons
    assert kept.columns == in_memory.kept.columns and dropped.columns == in_memory.dropped.columns
    assert kept.sort("id").equals(in_memory.kept.sort("id"))
    assert dropped.sort("id").equals(in_memory.dropped.sort("id"))


SEVEN = reasons(__name__, "seven")[0]


class _Seen(Filter):
    """Drops rows whose problem id ends in 7, remembering the columns and rows it was handed."""

    name = "seen"

    def __init__(self, reads: Sequence[str]) -> None:
        self._reads, self.columns, self.rows = tuple(reads), [], 0

    def reads(self) -> Sequence[str]:
        return self._reads

    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        self.columns, self.rows = frame.columns, frame.height
        return [Drop(SEVEN, p) if p.endswith("7") else None for p in frame["problem_id"]]


def test_whole_batch_filters_see_only_what_they_read_and_whole_rows_come_a_chunk_at_a_time(
    batch: pl.LazyFrame, tmp_path: Path
) -> None:
    seen = _Seen(["problem_id"])
    step = decided(batch, [seen])
    chunk_heights: list[int] = []

    def recording(chunk: pl.DataFrame) -> FilterResult:
        chunk_heights.append(chunk.height)
        return step(chunk)

    result = stream(batch, recording, tmp_path, 64)
    assert seen.columns == [ROW, "problem_id"] and seen.rows == 600  # not the thinking, every row
    assert chunk_heights == [64] * 9 + [24]
    dropped = result.dropped.collect()
    assert dropped["problem_id"].str.ends_with("7").all() and result.reasons == {"seven": dropped.height}
    sevens = pl.col("problem_id").str.ends_with("7")
    assert result.kept.collect().equals(batch.filter(~sevens).collect())  # whole rows written back, in order


def test_a_filter_that_reads_every_column_is_handed_every_column(batch: pl.LazyFrame, tmp_path: Path) -> None:
    seen = _Seen([])
    stream(batch, decided(batch, [seen]), tmp_path)
    assert seen.columns == [ROW, *batch.collect_schema().names()]


def test_two_streams_in_sequence_add_up_and_an_empty_batch_gives_empty_files(
    batch: pl.LazyFrame, tmp_path: Path
) -> None:
    first = stream(batch, decided(batch, [_Seen(["problem_id"])]), tmp_path / "a", 100)
    second = stream_rows(first.kept, ReasoningFilter(), tmp_path / "b", 100)
    both = then(first, second)
    assert both.kept_rows + both.dropped_rows == 600
    assert both.dropped.collect().height == both.dropped_rows == sum(both.reasons.values())
    assert list(both.reasons.values()) == sorted(both.reasons.values(), reverse=True)
    empty = stream_rows(batch.head(0), ReasoningFilter(), tmp_path / "c")
    assert (empty.kept_rows, empty.dropped_rows) == (0, 0)
    assert empty.kept.collect().columns == batch.collect_schema().names()
    assert empty.dropped.collect().columns == [*batch.collect_schema().names(), "code", "detail"]


def test_scratch_folders_of_a_killed_process_are_removed_by_the_next_stage(tmp_path, monkeypatch) -> None:
    """A stage killed with kill -9 leaves its scratch folder; the next stage that makes one removes it (by its dead
    process id), and leaves the folders of live processes alone."""
    import subprocess
    import sys
    import tempfile

    from assets.metadata import scratch_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"foundry-scratch-{dead.stdout.strip()}-verified-abc"
    live = tmp_path / f"foundry-scratch-{os.getppid()}-verified-def"
    for folder in (stale, live):
        (folder / "part").mkdir(parents=True)
    with scratch_folder("deduplicated") as mine:
        assert mine.is_dir() and not stale.exists() and live.is_dir()
    assert not mine.exists()
