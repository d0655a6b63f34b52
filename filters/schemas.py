"""The row shapes every stage shares: problems, generation lineage and rejections, and the stable row id.

They live at the bottom of the import graph (``assets`` → ``generators`` → ``filters``), so every layer can use them.
"""

from __future__ import annotations

import hashlib

import polars as pl
from polars.datatypes import DataTypeClass

Schema = dict[str, DataTypeClass | pl.DataType]
"""Column names and polars types, as frames are built with."""

PROBLEM_SCHEMA: Schema = {
    "problem_id": pl.String,
    "source": pl.String,
    "domain": pl.String,
    "reasoning_kind": pl.String,
    "problem": pl.String,
    "answer": pl.String,
    "steps": pl.Int64,
    "template": pl.String,
    "spec": pl.String,
}

LINEAGE_SCHEMA: Schema = {
    "teacher_model": pl.String,
    "teacher_backend": pl.String,
    "template": pl.String,
    "template_hash": pl.String,
    "sampling": pl.String,
    "sample_index": pl.Int64,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "finish_reason": pl.String,
}


def row_id(*parts: object) -> str:
    """A stable id: hash of a row's content and origin."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]


REJECTION_SCHEMA: Schema = {"id": pl.String, "text": pl.String, "code": pl.String, "detail": pl.String}
"""A dropped row: ``code`` says why in a word every stage shares (``wrong_answer``, ``contaminated``), ``detail`` says
more where there is more (the benchmark, the error, the agreement)."""


OPTIONAL_REJECTION_COLUMNS: Schema = {
    "problem_id": pl.String,
    "problem": pl.String,
    "domain": pl.String,
    "step_labels": pl.List(pl.Boolean),
    "step_label_source": pl.String,
}
"""What the rejections table also keeps where a stage's rows have it: the problem (its id and text), the domain, and
the step labels of a trace with who located its first bad step (``filters.steps.LABEL_SOURCES``), for the `cot-steps`
config and the card's reasoning report."""


REASONS: dict[str, str] = {}
"""Every drop code, by the module that owns it: a code is declared once, by the check that emits it, and every report,
card and drop-rate check reads codes from here and the groups their owners declare, never by matching strings."""


def reasons(owner: str, *codes: str) -> tuple[str, ...]:
    """Declare the drop codes ``owner`` (a module's ``__name__``) emits; each code has one owner. Returns them."""
    for code in codes:
        if REASONS.setdefault(code, owner) != owner:
            raise ValueError(f"drop code {code!r} is declared by {REASONS[code]} and again by {owner}")
    return codes


def declared(code: str) -> str:
    """``code`` where a check declared it (``reasons``); a ValueError naming it where none did."""
    if code not in REASONS:
        raise ValueError(f"drop code {code!r} is not declared: the check that emits it declares it with reasons()")
    return code


def rejection(row: str, text: str, code: str, detail: str | None = None) -> dict[str, str | None]:
    """One rejection row (``code`` declared by its check)."""
    declared(code)
    return {"id": row, "text": text, "code": code, "detail": detail}


def rejections_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REJECTION_SCHEMA)
