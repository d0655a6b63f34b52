"""The published dataset: a hub-ready folder of parquet shards per config and split, with a README.md card.

Each publish writes a complete revision folder beside the others, then swaps a symlink to it in one rename, so a
publish that fails or is killed leaves the previous revision in place and never shows a half-written folder.
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from filters.steps import PROCESS_REASONS, rejected_steps


@dataclass(frozen=True)
class PublishedRevision:
    """Where a publish landed: ``location`` is what ``datasets.load_dataset`` reads."""

    location: str  # a local folder or an fsspec URL (a string: Path would turn s3://b/x into s3:/b/x)
    revision: str
    changed: bool

    @property
    def path(self) -> Path:
        """The local folder of a local publish."""
        if "://" in self.location:
            raise ValueError(f"{self.location} is a URL, not a local folder")
        return Path(self.location)


def split_by_problem(frame: pl.DataFrame, eval_fraction: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, eval) with no problem on both sides; eval gets at least one problem where there are two or more."""
    problems = sorted(frame["problem_id"].unique().to_list(), key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    n_eval = round(len(problems) * eval_fraction)
    if len(problems) >= 2:
        n_eval = min(max(n_eval, 1), len(problems) - 1)
    held_out = set(problems[:n_eval])
    is_eval = pl.col("problem_id").is_in(list(held_out))
    return frame.filter(~is_eval), frame.filter(is_eval)


def content_revision(files: dict[str, pl.DataFrame], card: str) -> str:
    """A revision id that changes exactly when the published rows or the card change."""
    digest = hashlib.sha256(card.encode())
    for path in sorted(files):
        frame = files[path]
        digest.update(f"{path}/{frame.height}".encode())
        if frame.height:
            digest.update(frame.hash_rows(seed=0).sort().to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _size_category(rows: int) -> str:
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


@dataclass(frozen=True)
class Layout:
    """Where every row goes: parquet files by path, and per config the glob of each split's files."""

    files: dict[str, pl.DataFrame]
    configs: dict[str, dict[str, str]]
    features: dict[str, pl.Schema]
    default: str


def layout(
    cot_train: pl.DataFrame, cot_eval: pl.DataFrame, textbook: pl.DataFrame, steps: pl.DataFrame | None = None
) -> Layout:
    """Shards by (domain, level) so configs `cot`, `cot-<domain>` and `cot-level-<n>` share files instead of copies;
    plus `textbook` and `cot-steps` (rejected traces with their first bad step)."""
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
    if not cot_train.height + cot_eval.height + textbook.height:
        raise ValueError("refusing to publish: every config and split is empty")
    return Layout(files, configs, features, "cot" if "cot" in configs else next(iter(configs)))


def _previous_revision(link: Path) -> Path | None:
    """The revision ``link`` points at; where the link is broken or gone, the newest complete revision folder
    beside it (so the changelog's history and the row diff survive a damaged link)."""
    if link.is_dir():
        return link
    store = link.parent / ".revisions" / link.name
    complete = [p for p in store.glob("*") if not p.name.startswith(".") and (p / "CHANGELOG.md").is_file()]
    return max(complete, key=lambda p: p.stat().st_mtime, default=None)


def _previous_ids(link: Path | None) -> set[str]:
    if link is None:
        return set()
    return set(
        pl.concat(
            [pl.read_parquet(p, columns=["id"]) for p in link.glob("data/**/*.parquet")]
            or [pl.DataFrame({"id": []}, schema={"id": pl.String})]
        )["id"]
    )


def changelog(link: Path, revision: str, files: dict[str, pl.DataFrame]) -> str:
    """The previous changelog with a new entry on top: rows added and removed since the last revision."""
    ids = set().union(*(set(frame["id"]) for frame in files.values()))
    last = _previous_revision(link)
    before = _previous_ids(last)
    previous = (last / "CHANGELOG.md").read_text().split("\n", 2)[2] if last is not None else ""
    entry = f"## {revision}\n- rows: {len(ids)} (+{len(ids - before)} added, -{len(before - ids)} removed)\n\n"
    return "# Changelog\n\n" + entry + previous


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


def _revised(path: str, revision: str) -> str:
    """A shard path or pattern with the revision before its extension: ``train-*-<rev>.parquet``."""
    return path.removesuffix(".parquet") + f"-{revision}.parquet"


def publish(root: Path, name: str, data: Layout, card_body: str, license: str = "mit") -> PublishedRevision:
    """Write a new revision of ``name`` under ``root`` and point ``root/name`` at it; unchanged data is a no-op.

    The revision folder is staged under a hidden name and renamed into place, then the ``root/name`` symlink is
    swapped in one rename: a publish that fails or is killed leaves the previous revision as it was.
    """
    rows = sum(frame.height for frame in data.files.values())
    header = {
        "license": license,
        "language": ["en"],
        "size_categories": [_size_category(rows)],
        "task_categories": ["text-generation", "question-answering"],
        "tags": ["synthetic", "reasoning", "chain-of-thought", "math"],
        "pretty_name": name,
    }
    revision = content_revision(data.files, card_yaml(data.configs, data.features, data.default, header) + card_body)
    # The revision goes into every shard's name and every config's pattern: `datasets` keys its cache of a local
    # folder by the config's patterns, not the files' contents, so the same patterns would serve the previous
    # revision's cached rows after a republish.
    configs = {c: {split: _revised(p, revision) for split, p in splits.items()} for c, splits in data.configs.items()}
    card = card_yaml(configs, data.features, data.default, header) + card_body
    with publish_lock(root, name):
        return _write_revision(root, name, data, card, configs, revision)


@contextmanager
def publish_lock(root: Path, name: str) -> Iterator[None]:
    """One publish of ``name`` under ``root`` at a time, across processes (an exclusive ``flock``): two runs that
    publish together take turns instead of deleting each other's staging folders."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_revision(
    root: Path, name: str, data: Layout, card: str, configs: dict[str, dict[str, str]], revision: str
) -> PublishedRevision:
    link = root / name
    store = root / ".revisions" / name
    final = store / revision
    if link.is_symlink() and link.resolve() == final.resolve() and final.is_dir():
        return PublishedRevision(str(link), revision, changed=False)
    store.mkdir(parents=True, exist_ok=True)
    for stale in store.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a publish that was killed
    staging = store / f".staging-{revision}-{uuid.uuid4().hex[:8]}"
    try:
        for path, frame in data.files.items():
            shard = staging / _revised(path, revision)
            shard.parent.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(shard)
        (staging / "README.md").write_text(card)
        (staging / "CHANGELOG.md").write_text(changelog(link, revision, data.files))
        if "cot" in configs and "eval" in configs["cot"]:
            (staging / "lm_eval").mkdir()
            task = lm_eval_task(name, str(link.absolute()), configs["cot"]["eval"])
            (staging / "lm_eval" / f"{name}_eval.yaml").write_text(task)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        temp_link = root / f".{name}.link-{uuid.uuid4().hex[:8]}"
        temp_link.symlink_to(final.relative_to(root))
        os.replace(temp_link, link)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return PublishedRevision(str(link), revision, changed=True)


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


def publish_to_url(url: str, name: str, data: Layout, card_body: str, license: str = "mit") -> PublishedRevision:
    """Publish to any fsspec URL (s3://, gs://, memory://...): each revision goes to ``{url}/{name}/{revision}/`` in
    full, then ``{url}/{name}/LATEST`` is rewritten to name it, so readers never see a half-written revision.

    The current remote revision is mirrored locally first, so unchanged data is a no-op and the changelog is right.
    """
    import fsspec

    fs, base = fsspec.core.url_to_fs(f"{url.rstrip('/')}/{name}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if fs.exists(f"{base}/LATEST"):
            current = fs.cat(f"{base}/LATEST").decode().strip()
            mirror = root / ".revisions" / name / current
            fs.get(f"{base}/{current}/", str(mirror), recursive=True)
            (root / name).symlink_to(mirror.relative_to(root))
        local = publish(root, name, data, card_body, license)
        remote = f"{url.rstrip('/')}/{name}/{local.revision}"
        if local.changed:
            fs.put(str(local.path.resolve()) + "/", f"{base}/{local.revision}", recursive=True)
            fs.pipe(f"{base}/LATEST", local.revision.encode())
    return PublishedRevision(remote, local.revision, local.changed)


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


STEP_SCHEMA = {
    "id": pl.String, "domain": pl.String, "problem": pl.String, "steps": pl.List(pl.String),
    "step_labels": pl.List(pl.Boolean), "first_bad_step": pl.Int64, "reason_code": pl.String, "reason": pl.String,
    "batch": pl.String,
}  # fmt: skip


def steps_rows(rejections: pl.DataFrame) -> pl.DataFrame:
    """The `cot-steps` config: traces with the right answer that the reasoning checks rejected, split into steps,
    each labelled (True: checked and sound, False: the first bad step, None: nothing checkable) for training a
    process reward model."""
    rows = []
    rejected = rejections.filter(
        (pl.col("stage") == "verified") & pl.col("reason").str.contains(f"^(?:{'|'.join(PROCESS_REASONS)})")
    )
    for row in rejected.iter_rows(named=True):
        check = rejected_steps(row["problem"] or "", row["text"] or "", row["reason"])
        rows.append(
            {
                "id": row["id"],
                "domain": row.get("domain"),
                "problem": row["problem"],
                "steps": check.steps,
                "step_labels": check.labels,
                "first_bad_step": check.first_bad_step,
                "reason_code": row["reason"].split(":")[0],
                "reason": row["reason"],
                "batch": row.get("batch"),
            }
        )
    return pl.DataFrame(rows, schema=STEP_SCHEMA)


def _table(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_none_\n"
    columns = frame.columns
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines) + "\n"


def reasoning_report(cot: pl.DataFrame, rejections: pl.DataFrame) -> pl.DataFrame:
    """Per domain: traces with the right answer, how many of those each reasoning check rejected, and how many
    published."""
    verified = rejections.filter(pl.col("stage") == "verified").with_columns(
        pl.col("reason").str.split(":").list.first().alias("code")
    )
    codes = [*PROCESS_REASONS, "answer_at_chance_level", "over_per_problem_limit"]
    per_code = (
        verified.filter(pl.col("code").is_in(codes))
        .group_by("domain", "code")
        .len("rows")
        .pivot(on="code", index="domain", values="rows")
    )
    published = cot.group_by("domain").len("published") if cot.height else pl.DataFrame(schema={"domain": pl.String})
    report = published.join(per_code, on="domain", how="full", coalesce=True).fill_null(0)
    for code in codes:
        if code not in report.columns:
            report = report.with_columns(pl.lit(0, dtype=pl.UInt32).alias(code))
    if "published" not in report.columns:
        report = report.with_columns(pl.lit(0, dtype=pl.UInt32).alias("published"))
    right = sum(pl.col(c) for c in [*codes, "published"])
    return report.select(
        "domain",
        right.alias("right_answer"),
        *(pl.col(c).alias(f"rejected_{c}") for c in [*PROCESS_REASONS, "answer_at_chance_level"]),
        pl.col("over_per_problem_limit"),
        "published",
    ).sort("domain")


def render_card(
    name: str,
    data: Layout,
    cot: pl.DataFrame,
    textbook: pl.DataFrame,
    rejections: pl.DataFrame,
    audit: dict | None = None,
    stages: list[dict] | None = None,
    decontamination: dict | None = None,
    notes: list[str] | None = None,
) -> str:
    """The card's markdown body: counts, configs, drop reasons, decontamination, reasoning checks, models,
    difficulty and lineage; ``notes`` are said first (an empty config, a disabled check)."""
    counts = pl.DataFrame(
        [{"config": c, "split": s, "files": p} for c, splits in data.configs.items() for s, p in splits.items()]
    )
    drops = (
        rejections.group_by("stage", "reason")
        .len("rows")
        .sort(["stage", "rows", "reason"], descending=[False, True, False])
    )
    contamination = (
        rejections.filter(pl.col("reason").str.starts_with("contaminated:"))
        .with_columns(pl.col("reason").str.split(":").list.get(1).alias("benchmark"))
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
    said = "".join(f"> **Note:** {note}\n\n" for note in notes or [])
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
`verified == true`: each stated calculation holds, the answer is derived by a step, the facts of a procedural family
agree with its solver, and small answer spaces are answered above chance), and textbook-style passages (config
`textbook`). Traces are graded by a student model's pass rate into difficulty levels 1 (easy) to 5 (hard);
`curriculum_rank` orders them from easy to hard. The `eval` split holds problems that never appear in `train`.
Configs `cot-<domain>` and `cot-level-<n>` are slices of `cot` that share its files. Config `cot-steps` holds traces
with the right answer whose reasoning was rejected, split into steps with the first bad step labelled.

## Rows
- CoT: {cot.height} rows over {cot["problem_id"].n_unique() if cot.height else 0} problems
- textbook passages: {textbook.height}

{_table(counts)}
## Batches
Each refresh adds a batch, deduplicated against every earlier batch; this revision holds them all:

{_table(batches)}
## Rows per stage (latest batch)
{_table(pl.DataFrame(stages or [], schema={"stage": pl.String, "rows_in": pl.Int64, "rows_out": pl.Int64}))}
## Dropped rows per stage
{_table(drops)}
## Decontamination report
Decontamination: {decontamination.get("status", "on")}. Benchmarks checked (latest batch), and rows removed in all
batches:

{_table(benchmark_hits)}
Examples of removed rows:

{_table(contamination)}
## Reasoning checks
A right final answer is not enough: per domain, the traces with the right answer, how many of those each reasoning
check rejected, and how many were published (`over_per_problem_limit`: right and sound, beyond the per-problem
cap):

{_table(reasoning_report(cot, rejections))}
## Verifier audit
Rows with a gold answer are decided by math-verify; rows without one by a majority vote over the problem's samples.
On rows that have gold, the majority vote was also computed and compared with the gold check:

{_table(pl.DataFrame([{"measure": k, "value": str(v)} for k, v in (audit or {}).items()]))}
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


def push_to_hub(folder: Path, repo_id: str, revision: str, token: str | None, endpoint: str | None) -> bool:
    """Upload a published revision as one commit and tag it; False (nothing sent) where that tag is already there."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=True)
    tag = f"rev-{revision}"
    if any(ref.name == tag for ref in api.list_repo_refs(repo_id, repo_type="dataset").tags):
        return False
    head = (folder / "CHANGELOG.md").read_text().split("\n")[4] if (folder / "CHANGELOG.md").is_file() else ""
    api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(folder.resolve()),
        ignore_patterns=["lm_eval/*"],
        commit_message=f"Publish revision {revision}",
        commit_description=head,
    )
    api.create_tag(repo_id, repo_type="dataset", tag=tag)
    return True
