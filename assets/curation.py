"""Curation: dedup, benchmark decontamination and reasoning filters over traces and passages together."""

import os
import time
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field, field_validator

from assets.batches import earlier_batches
from assets.metadata import (
    filter_outputs,
    generation_metadata,
    markdown_table,
    progress_logger,
    score_table,
    scratch_folder,
    stage_asset,
)
from assets.resources import ModelResource, StorageResource
from assets.run_config import config_of, validate_run_config
from assets.settings import FoundrySettings
from filters.decontamination import (
    BenchmarkIndex,
    Decontaminate,
    benchmark_files_there,
    benchmark_names,
    benchmark_sources,
    load_benchmark,
    scan_fingerprint,
    scanned_columns,
)
from filters.dedup import Dedup, MinhashSigner, dedup_executor, minhash_config
from filters.dedup_index import EARLIER_BATCH_REASONS, DedupIndex, IndexDedup
from filters.edu import EduScoreFilter
from filters.language import known_languages
from filters.reasoning import ReasoningFilter, ReasoningFilterConfig
from filters.stream import ROW, decided, stream, stream_rows, then
from generators.tasks.judge import score_passages
from generators.tasks.prompts import edu_judge_prompt
from generators.teachers.backend import SamplingParams

SAMPLE_COLUMNS = ("kind", "problem", "answer", "text")


def combine(traces: pl.LazyFrame, passages: pl.LazyFrame) -> pl.LazyFrame:
    """Traces and passages in one frame: ``kind`` tells them apart, ``text`` holds the generated text."""
    cot = traces.rename({"trace": "text"}).with_columns(pl.lit("cot").alias("kind"))
    textbook = passages.with_columns(pl.lit("textbook").alias("kind"), pl.lit("textbook").alias("domain"))
    return pl.concat([cot, textbook], how="diagonal_relaxed")


@config_of("deduplicated")
class DedupConfig(dg.Config):
    """MinHash settings, and where datatrove runs its stages: ``local``, ``ray`` ($RAY_ADDRESS, else a local Ray
    instance) or ``auto`` (the step's own Ray cluster where steps run on one, $FOUNDRY_EXECUTOR=ray; else local),
    with ``workers`` tasks at a time. ``semantic_threshold`` (e.g. 0.95) also drops paraphrased problems
    by all-MiniLM-L6-v2 cosine similarity (the optional extra ``semantic``)."""

    n_grams: int = Field(5, ge=1, le=32)
    num_buckets: int = Field(14, ge=1, le=64)
    hashes_per_bucket: int = Field(8, ge=1, le=64)
    executor: Literal["auto", "local", "ray"] = "auto"
    workers: int = Field(1, ge=1)
    semantic_threshold: float | None = None


@stage_asset("deduplicated")
def deduplicated(
    context: dg.AssetExecutionContext,
    config: DedupConfig,
    storage: StorageResource,
    cot_traces: pl.LazyFrame,
    textbook_passages: pl.LazyFrame,
):
    """Exact and MinHash dedup of problems (numbers kept, so number variants survive) and of generated texts, within
    the batch and then against the persisted index of every earlier batch; decided over the problems and texts of
    the whole batch, written a chunk of whole rows at a time."""
    started = time.monotonic()
    rows = combine(cot_traces, textbook_passages)
    minhash = minhash_config(config.n_grams, config.num_buckets, config.hashes_per_bucket)
    signer = MinhashSigner(minhash)
    executor = dedup_executor(config.executor)
    work_dir: str | None = None
    if executor == "ray":  # datatrove's tasks may run on other nodes: their files go where every node sees them
        work_dir = os.path.join(storage.data_dir, "scratch")
        os.makedirs(work_dir, exist_ok=True)
    dedup = Dedup(minhash, executor, config.workers, config.semantic_threshold, signer, work_dir)
    index = DedupIndex(storage.dedup_index_dir, signer)
    earlier = earlier_batches(context.instance, context.partition_key)
    not_indexed = index.load(earlier)
    if not_indexed:
        context.log.warning(f"earlier batches without a dedup index (not materialized yet): {not_indexed}")
    against_index = IndexDedup(index)
    with scratch_folder("deduplicated") as scratch:
        result = stream(rows, decided(rows, [dedup, against_index]), scratch)
        index.write(context.partition_key, against_index.kept_index_rows)
        yield from filter_outputs(
            "deduplicated", result, started, SAMPLE_COLUMNS,
            duplicate_problems=dedup.duplicate_problems,
            dedup_executor=executor,
            checked_against_batches=dg.MetadataValue.json(index.loaded),
            earlier_batches_not_indexed=dg.MetadataValue.json(not_indexed),
            earlier_batch_duplicates=sum(n for code, n in result.reasons.items() if code in EARLIER_BATCH_REASONS),
        )  # fmt: skip


