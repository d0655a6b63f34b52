"""The rejections table and the published Hugging Face dataset."""

import dagster as dg
import polars as pl

from assets.metadata import counts_by, markdown_table
from assets.resources import StorageResource
from generators.publishing import cot_rows, publish, render_card, split_by_problem, textbook_rows

REJECTION_STAGES = (
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


class PublishConfig(dg.Config):
    name: str = "reasoning-foundry"
    eval_fraction: float = 0.1
    license: str = "mit"


@dg.asset(group_name="publishing", kinds={"huggingface"})
def published_dataset(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    storage: StorageResource,
    difficulty_graded: pl.DataFrame,
    rejections: pl.DataFrame,
) -> dg.MaterializeResult:
    """A folder `datasets.load_dataset` reads: configs `cot` (train/eval by problem) and `textbook`, and a card."""
    cot = cot_rows(difficulty_graded)
    if not cot["verified"].all():
        raise ValueError("refusing to publish: some CoT rows are not verified")
    train, evaluation = split_by_problem(cot, config.eval_fraction)
    configs = {"cot": {"train": train, "eval": evaluation}, "textbook": {"train": textbook_rows(difficulty_graded)}}
    header = {
        "license": config.license,
        "language": ["en"],
        "task_categories": ["text-generation", "question-answering"],
        "pretty_name": config.name,
    }
    result = publish(
        storage.published_dir, config.name, configs, render_card(config.name, configs, rejections), "cot", header
    )
    context.log.info(f"published {config.name} revision {result.revision} at {result.path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "revision": result.revision,
            "new_revision": result.changed,
            "cot_train_rows": train.height,
            "cot_eval_rows": evaluation.height,
            "textbook_rows": configs["textbook"]["train"].height,
            "card": dg.MetadataValue.md((result.path / "README.md").read_text()),
        }
    )
