"""Curation throughput: rows/s per core of each curation stage, peak memory at two sizes, and the MinHash stage
against datatrove's plain MinHash pipeline and datasketch on the same rows, with precision and recall.

Rows are procedural problems (every family) with a CoT trace each; the labelled near-duplicate set adds perturbed
copies (a word dropped, added or upper-cased, white space changed; numbers kept) of 20% of them. Each stage is timed
in CPU seconds (this process and its children), so rows/s per core does not depend on idle cores. Benchmarks for
decontamination: the shipped GSM8K test and MATH-500, plus $FOUNDRY_BENCHMARKS.

    python bench/curation_throughput.py            # 100,000 rows
    python bench/curation_throughput.py --quick    # 5,000 rows, under a minute

The last line is
``rows_per_s_per_core=<x> minhash_vs_datatrove=<y> peak_rss_mb=<z> decontam_ms_per_3k_word_trace=<d>``: the whole
chain (dedup, decontamination, reasoning filters), our MinHash stage's rows/s over datatrove's plain pipeline's, the
peak RSS of the chain at the full size, and the CPU cost of decontaminating one long reasoning trace. Goals: >= 1,000
rows/s per core, peak memory flat as rows grow, <= 2 ms per long trace.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def process_tree_sum(read: Callable[[psutil.Process], float]) -> float:
    """``read`` summed over this process and every process under it (a worker that ends meanwhile is skipped)."""
    total = 0.0
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker that ended between the listing and the reading
            total += read(process)
    return total


def cpu_seconds() -> float:
    """CPU seconds of this process and every process under it, ended ones included: a row filter's workers come
    from a forkserver, so their time reaches the forkserver's account (``children_*``), not this process's
    ``RUSAGE_CHILDREN``, until it exits."""

    def spent(process: psutil.Process) -> float:
        t = process.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    return process_tree_sum(spent)


def timed(work: Callable[[], object]) -> tuple[object, float]:
    started = cpu_seconds()
    result = work()
    return result, max(cpu_seconds() - started, 1e-9)


def quiet() -> None:
    from loguru import logger

    logger.remove()  # datatrove logs every task's stats to stderr


def benchmark_files() -> list[str]:
    from filters.decontamination import SHIPPED_BENCHMARKS

    listed = [p for p in os.environ.get("FOUNDRY_BENCHMARKS", "").split(os.pathsep) if p]
    return [*map(str, SHIPPED_BENCHMARKS), *listed]


def run_chain(count: int) -> dict[str, float]:
    """The curation chain on ``count`` rows in this process: CPU seconds per stage and the peak RSS (MB)."""
    quiet()
    from bench.curation_data import curation_rows
    from filters.contract import chain
    from filters.decontamination import BenchmarkIndex, Decontaminate, benchmark_name, load_benchmark
    from filters.dedup import Dedup
    from filters.reasoning import reasoning_filter

    rows = curation_rows(count)
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    deduplicated, dedup_s = timed(lambda: Dedup()(rows))
    files = benchmark_files()
    index, index_s = timed(
        lambda: BenchmarkIndex({benchmark_name(p): load_benchmark(p) for p in files}) if files else None
    )
    clean, decon_s = timed(
        lambda: Decontaminate(index, ["problem", "text"])(deduplicated.kept) if index else chain(deduplicated.kept)
    )
    filtered, reasoning_s = timed(lambda: reasoning_filter(clean.kept))
    return {
        "rows": count,
        "dedup_s": dedup_s,
        "dedup_in": count,
        "decontamination_in": deduplicated.kept.height,
        "reasoning_in": clean.kept.height,
        "decontamination_s": decon_s,
        "benchmark_index_s": index_s,
        "reasoning_s": reasoning_s,
        "kept": filtered.kept.height,
        "benchmarks": len(files),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_chain_mb": baseline_rss,
    }


def long_trace_decontamination(traces: int) -> float:
    """CPU ms per 3,000-word trace to check against the benchmarks: traces strung together from GSM8K train
    questions and solutions, the worst case for the fuzzy pass (their phrasing shares many 5-grams with GSM8K test)."""
    import json
    import random

    from filters.decontamination import BenchmarkIndex, benchmark_name, load_benchmark
    from generators.problems.seeds import GSM8K_TRAIN

    rows = [json.loads(line) for line in GSM8K_TRAIN.read_text().splitlines()]
    rng = random.Random(0)
    texts = []
    for _ in range(traces):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < 3_000:
            row = rng.choice(rows)
            parts.append(f"{row['question']} {row['answer']}")
        texts.append(" ".join(parts))
    index = BenchmarkIndex({benchmark_name(p): load_benchmark(p) for p in benchmark_files()})
    _, seconds = timed(lambda: [index.match(text) for text in texts])
    return 1000 * seconds / traces


def in_fresh_process(count: int) -> dict[str, float]:
    """Run the chain in a new interpreter, so its peak RSS is its own (an executor's worker, not a ``Pool``'s: a
    daemonic process may not start the row filters' own workers)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_chain, count).result()


def precision_recall(removed: set[int], duplicates: set[int]) -> tuple[float, float]:
    hits = len(removed & duplicates)
    return hits / max(len(removed), 1), hits / max(len(duplicates), 1)


def datatrove_plain(texts: list[str]) -> set[int]:
    """datatrove's MinHash pipeline as documented: default config (numbers normalized), its "en" tokenizer, one
    document kept per cluster."""
    from datatrove.pipeline.dedup.minhash import MinhashConfig

    from filters.dedup import minhash_clusters

    seen, removed = set(), set()
    for index, cluster in enumerate(minhash_clusters(texts, MinhashConfig(), tokenizer="en")):
        if cluster >= 0 and cluster in seen:
            removed.add(index)
        seen.add(cluster)
    return removed


def datasketch_lsh(texts: list[str]) -> set[int]:
    """datasketch's MinHash + LSH with the same bands (14 x 8), shingles and number-aware rule as our stage."""
    from datasketch import MinHash, MinHashLSH
    from datatrove.utils.text import TextNormConfig, ngrams, simplify_text

    from filters.text import NUMBER

    norm = TextNormConfig(norm_numbers=False)
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    numbers: list[tuple[str, ...]] = []
    removed = set()
    for index, text in enumerate(texts):
        numbers.append(tuple(NUMBER.findall(text)))
        shingles = [" ".join(g).encode() for g in ngrams(simplify_text(text, norm).split(), 5)]
        if not shingles:
            continue
        signature = MinHash(num_perm=112)
        signature.update_batch(shingles)
        if any(numbers[j] == numbers[index] for j in lsh.query(signature)):
            removed.add(index)
        lsh.insert(index, signature)
    return removed


def compare_minhash(count: int) -> dict[str, dict[str, float]]:
    """rows/s per core, precision and recall of three MinHash dedups on the same labelled rows."""
    from bench.curation_data import labelled_rows
    from filters.dedup import minhash_duplicates

    texts, duplicates = labelled_rows(count, seed=1)
    out = {}
    for name, run in (
        ("ours (datatrove, whitespace words, numbers kept)", minhash_duplicates),
        ("datatrove plain pipeline", datatrove_plain),
        ("datasketch MinHashLSH", datasketch_lsh),
    ):
        removed, seconds = timed(lambda run=run: run(texts))
        precision, recall = precision_recall(removed, duplicates)
        out[name] = {"rows_per_s": count / seconds, "precision": precision, "recall": recall}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 rows: under a minute")
    parser.add_argument("--rows", type=int, help="rows for the chain (default 100,000; 5,000 with --quick)")
    args = parser.parse_args()
    quiet()
    count = args.rows or (5_000 if args.quick else 100_000)
    started = time.monotonic()
    small, full = in_fresh_process(count // 4), in_fresh_process(count)
    stages = {"dedup (exact + MinHash, problems then texts)": "dedup", "decontamination": "decontamination",
              "reasoning filters (+ language, repetition)": "reasoning"}  # fmt: skip
    print(f"rows: {count:,}; benchmarks for decontamination: {full['benchmarks']}")
    print(f"{'stage':<48} {'rows in':>8} {'rows/s per core':>16}")
    for name, key in stages.items():
        print(f"{name:<48} {full[key + '_in']:>8,} {full[key + '_in'] / full[key + '_s']:>16,.0f}")
    chain_s = sum(full[key + "_s"] for key in stages.values())
    print(f"{'whole chain':<48} {count / chain_s:>16,.0f}")
    print(f"(benchmark index built once in {full['benchmark_index_s']:.1f} CPU s; rows kept {full['kept']:,})")
    print(
        f"peak RSS: {small['peak_rss_mb']:.0f} MB at {count // 4:,} rows, {full['peak_rss_mb']:.0f} MB at {count:,} "
        f"(of which {full['rss_before_chain_mb']:.0f} MB before the chain, with the rows in memory)"
    )
    comparison = compare_minhash(min(count, 20_000))
    print(f"\nMinHash on {min(count, 20_000):,} labelled rows (20% perturbed copies):")
    print(f"{'engine':<52} {'rows/s per core':>16} {'precision':>10} {'recall':>8}")
    for name, row in comparison.items():
        print(f"{name:<52} {row['rows_per_s']:>16,.0f} {row['precision']:>10.3f} {row['recall']:>8.3f}")
    ours, plain = (comparison[k]["rows_per_s"] for k in list(comparison)[:2])
    long_ms = long_trace_decontamination(50 if args.quick else 500)
    print(f"\ndecontamination of 3,000-word traces (GSM8K train text): {long_ms:.1f} CPU ms per trace")
    print(f"(wall {time.monotonic() - started:.0f} s)")
    print(
        f"rows_per_s_per_core={count / chain_s:.0f} minhash_vs_datatrove={ours / plain:.2f} "
        f"peak_rss_mb={full['peak_rss_mb']:.0f} decontam_ms_per_3k_word_trace={long_ms:.1f}"
    )


if __name__ == "__main__":
    main()
