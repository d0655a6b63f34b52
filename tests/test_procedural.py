import json
import re

import pytest
import sympy

from generators.problems.procedural import TEMPLATES, generate_problems, make_problem


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
