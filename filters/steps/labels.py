"""Step labels of rejected traces: the first bad step of each reason, for the published process-supervision rows."""

from __future__ import annotations

from filters.contract import Drop
from filters.steps.checks import TRACE_REASONS, TraceCheck, check_trace

PROCESS_REASONS = (
    *(code for code in TRACE_REASONS if code != "contradicts_reference"),  # a right answer agrees with the reference
    "family_fact",
    "judge_first_wrong_step",
)
"""The codes verification rejects a right answer's reasoning with: the card's columns and the ``cot-steps`` rows."""


def rejected_steps(problem: str, trace: str, reason: Drop) -> TraceCheck:
    """The steps and labels of a trace the reasoning checks rejected for ``reason``, with its first bad step marked
    (for a family fact: the step that asserts it; for the step judge: the step it names)."""
    check = check_trace(problem, trace)
    if check.first_bad_step is not None or not check.steps:
        return check
    if reason.code == "judge_first_wrong_step" and reason.detail:
        index = min(int(reason.detail.split()[0]), len(check.steps) - 1)
    elif reason.code == "family_fact" and reason.detail:
        assertion = reason.detail.split(" (")[0]
        index = next((i for i, step in enumerate(check.steps) if assertion in step), len(check.steps) - 1)
    else:
        return check
    labels = [*check.labels[:index], False, *[None] * (len(check.steps) - index - 1)]
    return TraceCheck(check.steps, labels, check.claims, reason)
