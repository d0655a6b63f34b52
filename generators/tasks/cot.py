"""Chain-of-thought traces: n samples per problem from a teacher backend, each row carrying its lineage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from filters.schemas import LINEAGE_SCHEMA, PROBLEM_SCHEMA, Schema, row_id
from generators.problems.procedural import sibling_exemplars
from generators.tasks.base import ProblemTask
from generators.tasks.prompts import RenderedPrompt, cot_prompt
from generators.teachers.backend import (
    GenerationRequest,
    GenerationResult,
    ModelBackend,
    SamplingParams,
)

# Which worked examples a base model's prompt shows: the fixed ones of the problem's domain, or, for an arithmetic
# story problem, three others of its template and operations (other rows keep their domain's).
Shots = Literal["domain", "siblings"]

TRACE_PROBLEM_FIELDS = (
    "problem_id",
    "source",
    "domain",
    "reasoning_kind",
    "problem",
    "answer",
    "steps",
    "spec",
)


_THINK = re.compile(r"<think>(.*?)(</think>|$)", re.DOTALL)


@dataclass(frozen=True)
class Thinking:
    """A reasoning model's answer in its parts: the thinking (None for a model that does not think), the solution,
    and whether the thinking was closed (an unclosed ``<think>`` ran into the token limit)."""

    thinking: str | None
    solution: str
    closed: bool


def split_thinking(text: str, reasoning: str | None = None) -> Thinking:
    """The thinking sent apart (``reasoning_content``) or inside ``<think>...</think>`` at the start of the answer,
    and the solution after it."""
    if reasoning:
        return Thinking(reasoning.strip(), text.strip(), True)
    match = _THINK.match(text.lstrip())
    if match is None:
        return Thinking(None, text.strip(), True)
    closed = bool(match.group(2))
    return Thinking(match.group(1).strip(), text.lstrip()[match.end() :].strip() if closed else "", closed)


TRACE_SCHEMA: Schema = {
    "id": pl.String,
    **{k: PROBLEM_SCHEMA[k] for k in TRACE_PROBLEM_FIELDS},
    "problem_template": pl.String,
    "trace": pl.String,
    "thinking": pl.String,
    "thinking_closed": pl.Boolean,
    **LINEAGE_SCHEMA,
}


class CotTask(ProblemTask):
    """``samples`` traces per problem; a reasoning model's thinking is kept apart from the solution."""

    name = "cot_trace"
    inputs = (*TRACE_PROBLEM_FIELDS, "template")
    outputs = TRACE_SCHEMA

    def __init__(
        self, backend: ModelBackend, params: SamplingParams, samples: int = 1, shots: Shots = "domain"
    ) -> None:
        super().__init__(backend, params, samples)
        self.shots = shots

    def prompt(self, row: dict[str, Any]) -> RenderedPrompt:
        siblings = sibling_exemplars(row) if self.shots == "siblings" and not self.backend.chat else None
        return cot_prompt(row["problem"], chat=self.backend.chat, domain=row["domain"], shots=siblings)

    def origin(self, problem: dict[str, Any], request: GenerationRequest) -> tuple:
        template_hash = dict(request.metadata)["template_hash"]
        return (problem["problem_id"], self.backend.model, template_hash, self.sampling, request.sample_index)

    def parse(self, problem: dict[str, Any], request: GenerationRequest, result: GenerationResult) -> dict:
        parts = split_thinking(result.text or "", result.reasoning)
        return {
            **{k: problem[k] for k in TRACE_PROBLEM_FIELDS},
            # the problem's own template (a family such as "calendar", or an arithmetic story); `template` is the
            # prompt's
            "problem_template": problem["template"],
            "id": row_id(result.text, *filter(None, [result.reasoning]), *self.origin(problem, request)),
            "trace": parts.solution,
            "thinking": parts.thinking,
            "thinking_closed": parts.closed if parts.thinking is not None else None,
            **self.lineage(request, result),
        }
