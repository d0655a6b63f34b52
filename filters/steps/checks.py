"""The process check of a trace: every claim of every step evaluated, givens read right, the final answer derived."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from fractions import Fraction

from filters.answers import boxed_contents, extract_answer
from filters.contract import Drop
from filters.schemas import reasons
from filters.steps.claims import justified_claims, line_claims, solved_claims, worded_claims
from filters.steps.expressions import prefix, suffix
from filters.steps.facts import (
    admits_negatives,
    answer_given_to_another,
    answer_named_times,
    claimed_given,
    closing_digression,
    holding_misstated,
    misread_fact,
    negative_allowed,
    problem_facts,
    rate_from_nowhere,
    relation_misstated,
    restates,
    restates_given,
    sum_named_after_a_part,
    taken_as_kept,
    taken_as_remaining,
    unfounded_fact,
)
from filters.steps.latex import equalities, has_math, latex_claims, latex_solutions, without_equalities
from filters.steps.program import ProgramRun, Unjudged, program_source, run_program
from filters.steps.reference import (
    CONTRADICTS_REFERENCE,
    contradicted_answer,
    contradicts_reference,
    first_unreferenced,
)
from filters.steps.setups import (
    answer_not_the_unknown,
    clock_end_as_hours,
    fractional_count,
    given_written_again,
    ignored_given,
    leftover_untaken,
    loop_index_scaled,
    operation_left_undone,
    per_each_once,
    percent_more_as_part,
    period_never_converted,
    self_difference,
    set_up_origin,
    share_added,
    times_fewer_multiplied,
    unlike_a_given,
    unscaled_percent,
)
from filters.steps.text import FINAL_ANSWER, answer_step, split_steps, without_figures
from filters.steps.tokens import (
    DIGIT,
    EQ,
    NUM,
    TIME_OF_DAY,
    WRITTEN_FRACTION,
    Token,
    declared_variables,
    normalize,
    numbers,
    percent_forms,
    tokenize,
    word_numbers,
)
from filters.steps.units import (
    amounts_in,
    false_conversion,
    given_units,
    like_counts_multiplied,
    misconverted_rate,
    quotient_as_total,
    rate_over_its_unit,
    rate_per_several_as_per_one,
    step_units,
    summed_amounts,
    unconverted_rate,
    unconverted_units,
)

_MERIDIEM = re.compile(r"\d\s*[ap]\.?m\b", re.IGNORECASE)  # a claim of clock times: "9 am - 5 = 8" of "9 am - 5 pm"
_BOXED = re.compile(r"\\(?:boxed|fbox)\b")
_BOXED_CLAIM = re.compile(r"\\(?:boxed|fbox)\{([^{}]*=[^{}]*)\}")  # a box around a calculation, not an answer


TRACE_REASONS = (
    *reasons(
        __name__,
        "false_calculation",
        "negative_quantity",
        "misread_fact",
        "unfounded_fact",
        "answer_not_derived",
        "answer_not_worked",
        "two_answers",
        "program_fails",
    ),
    CONTRADICTS_REFERENCE,
)
"""The codes ``check_trace`` rejects a trace with, in the order the card lists them."""


@dataclass(frozen=True)
class TraceCheck:
    """The process check of one trace: its steps, a label per step (True: its calculations hold, False: the first
    bad step, None: nothing checkable), how many claims were checked, and the first error (None: none)."""

    steps: list[str]
    labels: list[bool | None]
    claims: int
    error: Drop | None

    @property
    def first_bad_step(self) -> int | None:
        return self.labels.index(False) if False in self.labels else None


def _working(line: str) -> str:
    """What a line works out: all of a line without a final answer; of one with it, the numbers worked before the
    final answer, a calculation that states the answer ("the answer is 5 + 3 = 8", "10 - 4 = \\boxed{6}") and any
    calculation written inside a box (``\\boxed{12/3 = 4}``), never the answer alone."""
    match = FINAL_ANSWER.search(line)
    if match is None:
        return line
    after = line[match.end() :]  # (a calculation after a box or "####" is no statement of the answer)
    stated_in_words = match.group().lower().endswith(("is", ":")) and not _BOXED.search(after)
    calculation = [after] if stated_in_words and "=" in after else []
    before = line[: match.start()]
    if before.rstrip().endswith("=") and (boxed := boxed_contents(line[match.start() :])):
        before += boxed[0]  # the box holds the calculation's result
    parts = [before, *calculation, *_BOXED_CLAIM.findall(line)]
    return " ; ".join(part for part in parts if DIGIT.search(part))


def check_trace(problem: str, trace: str, reference: str | None = None) -> TraceCheck:
    """Every arithmetic claim of every step evaluated (and the set-up around it read), then whether a step states a
    quantity from nowhere, then whether the final answer is derived by some step and not one the last calculation
    passed over, then, where a worked ``reference`` solution is given, whether the final answer agrees with the
    reference's."""
    steps = split_steps(trace)
    if (source := program_source(trace, len(steps))) is not None:
        return _check_program(problem, steps, source, reference)
    prose = without_figures(steps)  # what the steps say, a figure's drawing code left out
    math = [equalities(step) for step in prose]  # LaTeX equalities: sympy checks them, not the token stream
    normalized = [
        _working(normalize(without_equalities(step) if eqs else step)) for step, eqs in zip(prose, math, strict=True)
    ]
    body = [i for i, line in enumerate(normalized) if line.strip() or math[i]]
    labels: list[bool | None] = [None] * len(steps)
    declared = declared_variables(" ".join(normalized[i] for i in body))
    stated: set[Fraction] = set()
    values: list[set[Fraction]] = []  # each body line's numbers
    worked: list[set[Fraction]] = []  # each body line's calculated results
    checked = 0
    unknowns: dict[str, Fraction] = {}  # a named unknown's value, as the first step that solves for it gives it
    given = problem_facts(problem)[1]
    units = given_units(problem)
    worked_units: dict[Fraction, set[str]] = {}  # the units the steps so far gave the numbers they work out
    competition = has_math(problem) or has_math(trace)  # an answer often argued, not computed: calculations only
    said: set[Fraction] = set()  # the numbers the steps so far state
    answer = extract_answer(trace)
    positive = numbers(normalize(answer)) if answer and not competition and not _MINUS.search(answer) else set()
    sign_dropped: tuple[int, str] | None = None  # a negative result the positive final answer is the size of

    def rejected(i: int, code: str, detail: str) -> TraceCheck:
        labels[i:] = [False, *[None] * (len(steps) - i - 1)]  # the steps after the first bad one are unjudged
        return TraceCheck(steps, labels, checked, Drop(code, detail))

    previous: int | None = None  # the body line before this one
    for i in body:
        tokens = tokenize(normalized[i], declared) if DIGIT.search(normalized[i]) else []
        if tokens:  # number words are tokens too
            values.append({t.value for t in tokens if t.kind == NUM and t.value is not None})
        else:
            values.append(word_numbers(normalized[i]))
        values[-1] |= {v for segment in math[i] for v in numbers(_working(normalize(segment)))}
        line = normalized[i]
        if claimed := claimed_given(line, given, said):
            return rejected(i, "misread_fact", claimed)
        if wrong := false_conversion(line, given) or rate_over_its_unit(line):
            return rejected(i, "false_calculation", wrong)
        claims = [*line_claims(tokens, line), *solved_claims(tokens, line, unknowns)] if tokens else []
        claims += worded_claims(line, "" if previous is None else normalized[previous]) if tokens else []
        claims += justified_claims(line) if tokens else []
        claims += [*latex_claims(math[i]), *latex_solutions(prose[i], prose[i - 1] if i else "")] if math[i] else []
        worked.append({claim.value for claim in claims})
        clock = ":" in steps[i] and TIME_OF_DAY.search(steps[i])  # "6:00 + 18 hours = 00:00": no arithmetic of numbers
        for claim in claims:
            checked += 1
            if not claim.holds and not clock and not _MERIDIEM.search(claim.text):
                return rejected(i, "false_calculation", claim.text)
            impossible = None
            # a negative result the trace then reads as the size of its opposite ("-6 dollars", "so she loses $6")
            opposite = claim.value < 0 and _read_as_opposite(line, claim.text, normalized[i + 1 :])
            if claim.value < 0 and not opposite and not negative_allowed(problem, trace):
                impossible = "negative_quantity", claim.text
            elif claim.unknown and (unlike := unlike_a_given(problem, claim.unknown, claim.value)):
                impossible = "misread_fact", f"{unlike}: {line.strip()}"
            if impossible:
                # an unknown solved to what cannot be: the equation's expression in it carried the misreading
                origin = set_up_origin(normalized[:i], line, claim.unknown) if claim.unknown else None
                return rejected(i if origin is None else origin, *impossible)
            if (
                claim.value < 0
                and not opposite
                and positive == {-claim.value}
                and sign_dropped is None
                and not _NEGATIVE_OPERAND.search(claim.text.split("=")[0])
            ):
                sign_dropped = i, claim.text  # "$3.00 - $24 = -$21", then "Milly will lose $21"
            elif positive == {claim.value}:
                sign_dropped = None  # worked out again ("-50 candies + 100 candies = 50")
            labels[i] = True
            stated.add(claim.value)
            if claim.unknown:  # a value a LaTeX step solved for (the token stream's are recorded already)
                unknowns.setdefault(claim.unknown, claim.value)
            if claim.converted is not None:
                stated.add(claim.converted)
        if claims and (
            mixed := unconverted_units(tokens, units, said, worked_units)
            or unconverted_rate(line)
            or misconverted_rate(line, normalized[:i], (given, said))
        ):
            return rejected(i, "false_calculation", mixed)
        if claims and (
            misset := self_difference(line)
            or percent_more_as_part(problem, line)
            or like_counts_multiplied(problem, line, stated)
            or quotient_as_total(line)
            or rate_per_several_as_per_one(problem, line, units, worked_units, (said, values[-1]))
            or fractional_count(line, trace)
            or per_each_once(problem, normalized[:i], line)
            or times_fewer_multiplied(line)
            or sum_named_after_a_part(problem, line)
        ):
            return rejected(i, "misread_fact", misset)
        if remaining := taken_as_remaining(problem, line, said):
            return rejected(i, "misread_fact", remaining)
        if not claims and (
            misread := misread_fact(problem, line, tokens, values[-1], said | set(unknowns.values()))
            or rate_from_nowhere(problem, line, tokens, values[-1])
            or relation_misstated(problem, line)
            or (not competition and taken_as_kept(problem, line, tokens, values[-1], said))
        ):
            return rejected(i, "misread_fact", misread)
        said |= values[-1]
        for value, unit in step_units(prose[i], tokens).items():
            if value not in given:
                worked_units.setdefault(value, set()).add(unit)
        previous = i
    if sign_dropped is not None:
        return rejected(sign_dropped[0], "negative_quantity", f"{sign_dropped[1]} (the final answer drops its sign)")
    # whole steps, final answers kept: a number the answer states is a later step's use of it
    whole = [normalize(step) for step in steps]
    if not competition and (nowhere := unfounded_fact(given, whole)) is not None:
        return rejected(nowhere, "unfounded_fact", steps[nowhere])
    for misset_trace in (clock_end_as_hours, period_never_converted, holding_misstated) if not competition else ():
        if (found := misset_trace(problem, steps)) is not None:
            at, why = found
            return rejected(at, "misread_fact", f"{steps[at]} ({why})")
    if (boxed := _another_boxed_answer(steps, answer)) is not None:
        return rejected(boxed, "two_answers", steps[boxed].strip())
    if not competition and (other := answer_given_to_another(problem, steps, answer)) is not None:
        return rejected(other, "misread_fact", f"{steps[other]} (asked of another)")
    if not competition and (named := answer_named_times(problem, steps, answer)) is not None:
        return rejected(named[0], "misread_fact", f"{steps[named[0]]} ({named[1]})")
    lines = [normalized[i] for i in body]
    if not competition and (unworked := _unworked(problem, answer, lines, values, worked, stated, unknowns)):
        code, first = unworked
        if steps:  # the steps after the first bad one are unjudged, whatever their calculations
            bad = len(steps) - 1 if first is None else body[first]
            labels[bad:] = [False, *[None] * (len(steps) - bad - 1)]
        return TraceCheck(steps, labels, checked, Drop(code))
    if not competition and (over := _answer_passed_over(problem, answer, lines, values, worked)) is not None:
        at, last = over
        return rejected(body[at], "misread_fact", f"{steps[body[at]]} (the last calculation, {last}, is left unused)")
    if reference and (verdict := contradicts_reference(trace, body, values, worked, given, reference)):
        labels[verdict.step] = False
        return TraceCheck(steps, labels, checked, verdict.error)
    # (after the reference, which locates where a wrong answer was worked out, not only where it is stated)
    if (other_answer := answer_not_the_unknown(problem, answer, unknowns)) is not None:
        return rejected(_answer_step(steps), "answer_not_worked", other_answer)
    if not competition and (aside := closing_digression(problem, whole, positive)) is not None:
        return rejected(aside, "unfounded_fact", f"{steps[aside]} (a digression after the answer is worked out)")
    if not competition and (undone := operation_left_undone(steps, labels)) is not None:
        return rejected(undone[0], "misread_fact", f"{steps[undone[0]]} ({undone[1]}: never worked out)")
    return TraceCheck(steps, labels, checked, None)


