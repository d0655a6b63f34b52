"""Final-answer extraction from solutions and traces: ``\\boxed{}``, ``#### N``, "The answer is ...", last number."""

from __future__ import annotations

import re

_GSM8K = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS = re.compile(
    r"(?:final answer|the answer)\s*(?:is|:)\s*\$?([^\n$]+?)\$?\s*(?:\.\s|\.$|$|\n)", re.IGNORECASE
)
_ANSWER_LINE = re.compile(r"^\s*answer\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?[.:]?$")
_CHOICE_IN_TEXT = re.compile(
    r"(?:answer is|answer:|option|choice)\s*\(?([A-E])\)?(?![A-Za-z])|\(([A-E])\)", re.IGNORECASE
)
_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
BOOLEANS = {"true": "true", "yes": "true", "false": "false", "no": "false"}


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; None if there is none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    return None if start < 0 else _box_content(text, start)


def boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` and ``\\fbox{...}`` of a text, in order, braces balanced."""
    found = (_box_content(text, match.start()) for match in _BOX.finditer(text)) if "box" in text else ()
    return [content for content in found if content is not None]


def _box_content(text: str, start: int) -> str | None:
    """Content of the box command at ``start``, braces balanced; None where it has no closed argument."""
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for i in range(brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : i].strip()
    return None


def clean_number(text: str) -> str:
    """Strip thousands separators, currency and trailing punctuation from a numeric answer."""
    text = text.strip().rstrip(".").strip()
    text = re.sub(r"^\$\s*", "", text)
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    return text


def choice_letter(answer: str) -> str | None:
    """``B`` for answers such as ``B``, ``(b)``, ``B.`` or ``\\text{(B)}``; None for anything else."""
    answer = re.sub(r"\\text\{(.*)\}", r"\1", answer.strip())
    match = _CHOICE.match(answer)
    return match.group(1).upper() if match else None


def boolean_value(answer: str) -> str | None:
    """``true``/``false`` for yes/no/true/false answers; None for anything else."""
    return BOOLEANS.get(re.sub(r"[^a-z]", "", answer.lower()))


def extract_answer_with_method(text: str) -> tuple[str | None, str | None]:
    """The final answer and the rule that found it (boxed, gsm8k, answer_is, answer_line, choice, last_number)."""
    if not text:
        return None, None
    boxed = last_boxed(text)
    if boxed:
        return clean_number(boxed), "boxed"
    gsm = _GSM8K.findall(text)
    if gsm:
        return clean_number(gsm[-1]), "gsm8k"
    said = _ANSWER_IS.findall(text)
    if said:
        return clean_number(said[-1]), "answer_is"
    line = _ANSWER_LINE.findall(text)
    if line:
        return clean_number(line[-1]), "answer_line"
    choices = _CHOICE_IN_TEXT.findall(text)
    if choices:
        return "".join(choices[-1]).upper(), "choice"
    numbers = _NUMBER.findall(text)
    if numbers:
        return clean_number(numbers[-1]), "last_number"
    return None, None


def states_an_answer(text: str) -> bool:
    """Whether the text states a final answer (boxed, ``####``, "the answer is", an answer line, a choice): a bare
    last number is no statement, so a reply that only repeats the question does not answer it."""
    return extract_answer_with_method(text)[1] not in (None, "last_number")


def extract_answer(text: str) -> str | None:
    """The final answer of a solution or trace, or None where none can be found."""
    return extract_answer_with_method(text)[0]
