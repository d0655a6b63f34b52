"""Curation: dedup, benchmark decontamination and reasoning filters over traces and passages together."""

import os
import time

import dagster as dg
import polars as pl
from pydantic import Field

from assets.metadata import filter_outputs, stage_outs
from filters.contract import chain, split_by_reason
from filters.decontamination import BenchmarkIndex, decontaminate, load_benchmark
from filters.dedup import dedup_frame, minhash_config
from filters.reasoning import ReasoningFilterConfig, reasoning_filter

SAMPLE_COLUMNS = ("kind", "problem", "answer", "text")


def combine(traces: pl.DataFrame, passages: pl.DataFrame) -> pl.DataFrame:
    """Traces and passages in one frame: ``kind`` tells them apart, ``text`` holds the generated text."""
    cot = traces.rename({"trace": "text"}).with_columns(pl.lit("cot").alias("kind"))
    textbook = passages.with_columns(pl.lit("textbook").alias("kind"), pl.lit("textbook").alias("domain"))
    return pl.concat([cot, textbook], how="diagonal_relaxed")


class DedupConfig(dg.Config):
    n_grams: int = 5
    num_buckets: int = 14
    hashes_per_bucket: int = 8


@dg.multi_asset(
    outs=stage_outs("deduplicated", "curation", "Traces and passages with exact and near duplicates removed.")
)
def deduplicated(config: DedupConfig, cot_traces: pl.DataFrame, textbook_passages: pl.DataFrame):
    """Exact and MinHash dedup of problems (numbers kept, so number variants survive) and of generated texts."""
    started = time.monotonic()
    rows = combine(cot_traces, textbook_passages)
    minhash = minhash_config(config.n_grams, config.num_buckets, config.hashes_per_bucket)
    problems = (
        rows.filter(pl.col("kind") == "cot").select("problem_id", "problem").unique("problem_id", maintain_order=True)
    )
    duplicate_problems = dedup_frame(problems, "problem", "problem", minhash).dropped
    reason_of = dict(zip(duplicate_problems["problem_id"], duplicate_problems["reason"], strict=True))
    by_problem = split_by_reason(rows, [reason_of.get(p) for p in rows["problem_id"]])
    by_text = dedup_frame(by_problem.kept, "text", "text", minhash)
    yield from filter_outputs(
        "deduplicated", rows.height, chain(rows, by_problem, by_text), started, SAMPLE_COLUMNS,
        duplicate_problems=len(reason_of),
    )  # fmt: skip


def _default_benchmarks() -> list[str]:
    return [p for p in os.environ.get("FOUNDRY_BENCHMARKS", "").split(os.pathsep) if p]


class DecontaminationConfig(dg.Config):
    """Benchmark test sets (jsonl/parquet with a question or problem field); default: $FOUNDRY_BENCHMARKS."""

    benchmarks: list[str] = Field(default_factory=_default_benchmarks)
    ngram: int = 10
    fuzzy: float = 0.9


@dg.multi_asset(
    outs=stage_outs("decontaminated", "curation", "Rows that share no n-gram run with any benchmark test set.")
)
def decontaminated(context: dg.AssetExecutionContext, config: DecontaminationConfig, deduplicated: pl.DataFrame):
    """Drop rows whose problem or generated text overlaps a benchmark test set by an n-word run."""
    started = time.monotonic()
    benchmarks = {os.path.splitext(os.path.basename(p))[0]: load_benchmark(p) for p in config.benchmarks}
    if not benchmarks:
        context.log.warning("no benchmark files configured: decontamination checked nothing")
    result = decontaminate(deduplicated, BenchmarkIndex(benchmarks, config.ngram, config.fuzzy), ["problem", "text"])
    report = {name: 0 for name in benchmarks}
    for reason in result.dropped["reason"].to_list():
        report[reason.split(":")[1]] += 1
    yield from filter_outputs(
        "decontaminated", deduplicated.height, result, started, SAMPLE_COLUMNS,
        benchmarks=dg.MetadataValue.json({n: len(t) for n, t in benchmarks.items()}),
        benchmark_files=dg.MetadataValue.json(list(config.benchmarks)),
        ngram=config.ngram,
        hits_per_benchmark=dg.MetadataValue.json(report),
    )  # fmt: skip


class ReasoningConfig(dg.Config):
    min_tokens: int = 8
    max_tokens: int = 2048
    drop_truncated: bool = True
    min_steps: int = 1


@dg.multi_asset(
    outs=stage_outs(
        "reasoning_filtered", "curation", "Rows with an extractable answer, sane length and no repetition."
    )
)
def reasoning_filtered(config: ReasoningConfig, decontaminated: pl.DataFrame):
    """Format (a final answer present), truncation, length in tokens, and Gopher repetition rules."""
    started = time.monotonic()
    settings = ReasoningFilterConfig(
        config.min_tokens, config.max_tokens, drop_truncated=config.drop_truncated, min_steps=config.min_steps
    )
    result = reasoning_filter(decontaminated, settings)
    yield from filter_outputs("reasoning_filtered", decontaminated.height, result, started, SAMPLE_COLUMNS)
