"""Verification of final answers and difficulty grading by a student model."""

import time
from collections.abc import Iterator
from typing import Any, ClassVar, Literal, cast

import dagster as dg
import polars as pl
from pydantic import Field, field_validator

from assets.batches import BATCHES
from assets.generation import SamplingConfig
from assets.metadata import (
    bar_chart,
    counts_by,
    filter_outputs,
    generation_metadata,
    progress_logger,
    report_out,
    scratch_folder,
    stage_asset,
    stage_report,
)
from assets.resources import ModelResource, PrmResource
from assets.run_config import config_of, validate_run_config
from assets.stages import GPU_REQUEST, MODEL_STEP, STUDENT_POOL
from filters.stream import decided, stream
from filters.verify import CHECKS_VERSION, ReasoningChecks, StepJudge, VerifyTraces
from generators.grading.rasch import DEFAULT_THRESHOLDS, grade
from generators.grading.students import grade_by_students
from generators.tasks.judge import judge_first_wrong_steps
from generators.tasks.rollouts import rollout_first_wrong_steps
from generators.teachers.backend import GenerationStats, SamplingParams

STEP_JUDGES = ("critic", "prm", "rollouts")


@config_of("verified")
class VerifyConfig(dg.Config):
    """Answer verification, and the reasoning checks a right answer must also pass: calculations and derivation
    (``process_checks``), family facts (``family_checks``), and for small answer spaces (yes/no, A-D) agreement with
    the gold above chance at one-sided level ``chance_alpha`` (null turns the gate off). ``step_judges`` also asks
    judges for each standing trace's first wrong step, combined by ``judge_rule`` (``any``: the earliest step any
    names; ``consensus``: kept only where all find none, rejected where they disagree): ``critic`` (a capable chat
    model, $JUDGE_BASE_URLS and $JUDGE_MODEL), ``prm`` (a process reward model behind vLLM's pooling runner,
    $PRM_BASE_URLS and $PRM_MODEL; a step scored below ``prm_threshold`` is wrong) and ``rollouts`` (the teacher
    completes the trace ``rollouts`` times from each step; a step none of them recovers from is wrong)."""

    max_traces_per_problem: int = Field(4, ge=1)
    workers: int = Field(2, ge=1)
    min_agreement: float = Field(0.5, gt=0.0, le=1.0)
    process_checks: bool = True
    family_checks: bool = True
    chance_alpha: float | None = Field(0.05, gt=0.0, lt=1.0)
    step_judges: list[str] = []  # any of STEP_JUDGES
    judge_rule: Literal["any", "consensus"] = "any"
    step_judge_max_tokens: int = Field(1024, ge=16)
    prm_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    rollouts: int = Field(8, ge=1, le=64)
    rollout_max_tokens: int = Field(512, ge=16)
    rollout_temperature: float = Field(0.7, gt=0.0, le=2.0)

    @field_validator("step_judges")
    @classmethod
    def _known_judges(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in STEP_JUDGES]
        if unknown or len(set(value)) < len(value):
            raise ValueError(f"step_judges {value}: each at most once, of {', '.join(STEP_JUDGES)}")
        return value


def step_judges(
    config: VerifyConfig, judge: ModelResource, prm: PrmResource, teacher: ModelResource
) -> tuple[tuple[StepJudge, ...], list[GenerationStats]]:
    """The configured step judges, each endpoint checked before any request; and the list their model calls' accounts
    are added to."""
    judges, spent = [], []
    if "critic" in config.step_judges:
        endpoint = judge.settings()
        if endpoint.embedded or not endpoint.chat:
            raise ValueError(
                "the critic step judge needs a capable chat model: set $JUDGE_BASE_URLS and $JUDGE_MODEL (the "
                "embedded 270M base model cannot judge steps)"
            )
        critic, critic_params = (
            judge.backend(),
            SamplingParams(temperature=0.0, max_tokens=config.step_judge_max_tokens),
        )

        def by_critic(problems: list[str], steps: list[list[str]], *_: list[str]) -> list[int | None]:
            verdicts, stats = judge_first_wrong_steps(problems, steps, critic, critic_params)
            spent.append(stats)
            return verdicts

        judges.append(StepJudge("judge", by_critic))
    if "prm" in config.step_judges:
        client = prm.client()
        judges.append(StepJudge("prm", lambda problems, steps, *_: client.first_wrong_steps(
            problems, steps, config.prm_threshold)))  # fmt: skip
    if "rollouts" in config.step_judges:
        writer = teacher.backend()
        rollout_params = SamplingParams(temperature=config.rollout_temperature, max_tokens=config.rollout_max_tokens)

        def by_rollouts(
            problems: list[str], steps: list[list[str]], answers: list[str], domains: list[str]
        ) -> list[int | None]:
            verdicts, stats = rollout_first_wrong_steps(problems, steps, answers, writer, rollout_params,
                                                        config.rollouts, domains)  # fmt: skip
            spent.append(stats)
            return verdicts

        judges.append(StepJudge("rollout", by_rollouts))
    return tuple(judges), spent