def _check_program(problem: str, steps: list[str], source: str, reference: str | None) -> TraceCheck:
    """A program-of-thought trace, run: wrong at the line it fails at, at the first assignment of a negative number to
    a quantity that cannot be negative, where it keeps a number the problem gives as a percent as a plain one, where
    it calls a quantity left over without taking anything away, adds a share to an amount, adds up an amount times
    a loop's count from 0 or writes a given it has named again more times than the problem gives it, where a
    ``reference`` is given and the last thing printed is another number than its answer, at the first number it works
    out that neither the problem nor the reference states (else at the last assignment of the printed number), or,
    without a reference, at the last assignment of what it prints where it never uses a number the problem gives; its
    lines that ran are right (their calculations are Python's own). One the interpreter cannot run is judged only on
    the numbers it states and writes again."""
    labels: list[bool | None] = [None] * len(steps)
    try:
        run = run_program(source)
    except Unjudged:  # (an import, say): only what its source states can be judged
        if (again := given_written_again(problem, source)) is not None:
            labels[again[0]] = False
            return TraceCheck(steps, labels, 0, _written_again(steps[again[0]], again[1]))
        if reference is None and (unused := ignored_given(problem, source)) is not None:
            labels[-1] = False  # (not where it goes wrong)
            return TraceCheck(steps, labels, 0, _never_used(steps[-1], unused))
        return TraceCheck(steps, labels, 0, None)
    for i in run.ran:
        labels[i] = True
    bad, error = None, None
    if run.fault is not None:
        bad, message = run.fault
        error = Drop("program_fails", f"{steps[bad]} ({message})")
    elif not admits_negatives(problem) and (negative := next((i for i, v in run.assigned if v < 0), None)) is not None:
        bad, error = negative, Drop("negative_quantity", steps[negative])
    elif (unscaled := unscaled_percent(problem, source)) is not None:
        bad, error = unscaled[0], Drop("misread_fact", f"{unscaled[1]} (a percent kept as a plain number)")
    elif (untaken := leftover_untaken(problem, source)) is not None:
        bad, error = untaken[0], Drop("misread_fact", f"{untaken[1]} (left over, but nothing is taken away)")
    elif (added := share_added(problem, source)) is not None:
        bad, error = added[0], Drop("misread_fact", f"{added[1]} (a share added to an amount)")
    elif (scaled := loop_index_scaled(source)) is not None:
        bad, error = scaled[0], Drop("misread_fact", f"{scaled[1]} (each amount scaled by the count from 0)")
    elif (again := given_written_again(problem, source)) is not None:
        bad, error = again[0], _written_again(steps[again[0]], again[1])
    elif reference and run.printed and (contradiction := contradicted_answer(str(run.printed[-1]), reference)):
        answer, error = contradiction
        worked = [(i, v) for i, v in run.assigned if i in run.computing]
        bad = first_unreferenced(worked, problem_facts(problem)[1], reference)
        if bad is None:
            bad = _printed_at(run, len(steps), answer)
    elif not reference and run.printed and (unused := ignored_given(problem, source)) is not None:
        # (a reference the printed answer agrees with makes the unused number a distractor)
        bad = _printed_at(run, len(steps))
        error = _never_used(steps[bad], unused)
    if bad is not None:
        labels[bad:] = [False, *[None] * (len(steps) - bad - 1)]
    return TraceCheck(steps, labels, len(run.assigned), error)


