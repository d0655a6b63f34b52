import json

import pytest

from filters.answers import extract_answer_with_method
from filters.verify import extract_answer, verify, verify_many
from tests.conftest import GSM8K_TEST, MATH500


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
        ("The answer is \\boxed{3}.", "\\frac{", False),
        ("The answer is \\boxed{3}.", "   ", None),
    ],
)
def test_verify_pairs(prediction: str, gold: str, expected: bool | None) -> None:
    assert verify(prediction, gold) is expected


def test_every_gsm8k_test_solution_verifies_against_its_own_answer(shared_data) -> None:
    rows = [json.loads(line) for line in GSM8K_TEST.read_text().splitlines()]
    golds = [extract_answer(r["answer"]) for r in rows]
    verdicts = verify_many([r["answer"] for r in rows], golds, workers=2)
    assert len(verdicts) == 1319
    assert all(verdicts), [r["question"] for r, v in zip(rows, verdicts, strict=True) if not v][:3]


def test_math500_reference_solutions_verify_against_their_answers(shared_data) -> None:
    rows = [json.loads(line) for line in MATH500.read_text().splitlines()]
    verdicts = verify_many([r["solution"] for r in rows], [r["answer"] for r in rows], workers=2)
    rate = sum(v is True for v in verdicts) / len(rows)
    print(f"MATH-500 reference solutions verified: {rate:.3f}")
    assert rate >= 0.95
