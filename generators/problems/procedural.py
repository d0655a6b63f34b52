"""Procedural math word problems with exact answers, reproducible from a seed number.

Each problem is a chain of 1 to 5 arithmetic operations told as a short story. The row keeps the arithmetic as a
plain expression (``spec``) so the answer can be recomputed independently of the story text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from dataclasses import dataclass

import polars as pl

from filters.schemas import PROBLEM_SCHEMA

NAMES = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farah",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
]


@dataclass(frozen=True)
class StoryTemplate:
    """A context for the operation chain: what is counted and how each operation is told."""

    name: str
    unit: str
    start: str  # "{name} has {n} {unit}."
    add: str
    sub: str
    mul: str
    div: str
    question: str


TEMPLATES: dict[str, StoryTemplate] = {
    t.name: t
    for t in [
        StoryTemplate(
            "marbles",
            "marbles",
            "{name} has {n} marbles.",
            "A friend gives {name} {k} more marbles.",
            "{name} loses {k} marbles while playing.",
            "{name} wins a game and ends up with {k} times as many marbles.",
            "{name} shares the marbles equally among {k} jars and keeps one jar.",
            "How many marbles does {name} have now?",
        ),
        StoryTemplate(
            "savings",
            "dollars",
            "{name} has saved ${n}.",
            "{name} earns ${k} more by walking dogs.",
            "{name} spends ${k} on a book.",
            "A relative multiplies {name}'s savings by {k} as a gift.",
            "{name} splits the money equally into {k} envelopes and keeps one envelope.",
            "How many dollars does {name} have now?",
        ),
        StoryTemplate(
            "bakery",
            "cookies",
            "{name} bakes {n} cookies.",
            "{name} bakes another {k} cookies.",
            "{name} gives {k} cookies to the neighbours.",
            "{name} keeps baking until there are {k} times as many cookies.",
            "{name} packs the cookies equally into {k} boxes and keeps one box.",
            "How many cookies does {name} have now?",
        ),
        StoryTemplate(
            "library",
            "books",
            "A class library has {n} books. {name} is the librarian.",
            "{name} receives a donation of {k} books.",
            "{name} lends out {k} books that are not returned.",
            "{name} orders more until the library holds {k} times as many books.",
            "{name} divides the books equally among {k} classrooms and keeps one share.",
            "How many books does {name} have in the library now?",
        ),
        StoryTemplate(
            "farm",
            "chickens",
            "{name} keeps {n} chickens on a farm.",
            "{name} buys {k} more chickens.",
            "{name} sells {k} chickens at the market.",
            "After a good season {name} has {k} times as many chickens.",
            "{name} moves the chickens equally into {k} coops and counts only one coop.",
            "How many chickens does {name} count now?",
        ),
    ]
}

OPS = ("add", "sub", "mul", "div")


def _step(rng: random.Random, value: int) -> tuple[str, int, int]:
    """Pick an operation that keeps the running value a positive integer of reasonable size."""
    choices = ["add"]
    if value > 2:
        choices.append("sub")
    if value <= 60:
        choices.append("mul")
    divisors = [d for d in range(2, 7) if value % d == 0 and value // d >= 1]
    if divisors:
        choices.append("div")
    op = rng.choice(choices)
    if op == "add":
        k = rng.randint(2, 40)
        return op, k, value + k
    if op == "sub":
        k = rng.randint(1, value - 1)
        return op, k, value - k
    if op == "mul":
        k = rng.randint(2, 4)
        return op, k, value * k
    k = rng.choice(divisors)
    return op, k, value // k


SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def make_problem(seed: int, steps: int, template: str | None = None) -> dict:
    """One procedural problem: its story, exact integer answer, step count and arithmetic expression."""
    if not 1 <= steps <= 5:
        raise ValueError(f"steps must be between 1 and 5, got {steps}")
    rng = random.Random(f"procedural-math:{seed}:{steps}:{template}")
    tpl = TEMPLATES[template] if template else TEMPLATES[rng.choice(sorted(TEMPLATES))]
    name = rng.choice(NAMES)
    value = rng.randint(4, 30)
    sentences = [tpl.start.format(name=name, n=value)]
    expression = str(value)
    for _ in range(steps):
        op, k, value = _step(rng, value)
        sentences.append(getattr(tpl, op).format(name=name, k=k))
        expression = f"({expression} {SYMBOL[op]} {k})"
    sentences.append(tpl.question.format(name=name))
    kind = "multi-step" if steps >= 3 else "mathematical"
    return procedural_row(
        "proc", "math", kind, " ".join(sentences), str(value), steps, tpl.name, {"expression": expression}
    )


_LINK = re.compile(r"([-+*/]) (\d+)\)")
# How a worked solution tells each operation: what is done, then the calculation and the count it gives.
_WORKED = {
    "+": "Adding the {k} more gives {a} + {k} = {b} {unit}.",
    "-": "Taking away {k} leaves {a} - {k} = {b} {unit}.",
    "*": "{k} times as many is {a} * {k} = {b} {unit}.",
    "/": "Splitting them equally into {k} gives {a} / {k} = {b} {unit} in each share.",
}


def operations(row: dict) -> tuple[int, list[tuple[str, int]]] | None:
    """An arithmetic story problem's start value and operations (symbol, operand), read from its ``spec``; None for a
    row of another kind."""
    if row.get("template") not in TEMPLATES or not row.get("spec"):
        return None
    expression = json.loads(row["spec"]).get("expression", "")
    start = re.match(r"\(*(\d+)", expression)
    return (int(start[1]), [(op, int(k)) for op, k in _LINK.findall(expression)]) if start else None


def worked_solution(row: dict) -> str:
    """A step-by-step solution of an arithmetic story problem, as the few-shot examples write one."""
    chain = operations(row)
    if chain is None:
        raise ValueError(f"not an arithmetic story problem: {row.get('problem_id')}")
    value, ops = chain
    unit = TEMPLATES[row["template"]].unit
    lines = [f"Step 1: {row['problem'].split('. ')[0].rstrip('.')}."]
    for op, k in ops:
        after = {"+": value + k, "-": value - k, "*": value * k, "/": value // k}[op]
        told = _WORKED[op].format(k=k, a=value, b=after, unit=unit if after != 1 else unit.removesuffix("s"))
        lines.append(f"Step {len(lines) + 1}: {told}")
        value = after
    return "\n".join(lines) + f"\nThe answer is \\boxed{{{value}}}."


def sibling_exemplars(row: dict, count: int = 3) -> tuple[tuple[str, str], ...] | None:
    """``count`` other problems of an arithmetic story problem's template and step count, each with its worked
    solution: few-shot examples a small base model can follow closely. Those with the same operations in the same
    order come first (among 400 draws per example). Drawn from seeds of their own, so never the row's problem; the
    same row always gets the same ones. None for a row of another kind."""
    chain = operations(row)
    if chain is None:
        return None
    return _siblings(row["problem"], row["template"], tuple(op for op, _ in chain[1]), count)


@functools.lru_cache(maxsize=4096)
def _siblings(problem: str, template: str, signature: tuple[str, ...], count: int) -> tuple[tuple[str, str], ...]:
    """A sibling search is a few thousand problems made at most: kept for the rounds of sampling to a target."""
    rng = random.Random(f"siblings:{problem}")
    same: dict[str, str] = {}
    alike: dict[str, str] = {}
    for _ in range(400 * count):
        other = make_problem(rng.randrange(2**40, 2**41), len(signature), template)
        if other["problem"] == problem:
            continue
        theirs = operations(other)
        found = same if theirs and tuple(op for op, _ in theirs[1]) == signature else alike
        if len(found) < count and other["problem"] not in found:
            found[other["problem"]] = worked_solution(other)  # written only for a sibling that may be shown
        if len(same) == count:
            break
    return tuple([*same.items(), *alike.items()][:count])


def procedural_row(
    prefix: str, domain: str, kind: str, text: str, answer: str, steps: int, template: str, spec: dict
) -> dict:
    """A procedural problem in PROBLEM_SCHEMA, its id a hash of its text and its ``spec`` kept as JSON."""
    return {
        "problem_id": f"{prefix}-" + hashlib.sha256(text.encode()).hexdigest()[:16],
        "source": "procedural",
        "domain": domain,
        "reasoning_kind": kind,
        "problem": text,
        "answer": answer,
        "steps": steps,
        "template": template,
        "spec": json.dumps(spec),
    }


def generate_problems(count: int, seed: int = 0, min_steps: int = 1, max_steps: int = 5) -> pl.DataFrame:
    """``count`` arithmetic word problems with step counts cycling from ``min_steps`` to ``max_steps``."""
    span = max_steps - min_steps + 1
    rows = [make_problem(seed * 1_000_003 + i, min_steps + i % span) for i in range(count)]
    return pl.DataFrame(rows, schema=PROBLEM_SCHEMA)