# a minus sign: of a negative answer, or of a negative operand ("-6 + 3", "5 * (-2)", "- 47")
_MINUS = re.compile(r"[-−]")
_NEGATIVE_OPERAND = re.compile(r"(?:^|[(*/+=×÷-])\s*[-−]")


# words that turn a negative amount into the size of its opposite: a loss, a shortfall, fewer, a drop
_OPPOSITE = re.compile(
    r"\b(?:los[et]|loses|losing|loss|fewer|less|short(?:fall|age)?|deficit|owes?|owed|debt|drop(?:s|ped)?|"
    r"decreas(?:e|es|ed)|below|behind|under)\b",
    re.IGNORECASE,
)


def _read_as_opposite(line: str, claim: str, later: list[str]) -> bool:
    """Whether a trace reads a negative result as the size of the opposite quantity after working it out ("Her profit
    is 24 - 30 = -6 dollars.", then "So she loses $6."): such a word follows the calculation and none names what it
    works out ("the amount Milly will lose: 3.00 - 24 = -21" is the loss itself, negative)."""
    start = line.find(claim.split()[0])
    before, after = (line[:start], line[start:]) if start >= 0 else ("", line)
    return not _OPPOSITE.search(before) and any(_OPPOSITE.search(text) for text in (after, *later))


