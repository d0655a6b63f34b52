"""Student sampling: k answers per problem from a student model, each checked against the gold answer."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import polars as pl

from filters.schemas import Schema
from filters.verify import verify_many
from generators.grading.rasch import combine_students
from generators.tasks.base import ProblemTask
from generators.teachers.backend import (
    GenerationRequest,
    GenerationResult,
    GenerationStats,
    ModelBackend,
    ProgressFn,
    SamplingParams,
    check_failures,
)


class StudentTask(ProblemTask):
    """``samples`` student answers per problem; a failed request counts as a wrong answer."""

    name = "student_sample"
    inputs = ("problem_id", "domain", "problem", "answer")
    outputs: ClassVar[Schema] = {"problem_id": pl.String, "answer": pl.String, "completion": pl.String}

    def origin(self, row: dict[str, Any], request: GenerationRequest) -> tuple:
        return (row["problem_id"], self.backend.model, self.sampling, request.sample_index)

    def parse(self, row: dict[str, Any], request: GenerationRequest, result: GenerationResult) -> dict:
        return {"problem_id": row["problem_id"], "answer": row["answer"], "completion": result.text or ""}


def student_pass_rates(
    problems: pl.DataFrame,
    student: ModelBackend,
    k: int,
    params: SamplingParams,
    progress: ProgressFn | None = None,
    workers: int = 2,
) -> tuple[pl.DataFrame, GenerationStats]:
    """Per problem (``problem_id``, ``problem``, ``answer``): one student's correct samples out of k."""
    rows = problems.select("problem_id", "domain", "problem", "answer").unique("problem_id", maintain_order=True)
    task = StudentTask(student, params, k)
    out = task.run(rows, progress)
    verdicts = verify_many(out.rows["completion"].to_list(), out.rows["answer"].to_list(), workers=workers)
    correct = (
        out.rows.select("problem_id")
        .with_columns(pl.Series("right", [bool(v) for v in verdicts], dtype=pl.Int64))
        .group_by("problem_id")
        .agg(pl.col("right").sum())
    )
    graded = rows.select("problem_id").join(correct, on="problem_id", how="left", maintain_order="left")
    return graded.select(
        "problem_id",
        pl.col("right").fill_null(0).alias("student_correct"),
        pl.lit(k, dtype=pl.Int64).alias("student_samples"),
        pl.lit(student.model).alias("student_model"),
        pl.lit(task.sampling).alias("student_sampling"),
    ), out.stats


def grade_by_students(
    problems: pl.DataFrame,
    student: ModelBackend,
    models: list[str],
    k: int,
    params: SamplingParams,
    max_failure_fraction: float,
    progress: ProgressFn | None = None,
) -> tuple[pl.DataFrame, dict[str, float], GenerationStats]:
    """Each model served at the student's endpoint samples every problem ``k`` times; returns the per-problem grades
    (pass rates and difficulty: a Rasch fit where there are several students), the abilities and the accounting."""
    rates, totals = [], []
    for model in models:
        backend = student if model == student.model else copy.copy(student)
        backend.model = model
        graded_by, stats = student_pass_rates(problems, backend, k, params, progress)
        check_failures(stats, max_failure_fraction)
        rates.append(graded_by)
        totals.append(stats)
    graded, abilities = combine_students(rates)
    return graded, abilities, GenerationStats.merged(totals)
