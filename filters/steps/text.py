"""What a step and a sentence of a reasoning trace are: the one definition the process checks, the step-depth filter,
the family checks and the published step labels share."""

from __future__ import annotations

import re

STEP_LABEL = re.compile(r"^\s*(?:step\s*\d+\s*[:.)-]|\d+\s*[.)]\s|[-*•]\s)", re.IGNORECASE | re.MULTILINE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\])")
FINAL_ANSWER = re.compile(
    r"\\boxed|\\fbox|####|(?:final answer|the answer)\s*(?:is|:)", re.IGNORECASE
)  # where a final answer is stated
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_CLAUSE = re.compile(r"[^.;!?\n]+")
_CALCULATION = re.compile(r"[\d)]\s*[-+*/×÷^]\s*[\d(][^=\n]*=\s*-?[\d(]")


def answer_step(steps: list[str]) -> int | None:
    """The 0-based step that first states the final answer; None where no step marks one."""
    return next((i for i, step in enumerate(steps) if FINAL_ANSWER.search(step)), None)


def split_steps(trace: str) -> list[str]:
    """A trace's steps: its non-empty lines, or its sentences where it is one paragraph; display math (``\\[ \\]``,
    ``$$``, an environment) stays within the step it opens in."""
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    if len(lines) == 1:
        lines = [s.strip() for s in SENTENCE_END.split(lines[0]) if s.strip()]
    return _with_whole_displays(lines) if "\\" in trace or "$$" in trace else lines


_DISPLAY_OPEN = re.compile(r"\\\[|\\begin\{|\$\$")
_DISPLAY_LINES = 40  # the most lines one display spans
_DISPLAY_CLOSE = {"\\[": "\\]", "\\begin{": "\\end{", "$$": "$$"}


def _with_whole_displays(pieces: list[str]) -> list[str]:
    """``pieces`` with each one that opens a display and leaves it open joined to those up to the one that closes it
    (a display left open to the end, or longer than ``_DISPLAY_LINES``, is left as it was: a model caught in a loop
    may open displays it never closes)."""
    joined: list[str] = []
    i = 0
    while i < len(pieces):
        end = i
        while (open_at := _unclosed(" ".join(pieces[i : end + 1]))) and end + 1 < min(len(pieces), i + _DISPLAY_LINES):
            end += 1
        if open_at:
            end = i
        joined.append(" ".join(pieces[i : end + 1]) if end > i else pieces[i])
        i = end + 1
    return joined


_FIGURE = re.compile(r"\[asy\].*?\[/asy\]", re.DOTALL)  # an Asymptote figure: a diagram's drawing code


def without_figures(steps: list[str]) -> list[str]:
    """``steps`` with their Asymptote figures blanked, one that spans several steps too: drawing code
    (``for(i=1;i<=6;++i)``) states no reasoning."""
    if not any("[asy]" in step for step in steps):
        return steps
    joined = _FIGURE.sub(lambda figure: "\0" * figure.group().count("\0"), "\0".join(steps))  # a step per NUL
    return joined.split("\0")


def _unclosed(text: str) -> bool:
    """Whether ``text`` opens a display math block it does not close."""
    position = 0
    while match := _DISPLAY_OPEN.search(text, position):
        close = text.find(_DISPLAY_CLOSE[match.group(0)], match.end())
        if close < 0:
            return True
        position = close + len(_DISPLAY_CLOSE[match.group(0)])
        if match.group(0) == "\\begin{":  # past the environment's name in \end{...}
            position = text.find("}", position) + 1 or len(text)
    return False


def code_lines(trace: str) -> list[str]:
    """A trace's non-empty lines, indentation kept and step labels ("Step 3: ") cut: the lines of a program-of-thought
    trace, one per step of ``split_steps`` where the trace is more than one line."""
    lines = []
    for line in trace.splitlines():
        if line.strip():
            label = STEP_LABEL.match(line)
            lines.append(line[label.end() :].removeprefix(" ") if label else line)
    return lines


def sentences(text: str) -> list[str]:
    """A text's sentences: the stretches after ``. ! ?`` and a space (a problem's givens are read one at a time)."""
    return _SENTENCE_BREAK.split(text.strip())


def clauses(text: str) -> list[str]:
    """A text's sentences and clauses: the stretches between ``. ; ! ?`` and line ends, without step labels."""
    return [stripped for part in _CLAUSE.findall(text) if (stripped := STEP_LABEL.sub("", part).strip())]


def step_depth(trace: str) -> int:
    """How many reasoning steps a trace takes: per step, its calculations, and at least one where the step is labelled
    ("Step 2:", "3.", "- "); an unlabelled step without a calculation ("In 2023 she was 14.") takes none."""
    return sum(max(bool(STEP_LABEL.match(step)), len(_CALCULATION.findall(step))) for step in split_steps(trace))
