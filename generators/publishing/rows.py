"""The published rows: the train/eval split by problem, the columns of each config, chat messages, and the
files of each config and split (the layout)."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass

import polars as pl

from filters.contract import Drop
from filters.schemas import Schema
from filters.steps import split_steps
from filters.verify import answer_type


def in_eval(problem_id: str, eval_fraction: float) -> bool:
    """Whether a problem belongs to the eval split: a pure function of its id (its hash below ``eval_fraction`` of the
    range), so a problem keeps its side in every revision and a model trained on one revision is never evaluated on
    its own training problems in the next."""
    return int(hashlib.sha256(problem_id.encode()).hexdigest()[:12], 16) < eval_fraction * 16**12


def split_by_problem(frame: pl.DataFrame, eval_fraction: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, eval) with no problem on both sides, each problem where ``in_eval`` puts it; with few problems the eval
    split may be empty."""
    problems = frame["problem_id"].unique().to_list()
    is_eval = pl.col("problem_id").is_in([p for p in problems if in_eval(p, eval_fraction)])
    return frame.filter(~is_eval), frame.filter(is_eval)


@dataclass(frozen=True)
class Layout:
    """Where every row goes: parquet files by path, and per config the glob of each split's files."""

    files: dict[str, pl.DataFrame]
    configs: dict[str, dict[str, str]]
    features: dict[str, pl.Schema]
    default: str


def layout(
    cot_train: pl.DataFrame,
    cot_eval: pl.DataFrame,
    textbook: pl.DataFrame,
    steps: pl.DataFrame | None = None,
    rl: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> Layout:
    """Shards by (domain, level) so configs `cot`, `cot-<domain>` and `cot-level-<n>` share files instead of copies;
    plus `textbook`, `cot-steps` (rejected traces with their first bad step) and `rl` (train and eval problems for
    RL, split as `cot` is)."""
    files: dict[str, pl.DataFrame] = {}
    configs: dict[str, dict[str, str]] = {}
    features: dict[str, pl.Schema] = {}
    for split, frame in (("train", cot_train), ("eval", cot_eval)):
        for (domain, level), part in frame.group_by("domain", "level", maintain_order=True):
            files[f"data/cot/{domain}/level-{level}/{split}-00000-of-00001.parquet"] = part.sort("curriculum_rank")
    domains = sorted({path.split("/")[2] for path in files})
    levels = sorted({path.split("/")[3] for path in files})
    for name, pattern in [
        ("cot", "*/*"),
        *((f"cot-{d}", f"{d}/*") for d in domains),
        *((f"cot-{lv}", f"*/{lv}") for lv in levels),
    ]:
        splits = {
            split: f"data/cot/{pattern}/{split}-*.parquet"
            for split in ("train", "eval")
            if any(fnmatch.fnmatch(path, f"data/cot/{pattern}/{split}-*.parquet") for path in files)
        }
        if splits:
            configs[name] = splits
            features[name] = cot_train.schema
    if textbook.height:
        files["data/textbook/train-00000-of-00001.parquet"] = textbook
        configs["textbook"] = {"train": "data/textbook/train-*.parquet"}
        features["textbook"] = textbook.schema
    if steps is not None and steps.height:
        files["data/cot-steps/train-00000-of-00001.parquet"] = steps
        configs["cot-steps"] = {"train": "data/cot-steps/train-*.parquet"}
        features["cot-steps"] = steps.schema
    if rl is not None and rl[0].height + rl[1].height:
        splits = {}
        for split, frame in zip(("train", "eval"), rl, strict=True):
            if frame.height:
                files[f"data/rl/{split}-00000-of-00001.parquet"] = frame
                splits[split] = f"data/rl/{split}-*.parquet"
        configs["rl"] = splits
        features["rl"] = rl[0].schema
    if not cot_train.height + cot_eval.height + textbook.height:
        raise ValueError("refusing to publish: every config and split is empty")
    return Layout(files, configs, features, "cot" if "cot" in configs else next(iter(configs)))


COT_COLUMNS = (
    "id", "problem_id", "source", "domain", "reasoning_kind", "problem", "answer", "thinking", "reasoning", "messages",
    "verified",
    "verifier",
    "extracted_answer", "extraction", "teacher_pass_rate", "student_pass_rate", "difficulty", "level",
    "curriculum_rank", "steps", "teacher_model", "teacher_backend", "student_model", "student_sampling",
    "problem_template", "template", "template_hash",
    "sampling", "sample_index", "prompt_tokens", "completion_tokens", "finish_reason", "reasoning_checks",
    "step_labels", "chance_p_value", "batch",
)  # fmt: skip
TEXTBOOK_COLUMNS = (
    "id", "topic_path", "subject", "audience", "style", "text", "teacher_model", "teacher_backend", "template",
    "template_hash", "sampling", "prompt_tokens", "completion_tokens", "finish_reason", "edu_score", "batch",
)  # fmt: skip
SYSTEM_PROMPT = "Solve the problem step by step and put the final answer in \\boxed{}."


def cot_rows(graded: pl.DataFrame, thinking_format: str = "think_tags") -> pl.DataFrame:
    """Published CoT columns: problem, answer, reasoning (the solution) and a reasoning model's ``thinking``, plus
    ``messages`` for chat fine-tuning and the lineage. ``thinking_format`` puts the thinking into the assistant turn
    as ``<think>...</think>`` before the solution (``think_tags``), or into the turn's own ``reasoning_content``
    field, as chat templates with a reasoning field take it (``reasoning_content``)."""
    cot = graded.filter(pl.col("kind") == "cot").rename({"text": "reasoning"})
    if "thinking" not in cot.columns:
        cot = cot.with_columns(pl.lit(None, dtype=pl.String).alias("thinking"))
    thought = pl.col("thinking").is_not_null()
    if thinking_format == "think_tags":
        answer = pl.when(thought).then(pl.format("<think>\n{}\n</think>\n\n{}", "thinking", "reasoning"))
        assistant = answer.otherwise(pl.col("reasoning"))
        reasoning_field = pl.lit(None, dtype=pl.String)
    elif thinking_format == "reasoning_content":
        assistant, reasoning_field = pl.col("reasoning"), pl.col("thinking")
    else:
        raise ValueError(f"thinking_format {thinking_format!r}: think_tags or reasoning_content")
    none = pl.lit(None, dtype=pl.String)
    messages = pl.concat_list(
        pl.struct(
            pl.lit("system").alias("role"), pl.lit(SYSTEM_PROMPT).alias("content"), none.alias("reasoning_content")
        ),
        pl.struct(pl.lit("user").alias("role"), pl.col("problem").alias("content"), none.alias("reasoning_content")),
        pl.struct(
            pl.lit("assistant").alias("role"), assistant.alias("content"), reasoning_field.alias("reasoning_content")
        ),
    ).alias("messages")
    return cot.with_columns(messages).select(COT_COLUMNS).sort("curriculum_rank")


def textbook_rows(graded: pl.DataFrame) -> pl.DataFrame:
    return graded.filter(pl.col("kind") == "textbook").select(TEXTBOOK_COLUMNS)


RL_SCHEMA: Schema = {
    "id": pl.String, "problem_id": pl.String, "source": pl.String, "domain": pl.String, "problem": pl.String,
    "prompt": pl.List(pl.Struct({"role": pl.String, "content": pl.String})), "answer": pl.String,
    "answer_type": pl.String, "teacher_pass_rate": pl.Float64, "student_pass_rate": pl.Float64, "level": pl.Int64,
    "batch": pl.String,
}  # fmt: skip


def rl_rows(cot: pl.DataFrame, band: tuple[float, float] = (0.1, 0.9)) -> pl.DataFrame:
    """The `rl` config: one row per problem whose student pass rate lies in ``band`` (a problem every sample solves, or
    none does, teaches a policy-gradient step nothing), with the chat ``prompt`` TRL's GRPO trainer takes, the gold
    ``answer`` and its ``answer_type`` for the reward (``filters.rewards``), and the pass rates."""
    low, high = band
    problems = cot.unique("problem_id", keep="first", maintain_order=True).filter(
        pl.col("student_pass_rate").is_between(low, high)
    )
    rows = [
        {
            **{k: row.get(k) for k in RL_SCHEMA if k not in ("id", "prompt", "answer_type")},
            "id": f"rl-{row['problem_id']}",
            "prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": row["problem"]}],
            "answer_type": answer_type(row["answer"] or ""),
        }
        for row in problems.iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema=RL_SCHEMA)


