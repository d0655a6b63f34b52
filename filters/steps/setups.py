"""Set-ups that misread the problem while their arithmetic holds: a quantity taken from itself, a percent more (or
fewer) read as a percent of, N times fewer worked out as N times more, a count of people worked out as a fraction, an
amount for each of several things applied once, the hours from one clock time to another counted as one of them, an
operation said to be done to a result after the last calculation and never worked out, an equation whose solution
cannot be (traced to where its expression was built), and programs that keep a percent as a plain number, call a
quantity left over without taking anything away, add a share to an amount, scale a sum by a loop's count from 0 or
never use a number the problem gives."""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from fractions import Fraction
from functools import lru_cache

from filters.steps.text import FINAL_ANSWER, answer_step, sentences
from filters.steps.tokens import (
    AMOUNT,
    DIGIT,
    WORD_NUMBER,
    WRITTEN_FRACTION,
    inside_calculation,
    normalize,
    number,
    number_mentions,
    numbers,
    percent_forms,
)
from filters.steps.units import conversion_factors

# "180 - 180 = 0", "5 marbles - 5 marbles = 0": the whole of a calculation, not a term of a longer one
_SELF_DIFFERENCE = re.compile(
    rf"(?<![\w.,])(?P<a>{AMOUNT})(?P<unit>\s*[A-Za-z]+)?\s*-\s*(?P=a)(?P=unit)?\s*=\s*0(?![\d.,])"
)


def self_difference(line: str) -> str | None:
    """A calculation that is nothing but a quantity taken from itself ("we need 180 - 180 = 0 people", "Ben loses 5 -
    5 = 0 marbles"): the right arithmetic on a misread quantity (no sound planted trace writes one). The calculation,
    else None."""
    for match in _SELF_DIFFERENCE.finditer(line) if "0" in line else ():
        if not inside_calculation(line[: match.start()]):
            return f"{match.group(0).strip()} takes a quantity from itself"
    return None


# "= 7.5 students": a result with a fractional part, counting people, animals or whole things (past a GSM8K
# calculator note, "15/2=<<15/2=7.5>>7.5 students", normalized)
_WHOLE_THINGS = (
    r"people|persons|students|children|kids|boys|girls|men|women|players|workers|employees|teachers|friends|members|"
    r"guests|passengers|visitors|customers|babies|adults|animals|dogs|cats|cows|pigs|horses|chickens|birds|sheep|goats|"
    r"puppies|elves|cars|houses|books|marbles|balls|tickets|cards|stamps|toys|dolls|chairs|tables|trees|shirts"
)
_FRACTIONAL_COUNT = re.compile(
    rf"=\s*(?:;[^;]*;\s*)?(?P<count>\d+\.\d*[1-9]\d*)\s+(?:[a-z]+\s+){{0,2}}?(?P<things>{_WHOLE_THINGS})\b",
    re.IGNORECASE,
)
_SHARES = re.compile(r"\b(?:average|mean|per|each|every|expected|about|approximately|rounded)\b", re.IGNORECASE)
# words that say a count is rounded or cannot be split ("at least", "can't buy half a ticket")
_WHOLE_SAID = re.compile(r"\b(?:round\w*|at least|whole|can'?t|cannot|can not|fraction\w*|half a|partial)\b", re.I)


def fractional_count(line: str, trace: str) -> str | None:
    """A step that works out a count of people, animals or whole things with a fractional part ("15/2 = 7.5 students
    like to play basketball") in a trace that never rounds it nor says it cannot be: the right arithmetic on the wrong
    quantities. Averages and shares ("per", "each") may be fractional. The count, else None."""
    if "." not in line or not (match := _FRACTIONAL_COUNT.search(line)) or _SHARES.search(line):
        return None
    if _WHOLE_SAID.search(trace):
        return None
    return f"{match.group('count')} {match.group('things')}: a count of {match.group('things')} is whole"


