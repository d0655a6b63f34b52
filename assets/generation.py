"""Teacher generation: chain-of-thought traces and textbook passages."""

from typing import ClassVar

import dagster as dg
import polars as pl
from pydantic import Field

from assets.batches import BATCHES, batch_seed
from assets.metadata import counts_by, generation_outputs, markdown_table, progress_logger, samples, stage_asset
from assets.resources import EndpointSettings, ModelResource
from assets.run_config import config_of, validate_run_config
from filters.verify import small_answer_spaces, would_verify
from generators.tasks.cot import CotTask, Shots
from generators.tasks.evolve import EVOLUTIONS, evolve_problems
from generators.tasks.targets import SamplingReport, Target, sample_to_target
from generators.tasks.textbook import TextbookTask, load_topics, sample_topics
from generators.teachers.backend import SamplingParams


class SamplingConfig(dg.Config):
    """Sampling of a model step. ``max_tokens`` unset: the endpoint's budget ($TEACHER_MAX_TOKENS /
    $STUDENT_MAX_TOKENS, else its profile's: thousands for a remote model, which may reason at length; the step's own
    small default for the embedded 270M model)."""

    EMBEDDED_MAX_TOKENS: ClassVar[int] = 256
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    seed: int = 0
    max_failure_fraction: float = Field(0.1, ge=0.0, le=1.0)

    def params(self, endpoint: EndpointSettings) -> SamplingParams:
        budget = self.max_tokens or endpoint.max_tokens or self.EMBEDDED_MAX_TOKENS
        return SamplingParams(self.temperature, self.top_p, budget, (), self.seed)


@config_of("evolved_problems")
class EvolvedProblemsConfig(SamplingConfig):
    """How many teacher-evolved problems to make, how many independent solutions each gets, and the agreement a
    majority needs for the problem to be kept."""

    count: int = Field(2, ge=0)
    solve_samples: int = Field(3, ge=1)
    min_agreement: float = Field(0.6, gt=0.0, le=1.0)
    evolutions: list[str] = list(EVOLUTIONS)
    EMBEDDED_MAX_TOKENS: ClassVar[int] = 200


def before_the_teacher(context: dg.AssetExecutionContext, student: ModelResource) -> None:
    """What a teacher step checks before its first request: the whole run's config, and where the run goes on to
    grade with the student, that the student answers (one that was down was found after all the teacher's requests)."""
    validate_run_config(context)
    if dg.AssetKey("difficulty_graded") in context.job_def.asset_layer.selected_asset_keys:  # what this run makes
        student.check_reachable()


@stage_asset("evolved_problems")
def evolved_problems(
    context: dg.AssetExecutionContext,
    config: EvolvedProblemsConfig,
    teacher: ModelResource,
    student: ModelResource,
    seed_problems: pl.DataFrame,
    synthetic_problems: pl.DataFrame,
):
    """Problems the teacher evolves from seeds (harder, an added constraint, a new context), kept only where a
    majority of its independent solutions agree; no gold answer, so verification decides by majority vote."""
    before_the_teacher(context, student)
    seeds = pl.concat([seed_problems, synthetic_problems])
    output = evolve_problems(
        seeds, teacher.backend(), config.count, config.solve_samples, config.params(teacher.settings()),
        config.min_agreement, tuple(config.evolutions), progress=progress_logger(context),
    )  # fmt: skip
    problems = output.rows
    yield from generation_outputs(
        "evolved_problems", output, config.max_failure_fraction,
        rows_in=config.count,
        per_evolution=counts_by(problems, "source"),
        samples=samples(problems, ("source", "problem")),
    )  # fmt: skip


@config_of("cot_traces")
class CotTracesConfig(SamplingConfig):
    """``samples_per_problem`` samples of each problem; or, with ``target_rows`` (verified CoT rows for the batch)
    or ``per_problem`` (verified traces a problem), rounds of that many samples until the target or the budget
    (``max_samples_per_problem``, ``max_requests``, ``max_rounds``); see ``generators.tasks.targets``. ``shots``
    "siblings" shows a base model, for each arithmetic story problem, three others of its kind worked out step by
    step instead of the domain's fixed examples (about 6 times the sound traces from the embedded 270M teacher)."""

    samples_per_problem: int = Field(4, ge=1, le=256)
    shots: Shots = "domain"
    target_rows: int | None = Field(None, ge=1)
    per_problem: int | None = Field(None, ge=1)
    max_samples_per_problem: int = Field(16, ge=1, le=4096)
    max_requests: int | None = Field(None, ge=1)
    max_rounds: int = Field(8, ge=1, le=1000)

    def target(self) -> Target | None:
        """The target to sample to; None where the config asks for a fixed number of samples."""
        if self.target_rows is None and self.per_problem is None:
            return None
        return Target(
            self.target_rows, self.per_problem, self.samples_per_problem,
            max(self.max_samples_per_problem, self.samples_per_problem), self.max_requests, self.max_rounds,
        )  # fmt: skip