STEP_SCHEMA: Schema = {
    "id": pl.String, "domain": pl.String, "problem": pl.String, "steps": pl.List(pl.String),
    "step_labels": pl.List(pl.Boolean), "first_bad_step": pl.Int64, "label_source": pl.String,
    "reason_code": pl.String, "reason": pl.String, "batch": pl.String,
}  # fmt: skip


def steps_rows(rejections: pl.DataFrame) -> pl.DataFrame:
    """The `cot-steps` config: traces verification rejected with their first bad step located (a right answer whose
    reasoning fails a check, or a wrong answer where the rules or the gold answer show the step), split into steps,
    each labelled (True: checked and sound, False: the first bad step, None: not judged) with who located it, for
    training a process reward model. The labels are verification's own; nothing is checked again here. Of traces
    that share a problem and their steps up to the first bad one, only the first is kept: the steps after it are
    unjudged, so the others teach nothing more (a sampled trace often differs only in its boxed answer)."""
    located = rejections.filter(
        (pl.col("stage") == "verified") & pl.col("step_labels").list.contains(False).fill_null(False)
    )
    rows = []
    judged: set[tuple[str, tuple[str, ...]]] = set()
    for row in located.iter_rows(named=True):
        labels, steps = row["step_labels"], split_steps(row["text"] or "")
        first_bad = labels.index(False)
        if (key := (row["problem"], tuple(steps[: first_bad + 1]))) in judged:
            continue
        judged.add(key)
        rows.append(
            {
                "id": row["id"],
                "domain": row.get("domain"),
                "problem": row["problem"],
                "steps": steps,
                "step_labels": labels,
                "first_bad_step": first_bad,
                "label_source": row["step_label_source"],
                "reason_code": row["code"],
                "reason": str(Drop(row["code"], row["detail"])),
                "batch": row.get("batch"),
            }
        )
    return pl.DataFrame(rows, schema=STEP_SCHEMA)
