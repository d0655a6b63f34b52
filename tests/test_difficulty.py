import itertools

import numpy as np
import polars as pl
import pytest

from generators.grading.rasch import DEFAULT_THRESHOLDS, assign_levels, combine_students, fit_rasch, grade, level_for


@pytest.mark.parametrize(
    ("rate", "level"), [(1.0, 1), (0.8, 1), (0.79, 2), (0.6, 2), (0.5, 3), (0.25, 4), (0.2, 4), (0.1, 5), (0.0, 5)]
)
def test_level_for_pass_rate(rate: float, level: int) -> None:
    assert level_for(rate) == level


@pytest.mark.parametrize("mode", ["thresholds", "quantiles"])
def test_levels_are_monotone_in_pass_rate(mode: str) -> None:
    rates = pl.Series(np.linspace(0, 1, 41))
    levels = assign_levels(1 - rates, rates, mode, DEFAULT_THRESHOLDS).to_list()
    assert all(a >= b for a, b in itertools.pairwise(levels))  # higher pass rate, never a higher level
    assert set(levels) == {1, 2, 3, 4, 5}
    if mode == "quantiles":
        assert max(levels.count(n) for n in range(1, 6)) - min(levels.count(n) for n in range(1, 6)) <= 1


def test_rasch_fit_recovers_the_order_of_items_and_students() -> None:
    rng = np.random.default_rng(0)
    ability, difficulty = np.array([-1.0, 0.0, 1.5]), np.linspace(-2, 2, 12)
    trials = np.full((3, 12), 40.0)
    p = 1 / (1 + np.exp(-(ability[:, None] - difficulty[None, :])))
    correct = rng.binomial(40, p).astype(float)
    fitted_ability, fitted_difficulty = fit_rasch(correct, trials)
    assert list(np.argsort(fitted_ability)) == [0, 1, 2]
    assert np.corrcoef(fitted_difficulty, difficulty)[0, 1] > 0.95


def rates(model: str, correct: list[int], k: int = 4) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "problem_id": [f"p{i}" for i in range(len(correct))],
            "student_correct": correct,
            "student_samples": [k] * len(correct),
            "student_model": [model] * len(correct),
            "student_sampling": ["{}"] * len(correct),
        }
    )


def test_several_students_combine_into_irt_difficulty_and_a_curriculum() -> None:
    problems, abilities = combine_students([rates("weak", [4, 2, 0, 0]), rates("strong", [4, 4, 3, 1])])
    assert abilities["strong"] > abilities["weak"]
    by_problem = dict(zip(problems["problem_id"], problems["difficulty"], strict=True))
    assert by_problem["p0"] < by_problem["p1"] < by_problem["p2"] < by_problem["p3"]
    rows = pl.DataFrame({"id": ["a", "b", "c", "d"], "problem_id": ["p3", "p0", "p2", "p1"]})
    graded = grade(rows, problems)
    assert graded["problem_id"].to_list() == ["p0", "p1", "p2", "p3"]
    assert graded["curriculum_rank"].to_list() == [0, 1, 2, 3]
    assert graded["level"].to_list() == sorted(graded["level"].to_list())


def test_one_student_difficulty_is_one_minus_pass_rate() -> None:
    problems, abilities = combine_students([rates("only", [4, 1])])
    assert abilities == {} and problems["difficulty"].to_list() == [0.0, 0.75]
