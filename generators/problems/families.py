"""All procedural problem families behind one call: arithmetic and algebra word problems, logic puzzles, and
multiple-choice common-sense items."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from filters.schemas import PROBLEM_SCHEMA
from generators.problems.algebra import algebra_problem
from generators.problems.commonsense import calendar_item, clock_item, heaviest_item
from generators.problems.logic import knights_and_knaves, ordering_puzzle, syllogism
from generators.problems.procedural import make_problem

FAMILIES: dict[str, Callable[[int, int], dict]] = {
    "arithmetic": lambda seed, steps: make_problem(seed, steps),
    "algebra": lambda seed, steps: algebra_problem(seed, steps),
    "knights_and_knaves": lambda seed, steps: knights_and_knaves(seed, size=2 + steps % 2),
    "ordering": lambda seed, steps: ordering_puzzle(seed, size=3 + steps % 2),
    "syllogism": lambda seed, steps: syllogism(seed),
    "calendar": lambda seed, steps: calendar_item(seed),
    "clock": lambda seed, steps: clock_item(seed),
    "heaviest": lambda seed, steps: heaviest_item(seed),
}


def generate_mixed(
    count: int, seed: int = 0, families: Sequence[str] = ("arithmetic",), min_steps: int = 1, max_steps: int = 5
) -> pl.DataFrame:
    """``count`` problems taken in turn from ``families``; same seed, same problems."""
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown problem families {sorted(unknown)}; known: {sorted(FAMILIES)}")
    span = max_steps - min_steps + 1
    rows = [
        FAMILIES[families[i % len(families)]](seed * 1_000_003 + i, min_steps + (i // len(families)) % span)
        for i in range(count)
    ]
    return pl.DataFrame(rows, schema=PROBLEM_SCHEMA)
