"""An LLM judge of educational value: each passage gets a 0-5 score on FineWeb-Edu's additive rubric."""

from __future__ import annotations

import re
from dataclasses import asdict

from generators.prompts import EDU_STOP, edu_judge_prompt
from generators.teacher import GenerationRequest, GenerationStats, ProgressFn, SamplingParams, TeacherBackend

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


def edu_filter_reasons(scores: list[int | None], min_score: int) -> list[str | None]:
    """Per row: ``edu_score_below_<min>`` for a judged passage under ``min_score``; None for kept or unjudged rows."""
    return [f"edu_score_below_{min_score}" if score is not None and score < min_score else None for score in scores]
