"""Units of measure: the ones a problem's numbers come in, and the steps that combine two units of one kind without
converting them (adding 4 feet to 3 inches; a speed per hour times a number of days), convert a rate by the wrong
factor (2 bottles an hour over 30, per minute; kb/s over s/h) or not at all ($5 every 10 minutes times 180 minutes),
multiply two counts of the same things (9 books times 12 books) or call a share of each of N things a total."""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from fractions import Fraction
from functools import lru_cache

from filters.steps.tokens import (
    AMOUNT,
    EQ,
    LP,
    NUM,
    OP,
    WORD,
    WORD_RE,
    Token,
    inside_calculation,
    normalize,
    tokenize,
    word_numbers,
)

# Units of measure by kind, each with the other words that name it.
_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "time": {
        "seconds": ("second", "sec", "secs"), "minutes": ("minute", "min", "mins"), "hours": ("hour", "hr", "hrs"),
        "days": ("day",), "weeks": ("week",), "months": ("month",), "years": ("year",),
    },
    "length": {
        "inches": ("inch",), "feet": ("foot",), "yards": ("yard",), "miles": ("mile",),
        "meters": ("meter", "metre", "metres"), "centimeters": ("centimeter", "cm"),
        "kilometers": ("kilometer", "km"),
    },
    "weight": {
        "pounds": ("pound", "lb", "lbs"), "ounces": ("ounce", "oz"), "grams": ("gram",),
        "kilograms": ("kilogram", "kg"),
    },
    "volume": {
        "gallons": ("gallon",), "quarts": ("quart",), "pints": ("pint",), "cups": ("cup",),
        "liters": ("liter", "litre", "litres"), "milliliters": ("milliliter", "millilitre", "millilitres", "ml"),
    },
    "money": {"dollars": ("dollar",)},
}  # fmt: skip
_MEASURES = {word: unit for units in _KINDS.values() for unit, words in units.items() for word in (unit, *words)}
_KIND = {unit: kind for kind, units in _KINDS.items() for unit in units}
_SPEEDS = {"mph": ("miles", "hours"), "kph": ("kilometers", "hours")}  # a rate named in one word


_DOLLARS = re.compile(rf"\$\s?(?:<<[^<>]*>>)?({AMOUNT})")  # "$12", "$<<10*5=50>>50" (a GSM8K calculator note)
# inline math between dollar signs, an equality in it ("ran $60 - 20 = 40$ minutes"): its dollar signs are no money
_MATH_DOLLARS = re.compile(r"\$\$?([^$]*=[^$]*[\w})])\$\$?(?![\d.])")


@lru_cache(maxsize=4096)
def given_units(problem: str) -> dict[Fraction, str]:
    """The problem's numbers that come with one unit wherever it states them ("8 weeks", "4 hours", "$12")."""
    tokens = tokenize(normalize(_DOLLARS.sub(r"\1 dollars", problem)))
    units: dict[Fraction, set[str | None]] = {}
    for i, t in enumerate(tokens):
        if t.kind == NUM and t.value is not None:
            word = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1].kind == WORD else None
            units.setdefault(t.value, set()).add(_MEASURES.get(word.text.lower()) if word else None)
    return {value: unit for value, (unit, *more) in units.items() if unit and not more}


def step_units(step: str, tokens: list[Token]) -> dict[Fraction, str]:
    """The units a step states its numbers in: dollars after a dollar sign (``step`` as written), a unit of measure
    before its word (``tokens``, the step's normalized tokens)."""
    money = _MATH_DOLLARS.sub(r" \1 ", step) if "$" in step else ""
    units = {Fraction(amount.replace(",", "")): "dollars" for amount in _DOLLARS.findall(money)}
    for i, t in enumerate(tokens[:-1]):
        word = tokens[i + 1]
        if t.kind == NUM and t.value is not None and word.kind == WORD and (unit := _MEASURES.get(word.text.lower())):
            units[t.value] = unit
    return units


