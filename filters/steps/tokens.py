"""The token stream of one line of a trace: numbers (``$1,200``, ``.25``, ``3 1/2``, ``20%``, number words),
operators (symbols, LaTeX and words: ``times``, ``divided by``, ``half of``), parentheses, equality and words."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from filters.steps.text import STEP_LABEL

NUM, OP, LP, RP, EQ, WORD, STOP = "num", "op", "lp", "rp", "eq", "word", "stop"


def _latex_mixed(match: re.Match[str]) -> str:
    """A LaTeX mixed number as the token stream reads one ("37 1/2"); a whole before an improper fraction multiplies
    it."""
    whole, numerator, denominator = match.groups()
    if 0 < int(numerator) < int(denominator):
        return f" {whole} {numerator}/{denominator} "
    return f"{whole} (({numerator})/({denominator}))"


_LATEX: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [  # where a text has a backslash
    # a mixed number, "37 \\frac{1}{2}", "4\\dfrac{5}{8}": a whole and a proper fraction ("2\\frac{3}{2}" multiplies)
    (re.compile(r"(?<![\d.}^_])(\d+)\s*\\[dt]?frac\s*\{(\d+)\}\s*\{(\d+)\}"), _latex_mixed),
    (re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}"), r"((\1)/(\2))"),
    (re.compile(r"\\(?:times|cdot)"), " * "),
    (re.compile(r"\\div"), " / "),
    (re.compile(r"\\(?:left|right|[,;!])"), " "),
    (re.compile(r"\\text\{([^{}]*)\}"), r" \1 "),
    (re.compile(r"\\\(|\\\)|\\\[|\\\]"), " "),
]


_NOTE = re.compile(r"<<([^<>]*)>>")
_OPERATION = re.compile(r"[-+*/×÷]")
# a mixed number in words: "5 and 2/3"
_MIXED_IN_WORDS = re.compile(r"(?<![\d.,/])(\d+)\s+and\s+(\d+)/(\d+)(?![\d.,/])")


_WRITTEN_AFTER = re.compile(r"\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)")  # the result a text writes after a note
_SHORTFALL = re.compile(r"\W*(?:[a-z]+\W+)?(?:less|fewer|lower|short|below|behind|loss|deficit)\b", re.IGNORECASE)


def _note(match: re.Match[str]) -> str:
    """A GSM8K calculator note as a claim of its own, with the result the text writes after it: "130,000*.15 =
    $<<130000*.15=19500.0>>195,000" claims 130000*.15 = 195,000, which is false. One with no operation ("1.5 / .25 =
    <<6=6>>6") claims nothing."""
    body = match.group(1)
    if not _OPERATION.search(body):
        return ""
    expression, _, result = body.rpartition("=")
    written = _WRITTEN_AFTER.match(match.string, match.end())
    if expression and written and not _same_result(result, written.group(1), match.string, written.end()):
        return f" ; {expression}={written.group(1)} ; "
    return f" ; {body} ; "


def _same_result(computed: str, written: str, text: str, end: int) -> bool:
    """Whether the result a text writes after a note (ending at ``end``) is the note's own: rounded to the places
    written, taken down to a whole (16 boxes for 50 / 3) or up to one, as a percent (75% for 3/4), or without its sign
    before a word that says so ("= <<360-480=-120>>120 less")."""
    try:
        value, stated = Fraction(computed.strip()), number(written)
    except (ValueError, ZeroDivisionError):
        return True
    if stated == -value and _SHORTFALL.match(text, end):
        return True
    places = len(written.partition(".")[2])
    return stated in (value, 100 * value, math.floor(value), math.ceil(value)) or round(value, places) == stated


def _mixed_number(match: re.Match[str]) -> str:
    """ "5 and 2/3" as 5 2/3 where the fraction is proper; "2 and 10/3" stays two numbers."""
    whole, numerator, denominator = match.groups()
    joined = int(numerator) < int(denominator)
    return f"{whole}{' ' if joined else ' and '}{numerator}/{denominator}"


