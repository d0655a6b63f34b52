"""Chain-of-thought traces: n samples per problem from a teacher backend, each row carrying its lineage."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

import polars as pl

from filters.schemas import LINEAGE_SCHEMA, PROBLEM_SCHEMA, rejections_frame, row_id
from generators.tasks.prompts import COT_STOP, cot_prompt
from generators.teachers.backend import GenerationRequest, GenerationStats, ProgressFn, SamplingParams, TeacherBackend

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


def generate_traces(
    problems: pl.DataFrame,
    teacher: TeacherBackend,
    samples_per_problem: int,
    params: SamplingParams,
    progress: ProgressFn | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, GenerationStats]:
    """Traces for every problem; returns (traces, failed requests as rejections, accounting)."""
    params = SamplingParams(**{**asdict(params), "stop": params.stop or (() if teacher.chat else COT_STOP)})
    jobs = []
    for problem in problems.iter_rows(named=True):
        rendered = cot_prompt(problem["problem"], chat=teacher.chat, domain=problem["domain"])
        for index in range(samples_per_problem):
            tags = (("problem_id", problem["problem_id"]), ("purpose", "cot_trace"))
            request = GenerationRequest(params, rendered.prompt, rendered.messages, sample_index=index, metadata=tags)
            jobs.append((problem, rendered, request))
    results, stats = teacher.generate([request for _, _, request in jobs], progress)
    sampling = json.dumps(asdict(params), sort_keys=True)
    rows, failed = [], []
    for (problem, rendered, request), result in zip(jobs, results, strict=True):
        origin = (problem["problem_id"], teacher.model, rendered.template_hash, sampling, request.sample_index)
        if result.error is not None:
            failed.append(
                {"id": row_id(*origin), "text": problem["problem"], "reason": f"generation_failed: {result.error}"}
            )
            continue
        parts = split_thinking(result.text, result.reasoning)
        rows.append(
            {
                **{k: problem[k] for k in TRACE_PROBLEM_FIELDS},
                # the problem's own template (a family such as "calendar", or an arithmetic story); `template` is the
                # prompt's
                "problem_template": problem["template"],
                "id": row_id(result.text, *((result.reasoning,) if result.reasoning else ()), *origin),
                "trace": parts.solution,
                "thinking": parts.thinking,
                "thinking_closed": parts.closed if parts.thinking is not None else None,
                "teacher_model": teacher.model,
                "teacher_backend": teacher.backend,
                "template": rendered.template,
                "template_hash": rendered.template_hash,
                "sampling": sampling,
                "sample_index": request.sample_index,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "finish_reason": result.finish_reason,
            }
        )
    schema = {
        "id": pl.String,
        **{k: PROBLEM_SCHEMA[k] for k in TRACE_PROBLEM_FIELDS},
        "problem_template": pl.String,
        "trace": pl.String,
        "thinking": pl.String,
        "thinking_closed": pl.Boolean,
        **LINEAGE_SCHEMA,
    }
    return pl.DataFrame(rows, schema=schema), rejections_frame(failed), stats