def _never_used(step: str, given: str) -> Drop:
    return Drop("misread_fact", f"{step.strip()} (the problem's {given} is never used)")


def _written_again(step: str, given: str) -> Drop:
    return Drop("misread_fact", f"{step.strip()} (the problem's {given}, named already, written again for another)")


def _printed_at(run: ProgramRun, steps: int, value: Fraction | None = None) -> int:
    """The 0-based line of a program's last assignment of what it printed last (``value`` where given), else its last
    line: where the printed answer was worked out."""
    printed = run.printed[-1] if value is None else value
    return next((i for i, v in reversed(run.assigned) if v == printed), steps - 1)


def _another_boxed_answer(steps: list[str], answer: str | None) -> int | None:
    """The first step that boxes a number other than the final answer ("4 chickens is \\boxed{10}." in a trace whose
    answer is \\boxed{6}, a demo's published row): a trace that states two answers; None where every box holds the
    final answer (in any form a percent or a sign gives it) or what no number reads."""
    targets = numbers(normalize(answer)) if answer is not None else set()
    if len(targets) != 1:
        return None
    same = percent_forms((target := next(iter(targets)), -target))
    for i, step in enumerate(steps):
        for content in boxed_contents(step):
            values = numbers(normalize(content))
            if len(values) == 1 and not values & same:
                return i
    return None