def unconverted_units(
    tokens: list[Token], units: dict[Fraction, str], said: set[Fraction], worked: dict[Fraction, set[str]]
) -> str | None:
    """A sum or difference of two quantities in different units (``4 + 3`` of 4 feet and 3 inches, ``8 - 4`` of 8
    weeks and 4 hours, ``$14,000 - 1600`` of dollars and gallons), outside any product or quotient (``40 + 2(120)``):
    what it adds, else None. A given quantity's unit is the problem's (``units``); a number an earlier step stated
    (``said``), or the line worked out before it, is that result, in the one unit the steps so far gave it
    (``worked``: numbers the problem does not give, since a given the steps also work out could be either), if
    any."""
    results = set(said)  # and the line's own results so far: "1 + 1 = 2 hours, so 3 - 2 = 1 hour"
    for i in range(len(tokens) - 2):
        a, op, b = tokens[i : i + 3]
        if i and tokens[i - 1].kind == EQ and tokens[i - 1].text == "=" and a.kind == NUM and a.value is not None:
            results.add(a.value)
        if a.kind != NUM or op.kind != OP or op.text not in "+-" or b.kind != NUM:
            continue
        before, after = tokens[i - 1] if i else None, tokens[i + 3] if i + 3 < len(tokens) else None
        scaled = any(t is not None and t.kind == OP and t.text in "*/^" for t in (before, after))
        if scaled or (after is not None and (after.kind == LP or after.variable)):  # "2(120)", "2.5x": products
            continue
        first, second = (_unit(t.value, units, results, worked) for t in (a, b))
        if first and second and first != second:
            return f"{a.text} {op.text} {b.text} adds {first} and {second} unconverted"
    return None


def _unit(
    value: Fraction | None, units: dict[Fraction, str], said: set[Fraction], worked: dict[Fraction, set[str]]
) -> str | None:
    if value is None:
        return None
    if value not in said:
        return units.get(value)
    return next(iter(known)) if len(known := worked.get(value, set())) == 1 else None


_RATE = (
    rf"{AMOUNT}\s*(?:(?P<{{0}}what>[A-Za-z]+)\s*(?:/\s*|\s+per\s+)(?P<{{0}}per>[A-Za-z]+)"
    r"|(?P<{0}speed>mph|kph)\b)"
)
_MEASURED = rf"{AMOUNT}\s*(?P<{{0}}unit>[A-Za-z]+)"
_TIMES = r"\s*(?:[*×x]|times)\s*"
# the result and the unit it is given in, past a GSM8K calculator note ("= <<50*3=150>>150 km", normalized)
_RESULT = rf"\s*=\s*(?:;[^;]*;\s*)?{AMOUNT}\s*(?P<result>[A-Za-z]+)"
_RATE_PRODUCTS = (
    re.compile(_RATE.format("a_") + _TIMES + _MEASURED.format("b_") + _RESULT),  # 50 km/hr * 3 days = 150 km
    re.compile(_MEASURED.format("b_") + _TIMES + _RATE.format("a_") + _RESULT),  # 3 days * 50 km/hr = 150 km
)


def unconverted_rate(line: str) -> str | None:
    """A product of a rate and an amount whose units of one kind differ, given in the rate's own unit as though they
    had cancelled (``50 km/hr * 3 days = 150 km``: hours and days unconverted): the product, else None."""
    if "/" not in line and "per" not in line and "ph" not in line:
        return None  # no rate written: most lines
    for pattern in _RATE_PRODUCTS:
        for match in pattern.finditer(line):
            if inside_calculation(line[: match.start()]):
                continue
            speed = match.group("a_speed")
            what, per = _SPEEDS[speed.lower()] if speed else (match.group("a_what"), match.group("a_per"))
            per_unit, amount_unit = _MEASURES.get(per.lower()), _MEASURES.get(match.group("b_unit").lower())
            if per_unit is None or amount_unit is None or per_unit == amount_unit:
                continue
            if _KIND[per_unit] != _KIND[amount_unit]:
                continue
            result = match.group("result").lower()
            if result == what.lower() or (_MEASURES.get(result) or result) == _MEASURES.get(what.lower()):
                return f"{match.group(0).strip()} multiplies a rate in {what}/{per} by {amount_unit} unconverted"
    return None