@config_of("decontaminated")
class DecontaminationConfig(dg.Config):
    """Benchmark test sets: the shipped GSM8K test and MATH-500 (``shipped``), the configured ones
    ($FOUNDRY_BENCHMARKS) and ``benchmarks``: jsonl/parquet files or `datasets` ids (``id@split``, default split
    ``test``) with a question or problem field. ``disabled: true`` turns decontamination off explicitly (metadata
    and the card say so)."""

    shipped: bool = True
    benchmarks: list[str] = []
    disabled: bool = False
    ngram: int = Field(10, ge=3, le=50)
    fuzzy: float = Field(0.9, gt=0.5, le=1.0)

    @field_validator("benchmarks")
    @classmethod
    def _there(cls, value: list[str]) -> list[str]:
        return benchmark_files_there(value)


@stage_asset("decontaminated")
def decontaminated(
    context: dg.AssetExecutionContext,
    config: DecontaminationConfig,
    settings: FoundrySettings,
    deduplicated: pl.LazyFrame,
):
    """Drop rows whose problem or generated text overlaps a benchmark test set by an n-word run (a chunk of rows at a
    time, in worker processes)."""
    started = time.monotonic()
    extra = list(dict.fromkeys([*settings.benchmarks, *config.benchmarks]))
    sources = benchmark_sources(config.shipped, extra, config.disabled)
    named = benchmark_names(sources)
    benchmarks = {name: load_benchmark(source) for name, source in named.items()}
    if config.disabled:
        context.log.warning("decontamination is disabled by config: no benchmark was checked")
    index = BenchmarkIndex(benchmarks, config.ngram, config.fuzzy)
    columns = scanned_columns(deduplicated)
    decontaminate = Decontaminate(index, columns)
    with scratch_folder("decontaminated") as scratch:
        result = stream_rows(deduplicated, decontaminate, scratch)
        fingerprint = scan_fingerprint(result.kept, benchmarks, config.ngram, config.fuzzy)
        dropped = result.dropped.select("id", "detail", *columns).collect()  # contaminated rows: a few
        report = {name: 0 for name in benchmarks}
        for benchmark in dropped["detail"].to_list():
            report[benchmark] += 1
        yield from filter_outputs(
            "decontaminated", result, started, SAMPLE_COLUMNS,
            decontamination="disabled by config" if config.disabled else "on",
            benchmarks=dg.MetadataValue.json({n: len(t) for n, t in benchmarks.items()}),
            benchmark_files=dg.MetadataValue.json(named),
            ngram=config.ngram,
            fuzzy=config.fuzzy,
            scan_fingerprint=fingerprint,
            hits_per_benchmark=dg.MetadataValue.json(report),
            contamination_examples=dg.MetadataValue.md(
                markdown_table(contamination_examples(dropped, decontaminate.matched_on))
            ),
        )  # fmt: skip


def contamination_examples(dropped: pl.DataFrame, matched_on: dict[str, str], per_benchmark: int = 3) -> list[dict]:
    """A few removed rows per benchmark: which benchmark, matched on which column, and the start of that text."""
    examples: list[dict] = []
    shown: dict[str, int] = {}
    for row in dropped.iter_rows(named=True):
        benchmark, column = row["detail"], matched_on[row["id"]]
        shown[benchmark] = shown.get(benchmark, 0) + 1
        if shown[benchmark] <= per_benchmark:
            examples.append({"benchmark": benchmark, "matched_on": column, "row": row[column]})
    return examples


