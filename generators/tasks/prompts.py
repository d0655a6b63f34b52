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

LOGIC_SHOTS: tuple[tuple[str, str], ...] = (
    (
        "Premise 1: All robins are birds. Premise 2: All birds have feathers. Does it follow that all robins have "
        "feathers? Answer yes or no.",
        "Step 1: Every robin is a bird.\nStep 2: Every bird has feathers, so every robin has feathers.\n"
        "The answer is \\boxed{yes}.",
    ),
    (
        "On an island, knights always tell the truth and knaves always lie. You meet Oma and Pip. Oma says: "
        '"Pip is a knave." Pip says: "Oma and I are the same kind." Is Oma a knight or a knave?',
        "Step 1: If Oma were a knave, Pip would be a knight, but then Pip's claim that they are the same kind "
        "would be false.\nStep 2: So Oma is a knight, Pip is a knave, and Pip's claim is indeed false.\n"
        "The answer is \\boxed{knight}.",
    ),
)
CHOICE_SHOTS: tuple[tuple[str, str], ...] = (
    (
        "If today is Friday, what day of the week will it be in 3 days? (A) Sunday (B) Monday (C) Tuesday "
        "(D) Saturday",
        "Step 1: One day after Friday is Saturday, two days is Sunday, three days is Monday.\n"
        "Step 2: Monday is option (B).\nThe answer is \\boxed{B}.",
    ),
    (
        "Which of these weighs the most? (A) 2 kilograms of rice (B) 500 grams of iron (C) 3 pounds of sand "
        "(D) 40 ounces of water",
        "Step 1: In grams: (A) 2000, (B) 500, (C) 3 * 454 = 1362, (D) 40 * 28 = 1134.\n"
        "Step 2: The largest is 2000 grams, option (A).\nThe answer is \\boxed{A}.",
    ),
)
SHOTS_BY_DOMAIN = {"math": ("cot_fewshot", COT_SHOTS), "logic": ("cot_fewshot_logic", LOGIC_SHOTS),
                   "commonsense": ("cot_fewshot_choice", CHOICE_SHOTS)}  # fmt: skip
ANSWER_FORM = {
    "math": "the final answer as \\boxed{answer}",
    "logic": "the final answer as \\boxed{answer} with a single word (for example yes, no, knight, knave or a name)",
    "commonsense": "the letter of the correct option as \\boxed{letter}",
}
COT_STOP = ("\n\nQuestion:", "\nQuestion:")

TEXTBOOK_SHOT = (
    "Topic: Biology > Cells > The cell membrane\nAudience: high school students\nStyle: textbook chapter\n\n"
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


def prompt_hash(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


TEXTBOOK_FEWSHOT_HASH = prompt_hash(TEXTBOOK_SHOT, TEXTBOOK_STOP)


def cot_prompt(
    problem: str, chat: bool, domain: str = "math", shots: tuple[tuple[str, str], ...] | None = None
) -> RenderedPrompt:
    """A chain-of-thought prompt: chat messages for chat models, a few-shot completion prompt for base models, with
    worked examples of the problem's domain (math, logic or multiple-choice common sense), or the ``shots`` given
    (problems of the problem's own kind, template ``cot_fewshot_siblings``: its hash is that of those shots)."""
    if chat:
        system = COT_SYSTEM.replace(
            "the final answer as \\boxed{answer}", ANSWER_FORM.get(domain, ANSWER_FORM["math"])
        )
        return RenderedPrompt(
            f"cot_chat_{domain}", prompt_hash(system), messages=(("system", system), ("user", problem))
        )
    template, examples = (
        ("cot_fewshot_siblings", shots) if shots else SHOTS_BY_DOMAIN.get(domain, SHOTS_BY_DOMAIN["math"])
    )
    shown = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in examples)
    prompt = f"{shown}Question: {problem.strip()}\nAnswer:"
    return RenderedPrompt(template, prompt_hash(examples, COT_STOP), prompt=prompt)


STYLES: dict[str, str] = {
    "textbook chapter": "a clear textbook section with concrete examples",
    "worked example": "a worked example that solves one problem step by step and explains each step",
    "Socratic dialogue": "a Socratic dialogue in which a teacher leads a student to the idea with questions",
    "exercise with solution": "an exercise followed by its full solution",
}
TEXTBOOK_SYSTEM = "You write excellent, accurate textbooks."


def textbook_prompt(path: str, audience: str, style: str, chat: bool) -> RenderedPrompt:
    """A textbook-passage prompt for a topic path such as ``Mathematics > Fractions > Adding fractions``."""
    if style not in STYLES:
        raise ValueError(f"unknown textbook style {style!r}; known: {sorted(STYLES)}")
    if chat:
        user = f"Write {STYLES[style]} for {audience} on: {path}."
        messages = (("system", TEXTBOOK_SYSTEM), ("user", user))
        return RenderedPrompt("textbook_chat", prompt_hash(TEXTBOOK_SYSTEM, STYLES), messages=messages)
    prompt = f"{TEXTBOOK_SHOT}Topic: {path}\nAudience: {audience}\nStyle: {style}\n\n"
    return RenderedPrompt("textbook_fewshot", TEXTBOOK_FEWSHOT_HASH, prompt=prompt)


# The additive 0-5 educational-value rubric of FineWeb-Edu's annotation prompt, in this project's words.
EDU_RUBRIC = """Judge how useful the extract below would be for teaching, from primary school to grade school.
Score it on an additive 5-point scale, adding points as each condition is met:
- Add 1 point if it gives some basic information relevant to an educational topic, even if it also holds
  irrelevant or promotional material.
- Add another point if it covers elements that matter for education but does not follow school standards closely:
  it may mix educational and other content, or give only a superficial overview.
- Award a third point if it suits educational use and introduces key concepts of school curricula; it is coherent,
  though it may not be comprehensive.
- Grant a fourth point if it is highly relevant and useful for teaching at grade-school level, clearly written, with
  substantial content and little that is irrelevant, like a textbook chapter or a tutorial.
- Bestow a fifth point if it is outstanding for teaching: well reasoned, easy to follow, with deep and thorough
  insight and nothing irrelevant.
Write a justification of at most 100 words, then end with the line "Educational score: <points>"."""

# Two judged extracts for base models, written for this project.
EDU_SHOTS: tuple[tuple[str, int], ...] = (
    (
        "Fractions name parts of a whole. In 3/4 the denominator 4 says the whole is cut into four equal parts and "
        "the numerator 3 says we take three of them. To add 1/4 and 2/4, keep the denominator and add the "
        "numerators: 1/4 + 2/4 = 3/4. Try it: what is 2/5 + 1/5?",
        4,
    ),
    ("Buy now and save 50%! Free shipping on all orders over $20. Click here to subscribe to our newsletter.", 0),
)
EDU_STOP = ("\n",)


def edu_judge_prompt(text: str, chat: bool) -> RenderedPrompt:
    """A prompt asking for the extract's educational score (0-5): the rubric for chat models, scored examples
    ending in ``Educational score:`` for base models."""
    if chat:
        messages = (("user", f"{EDU_RUBRIC}\n\nExtract:\n{text.strip()}"),)
        return RenderedPrompt("edu_judge_chat", prompt_hash(EDU_RUBRIC), messages=messages)
    shots = "".join(f"Extract: {extract}\nEducational score: {score}\n\n" for extract, score in EDU_SHOTS)
    prompt = f"{shots}Extract: {' '.join(text.split())}\nEducational score:"
    return RenderedPrompt("edu_judge_fewshot", prompt_hash(EDU_SHOTS, EDU_STOP), prompt=prompt)