_MONTHS = {"january": 31, "february": (28, 29), "march": 31, "april": 30, "may": 31, "june": 30, "july": 31,
           "august": 31, "september": 30, "october": 31, "november": 30, "december": 31}  # fmt: skip
# How many of a unit make one of another: the facts a step may state ("there are 24 hours in a day").
_CONVERSIONS: dict[tuple[str, str], tuple[int, ...]] = {
    ("seconds", "minutes"): (60,), ("seconds", "hours"): (3600,), ("minutes", "hours"): (60,),
    ("minutes", "days"): (1440,), ("hours", "days"): (24,), ("days", "weeks"): (7,), ("months", "years"): (12,),
    ("weeks", "years"): (52,), ("days", "years"): (365, 366), ("years", "decade"): (10,), ("years", "century"): (100,),
    ("inches", "feet"): (12,), ("inches", "yards"): (36,), ("feet", "yards"): (3,), ("feet", "miles"): (5280,),
    ("centimeters", "meters"): (100,), ("meters", "kilometers"): (1000,), ("ounces", "pounds"): (16,),
    ("grams", "kilograms"): (1000,), ("quarts", "gallons"): (4,), ("cents", "dollars"): (100,),
    ("cups", "pints"): (2,), ("pints", "quarts"): (2,), ("cups", "quarts"): (4,), ("pints", "gallons"): (8,),
    ("cups", "gallons"): (16,), ("milliliters", "liters"): (1000,),
    **{("days", month): days if isinstance(days, tuple) else (days,) for month, days in _MONTHS.items()},
}  # fmt: skip


@lru_cache(maxsize=256)
def conversion_factors(text: str) -> frozenset[Fraction]:
    """The numbers that turn one unit into another of a kind the text measures in (60, 24 and 7 for a text of
    minutes or days): facts a calculation may write, whatever the text gives."""
    kinds = {_KIND[_MEASURES[word]] for word in WORD_RE.findall(text.lower()) if word in _MEASURES}
    return frozenset(
        Fraction(n)
        for units, facts in _CONVERSIONS.items()
        if any(_KIND.get(unit) in kinds for unit in units)
        for n in facts
    )


def amounts_in(amount: Fraction, unit: str, other: str) -> frozenset[Fraction]:
    """``amount`` of ``unit`` in ``other`` (both units as ``step_units`` names them) by the conversion facts known
    here; empty where none joins the two."""
    if facts := _CONVERSIONS.get((other, unit)):
        return frozenset(amount * fact for fact in facts)
    if facts := _CONVERSIONS.get((unit, other)):
        return frozenset(amount / fact for fact in facts)
    return frozenset()


_MORE = frozenset({"more", "additional", "extra"})


def summed_amounts(tokens: list[Token], unit: str) -> frozenset[Fraction]:
    """The values in ``unit`` of two amounts a step states in two units of ``unit``'s kind, added: an amount written
    in parts ("is 3 hours, and to 11:45 AM is 30 more minutes": 3.5 hours, 210 minutes)."""
    parts = []
    for i, t in enumerate(tokens[:-1]):
        after = i + 2 if tokens[i + 1].kind == WORD and tokens[i + 1].text.lower() in _MORE else i + 1
        word = tokens[after] if after < len(tokens) and tokens[after].kind == WORD else None
        measure = _MEASURES.get(word.text.lower()) if word is not None else None
        if t.kind == NUM and t.value is not None and measure and _KIND[measure] == _KIND.get(unit):
            parts.append((t.value, measure))
    found: set[Fraction] = set()
    for k, (a, first) in enumerate(parts):
        for b, second in parts[k + 1 :]:
            if first != second:
                firsts = {a} if first == unit else amounts_in(a, first, unit)
                seconds = {b} if second == unit else amounts_in(b, second, unit)
                found.update(x + y for x in firsts for y in seconds)
    return frozenset(found)


def one_kind(word: str, other: str) -> bool:
    """Whether two words name two units of measure of one kind ("hour" and "minutes", "feet" and "inches")."""
    unit, other_unit = _MEASURES.get(word.lower()), _MEASURES.get(other.lower())
    return unit is not None and other_unit is not None and unit != other_unit and _KIND[unit] == _KIND[other_unit]