_ABBREVIATIONS = "sq|ft|in|yd|yds|mi|lb|lbs|oz|hr|hrs|min|mins|sec|secs|gal|qt|pt|cu|km|cm|mm|kg|ml|mph|wk|yr|doz"
_PLAIN = [
    (re.compile(r"[$€£¥]"), " "),
    # 2x3, 25x.4, 2 x (3); not "96 + 12x." or "12375x (rounded)": an unknown
    (re.compile(r"(\d)\s*[xX]\s*(?=\d|\.\d|\((?![A-Za-z]{2}))"), r"\1 * "),
    # a count before a size written with a hyphen is no group of thousands: "12 200-kilobyte videos"
    (re.compile(r"(\d) (\d{3})-(?=[A-Za-z]{2})"), r"\1, \2-"),
    (re.compile(r"(\d)-(?=[A-Za-z]{2})"), r"\1 "),  # a 1200-mile trip (but 100-x stays)
    (re.compile(r"\b(?:30-60-90|45-45-90)\b"), " special right "),  # a triangle's name: "two 30-60-90 triangles"
    # an abbreviation's full stop inside a calculation ("640 sq. ft. - 80 sq.ft = 560") ends no sentence
    (re.compile(r"\.(?<=[A-Za-z]\.)(?=[A-Za-z])"), ""),
    # (the full stop first, the word after: a scan for the stop is ten times faster than one for the words)
    (re.compile(r"\.(?=\s+[-+*/×=a-z])(?:" + "|".join(rf"(?<=\b{w}\.)" for w in _ABBREVIATIONS.split("|")) + ")"), ""),
    # a label in parentheses: "$240 (house and food) + $9"; after a number, a factor: ".4(Number of Minutes)"
    (re.compile(r"(?<!\d)\([A-Za-z]{2,}[A-Za-z ,&'-]*\)"), " "),
]
_MERIDIEM_STOPS = re.compile(r"\b([AaPp])\.[Mm]\.(?=\s*[-+*/×=])")  # "11 a.m. - 2 hours": no full stop
_BOLD = re.compile(r"(?<!\d)\*\*|\*\*(?!\d)")  # Markdown bold, "= **72**" (not a power, 2**3)
_TOKEN = re.compile(
    r"(?P<num>\d+[ \t]+[1-9]\d*/0*[1-9]\d*(?![\d.])|\d+/0*[1-9]\d*(?![\d.])"  # 2 1/2, 3/4; 5/0 is a division
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)|\d{1,3}(?: \d{3})+(?![\d,]|\.\d)"  # 1,200.5 and 350 000
    r"|\d+(?:\.\d+)?|\.\d+)(?P<pct>\s*(?:%|percent\b))?"
    r"|(?P<op>[-+*/^×·÷−–])|(?P<lp>[({\[])|(?P<rp>[)}\]])|(?P<eq>=|≈)"
    r"|(?P<word>[A-Za-z]+(?:['’&-][A-Za-z]+)*['’]?[²³]?)|(?P<other>\S)"
)
_OPS = {"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-"}
_VERBAL_OPS = {
    ("times",): "*",
    ("multiplied", "by"): "*",
    ("divided", "by"): "/",
    ("divided", "into"): "/",
    ("plus",): "+",
    ("minus",): "-",
}
_VERBAL_EQ = [("is", "equal", "to"), ("are", "equal", "to"), ("equal", "to"), ("equals",), ("equal",)]
_PARTS = {"half": Fraction(1, 2), "third": Fraction(1, 3), "quarter": Fraction(1, 4), "fourth": Fraction(1, 4)}
_LETTER_VARIABLE_OK = frozenset("aAI")
_UNIT_LETTERS = frozenset("mgshklcKMB")  # 3m, 400g, 5h, 10k, 2L, 5K, 2M, 3B
WORD_RE = re.compile(r"[a-z]+")
DIGIT = re.compile(r"\d")
AMOUNT = r"\d[\d,]*(?:\.\d+)?"  # a number as written in a calculation: 1,200 and 2.5
TIME_OF_DAY = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?![\d:])")  # 7:50, 00:00: no amount, nor a calculation's
WRITTEN_FRACTION = re.compile(r"(?<![\d.,/])(\d+)\s*/\s*(\d+)(?![\d.,/])")  # 3/8 as written: numerator, denominator
_OPERAND = re.compile(r"[\d.*/×+\-^(]\s*$")


def inside_calculation(before: str) -> bool:
    """Whether what a text has before a calculation makes it a term of a longer one ("2 * " before "3 - 3 = 0")."""
    return _OPERAND.search(before) is not None


