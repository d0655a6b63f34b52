"""Final-answer extraction from solutions and traces: ``\\boxed{}``, ``#### N``, "The answer is ...", last number."""

from __future__ import annotations

import re

_GSM8K = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS = re.compile(
    r"(?:final answer|the answer)\s*(?:is|:)\s*\$?([^\n$]+?)\$?\s*(?:\.\s|\.$|$|\n)", re.IGNORECASE
)
_ANSWER_LINE = re.compile(r"^\s*answer\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; None if there is none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
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


def extract_answer_with_method(text: str) -> tuple[str | None, str | None]:
    """The final answer and the rule that found it (boxed, gsm8k, answer_is, answer_line, last_number)."""
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
    numbers = _NUMBER.findall(text)
    if numbers:
        return clean_number(numbers[-1]), "last_number"
    return None, None


def extract_answer(text: str) -> str | None:
    """The final answer of a solution or trace, or None where none can be found."""
    return extract_answer_with_method(text)[0]