def _answer_step(steps: list[str]) -> int:
    """The 0-based step that first states the final answer (the last step where none marks it)."""
    return len(steps) - 1 if (marked := answer_step(steps)) is None else marked


def _unworked(
    problem: str,
    answer: str | None,
    body: list[str],
    values: list[set[Fraction]],
    worked: list[set[Fraction]],
    stated: set[Fraction],
    unknowns: dict[str, Fraction],
) -> tuple[str, int | None] | None:
    """Why the final answer is not the result of a step (None where it is), and the body line that first states it
    from nowhere (None: the final answer's own step). ``answer_not_derived``: no working step (one that is not a
    restatement of the problem) states it; ``answer_not_worked``: steps state it, but no checked calculation produces
    it and no step restates the sentence of the problem that gives it ("so there are only 12 books left"); its first
    wrong step is the first to state it while neither the problem nor an earlier step has it. ``values`` are the body
    lines' numbers, ``worked`` their calculations' results, ``unknowns`` the values named unknowns were solved to."""
    if answer is None:
        return None  # no final answer: the format filters' concern, not this check's
    problem_words, given = problem_facts(problem)
    working = [  # a checked calculation works, whatever numbers it takes ("8 servings: 8/8 = $1.00 each")
        n
        for line, n, results in zip(body, values, worked, strict=True)
        if n - given or results or not restates(line, problem_words)
    ]
    if not working:
        return "answer_not_derived", None
    targets = numbers(normalize(answer))
    if len(targets) != 1:
        return None  # a non-numeric answer: derivation is judged by the family checks
    target = next(iter(targets))
    scaled = percent_forms((target, -target))  # signs, cents, percents
    if scaled & stated or (target.denominator == 1 and any(abs(v - target) < Fraction(1, 2) for v in stated)):
        return None  # worked out, or worked out and rounded ("9.33, about 9")
    if target.denominator == 1 and any(abs(100 * v - target) < Fraction(1, 2) for v in stated if v < 1):
        return None  # a share worked out as a percent and rounded ("9 / 27 * 100% = 33.333%, about 33%")
    last = next((results for results in reversed(worked) if results), set())
    if target.denominator == 1 and any(v.denominator != 1 and math.ceil(v) == target for v in last):
        return None  # the last result rounded up to a whole number ("84 / 10 = 8.4, so 9 packs are needed")
    if not any(scaled & n for n in working):
        return "answer_not_derived", None
    stating = [(k, line) for k, (line, n) in enumerate(zip(body, values, strict=True)) if scaled & n]
    # a given answer needs no calculation where a step restates the problem's sentence that gives it ("She has 16
    # books"); said in other words ("after losing all of them, Nia is left with only 2") it is a coincidence
    if any(restates_given(problem, line, target) for _, line in stating):
        return None
    if any(_worked_in_words(target, line, worked[k - 1] if k else set()) for k, line in stating):
        return None
    if _counts_repeats(target, body):
        return None
    if any(target - 1 in worked[k - 1] and _COUNTED_ON.search(line) for k, line in stating if k):
        return None  # counted on in words: "$90 / $7.50 = 12 years", then "in the year after that, year 13"
    if any(_fraction_of_earlier(target, line, given.union(*values[:k])) for k, line in stating):
        return None
    if any(_converted_from_earlier(target, line, body[:k]) for k, line in stating):
        return None
    if any(_sums_the_last_two(target, worked[:k]) for k, _ in stating):
        return None
    if any(scaled & _values_in_solved_unknowns(line, unknowns) for line in body):
        return None
    known = set(given)
    for i, n in enumerate(values):
        if scaled & n and not scaled & known:
            return "answer_not_worked", i
        known |= n
    return "answer_not_worked", None


