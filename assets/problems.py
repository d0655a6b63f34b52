"""Problem sources: seed files or `datasets` ids, and procedural problems with exact answers."""

import dagster as dg
import polars as pl

from assets.metadata import counts_by, samples
from generators.families import generate_mixed
from generators.procedural import PROBLEM_SCHEMA
from generators.seeds import load_seed_problems


class SeedProblemsConfig(dg.Config):
    """Seed sources: local jsonl/parquet/csv paths or `datasets` ids, read through one column mapping."""

    sources: list[str] = []
    problem_field: str = "question"
    answer_field: str = "answer"
    split: str = "train"
    limit_per_source: int | None = 8


class SyntheticProblemsConfig(dg.Config):
    """Procedural problems taken in turn from ``families`` (arithmetic, algebra, knights_and_knaves, ordering,
    syllogism, calendar, clock, heaviest)."""

    count: int = 16
    seed: int = 0
    families: list[str] = ["arithmetic", "arithmetic", "syllogism", "calendar"]
    min_steps: int = 1
    max_steps: int = 2


PROBLEM_SAMPLE_COLUMNS = ("problem_id", "source", "problem", "answer", "steps")


@dg.asset(group_name="problems", kinds={"polars"})
def seed_problems(context: dg.AssetExecutionContext, config: SeedProblemsConfig) -> dg.Output[pl.DataFrame]:
    """Problems with gold answers from seed files or datasets (GSM8K `#### N` and MATH `\\boxed{}` normalized)."""
    frames = [
        load_seed_problems(s, config.problem_field, config.answer_field, config.split, config.limit_per_source)
        for s in config.sources
    ]
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=PROBLEM_SCHEMA)
    if not config.sources:
        context.log.info("no seed sources configured; only procedural problems feed the traces")
    return dg.Output(
        frame,
        metadata={
            "rows": frame.height,
            "per_source": counts_by(frame, "source"),
            "samples": samples(frame, PROBLEM_SAMPLE_COLUMNS),
        },
    )


@dg.asset(group_name="problems", kinds={"polars"})
def synthetic_problems(config: SyntheticProblemsConfig) -> dg.Output[pl.DataFrame]:
    """Procedural problems with exact answers and known step counts (math, logic, common sense), from a seed."""
    frame = generate_mixed(config.count, config.seed, config.families, config.min_steps, config.max_steps)
    return dg.Output(
        frame,
        metadata={
            "rows": frame.height,
            "per_domain": counts_by(frame, "domain"),
            "per_reasoning_kind": counts_by(frame, "reasoning_kind"),
            "per_template": counts_by(frame, "template"),
            "per_steps": counts_by(frame, "steps"),
            "samples": samples(frame, PROBLEM_SAMPLE_COLUMNS),
        },
    )
