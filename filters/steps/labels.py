"""Step labels: who located a first bad step, and labels with one marked where a check other than ``check_trace`` (a
family's solver, a judge) found it."""

from __future__ import annotations

from filters.steps.reference import CONTRADICTS_REFERENCE

LABEL_SOURCES = ("rule", "reference", "family", "judge", "prm", "rollout", "consensus")
"""Who located a first bad step: ``check_trace``'s rules, a reference's answer, a family's solver, a critic model, a
process reward model, Monte-Carlo rollouts, or several step judges that agree."""


def marked_at(labels: list[bool | None], steps: int, index: int) -> list[bool | None]:
    """``labels`` of a trace of ``steps`` steps with step ``index`` the first bad one: the checked steps before it
    keep their labels, the steps after it are unjudged."""
    before = (labels or [None] * steps)[:index]
    return [*before, False, *[None] * (steps - index - 1)]


def source_of(code: str) -> str:
    """The label source of a ``check_trace`` rejection."""
    return "reference" if code == CONTRADICTS_REFERENCE else "rule"