_WORD_LETTERS = frozenset({"a", "I"})
# the one after a result, in words: "the year after that", "the next day", "the following week"
_COUNTED_ON = re.compile(r"\b(?:after (?:that|this|it)|the next|the following)\b", re.IGNORECASE)


def _values_in_solved_unknowns(line: str, unknowns: dict[str, Fraction]) -> set[Fraction]:
    """The values of a line's expressions in unknowns solved for, the values put in ("Remy = 3R + 1" once R = 8: 25;
    "Red rope = 4 * (Y - 7)" once Y = 12: 20): a trace that sets a quantity up in an unknown and then states its
    value has worked it out."""
    text = line
    for name, value in unknowns.items():
        if name in _WORD_LETTERS:
            continue  # "a total of", "I have": an article or a pronoun, not the unknown
        letter = rf"{re.escape(name)}(?![\w'’])"
        text = re.sub(rf"(?<![A-Za-z])(\d+(?:\.\d+)?)\s*{letter}", rf"\1 * ({value})", text)  # 3R: 3 * (8)
        text = re.sub(rf"(?<![\w.]){letter}", f"({value})", text)
    if text == line:
        return set()
    segments: list[list[Token]] = [[]]
    for t in tokenize(normalize(text)):
        if t.kind == EQ:
            segments.append([])
        else:
            segments[-1].append(t)
    found = set()
    for segment in segments:
        for expression in (suffix(segment), prefix(segment)[0]) if segment else ():
            if expression is not None and expression.compound:
                found |= expression.values
    return found


