"""The rejections table and the published Hugging Face dataset."""

import dagster as dg
import polars as pl

from assets.batches import BATCHES
from assets.metadata import bar_chart, counts_by, markdown_table
from assets.resources import ALL_BATCHES, HubResource, StorageResource
from generators.publishing import (
    cot_rows,
    layout,
    publish,
    publish_to_url,
    render_card,
    split_by_problem,
    textbook_rows,
)

REJECTION_STAGES = (
    "evolved_problems",
    "cot_traces",
    "textbook_passages",
    "deduplicated",
    "decontaminated",
    "reasoning_filtered",
    "verified",
)


@dg.asset(
    group_name="rejections",
    kinds={"polars"},
    partitions_def=BATCHES,
    ins={f"{stage}_rejections": dg.AssetIn() for stage in REJECTION_STAGES},
)
def rejections(**dropped: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """Every row any stage dropped, with the stage and the reason: why a row is missing from the dataset."""
    frame = pl.concat([dropped[f"{stage}_rejections"] for stage in REJECTION_STAGES], how="diagonal_relaxed")
    per_reason = frame.group_by("stage", "reason").len("rows").sort("rows", descending=True)
    return dg.Output(
        frame,
        metadata={
            "rows": frame.height,
            "per_stage": counts_by(frame, "stage"),
            "per_reason": dg.MetadataValue.md(markdown_table(per_reason.to_dicts())),
        },
    )


COUNTED_STAGES = (*REJECTION_STAGES, "difficulty_graded")


def _latest_metadata(context: dg.AssetExecutionContext, asset: str) -> dict:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()} if event else {}


class PublishConfig(dg.Config):
    name: str = "reasoning-foundry"
    eval_fraction: float = 0.1
    license: str = "mit"


@dg.asset(
    group_name="publishing",
    kinds={"huggingface"},
    ins={
        name: dg.AssetIn(partition_mapping=dg.AllPartitionMapping(), metadata=ALL_BATCHES)
        for name in ("difficulty_graded", "rejections")
    },
)
def published_dataset(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    storage: StorageResource,
    hub: HubResource,
    difficulty_graded: pl.DataFrame,
    rejections: pl.DataFrame,
) -> dg.MaterializeResult:
    """Every batch so far in a folder `datasets.load_dataset` reads (configs `cot`, `cot-<domain>`,
    `cot-level-<n>`, `textbook`): a new revision per publish, pushed to the Hugging Face Hub as a tagged revision when
    a repo is configured."""
    cot = cot_rows(difficulty_graded)
    if not cot["verified"].all():
        raise ValueError("refusing to publish: some CoT rows are not verified")
    train, evaluation = split_by_problem(cot, config.eval_fraction)
    textbook = textbook_rows(difficulty_graded)
    data = layout(train, evaluation, textbook)
    stages, throughput = [], {}
    for stage in COUNTED_STAGES:
        metadata = _latest_metadata(context, stage)
        rows_in = metadata.get("rows_in", metadata.get("requests"))  # generation stages: one request per row
        stages.append({"stage": stage, "rows_in": rows_in, "rows_out": metadata.get("rows_out", metadata.get("rows"))})
        wall = metadata.get("generation_wall_s")  # generation stages: requests over their wall time
        rate = metadata.get("rows_per_s", rows_in / wall if rows_in and wall else None)
        if rate is not None:
            throughput[stage] = round(float(rate), 1)
    audit = _latest_metadata(context, "verified").get("verifier_audit") or {}
    card = render_card(config.name, data, cot, textbook, rejections, audit, stages)
    if storage.publish_url:
        result = publish_to_url(storage.publish_url, config.name, data, card, config.license)
    else:
        result = publish(storage.published_dir, config.name, data, card, config.license)
    context.log.info(f"published {config.name} revision {result.revision} at {result.path} (new: {result.changed})")
    pushed = (
        hub.push(storage.published_dir / config.name, result.revision)
        if hub.repo_id and not storage.publish_url
        else None
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "revision": result.revision,
            "new_revision": result.changed,
            "configs": dg.MetadataValue.json(data.configs),
            "cot_train_rows": train.height,
            "cot_eval_rows": evaluation.height,
            "textbook_rows": textbook.height,
            "hub_repo": hub.repo_id or "not configured",
            "hub_new_commit": bool(pushed),
            "card": dg.MetadataValue.md(card),
            "rows_per_stage": dg.MetadataValue.md(
                bar_chart(
                    "Rows out of each stage (latest batch)",
                    {r["stage"]: r["rows_out"] or 0 for r in stages},
                    "stage",
                    "rows",
                )
            ),
            "throughput": dg.MetadataValue.md(
                bar_chart("Throughput per stage (latest batch)", throughput, "stage", "rows/s")
            ),
        }
    )
