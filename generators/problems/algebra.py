"""Procedural algebra word problems (one linear equation, or two equations in two unknowns) with exact integer
answers, reproducible from a seed number; a JSON ``spec`` holds the equations for an independent solver."""

from __future__ import annotations

import random

from generators.problems.procedural import NAMES, procedural_row


def number_puzzle(rng: random.Random) -> tuple[str, int, int, dict]:
    """ "I think of a number, multiply it by a and add b, and get c": one linear equation a*x + b = c."""
    x, a, b = rng.randint(2, 30), rng.randint(2, 9), rng.randint(-20, 40)
    c = a * x + b
    name = rng.choice(NAMES)
    change = f"adds {b}" if b >= 0 else f"subtracts {-b}"
    text = f"{name} thinks of a number, multiplies it by {a} and then {change}. The result is {c}. What is the number?"
    return text, x, 2, {"equations": [f"{a}*x + ({b}) - {c}"], "unknowns": ["x"], "ask": "x"}


def tickets(rng: random.Random) -> tuple[str, int, int, dict]:
    """Two ticket prices, a count and a revenue: two equations in two unknowns."""
    adults, children = rng.randint(1, 40), rng.randint(1, 40)
    adult_price = rng.randint(4, 15)
    child_price = rng.randint(1, adult_price - 1)
    revenue = adults * adult_price + children * child_price
    ask = rng.choice(["adult", "child"])
    text = (
        f"A school play sells adult tickets for ${adult_price} and child tickets for ${child_price}. "
        f"It sells {adults + children} tickets in all and takes in ${revenue}. How many {ask} tickets were sold?"
    )
    spec = {
        "equations": [f"a + c - {adults + children}", f"{adult_price}*a + {child_price}*c - {revenue}"],
        "unknowns": ["a", "c"],
        "ask": ask[0],
    }
    return text, adults if ask == "adult" else children, 3, spec


def algebra_problem(seed: int, steps: int = 2) -> dict:
    """A one-unknown problem for ``steps`` <= 2, a two-unknown system otherwise."""
    rng = random.Random(f"algebra:{seed}:{steps}")
    text, answer, real_steps, spec = (number_puzzle if steps <= 2 else tickets)(rng)
    kind = "multi-step" if real_steps >= 3 else "mathematical"
    template = "number_puzzle" if steps <= 2 else "tickets"
    return procedural_row("alg", "math", kind, text, str(answer), real_steps, template, spec)
