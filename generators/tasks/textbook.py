"""Textbook passages: a topic taxonomy (subject > topic > subtopic) crossed with audiences, written by a teacher."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import polars as pl

from filters.schemas import LINEAGE_SCHEMA, Schema, row_id
from generators.tasks.base import Task
from generators.tasks.prompts import STYLES, TEXTBOOK_STOP, RenderedPrompt, textbook_prompt
from generators.teachers.backend import (
    GenerationRequest,
    GenerationResult,
)

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


PASSAGE_SCHEMA: Schema = {
    "id": pl.String,
    "topic_path": pl.String,
    "subject": pl.String,
    "audience": pl.String,
    "style": pl.String,
    "text": pl.String,
    **LINEAGE_SCHEMA,
}


def topic_path(topic: dict[str, Any]) -> str:
    return f"{topic['subject']} > {topic['topic']} > {topic['subtopic']}"


class TextbookTask(Task):
    """One passage per (topic, audience, style) row."""

    name = "textbook_passage"
    inputs = ("subject", "topic", "subtopic", "audience", "style")
    outputs = PASSAGE_SCHEMA
    default_stop = TEXTBOOK_STOP

    def prompt(self, topic: dict[str, Any]) -> RenderedPrompt:
        return textbook_prompt(topic_path(topic), topic["audience"], topic["style"], self.backend.chat)

    def origin(self, topic: dict[str, Any], request: GenerationRequest) -> tuple:
        template_hash = dict(request.metadata)["template_hash"]
        return (topic_path(topic), topic["audience"], topic["style"], self.backend.model, template_hash, self.sampling)

    def failed_text(self, topic: dict[str, Any]) -> str:
        return topic_path(topic)

    def parse(self, topic: dict[str, Any], request: GenerationRequest, result: GenerationResult) -> dict:
        return {
            "id": row_id(result.text, *self.origin(topic, request)),
            "topic_path": topic_path(topic),
            "subject": topic["subject"],
            "audience": topic["audience"],
            "style": topic["style"],
            "text": (result.text or "").strip(),
            **self.lineage(request, result),
        }
