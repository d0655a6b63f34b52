"""Problem sources: seed files or `datasets` ids, and procedural problems with exact answers."""

import dagster as dg
import polars as pl

from assets.batches import BATCHES, batch_index, batch_seed
from assets.metadata import bar_chart, counts_by, samples
from generators.families import generate_mixed
from generators.procedural import PROBLEM_SCHEMA
from generators.seeds import load_seed_problems


class SeedProblemsConfig(dg.Config):
    """Seed sources: local jsonl/parquet/csv paths or `datasets` ids, read through one column mapping; with a
    ``limit_per_source`` each batch reads the next slice of rows."""

    sources: list[str] = []
    problem_field: str = "question"
    answer_field: str = "answer"
    split: str = "train"
    limit_per_source: int | None = 8


class SyntheticProblemsConfig(dg.Config):
    """Procedural problems taken in turn from ``families`` (arithmetic, algebra, knights_and_knaves, ordering,
    syllogism, calendar, clock, heaviest). ``seed`` None: derived from the batch key, so each batch is new."""

    count: int = 16
    seed: int | None = None
    families: list[str] = ["arithmetic", "arithmetic", "syllogism", "calendar"]
    min_steps: int = 1
    max_steps: int = 2


PROBLEM_SAMPLE_COLUMNS = ("problem_id", "source", "problem", "answer", "steps")


@dg.asset(group_name="problems", kinds={"polars"}, partitions_def=BATCHES)
def seed_problems(context: dg.AssetExecutionContext, config: SeedProblemsConfig) -> dg.Output[pl.DataFrame]:
    """Problems with gold answers from seed files or datasets (GSM8K `#### N` and MATH `\\boxed{}` normalized)."""
    # with a limit, batch k takes the k-th slice of each source, so every refresh gets seeds it has not seen
    skip = batch_index(context.instance, context.partition_key) * (config.limit_per_source or 0)
    frames = [
        load_seed_problems(
            s, config.problem_field, config.answer_field, config.split, config.limit_per_source, skip=skip
        )
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


@dg.asset(group_name="problems", kinds={"polars"}, partitions_def=BATCHES)
def synthetic_problems(context: dg.AssetExecutionContext, config: SyntheticProblemsConfig) -> dg.Output[pl.DataFrame]:
    """Procedural problems with exact answers and known step counts (math, logic, common sense), from a seed."""
    seed = batch_seed(context.partition_key) if config.seed is None else config.seed
    frame = generate_mixed(config.count, seed, config.families, config.min_steps, config.max_steps)
    return dg.Output(
        frame,
        metadata={
            "rows": frame.height,
            "seed": seed,
            "per_domain": counts_by(frame, "domain"),
            "per_reasoning_kind": counts_by(frame, "reasoning_kind"),
            "per_template": counts_by(frame, "template"),
            "per_steps": dg.MetadataValue.md(
                bar_chart(
                    "Problems per number of steps",
                    {str(k): n for k, n in frame.group_by("steps").len().sort("steps").iter_rows()},
                    "steps",
                    "problems",
                )
            ),
            "samples": samples(frame, PROBLEM_SAMPLE_COLUMNS),
        },
    )