def converts(amount: Fraction, word: str, other_amount: Fraction, other_word: str) -> bool | None:
    """Whether ``amount word = other_amount other_word`` converts one unit to another rightly ("2 hours = 120
    minutes"; True where no fact between the two is known here); None where the words are no two units of a kind."""
    if not one_kind(word, other_word):
        return None
    unit, other_unit = _MEASURES[word.lower()], _MEASURES[other_word.lower()]
    if facts := _CONVERSIONS.get((other_unit, unit)):
        return any(amount * fact == other_amount for fact in facts)
    if facts := _CONVERSIONS.get((unit, other_unit)):
        return any(other_amount * fact == amount for fact in facts)
    return True


_STATED_CONVERSION = re.compile(
    rf"\bthere\s+(?:are|is|were)\s+(?P<count>{AMOUNT})\s+(?P<unit>[a-z]+)\s+in\s+(?:(?:an?|one|each|every|the)\s+)?"
    r"(?:month\s+of\s+)?(?P<per>[a-z]+)\b",
    re.IGNORECASE,
)


def false_conversion(line: str, given: frozenset[Fraction]) -> str | None:
    """A conversion fact stated wrong ("There are 30 days in the month of May", "there are 12 hours in a day"),
    unless the problem gives that number (a "5 day work week" makes 5 days a week): the fact, else None."""
    for match in _STATED_CONVERSION.finditer(line) if "here" in line else ():  # "There"/"there": a cheap test first
        unit, per = (_MEASURES.get(w.lower(), w.lower()) for w in match.group("unit", "per"))
        facts = _CONVERSIONS.get((unit, per))
        count = Fraction(match.group("count").replace(",", ""))
        if facts and count not in facts and count not in given:
            return f"{match.group(0).strip()}: there are {' or '.join(map(str, facts))}"
    return None


def _unit_word(word: str) -> str:
    """A unit word as one name: its unit of measure where it is one ("hrs", "hour": hours), else the word less a
    plural s ("kb/s" and "s/h" share "s")."""
    word = word.lower()
    return _MEASURES.get(word) or word.removesuffix("s") or word


# "20 kb/s / 3600 s/h": a rate divided by a rate whose numerator is the first one's denominator
_RATE_QUOTIENT = re.compile(
    rf"(?<![\d.,])(?:{AMOUNT})\s*[A-Za-z]+\s*(?:/|\s+per\s+)\s*(?P<per>[A-Za-z]+)\s*/\s*"
    rf"(?:{AMOUNT})\s*(?P<unit>[A-Za-z]+)\s*(?:/|\s+per\s+)\s*[A-Za-z]+\s*="
)


def rate_over_its_unit(line: str) -> str | None:
    """A rate divided by a conversion that has the rate's own unit on top ("20 kb/s / 3600 s/h": seconds do not
    cancel, so the result is in kb h/s², no rate at all): the quotient, else None."""
    for match in _RATE_QUOTIENT.finditer(line) if line.count("/") > 1 or " per " in line else ():
        if _unit_word(match.group("per")) == _unit_word(match.group("unit")):
            return f"{match.group(0).rstrip(' =')} divides by a rate with {match.group('unit')} on top; it multiplies"
    return None


_PER = r"(?:per|in\s+(?:one|a|an|1)|an?|each|every)"
# "2 bottles in one hour": a number stated as a rate, and the unit of measure it is per
_STATED_RATE = re.compile(rf"(?<![\d.,/])(?P<amount>{AMOUNT})\s+(?:[a-z]+\s+){{1,3}}?{_PER}\s+(?P<per>[a-z]+)\b")
# "2/30 = 1/15 bottles in one minute": a number times or over another, given per a unit
_RATE_CONVERTED = re.compile(
    rf"(?<![\d.,/])(?P<rate>{AMOUNT})\s*(?P<op>[/*×x])\s*(?P<factor>{AMOUNT})\s*=\s*{AMOUNT}(?:/\d+)?\s+"
    rf"(?:[a-z]+\s+){{0,3}}?{_PER}\s+(?P<per>[a-z]+)\b"
)


