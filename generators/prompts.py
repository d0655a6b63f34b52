"""Prompt templates: few-shot completion prompts for base models, chat prompts for instruction models.

Every template has a name and a hash of its text; both go on each generated row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

COT_SYSTEM = (
    "You are a careful teacher. Solve the problem step by step, one numbered step per line, "
    "then give the final answer as \\boxed{answer}."
)

# Worked examples written for this project (not taken from any benchmark).
COT_SHOTS: tuple[tuple[str, str], ...] = (
    (
        "A baker makes 24 rolls and sells 15 of them. How many rolls are left?",
        "Step 1: The baker starts with 24 rolls.\nStep 2: After selling 15, 24 - 15 = 9 rolls are left.\n"
        "The answer is \\boxed{9}.",
    ),
    (
        "Sam buys 3 packs of pencils with 6 pencils in each pack, then gives away 4 pencils. "
        "How many pencils does Sam have?",
        "Step 1: 3 packs of 6 pencils is 3 * 6 = 18 pencils.\nStep 2: Giving away 4 leaves 18 - 4 = 14 pencils.\n"
        "The answer is \\boxed{14}.",
    ),
    (
        "A garden has 5 rows of 8 tulips. The gardener plants 10 more tulips and then splits all of them "
        "equally into 2 beds. How many tulips are in each bed?",
        "Step 1: 5 rows of 8 tulips is 5 * 8 = 40 tulips.\nStep 2: Planting 10 more gives 40 + 10 = 50 tulips.\n"
        "Step 3: Splitting into 2 beds gives 50 / 2 = 25 tulips per bed.\nThe answer is \\boxed{25}.",
    ),
)

COT_STOP = ("\n\nQuestion:", "\nQuestion:")

TEXTBOOK_SHOT = (
    "Topic: Biology > Cells > The cell membrane\nAudience: high school students\n\n"
    "The cell membrane is a thin, flexible layer that surrounds every cell. It is made of two layers of "
    "phospholipids, molecules with a water-loving head and two water-fearing tails. The membrane controls what "
    "enters and leaves the cell: small molecules such as oxygen pass through freely, while larger ones need "
    "protein channels. Think of it as a security gate that checks every visitor.\n\n"
)
TEXTBOOK_STOP = ("\n\nTopic:",)


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt ready for a backend: completion text or chat messages, with its template's name and hash."""

    template: str
    template_hash: str
    prompt: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None


def _hash(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


COT_FEWSHOT_HASH = _hash(COT_SHOTS, COT_STOP)
COT_CHAT_HASH = _hash(COT_SYSTEM)
TEXTBOOK_FEWSHOT_HASH = _hash(TEXTBOOK_SHOT, TEXTBOOK_STOP)


def cot_prompt(problem: str, chat: bool) -> RenderedPrompt:
    """A chain-of-thought prompt: chat messages for chat models, a 3-shot completion prompt for base models."""
    if chat:
        return RenderedPrompt("cot_chat", COT_CHAT_HASH, messages=(("system", COT_SYSTEM), ("user", problem)))
    shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in COT_SHOTS)
    return RenderedPrompt("cot_fewshot", COT_FEWSHOT_HASH, prompt=f"{shots}Question: {problem.strip()}\nAnswer:")


def textbook_prompt(path: str, audience: str, chat: bool) -> RenderedPrompt:
    """A textbook-passage prompt for a topic path such as ``Mathematics > Fractions > Adding fractions``."""
    if chat:
        user = f"Write a clear, engaging textbook section for {audience} on: {path}. Use concrete examples."
        return RenderedPrompt(
            "textbook_chat",
            _hash("textbook_chat"),
            messages=(("system", "You write excellent textbooks."), ("user", user)),
        )
    prompt = f"{TEXTBOOK_SHOT}Topic: {path}\nAudience: {audience}\n\n"
    return RenderedPrompt("textbook_fewshot", TEXTBOOK_FEWSHOT_HASH, prompt=prompt)
