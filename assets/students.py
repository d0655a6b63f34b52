"""The student loop: each published revision fine-tunes a student, which is scored against its base model; the
results go into the revision's card and changelog, and the release (the Hub push) waits for the regression gate."""

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import dagster as dg
import fsspec
import polars as pl
import yaml
from pydantic import Field, field_validator

from assets.metadata import latest_metadata, line_chart, markdown_table
from assets.resources import HubResource, StorageResource
from assets.run_config import config_of
from assets.settings import FoundrySettings
from assets.stages import GPU_REQUEST
from filters.schemas import Schema
from generators.publishing.card import lm_eval_task
from generators.publishing.rows import SYSTEM_PROMPT
from generators.publishing.targets import amend_revision, read_parquet_files
from generators.students.evaluation import (
    BENCHMARKS,
    EvalSettings,
    StudentScores,
    benchmark_sample,
    eval_split_problems,
    score_students,
)
from generators.students.history import gate_verdict, read_history, record
from generators.students.sft import SFTResult, SFTSettings, train_student
from generators.teachers.models import hf_model

TRAINING_SCHEMA: Schema = {
    "revision": pl.String, "location": pl.String, "base_model": pl.String, "tuned_model": pl.String,
    "adapter": pl.Boolean, "shipped_student": pl.Boolean, "method": pl.String, "device": pl.String, "rows": pl.Int64,
    "steps": pl.Int64, "tokens": pl.Int64, "wall_s": pl.Float64, "train_loss_before": pl.Float64,
    "train_loss_after": pl.Float64, "losses": pl.List(pl.Float64), "settings_hash": pl.String,
}  # fmt: skip


def published_revision(instance: dg.DagsterInstance) -> tuple[str, str] | None:
    """(location, revision) of the revision the latest publish left current; None where nothing is published."""
    published = latest_metadata(instance, "published_dataset")
    if "revision" not in published or "path" not in published:
        return None
    return str(published["path"]), str(published["revision"])


def shipped_task(location: str) -> dict:
    """The lm-eval task the revision ships (``lm_eval/<name>_eval.yaml``; one built the same way where the revision
    has no eval split and so ships none)."""
    fs, base = fsspec.core.url_to_fs(location)
    found = sorted(fs.glob(f"{base.rstrip('/')}/lm_eval/*_eval.yaml"))
    return yaml.safe_load(fs.cat(found[0]).decode() if found else lm_eval_task("student", location, "none"))


def student_dir(storage: StorageResource) -> Path:
    return Path(storage.data_dir) / "students"


