import json
import re

import pytest
import sympy

from filters.answers import extract_answer
from filters.steps import find_reasoning_error
from generators.problems.families import FAMILIES
from generators.problems.procedural import (
    TEMPLATES,
    generate_problems,
    make_problem,
    operations,
    sibling_exemplars,
    worked_solution,
)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_answer_matches_an_independent_evaluation(steps: int, template: str) -> None:
    for seed in range(20):
        problem = make_problem(seed, steps, template)
        expression = json.loads(problem["spec"])["expression"]
        value = sympy.sympify(expression)
        assert value.is_integer and value > 0
        assert str(value) == problem["answer"]
        assert expression.count("(") == steps == problem["steps"]
        # every operand of the expression is told in the story, in order
        operands = re.findall(r"\d+", expression)
        story_numbers = re.findall(r"\d+", problem["problem"])
        position = 0
        for operand in operands:
            position = story_numbers.index(operand, position) + 1


def test_same_seed_same_problems_other_seed_other_problems() -> None:
    first, again, other = generate_problems(10, seed=7), generate_problems(10, seed=7), generate_problems(10, seed=8)
    assert first.equals(again)
    assert set(first["problem"]) != set(other["problem"])
    assert sorted(set(first["steps"])) == [1, 2, 3, 4, 5]


def test_steps_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="steps must be between 1 and 5"):
        make_problem(0, 6)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_a_worked_solution_reaches_the_answer_by_checked_steps(steps: int, template: str) -> None:
    for seed in range(20):
        problem = make_problem(seed, steps, template)
        solution = worked_solution(problem)
        assert extract_answer(solution) == problem["answer"]
        assert find_reasoning_error(problem["problem"], solution) is None, solution
        assert solution.count("\nStep ") == steps  # the start, then one step an operation


@pytest.mark.parametrize("steps", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_siblings_are_other_problems_of_the_same_story_and_operations(seed: int, steps: int) -> None:
    problem = make_problem(seed, steps)
    siblings = sibling_exemplars(problem)
    assert siblings == sibling_exemplars(dict(problem)) and len(siblings) == 3
    signature = [op for op, _ in operations(problem)[1]]
    same = 0
    for question, solution in siblings:
        assert question != problem["problem"]
        assert TEMPLATES[problem["template"]].question.split("{")[0] in question
        assert solution.count("\nStep ") == steps
        same += re.findall(r"\d+ ([-+*/]) (?=\d+ =)", solution) == signature
    # one-step and two-step chains always find their own operations; five-step ones may fall back to the template
    assert same == 3 or steps > 2


@pytest.mark.parametrize("family", ["algebra", "calendar", "syllogism"])
def test_other_families_and_seed_rows_have_no_siblings(family: str) -> None:
    assert sibling_exemplars(FAMILIES[family].make(0, 1)) is None
    seed_row = {"problem": "Tom has 3 apples.", "template": None, "spec": json.dumps({"solution": "3"})}
    assert sibling_exemplars(seed_row) is None
