"""Independent solvers of the procedural families, and family-aware checks of what a trace asserts.

A procedural row keeps its puzzle as a JSON ``spec``; the solvers here recompute the facts from it (the weekday after
each day, each islander's kind, the finishing order), and ``family_reasoning_error`` rejects a trace that asserts a
fact the solver contradicts: "one day after Thursday is Saturday", "Ava is a knight" where she is a knave, "Ben
finished second" where he finished third, or "Monday is option (B)" where option (B) is Sunday. Suppositions ("if",
"suppose", "assume") and quoted statements are not assertions and are not checked.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from math import comb
from typing import NamedTuple

from filters.contract import Drop
from filters.schemas import reasons
from filters.steps import NUMBER_WORDS, clauses

FAMILY_FACT = reasons(__name__, "family_fact")[0]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LETTERS = "ABCDE"
ORDINALS = ["first", "second", "third", "fourth", "fifth"]

# ---- solvers -----------------------------------------------------------------------------------------------------


def claim_holds(claim: dict, world: dict[str, bool]) -> bool:
    """Whether a knights-and-knaves claim is true in a world (True = knight)."""
    kind, who = claim["kind"], claim["about"]
    if kind == "is_knight":
        return world[who[0]]
    if kind == "is_knave":
        return not world[who[0]]
    if kind == "same":
        return world[who[0]] == world[who[1]]
    if kind == "different":
        return world[who[0]] != world[who[1]]
    if kind == "exactly_one_knave":
        return sum(not world[p] for p in who) == 1
    raise ValueError(kind)


def knights_and_knaves_solutions(people: list[str], statements: list[dict]) -> list[dict[str, bool]]:
    """Every assignment (True = knight) where each knight's claim is true and each knave's claim is false."""
    worlds = []
    for values in itertools.product([True, False], repeat=len(people)):
        world = dict(zip(people, values, strict=True))
        if all(claim_holds(s["claim"], world) == world[s["speaker"]] for s in statements):
            worlds.append(world)
    return worlds


def clue_holds(clue: dict, order: tuple[str, ...]) -> bool:
    """Whether an ordering clue is true of a finishing order."""
    position = {name: i for i, name in enumerate(order)}
    kind, a, b = clue["kind"], clue["a"], clue.get("b", "")
    if kind == "before":
        return position[a] < position[b]
    if kind == "right_after":
        return position[a] == position[b] + 1
    if kind == "first":
        return position[a] == 0
    if kind == "last":
        return position[a] == len(order) - 1
    if kind == "not_first":
        return position[a] != 0
    raise ValueError(kind)


def ordering_solutions(people: list[str], clues: list[dict]) -> list[tuple[str, ...]]:
    """Every finishing order the clues allow."""
    return [order for order in itertools.permutations(people) if all(clue_holds(c, order) for c in clues)]


# ---- what a trace asserts ----------------------------------------------------------------------------------------

_SUPPOSITION = re.compile(
    r"\b(?:if|suppose|supposing|assume|assuming|assumption|case|whether|could|might)\b|\"|“", re.I
)
_DAY = "|".join(DAYS)
_COUNT = r"\d+|" + "|".join(NUMBER_WORDS)
_DAY_CLAIM = re.compile(
    rf"\b(?P<n>{_COUNT})\s+days?\s*(?P<dir>after|from|before|later|ago|past)?\s*(?:(?P<base>{_DAY})|today|now)?"
    rf"[^,]*?\b(?:is|was|will be|would be|be|falls on|lands on|gives|makes|brings us to|=|->|→)\s+(?:a\s+)?"
    rf"(?P<day>{_DAY})\b",
    re.IGNORECASE,
)
_KIND_CLAIM = re.compile(
    r"\b(?P<name>[A-Z][a-z]+)\b\s+(?:is|must be|has to be|is definitely)\s+(?:a\s+)?(?P<kind>knight|knave)\b"
)
_PLACE_CLAIM = re.compile(
    r"\b(?P<name>[A-Z][a-z]+)\b\s+(?:finished|finishes|came|comes|is|was|must be)\s+(?:in\s+)?(?:the\s+)?"
    rf"(?P<place>{'|'.join(ORDINALS)}|last)\b"
)
_REPORTED = re.compile(r"\b(?:says|said|claims|claimed|statement)\b|\bnot\b|n't")  # what someone says, negations
_RELATIVE = re.compile(r"\bnot\b|n't|\bbefore\b|\bafter\b")  # negations and relative places
_OPTION = re.compile(r"(?:option|choice|answer)\s*\(?([A-E])\)?(?![A-Za-z])|\(([A-E])\)")


def _count(text: str) -> int:
    return int(text) if text.isdigit() else NUMBER_WORDS[text.lower()]


def _assertions(trace: str) -> list[str]:
    """The trace's sentences and clauses that assert something (no supposition, no quotation)."""
    return [s for s in clauses(trace) if not _SUPPOSITION.search(s)]


def _asserted(trace: str, claim: re.Pattern[str], hedged: re.Pattern[str]) -> Iterator[re.Match[str]]:
    """Every ``claim`` the trace asserts outright, skipping sentences that ``hedged`` marks (negations, reports)."""
    for sentence in _assertions(trace):
        if not hedged.search(sentence):
            yield from claim.finditer(sentence)


class Contradiction(NamedTuple):
    """An assertion of a trace (its words, as they stand in one clause) and the fact the solver holds against it."""

    assertion: str
    fact: str

    def __str__(self) -> str:
        return f"{self.assertion} ({self.fact})"