@config_of("textbook_topics")
class TextbookTopicsConfig(dg.Config):
    """``seed`` None: derived from the batch key, so each batch draws other topics."""

    count: int = Field(3, ge=0)
    seed: int | None = None
    taxonomy_path: str | None = None


@config_of("textbook_passages")
class TextbookPassagesConfig(SamplingConfig):
    EMBEDDED_MAX_TOKENS: ClassVar[int] = 320


def sampling_metadata(report: SamplingReport) -> dict[str, object]:
    """What sampling to a target reports: the summary, whether the target was met, and the rounds and yield per domain
    as tables."""
    return {
        "sampling": report.summary(),
        "target_met": report.target_met if report.target_met is not None else "no target",
        "verified_in_sampling": report.verified,
        "problems_stopped_at_k": report.stopped_at_k,
        "problems_given_up": report.given_up,
        "rounds": dg.MetadataValue.md(markdown_table(report.rounds)),
        "yield_per_domain": dg.MetadataValue.json(report.by_domain),
    }


@stage_asset("cot_traces")
def cot_traces(
    context: dg.AssetExecutionContext,
    config: CotTracesConfig,
    teacher: ModelResource,
    student: ModelResource,
    seed_problems: pl.DataFrame,
    synthetic_problems: pl.DataFrame,
    evolved_problems: pl.DataFrame,
):
    """Chain-of-thought samples from the teacher (few-shot completion for base models, else chat): n per problem, or
    rounds of them until the batch has the verified rows it asks for (``target_rows``, ``per_problem``)."""
    before_the_teacher(context, student)
    problems = pl.concat([seed_problems, synthetic_problems, evolved_problems])
    backend = teacher.backend()
    params = config.params(teacher.settings())
    task = CotTask(backend, params, config.samples_per_problem, config.shots)
    target = config.target()
    sampling: dict[str, object] = {}
    if target is None:
        output = task.run(problems, progress_logger(context))
    else:
        output, report = sample_to_target(
            task, problems, target, would_verify, small_answer_spaces(problems), progress_logger(context),
            lambda line: context.log.info(
                f"round {line['round']}: {line['problems']} problems, {line['requests']} requests; "
                f"{line['verified']} verified rows so far of {target.rows or 'no total target'}"
            ),
        )  # fmt: skip
        (context.log.info if report.target_met is not False else context.log.warning)(report.summary())
        sampling = sampling_metadata(report)
    traces = output.rows
    yield from generation_outputs(
        "cot_traces", output, config.max_failure_fraction,
        **sampling,
        problems=problems.height,
        teacher_model=backend.model,
        teacher_backend=backend.backend,
        per_source=counts_by(traces, "source"),
        per_domain=counts_by(traces, "domain"),
        per_reasoning_kind=counts_by(traces, "reasoning_kind"),
        per_template=counts_by(traces, "template"),
        samples=samples(traces, ("problem", "answer", "trace")),
    )  # fmt: skip


@dg.asset(group_name="generation", kinds={"polars"}, partitions_def=BATCHES)
def textbook_topics(context: dg.AssetExecutionContext, config: TextbookTopicsConfig) -> dg.Output[pl.DataFrame]:
    """(subject > topic > subtopic, audience) pairs drawn from the shipped taxonomy or a user's file."""
    seed = batch_seed(context.partition_key) if config.seed is None else config.seed
    frame = sample_topics(load_topics(config.taxonomy_path), config.count, seed)
    return dg.Output(
        frame,
        metadata={
            "rows": frame.height,
            "per_subject": counts_by(frame, "subject"),
            "samples": samples(frame, frame.columns, 5),
        },
    )


@stage_asset("textbook_passages")
def textbook_passages(
    context: dg.AssetExecutionContext,
    config: TextbookPassagesConfig,
    teacher: ModelResource,
    student: ModelResource,
    textbook_topics: pl.DataFrame,
):
    """Textbook-style passages written by the teacher, one per topic and audience."""
    before_the_teacher(context, student)
    backend = teacher.backend()
    output = TextbookTask(backend, config.params(teacher.settings())).run(textbook_topics, progress_logger(context))
    passages = output.rows
    yield from generation_outputs(
        "textbook_passages", output, config.max_failure_fraction,
        teacher_model=backend.model,
        per_audience=counts_by(passages, "audience"),
        per_style=counts_by(passages, "style"),
        samples=samples(passages, ("topic_path", "audience", "text")),
    )  # fmt: skip