_MAY_RESOLVE = re.compile(  # a line without these has no word to resolve: its tokens stand as they are
    r"/\s*[A-Za-z]|\b(?:times|multiplied|divided|plus|minus|is|are|equals?|half|third|quarter|fourth|twice|of|x)\b",
    re.IGNORECASE,
)
_LONE_LETTER = re.compile(r"(?<![\w'’-])(?<!\d )([A-Za-z])(?![\w'’-])")
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
_TEENS_AND_TENS = ["seventeen", "eighteen", "nineteen", "twenty"]
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate([*_UNITS.split(), *_TEENS_AND_TENS])} | {
    w: 10 * i for i, w in enumerate(["thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], start=3)
}
WORD_NUMBER = re.compile(rf"\b(?:{'|'.join(NUMBER_WORDS)})\b", re.IGNORECASE)  # a number in words
# words that can start a verbal operator or equality; any other word is looked at no further
_TRIGGERS = frozenset(w for words in [*_VERBAL_OPS, *_VERBAL_EQ] for w in words[:1]) | {
    *_PARTS,
    "twice",
    "of",
    "x",
    "X",
}


@dataclass(slots=True)
class Token:
    kind: str
    text: str
    value: Fraction | None = None
    percent: bool = False
    glued: bool = False  # a word written against the number before it ("2x", "10km")
    after_number: bool = False  # a word right after a number ("75 m")
    variable: bool = False  # a named unknown ("x", "2J", "4p" where the trace says "let p be ...")
    verbal: bool = False  # an operator written in words ("divided into")


# the verbal operators and equalities by their first word, longest first, as the tokens they become
_PHRASES: dict[str, list[tuple[tuple[str, ...], Token]]] = {}
for _words, _op in _VERBAL_OPS.items():
    _PHRASES.setdefault(_words[0], []).append((_words, Token(OP, _op, verbal=True)))
for _words in _VERBAL_EQ:
    _PHRASES.setdefault(_words[0], []).append((_words, Token(EQ, " ".join(_words))))


@lru_cache(maxsize=65536)
def number(text: str) -> Fraction:
    parts = text.replace(",", "").split()
    if len(parts) > 1 and "/" not in parts[-1]:  # 350 000: thousands apart by spaces
        return Fraction("".join(parts))
    if len(parts) == 2:  # 2 1/2, its parts apart by spaces or a tab
        return Fraction(parts[0]) + Fraction(parts[1])
    return Fraction(parts[0])  # also "3/4"


def declared_variables(text: str) -> frozenset[str]:
    """Letters a text uses as named unknowns: single letters standing alone ("let p be", "x + 3"), not units
    after a number ("75 m")."""
    return frozenset(_LONE_LETTER.findall(text)) - _LETTER_VARIABLE_OK


def _is_variable(letter: str, glued: bool, after_number: bool, declared: frozenset[str]) -> bool:
    if len(letter) != 1 or not letter.isalpha():
        return False
    if glued:  # "4p" where p is declared, "2J"; but "3m", "400g" are units
        return letter in declared or letter not in _UNIT_LETTERS
    if after_number:  # "75 m"
        return letter in declared
    return letter not in _LETTER_VARIABLE_OK


def tokenize(line: str, declared: frozenset[str] = frozenset()) -> list[Token]:
    """Numbers, operators, parentheses, equality, words and stops of one line, verbal operators resolved."""
    raw: list[Token] = []
    last_end = -1
    for match in _TOKEN.finditer(line):
        kind = match.lastgroup
        text = match.group()
        if kind == WORD:  # the commonest token first
            lower = text.lower()
            if lower in NUMBER_WORDS and not (raw and raw[-1].kind == NUM and DIGIT.search(raw[-1].text)):
                raw.append(Token(NUM, text, Fraction(NUMBER_WORDS[lower])))  # (not "100 one way": a label)
            else:
                after = bool(raw) and raw[-1].kind == NUM
                glued = after and match.start() == last_end
                variable = len(text) == 1 and _is_variable(text, glued, after, declared)
                raw.append(Token(WORD, text, None, False, glued, after, variable))
        elif kind == NUM or kind == "pct":
            raw.append(Token(NUM, text.strip(), number(match.group(NUM)), match.group("pct") is not None))
        elif kind == OP:
            raw.append(Token(OP, _OPS.get(text, text)))
        elif kind in (LP, RP, EQ):
            raw.append(Token(kind, text))
        else:
            raw.append(Token(STOP, text))
        last_end = match.end()
    return _resolve_words(raw) if _MAY_RESOLVE.search(line) else raw


def starts_operand(tokens: list[Token], i: int) -> bool:
    return i < len(tokens) and tokens[i].kind in (NUM, LP)


def _resolve_words(tokens: list[Token]) -> list[Token]:
    """Verbal operators and equality to symbols; ``x`` between quantities to ``*``; unit slashes (``/trip``) to
    words."""
    out: list[Token] = []
    i, count = 0, len(tokens)
    while i < count:
        token = tokens[i]
        kind = token.kind
        if kind == WORD:
            lower = token.text.lower()
            if lower in _TRIGGERS and (step := _resolve_word(tokens, i, lower, out)):
                i += step
                continue
        elif kind == OP and token.text == "/" and i + 1 < count and tokens[i + 1].kind == WORD:
            out.append(token if tokens[i + 1].variable else Token(WORD, "/"))
            i += 1
            continue
        out.append(token)
        i += 1
    return out


def _resolve_word(tokens: list[Token], i: int, lower: str, out: list[Token]) -> int:
    """Resolve the trigger word at ``i`` into ``out``: how many tokens it took (0 where it stays a word)."""
    for words, token in _PHRASES.get(lower, ()):
        n = len(words)
        if (n == 1 or tuple(t.text.lower() for t in tokens[i : i + n]) == words) and starts_operand(tokens, i + n):
            out.append(Token(token.kind, token.text, verbal=token.verbal))
            return n
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if lower in _PARTS and nxt and nxt.text.lower() == "of" and starts_operand(tokens, i + 2):
        out += [Token(NUM, lower, _PARTS[lower]), Token(OP, "*")]
        return 2
    if lower == "twice" and starts_operand(tokens, i + 1):
        out += [Token(NUM, "2", Fraction(2)), Token(OP, "*")]
        return 1
    if lower == "of" and out and starts_operand(tokens, i + 1) and _is_part(out):
        out.append(Token(OP, "*"))
        return 1
    if lower == "is" and starts_operand(tokens, i + 1):
        out.append(Token(EQ, "is"))
        return 1
    if lower == "x" and not tokens[i].glued and out and starts_operand(tokens, i + 1):
        out.append(Token(OP, "*"))
        return 1
    return 0


def _is_part(out: list[Token]) -> bool:
    """Whether the tokens before an ``of`` end in a percent or a fraction (``20% of``, ``3/4 of``)."""
    last = out[-1]
    return last.kind == NUM and (last.percent or "/" in last.text or last.text in _PARTS)


def normalize(text: str) -> str:
    if "**" in text:
        text = _BOLD.sub(" ", text)
    if ".m." in text or ".M." in text:
        text = _MERIDIEM_STOPS.sub(r"\1m", text)
    for pattern, replacement in (*_LATEX, *_PLAIN) if "\\" in text else _PLAIN:
        text = pattern.sub(replacement, text)
    if "<<" in text:
        text = _NOTE.sub(_note, text)
    if " and " in text:
        text = _MIXED_IN_WORDS.sub(_mixed_number, text)
    return STEP_LABEL.sub(" ", text)


def percent_forms(values: Iterable[Fraction]) -> set[Fraction]:
    """Numbers as stated and as a percent read either way (25 for 0.25, 0.25 for 25; also cents and dollars)."""
    return {form for value in values for form in (value, value * 100, value / 100)}


def word_numbers(text: str) -> set[Fraction]:
    return {Fraction(NUMBER_WORDS[w.lower()]) for w in WORD_NUMBER.findall(text)}


def _stated(text: str) -> list[Fraction]:
    """The values of the numbers a text states, each time it states one (number words first, then digits)."""
    found = [Fraction(NUMBER_WORDS[w.lower()]) for w in WORD_NUMBER.findall(text)]
    for match in _TOKEN.finditer(text) if DIGIT.search(text) else ():
        if match.group("num"):
            found.append(number(match.group("num")))
    return found


def number_mentions(text: str) -> Counter[Fraction]:
    """How many times a text states each number (digits and number words)."""
    return Counter(_stated(text))


def numbers(text: str) -> set[Fraction]:
    """The values of the numbers a text states (digits and number words)."""
    return set(_stated(text))
