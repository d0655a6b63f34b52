"""Procedural multiple-choice items in the style of common-sense reasoning benchmarks (calendars, clocks, everyday
quantities), with exact answers and a JSON ``spec`` an independent solver can check."""

from __future__ import annotations

import random

from filters.families import DAYS
from generators.problems.procedural import procedural_row

LETTERS = "ABCD"
GRAMS = {"grams": 1, "kilograms": 1000, "pounds": 453.592, "ounces": 28.3495}
STUFF = ["feathers", "iron", "sand", "apples", "water", "rice"]


def _options(rng: random.Random, correct: str, wrong: list[str]) -> tuple[list[str], str]:
    choices = [correct, *rng.sample([w for w in dict.fromkeys(wrong) if w != correct], 3)]
    rng.shuffle(choices)
    return choices, LETTERS[choices.index(correct)]


def calendar_item(seed: int) -> dict:
    """What day of the week it will be (or was) some days from a given day."""
    rng = random.Random(f"calendar:{seed}")
    start, offset = rng.randrange(7), rng.choice([-1, 1]) * rng.randint(2, 40)
    correct = DAYS[(start + offset) % 7]
    choices, letter = _options(rng, correct, DAYS)
    when = f"in {offset} days" if offset > 0 else f"{-offset} days ago"
    question = f"If today is {DAYS[start]}, what day of the week {'will it be' if offset > 0 else 'was it'} {when}?"
    return _row("calendar", question, choices, letter, 2, {"start": start, "offset": offset, "choices": choices})


def clock_item(seed: int) -> dict:
    """When an event that starts at a given time and lasts a given duration ends (24-hour clock)."""
    rng = random.Random(f"clock:{seed}")
    start = rng.randrange(0, 24 * 60, 5)
    duration = rng.randrange(20, 6 * 60, 5)

    def hhmm(minutes: int) -> str:
        return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"

    correct = hhmm(start + duration)
    wrong = [hhmm(start + duration + d) for d in (-60, 60, 30, -30, 10, 120)]
    choices, letter = _options(rng, correct, wrong)
    hours, minutes = divmod(duration, 60)
    question = (
        f"A film starts at {hhmm(start)} and lasts {hours} hours and {minutes} minutes. At what time does it end?"
    )
    return _row("clock", question, choices, letter, 2, {"start": start, "duration": duration, "choices": choices})


def heaviest_item(seed: int) -> dict:
    """Which of four amounts in mixed units weighs the most."""
    rng = random.Random(f"heaviest:{seed}")
    while True:
        amounts = [
            (rng.randint(1, 9) * rng.choice([1, 10, 100]), rng.choice(sorted(GRAMS)), rng.choice(STUFF))
            for _ in range(4)
        ]
        weights = [n * GRAMS[unit] for n, unit, _ in amounts]
        if len(set(weights)) == 4:
            break
    choices = [f"{n} {unit} of {stuff}" for n, unit, stuff in amounts]
    letter = LETTERS[weights.index(max(weights))]
    spec = {"amounts": [[n, unit] for n, unit, _ in amounts], "choices": choices}
    return _row("heaviest", "Which of these weighs the most?", choices, letter, 4, spec)


def _row(template: str, question: str, choices: list[str], letter: str, steps: int, spec: dict) -> dict:
    text = question + " " + " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return procedural_row("mc", "commonsense", "common-sense", text, letter, steps, template, spec)
