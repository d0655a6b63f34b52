import json
import time

import polars as pl
import pytest

from filters.answers import extract_answer_with_method
from filters.verify import (
    answer_type,
    diverse_subset,
    extract_answer,
    majority_vote,
    verify,
    verify_many,
    verify_traces,
)
from tests.data import GSM8K_TEST, MATH500


@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("She pays 3 * 4 = <<3*4=12>>12 dollars.\n#### 12", "12", "gsm8k"),
        ("Total is 1,250 dollars.\n#### 1,250", "1250", "gsm8k"),
        ("So the result is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}", "boxed"),
        ("First \\boxed{3} then finally \\boxed{x^{2} + 1}", "x^{2} + 1", "boxed"),
        ("Step 1: 2 + 2 = 4.\nThe answer is 4.", "4", "answer_is"),
        ("The final answer is $18.", "18", "answer_is"),
        ("Working...\nAnswer: 42", "42", "answer_line"),
        ("We get 7 apples and then 9 apples", "9", "last_number"),
        ("no numbers here at all", None, None),
    ],
)
def test_extract_answer(text: str, answer: str | None, method: str | None) -> None:
    assert extract_answer_with_method(text) == (answer, method)
    assert extract_answer(text) == answer


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("The answer is \\boxed{0.5}.", "\\frac{1}{2}", True),
        ("The answer is \\boxed{\\frac{2}{4}}.", "\\frac12", True),
        ("#### 1,000", "1000", True),
        ("The answer is \\boxed{3}.", "3", True),
        ("The answer is \\boxed{4}.", "3", False),
        ("nothing to see", "3", False),
        ("The answer is \\boxed{3}.", "\\frac{", None),
        ("The answer is \\boxed{3}.", "   ", None),
    ],
)
def test_verify_pairs(prediction: str, gold: str, expected: bool | None) -> None:
    assert verify(prediction, gold) is expected


@pytest.mark.slow
def test_every_gsm8k_test_solution_verifies_against_its_own_answer() -> None:
    rows = [json.loads(line) for line in GSM8K_TEST.read_text().splitlines()]
    golds = [extract_answer(r["answer"]) for r in rows]
    verdicts = verify_many([r["answer"] for r in rows], golds, workers=2)
    assert len(verdicts) == 1319
    assert all(verdicts), [r["question"] for r, v in zip(rows, verdicts, strict=True) if not v][:3]


@pytest.mark.slow
def test_math500_reference_solutions_verify_against_their_answers() -> None:
    rows = [json.loads(line) for line in MATH500.read_text().splitlines()]
    verdicts = verify_many([r["solution"] for r in rows], [r["answer"] for r in rows], workers=2)
    rate = sum(v is True for v in verdicts) / len(rows)
    print(f"MATH-500 reference solutions verified: {rate:.3f}")
    assert rate >= 0.95


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        # fractions and decimals, \frac and /
        ("\\boxed{0.75}", "\\frac{3}{4}", True),
        ("\\boxed{3/4}", "\\frac{3}{4}", True),
        ("\\boxed{0.7}", "\\frac{3}{4}", False),
        # percent
        ("The answer is 25\\%.", "25", True),
        ("\\boxed{0.25}", "25\\%", True),
        # units and dollar signs
        ("The answer is $18.", "18", True),
        ("\\boxed{\\$1,200}", "1200", True),
        ("\\boxed{5 \\text{ cm}}", "5", True),
        # degrees
        ("\\boxed{90^\\circ}", "90", True),
        ("\\boxed{45^\\circ}", "90", False),
        # sets, intervals, tuples
        ("\\boxed{\\{3, 1, 2\\}}", "\\{1,2,3\\}", True),
        ("\\boxed{(1, 2]}", "(1,2]", True),
        ("\\boxed{[1, 2]}", "(1,2]", False),
        ("\\boxed{(2, -1)}", "(2,-1)", True),
        ("\\boxed{(-1, 2)}", "(2,-1)", False),
        # LaTeX expressions
        ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}", True),
        ("\\boxed{x^2+2x+1}", "(x+1)^2", True),
        # choice letters
        ("The answer is (B).", "B", True),
        ("\\boxed{C}", "(B)", False),
        ("So I pick option D", "D", True),
        # booleans and text
        ("The answer is yes.", "True", True),
        ("The answer is no.", "True", False),
        ("Answer: Paris", "paris", True),
        ("Answer: Lyon", "paris", False),
    ],
)
def test_answer_pairs_across_types(prediction: str, gold: str, expected: bool) -> None:
    assert verify(prediction, gold) is expected