def _stated_rates(lines: list[str]) -> dict[Fraction, str]:
    """The numbers lines state per a unit of measure ("2 bottles in one hour", "5 miles per hour"), and the unit."""
    found = {}
    for match in (m for line in lines for m in _STATED_RATE.finditer(line)):
        if unit := _MEASURES.get(match.group("per").lower()):
            found[Fraction(match.group("amount").replace(",", ""))] = unit
    return found


def misconverted_rate(line: str, earlier: list[str], known: tuple[AbstractSet[Fraction], ...]) -> str | None:
    """A rate an ``earlier`` line stated per one unit turned into a rate per another unit of its kind by a factor that
    is not the conversion between them and that neither the problem nor a step gives (in none of the sets ``known``):
    "he drinks 2 bottles in one hour", then "2/30 = 1/15 bottles in one minute" (an hour is 60 minutes). The
    calculation, else None."""
    converted = list(_RATE_CONVERTED.finditer(line)) if "=" in line else []
    rates = _stated_rates(earlier) if converted else {}
    for match in converted:
        before = rates.get(Fraction(match.group("rate").replace(",", "")))
        after = _MEASURES.get(match.group("per").lower())
        if before is None or after is None or before == after or _KIND[before] != _KIND[after]:
            continue
        small, big = (after, before) if match.group("op") == "/" else (before, after)
        facts = _CONVERSIONS.get((small, big))
        factor = Fraction(match.group("factor").replace(",", ""))
        if facts and factor not in facts and not any(factor in numbers for numbers in known):
            return f"{match.group(0).strip()}: one {big.removesuffix('s')} is {' or '.join(map(str, facts))} {small}"
    return None


# "9 books", "12 more books": a number and the things it counts, unless it is a rate, a size or a comparison
# (a count of the first of two nouns is of the second: "30 matchsticks houses"; tiles "running the width" of a wall
# are one side of a grid)
_COUNT = re.compile(
    r"(?<![\w.,$/])(\d+(?:\.\d+)?)\s+(?:more\s+|extra\s+|other\s+|new\s+)?([a-z]{4,}s)\b(?!\s+[a-z]+s\b)"
    r"(?!\s+(?:per|each|every|a|an|times|of|long|high|deep|wide|tall|by|less|more|fewer|running|along|across)\b)"
    r"(?!\s*/)",
    re.IGNORECASE,
)
# "9 * 12", "6 floors * 5": two factors, the first with the word a step may label it with
_PRODUCT = re.compile(rf"(?<![\d.,/])(?P<a>{AMOUNT})\s*(?:(?P<label>[a-z]+)\s*)?[*x×]\s*(?P<b>{AMOUNT})(?![\d.,/])")


