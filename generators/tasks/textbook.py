"""Textbook passages: a topic taxonomy (subject > topic > subtopic) crossed with audiences, written by a teacher."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path

import polars as pl

from filters.schemas import LINEAGE_SCHEMA, rejections_frame, row_id
from generators.tasks.prompts import STYLES, TEXTBOOK_STOP, textbook_prompt
from generators.teachers.backend import GenerationRequest, GenerationStats, ProgressFn, SamplingParams, TeacherBackend

AUDIENCES = ("young children", "high school students", "college students", "researchers")


def load_topics(path: str | Path | None = None) -> pl.DataFrame:
    """The topic taxonomy as rows (subject, topic, subtopic); the shipped file unless ``path`` names another."""
    text = Path(path).read_text() if path else files("generators").joinpath("data/topics.json").read_text()
    taxonomy = json.loads(text)
    rows = [
        {"subject": subject, "topic": topic, "subtopic": subtopic}
        for subject, topics in taxonomy.items()
        for topic, subtopics in topics.items()
        for subtopic in subtopics
    ]
    return pl.DataFrame(rows, schema={"subject": pl.String, "topic": pl.String, "subtopic": pl.String})


def sample_topics(
    topics: pl.DataFrame,
    count: int,
    seed: int,
    audiences: Sequence[str] = AUDIENCES,
    styles: Sequence[str] = tuple(STYLES),
) -> pl.DataFrame:
    """``count`` (topic, audience, style) rows drawn reproducibly from the taxonomy x audiences x styles."""
    rng = random.Random(seed)
    combos = [(row, a, s) for row in topics.to_dicts() for a in audiences for s in styles]
    picked = rng.sample(combos, min(count, len(combos)))
    return pl.DataFrame(
        [{**row, "audience": audience, "style": style} for row, audience, style in picked],
        schema={**topics.schema, "audience": pl.String, "style": pl.String},
    )


def generate_passages(
    topics: pl.DataFrame, teacher: TeacherBackend, params: SamplingParams, progress: ProgressFn | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, GenerationStats]:
    """One passage per (topic, audience) row; returns (passages, failed requests as rejections, accounting)."""
    params = SamplingParams(**{**asdict(params), "stop": params.stop or (() if teacher.chat else TEXTBOOK_STOP)})
    jobs = []
    for topic in topics.iter_rows(named=True):
        path = f"{topic['subject']} > {topic['topic']} > {topic['subtopic']}"
        rendered = textbook_prompt(path, topic["audience"], topic["style"], chat=teacher.chat)
        jobs.append((topic, path, rendered, GenerationRequest(params, rendered.prompt, rendered.messages)))
    results, stats = teacher.generate([job[-1] for job in jobs], progress)
    sampling = json.dumps(asdict(params), sort_keys=True)
    rows, failed = [], []
    for (topic, path, rendered, _), result in zip(jobs, results, strict=True):
        origin = (path, topic["audience"], topic["style"], teacher.model, rendered.template_hash, sampling)
        if result.error is not None:
            failed.append({"id": row_id(*origin), "text": path, "reason": f"generation_failed: {result.error}"})
            continue
        rows.append(
            {
                "id": row_id(result.text, *origin),
                "topic_path": path,
                "subject": topic["subject"],
                "audience": topic["audience"],
                "style": topic["style"],
                "text": result.text.strip(),
                "teacher_model": teacher.model,
                "teacher_backend": teacher.backend,
                "template": rendered.template,
                "template_hash": rendered.template_hash,
                "sampling": sampling,
                "sample_index": 0,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "finish_reason": result.finish_reason,
            }
        )
    schema = {
        "id": pl.String,
        "topic_path": pl.String,
        "subject": pl.String,
        "audience": pl.String,
        "style": pl.String,
        "text": pl.String,
        **LINEAGE_SCHEMA,
    }
    return pl.DataFrame(rows, schema=schema), rejections_frame(failed), stats
