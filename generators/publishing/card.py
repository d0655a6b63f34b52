"""The dataset card: its YAML header (configs, features), its body (rows, batches, stages, decontamination,
reasoning checks, models, lineage) and the lm-evaluation-harness task shipped beside it."""

from __future__ import annotations

import html

import polars as pl
import yaml

from filters.steps import LABEL_SOURCES
from filters.verify import AT_CHANCE, OVER_LIMIT, PROCESS_REASONS
from generators.publishing.reports import PublishedReports
from generators.publishing.rows import Layout


def size_category(rows: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < bound:
            return label
    return "n>1M"


def card_yaml(configs: dict[str, dict[str, str]], features: dict[str, pl.Schema], default: str, extra: dict) -> str:
    """The card's YAML header: one `configs:` entry per config with its splits' data files, and the features."""
    import datasets

    infos = []
    for config in configs:
        arrow = pl.DataFrame(schema=features[config]).to_arrow().schema
        infos.append({"config_name": config, "features": datasets.Features.from_arrow_schema(arrow)._to_yaml_list()})
    header = {
        **extra,
        "configs": [
            {
                "config_name": config,
                **({"default": True} if config == default else {}),
                "data_files": [{"split": split, "path": pattern} for split, pattern in splits.items()],
            }
            for config, splits in configs.items()
        ],
        "dataset_info": infos,
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n"


def lm_eval_task(name: str, dataset_path: str, eval_pattern: str) -> str:
    """An lm-evaluation-harness task over the eval split: few-shot-free generation, boxed answer, exact match."""
    task = {
        "task": f"{name.replace('-', '_')}_eval",
        "dataset_path": "parquet",
        "dataset_kwargs": {"data_files": {"test": f"{dataset_path}/{eval_pattern}"}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "Question: {{problem}}\nAnswer:",
        "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": ["\n\nQuestion:"], "max_gen_toks": 512, "do_sample": False},
        "filter_list": [
            {
                "name": "boxed",
                "filter": [
                    {"function": "regex", "regex_pattern": r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}", "group_select": -1},
                    {"function": "take_first"},
                ],
            }
        ],
        "metric_list": [
            {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True, "ignore_case": True}
        ],
        "metadata": {"version": 1.0},
    }
    return yaml.safe_dump(task, sort_keys=False)


def cell(value: object) -> str:
    """A value as text a markdown table cell shows as it is: HTML escaped (teacher and benchmark text may hold
    ``<script>``), pipes escaped, line breaks as spaces, so no row can add markup, a column or a heading."""
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_none_\n"
    columns = frame.columns
    lines = ["| " + " | ".join(map(cell, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in frame.iter_rows()]
    return "\n".join(lines) + "\n"


def reasoning_report(cot: pl.DataFrame, rejections: pl.DataFrame) -> pl.DataFrame:
    """Per domain and difficulty level (the ``level`` of the problem's published traces; ``ungraded`` where none was
    published): traces with the right answer, the share of those each reasoning check rejected (the checks that
    rejected any), and how many were published."""
    codes = [*PROCESS_REASONS, AT_CHANCE, OVER_LIMIT]
    decided = rejections.filter((pl.col("stage") == "verified") & pl.col("code").is_in(codes))
    if "problem_id" not in decided.columns:  # stored before rejections kept it: counted as ungraded
        decided = decided.with_columns(pl.lit(None, pl.String).alias("problem_id"))
    per_problem = cot.select("problem_id", "level").unique("problem_id")
    rows = pl.concat(
        [decided.select("domain", "problem_id", "code"),
         cot.select("domain", "problem_id", pl.lit("published").alias("code"))],
        how="vertical_relaxed",
    ).join(per_problem, on="problem_id", how="left")  # fmt: skip
    counts = rows.group_by("domain", "level", "code").len("rows")
    if counts.is_empty():
        return pl.DataFrame(schema=["domain", "level", "right_answer", OVER_LIMIT, "published"])
    rejecting = sorted(set(counts["code"]) - {"published", OVER_LIMIT}, key=codes.index)
    report = counts.pivot(on="code", index=["domain", "level"], values="rows")
    for code in (OVER_LIMIT, "published"):
        if code not in report.columns:
            report = report.with_columns(pl.lit(0, dtype=pl.UInt32).alias(code))
    counted = [*rejecting, OVER_LIMIT, "published"]
    report = report.with_columns(pl.col(counted).fill_null(0)).with_columns(pl.sum_horizontal(counted).alias("n"))
    return report.select(
        "domain",
        pl.col("level").cast(pl.String).fill_null("ungraded"),
        pl.col("n").alias("right_answer"),
        *(pl.format("{} ({})", (pl.col(c) / pl.col("n")).round(3), pl.col(c)).alias(c) for c in rejecting),
        pl.col(OVER_LIMIT),
        "published",
    ).sort("domain", "level")


def contamination_report(rejections: pl.DataFrame, decontamination: dict) -> dict:
    """Whether decontamination ran, the benchmarks it checked, and the rows removed per benchmark in every batch
    (``decontamination``: status and benchmarks, as ``generators.publishing.reports`` sums them)."""
    hits = rejections.filter(pl.col("code") == "contaminated")["detail"].value_counts()
    return {
        "status": decontamination.get("status", "on"),
        "benchmarks": decontamination.get("benchmarks") or {},
        "hits": dict(zip(hits["detail"].to_list(), hits["count"].to_list(), strict=True)),
    }


def _sampling(reports: PublishedReports) -> str:
    """The card's sampling section, where a batch sampled to a target: per batch what it got, and the yield."""
    if not reports.sampling:
        return ""
    return f"""
## Sampling to a target
Batches that asked for verified rows sampled in rounds until they had them or spent their budget:

{_table(pl.DataFrame(reports.sampling))}
Samples spent per verified row (counted as generation checked them; `verified` decides again):

{_table(pl.DataFrame(reports.yields))}"""


def render_card(
    name: str,
    data: Layout,
    cot: pl.DataFrame,
    textbook: pl.DataFrame,
    rejections: pl.DataFrame,
    reports: PublishedReports | None = None,
    decontamination: dict | None = None,
    notes: list[str] | None = None,
) -> str:
    """The card's markdown body: counts, configs, drop reasons, decontamination, reasoning checks, models,
    difficulty and lineage, from the rows and ``reports`` (the published batches' stage reports); ``notes`` are said
    first (an empty config, a disabled check)."""
    reports = reports or PublishedReports()
    counts = pl.DataFrame(
        [{"config": c, "split": s, "files": p} for c, splits in data.configs.items() for s, p in splits.items()]
    )
    rl_files = [f for path, f in data.files.items() if path.startswith("data/rl/")]
    rl_line = (
        f"- RL problems (config `rl`): {sum(f.height for f in rl_files)}, each with a chat `prompt`, the gold `answer`"
        " and its `answer_type` for a reward (`filters.rewards`), kept where the student's pass rate shows it can"
        " learn\n"
        if rl_files
        else ""
    )
    drops = (
        rejections.group_by("stage", "code")
        .len("rows")
        .sort(["stage", "rows", "code"], descending=[False, True, False])
        .rename({"code": "reason"})
    )
    contamination = (
        rejections.filter(pl.col("code") == "contaminated")
        .rename({"detail": "benchmark"})
        .group_by("benchmark")
        .agg(pl.len().alias("rows_removed"), pl.col("text").sort().first().str.slice(0, 120).alias("example"))
        .sort("benchmark")
    )
    levels = cot.group_by("level").len("rows").sort("level") if cot.height else cot.head(0)
    roles = (("teacher", "teacher_model", "sampling"), ("student", "student_model", "student_sampling"))
    models = (
        pl.concat(
            [
                cot.select(pl.lit(r).alias("role"), pl.col(m).alias("model"), pl.col(s).alias("sampling"))
                for r, m, s in roles
            ]
        )
        .unique()
        .sort("role")
    )
    histogram = "\n".join(f"level {lv}: {'█' * min(n, 60)} {n}" for lv, n in levels.iter_rows())
    stage_rows = _table(
        pl.DataFrame(reports.stages, schema={"stage": pl.String, "rows_in": pl.Int64, "rows_out": pl.Int64})
    )
    said = "".join(f"> **Note:** {cell(note)}\n\n" for note in notes or [])
    decontamination = decontamination or {}
    benchmark_hits = pl.DataFrame(
        [{"benchmark": b, "items": n, "rows_removed": (decontamination.get("hits") or {}).get(b, 0)}
         for b, n in (decontamination.get("benchmarks") or {}).items()],
        schema={"benchmark": pl.String, "items": pl.Int64, "rows_removed": pl.Int64},
    )  # fmt: skip
    batches = pl.concat(
        [frame.select("batch", pl.lit(kind).alias("kind")) for kind, frame in (("cot", cot), ("textbook", textbook))
         if "batch" in frame.columns]
        or [pl.DataFrame(schema={"batch": pl.String, "kind": pl.String})]
    ).group_by("batch", "kind").len("rows").sort("batch", "kind")  # fmt: skip
    return f"""
# {name}

{said}Reasoning data made by the reasoning-foundry Dagster pipeline: chain-of-thought traces whose final answers were
checked against gold answers with math-verify and whose reasoning was checked too (configs `cot*`, every row
`verified == true`: each stated calculation holds, no step restates a given with another number, the answer is derived
by a step, unknowns solve the equations stated for them, no count goes below zero where nothing can, the facts of a
procedural family agree with its solver, and small answer spaces are answered above chance), and textbook-style
passages (config `textbook`). Traces are graded by a student model's pass rate into difficulty
levels 1 (easy) to 5 (hard); `curriculum_rank` orders them from easy to hard. The `eval` split holds problems that
never appear in `train`, and a problem's split is fixed by its id in every revision. Configs `cot-<domain>` and
`cot-level-<n>` are slices of `cot` that share its files. Config `cot-steps` holds the rejected traces whose first
bad step was located (a right answer whose reasoning fails a check, or a wrong answer where a check or the gold
answer shows the step), one per problem and steps up to that step, split into steps with that step labelled and
`label_source` saying who located it:
{", ".join(f"`{source}`" for source in LABEL_SOURCES)} (the rule checks, the gold or reference answer, a family's
solver, a critic model, a process reward model, Monte-Carlo rollouts, several judges that agree).

## Rows
- CoT: {cot.height} rows over {cot["problem_id"].n_unique() if cot.height else 0} problems
- textbook passages: {textbook.height}
{rl_line}
{_table(counts)}
## Batches
Each refresh adds a batch, deduplicated against every earlier batch; this revision holds them all:

{_table(batches)}
## Rows per stage (the published batches)
{stage_rows}{_sampling(reports)}
## Dropped rows per stage
{_table(drops)}
## Decontamination report
Decontamination: {decontamination.get("status", "on")}. Benchmarks checked, and rows removed, in the published
batches:

{_table(benchmark_hits)}
Examples of removed rows:

{_table(contamination)}
## Reasoning checks
A right final answer is not enough: per domain and difficulty level, the traces with the right answer, the share (and
number) of those each reasoning check rejected, and how many were published (`over_per_problem_limit`: right and
sound, beyond the per-problem cap; `ungraded`: problems none of whose traces was published). Checks that rejected
nothing have no column.

{_table(reasoning_report(cot, rejections))}
## Verifier audit
Rows with a gold answer are decided by math-verify; rows without one by a majority vote over the problem's samples.
On rows that have gold, the majority vote was also computed and compared with the gold check, per batch:

{_table(pl.DataFrame([{k: str(v) for k, v in audit.items()} for audit in reports.audits]))}
## Models
{_table(models)}
## Difficulty histogram (CoT rows per level)
```
{histogram}
```

## Lineage
Every row carries a stable `id` (hash of its content and origin), the `problem_id` it came from, `teacher_model`,
`teacher_backend`, the prompt `template` and `template_hash`, the `sampling` parameters, the `sample_index`, token
counts, `finish_reason`, and for CoT rows the `verifier` and the answer `extraction` rule that decided it.

## Use
```python
import datasets
cot = datasets.load_dataset("path/to/{name}", "cot")            # train / eval
easy = datasets.load_dataset("path/to/{name}", "cot-level-1")
```
The `messages` column (system, user, assistant) feeds TRL's `SFTTrainer` as it is. `lm_eval/{name}_eval.yaml`
evaluates a model on the eval split: `lm_eval --tasks {name.replace("-", "_")}_eval --include_path lm_eval ...`.
`CHANGELOG.md` lists the rows added and removed by each revision.
"""