@config_of("student_sft")
class StudentSFTConfig(dg.Config):
    """The student and its training budget (defaults: a few LoRA steps, which a CPU runs in a minute or two)."""

    student_model: str | None = None  # a local Hugging Face folder; default the shipped Gemma 3 270M, converted once
    method: Literal["lora", "full"] = "lora"
    max_steps: int = Field(8, ge=-1)  # -1: `epochs` passes over the train split
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(4, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    learning_rate: float = Field(5e-4, gt=0, le=1)
    max_length: int = Field(512, ge=16)
    lora_rank: int = Field(16, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0

    @field_validator("max_steps")
    @classmethod
    def _steps(cls, value: int) -> int:
        if value == 0:
            raise ValueError("max_steps 0 trains nothing: a positive number of steps, or -1 for `epochs`")
        return value

    @field_validator("student_model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        if value is not None and not (Path(value) / "config.json").is_file():
            raise ValueError(f"student_model {value!r}: not a Hugging Face model folder (no config.json there)")
        return value

    def settings(self) -> SFTSettings:
        return SFTSettings(**self.model_dump(exclude={"student_model"}))


@dg.asset(group_name="students", kinds={"pytorch"}, deps=["published_dataset"], op_tags=GPU_REQUEST)
def student_sft(
    context: dg.AssetExecutionContext, config: StudentSFTConfig, storage: StorageResource
) -> dg.Output[pl.DataFrame]:
    """A student fine-tuned on the current revision's `cot` train split (its `messages`) with TRL's SFTTrainer: LoRA
    by default, on the GPU where there is one. Reused where this revision was trained with the same settings."""
    current = published_revision(context.instance)
    if current is None:
        context.log.warning("no revision is published yet: no student is trained")
        return dg.Output(pl.DataFrame(schema=TRAINING_SCHEMA), metadata={"skipped": "no published revision"})
    location, revision = current
    shipped = config.student_model is None
    base_model = (
        hf_model(Path(storage.data_dir) / "models", context.log.info) if shipped else Path(str(config.student_model))
    )
    settings = config.settings()
    settings_hash = hashlib.sha256(json.dumps([str(base_model), asdict(settings)]).encode()).hexdigest()[:12]
    output_dir = student_dir(storage) / revision / settings_hash
    if (output_dir / "result.json").is_file():
        result = SFTResult(**json.loads((output_dir / "result.json").read_text()))
        context.log.info(f"revision {revision} was trained with these settings already: reusing {result.output_dir}")
    else:
        train = read_parquet_files(location, "data/cot/*/*/train-*.parquet")
        if not train.height:
            raise ValueError(f"{location}: the revision's cot train split is empty: nothing to train the student on")
        result = train_student(train["messages"].to_list(), base_model, output_dir, settings, context.log.info)
    row = {
        **{k: v for k, v in asdict(result).items() if k in TRAINING_SCHEMA},
        "revision": revision, "location": location, "base_model": str(base_model), "tuned_model": result.output_dir,
        "adapter": result.method == "lora", "shipped_student": shipped, "settings_hash": settings_hash,
    }  # fmt: skip
    curve = {"loss per step": list(enumerate(result.losses, 1))}
    return dg.Output(
        pl.DataFrame([row], schema=TRAINING_SCHEMA),
        metadata={
            "revision": revision,
            "student": str(base_model),
            "method": result.method,
            "device": result.device,
            "rows": result.rows,
            "steps": result.steps,
            "tokens": result.tokens,
            "wall_s": result.wall_s,
            "train_loss_before": round(result.train_loss_before, 4),
            "train_loss_after": round(result.train_loss_after, 4),
            "tuned_model": dg.MetadataValue.path(result.output_dir),
            "loss_curve": dg.MetadataValue.md(line_chart("Training loss", curve, "step", "loss")),
        },
    )


@config_of("student_eval")
class StudentEvalConfig(dg.Config):
    """What the students are scored on and how: the eval split's first problems and fixed-seed samples of the shipped
    benchmarks, greedy, with a token budget. The defaults fit a CPU (about 5 s per answer); raise them on a GPU."""

    eval_problems: int = Field(20, ge=0)
    benchmarks: list[str] = Field(default_factory=lambda: list(BENCHMARKS))
    benchmark_sample: int = Field(20, ge=0)
    seed: int = 0
    max_new_tokens: int = Field(192, ge=1)
    batch_size: int = Field(8, ge=1)
    engine: Literal["auto", "hf", "vllm"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(BENCHMARKS))
        if unknown:
            raise ValueError(f"benchmarks {unknown}: unknown; the shipped ones are {sorted(BENCHMARKS)}")
        return value


@dg.asset(group_name="students", kinds={"pytorch"}, op_tags=GPU_REQUEST)
def student_eval(
    context: dg.AssetExecutionContext,
    config: StudentEvalConfig,
    storage: StorageResource,
    student_sft: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """The base student and the fine-tuned one scored with lm-evaluation-harness on the revision's eval split (per
    domain and level) and on fixed samples of GSM8K test and MATH-500: accuracy with a 95% interval and the paired
    difference. The revision's card gets a "Student results" table and its changelog a line; every revision's
    results are kept (``students/history.jsonl``) and plotted."""
    if not student_sft.height:
        context.log.warning("no student was trained: nothing to score")
        return dg.Output(pl.DataFrame(), metadata={"skipped": "no trained student"})
    trained = student_sft.row(0, named=True)
    location, revision = trained["location"], trained["revision"]
    evaluation = read_parquet_files(location, "data/cot/*/*/eval-*.parquet")
    problems = eval_split_problems(evaluation.to_dicts()) if evaluation.height else []
    sets = {"eval_split": problems[: config.eval_problems]}
    for name in config.benchmarks:
        sets[name] = benchmark_sample(name, config.benchmark_sample, config.seed)
    template = shipped_task(location)
    settings = EvalSettings(**config.model_dump(exclude={"eval_problems", "benchmarks"}))
    eval_hash = hashlib.sha256(json.dumps([config.model_dump(), sets], sort_keys=True).encode()).hexdigest()[:12]
    # revisions are compared only under the same student, training and scoring settings
    comparable = hashlib.sha256(json.dumps([trained["settings_hash"], config.model_dump()]).encode()).hexdigest()[:12]
    work = student_dir(storage) / revision / trained["settings_hash"] / f"eval-{eval_hash}"
    started = time.monotonic()
    if (work / "scores.json").is_file():
        scores = StudentScores.from_json((work / "scores.json").read_text())
        context.log.info(f"these students were scored on these sets already: reusing {work / 'scores.json'}")
    else:
        scores = score_students(
            sets, template, Path(trained["base_model"]), Path(trained["tuned_model"]), trained["adapter"], settings,
            SYSTEM_PROMPT, work, context.log.info,
        )  # fmt: skip
        partial = work / "scores.json.partial"
        partial.write_text(scores.to_json())
        partial.replace(work / "scores.json")
    wall = time.monotonic() - started
    rows = [c.row() for c in scores.comparisons]
    frame = pl.DataFrame(
        [
            {**asdict(c), "base_accuracy": c.base_accuracy, "tuned_accuracy": c.tuned_accuracy}
            for c in scores.comparisons
        ]
    ).with_columns(pl.lit(revision).alias("revision"), pl.lit(comparable).alias("settings_hash"))
    headline = scores.overall
    history = record(
        student_dir(storage) / "history.jsonl",
        {
            "revision": revision,
            "settings_hash": comparable,
            "student": trained["base_model"],
            "shipped_student": trained["shipped_student"],
            "steps": trained["steps"],
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base": {name: c.base_accuracy for name, c in headline.items()},
            "tuned": {name: c.tuned_accuracy for name, c in headline.items()},
            "n": {name: c.n for name, c in headline.items()},
        },
    )
    training = (
        f"Student `{Path(trained['base_model']).name}`, {trained['method']} on {trained['device']}: "
        f"{trained['steps']} steps over {trained['rows']} train rows ({trained['tokens']} tokens), train loss "
        f"{trained['train_loss_before']:.3f} -> {trained['train_loss_after']:.3f}. Scored greedily with "
        f"lm-evaluation-harness ({scores.engine}), answers judged by `filters.verify`; [95% intervals]."
    )
    amend_revision(
        location, revision, "Student results", training + "\n\n" + markdown_table(rows),
        "- student: " + ", ".join(
            f"{n} {c.base_accuracy:.3f} -> {c.tuned_accuracy:.3f} (n={c.n})" for n, c in headline.items()
        ),
    )  # fmt: skip
    series = {
        f"{label} {name}": [(e["revision"][:8], e[label][name]) for e in history if name in e.get(label, {})]
        for name in headline
        for label in ("base", "tuned")
    }
    readable = {name: answers[:3] for name, answers in scores.answers.items()}
    return dg.Output(
        frame,
        metadata={
            "revision": revision,
            "engine": scores.engine,
            "wall_s": round(wall, 1),
            "results": dg.MetadataValue.md(markdown_table(rows)),
            **{f"{name}_tuned": round(c.tuned_accuracy, 4) for name, c in headline.items()},
            **{f"{name}_base": round(c.base_accuracy, 4) for name, c in headline.items()},
            "history": dg.MetadataValue.md(
                line_chart("Student accuracy per revision", series, "revision", "accuracy")
            ),
            "answers": dg.MetadataValue.md(
                markdown_table(
                    [
                        {"set": n, "problem": a["problem"], "answer": a["answer"], "tuned": a.get("tuned")}
                        for n, answers in readable.items()
                        for a in answers
                    ],
                    max_cell=300,
                )
            ),
        },
    )


@dg.asset_check(asset=student_eval, blocking=True)
def student_regression_gate(settings: FoundrySettings, student_eval: pl.DataFrame) -> dg.AssetCheckResult:
    """The release gate: the tuned student may not score more than the margin below the previous revision's on the
    fixed benchmark sample ($FOUNDRY_STUDENT_GATE on/off/auto, $FOUNDRY_STUDENT_GATE_MARGIN, _SET). It blocks the
    release. `auto` turns it off for the shipped 270M student, whose benchmark scores are noise (a few percent at
    best, the interval wider than any change)."""
    if not student_eval.height:
        return dg.AssetCheckResult(passed=True, metadata={"gate": "nothing was scored: nothing to release"})
    revision, settings_hash = student_eval["revision"][0], student_eval["settings_hash"][0]
    history = read_history(Path(settings.data_dir) / "students" / "history.jsonl")
    entry = next(e for e in reversed(history) if (e["revision"], e["settings_hash"]) == (revision, settings_hash))
    mode = settings.student_gate
    if mode == "off" or (mode == "auto" and entry["shipped_student"]):
        why = "turned off" if mode == "off" else "off for the shipped 270M student, whose benchmark scores are noise"
        return dg.AssetCheckResult(passed=True, metadata={"gate": why, "mode": mode})
    same_settings = [e for e in history if e["settings_hash"] == settings_hash]
    current = entry["tuned"].get(settings.student_gate_set)
    passed, why = gate_verdict(
        same_settings, revision, settings.student_gate_set, current, settings.student_gate_margin
    )
    return dg.AssetCheckResult(
        passed=passed, metadata={"gate": why, "mode": mode, "margin": settings.student_gate_margin}
    )


@dg.asset(group_name="students", kinds={"huggingface"}, deps=[student_eval])
def released_dataset(
    context: dg.AssetExecutionContext, storage: StorageResource, hub: HubResource
) -> dg.MaterializeResult:
    """The revision that passed the student gate, pushed to the Hugging Face Hub as a tagged revision where a repo is
    configured (with its student results in the card)."""
    current = published_revision(context.instance)
    if current is None:
        return dg.MaterializeResult(metadata={"released": False, "why": "no published revision"})
    location, revision = current
    pushed = hub.push(location, revision) if hub.repo_id else False
    context.log.info(f"revision {revision} released" + (f" to {hub.repo_id}" if pushed else ""))
    return dg.MaterializeResult(
        metadata={
            "released": True,
            "revision": revision,
            "hub_repo": hub.repo_id or "not configured",
            "hub_new_commit": pushed,
        }
    )