def _calendar_errors(spec: dict, trace: str) -> Contradiction | None:
    start, offset = spec["start"], spec["offset"]
    sign = 1 if offset > 0 else -1
    for sentence in _assertions(trace):
        for match in _DAY_CLAIM.finditer(sentence):
            n = _count(match["n"])
            direction = (match["dir"] or "").lower()
            step = -1 if direction in ("before", "ago") else 1 if direction else sign
            base = DAYS.index(match["base"].capitalize()) if match["base"] else start
            expected = DAYS[(base + step * n) % 7]
            if match["day"].capitalize() != expected:
                return Contradiction(match.group(0).strip(), f"it is {expected}")
    return None


def _knights_errors(spec: dict, trace: str) -> Contradiction | None:
    solutions = knights_and_knaves_solutions(spec["people"], spec["statements"])
    if len(solutions) != 1:
        return None
    world = solutions[0]
    for match in _asserted(trace, _KIND_CLAIM, _REPORTED):
        if match["name"] in world and world[match["name"]] != (match["kind"] == "knight"):
            return Contradiction(match.group(0), f"a {'knight' if world[match['name']] else 'knave'}")
    return None


def _ordering_errors(spec: dict, trace: str) -> Contradiction | None:
    solutions = ordering_solutions(spec["people"], spec["clues"])
    if len(solutions) != 1:
        return None
    order = solutions[0]
    for match in _asserted(trace, _PLACE_CLAIM, _RELATIVE):
        place = len(order) - 1 if match["place"] == "last" else ORDINALS.index(match["place"])
        if match["name"] in order and place < len(order) and order[place] != match["name"]:
            return Contradiction(match.group(0), f"{order[place]} finished {match['place']}")
    return None


def _option_errors(spec: dict, trace: str) -> Contradiction | None:
    """A sentence naming one option letter and one option's text must pair them as the problem does."""
    choices = spec.get("choices")
    if not choices:
        return None
    for sentence in clauses(trace):
        letters = {a or b for a, b in _OPTION.findall(sentence)}
        named = [c for c in choices if re.search(rf"\b{re.escape(c)}\b", sentence, re.IGNORECASE)]
        if len(letters) == 1 and len(named) == 1:
            letter = letters.pop()
            index = LETTERS.index(letter)
            if index < len(choices) and choices[index] != named[0]:
                return Contradiction(sentence.strip(), f"option ({letter}) is {choices[index]}")
    return None


def _choices(spec: dict) -> float | None:
    return 1 / len(spec["choices"]) if spec.get("choices") else None


@dataclass(frozen=True)
class FamilyRules:
    """What verification holds a procedural family's traces to: ``check``, the family's solver against what a trace
    asserts (None: no family facts beyond the pairing of option letters), and ``chance``, the probability of its right
    answer by guessing, from its spec (None: an open answer)."""

    check: Callable[[dict, str], Contradiction | None] | None
    chance: Callable[[dict], float | None]


FAMILY_RULES: dict[str, FamilyRules] = {
    "arithmetic": FamilyRules(None, lambda spec: None),
    "algebra": FamilyRules(None, lambda spec: None),
    "calendar": FamilyRules(_calendar_errors, _choices),
    "clock": FamilyRules(None, _choices),
    "heaviest": FamilyRules(None, _choices),
    "knights_and_knaves": FamilyRules(_knights_errors, lambda spec: 1 / 2),
    "ordering": FamilyRules(_ordering_errors, lambda spec: 1 / len(spec["people"]) if spec.get("people") else None),
    "syllogism": FamilyRules(None, lambda spec: 1 / 2),  # yes or no
}
"""Every procedural family's rules, by its name, which is also its rows' ``template`` where the rules check anything
(arithmetic and algebra rows name their story); ``generators.problems.families.FAMILIES`` pairs each with its
generator."""


def family_contradiction(template: str | None, spec: dict | None, trace: str) -> Contradiction | None:
    """The first assertion of the trace the family's solver contradicts; None where every one agrees."""
    if not spec:
        return None
    rules = FAMILY_RULES.get(template or "")
    for check in (rules.check if rules else None, _option_errors):
        if check and (found := check(spec, trace)):
            return found
    return None


def family_reasoning_error(template: str | None, spec: dict | None, trace: str) -> Drop | None:
    """None where what the trace asserts agrees with the family's solver, else ``family_fact`` with the assertion."""
    found = family_contradiction(template, spec, trace)
    return None if found is None else Drop(FAMILY_FACT, str(found))


def has_family_check(template: str | None) -> bool:
    """Whether the family of ``template`` has a solver that checks what its traces assert."""
    rules = FAMILY_RULES.get(template or "")
    return rules is not None and rules.check is not None


# ---- chance level --------------------------------------------------------------------------------------------------


def chance_level(answer_kind: str | None, template: str | None, spec: dict | None) -> float | None:
    """The probability of the right answer by guessing, where the answer space is small; None for open answers."""
    spec = spec or {}
    if spec.get("choices"):
        return _choices(spec)
    rules = FAMILY_RULES.get(template or "")
    if rules is not None and (chance := rules.chance(spec)) is not None:
        return chance
    return {"boolean": 1 / 2, "choice": 1 / 4}.get(answer_kind or "")


def binomial_tail(successes: int, trials: int, chance: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, chance): the one-sided p-value of doing that well by guessing."""
    return sum(comb(trials, i) * chance**i * (1 - chance) ** (trials - i) for i in range(successes, trials + 1))
