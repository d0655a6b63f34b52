"""All procedural problem families behind one call: arithmetic and algebra word problems, logic puzzles, and
multiple-choice common-sense items. ``FAMILIES`` is where a family is found whole: its generator here, and the rules
verification holds its traces to (its solver's check and its chance level, ``filters.families.FAMILY_RULES``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from filters.families import FAMILY_RULES, FamilyRules
from filters.schemas import PROBLEM_SCHEMA
from generators.problems.algebra import algebra_problem
from generators.problems.commonsense import calendar_item, clock_item, heaviest_item
from generators.problems.logic import knights_and_knaves, ordering_puzzle, syllogism
from generators.problems.procedural import make_problem


@dataclass(frozen=True)
class Family:
    """A procedural family: ``make(seed, steps)`` makes one problem row; ``rules`` are its solver's check and its
    chance level."""

    make: Callable[[int, int], dict]
    rules: FamilyRules


_GENERATORS: dict[str, Callable[[int, int], dict]] = {
    "arithmetic": lambda seed, steps: make_problem(seed, steps),
    "algebra": lambda seed, steps: algebra_problem(seed, steps),
    "knights_and_knaves": lambda seed, steps: knights_and_knaves(seed, size=2 + steps % 2),
    "ordering": lambda seed, steps: ordering_puzzle(seed, size=3 + steps % 2),
    "syllogism": lambda seed, steps: syllogism(seed),
    "calendar": lambda seed, steps: calendar_item(seed),
    "clock": lambda seed, steps: clock_item(seed),
    "heaviest": lambda seed, steps: heaviest_item(seed),
}
FAMILIES: dict[str, Family] = {name: Family(make, FAMILY_RULES[name]) for name, make in _GENERATORS.items()}


def generate_mixed(
    count: int, seed: int = 0, families: Sequence[str] = ("arithmetic",), min_steps: int = 1, max_steps: int = 5
) -> pl.DataFrame:
    """``count`` problems taken in turn from ``families``; same seed, same problems."""
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown problem families {sorted(unknown)}; known: {sorted(FAMILIES)}")
    span = max_steps - min_steps + 1
    rows = [
        FAMILIES[families[i % len(families)]].make(seed * 1_000_003 + i, min_steps + (i // len(families)) % span)
        for i in range(count)
    ]
    return pl.DataFrame(rows, schema=PROBLEM_SCHEMA)
