"""Procedural logic puzzles with exact answers, reproducible from a seed number: knights and knaves, orderings and
syllogisms. Each row keeps a JSON ``spec`` of the puzzle so an independent solver can check its answer."""

from __future__ import annotations

import random
from typing import Any

from filters.families import ORDINALS, clue_holds, knights_and_knaves_solutions, ordering_solutions
from generators.problems.procedural import NAMES, procedural_row

# ---- knights and knaves: knights always tell the truth, knaves always lie -------------------------------------


def _claim_text(claim: dict, speaker: str) -> str:
    who = [("I" if p == speaker else p) for p in claim["about"]]
    return {
        "is_knight": lambda: f"{who[0]} {'am' if who[0] == 'I' else 'is'} a knight.",
        "is_knave": lambda: f"{who[0]} {'am' if who[0] == 'I' else 'is'} a knave.",
        "same": lambda: f"{who[0]} and {who[1]} are the same kind.",
        "different": lambda: f"{who[0]} and {who[1]} are different kinds.",
        "exactly_one_knave": lambda: f"Exactly one of {' and '.join(who)} is a knave.",
    }[claim["kind"]]()


def knights_and_knaves(seed: int, size: int = 3) -> dict:
    """A puzzle on ``size`` islanders with exactly one consistent assignment; asks what one of them is."""
    rng = random.Random(f"knights:{seed}:{size}")
    for _ in range(1000):
        people = rng.sample(NAMES, size)
        statements: list[dict[str, Any]] = []
        for speaker in people:
            kind = rng.choice(["is_knight", "is_knave", "same", "different", "exactly_one_knave"])
            arity = {"same": 2, "different": 2, "exactly_one_knave": min(3, size)}.get(kind, 1)
            about = rng.sample(people, arity)
            statements.append({"speaker": speaker, "claim": {"kind": kind, "about": about}})
        solutions = knights_and_knaves_solutions(people, statements)
        if len(solutions) == 1:
            break
    else:
        raise RuntimeError(f"no unique knights-and-knaves puzzle for seed {seed}")
    target = rng.choice(people)
    lines = [f'{s["speaker"]} says: "{_claim_text(s["claim"], s["speaker"])}"' for s in statements]
    text = (
        f"On an island, knights always tell the truth and knaves always lie. You meet {', '.join(people[:-1])} and "
        f"{people[-1]}. " + " ".join(lines) + f" Is {target} a knight or a knave?"
    )
    spec = {"people": people, "statements": statements, "target": target}
    return _row("knights_and_knaves", text, "knight" if solutions[0][target] else "knave", size, spec)


# ---- orderings: a unique order from a few clues ---------------------------------------------------------------


_CLUE_TEXT = {
    "before": "{a} finished before {b}.",
    "right_after": "{a} finished right after {b}.",
    "first": "{a} finished first.",
    "last": "{a} finished last.",
    "not_first": "{a} did not finish first.",
}


def ordering_puzzle(seed: int, size: int = 4) -> dict:
    """A race among ``size`` runners and clues true of a hidden order, added until only that order fits."""
    rng = random.Random(f"ordering:{seed}:{size}")
    people = rng.sample(NAMES, size)
    order = tuple(rng.sample(people, size))
    clues: list[dict] = []
    while len(ordering_solutions(people, clues)) > 1:
        a, b = rng.sample(people, 2)
        kind = rng.choice(["before", "before", "right_after", "first", "last", "not_first"])
        clue = {"kind": kind, "a": a, "b": b}
        if clue_holds(clue, order) and clue not in clues:
            clues.append(clue)
    place = rng.randrange(size)
    text = (
        f"{', '.join(people[:-1])} and {people[-1]} ran a race with no ties. "
        + " ".join(_CLUE_TEXT[c["kind"]].format(**c) for c in clues)
        + f" Who finished {ORDINALS[place]}?"
    )
    return _row("ordering", text, order[place], len(clues), {"people": people, "clues": clues, "place": place})


# ---- syllogisms -------------------------------------------------------------------------------------------------

# (premise 1, premise 2, conclusion) over terms S (subject), M (middle), P (predicate); A all, E no, I some, O some-not
SYLLOGISM_FORMS = {
    "Barbara": (("A", "M", "P"), ("A", "S", "M"), ("A", "S", "P")),
    "Celarent": (("E", "M", "P"), ("A", "S", "M"), ("E", "S", "P")),
    "Darii": (("A", "M", "P"), ("I", "S", "M"), ("I", "S", "P")),
    "Ferio": (("E", "M", "P"), ("I", "S", "M"), ("O", "S", "P")),
    "Cesare": (("E", "P", "M"), ("A", "S", "M"), ("E", "S", "P")),
    "Undistributed middle": (("A", "P", "M"), ("A", "S", "M"), ("A", "S", "P")),
    "Illicit major": (("A", "M", "P"), ("E", "S", "M"), ("E", "S", "P")),
    "Illicit minor": (("A", "M", "P"), ("A", "M", "S"), ("A", "S", "P")),
    "Affirming some": (("I", "M", "P"), ("I", "S", "M"), ("I", "S", "P")),
}
TERMS = [
    ("cats", "mammals", "animals"), ("poets", "writers", "dreamers"), ("roses", "flowers", "plants"),
    ("squares", "rectangles", "polygons"), ("violinists", "musicians", "artists"), ("trout", "fish", "swimmers"),
]  # fmt: skip
_STATEMENT = {"A": "All {x} are {y}.", "E": "No {x} are {y}.", "I": "Some {x} are {y}.", "O": "Some {x} are not {y}."}


def _fmt(statement: tuple[str, str, str], terms: dict[str, str]) -> str:
    return _STATEMENT[statement[0]].format(x=terms[statement[1]], y=terms[statement[2]])


def syllogism(seed: int) -> dict:
    """Two premises and a conclusion over everyday categories; does the conclusion follow? (yes or no)."""
    rng = random.Random(f"syllogism:{seed}")
    name = rng.choice(sorted(SYLLOGISM_FORMS))
    subject, middle, predicate = rng.choice(TERMS)
    if rng.random() < 0.5:  # nonsense words keep the model from answering from world knowledge
        subject, middle, predicate = (
            f"{w}s" for w in rng.sample(["blick", "florp", "zemb", "quall", "dax", "wug"], 3)
        )
    terms = {"S": subject, "M": middle, "P": predicate}
    first, second, conclusion = SYLLOGISM_FORMS[name]
    text = (
        f"Premise 1: {_fmt(first, terms)} Premise 2: {_fmt(second, terms)} "
        f"Does it follow that {_fmt(conclusion, terms)[0].lower()}{_fmt(conclusion, terms)[1:-1]}? Answer yes or no."
    )
    valid = name in {"Barbara", "Celarent", "Darii", "Ferio", "Cesare"}
    spec = {"form": name, "premises": [first, second], "conclusion": conclusion}
    return _row("syllogism", text, "yes" if valid else "no", 2, spec)


def _row(template: str, text: str, answer: str, steps: int, spec: dict) -> dict:
    return procedural_row("logic", "logic", "logical", text, answer, steps, template, spec)
