"""Teacher-made problems evolved from seed problems (harder, an added constraint, a new context), kept only where a
majority of independent teacher solutions agree on one answer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from typing import Any, ClassVar

import polars as pl

from filters.answers import extract_answer
from filters.schemas import PROBLEM_SCHEMA, Schema, reasons, rejection, rejections_frame
from filters.verify import majority_votes
from generators.tasks.base import ProblemTask, Rejected, Task, TaskOutput
from generators.tasks.prompts import RenderedPrompt, prompt_hash
from generators.teachers.backend import (
    GenerationRequest,
    GenerationResult,
    GenerationStats,
    ModelBackend,
    ProgressFn,
    SamplingParams,
)

TRUNCATED, TOO_SHORT, NO_MAJORITY = reasons(
    __name__, "evolution_truncated", "evolution_too_short", "no_majority_answer"
)

EVOLUTIONS = {
    "harder": "Rewrite the problem so that solving it needs one more step of reasoning.",
    "constraint": "Rewrite the problem with one added condition that changes the answer.",
    "new_context": "Retell the same kind of problem in a new everyday setting with new numbers.",
}
EVOLVE_SHOT = (
    "Original problem: Mia has 4 boxes with 6 pens in each box. How many pens does she have?\n"
    "Instruction: Rewrite the problem so that solving it needs one more step of reasoning.\n"
    "New problem: Mia has 4 boxes with 6 pens in each box. She gives 5 pens to her brother. "
    "How many pens does she have left?\n\n"
)


EVOLVE_HASH = prompt_hash(EVOLVE_SHOT, EVOLUTIONS)


def evolve_prompt(problem: str, evolution: str, chat: bool) -> tuple[str | None, tuple[tuple[str, str], ...] | None]:
    """(completion prompt, chat messages): one of them, asking for an evolved version of ``problem``."""
    instruction = EVOLUTIONS[evolution]
    if chat:
        user = f"{instruction} Reply with the new problem only.\n\nProblem: {problem}"
        return None, (("system", "You write clear, solvable word problems."), ("user", user))
    return f"{EVOLVE_SHOT}Original problem: {problem}\nInstruction: {instruction}\nNew problem:", None


class RewriteTask(Task):
    """One evolved rewrite per (seed problem, evolution) row; a cut or too-short rewrite is turned down."""

    name = "evolve_rewrite"
    inputs = ("problem_id", "problem", "domain", "reasoning_kind", "evolution")
    outputs: ClassVar[Schema] = {"pick": pl.Int64, "text": pl.String}

    def prompt(self, pick: dict[str, Any]) -> RenderedPrompt:
        prompt, messages = evolve_prompt(pick["problem"], pick["evolution"], self.backend.chat)
        return RenderedPrompt(f"evolve_{pick['evolution']}", EVOLVE_HASH, prompt, messages)

    def origin(self, pick: dict[str, Any], request: GenerationRequest) -> tuple:
        return (pick["problem_id"],)

    def rejection_id(self, pick: dict[str, Any], request: GenerationRequest) -> str:
        return pick["problem_id"]

    def parse(self, pick: dict[str, Any], request: GenerationRequest, result: GenerationResult) -> dict | Rejected:
        text = (result.text or "").strip()
        if result.finish_reason == "length":
            # a rewrite cut off at the token limit ("... twice a week.  How many") is not a problem
            return Rejected(TRUNCATED, text=text)
        if len(text.split()) < 5:
            return Rejected(TOO_SHORT, text=text)
        return {"pick": pick["pick"], "text": text}


class SolveTask(ProblemTask):
    """``samples`` solutions of an evolved problem, each reduced to its final answer for the vote."""

    name = "evolve_solve"
    inputs = ("candidate", "problem_id", "problem", "domain")
    outputs: ClassVar[Schema] = {"candidate": pl.Int64, "answer": pl.String}

    def origin(self, candidate: dict[str, Any], request: GenerationRequest) -> tuple:
        return (candidate["problem"], request.sample_index)

    def rejection_id(self, candidate: dict[str, Any], request: GenerationRequest) -> str:
        return candidate["problem_id"]

    def parse(self, candidate: dict[str, Any], request: GenerationRequest, result: GenerationResult) -> dict:
        return {"candidate": candidate["candidate"], "answer": extract_answer(result.text or "")}


def evolve_problems(
    seeds: pl.DataFrame,
    teacher: ModelBackend,
    count: int,
    solve_samples: int,
    params: SamplingParams,
    min_agreement: float = 0.6,
    evolutions: tuple[str, ...] = tuple(EVOLUTIONS),
    workers: int = 2,
    progress: ProgressFn | None = None,
    rewrite_max_tokens: int = 160,
) -> TaskOutput:
    """``count`` evolved problems (seeds and evolutions taken in turn), each solved ``solve_samples`` times; kept only
    where a majority agrees. Their ``answer`` stays empty: the majority vote decides downstream, as for any problem
    without gold."""
    picks = [
        {**seeds.row(i % seeds.height, named=True), "evolution": evolutions[i % len(evolutions)], "pick": i}
        for i in range(count)
    ]
    if not picks:
        return TaskOutput(pl.DataFrame(schema=PROBLEM_SCHEMA), rejections_frame([]), GenerationStats())
    rewrite_stop = () if teacher.chat else ("\n\n", "\nOriginal")
    rewrite = RewriteTask(teacher, replace(params, max_tokens=rewrite_max_tokens, stop=rewrite_stop))
    rewritten = rewrite.run(picks, progress)
    candidates = [
        {**picks[pick], "candidate": n, "problem": text} for n, (pick, text) in enumerate(rewritten.rows.iter_rows())
    ]
    solved = SolveTask(teacher, replace(params, stop=()), solve_samples).run(candidates, progress)
    answers: list[list[str | None]] = [[] for _ in candidates]
    for candidate, answer in solved.rows.iter_rows():
        answers[candidate].append(answer)
    groups = [found + [None] * (solve_samples - len(found)) for found in answers]  # a failed sample is no vote
    votes = majority_votes(groups, min_agreement, workers)
    rows, rejected = [], []
    for candidate, (winner, share, _) in zip(candidates, votes, strict=True):
        how, text = candidate["evolution"], candidate["problem"]
        problem_id = "evolved-" + hashlib.sha256(f"{candidate['problem_id']}\n{how}\n{text}".encode()).hexdigest()[:16]
        if winner is None:
            rejected.append(rejection(problem_id, text, NO_MAJORITY, f"{share:.2f}"))
            continue
        spec = {"parent": candidate["problem_id"], "evolution": how, "majority_answer": winner, "agreement": share,
                "template_hash": EVOLVE_HASH, "sampling": asdict(rewrite.params)}  # fmt: skip
        rows.append({
            "problem_id": problem_id, "source": f"evolved:{how}", "domain": candidate["domain"],
            "reasoning_kind": candidate["reasoning_kind"], "problem": text, "answer": None, "steps": None,
            "template": f"evolve_{how}", "spec": json.dumps(spec),
        })  # fmt: skip
    return TaskOutput(
        pl.DataFrame(rows, schema=PROBLEM_SCHEMA),
        pl.concat([rewritten.rejections, solved.rejections, rejections_frame(rejected)]),
        GenerationStats.merged([rewritten.stats, solved.stats]),
    )
