"""Problem sources: seed files or `datasets` ids, and procedural problems with exact answers."""

import dagster as dg
import polars as pl
from pydantic import Field, field_validator, model_validator

from assets.batches import BATCHES, batch_seed, earlier_batches
from assets.metadata import bar_chart, counts_by, samples
from assets.run_config import config_of
from filters.schemas import PROBLEM_SCHEMA
from generators.problems.families import FAMILIES, generate_mixed
from generators.problems.seeds import load_seed_problems


@config_of("seed_problems")
class SeedProblemsConfig(dg.Config):
    """Seed sources: local jsonl/parquet/csv paths or `datasets` ids, read through one column mapping; with a
    ``limit_per_source`` each batch reads the next rows no earlier batch read."""

    sources: list[str] = []
    problem_field: str = "question"
    answer_field: str = "answer"
    split: str = "train"
    limit_per_source: int | None = Field(8, ge=1)


@config_of("synthetic_problems")
class SyntheticProblemsConfig(dg.Config):
    """Procedural problems taken in turn from ``families`` (arithmetic, algebra, knights_and_knaves, ordering,
    syllogism, calendar, clock, heaviest). ``seed`` None: derived from the batch key, so each batch is new."""

    count: int = Field(16, ge=0, le=100_000)
    seed: int | None = None
    families: list[str] = Field(["arithmetic", "arithmetic", "syllogism", "calendar"], min_length=1)
    min_steps: int = Field(1, ge=1, le=5)
    max_steps: int = Field(2, ge=1, le=5)

    @field_validator("families")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(FAMILIES))
        if unknown:
            raise ValueError(f"families {unknown}: not families; known: {', '.join(sorted(FAMILIES))}")
        return value

    @model_validator(mode="after")
    def _steps(self) -> "SyntheticProblemsConfig":
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps {self.min_steps} is above max_steps {self.max_steps}")
        return self


PROBLEM_SAMPLE_COLUMNS = ("problem_id", "source", "problem", "answer", "steps")


def seed_taken(instance: dg.DagsterInstance, batch: str, limit: int | None) -> set[str]:
    """The seed problem ids earlier batches read, from any source however its path was typed: a batch reads the next
    rows no earlier batch read (a rerun reads the same rows again, and rows added anywhere in a file are read by the
    next batch)."""
    earlier = earlier_batches(instance, batch)
    if not limit or not earlier:  # an empty partition list filters nothing: every batch's records would come back
        return set()
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("seed_problems"), asset_partitions=earlier), limit=10_000
    ).records
    taken: set[str] = set()
    for record in records:
        event = record.asset_materialization
        read = event.metadata.get("seed_problem_ids") if event else None
        by_source = read.value if read is not None else None
        for ids in (by_source if isinstance(by_source, dict) else {}).values():
            taken.update(ids)
    return taken


@dg.asset(group_name="problems", kinds={"polars"}, partitions_def=BATCHES)
def seed_problems(context: dg.AssetExecutionContext, config: SeedProblemsConfig) -> dg.Output[pl.DataFrame]:
    """Problems with gold answers from seed files or datasets (GSM8K `#### N` and MATH `\\boxed{}` normalized)."""
    taken = seed_taken(context.instance, context.partition_key, config.limit_per_source)
    frames = []
    for source in config.sources:
        part = load_seed_problems(
            source,
            config.problem_field,
            config.answer_field,
            config.split,
            config.limit_per_source,
            taken=taken,
        )
        if part.is_empty():
            raise ValueError(
                f"seed source {source}: no rows left (earlier batches read every row); add rows or a new seed file, "
                "or remove the source from this batch's config"
            )
        frames.append(part)
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=PROBLEM_SCHEMA)
    if not config.sources:
        context.log.info("no seed sources configured; only procedural problems feed the traces")
    repeated = frame.height - frame["problem_id"].n_unique()
    if repeated:
        context.log.warning(f"{repeated} seed rows repeat an earlier row's problem (dedup keeps one of each)")
    golds = frame.group_by("problem").agg(pl.col("answer").unique().sort()).filter(pl.col("answer").list.len() > 1)
    for problem, answers in golds.head(5).iter_rows():
        context.log.warning(f"one problem, {len(answers)} gold answers {answers}: {problem[:120]!r}")
    return dg.Output(
        frame,
        metadata={
            "rows": frame.height,
            "seed_problem_ids": dg.MetadataValue.json(
                {s: f["problem_id"].to_list() for s, f in zip(config.sources, frames, strict=True)}
            ),
            "repeated_problems": repeated,
            "problems_with_several_gold_answers": golds.height,
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