@config_of("reasoning_filtered")
class ReasoningConfig(dg.Config):
    """Reasoning filters, and the LLM judge of textbook passages' educational value (0-5, FineWeb-Edu's rubric):
    passages under ``min_edu_score`` go (default 3, FineWeb-Edu's bar; 0 keeps all)."""

    min_tokens: int = Field(8, ge=0)
    max_tokens: int = Field(2048, ge=1)
    drop_truncated: bool = True
    min_steps: int = Field(1, ge=0)
    languages: list[str] = ["en"]
    max_thinking_words: int = Field(24_000, ge=1)
    max_thinking_repetition: float = Field(0.3, gt=0.0, le=1.0)
    judge_passages: bool = True
    min_edu_score: int = Field(3, ge=0, le=5)
    judge_max_tokens: int = Field(160, ge=8)

    @field_validator("languages")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - known_languages())
        if unknown:
            raise ValueError(f"languages {unknown}: not ISO 639-1 codes the language identifier knows (e.g. en, fr)")
        return value


@stage_asset("reasoning_filtered")
def reasoning_filtered(
    context: dg.AssetExecutionContext, config: ReasoningConfig, teacher: ModelResource, decontaminated: pl.LazyFrame
):
    """Format (a final answer present), truncation, length in tokens, step depth, language, Gopher repetition of the
    solution and loops in the thinking, a chunk of rows at a time in worker processes; then the teacher scores each
    textbook passage's educational value."""
    validate_run_config(context)
    started = time.monotonic()
    settings = ReasoningFilterConfig(
        config.min_tokens,
        config.max_tokens,
        drop_truncated=config.drop_truncated,
        min_steps=config.min_steps,
        languages=tuple(config.languages),
        max_thinking_words=config.max_thinking_words,
        max_thinking_repetition=config.max_thinking_repetition,
    )
    with scratch_folder("reasoning_filtered") as scratch:
        filtered = stream_rows(decontaminated, ReasoningFilter(settings), scratch / "rules")
        is_passage = pl.col("kind") == "textbook"
        scored = (
            filtered.kept.with_row_index(ROW).filter(is_passage).select(ROW, "kind", "text")
            .with_columns(pl.lit(None, dtype=pl.Int8).alias("edu_score")).collect()
        )  # fmt: skip
        passages = scored.height
        extra: dict[str, object] = {}
        if config.judge_passages and passages:
            backend = teacher.backend()
            params = SamplingParams(temperature=0.0, max_tokens=config.judge_max_tokens)
            scored, stats = score_passages(scored.drop("edu_score"), backend, params, progress_logger(context))
            extra = {
                "judge_model": backend.model,
                "judge_template": edu_judge_prompt("", backend.chat).template,
                "edu_scores": dg.MetadataValue.md(score_table(scored["edu_score"].to_list())),
                **{f"judge_{k}": v for k, v in generation_metadata(stats).items()},
            }
        bar = config.min_edu_score if config.judge_passages else 0  # passages not judged at all: no bar to apply
        by_judge = EduScoreFilter(bar)
        scores = scored.select(ROW, "edu_score")
        judged = stream(
            filtered.kept,
            lambda chunk: by_judge(chunk.join(scores, on=ROW, how="left", maintain_order="left")),
            scratch / "judge",
        )
        passing = judged.kept.filter(is_passage).select(pl.len()).collect().item()
        if passages and not passing:
            context.log.warning(
                f"none of {passages} textbook passages reached the educational-value bar {config.min_edu_score}: "
                "the textbook config will publish nothing from this batch"
            )
        extra |= {"min_edu_score": config.min_edu_score, "passages_judged": passages, "passages_kept": passing}
        result = then(filtered, judged)
        yield from filter_outputs("reasoning_filtered", result, started, SAMPLE_COLUMNS, **extra)
