"""Reference-guided checks: a trace measured against a reference of the same problem, a worked solution (a seed row's
GSM8K ``####`` or MATH ``\\boxed`` solution) or its gold answer alone.

A correct solution may take another path than the reference, so quantities the reference does not have are never
flagged alone: measured on real model solutions, the first step that works out a quantity the reference lacks is a
sound step of another path about as often as it is the first wrong step. What the reference does settle is the
answer: a trace whose final answer contradicts the reference's is wrong, and the step that first shows it is the last
working step that states the wrong value (before it, the trace may still be on a sound path of its own). A program
follows the reference's calculations more closely: it is wrong from its first worked-out number the reference lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from filters.answers import extract_answer
from filters.contract import Drop
from filters.schemas import reasons
from filters.steps.text import FINAL_ANSWER
from filters.steps.tokens import normalize, numbers, percent_forms

CONTRADICTS_REFERENCE = reasons(__name__, "contradicts_reference")[0]
_PERCENT = re.compile(r"%|percent", re.IGNORECASE)


@dataclass(frozen=True)
class ReferenceVerdict:
    """Where a trace contradicts its reference: the step that first states the contradicted answer, and why."""

    step: int
    error: Drop


def single_value(text: str | None) -> Fraction | None:
    """The one number a short answer states; None for no number, several, or no text."""
    values = numbers(normalize(text)) if text else set()
    return next(iter(values)) if len(values) == 1 else None


def worked_out(reference: str) -> bool:
    """Whether a reference is a worked solution (its steps, then its answer), not a bare gold answer."""
    return bool(FINAL_ANSWER.search(reference)) or "\n" in reference.strip()


def contradicted_answer(stated: str | None, reference: str) -> tuple[Fraction, Drop] | None:
    """The number a trace ``stated`` as its answer and the error, where it is not the reference's answer; else None."""
    expected_text = extract_answer(reference) if worked_out(reference) else reference.strip()
    expected, answer = single_value(expected_text), single_value(stated)
    if expected is None or answer is None or answer == expected:
        return None
    if _PERCENT.search(f"{stated} {expected_text}") and answer in {expected * 100, expected / 100}:
        return None  # 25% and 0.25
    return answer, Drop(CONTRADICTS_REFERENCE, f"{stated} where the reference's answer is {float(expected):g}")


def _stated(reference: str, given: frozenset[Fraction]) -> set[Fraction]:
    """The numbers the reference or the problem (``given``) states, percents read either way."""
    return percent_forms((*numbers(normalize(reference)), *given))


def first_unreferenced(worked: list[tuple[int, float]], given: frozenset[Fraction], reference: str) -> int | None:
    """The step of the first of a program's ``worked`` numbers (step, value: its calculations, in the order run) that
    neither the problem (``given``) nor the worked reference states, to the cent; None where there is none or the
    reference is a bare answer. A program's lines follow one another as the reference's calculations do, so where its
    answer is wrong this is its first wrong set-up."""
    if not worked_out(reference):
        return None
    known = [float(v) for v in _stated(reference, given)]
    return next((step for step, value in worked if all(abs(value - k) >= 0.005 for k in known)), None)


def contradicts_reference(
    trace: str,
    body: list[int],
    values: list[set[Fraction]],
    worked: list[set[Fraction]],
    given: frozenset[Fraction],
    reference: str,
) -> ReferenceVerdict | None:
    """The verdict where the trace's final answer is a number other than the reference's, else None; ``body`` are the
    indexes of the steps that work something, ``values`` their numbers and ``worked`` their calculations' results (in
    the same order), ``given`` the problem's numbers. The verdict's step is the last that states the wrong value,
    or, where that step only restates it ("Therefore, he is 234 miles away.") and the reference is worked out, the
    first: a number neither the problem nor the worked reference has is wrong where it is first worked out."""
    if (contradiction := contradicted_answer(extract_answer(trace), reference)) is None:
        return None
    answer, error = contradiction
    holding = [k for k, line_values in enumerate(values) if answer in line_values]
    if not holding:
        return ReferenceVerdict(-1, error)
    last = holding[-1]
    restated = answer not in worked[last] and worked_out(reference) and answer not in _stated(reference, given)
    first = holding[0] if restated else last
    return ReferenceVerdict(body[first], error)
