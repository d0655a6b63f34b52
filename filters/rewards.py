"""Rewards for RL on the published `rl` config, decided by the same checks as verification (after open-r1's rewards).

Each has TRL's reward-function signature: the sampled ``completions`` (text, or chat messages) and the dataset's
columns as keyword lists, one float per completion; None where the row cannot be scored (TRL leaves it out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from filters.answers import last_boxed, states_an_answer
from filters.steps import find_reasoning_error
from filters.verify import verify

Completion = str | Sequence[dict[str, str]]
Reward = Callable[..., list[float | None]]


def completion_text(completion: Completion) -> str:
    """A completion's text: the string itself, or the content of its last message."""
    return completion if isinstance(completion, str) else completion[-1]["content"]


def accuracy_reward(completions: Sequence[Completion], answer: Sequence[str], **_: Any) -> list[float | None]:
    """1.0 where the completion states a final answer equal to the gold one (math-verify, choice or exact match, as
    ``filters.verify`` decides), 0.0 where it does not or states none (a policy that repeats the question is not paid
    for its last number), None where the gold cannot be read."""
    texts = [completion_text(c) for c in completions]
    verdicts = (verify(t if states_an_answer(t) else "", gold) for t, gold in zip(texts, answer, strict=True))
    return [None if v is None else float(v) for v in verdicts]


def sound_reasoning_reward(
    completions: Sequence[Completion], answer: Sequence[str], problem: Sequence[str], **_: Any
) -> list[float | None]:
    """1.0 only where the answer is right and the reasoning holds (every stated calculation, the answer derived by a
    step), so a policy is not paid for a right answer reached by wrong arithmetic."""
    rewards = accuracy_reward(completions, answer)
    texts = [completion_text(c) for c in completions]
    return [
        r if not r else float(find_reasoning_error(question, text) is None)
        for r, question, text in zip(rewards, problem, texts, strict=True)
    ]


def boxed_format_reward(completions: Sequence[Completion], **_: Any) -> list[float | None]:
    """1.0 where the completion puts a final answer in ``\\boxed{}``, as the prompt asks."""
    return [float(last_boxed(completion_text(c)) is not None) for c in completions]


REWARDS: dict[str, Reward] = {
    "accuracy": accuracy_reward,
    "sound_reasoning": sound_reasoning_reward,
    "boxed_format": boxed_format_reward,
}