@lru_cache(maxsize=4096)
def _like_counts(problem: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """The numbers the problem gives once each (in digits, never also in words: "Five baskets" and "5 peaches"),
    grouped by the things they count where two or more count the same things ("9 books" and "a donation of 12
    books"); units of measure are not things counted."""
    written = re.findall(r"(?<![\d.,])\d+(?:\.\d+)?(?![\d.,])", problem)
    in_words = word_numbers(problem)
    by_things: dict[str, set[str]] = {}
    for match in _COUNT.finditer(problem):
        number, things = match.group(1), match.group(2).lower()
        if things in _MEASURES or things == "times" or written.count(number) != 1 or Fraction(number) in in_words:
            continue
        by_things.setdefault(things, set()).add(number)
    return tuple((things, frozenset(numbers)) for things, numbers in by_things.items() if len(numbers) > 1)


def like_counts_multiplied(problem: str, line: str, worked: AbstractSet[Fraction]) -> str | None:
    """A step that multiplies two numbers the problem gives as counts of the same things ("Diego has 9 * 12 = 108
    books" for 9 books and a donation of 12 books): a product of two counts of books is no count of books. A factor
    an earlier step ``worked`` out ("15 - 9 = 6 large pizzas", then "6 * 12" slices) or labels as other things ("2
    parents * 3" for the problem's 2 suitcases) is not that given. The product, else None."""
    for things, counts in _like_counts(problem):
        products = [m for m in _PRODUCT.finditer(line) if m["a"] != m["b"] and m["a"] in counts and m["b"] in counts]
        for match in products:
            a, b = match.group("a", "b")
            if {Fraction(a), Fraction(b)} & worked:
                continue
            # the same product written twice (a GSM8K calculator note repeats it bare) is labelled where it is
            labels = {m["label"].lower() for m in products if m.group("a", "b") == (a, b) and m["label"]}
            if labels <= {things}:
                return f"{match.group(0).strip()} multiplies two counts of the same things"
    return None


# "$5 every 10 minutes": an amount, and the several units of measure it is given per
_PER_SEVERAL = re.compile(
    rf"(?<![\d.,/])\$?\s?(?P<amount>{AMOUNT})\s+(?:[a-z]+\s+){{0,3}}?(?:every|per|each|for\s+every)\s+"
    rf"(?P<several>{AMOUNT})\s+(?P<unit>[a-z]+)",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def _rates_per_several(problem: str) -> tuple[tuple[Fraction, Fraction, str], ...]:
    """The problem's rates per more than one unit of measure ("$5 every 10 minutes"): amount, how many units, unit."""
    found = []
    for match in _PER_SEVERAL.finditer(normalize(problem)):
        several = Fraction(match.group("several").replace(",", ""))
        if several > 1 and (unit := _MEASURES.get(match.group("unit").lower())):
            found.append((Fraction(match.group("amount").replace(",", "")), several, unit))
    return tuple(found)


def rate_per_several_as_per_one(
    problem: str,
    line: str,
    units: dict[Fraction, str],
    worked: dict[Fraction, set[str]],
    used: tuple[AbstractSet[Fraction], ...],
) -> str | None:
    """A step that multiplies a rate the problem gives per several units ("$5 every 10 minutes") by an amount in that
    unit ("180 minutes": the problem's ``units``, or the ones the steps gave a result, ``worked``) as though it were
    per one unit, with the several (10) in none of the sets of numbers ``used`` so far: the product, else None."""
    rates = _rates_per_several(problem)
    for match in _PRODUCT.finditer(line) if rates else ():
        a, b = (Fraction(g.replace(",", "")) for g in match.group("a", "b"))
        for amount, several, unit in rates:
            other = b if a == amount else a if b == amount else None
            if other is None or other == several or any(several in numbers for numbers in used):
                continue
            if units.get(other) == unit or worked.get(other) == {unit}:
                return f"{match.group(0).strip()} takes {amount} per {several} {unit} as per one"
    return None


# "3000 hours / 20 playlists = 150 hours in total": an amount, what it is shared among, and what the result is called
_SHARED = re.compile(
    rf"(?<![\d.,])(?P<amount>{AMOUNT})\s+(?P<unit>[a-z]+)\s*/\s*{AMOUNT}\s+(?P<among>[a-z]+)"
    rf"(?!\s*(?:per|each|an?|/)\b)\s*=\s*{AMOUNT}\s+(?P<result>[a-z]+)(?P<after>(?:\s+[a-z]+){{0,3}})",
    re.IGNORECASE,
)
_TOTAL = re.compile(r"\b(?:in total|in all|altogether)\b|\btotal(?: of)?\s*$", re.IGNORECASE)


def quotient_as_total(line: str) -> str | None:
    """A step that shares an amount among a number of other things and calls the share a total ("the 20 playlists
    will last 3000 hours / 20 playlists = 150 hours in total"): hours divided by playlists are hours per playlist.
    The quotient, else None."""
    for match in _SHARED.finditer(line) if "/" in line else ():
        unit, among, result = (match.group(g).lower() for g in ("unit", "among", "result"))
        if unit != result or among == unit:
            continue
        before = line[: match.start()].split()[-4:]
        if _TOTAL.search(match.group("after")) or _TOTAL.search(" ".join(before)):
            return f"{line[match.start() : match.end('result')]} is a share of each of the {among}, not a total"
    return None
