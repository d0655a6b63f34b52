"""Difficulty grading: a student's pass rate over k samples per problem, mapped to levels 1 (easy) to 5 (hard)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

import polars as pl

from filters.verify import verify_many
from generators.prompts import COT_STOP, cot_prompt
from generators.teacher import GenerationRequest, GenerationStats, ProgressFn, SamplingParams, TeacherBackend

# A level is the first whose lower pass-rate bound the problem reaches: pass rate >= 0.8 is level 1, < 0.2 level 5.
DEFAULT_THRESHOLDS: tuple[float, float, float, float] = (0.8, 0.6, 0.4, 0.2)


def level_for(pass_rate: float, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> int:
    """Difficulty level 1-5 from a pass rate; higher pass rate never gives a higher level."""
    for level, bound in enumerate(thresholds, start=1):
        if pass_rate >= bound:
            return level
    return len(thresholds) + 1


def student_pass_rates(
    problems: pl.DataFrame,
    student: TeacherBackend,
    k: int,
    params: SamplingParams,
    progress: ProgressFn | None = None,
    workers: int = 2,
) -> tuple[pl.DataFrame, GenerationStats]:
    """Per problem (``problem_id``, ``problem``, ``answer``): the student's correct samples out of k, and pass@k."""
    if not params.stop and not student.chat:
        params = SamplingParams(params.temperature, params.top_p, params.max_tokens, COT_STOP, params.seed)
    rows = problems.select("problem_id", "problem", "answer").unique("problem_id", maintain_order=True)
    requests, golds = [], []
    for row in rows.iter_rows(named=True):
        rendered = cot_prompt(row["problem"], chat=student.chat)
        for index in range(k):
            requests.append(GenerationRequest(params, rendered.prompt, rendered.messages, sample_index=index))
            golds.append(row["answer"])
    results, stats = student.generate(requests, progress)
    verdicts = verify_many([r.text or "" for r in results], golds, workers=workers)
    correct = [sum(bool(v) for v in verdicts[i * k : (i + 1) * k]) for i in range(rows.height)]
    graded = rows.select("problem_id").with_columns(
        pl.Series("student_correct", correct, dtype=pl.Int64),
        pl.lit(k, dtype=pl.Int64).alias("student_samples"),
        pl.lit(student.model).alias("student_model"),
        pl.lit(json.dumps(asdict(params), sort_keys=True)).alias("student_sampling"),
    )
    graded = graded.with_columns(
        (pl.col("student_correct") / pl.col("student_samples")).alias("student_pass_rate"),
        (pl.col("student_correct") > 0).alias("student_pass_at_k"),
    )
    return graded, stats


def grade(
    frame: pl.DataFrame, pass_rates: pl.DataFrame, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> pl.DataFrame:
    """Join pass rates onto rows; add ``difficulty`` (1 - pass rate), ``level``, ``curriculum_rank`` (easy first)."""
    graded = frame.join(pass_rates, on="problem_id", how="left").with_columns(
        (1.0 - pl.col("student_pass_rate")).alias("difficulty"),
        pl.col("student_pass_rate")
        .map_elements(lambda r: level_for(r, thresholds), return_dtype=pl.Int64)
        .alias("level"),
    )
    order = graded.sort(["difficulty", "problem_id", "id"]).with_row_index("curriculum_rank")
    return order.with_columns(pl.col("curriculum_rank").cast(pl.Int64))
