"""Long reasoning traces at scale: a batch of reasoning-model traces (about 3,000 words each: thinking that works,
rechecks and restates, then a short solution) through the curation chain the graph runs on them (dedup,
decontamination, reasoning filters, verification), each stage timed in CPU seconds (this process and its workers),
with the peak memory of the whole run. As in the graph, the batch is stored as parquet and each stage streams it:
a chunk of whole rows at a time from the last stage's file to its own (``filters.stream``), so the peak should not
grow with the batch.

The batch is made to be curated, not only carried: 4% repeat an earlier problem (dedup), 0.5% are GSM8K test or
MATH-500 questions and 0.5% restate one inside their thinking (decontamination), 1% loop in their thinking and 1%
are cut before their answer (reasoning filters), 5% reach a wrong answer (verification).

    python bench/long_traces.py                 # 100,000 traces
    python bench/long_traces.py --quick         # 5,000 traces

The last line is ``traces=<n> peak_rss_mb=<m> decontam_ms_per_trace=<d> cpu_ms_per_trace=<c>`` (goals: peak under
8 GB at 100,000 traces, decontamination at most 2 ms a trace).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from bench.curation_throughput import process_tree_sum, quiet, timed
from filters.decontamination import SHIPPED_BENCHMARKS, BenchmarkIndex, Decontaminate, load_benchmark
from filters.dedup import Dedup
from filters.reasoning import ReasoningFilter
from filters.stream import ParquetSink, Streamed, decided, stream, stream_rows
from filters.verify import VerifyTraces

NOUNS = ("apples", "books", "marbles", "coins", "stickers", "pencils", "cards", "eggs", "tickets", "shells")
TRACE_SCHEMA = ["id", "problem_id", "problem", "answer", "text", "thinking", "finish_reason", "completion_tokens"]
NAMES = ("Ana", "Ben", "Chloe", "Dev", "Ema", "Femi", "Gus", "Hana", "Ivo", "June")


def thinking_sentence(rng: random.Random, a: int, b: int, k: int) -> str:
    """Sentence ``k`` of long thinking: a calculation, a recheck or a restatement, each with numbers of its own (a
    sound trace rechecks, it does not repeat itself word for word)."""
    x, y = rng.randint(2, 99), rng.randint(2, 99)
    z, noun, name = rng.randint(1, x), rng.choice(NOUNS), rng.choice(NAMES)
    return rng.choice(
        (
            f"Let me add {x} and {y}: that makes {x + y}.",
            f"If {name} had {x} {noun} and gave away {z}, {name} keeps {x - z}.",
            f"Check {k}: {x} times {y} is {x * y}, and {x * y} divided by {y} gives {x}.",
            f"Wait, step {k} asks for the total of {x} {noun}, not a difference.",
            f"Restating at check {k}: one amount is {a}, the other is {b}.",
            f"After check {k} the running total is {x + y} {noun}.",
            f"Hmm, {x} minus {y} would be {x - y}, which is not asked.",
            f"Another way at check {k}: {a} plus {b} equals {b} plus {a}.",
            f"{name} counts {noun} in groups of {x}, {y} groups in all.",
        )
    )


def trace_chunks(count: int, words: int, seed: int = 0, chunk: int = 5_000) -> Iterator[pl.DataFrame]:
    """``count`` rows shaped like ``cot_traces`` from a reasoning model, ``chunk`` at a time, about ``words`` words
    each, with the share of duplicates, contamination, loops, cuts and wrong answers the module docstring lists."""
    rng = random.Random(seed)
    benchmark_items = [q for path in SHIPPED_BENCHMARKS for q in load_benchmark(path)]
    problems: list[tuple[str, str]] = []
    rows = []
    for i in range(count):
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        problem = f"{rng.choice(NAMES)} has {a} {rng.choice(NOUNS)} and finds {b} more. How many are there now?"
        answer = str(a + b)
        roll = rng.random()
        if roll < 0.04 and problems:
            problem, answer = rng.choice(problems)  # a repeated problem under a new id
        elif roll < 0.045:
            problem = rng.choice(benchmark_items)  # a benchmark question as the problem
        problems.append((problem, answer))
        sentences, length = [], 0
        while length < words - 60:
            sentence = thinking_sentence(rng, a, b, len(sentences))
            sentences.append(sentence)
            length += sentence.count(" ") + 1
        if 0.045 <= roll < 0.05:
            sentences.insert(len(sentences) // 2, f"The question reads: {rng.choice(benchmark_items)}")
        if 0.05 <= roll < 0.06:
            loop = sentences[10:14]
            sentences[20:] = loop * ((len(sentences) - 20) // 4)  # the thinking goes round in circles
        thinking = " ".join(sentences)
        given = a + b + (rng.randint(1, 9) if 0.06 <= roll < 0.11 else 0)
        solution = (
            f"Step 1: The first amount is {a}.\nStep 2: Then {b} more are found.\n"
            f"Step 3: {a} + {b} = {given}.\nThe answer is \\boxed{{{given}}}."
        )
        cut = 0.11 <= roll < 0.12
        rows.append(
            (f"t{i}", f"p{i}", problem, answer, solution, thinking, "length" if cut else "stop",
             len(thinking.split()) + len(solution.split()))
        )  # fmt: skip
        if len(rows) == chunk or i == count - 1:
            yield pl.DataFrame(rows, schema=TRACE_SCHEMA, orient="row").with_columns(
                pl.lit("cot").alias("kind"), pl.lit(True).alias("thinking_closed"), pl.lit(0).alias("sample_index")
            )
            rows = []


def make_traces(count: int, words: int, seed: int = 0) -> pl.DataFrame:
    """The whole batch of :func:`trace_chunks` in one frame (for tests and small runs)."""
    return pl.concat(trace_chunks(count, words, seed))


def write_traces(path: Path, count: int, words: int) -> int:
    """The batch written to ``path`` as parquet a chunk at a time, as the graph's stages get it from storage (never
    in memory at once); its size in bytes."""
    sink = ParquetSink(path)
    for frame in trace_chunks(count, words):
        sink.write(frame)
    sink.close()
    return path.stat().st_size


class PeakMemory:
    """The peak resident memory of this process and its workers together, sampled every 0.2 s in a thread (a worker's
    own peak, as ``getrusage`` gives it, would miss what the parent held at the same time)."""

    def __init__(self) -> None:
        self.peak_mb = self.window_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            total = process_tree_sum(lambda process: process.memory_info().rss)
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self.window_mb = max(self.window_mb, total / 2**20)

    def window(self) -> float:
        """The peak since the last call (MB), starting a new window."""
        peak, self.window_mb = self.window_mb, 0.0
        return peak

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 traces")
    parser.add_argument("--traces", type=int, help="traces in the batch (default 100,000; 5,000 with --quick)")
    parser.add_argument("--words", type=int, default=3_000, help="words a trace (thinking and solution)")
    args = parser.parse_args()
    quiet()
    count = args.traces or (5_000 if args.quick else 100_000)
    started = time.monotonic()
    stages: list[tuple[str, int, int, float, float]] = []  # name, rows in, kept, CPU s, peak MB over the stage

    def stage(name: str, rows: pl.LazyFrame, run: Callable[[pl.LazyFrame, Path], Streamed]) -> pl.LazyFrame:
        result, seconds = timed(lambda: run(rows, folder / name))
        rows_in = result.kept_rows + result.dropped_rows
        stages.append((name, rows_in, result.kept_rows, seconds, memory.window()))
        print(f"  {name}: {seconds:.1f} CPU s, kept {result.kept_rows:,}, dropped {result.reasons}", flush=True)
        return result.kept

    with PeakMemory() as memory, tempfile.TemporaryDirectory(prefix="long-traces-") as scratch:
        folder = Path(scratch)
        size, build_s = timed(lambda: write_traces(folder / "cot_traces.parquet", count, args.words))
        print(f"{count:,} traces of about {args.words:,} words ({size / 2**20:,.0f} MB of parquet), built in "
              f"{build_s:.0f} CPU s; peak {memory.window():,.0f} MB while building")  # fmt: skip
        rows = pl.scan_parquet(folder / "cot_traces.parquet")
        rows = stage("dedup", rows, lambda frame, out: stream(frame, decided(frame, [Dedup()]), out))
        index = BenchmarkIndex({p.stem: load_benchmark(p) for p in SHIPPED_BENCHMARKS})
        decontaminate = Decontaminate(index, ["problem", "text", "thinking"])
        rows = stage("decontamination", rows, lambda frame, out: stream_rows(frame, decontaminate, out))
        rows = stage("reasoning filters", rows, lambda frame, out: stream_rows(frame, ReasoningFilter(), out))
        verify = VerifyTraces(workers=2)
        stage("verification", rows, lambda frame, out: stream(frame, decided(frame, [verify]), out))
    print(f"\n{'stage':<20} {'rows in':>8} {'CPU s':>8} {'ms a trace':>11} {'rows kept':>10} {'peak MB':>8}")
    for name, rows_in, kept, seconds, peak in stages:
        per_trace = 1000 * seconds / max(rows_in, 1)
        print(f"{name:<20} {rows_in:>8,} {seconds:>8.1f} {per_trace:>11.2f} {kept:>10,} {peak:>8,.0f}")
    total = sum(stage[3] for stage in stages)
    wall = time.monotonic() - started
    print(f"whole chain: {total:.0f} CPU s, wall {wall:.0f} s; peak RSS {memory.peak_mb:,.0f} MB (with its workers)")
    decontam_ms = next(1000 * s / n for name, n, _, s, _ in stages if name == "decontamination")
    print(
        f"traces={count} peak_rss_mb={memory.peak_mb:.0f} decontam_ms_per_trace={decontam_ms:.2f} "
        f"cpu_ms_per_trace={1000 * total / count:.1f}"
    )


if __name__ == "__main__":
    main()
