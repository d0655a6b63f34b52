"""The rejections table and the published Hugging Face dataset."""

from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field, field_validator

from assets.batches import BATCH, BATCHES, check_key
from assets.metadata import bar_chart, counts_by, markdown_table
from assets.resources import ALL_BATCHES, StorageResource
from assets.run_config import config_of
from assets.stages import COUNTED_STAGES, REJECTION_STAGES
from filters.dedup_index import DedupIndex
from filters.verify import CHECKS_VERSION
from generators.publishing.card import contamination_report, render_card
from generators.publishing.reports import PublishedReports, finished_batches, published_reports
from generators.publishing.rows import cot_rows, layout, rl_rows, split_by_problem, steps_rows, textbook_rows
from generators.publishing.targets import publish, publish_to_url


@dg.asset(
    group_name="rejections",
    kinds={"polars"},
    partitions_def=BATCHES,
    ins={f"{stage}_rejections": dg.AssetIn() for stage in REJECTION_STAGES},
)
def rejections(**dropped: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """Every row any stage dropped, with the stage and the reason: why a row is missing from the dataset."""
    frame = pl.concat([dropped[f"{stage}_rejections"] for stage in REJECTION_STAGES], how="diagonal_relaxed")
    per_reason = (
        frame.group_by("stage", "code").len("rows").sort(["rows", "stage", "code"], descending=[True, False, False])
    )
    return dg.Output(
        frame,
        metadata={
            "rows": frame.height,
            "per_stage": counts_by(frame, "stage"),
            "per_reason": dg.MetadataValue.md(markdown_table(per_reason.to_dicts())),
        },
    )


@dg.asset(
    group_name="reports",
    kinds={"polars"},
    partitions_def=BATCHES,
    ins={f"{stage}_report": dg.AssetIn() for stage in COUNTED_STAGES},
)
def stage_reports(**reports: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """What every stage reported for the batch, a row a stage: the card of a revision that publishes it reads them."""
    frame = pl.concat([reports[f"{stage}_report"] for stage in COUNTED_STAGES], how="vertical_relaxed")
    return dg.Output(frame, metadata={"stages": frame.height})


def first_copy_of_each_row(
    context: dg.AssetExecutionContext, graded: pl.DataFrame, rejections: pl.DataFrame, index: DedupIndex
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each row once across batches. Batches that ran at the same time can make the same row, or rows that repeat
    each other's problem or text, which neither's dedup could see: the earliest registered batch keeps them, as
    dedup would have had they run one after the other (the same rows, the same ids)."""
    batches = context.instance.get_dynamic_partitions(BATCH)
    order = {b: i for i, b in enumerate(batches)}
    rank = pl.col("batch").replace_strict(order, default=len(order), return_dtype=pl.Int64)
    unique = graded.sort(rank, maintain_order=True).unique("id", keep="first", maintain_order=True)
    if unique.height < graded.height:
        context.log.warning(f"{graded.height - unique.height} rows repeated in a later batch are published once")
    repeats = [(batch, key) for batch, keys in index.repeats_across(batches).items() for key in keys]
    if repeats:
        keys = pl.DataFrame(repeats, schema={"batch": pl.String, "key": pl.String}, orient="row")
        unique, rejections = (without_repeats(frame, keys) for frame in (unique, rejections))
        context.log.warning(
            f"{len(repeats)} problems and texts repeated by batches that ran at once: the earliest keeps them"
        )
    return unique, rejections.unique(["stage", "id"], keep="first", maintain_order=True)


def without_repeats(frame: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """``frame`` less its rows whose (batch, id) or (batch, problem_id) is among ``keys``."""
    for column in ("id", "problem_id"):
        frame = frame.join(keys, left_on=["batch", column], right_on=["batch", "key"], how="anti", nulls_equal=False)
    return frame


def publishing_notes(cot: pl.DataFrame, textbook: pl.DataFrame, reports: PublishedReports) -> list[str]:
    """What a reader must be told first: an empty config and why, a disabled check, a gate that cannot pass."""
    notes = []
    judged = reports.judge
    if not textbook.height:
        bar = judged.get("min_edu_score")
        notes.append(
            "no textbook passage is published: none reached the educational-value bar"
            + (f" (score >= {bar} from the judge {judged.get('judge_model', '')})" if bar else "")
        )
    if not cot.height:
        notes.append("no CoT trace is published: none had the right answer with reasoning that holds")
    if reports.decontamination.get("status") == "disabled by config":
        notes.append("decontamination was disabled by config: rows were not checked against benchmark test sets")
    notes += [f"chance gate: {line}" for line in reports.cannot_pass]
    if stale := sorted(batch for batch, version in reports.checks_versions.items() if version != CHECKS_VERSION):
        notes.append(
            f"batches {', '.join(stale)} were verified by other reasoning checks than this code's ({CHECKS_VERSION}):"
            " `python -m assets.batches reverify` judges their rows by these"
        )
    return notes


@config_of("published_dataset")
class PublishConfig(dg.Config):
    name: str = "reasoning-foundry"
    eval_fraction: float = Field(0.1, ge=0.0, le=0.9)
    thinking_format: Literal["think_tags", "reasoning_content"] = "think_tags"
    license: str = "mit"
    keep_revisions: int = Field(5, ge=1)  # revisions kept on disk (or at the URL); the changelog keeps every entry
    # the `rl` config keeps the problems a student solves this often: [low, high]
    rl_pass_rate_band: list[float] = Field(default_factory=lambda: [0.1, 0.9], min_length=2, max_length=2)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_key(value, "published_dataset.name")

    @field_validator("rl_pass_rate_band")
    @classmethod
    def _band(cls, value: list[float]) -> list[float]:
        if not 0 <= value[0] <= value[1] <= 1:
            raise ValueError(f"rl_pass_rate_band {value}: [low, high] with 0 <= low <= high <= 1")
        return value


@dg.asset(
    group_name="publishing",
    kinds={"huggingface"},
    ins={
        name: dg.AssetIn(partition_mapping=dg.AllPartitionMapping(), metadata=ALL_BATCHES)
        for name in ("difficulty_graded", "rejections", "stage_reports")
    },
)
def published_dataset(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    storage: StorageResource,
    difficulty_graded: pl.DataFrame,
    rejections: pl.DataFrame,
    stage_reports: pl.DataFrame,
) -> dg.MaterializeResult:
    """Every batch so far in a folder `datasets.load_dataset` reads (configs `cot`, `cot-<domain>`,
    `cot-level-<n>`, `textbook`, `rl`): a new revision per publish. The Hub push waits for the student gate
    (`released_dataset`)."""
    index = DedupIndex(storage.dedup_index_dir)
    difficulty_graded, rejections = first_copy_of_each_row(context, difficulty_graded, rejections, index)
    published_batches = finished_batches(difficulty_graded, stage_reports)
    rejections = rejections.filter(pl.col("batch").is_in(sorted(published_batches)))  # the card counts these alone
    reports = published_reports(stage_reports, COUNTED_STAGES, published_batches)
    cot = cot_rows(difficulty_graded, config.thinking_format)
    if not cot["verified"].all():
        raise ValueError("refusing to publish: some CoT rows are not verified")
    train, evaluation = split_by_problem(cot, config.eval_fraction)
    textbook = textbook_rows(difficulty_graded)
    steps = steps_rows(rejections)
    notes = publishing_notes(cot, textbook, reports)
    for note in notes:
        context.log.warning(note)
    if not cot.height and not textbook.height:
        context.log.warning("nothing passed every check in any batch: no revision is published")
        return dg.MaterializeResult(
            metadata={"new_revision": False, "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes))}
        )
    low, high = config.rl_pass_rate_band
    rl = (rl_rows(train, (low, high)), rl_rows(evaluation, (low, high)))
    data = layout(train, evaluation, textbook, steps, rl)
    report = contamination_report(rejections, reports.decontamination)
    card = render_card(config.name, data, cot, textbook, rejections, reports, report, notes)
    if storage.publish_url:
        result = publish_to_url(storage.publish_url, config.name, data, card, config.license, config.keep_revisions)
    else:
        result = publish(storage.published_dir, config.name, data, card, config.license, config.keep_revisions)
    context.log.info(
        f"published {config.name} revision {result.revision} at {result.location} (new: {result.changed})"
    )
    committed = index.commit(sorted(set(difficulty_graded["batch"].to_list())))
    context.log.info(f"dedup index committed for batches {committed}: later batches are checked against them")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(result.location),
            "revision": result.revision,
            "new_revision": result.changed,
            "configs": dg.MetadataValue.json(data.configs),
            "cot_train_rows": train.height,
            "cot_eval_rows": evaluation.height,
            "textbook_rows": textbook.height,
            "cot_steps_rows": steps.height,
            "rl_rows": rl[0].height + rl[1].height,
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "none"),
            "card": dg.MetadataValue.md(card),
            "rows_per_stage": dg.MetadataValue.md(
                bar_chart(
                    "Rows out of each stage (the published batches)",
                    {r["stage"]: r["rows_out"] or 0 for r in reports.stages},
                    "stage",
                    "rows",
                )
            ),
            "throughput": dg.MetadataValue.md(
                bar_chart("Throughput per stage (the published batches)", reports.throughput, "stage", "rows/s")
            ),
        }
    )
