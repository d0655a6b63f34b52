"""The published dataset: a hub-ready folder of parquet shards per config and split, with a README.md card.

Each publish writes a complete revision folder beside the others, then swaps a symlink to it in one rename, so a
publish that fails or is killed leaves the previous revision in place and never shows a half-written folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml


@dataclass(frozen=True)
class PublishedRevision:
    """Where a publish landed: ``path`` is what ``datasets.load_dataset`` reads."""

    path: Path
    revision: str
    changed: bool


def split_by_problem(frame: pl.DataFrame, eval_fraction: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, eval) with no problem on both sides; eval gets at least one problem where there are two or more."""
    problems = sorted(frame["problem_id"].unique().to_list(), key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    n_eval = round(len(problems) * eval_fraction)
    if len(problems) >= 2:
        n_eval = min(max(n_eval, 1), len(problems) - 1)
    held_out = set(problems[:n_eval])
    is_eval = pl.col("problem_id").is_in(list(held_out))
    return frame.filter(~is_eval), frame.filter(is_eval)


def content_revision(configs: dict[str, dict[str, pl.DataFrame]], card: str) -> str:
    """A revision id that changes exactly when the published rows or the card change."""
    digest = hashlib.sha256(card.encode())
    for config in sorted(configs):
        for split in sorted(configs[config]):
            frame = configs[config][split]
            digest.update(f"{config}/{split}/{frame.height}".encode())
            if frame.height:
                digest.update(frame.hash_rows(seed=0).sort().to_numpy().tobytes())
    return digest.hexdigest()[:16]


def card_yaml(configs: dict[str, dict[str, pl.DataFrame]], default: str, extra: dict) -> str:
    """The YAML header of the card: one `configs:` entry per config, with its splits' data files."""
    header = {
        **extra,
        "configs": [
            {
                "config_name": config,
                **({"default": True} if config == default else {}),
                "data_files": [{"split": split, "path": f"data/{config}/{split}-*.parquet"} for split in splits],
            }
            for config, splits in configs.items()
        ],
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n"


def publish(
    root: Path, name: str, configs: dict[str, dict[str, pl.DataFrame]], card_body: str, default: str, header: dict
) -> PublishedRevision:
    """Write a new revision of ``name`` under ``root`` and point ``root/name`` at it; unchanged data is a no-op.

    Empty splits and configs are left out (``datasets`` cannot load an empty split).
    """
    configs = {
        config: {split: frame for split, frame in splits.items() if frame.height}
        for config, splits in configs.items()
        if any(frame.height for frame in splits.values())
    }
    if not configs:
        raise ValueError(f"refusing to publish {name}: every config and split is empty")
    default = default if default in configs else next(iter(configs))
    card = card_yaml(configs, default, header) + card_body
    revision = content_revision(configs, card)
    link = root / name
    store = root / ".revisions" / name
    final = store / revision
    if link.is_symlink() and link.resolve() == final.resolve() and final.is_dir():
        return PublishedRevision(link, revision, changed=False)
    store.mkdir(parents=True, exist_ok=True)
    staging = store / f".staging-{revision}-{uuid.uuid4().hex[:8]}"
    try:
        for config, splits in configs.items():
            folder = staging / "data" / config
            folder.mkdir(parents=True)
            for split, frame in splits.items():
                frame.write_parquet(folder / f"{split}-00000-of-00001.parquet")
        (staging / "README.md").write_text(card)
        if final.exists():
            shutil.rmtree(staging)
        else:
            os.replace(staging, final)
        temp_link = root / f".{name}.link-{uuid.uuid4().hex[:8]}"
        temp_link.symlink_to(final.relative_to(root))
        os.replace(temp_link, link)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return PublishedRevision(link, revision, changed=True)


COT_COLUMNS = (
    "id", "problem_id", "source", "domain", "problem", "answer", "reasoning", "messages", "verified", "verifier",
    "extracted_answer", "extraction", "teacher_pass_rate", "student_pass_rate", "difficulty", "level",
    "curriculum_rank", "steps", "teacher_model", "teacher_backend", "student_model", "student_sampling", "template",
    "template_hash",
    "sampling", "sample_index", "prompt_tokens", "completion_tokens", "finish_reason",
)  # fmt: skip
TEXTBOOK_COLUMNS = (
    "id", "topic_path", "subject", "audience", "text", "teacher_model", "teacher_backend", "template",
    "template_hash", "sampling", "prompt_tokens", "completion_tokens", "finish_reason",
)  # fmt: skip
SYSTEM_PROMPT = "Solve the problem step by step and put the final answer in \\boxed{}."


def cot_rows(graded: pl.DataFrame) -> pl.DataFrame:
    """Published CoT columns: problem, answer and reasoning, plus ``messages`` for chat fine-tuning and the lineage."""
    cot = graded.filter(pl.col("kind") == "cot").rename({"text": "reasoning"})
    messages = pl.concat_list(
        pl.struct(pl.lit("system").alias("role"), pl.lit(SYSTEM_PROMPT).alias("content")),
        pl.struct(pl.lit("user").alias("role"), pl.col("problem").alias("content")),
        pl.struct(pl.lit("assistant").alias("role"), pl.col("reasoning").alias("content")),
    ).alias("messages")
    return cot.with_columns(messages).select(COT_COLUMNS).sort("curriculum_rank")


def textbook_rows(graded: pl.DataFrame) -> pl.DataFrame:
    return graded.filter(pl.col("kind") == "textbook").select(TEXTBOOK_COLUMNS)


def _table(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_none_\n"
    columns = frame.columns
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines) + "\n"


def render_card(name: str, configs: dict[str, dict[str, pl.DataFrame]], rejections: pl.DataFrame) -> str:
    """The card's markdown body: counts, drop reasons per stage, models, difficulty histogram and lineage fields."""
    cot = pl.concat(list(configs["cot"].values()))
    counts = pl.DataFrame(
        [{"config": c, "split": s, "rows": f.height} for c, splits in configs.items() for s, f in splits.items()]
    )
    drops = rejections.group_by("stage", "reason").len("rows").sort(["stage", "rows"], descending=[False, True])
    levels = cot.group_by("level").len("rows").sort("level") if cot.height else cot.head(0)
    roles = (("teacher", "teacher_model"), ("student", "student_model"))
    models = (
        pl.concat(
            [
                cot.select(pl.lit(role).alias("role"), pl.col(column).alias("model"), "sampling")
                for role, column in roles
            ]
        )
        .unique()
        .sort("role")
    )
    return f"""
# {name}

Reasoning data made by the reasoning-foundry Dagster pipeline: chain-of-thought traces whose final answers were
checked against gold answers with math-verify (config `cot`, every row `verified == true`), and textbook-style
passages (config `textbook`). Traces are graded by a student model's pass rate into difficulty levels 1 (easy) to
5 (hard); `curriculum_rank` orders them from easy to hard. The `eval` split holds problems that never appear in
`train`.

## Rows
{_table(counts)}
## Dropped rows per stage
{_table(drops)}
## Models
{_table(models)}
## Difficulty histogram (CoT rows per level)
{_table(levels)}
## Lineage
Every row carries a stable `id` (hash of its content and origin), the `problem_id` it came from, `teacher_model`,
`teacher_backend`, the prompt `template` and `template_hash`, the `sampling` parameters, the `sample_index`, token
counts, `finish_reason`, and for CoT rows the `verifier` and the answer `extraction` rule that decided it.

## Load
```python
import datasets
cot = datasets.load_dataset("path/to/{name}", "cot")
textbook = datasets.load_dataset("path/to/{name}", "textbook")
```
"""
