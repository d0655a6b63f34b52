"""RL rewards: TRL's signature, decided by the verification checks."""

import pytest

from filters.rewards import REWARDS, completion_text

RIGHT = "Step 1: 16 - 3 - 4 = 9.\nThe answer is \\boxed{9}."
WRONG = "Step 1: 16 - 3 - 4 = 8.\nThe answer is \\boxed{8}."
LUCKY = "Step 1: 16 - 3 - 4 = 8.\nThe answer is \\boxed{9}."
PROBLEM = "Ava has 16 apples, gives away 3 and eats 4. How many are left?"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("accuracy", [1.0, 0.0, 1.0]), ("sound_reasoning", [1.0, 0.0, 0.0]), ("boxed_format", [1.0, 1.0, 1.0])],
)
def test_rewards_score_text_and_chat_completions_alike(name: str, expected: list[float]) -> None:
    columns = {"answer": ["9"] * 3, "problem": [PROBLEM] * 3}
    texts = [RIGHT, WRONG, LUCKY]
    chats = [[{"role": "assistant", "content": t}] for t in texts]
    assert REWARDS[name](texts, **columns) == REWARDS[name](chats, **columns) == expected


def test_an_unreadable_gold_answer_is_left_unscored() -> None:
    assert REWARDS["accuracy"]([RIGHT], answer=["\\frac{"]) == [None]
    assert REWARDS["sound_reasoning"]([RIGHT], answer=["\\frac{"], problem=[PROBLEM]) == [None]


def test_a_completion_without_a_boxed_answer_fails_the_format() -> None:
    assert REWARDS["boxed_format"](["The answer is 9."]) == [0.0]
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"


def test_a_completion_that_only_repeats_the_question_is_not_paid() -> None:
    echo = "In how many ways can 5 students be selected from a group of 6 students?"
    assert REWARDS["accuracy"]([echo, "So 6 ways. The answer is 6."], answer=["6", "6"]) == [0.0, 1.0]