@stage_asset("verified")
def verified(
    context: dg.AssetExecutionContext,
    config: VerifyConfig,
    judge: ModelResource,
    prm: PrmResource,
    teacher: ModelResource,
    reasoning_filtered: pl.LazyFrame,
):
    """Final answers checked with math-verify in worker processes; then each right answer's calculations, derivation
    and family facts are checked, small answer spaces must be answered above chance, and (optionally) step judges
    name the first wrong step."""
    started = time.monotonic()
    if config.step_judges:
        validate_run_config(context)
    judges, judge_stats = step_judges(config, judge, prm, teacher)
    checks = ReasoningChecks(
        config.process_checks, config.family_checks, config.chance_alpha, judges, config.judge_rule
    )
    verifier = VerifyTraces(config.workers, config.max_traces_per_problem, config.min_agreement, checks)
    with scratch_folder("verified") as scratch:
        # decided over the columns the checks read (not the thinking), written a chunk of whole rows at a time
        result = stream(reasoning_filtered, decided(reasoning_filtered, [verifier]), scratch)
        audit = dict(verifier.audit)
        reasoning = cast(dict[str, Any], audit.pop("reasoning"))  # the reasoning checks' report, a JSON object
        for line in reasoning["chance_gate"]["cannot_pass"]:
            context.log.warning(f"chance gate: {line}")
        cot = result.kept.filter(pl.col("kind") == "cot").select("problem_id", "extraction", "verifier").collect()
        yield from filter_outputs(
            "verified", result, started,
            ("problem", "answer", "extracted_answer", "text"),
            verified_cot_rows=cot.height,
            problems_with_a_verified_trace=cot["problem_id"].n_unique(),
            per_extraction=counts_by(cot, "extraction"),
            per_verifier=counts_by(cot, "verifier"),
            verifier_audit=dg.MetadataValue.json(audit),
            reasoning_checks=dg.MetadataValue.json(reasoning),
            right_answers_rejected_for_reasoning=sum(reasoning["rejected_by_reasoning"].values()),
            checks_version=CHECKS_VERSION,
            **({f"judge_{k}": v for k, v in generation_metadata(GenerationStats.merged(judge_stats)).items()}
               if judge_stats else {}),
        )  # fmt: skip


@config_of("difficulty_graded")
class DifficultyConfig(SamplingConfig):
    """The student's sampling (k ``samples`` a problem), the students, and how pass rates become levels."""

    samples: int = Field(4, ge=1, le=256)
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    EMBEDDED_MAX_TOKENS: ClassVar[int] = 200
    seed: int = 1_000
    extra_student_models: list[str] = []
    level_mode: Literal["thresholds", "quantiles"] = "thresholds"
    thresholds: list[float] = Field(default_factory=lambda: list(DEFAULT_THRESHOLDS), min_length=4, max_length=4)

    @field_validator("thresholds")
    @classmethod
    def _ascending_pass_rates(cls, value: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in value) or value != sorted(value, reverse=True):
            raise ValueError(f"thresholds {value}: four pass rates in (0, 1), highest first")
        return value


GRADED = "Per problem, students' pass rates over k samples, a level 1-5 and a curriculum rank (easy first)."


@dg.multi_asset(
    outs={
        "difficulty_graded": dg.AssetOut(group_name="grading", kinds={"polars"}, description=GRADED),
        "difficulty_graded_report": report_out("difficulty_graded"),
    },
    op_tags={**MODEL_STEP, **GPU_REQUEST},
    pool=STUDENT_POOL,
    partitions_def=BATCHES,
)
def difficulty_graded(
    context: dg.AssetExecutionContext, config: DifficultyConfig, student: ModelResource, verified: pl.DataFrame
) -> Iterator[dg.Output]:
    """Per problem, students' pass rates over k samples (a Rasch fit with several students), a level 1-5 and a
    curriculum rank (easy first), and the stage's report. Extra students are other models served at the student
    endpoint."""
    validate_run_config(context)
    if config.extra_student_models and student.settings().embedded:
        raise ValueError(
            f"extra_student_models {config.extra_student_models}: the embedded server serves one model under any "
            "name, so each extra student would be the same model again; point the student at an endpoint that serves "
            "them ($STUDENT_BASE_URLS)"
        )
    cot = verified.filter(pl.col("kind") == "cot")
    params = config.params(student.settings())
    base = student.backend()
    problems, abilities, stats = grade_by_students(
        cot, base, [base.model, *config.extra_student_models], config.samples, params, config.max_failure_fraction,
        progress_logger(context),
    )  # fmt: skip
    graded = pl.concat(
        [grade(cot, problems, config.level_mode, config.thresholds), verified.filter(pl.col("kind") != "cot")],
        how="diagonal_relaxed",
    )
    histogram = graded.filter(pl.col("kind") == "cot").group_by("level").len("rows").sort("level")
    metadata: dict[str, Any] = {
        "rows_in": verified.height,
        "rows": graded.height,
        "problems": problems.height,
        "student_models": ", ".join([base.model, *config.extra_student_models]),
        "student_abilities": dg.MetadataValue.json(abilities),
        "difficulty_histogram": dg.MetadataValue.md(
            bar_chart(
                "CoT rows per difficulty level",
                {str(lv): int(histogram.filter(pl.col("level") == lv)["rows"].sum()) for lv in range(1, 6)},
                "level",
                "rows",
            )
        ),
        **generation_metadata(stats),
    }
    yield dg.Output(graded, output_name="difficulty_graded", metadata=metadata)
    yield dg.Output(stage_report("difficulty_graded", metadata), output_name="difficulty_graded_report")
