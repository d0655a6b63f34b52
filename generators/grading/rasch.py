"""Difficulty from pass rates: one student's pass rate or a Rasch fit over several, levels 1 (easy) to 5 (hard), and
the curriculum order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

# A level is the first whose lower pass-rate bound the problem reaches: pass rate >= 0.8 is level 1, < 0.2 level 5.
DEFAULT_THRESHOLDS: tuple[float, float, float, float] = (0.8, 0.6, 0.4, 0.2)


def level_for(pass_rate: float, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> int:
    """Difficulty level 1-5 from a pass rate; higher pass rate never gives a higher level."""
    for level, bound in enumerate(thresholds, start=1):
        if pass_rate >= bound:
            return level
    return len(thresholds) + 1


def fit_rasch(
    correct: np.ndarray, trials: np.ndarray, steps: int = 2000, l2: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """A 1PL item-response fit: P(student s solves item i) = sigmoid(ability_s - difficulty_i).

    ``correct`` and ``trials`` are (students, items) counts. Maximizes the binomial log-likelihood by gradient ascent
    with a small L2 penalty (so items everyone or no one solves stay finite); abilities are centred on zero.
    """
    students, items = correct.shape
    ability, difficulty = np.zeros(students), np.zeros(items)
    rate = 1.0 / max(1.0, float(trials.max()))
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(ability[:, None] - difficulty[None, :])))
        residual = correct - trials * p
        ability += rate * (residual.sum(axis=1) - l2 * ability)
        difficulty += rate * (-residual.sum(axis=0) - l2 * difficulty)
        shift = ability.mean()
        ability -= shift
        difficulty -= shift
    return ability, difficulty


def combine_students(rates: Sequence[pl.DataFrame]) -> tuple[pl.DataFrame, dict[str, float]]:
    """One row per problem from one or more students' pass rates: ``student_pass_rate`` (pooled over students) and
    ``difficulty`` (1 - pass rate for one student; the Rasch item difficulty for several). Also the abilities."""
    pooled = (
        pl.concat(rates)
        .group_by("problem_id", maintain_order=True)
        .agg(
            pl.col("student_correct").sum(),
            pl.col("student_samples").sum(),
            pl.col("student_model").unique().sort().str.join(",").alias("student_model"),
            pl.col("student_sampling").first(),
        )
        .with_columns((pl.col("student_correct") / pl.col("student_samples")).alias("student_pass_rate"))
        .with_columns((pl.col("student_correct") > 0).alias("student_pass_at_k"))
    )
    if len(rates) == 1:
        return pooled.with_columns((1.0 - pl.col("student_pass_rate")).alias("difficulty")), {}
    problems = pooled["problem_id"].to_list()

    def matrix(column: str) -> np.ndarray:
        """(students, problems) counts, zero where a student did not see a problem."""
        aligned = [
            r.join(pooled.select("problem_id"), on="problem_id", how="right")[column].fill_null(0) for r in rates
        ]
        return np.array([a.to_numpy() for a in aligned], dtype=float)

    correct, trials = matrix("student_correct"), matrix("student_samples")
    ability, item_difficulty = fit_rasch(correct, trials)
    abilities = {r["student_model"][0]: round(float(a), 3) for r, a in zip(rates, ability, strict=True)}
    return pooled.join(
        pl.DataFrame({"problem_id": problems, "difficulty": item_difficulty}), on="problem_id"
    ), abilities


def assign_levels(difficulty: pl.Series, pass_rate: pl.Series, mode: str, thresholds: Sequence[float]) -> pl.Series:
    """Levels 1-5: by pass-rate ``thresholds``, or by ``quantiles`` of the difficulty score (equal-sized bins)."""
    if mode == "thresholds":
        return pass_rate.map_elements(lambda r: level_for(r, thresholds), return_dtype=pl.Int64).alias("level")
    if mode != "quantiles":
        raise ValueError(f"level mode must be 'thresholds' or 'quantiles', got {mode!r}")
    ranks = difficulty.rank("average") / max(1, len(difficulty))
    return (ranks * 5).ceil().clip(1, 5).cast(pl.Int64).alias("level")


def grade(
    frame: pl.DataFrame,
    problems: pl.DataFrame,
    mode: str = "thresholds",
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> pl.DataFrame:
    """Join per-problem grades onto rows; add ``level`` and ``curriculum_rank`` (easy first)."""
    problems = problems.with_columns(
        assign_levels(problems["difficulty"], problems["student_pass_rate"], mode, thresholds)
    )
    graded = frame.join(problems, on="problem_id", how="left")
    order = graded.sort(["difficulty", "problem_id", "id"]).with_row_index("curriculum_rank")
    return order.with_columns(pl.col("curriculum_rank").cast(pl.Int64))
