"""Teacher-made problems evolved from seed problems (harder, an added constraint, a new context), kept only where a
majority of independent teacher solutions agree on one answer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import polars as pl

from filters.answers import extract_answer
from filters.schemas import PROBLEM_SCHEMA, rejections_frame
from filters.verify import majority_votes
from generators.tasks.prompts import COT_STOP, _hash, cot_prompt
from generators.teachers.backend import GenerationRequest, GenerationStats, ProgressFn, SamplingParams, TeacherBackend

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


def evolve_prompt(problem: str, evolution: str, chat: bool) -> tuple[str | None, tuple[tuple[str, str], ...] | None]:
    """(completion prompt, chat messages): one of them, asking for an evolved version of ``problem``."""
    instruction = EVOLUTIONS[evolution]
    if chat:
        user = f"{instruction} Reply with the new problem only.\n\nProblem: {problem}"
        return None, (("system", "You write clear, solvable word problems."), ("user", user))
    return f"{EVOLVE_SHOT}Original problem: {problem}\nInstruction: {instruction}\nNew problem:", None


def evolve_problems(
    seeds: pl.DataFrame,
    teacher: TeacherBackend,
    count: int,
    solve_samples: int,
    params: SamplingParams,
    min_agreement: float = 0.6,
    evolutions: tuple[str, ...] = tuple(EVOLUTIONS),
    workers: int = 2,
    progress: ProgressFn | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, GenerationStats]:
    """``count`` evolved problems (seeds and evolutions taken in turn), each solved ``solve_samples`` times; kept only
    where a majority agrees. Their ``answer`` stays empty: the majority vote decides downstream, as for any problem
    without gold. Returns (problems, rejections, accounting)."""
    picks = [(seeds.row(i % seeds.height, named=True), evolutions[i % len(evolutions)]) for i in range(count)]
    if not picks:
        return pl.DataFrame(schema=PROBLEM_SCHEMA), rejections_frame([]), GenerationStats()
    rewrite = SamplingParams(
        params.temperature, params.top_p, 160, () if teacher.chat else ("\n\n", "\nOriginal"), params.seed
    )
    requests = [GenerationRequest(rewrite, *evolve_prompt(seed["problem"], how, teacher.chat)) for seed, how in picks]
    rewritten, stats = teacher.generate(requests, progress)
    candidates, rejected = [], []
    for (seed, how), result in zip(picks, rewritten, strict=True):
        text = (result.text or "").strip()
        if result.error is None and result.finish_reason == "length":
            # a rewrite cut off at the token limit ("... twice a week.  How many") is not a problem
            rejected.append({"id": seed["problem_id"], "text": text, "reason": "evolution_truncated"})
        elif result.error is None and len(text.split()) >= 5:
            candidates.append((seed, how, text))
    solve = SamplingParams(
        params.temperature, params.top_p, params.max_tokens, () if teacher.chat else COT_STOP, params.seed
    )
    solve_requests = []
    for seed, _, text in candidates:
        rendered = cot_prompt(text, chat=teacher.chat, domain=seed["domain"])
        solve_requests += [
            GenerationRequest(solve, rendered.prompt, rendered.messages, sample_index=i) for i in range(solve_samples)
        ]
    solutions, solve_stats = teacher.generate(solve_requests, progress)
    answers = [extract_answer(r.text or "") for r in solutions]
    groups = [answers[i * solve_samples : (i + 1) * solve_samples] for i in range(len(candidates))]
    votes = majority_votes(groups, min_agreement, workers)
    rows = []
    template_hash = _hash(EVOLVE_SHOT, EVOLUTIONS)
    for (seed, how, text), (winner, share, _) in zip(candidates, votes, strict=True):
        problem_id = "evolved-" + hashlib.sha256(f"{seed['problem_id']}\n{how}\n{text}".encode()).hexdigest()[:16]
        if winner is None:
            rejected.append({"id": problem_id, "text": text, "reason": f"no_majority_answer:{share:.2f}"})
            continue
        spec = {"parent": seed["problem_id"], "evolution": how, "majority_answer": winner, "agreement": share,
                "template_hash": template_hash, "sampling": asdict(rewrite)}  # fmt: skip
        rows.append({
            "problem_id": problem_id, "source": f"evolved:{how}", "domain": seed["domain"],
            "reasoning_kind": seed["reasoning_kind"], "problem": text, "answer": None, "steps": None,
            "template": f"evolve_{how}", "spec": json.dumps(spec),
        })  # fmt: skip
    for (seed, _), result in zip(picks, rewritten, strict=True):
        if result.error is not None:
            rejected.append(
                {"id": seed["problem_id"], "text": seed["problem"], "reason": f"generation_failed: {result.error}"}
            )
    return (
        pl.DataFrame(rows, schema=PROBLEM_SCHEMA),
        rejections_frame(rejected),
        GenerationStats.merged([stats, solve_stats]),
    )
