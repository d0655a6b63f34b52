"""LLM judges through the teacher backend: educational value (each passage gets a 0-5 score on FineWeb-Edu's additive
rubric), and the first wrong step of a trace (ProcessBench's task: paragraphs indexed from 0, -1 for none)."""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

import polars as pl

from filters.schemas import Schema
from generators.tasks.base import Task
from generators.tasks.prompts import EDU_STOP, RenderedPrompt, edu_judge_prompt
from generators.teachers.backend import (
    GenerationRequest,
    GenerationResult,
    GenerationStats,
    ModelBackend,
    ProgressFn,
    SamplingParams,
)

_SCORE = re.compile(r"(?:educational score:\s*)?([0-5])\b", re.IGNORECASE)
_LABELLED = re.compile(r"educational score:\s*([0-5])\b", re.IGNORECASE)


def parse_score(completion: str) -> int | None:
    """The last ``Educational score: N`` of a judge's answer, or its first digit 0-5 when the answer is that bare
    number (a base model continuing ``Educational score:``); None where there is neither."""
    labelled = _LABELLED.findall(completion)
    if labelled:
        return int(labelled[-1])
    bare = _SCORE.match(completion.strip())
    return int(bare.group(1)) if bare else None


class EduJudgeTask(Task):
    """A 0-5 educational-value score per text (None where the judge gave none)."""

    name = "edu_judge"
    inputs = ("index", "text")
    outputs: ClassVar[Schema] = {"index": pl.Int64, "score": pl.Int64}
    default_stop = EDU_STOP

    def prompt(self, row: dict[str, Any]) -> RenderedPrompt:
        return edu_judge_prompt(row["text"], self.backend.chat)

    def origin(self, row: dict[str, Any], request: GenerationRequest) -> tuple:
        return (row["text"], self.backend.model, self.sampling)

    def parse(self, row: dict[str, Any], request: GenerationRequest, result: GenerationResult) -> dict:
        return {"index": row["index"], "score": parse_score(result.text) if result.text else None}


def score_passages(
    rows: pl.DataFrame, judge: ModelBackend, params: SamplingParams, progress: ProgressFn | None = None
) -> tuple[pl.DataFrame, GenerationStats]:
    """``rows`` with an ``edu_score`` column: the judge's 0-5 score of each textbook passage (``kind``), null for
    other rows and where the judge gave none; and the accounting."""
    passages = [
        {"index": i, "text": t} for i, (k, t) in enumerate(rows.select("kind", "text").iter_rows()) if k == "textbook"
    ]
    out = EduJudgeTask(judge, params).run(passages, progress)
    scores: list[int | None] = [None] * rows.height
    for index, score in out.rows.iter_rows():
        scores[index] = score
    return rows.with_columns(pl.Series("edu_score", scores, dtype=pl.Int8)), out.stats


STEP_JUDGE_PROMPT = """Below is a problem and a solution split into paragraphs, each in tags and indexed from 0.

[Problem]
{problem}

[Solution]
{paragraphs}

Check the solution paragraph by paragraph: every calculation, every fact taken from the problem, every inference.
Find the earliest paragraph that contains an error. If no paragraph has an error, the answer is -1.
Put only that index in \\boxed{{}} at the end of your review."""
_BOXED_INDEX = re.compile(r"\\boxed\{\s*(-?\d+)\s*\}")


def step_judge_messages(problem: str, steps: list[str]) -> tuple[tuple[str, str], ...]:
    """The step judge's chat prompt for one trace."""
    paragraphs = "\n".join(f"<paragraph_{i}>\n{step}\n</paragraph_{i}>" for i, step in enumerate(steps))
    return (("user", STEP_JUDGE_PROMPT.format(problem=problem.strip(), paragraphs=paragraphs)),)


def parse_first_wrong_step(completion: str, steps: int) -> int | None:
    """The index in the judge's last ``\\boxed{}`` (-1: no wrong step); None where there is none or it is out of
    range."""
    found = _BOXED_INDEX.findall(completion)
    if not found:
        return None
    index = int(found[-1])
    return index if -1 <= index < steps else None


STEP_JUDGE_TEMPLATE_HASH = hashlib.sha256(STEP_JUDGE_PROMPT.encode()).hexdigest()[:12]


class StepJudgeTask(Task):
    """The first wrong step of a trace as a (chat) judge names it: -1 for none, None where its answer is unusable."""

    name = "step_judge"
    inputs = ("index", "problem", "steps")
    outputs: ClassVar[Schema] = {"index": pl.Int64, "first_wrong": pl.Int64}

    def prompt(self, row: dict[str, Any]) -> RenderedPrompt:
        messages = step_judge_messages(row["problem"], row["steps"])
        return RenderedPrompt("step_judge", STEP_JUDGE_TEMPLATE_HASH, messages=messages)

    def origin(self, row: dict[str, Any], request: GenerationRequest) -> tuple:
        return (row["problem"], *row["steps"], self.backend.model, self.sampling)

    def parse(self, row: dict[str, Any], request: GenerationRequest, result: GenerationResult) -> dict:
        return {"index": row["index"], "first_wrong": parse_first_wrong_step(result.text or "", len(row["steps"]))}


def judge_first_wrong_steps(
    problems: list[str], steps: list[list[str]], judge: ModelBackend, params: SamplingParams
) -> tuple[list[int | None], GenerationStats]:
    """Per trace the first wrong step a (chat) judge names, -1 for none, None where it gave no usable answer."""
    rows = [{"index": i, "problem": p, "steps": s} for i, (p, s) in enumerate(zip(problems, steps, strict=True))]
    out = StepJudgeTask(judge, params).run(rows)
    verdicts: list[int | None] = [None] * len(rows)
    for index, first_wrong in out.rows.iter_rows():
        verdicts[index] = first_wrong
    return verdicts, out.stats