# an amount per each of several things a line states: "$2 off for each basket" (an amount for each), "each child
# is joined by another child", "each family calls 3 other families" (more of them for each)
_PER_EACH = re.compile(
    rf"(?<![\d.,])(?P<amount>{AMOUNT})\s+(?:[a-z]+\s+){{0,2}}?(?:for|off|on|from)\s+(?:each|every)\s+(?P<thing>[a-z]+)"
    r"|\beach\s+(?P<member>[a-z]+)\s+(?:[a-z]+\s+){0,3}?"
    r"(?:is joined by|joins|calls|gains|invites|brings|recruits|tells)"
    rf"\s+(?:another|one more|one other|(?P<more>{AMOUNT})\s+(?:other|more))\b",
    re.IGNORECASE,
)
_ONCE = re.compile(rf"(?<![\d.,*/x×])(?P<whole>{AMOUNT})\s*[+-]\s*(?P<amount>{AMOUNT})\s*=\s*{AMOUNT}(?!\.?\d)")
_PRODUCT = re.compile(rf"(?<![\d.,])(?P<a>{AMOUNT})\s*[*x×]\s*(?P<b>{AMOUNT})\s*=\s*(?P<product>{AMOUNT})(?!\.?\d)")
_MULTIPLIES = re.compile(r"\d\s*[*x×]\s*\d|\btimes\b")


def per_each_once(problem: str, earlier: list[str], line: str) -> str | None:
    """A line that adds (or takes) an amount stated for each of several things once, where it comes once for each:
    "$2 off for each basket" taken once from the 3 baskets' 3 * 18 = 54 ("54 - 2 = 52"), "each child is joined by
    another child" as 5 + 1 children, "each family calls 3 other families" as 3 + 3. An amount for each thing is taken
    from their total (a product with their count, in an ``earlier`` line); more of them for each thing joins their
    count. A line that multiplies is left alone. The calculation, else None."""
    match = _PER_EACH.search(line) if "ach " in line or "very " in line else None
    if match is None or _MULTIPLIES.search(line):
        return None
    amount = number(match.group("amount") or match.group("more") or "1")
    thing = match.group("thing") or match.group("member")
    stem = thing.lower()[: max(4, len(thing) - 2)]  # "family" and "families", "child" and "children"
    counted = re.compile(rf"(?<![\d.,])({AMOUNT})\s+(?:[a-z]+\s+)?{stem}[a-z]*\b", re.IGNORECASE)
    count = {number(m.group(1)) for m in counted.finditer(" ".join([normalize(problem), *earlier]))} - {1}
    if match.group("thing"):  # an amount for each thing: what it is taken from is their total
        products = _PRODUCT.finditer(" ".join(earlier))
        wholes = {number(m.group("product")) for m in products if {number(m.group("a")), number(m.group("b"))} & count}
    else:
        wholes = count
    for once in _ONCE.finditer(line, match.end()):
        if number(once.group("amount")) == amount and number(once.group("whole")) in wholes:
            return " ".join(f"{once.group(0)}: {match.group(0)} comes once for each".split())
    return None


# "3 times fewer passengers get on": a quantity N times smaller than another, said of what the line works out (no
# "than" in the clause: "Billy is 3 times younger than Gladys" may work Gladys's age out from Billy's)
_TIMES_FEWER = re.compile(
    r"(?<![\d.,/])(?P<times>\d+)\s+times\s+(?:fewer|less|smaller|younger|shorter|slower|cheaper|lighter)\b"
    r"(?![^.;]*\bthan\b)",
    re.IGNORECASE,
)


def times_fewer_multiplied(line: str) -> str | None:
    """A line that works out a quantity "N times fewer" than another by multiplying by N ("3 times fewer passengers
    get on the bus, so 3 * 21 = 63 people get on"): N times fewer is a division by N. The calculation, else None."""
    match = _TIMES_FEWER.search(line) if "times" in line else None
    if match is None or (times := int(match.group("times"))) < 2:
        return None
    for product in _PRODUCT.finditer(line):
        if times in (number(product.group("a")), number(product.group("b"))):
            return " ".join(f"{product.group(0)}: {match.group(0)} divides by {times}".split())
    return None


# "from 1:00 PM - 6:00 PM", "between 9 am and 5 pm": a stretch of time given by the clock times it starts and ends at
_CLOCK_TIME = r"(?P<{0}>\d{{1,2}})(?::(?P<{0}_minutes>\d\d))?\s*(?P<{0}_half>[ap])\.?m\b\.?"
_CLOCK_RANGE = re.compile(
    rf"\b(?:from|between)\s+{_CLOCK_TIME.format('start')}\s*(?:-|–|to|until|till|and)\s*{_CLOCK_TIME.format('end')}",
    re.IGNORECASE,
)