@pytest.mark.parametrize(
    ("gold", "kind"),
    [
        ("B", "choice"),
        ("(c)", "choice"),
        ("yes", "boolean"),
        ("\\frac12", "math"),
        ("Paris", "text"),
        ("\\frac{", None),
        ("", None),
    ],
)
def test_answer_types(gold: str, kind: str | None) -> None:
    assert answer_type(gold) == kind


@pytest.mark.slow
def test_a_pathological_expression_costs_at_most_its_timeout() -> None:
    started = time.monotonic()
    verdicts = verify_many(
        ["\\boxed{9^{9^{9^{9}}}}", "\\boxed{(10^{10^{10}})!}", "\\boxed{4}"], ["2", "3", "4"], workers=2, timeout_s=1
    )
    assert verdicts == [False, False, True]
    assert time.monotonic() - started < 15  # 1 s per item plus the pool's start


@pytest.mark.parametrize(
    ("answers", "winner", "agrees"),
    [
        (["4", "4.0", "\\frac{8}{2}", "5"], "4", [True, True, True, False]),
        (["4", "5"], None, [False, False]),  # a tie decides nothing
        (["B", "(B)", "C", None], "B", [True, True, False, False]),
        ([None, None], None, [False, False]),
    ],
)
def test_majority_vote(answers: list, winner: str | None, agrees: list[bool]) -> None:
    found, share, agreement = majority_vote(answers)
    assert found == winner and agreement == agrees
    assert share == pytest.approx(max(1, sum(agrees)) / len(answers) if winner else share)


def test_rows_without_gold_are_decided_by_majority_and_the_vote_is_audited() -> None:
    def row(i: int, problem: str, answer: str | None, said: str) -> dict:
        return {
            "kind": "cot",
            "id": f"r{i}",
            "problem_id": problem,
            "answer": answer,
            "problem": "How many are left?",
            "text": f"{said} + 1 - 1 = {said}. So \\boxed{{{said}}}.",
        }

    frame = pl.DataFrame(
        [
            row(0, "p", "4", "4"),
            row(1, "p", "4", "4"),
            row(2, "p", "4", "5"),
            row(3, "q", None, "7"),
            row(4, "q", None, "7"),
            row(5, "q", None, "8"),
        ]
    )
    result, audit = verify_traces(frame, workers=1)
    decided = dict(zip(result.kept["id"], result.kept["verifier"], strict=True))
    assert decided == {
        "r0": "math-verify:math",
        "r1": "math-verify:math",
        "r3": "majority_vote",
        "r4": "majority_vote",
    }
    assert set(result.dropped["id"]) == {"r2", "r5"}
    answers = dict(zip(result.kept["id"], result.kept["answer"], strict=True))
    assert answers["r3"] == answers["r4"] == "7"  # a majority-decided row carries the winning answer
    assert audit["audited_rows"] == 3 and audit["majority_vote_agrees_with_gold"] == 1.0


def test_rejection_sampling_keeps_diverse_correct_traces() -> None:
    texts = ["add 2 and 2 to get 4", "add 2 and 2 to get 4 indeed", "two plus two makes four as counted on fingers"]
    assert diverse_subset(texts, 2) == [0, 2]
    assert diverse_subset(texts, 5) == [0, 1, 2]
