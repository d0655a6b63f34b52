"""Process checks over a reasoning trace: every arithmetic claim it states holds, and its final answer is derived.

``find_reasoning_error(problem, trace)`` returns None where no error is found, else a reason that starts with its code:
``false_calculation: <claim>`` (a stated calculation is wrong), ``misread_fact: <step> (the problem: <sentence>)`` (a
step restates a quantity the problem gives with another number), ``unfounded_fact: <step>`` (a step states a quantity
from nowhere that nothing after it uses, or closes a worked answer speaking of things from nowhere) or
``answer_not_derived`` (the final answer is not the result of any step: the typical case restates the question and
boxes the answer). A trace written as a program is run instead (``program_fails``: it cannot run).

Claims are read from a token stream, never ``eval``-ed: numbers (``$1,200``, ``.25``, ``3 1/2``, ``20%``), operators
(``+ - * / ^ x × · ÷``, ``times``, ``divided by``, ``plus``, ``minus``, ``half of``, ``20% of``), LaTeX
(``\\frac{a}{b}``, ``\\times``, ``\\cdot``) and equality (``=``, ``equals``, ``is equal to``; ``is`` after a
compound expression). Unit words after a number (``8 bags/trip * 4 oz/bag``) are skipped. Values are exact
rationals. Tolerated: rounding to the stated precision, a percent written as a number (``0.25 * 100 = 25%``), a
running total (``2 + 3 = 5 + 4 = 9``), unit conversions (``2 hours = 120 minutes``: a bare number on the left is a
label, not a claim). A linear equation in one named unknown is solved and later values held to it, the members of a
simplification in it must be equal, and two quantities in different units are never added unconverted.

The modules, bottom up: ``text`` (what a step and a sentence are), ``tokens``, ``expressions``, ``equations``,
``claims``, ``facts`` (what the problem gives), ``units`` (units of measure and conversions), ``setups`` (set-ups that
misread the problem while their arithmetic holds), ``program`` (program-of-thought traces, run), ``checks`` (the
check of a trace) and ``labels`` (the first bad step of a rejection).
"""

from filters.steps.checks import TRACE_REASONS, TraceCheck, check_trace, find_reasoning_error
from filters.steps.labels import LABEL_SOURCES, marked_at, source_of
from filters.steps.text import clauses, split_steps, step_depth
from filters.steps.tokens import NUMBER_WORDS

__all__ = [
    "LABEL_SOURCES",
    "NUMBER_WORDS",
    "TRACE_REASONS",
    "TraceCheck",
    "check_trace",
    "clauses",
    "find_reasoning_error",
    "marked_at",
    "source_of",
    "split_steps",
    "step_depth",
]