# an operation said to be done to a result just named ("she multiplies that by 4", "adds this to her savings")
_DONE_TO_IT = re.compile(
    r"\b(?:multipl(?:y|ies|ying)|divid(?:e|es|ing)|adds?|adding|subtract(?:s|ing)?|doubl(?:e|es|ing)"
    r"|tripl(?:e|es|ing))\s+(?:that|it|this|them)\b",
    re.IGNORECASE,
)


def operation_left_undone(steps: list[str], checked: list[bool | None]) -> tuple[int, str] | None:
    """A step after the last checked calculation (``checked``: a step's label) that says it does more to a result
    ("Jade has $100 left over, so she multiplies that by 4 and then adds this to her total savings", a row a demo
    published) and never says what that gives, up to the final answer: the answer is not the result of what the
    steps say they do. The 0-based step and the words, else None. ("We multiplied it by 4" tells what was done.)"""
    if True not in checked:
        return None
    end = answer_step(steps)
    for i in range(len(checked) - checked[::-1].index(True), len(steps) if end is None else end + 1):
        said = FINAL_ANSWER.split(steps[i])[0]
        if (done := _DONE_TO_IT.search(said)) and "=" not in said[done.end() :]:
            return i, done.group(0)
    return None


def clock_end_as_hours(problem: str, steps: list[str]) -> tuple[int, str] | None:
    """The first step that counts the hours of a stretch the problem gives by the clock ("she baked from 1:00 PM -
    6:00 PM") as one of its clock times ("in 6 hours") in a trace that never states how long it lasts (5 hours, 300
    minutes). The 0-based step and why (the clock range), else None."""
    match = _CLOCK_RANGE.search(problem)
    if match is None:
        return None

    def minutes(end: str) -> int:
        hour = int(match.group(end)) % 12 + (12 if match.group(f"{end}_half").lower() == "p" else 0)
        return hour * 60 + int(match.group(f"{end}_minutes") or 0)

    lasts = Fraction((minutes("end") - minutes("start")) % (24 * 60), 60)
    ends = {int(match.group("start")), int(match.group("end"))} - {lasts}
    if not ends:
        return None
    said_as_hours = re.compile(rf"(?<![\d:.])({'|'.join(map(str, ends))})\s+hours?\b(?!\s*(?:[ap]\.?m|later|after))")
    for i, step in enumerate(steps):
        if {lasts, lasts * 60} & numbers(normalize(step)):
            return None
        if said_as_hours.search(step):
            return i, f"the problem: {match.group(0)}"
    return None