def _sums_the_last_two(target: Fraction, worked: list[set[Fraction]]) -> bool:
    """Whether ``target`` is the sum or the difference of the results of the last two lines that calculate ("30
    questions correct", "49 questions right", then "79 questions right in total"): a step in words."""
    calculated = [results for results in worked if results]
    if len(calculated) < 2:
        return False
    return any(target in (a + b, abs(a - b)) for a in calculated[-2] for b in calculated[-1])


# a question that asks for one of several results ("the most money", "the lowest price per ounce")
_CHOOSES = re.compile(
    r"\b(?:most|least|fewest|lowest|highest|best|better|worst|maximum|minimum|greatest|smallest|largest|cheapest)\b",
    re.IGNORECASE,
)
# a calculation that checks or weighs another, or offers another way
_RECHECKS = re.compile(r"\b(?:check\w*|verif\w*|confirm\w*|compar\w*|instead|alternative\w*|otherwise|or)\b", re.I)


def _answer_passed_over(
    problem: str, answer: str | None, body: list[str], values: list[set[Fraction]], worked: list[set[Fraction]]
) -> tuple[int, str] | None:
    """The body line that states as the final answer a result of an earlier calculation after the last calculation
    worked out another that nothing uses ("30 minutes to finish the book", "60 - 10 = 50 minutes", "Toby will be 30
    minutes early"), and the last calculation's results; None where the answer is the last calculation's, uses it,
    or the question asks to choose among results. A line that checks or weighs another is no last calculation."""
    targets = numbers(normalize(answer)) if answer is not None else set()
    last = max((k for k, results in enumerate(worked) if results), default=None)
    if len(targets) != 1 or last is None or _CHOOSES.search(problem) or _RECHECKS.search(body[last]):
        return None
    scaled = percent_forms((target := next(iter(targets)), -target))
    if scaled & values[last] or not any(scaled & results for results in worked[:last]):
        return None
    if any(worked[last] & later for later in values[last + 1 :]):
        return None
    stating = next((k for k in range(last + 1, len(body)) if scaled & values[k]), None)
    return None if stating is None else (stating, ", ".join(f"{float(v):g}" for v in sorted(worked[last])))


