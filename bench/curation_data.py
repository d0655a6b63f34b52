"""Rows for the curation benchmark and tests: procedural problems with a trace each, and a labelled near-duplicate
set made by perturbing some of them (the perturbed copies are the true duplicates; problems that differ only in
their numbers are distinct rows by construction)."""

from __future__ import annotations

import hashlib
import random

import polars as pl

from filters.dedup import normalize_text
from generators.problems.families import generate_mixed

FAMILIES = ("arithmetic", "algebra", "knights_and_knaves", "ordering", "syllogism", "calendar", "clock", "heaviest")
FILLERS = ("really", "then", "also", "just", "still")


def perturb(text: str, rng: random.Random) -> str:
    """A near-duplicate a person would call the same item: one small edit that keeps every number."""
    words = text.split()
    spots = [i for i, w in enumerate(words) if not any(c.isdigit() for c in w)]
    i = rng.choice(spots) if spots else 0
    edit = rng.randrange(4)
    if edit == 0 and len(spots) > 1:
        del words[i]
    elif edit == 1:
        words.insert(i, rng.choice(FILLERS))
    elif edit == 2:
        words[i] = words[i].upper()
    else:
        return "  ".join(words) + " "
    return " ".join(words)


def labelled_problems(count: int, duplicate_fraction: float = 0.2, seed: int = 0) -> tuple[pl.DataFrame, set[int]]:
    """``count`` rows (``problem``, ``answer``): distinct procedural problems plus perturbed copies of some, each
    right after its original, and the row positions of the copies."""
    rng = random.Random(seed)
    wanted = round(count * (1 - duplicate_fraction))
    candidates = generate_mixed(round(wanted * 1.3) + 10, seed, FAMILIES, min_steps=1, max_steps=5)
    originals = candidates.filter(
        pl.col("problem").map_elements(normalize_text, return_dtype=pl.String).is_first_distinct()
    ).head(wanted)
    copies = set(rng.sample(range(originals.height), count - originals.height))
    rows: list[tuple[str, str]] = []
    duplicates: set[int] = set()
    for index, (problem, answer) in enumerate(originals.select("problem", "answer").iter_rows()):
        rows.append((problem, answer))
        if index in copies:
            duplicates.add(len(rows))
            rows.append((perturb(problem, rng), answer))
    return pl.DataFrame(rows, schema=["problem", "answer"], orient="row"), duplicates


def labelled_rows(count: int, duplicate_fraction: float = 0.2, seed: int = 0) -> tuple[list[str], set[int]]:
    """The problem texts of :func:`labelled_problems` and the positions of the copies."""
    frame, duplicates = labelled_problems(count, duplicate_fraction, seed)
    return frame["problem"].to_list(), duplicates


def curation_rows(count: int, samples_per_problem: int = 1, seed: int = 0) -> pl.DataFrame:
    """Rows shaped like ``deduplicated``'s input: CoT traces (the problem worked in numbered steps, a boxed answer)
    with their lineage fields, ``samples_per_problem`` per problem; 20% of the problems are perturbed copies."""
    problems, _ = labelled_problems(-(-count // samples_per_problem), 0.2, seed)
    rows = []
    for number, (problem, answer) in enumerate(problems.iter_rows()):
        sentences = [s for s in problem.replace("? ", "?\n").replace(". ", ".\n").split("\n") if s.strip()]
        for sample in range(samples_per_problem):
            steps = "\n".join(f"Step {i}: {s}" for i, s in enumerate(sentences[sample:] + sentences[:sample], 1))
            trace = f"{steps}\nThe answer is \\boxed{{{answer}}}."
            row_id = hashlib.sha256(f"{number}:{sample}:{trace}".encode()).hexdigest()[:16]
            rows.append((row_id, f"p-{number}", problem, answer, trace, sample))
    frame = pl.DataFrame(rows, schema=["id", "problem_id", "problem", "answer", "text", "sample_index"], orient="row")
    return frame.head(count).with_columns(
        pl.lit("cot").alias("kind"),
        pl.lit("stop").alias("finish_reason"),
        pl.col("text").str.split(" ").list.len().alias("completion_tokens"),
    )