# a rate per a period ("every day", "weekly") and a question over a longer one ("in June", "in a year"), with the
# numbers a trace states where it turns the one into the other (5 or 6 working days a week, 4 weeks a month)
_RATES = {
    period: re.compile(rf"\b(?:every|each|per|an?|one)\s+{period}\b|\b{adverb}\b", re.IGNORECASE)
    for period, adverb in (("day", "daily"), ("week", "weekly"), ("month", "monthly"))
}
_MONTH_NAMES = "january|february|march|april|may|june|july|august|september|october|november|december"
_ASKED_PERIOD = re.compile(
    rf"\bin\s+(?:(?P<month>{_MONTH_NAMES})|(?:a|one|the)\s+(?P<period>week|month|year))\b|\b(?P<adverb>weekly|monthly|"
    r"yearly|annually)\b",
    re.IGNORECASE,
)
_PERIOD_OF = {"weekly": "week", "monthly": "month", "yearly": "year", "annually": "year"}
_TURNS_INTO = {
    ("day", "week"): (5, 6, 7), ("day", "month"): (28, 29, 30, 31), ("day", "year"): (365, 366),
    ("week", "month"): (4,), ("week", "year"): (52,), ("month", "year"): (12,),
}  # fmt: skip
_NAMED_DAYS = re.compile(r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|weekday|weekend", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _unturned_period(problem: str) -> tuple[str, str, str, frozenset[Fraction]] | None:
    """What ``period_never_converted`` needs of a problem: the word that names the asked period, the period, its
    rates' periods and the numbers that turn them into it; None where the problem asks for no longer period."""
    questions = [sentence for sentence in sentences(problem) if "?" in sentence]
    asked = _ASKED_PERIOD.search(" ".join(questions))
    if asked is None or _NAMED_DAYS.search(problem):
        return None
    word = asked.group("month") or asked.group("period") or asked.group("adverb")
    period = "month" if asked.group("month") else _PERIOD_OF.get(word.lower(), word.lower())
    rates = [rate for rate, pattern in _RATES.items() if pattern.search(problem)]
    if not rates or period in rates or any((rate, period) not in _TURNS_INTO for rate in rates):
        return None
    turning = frozenset(Fraction(n) for rate in rates for n in _TURNS_INTO[rate, period])
    return None if turning & numbers(normalize(problem)) else (word, period, " and ".join(rates), turning)


def period_never_converted(problem: str, steps: list[str]) -> tuple[int, str] | None:
    """The first step that states a number for the longer period a question asks about ("$240 in June") where the
    problem gives its rates per a shorter one ("10 dozen doughnuts every day") and neither it nor the trace states
    the number that turns one into the other (30 days, 7 or 5 days a week, 52 weeks): the 0-based step and why (the
    two periods), else None. A problem that names the days (Monday to Thursday) counts them itself."""
    if (unturned := _unturned_period(problem)) is None:
        return None
    word, period, rates, turning = unturned
    if any(turning & numbers(normalize(step)) for step in steps):
        return None
    said = re.compile(rf"\b{word}\b", re.IGNORECASE)
    at = next((i for i, step in enumerate(steps) if said.search(step) and DIGIT.search(step)), None)
    return None if at is None else (at, f"rates per {rates}, never turned into one per {period}")


_PERCENT_MORE = re.compile(
    r"(?<![\d.])(?P<percent>\d+(?:\.\d+)?)\s*(?:%|percent)\s*(?:more|less|fewer)\s+(?:[a-z]+\s+){0,2}?(?P<noun>[a-z]+s)\b",
    re.IGNORECASE,
)
_COMPARES = re.compile(
    r"\b(?:more|less|fewer|longer|shorter|taller|higher|lower|larger|bigger|smaller|greater|cheaper|faster|slower|"
    r"heavier|lighter|expensive|increased?|decreased?|extra|additional|new|added|discount|off|raised?|loss|profit|per|each)\b",
    re.IGNORECASE,
)
_LABELLED = re.compile(rf"=\s*{AMOUNT}\s+(?:[A-Za-z]+\s+){{0,2}}?(?P<label>[A-Za-z]+)(?=\s*[.,;]|\s*$)")


@lru_cache(maxsize=4096)
def _percents_more(problem: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The problem's "P% more <things>": a pattern for P as a factor (P%, P/100, its decimal) and the things."""
    found = []
    for match in _PERCENT_MORE.finditer(problem):
        percent = match.group("percent")
        decimal = f"{float(Fraction(percent) / 100):g}"
        forms = [rf"{re.escape(percent)}\s*%", rf"{re.escape(percent)}\s*/\s*100", re.escape(decimal)]
        if decimal.startswith("0."):
            forms.append(re.escape(decimal[1:]))
        factor = re.compile(rf"(?<![\d.])(?:{'|'.join(forms)})(?![\d])")
        found.append((factor, match.group("noun").lower()))
    return tuple(found)


def percent_more_as_part(problem: str, line: str) -> str | None:
    """A step that works out P% of a quantity and calls the result the things the problem has P% more (or fewer)
    of ("45% of 200 bananas is (45/100) * 200 = 90 pears" for "45% more pears than bananas"), with no word of a
    comparison: the step, else None."""
    if not (percents := _percents_more(problem)) or _COMPARES.search(line):
        return None
    for match in _LABELLED.finditer(line):
        for factor, noun in percents:
            if match.group("label").lower() == noun and factor.search(line[: match.start()]):
                return f"{line.strip()} (the problem has {noun} a percent more or fewer, not a percent of)"
    return None


_PERCENT_GIVEN = re.compile(rf"(?<![\d.,])({AMOUNT})\s*(?:%|percent\b)", re.IGNORECASE)
_NAMES_A_PERCENT = re.compile(r"percent|pct|rate|ratio|fraction|share|proportion|interest|discount|tax|tip", re.I)


def unscaled_percent(problem: str, source: str) -> tuple[int, str] | None:
    """A program that keeps a number the problem gives only as a percent ("1% of the weight") as a plain number and
    scales no number by 100 anywhere: the 0-based line where that goes wrong and the line, else None. Under the name
    of the things themselves (``pears = 45`` for "45% more pears") the assignment misreads the problem; under a
    percent's name (``force_percent = 1``) its first use in a calculation does."""
    percents = {Fraction(m.replace(",", "")) for m in _PERCENT_GIVEN.findall(problem)}
    if not percents:
        return None
    plain = numbers(normalize(_PERCENT_GIVEN.sub(" ", problem)))
    only_percents = percents - plain
    tree = _tree(source)
    nodes = list(ast.walk(tree))
    constants = _written_numbers(source)
    if not only_percents or {Fraction(100), Fraction(1, 100)} & constants or {p / 100 for p in percents} & constants:
        return None  # the program scales by 100 somewhere, or writes the percent as a fraction
    lines = source.splitlines()
    for node in nodes:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if not (isinstance(value, ast.Constant) and _is_number(value.value)):
            continue
        if Fraction(str(value.value)) not in only_percents:
            continue
        name = node.targets[0].id
        if not _NAMES_A_PERCENT.search(name):
            return node.lineno - 1, lines[node.lineno - 1].strip()
        uses = [
            n.lineno
            for n in nodes
            if isinstance(n, ast.BinOp)
            and n.lineno > node.lineno
            and any(isinstance(m, ast.Name) and m.id == name for m in ast.walk(n))
        ]
        if uses:
            return min(uses) - 1, lines[min(uses) - 1].strip()
    return None


_LEFT_OVER = re.compile(r"(?:^|_)(?:left|remaining|remainder|leftover)(?:_|$)", re.IGNORECASE)


def leftover_untaken(problem: str, source: str) -> tuple[int, str] | None:
    """A program that names a quantity left over (``left_screws``, ``remaining_feed``) and works it out with no
    subtraction anywhere in what it is made of, nor from another left-over quantity (``left_screws = screws_total /
    screws_per_leg * legs_per_table``), nor a share left by one the problem gives (``0.2`` for "spends 80%"): the
    amount used was never taken away. The 0-based line and the line, else None."""
    shares = {share for p in numbers(normalize(problem)) if 0 < p < 100 for share in (1 - p / 100, 100 - p, 1 - p)}
    tree = _tree(source)
    made_of: dict[str, list[ast.expr]] = {}
    reduced: set[str] = set()  # names an augmented subtraction takes from (``feed -= used``)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            made_of.setdefault(node.targets[0].id, []).append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            made_of.setdefault(node.target.id, []).append(node.value)
            if isinstance(node.op, ast.Sub):
                reduced.add(node.target.id)

    def takes_away(value: ast.expr, seen: set[str]) -> bool:
        for node in ast.walk(value):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub | ast.Mod):
                return True  # taken away, or what is left of a division (``eggs % 12``)
            if isinstance(node, ast.Constant) and _is_number(node.value) and Fraction(str(node.value)) in shares:
                return True
            if isinstance(node, ast.Name) and node.id not in seen:
                seen.add(node.id)
                if node.id in reduced or _LEFT_OVER.search(node.id):
                    return True
                if any(takes_away(v, seen) for v in made_of.get(node.id, [])):
                    return True
        return False

    lines = source.splitlines()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if _LEFT_OVER.search(name) and not isinstance(node.value, ast.Constant) and not takes_away(node.value, {name}):
            return node.lineno - 1, lines[node.lineno - 1].strip()
    return None


# a number that names no amount: a clock time ("6:00 PM", "3 pm") or a year
_NOT_AMOUNTS = re.compile(
    r"\d{1,2}:\d\d(?:\s*[ap]\.?m\b\.?)?|\b\d{1,2}\s*[ap]\.?m\b\.?|\b(?:19|20)\d\d\b", re.IGNORECASE
)


# a factor in words: "twice as many", "half the time", "triples" (not "half an hour": 30 minutes)
_FACTORS = re.compile(r"\b(?:(twice|double[sd]?)|(triple[sd]?|thrice)|(half)(?! an?\b|-))", re.IGNORECASE)


def ignored_given(problem: str, source: str) -> str | None:
    """A number the problem writes in digits (above 1, not a clock time nor a year), or a factor it writes in words
    ("twice", "triple"), that a program states nowhere, in no form: as itself, its inverse (``0.5``), a percent's
    share (``0.2``, ``0.8``, ``1.2`` for 20%) or the parts of a fraction (``2/3``); or a "half" it never halves (nor
    doubles) by. The program worked its answer out without it (a state, a count, a change it left out); a problem's
    distractor does the same to a sound program, about 1 problem in 30 of GSM8K's by its worked solutions. The
    number or word, else None."""
    factors = list(_FACTORS.finditer(problem))
    given = numbers(normalize(WORD_NUMBER.sub(" ", _NOT_AMOUNTS.sub(" ", problem))))
    given |= {Fraction(2 if m.group(1) else 3) for m in factors if not m.group(3)}
    nodes = list(ast.walk(_tree(source)))
    stated = _written_numbers(source)
    for value in sorted(v for v in given if v > 1):
        forms = {value, 1 / value, value / 100, value * 100, 1 - value / 100, 1 + value / 100}
        if not forms & stated and not {value.numerator, value.denominator} <= stated:
            return f"{float(value):g}"
    halves = {Fraction(2), Fraction(1, 2)}
    if (
        any(m.group(3) for m in factors)
        and Fraction(1, 2) not in stated
        and not any(
            isinstance(n, ast.BinOp)
            and isinstance(n.op, ast.Div | ast.FloorDiv | ast.Mult)
            and (_constant(n.right) in halves or (isinstance(n.op, ast.Mult) and _constant(n.left) in halves))
            for n in nodes
        )
    ):
        return "half"
    return None


# words that give a number beyond the number words: "both" and "parents" 2, "a dozen" 12, "a third" a share of 3
_COUNT_WORDS = re.compile(
    r"\b(?:(both|pairs?|couples?|twins|parents)|(dozens?)|(thirds?)|(quarters?|fourths?))\b", re.IGNORECASE
)


@lru_cache(maxsize=256)
def _mentions(problem: str) -> Counter[Fraction]:
    """How many times a problem gives each number: in digits, number words, factors ("twice"), count words or days
    named."""
    found = number_mentions(normalize(problem))
    for match in _FACTORS.finditer(problem):
        found[Fraction(3 if match.group(2) else 2)] += 1
    for match in _COUNT_WORDS.finditer(problem):
        found[Fraction(2 if match.group(1) else 12 if match.group(2) else 3 if match.group(3) else 4)] += 1
    if (days := len({day.lower() for day in _NAMED_DAYS.findall(problem)})) > 1:
        found[Fraction(days)] += 1  # "Sunday and Wednesday": 2 days
    return found


def given_written_again(problem: str, source: str) -> tuple[int, str] | None:
    """A number the problem gives that a program names (``meals_per_day = 2``) and then writes again as a bare number
    (``feed / 2``) more times than the problem gives it, in any form (``0.25`` or ``1/4`` for 4, ``0.8`` for 20%):
    the bare number stands for something the problem does not say. 0, 1 and the numbers that turn one of the problem's
    units into another (60 for minutes, 7 for days) are left alone. The 0-based line of its first bare use (which use
    stands for something else is not known; none after it is vouched for) and the number, else None."""
    tree = _tree(source)
    named = {
        _constant(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
    }
    facts = conversion_factors(problem)
    bare: dict[Fraction, list[int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            for operand in (node.left, node.right):
                value = _constant(operand) if isinstance(operand, ast.Constant) else None
                if value in named and value is not None and value > 1 and value not in facts:
                    bare.setdefault(value, []).append(node.lineno - 1)
    mentions = _mentions(problem)
    found = []
    for value, lines in bare.items():
        given = sum(
            n for g, n in mentions.items() if g and value in {g, 1 / g, g / 100, g * 100, 1 - g / 100, 1 + g / 100}
        )
        if given and 1 + len(lines) > given:
            found.append((min(lines), f"{float(value):g}"))
    return min(found) if found else None


def share_added(problem: str, source: str) -> tuple[int, str] | None:
    """A program that adds a share the problem gives (``no_show = 1/4`` for "1/4 of attendees don't show up", or
    ``0.2`` for 20%) to a quantity, or takes it away, as if it were an amount (``no_show + gift_bags``): a share
    scales what it is a share of. Taken from 1, or from or to another share, it stays a share. The 0-based line and
    the line, else None."""
    shares = {Fraction(int(a), int(b)) for a, b in WRITTEN_FRACTION.findall(problem) if 0 < int(a) < int(b)}
    shares |= {Fraction(m.replace(",", "")) / 100 for m in _PERCENT_GIVEN.findall(problem)}
    shares -= {v for v in numbers(normalize(_PERCENT_GIVEN.sub(" ", WRITTEN_FRACTION.sub(" ", problem)))) if v < 1}
    if not shares:
        return None  # (an amount the problem writes under 1, "$.25", is no share)
    tree = _tree(source)
    units: dict[str, Fraction] = {}  # names bound to a constant of at most 1: shares, and wholes of them
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _constant(node.value)
            if value is not None and 0 < value <= 1:
                units[node.targets[0].id] = value

    def bound(operand: ast.expr) -> Fraction | None:
        return units.get(operand.id) if isinstance(operand, ast.Name) else _constant(operand)

    lines = source.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            left, right = bound(node.left), bound(node.right)
            if any(v is not None and v in shares for v in (left, right)) and None in (left, right):
                other = node.right if left is not None else node.left
                if not isinstance(other, ast.Constant):  # (a constant above 1 is no quantity of the program's)
                    return node.lineno - 1, lines[node.lineno - 1].strip()
    return None


def loop_index_scaled(source: str) -> tuple[int, str] | None:
    """A program that adds up, over ``for i in range(n)``, an amount times ``i`` itself (``total += cost * night``):
    the count from 0 makes the first amount nothing and every other one a multiple, where each is the amount. The
    0-based line and the line, else None."""
    lines = source.splitlines()
    for loop in ast.walk(_tree(source)):
        if not (
            isinstance(loop, ast.For)
            and isinstance(loop.target, ast.Name)
            and isinstance(loop.iter, ast.Call)
            and isinstance(loop.iter.func, ast.Name)
            and loop.iter.func.id == "range"
            and len(loop.iter.args) == 1
        ):
            continue
        for node in ast.walk(loop):
            if (
                isinstance(node, ast.AugAssign)
                and isinstance(node.op, ast.Add)
                and isinstance(node.value, ast.BinOp)
                and isinstance(node.value.op, ast.Mult)
                and any(
                    isinstance(o, ast.Name) and o.id == loop.target.id for o in (node.value.left, node.value.right)
                )
            ):
                return node.lineno - 1, lines[node.lineno - 1].strip()
    return None


def _constant(node: ast.expr) -> Fraction | None:
    """The value of a constant expression of numbers (``1/4``, ``0.2``, ``3 * 2``), else None."""
    if isinstance(node, ast.Constant) and _is_number(node.value):
        return Fraction(str(node.value))
    if not isinstance(node, ast.BinOp):
        return None
    left, right = _constant(node.left), _constant(node.right)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    return left / right if isinstance(node.op, ast.Div) and right else None


@lru_cache(maxsize=256)
def _tree(source: str) -> ast.Module:
    """A program's syntax tree, parsed once for every check that reads it (read only)."""
    return ast.parse(source)


@lru_cache(maxsize=256)
def _written_numbers(source: str) -> frozenset[Fraction]:
    """The numbers a program writes as literals, wherever they stand."""
    return frozenset(
        Fraction(str(n.value)) for n in ast.walk(_tree(source)) if isinstance(n, ast.Constant) and _is_number(n.value)
    )


def _is_number(value: object) -> bool:
    """A number a program writes: an int or a finite float (``1e999`` is no amount), not a bool."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


_STANDS_FOR_A_GIVEN = re.compile(r"\bvalue of (?:the )?unknown variable\s+[\'\"]?([A-Za-z])\b", re.IGNORECASE)


def unlike_a_given(problem: str, unknown: str, value: Fraction) -> str | None:
    """An equation that solves a problem's "unknown variable x" (a number of the problem replaced by x, as in
    MetaMath's rewritten questions) to what the problem could not have written: zero where x is an amount ("x
    slices", "$x"), more than one in size, yet no whole number of hundredths (``3x = 200``, x = 66.67 books), or no
    whole number where the problem counts people or whole things with x ("x of the remaining elves quit", x = 0.25).
    The claim, else None."""
    match = _STANDS_FOR_A_GIVEN.search(problem)
    if match is None or match.group(1).lower() != unknown.lower():
        return None
    if value == 0 and re.search(rf"\$\s?{re.escape(unknown)}\b|(?<![\w$]){re.escape(unknown)}\s+[a-z]{{3,}}", problem):
        return f"{unknown} = 0, which the problem cannot have given"  # an amount ("x slices", "$x"), not a coordinate
    if value.denominator == 1:
        return None
    counted = re.search(
        rf"(?<![\w$]){re.escape(unknown)}\s+(?:of\s+the\s+)?(?:[a-z]+\s+)?(?:{_WHOLE_THINGS})\b", problem, re.I
    )
    if (abs(value) <= 1 or (value * 100).denominator == 1) and not counted:
        return None
    return f"{unknown} = {float(value):.4g}, which the problem cannot have given"


def answer_not_the_unknown(problem: str, answer: str | None, unknowns: dict[str, Fraction]) -> str | None:
    """A final answer (one number) that is not the value a step solved the problem's "unknown variable x" to ("x =
    66", then "#### 22": the answer to another question than the one asked). The claim, else None."""
    match = _STANDS_FOR_A_GIVEN.search(problem)
    if match is None or answer is None:
        return None
    unknown = match.group(1)
    solved = next((value for name, value in unknowns.items() if name.lower() == unknown.lower()), None)
    targets = numbers(normalize(answer))
    if solved is None or len(targets) != 1:
        return None
    target = next(iter(targets))
    if target in percent_forms((solved,)) or abs(target - solved) < (
        1 if solved.denominator > 1 else Fraction(1, 100)
    ):
        return None  # the value, as a percent or rounded to a whole number
    return f"the answer {answer.strip()}, but {unknown} = {float(solved):g} was solved for"


def set_up_origin(lines: list[str], line: str, unknown: str) -> int | None:
    """The first of ``lines`` that writes the expression in ``unknown`` that ``line`` sets equal to a number ("15 + 2x"
    of "12 + (2x + 3) = 15 + 2x", then "15 + 2x = 3"): where a solution that cannot be went wrong, since solving kept
    the arithmetic and the expression carried the misreading. A single term (``3x``) is built only where a calculation
    results in it (``2x + x = 3x``), not where it is named ("she sold 3x books"). None where no earlier line has it."""
    expression = rf"[\d\s{re.escape(unknown)}+\-*/×().$,]*"
    parts = line.split("=")
    sides = []
    for k, part in enumerate(parts):
        match = re.search(expression + "$", part) if k < len(parts) - 1 else re.match(expression, part)
        side = _canonical(match.group(0) if match else "", unknown)
        if unknown in side and re.search(r"\d", side):
            result = "(?<==)" if not re.search(r"[+-]", side) else ""
            sides.append(re.compile(rf"{result}(?<![\w.]){re.escape(side)}(?!\w|\.\d)"))
    for i, earlier in enumerate(lines):
        if any(side.search(_canonical(earlier, unknown)) for side in sides):
            return i
    return None


def _canonical(text: str, unknown: str) -> str:
    """An expression written one way: no dollar signs or thousands commas, no spaces around operators, no sign between
    a coefficient and the unknown (``$1,750 * x`` and ``1750x`` alike)."""
    text = re.sub(r"\$|(?<=\d),(?=\d{3})", "", text)
    text = re.sub(rf"\s*[*×]\s*(?={re.escape(unknown)}\b)", "", text)
    return re.sub(r"\s*([-+*/×=()])\s*", r"\1", " ".join(text.split())).strip(" .,")