def _worked_in_words(target: Fraction, line: str, before: set[Fraction]) -> bool:
    """Whether a line states ``target`` after numbers that make it by one operation, alone or with a result of the
    line ``before`` it ("Reggie has lost 10 marbles" then "each game was worth 10 marbles, so he lost 1 game"), or by
    a sum or a product of the three or more numbers that run up to it ("6 km run by Ralph + 12 km run by the rest of
    the team = 18 km", "the height of 12 inches x the length of 36 inches x the width of 9 inches = 3,888 cubic
    inches"): a calculation in words the token stream does not read. A number written twice is two operands."""
    written = [t.value for t in tokenize(line) if t.kind == NUM and t.value is not None]
    if target not in written:
        return False
    others = written[: written.index(target)]  # a number twice is two terms ("8 miles ... + the first 8 miles = 16")
    pairs = [(a, b) for i, a in enumerate(others) for b in others[i + 1 :]]
    pairs += [(a, b) for a in others for b in before]
    if any(target in (a + b, abs(a - b), a * b, a / b if b else None, b / a if a else None) for a, b in pairs):
        return True
    tails = [others[k:] for k in range(len(others) - 2)]  # the terms run up to the result: a restated one goes before
    return any(target in (sum(tail), math.prod(tail)) for tail in tails)


def _converted_from_earlier(target: Fraction, line: str, earlier: list[str]) -> bool:
    """Whether a line states ``target`` in a unit that an amount an earlier line states in another unit is by the
    conversion facts ("162000 - 12000 = 150,000 meters", then "Telegraph is 150 km longer"), or that two amounts of
    one line in two units of that kind add up to ("3 hours, and ... 30 more minutes", then "3.5 hours")."""
    unit = step_units(line, tokenize(line)).get(target)
    if unit is None:
        return False
    return any(
        target in amounts_in(amount, other, unit)
        for before in earlier
        for amount, other in step_units(before, tokenize(before)).items()
    ) or any(target in summed_amounts(tokenize(before), unit) for before in [*earlier, line])


def _fraction_of_earlier(target: Fraction, line: str, earlier: AbstractSet[Fraction]) -> bool:
    """Whether a line writes ``target`` as a fraction of two numbers stated before it ("3 slices are left of 8", then
    "so 3/8 of the pizza is left"): a share the token stream reads as one number."""
    return any(
        Fraction(int(a), int(b)) == target and {Fraction(int(a)), Fraction(int(b))} <= earlier
        for a, b in WRITTEN_FRACTION.findall(line)
        if int(b)
    )


_PLAIN = r"(\d+(?:\.\d+)?)"
# "24 sodas / 2 = 12": a number, its unit word if any, times or divided by a number, and the result
_APPLIED = re.compile(rf"(?<![\d.]){_PLAIN}(?:\s+[a-z]+)?\s*([*x×/])\s*{_PLAIN}\s*=\s*{_PLAIN}(?![\d.])")


def _counts_repeats(target: Fraction, body: list[str]) -> bool:
    """Whether ``target`` counts the turns of one operation applied over and over, each to the last one's result
    ("48 / 2 = 24", "24 / 2 = 12", "12 / 2 = 6": 3 weeks; or 4 doublings from the first month's 3 miles: 5 months)."""
    turns = [m.groups() for line in body for m in _APPLIED.finditer(line)]
    longest = run = 1 if turns else 0
    for before, after in itertools.pairwise(turns):
        run = run + 1 if after[0] == before[3] and after[1:3] == before[1:3] else 1
        longest = max(longest, run)
    return longest > 1 and target in (longest, longest + 1)


def find_reasoning_error(problem: str, trace: str, reference: str | None = None) -> str | None:
    """None where no error is found, else a reason starting with its code (``false_calculation: <claim>``,
    ``misread_fact: <step> (the problem: <sentence>)``, ``unfounded_fact: <step>``, ``answer_not_derived``,
    ``two_answers: <step>``, ``contradicts_reference``)."""
    error = check_trace(problem, trace, reference).error
    return None if error is None else str(error)
