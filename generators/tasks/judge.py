"""LLM judges through the teacher backend: educational value (each passage gets a 0-5 score on FineWeb-Edu's additive
rubric), and the first wrong step of a trace (ProcessBench's task: paragraphs indexed from 0, -1 for none)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict

from generators.tasks.prompts import EDU_STOP, edu_judge_prompt
from generators.teachers.backend import GenerationRequest, GenerationStats, ProgressFn, SamplingParams, TeacherBackend

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


def judge_passages(
    texts: list[str], teacher: TeacherBackend, params: SamplingParams, progress: ProgressFn | None = None
) -> tuple[list[int | None], GenerationStats, str]:
    """Per text its score (None where the judge failed or gave none), the accounting, and the template name."""
    params = SamplingParams(**{**asdict(params), "stop": params.stop or (() if teacher.chat else EDU_STOP)})
    rendered = [edu_judge_prompt(text, teacher.chat) for text in texts]
    results, stats = teacher.generate([GenerationRequest(params, r.prompt, r.messages) for r in rendered], progress)
    scores = [parse_score(r.text) if r.error is None and r.text else None for r in results]
    return scores, stats, rendered[0].template if rendered else ""


def edu_filter_reasons(scores: list[int | None], is_passage: list[bool], min_score: int) -> list[str | None]:
    """Per row: ``edu_score_below_<min>`` for a passage scored under ``min_score``, ``edu_score_unknown`` for a
    passage the judge gave no score (where there is a bar at all); None for kept rows and rows of other kinds."""
    reasons: list[str | None] = []
    for score, passage in zip(scores, is_passage, strict=True):
        if not passage or min_score <= 0:
            reasons.append(None)
        elif score is None:
            reasons.append("edu_score_unknown")
        else:
            reasons.append(f"edu_score_below_{min_score}" if score < min_score else None)
    return reasons


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


def judge_first_wrong_steps(
    problems: list[str], steps: list[list[str]], judge: TeacherBackend, params: SamplingParams
) -> tuple[list[int | None], GenerationStats]:
    """Per trace the first wrong step a (chat) judge names, -1 for none, None where it gave no usable answer."""
    requests = [
        GenerationRequest(params, messages=step_judge_messages(problem, trace), metadata=(("purpose", "step_judge"),))
        for problem, trace in zip(problems, steps, strict=True)
    ]
    results, stats = judge.generate(requests)
    verdicts = [
        parse_first_wrong_step(r.text or "", len(trace)) if r.error is None else None
        for r, trace in zip(results, steps, strict=True)
    ]
    return verdicts, stats
