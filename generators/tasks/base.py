"""The one shape of a generation task: render the requests of each input row, send them as one batch, parse each
completion into an output row that carries its lineage. A failed request or a completion the task turns down becomes
a rejection with a code; nothing is dropped silently."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import polars as pl

from filters.schemas import Schema, reasons, rejection, rejections_frame, row_id
from generators.tasks.prompts import COT_STOP, RenderedPrompt, cot_prompt
from generators.teachers.backend import (
    GenerationRequest,
    GenerationResult,
    GenerationStats,
    ModelBackend,
    ProgressFn,
    SamplingParams,
)

GENERATION_FAILED = reasons(__name__, "generation_failed")[0]


@dataclass(frozen=True)
class Rejected:
    """What ``parse`` returns for a completion it turns down: why (``code``, ``detail``) and the text to show."""

    code: str
    detail: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class TaskOutput:
    rows: pl.DataFrame
    rejections: pl.DataFrame
    stats: GenerationStats


class Task(ABC):
    """A generation task (after distilabel's tasks): it declares the columns it reads and the rows it writes, renders
    requests from a row and parses a result; ``run`` owns the loop, the failures and the accounting."""

    name: ClassVar[str]  # tagged on every request as its purpose
    inputs: ClassVar[tuple[str, ...]]
    outputs: ClassVar[Schema]
    default_stop: ClassVar[tuple[str, ...]] = ()  # for completion prompts, where the caller set no stop

    def __init__(self, backend: ModelBackend, params: SamplingParams, samples: int = 1) -> None:
        self.backend, self.samples = backend, samples
        stop = params.stop or (() if backend.chat else self.default_stop)
        self.params = replace(params, stop=stop)
        self.sampling = json.dumps(asdict(self.params), sort_keys=True)

    @abstractmethod
    def prompt(self, row: dict[str, Any]) -> RenderedPrompt:
        """The prompt for one input row."""

    def render(self, row: dict[str, Any], first: int = 0) -> list[GenerationRequest]:
        """The requests one input row needs: ``samples`` samples of its prompt, numbered from ``first``."""
        rendered = self.prompt(row)
        return [self.request(rendered, index) for index in range(first, first + self.samples)]

    @abstractmethod
    def parse(self, row: dict[str, Any], request: GenerationRequest, result: GenerationResult) -> dict | Rejected:
        """The output row for one successful result, or why it is turned down."""

    @abstractmethod
    def origin(self, row: dict[str, Any], request: GenerationRequest) -> tuple:
        """What identifies a request's output apart from its text: the id of a failed request is made from it."""

    def failed_text(self, row: dict[str, Any]) -> str:
        """The text a rejection of this row shows."""
        return str(row.get("problem") or row.get("text") or "")

    def request(self, rendered: RenderedPrompt, sample_index: int = 0) -> GenerationRequest:
        """A request for one sample of a rendered prompt, tagged with the task and the template."""
        metadata = (("purpose", self.name), ("template", rendered.template), ("template_hash", rendered.template_hash))
        return GenerationRequest(self.params, rendered.prompt, rendered.messages, sample_index, metadata)

    def lineage(self, request: GenerationRequest, result: GenerationResult) -> dict[str, Any]:
        """The lineage columns of an output row: which model, prompt template and sampling made it, at what cost."""
        tags = dict(request.metadata)
        return {
            "teacher_model": self.backend.model,
            "teacher_backend": self.backend.backend,
            "template": tags["template"],
            "template_hash": tags["template_hash"],
            "sampling": self.sampling,
            "sample_index": request.sample_index,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "finish_reason": result.finish_reason,
        }

    def run(
        self,
        rows: pl.DataFrame | Sequence[dict[str, Any]],
        progress: ProgressFn | None = None,
        first_samples: Sequence[int] | None = None,
    ) -> TaskOutput:
        """Every row's requests in one batch (row n's samples numbered from ``first_samples[n]``, else 0); output rows
        in input order, rejections for the rest."""
        if isinstance(rows, pl.DataFrame):
            missing = [c for c in self.inputs if c not in rows.columns]
            if missing:
                raise ValueError(f"{self.name}: input lacks columns {missing}")
            rows = rows.to_dicts()
        starts = first_samples if first_samples is not None else [0] * len(rows)
        jobs = [(row, request) for row, first in zip(rows, starts, strict=True) for request in self.render(row, first)]
        results, stats = self.backend.generate([request for _, request in jobs], progress)
        kept, turned_down = [], []
        for (row, request), result in zip(jobs, results, strict=True):
            if result.error is not None:
                outcome: dict | Rejected = Rejected(GENERATION_FAILED, result.error)
            else:
                outcome = self.parse(row, request, result)
            if isinstance(outcome, Rejected):
                text = outcome.text if outcome.text is not None else self.failed_text(row)
                turned_down.append(rejection(self.rejection_id(row, request), text, outcome.code, outcome.detail))
            else:
                kept.append(outcome)
        return TaskOutput(pl.DataFrame(kept, schema=self.outputs), rejections_frame(turned_down), stats)

    def rejection_id(self, row: dict[str, Any], request: GenerationRequest) -> str:
        return row_id(*self.origin(row, request))


class ProblemTask(Task):
    """A task that asks for a worked solution of a row's ``problem`` in its ``domain`` (the CoT prompt)."""

    default_stop = COT_STOP

    def prompt(self, row: dict[str, Any]) -> RenderedPrompt:
        return cot_prompt(row["problem"], chat=self.backend.chat, domain=row["domain"])
