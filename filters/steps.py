"""Process checks over a reasoning trace: every arithmetic claim it states holds, and its final answer is derived.

``find_reasoning_error(problem, trace)`` returns None where no error is found, else a reason that starts with its
code: ``false_calculation: <claim>`` (a stated calculation is wrong), ``misread_fact: <step> (the problem:
<sentence>)`` (a step restates a quantity the problem gives with another number) or ``answer_not_derived`` (the final
answer is not the result of any step: the typical case restates the question and boxes the answer).

Claims are read from a token stream, never ``eval``-ed: numbers (``$1,200``, ``.25``, ``3 1/2``, ``20%``), operators
(``+ - * / ^ x × · ÷``, ``times``, ``divided by``, ``plus``, ``minus``, ``half of``, ``20% of``), LaTeX
(``\\frac{a}{b}``, ``\\times``, ``\\cdot``) and equality (``=``, ``equals``, ``is equal to``; ``is`` after a
compound expression). Unit words after a number (``8 bags/trip * 4 oz/bag``) are skipped. Values are exact
rationals. Tolerated: rounding to the stated precision, a percent written as a number (``0.25 * 100 = 25%``), a
running total (``2 + 3 = 5 + 4 = 9``), unit conversions (``2 hours = 120 minutes``: a bare number on the left is a
label, not a claim), and algebra with named unknowns (skipped, not judged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property, lru_cache

from filters.answers import extract_answer
from filters.contract import Drop

NUM, OP, LP, RP, EQ, WORD, STOP = "num", "op", "lp", "rp", "eq", "word", "stop"

_LATEX = [  # applied where a text has a backslash
    (re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}"), r"((\1)/(\2))"),
    (re.compile(r"\\(?:times|cdot)"), " * "),
    (re.compile(r"\\div"), " / "),
    (re.compile(r"\\(?:left|right|[,;!])"), " "),
    (re.compile(r"\\text\{([^{}]*)\}"), r" \1 "),
    (re.compile(r"\\\(|\\\)|\\\[|\\\]"), " "),
]
_PLAIN = [
    (re.compile(r"[$€£¥]"), " "),
    (re.compile(r"(\d)\s*[xX]\s*(?=[\d.(])"), r"\1 * "),  # 2x3, 25x.4
    (re.compile(r"(\d)-(?=[A-Za-z]{2})"), r"\1 "),  # a 1200-mile trip (but 100-x stays)
    (re.compile(r"<<([^<>]*)>>"), r" ; \1 ; "),  # GSM8K calculator notes are claims of their own
]
_STEP_LABEL = re.compile(r"^\s*(?:step\s*\d+\s*[:.)-]|\d+\s*[.)]\s|[-*•]\s)", re.IGNORECASE | re.MULTILINE)
_FINAL_LINE = re.compile(r"\\boxed|\\fbox|####|(?:final answer|the answer)\s*(?:is|:)", re.IGNORECASE)
_BOXED_CLAIM = re.compile(r"\\(?:boxed|fbox)\{([^{}]*=[^{}]*)\}")  # a box around a calculation, not an answer
_TOKEN = re.compile(
    r"(?P<num>\d+\s+\d+/\d+(?![\d.])|\d+/\d+(?![\d.])"  # 2 1/2, 3/4
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)|\d{1,3}(?: \d{3})+(?![\d,./])"  # 1,200.5 and 350 000
    r"|\d+(?:\.\d+)?|\.\d+)(?P<pct>\s*(?:%|percent\b))?"
    r"|(?P<op>[-+*/^×·÷−–])|(?P<lp>[({\[])|(?P<rp>[)}\]])|(?P<eq>=|≈)"
    r"|(?P<word>[A-Za-z]+(?:['’-][A-Za-z]+)*['’]?[²³]?)|(?P<other>\S)"
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
_TIMES = frozenset({"x", "X", "times", "by", "of", "per"})  # words that join a number to an unknown
_CONNECTIVES = frozenset({"so", "then", "or", "and", "thus", "hence", "therefore", "get", "gives", "means", "that"})
_LET = re.compile(r"\blet\b", re.IGNORECASE)
_PREPOSITIONS = frozenset(
    {"about", "after", "at", "by", "for", "from", "in", "of", "on", "over", "per", "than", "to", "with"}
)
_PARTS = {"half": Fraction(1, 2), "third": Fraction(1, 3), "quarter": Fraction(1, 4), "fourth": Fraction(1, 4)}
_ROUNDING = re.compile(r"round|approx|about|nearly|almost|roughly|estimate|≈|~|whole|nearest", re.IGNORECASE)
_LETTER_VARIABLE_OK = frozenset("aAI")
_UNIT_LETTERS = frozenset("mgshklcKMB")  # 3m, 400g, 5h, 10k, 2L, 5K, 2M, 3B
_WORD = re.compile(r"[a-z]+")
_DIGIT = re.compile(r"\d")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\])")
_MAY_RESOLVE = re.compile(  # a line without these has no word to resolve: its tokens stand as they are
    r"/\s*[A-Za-z]|\b(?:times|multiplied|divided|plus|minus|is|are|equals?|half|third|quarter|fourth|twice|of|x)\b",
    re.IGNORECASE,
)
_LONE_LETTER = re.compile(r"(?<![\w'’-])(?<!\d )([A-Za-z])(?![\w'’-])")
_MAX_UNIT_WORDS = 6  # "8 bags/trip", "360 * .25 expected loss"; a longer run of words is prose
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
_TEENS_AND_TENS = ["seventeen", "eighteen", "nineteen", "twenty"]
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate([*_UNITS.split(), *_TEENS_AND_TENS])} | {
    w: 10 * i for i, w in enumerate(["thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], start=3)
}
_WORD_NUMBER = re.compile(rf"\b(?:{'|'.join(NUMBER_WORDS)})\b", re.IGNORECASE)
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


@dataclass(frozen=True)
class Claim:
    """One stated equality between two expressions of a trace, and whether it holds."""

    text: str
    holds: bool
    value: Fraction


@lru_cache(maxsize=65536)
def _number(text: str) -> Fraction:
    text = text.replace(",", "")
    if " " in text.strip():
        whole, fraction = text.split()
        return Fraction(whole) + Fraction(fraction)
    return Fraction(text)  # also "3/4"


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
            if lower in NUMBER_WORDS:
                raw.append(Token(NUM, text, Fraction(NUMBER_WORDS[lower])))
            else:
                after = bool(raw) and raw[-1].kind == NUM
                glued = after and match.start() == last_end
                variable = len(text) == 1 and _is_variable(text, glued, after, declared)
                raw.append(Token(WORD, text, None, False, glued, after, variable))
        elif kind == NUM or kind == "pct":
            raw.append(Token(NUM, text.strip(), _number(match.group(NUM)), match.group("pct") is not None))
        elif kind == OP:
            raw.append(Token(OP, _OPS.get(text, text)))
        elif kind in (LP, RP, EQ):
            raw.append(Token(kind, text))
        else:
            raw.append(Token(STOP, text))
        last_end = match.end()
    return _resolve_words(raw) if _MAY_RESOLVE.search(line) else raw


def _starts_operand(tokens: list[Token], i: int) -> bool:
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
        if (n == 1 or tuple(t.text.lower() for t in tokens[i : i + n]) == words) and _starts_operand(tokens, i + n):
            out.append(Token(token.kind, token.text, verbal=token.verbal))
            return n
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if lower in _PARTS and nxt and nxt.text.lower() == "of" and _starts_operand(tokens, i + 2):
        out += [Token(NUM, lower, _PARTS[lower]), Token(OP, "*")]
        return 2
    if lower == "twice" and _starts_operand(tokens, i + 1):
        out += [Token(NUM, "2", Fraction(2)), Token(OP, "*")]
        return 1
    if lower == "of" and out and _starts_operand(tokens, i + 1) and _is_part(out):
        out.append(Token(OP, "*"))
        return 1
    if lower == "is" and _starts_operand(tokens, i + 1):
        out.append(Token(EQ, "is"))
        return 1
    if lower == "x" and not tokens[i].glued and out and _starts_operand(tokens, i + 1):
        out.append(Token(OP, "*"))
        return 1
    return 0


def _is_part(out: list[Token]) -> bool:
    """Whether the tokens before an ``of`` end in a percent or a fraction (``20% of``, ``3/4 of``)."""
    last = out[-1]
    return last.kind == NUM and (last.percent or "/" in last.text or last.text in _PARTS)


class _Parser:
    """Recursive descent over a slice of tokens: sum of products of powers of (signed) atoms; unit words skipped."""

    def __init__(self, tokens: list[Token], scale_percent: bool) -> None:
        self.tokens = [t for t in tokens if t.kind != WORD]
        self.i = 0
        self.scale = scale_percent

    def parse(self) -> Fraction | None:
        try:
            value = self.sum()
        except (ZeroDivisionError, OverflowError, ValueError, IndexError):
            return None
        return value if self.i == len(self.tokens) else None

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def sum(self) -> Fraction:
        value = self.product()
        while (t := self.peek()) and t.kind == OP and t.text in "+-":
            self.i += 1
            value = value + self.product() if t.text == "+" else value - self.product()
        return value

    def product(self) -> Fraction:
        value = self.power()
        while True:
            t = self.peek()
            if t and t.kind == OP and t.text in "*/":
                self.i += 1
                value = value * self.power() if t.text == "*" else value / self.power()
            elif t and t.kind == LP:  # 2(3 + 4)
                value *= self.power()
            else:
                return value

    def power(self) -> Fraction:
        base = self.atom()
        t = self.peek()
        if t and t.kind == OP and t.text == "^":
            self.i += 1
            exponent = self.power()
            if exponent.denominator != 1 or abs(exponent) > 64:
                raise ValueError("exponent")
            return base**exponent
        return base

    def atom(self) -> Fraction:
        t = self.tokens[self.i]
        self.i += 1
        if t.kind == OP and t.text == "-":
            return -self.atom()
        if t.kind == NUM:
            assert t.value is not None
            return t.value / 100 if t.percent and self.scale else t.value
        if t.kind == LP:
            value = self.sum()
            if self.tokens[self.i].kind != RP:
                raise ValueError("parenthesis")
            self.i += 1
            return value
        raise ValueError("atom")


@dataclass(frozen=True)
class _Expression:
    tokens: list[Token]

    @property
    def compound(self) -> bool:
        numbers = sum(t.kind == NUM for t in self.tokens)
        return any(t.kind == OP or "/" in t.text for t in self.tokens) or (numbers > 1 and self.has_operator)

    @property
    def has_operator(self) -> bool:
        return any(t.kind in (OP, LP) for t in self.tokens)

    @property
    def first_number(self) -> Token | None:
        return next((t for t in self.tokens if t.kind == NUM), None)

    @cached_property
    def values(self) -> set[Fraction]:
        """The expression's value with percents as fractions and, where it has any, as plain numbers."""
        modes = (True, False) if any(t.percent for t in self.tokens) else (True,)
        return {v for mode in modes if (v := _Parser(self.tokens, mode).parse()) is not None}

    def text(self) -> str:
        return " ".join(t.text for t in self.tokens)

    def decimals(self) -> int | None:
        """Decimal places of a plain stated number; None for a compound expression."""
        if self.compound or not (number := self.first_number):
            return None
        digits = number.text.rstrip("%").strip()
        return len(digits.split(".")[1]) if "." in digits else 0


def _matching(tokens: list[Token], index: int, step: int) -> int | None:
    """Index of the parenthesis matching ``tokens[index]``, scanning in direction ``step``."""
    depth = 0
    j = index
    while 0 <= j < len(tokens):
        kind = tokens[j].kind
        depth += (kind == LP) - (kind == RP) if step > 0 else (kind == RP) - (kind == LP)
        if depth == 0:
            return j
        if kind in (EQ, STOP):
            return None
        j += step
    return None


def _skip_units_back(tokens: list[Token], j: int) -> int | None:
    """Index of the last non-word token at or before ``j`` where the words there are units of a quantity; ``j``
    where they are not; None where they hold an unknown (``2x + 3``: no number to check)."""
    k = j
    while k >= 0 and tokens[k].kind == WORD:
        if tokens[k].variable:
            return None
        if j - k >= _MAX_UNIT_WORDS:
            return j
        k -= 1
    if k < 0 or tokens[k].kind not in (NUM, RP):
        return j
    if k + 1 <= j and tokens[k + 1].text.lower() == "of" and j == len(tokens) - 1:
        return None  # "1/3 of Solomon =": a part of an unstated quantity
    return k


def _suffix(tokens: list[Token]) -> _Expression | None:
    """The expression that ends a segment (the left side of the ``=`` after it)."""
    j = _skip_units_back(tokens, len(tokens) - 1)
    if j is None:
        return None
    end, start = j + 1, None
    while j >= 0:
        if tokens[j].kind == NUM:
            first = j
        elif tokens[j].kind == RP and (first := _matching(tokens, j, -1)) is not None:
            pass
        else:
            break
        start, prev = first, first - 1
        if prev < 0:
            break
        if tokens[first].kind == LP and tokens[prev].kind in (NUM, RP):  # 32(.25)
            j = prev
            continue
        if tokens[prev].kind != OP:
            break
        if tokens[prev].text == "-" and (prev == 0 or tokens[prev - 1].kind in (OP, LP, EQ, STOP)):
            start = prev  # a negative number
            break
        k = _skip_units_back(tokens, prev - 1)
        if k is None:
            return None
        if k < 0 or tokens[k].kind not in (NUM, RP):
            if tokens[prev].verbal:
                break  # "divided into 4 + 6": prose, not an operation on an unstated quantity
            return None  # "number of pages * (2/3)": an unknown operand
        j = k
    return _Expression(tokens[start:end]) if start is not None else None


def _prefix(tokens: list[Token]) -> tuple[_Expression | None, int]:
    """The expression that starts a segment (the right side of the ``=`` before it) and where it ends."""
    j = 0
    end = 0
    while j < len(tokens):
        if tokens[j].kind == OP and tokens[j].text == "-":
            j += 1
        if j >= len(tokens):
            break
        if tokens[j].kind == NUM:
            j += 1
        elif tokens[j].kind == LP:
            match = _matching(tokens, j, 1)
            if match is None:
                break
            j = match + 1
        else:
            break
        end = k = j
        while k < len(tokens) and tokens[k].kind == WORD and k - j < _MAX_UNIT_WORDS:
            k += 1
        if j < len(tokens) and tokens[j].variable:
            return None, j  # "= 3p"
        if j < len(tokens) and tokens[j].text.lower() == "of":
            return _Expression(tokens[:end]), j  # "= 4/5 of her prize": a value, but no chain goes on from it
        if k < len(tokens) and tokens[k].kind == OP:
            if any(t.variable for t in tokens[j:k]):
                return None, k
            j = k + 1
            nxt = j + 1 if j < len(tokens) and tokens[j].text == "-" else j
            if not _starts_operand(tokens, nxt):
                if tokens[k].verbal:
                    break
                return None, j  # "8 bags / Y": an unknown operand
            continue
        j = k
        break
    return (_Expression(tokens[:end]) if end else None), j


def _agrees(left: _Expression, right: _Expression, line: str) -> tuple[bool, Fraction | None]:
    """Whether ``left = right`` holds: exactly, to the precision the right side states (rounded or cut; to a whole
    number only where it is within 0.01 or the line says it rounds), or with a percent read as a plain number."""
    lefts, rights = left.values, right.values
    if not lefts or not rights:
        return True, None
    percent = any(t.percent for t in (*left.tokens, *right.tokens))
    places = right.decimals()
    for b in rights:
        for target in (b, b * 100, b / 100) if percent else (b,):
            for a in lefts:
                if abs(a - target) <= abs(target) / 10**6:
                    return True, b
                close = places is not None and _rounds_to(a, target, places)
                if close and (places or abs(a - target) < Fraction(1, 100) or _ROUNDING.search(line)):
                    return True, b
    return False, next(iter(rights))


def _rounds_to(value: Fraction, stated: Fraction, places: int) -> bool:
    """Whether ``stated`` is ``value`` rounded or cut to ``places`` decimals."""
    step = Fraction(1, 10**places)
    return abs(value - stated) <= step / 2 or (value > 0 and stated == int(value / step) * step)


def _claims(tokens: list[Token], line: str) -> list[Claim]:
    """Every checkable equality a line's tokens state, in order."""
    segments: list[list[Token]] = [[]]
    equals: list[str] = []
    for t in tokens:
        if t.kind == EQ:
            equals.append(t.text)
            segments.append([])
        elif t.kind == STOP and t.text in ";?!":
            equals.append("")
            segments.append([])  # a sentence break ends any chain
            segments[-1] = [t]
        else:
            segments[-1].append(t)
    found: list[Claim] = []
    previous: _Expression | None = None
    head: _Expression | None = None  # the last calculation of the chain in progress
    for index in range(1, len(segments)):
        if segments[index] and segments[index][0].kind == STOP:
            previous = None
            continue
        opens_chain = previous is None
        left = _suffix(segments[index - 1]) if opens_chain else previous
        right, end = _prefix(segments[index])
        if previous is not None and not previous.compound and head is not None and equals[index - 1] == "=":
            left = head  # "4 + 5 = 9 = 10": the chain's calculation against its next link
        previous = right if right is not None and end >= len(_trim(segments[index])) else None
        head = left if left is not None and left.compound and previous is not None else None
        bare = _trim(segments[index - 1])[-2:] if opens_chain and equals[index - 1] == "=" else []
        after_word = len(bare) == 1 or (len(bare) == 2 and bare[0].kind == WORD and len(bare[0].text) > 1)
        number = bare[-1] if bare and after_word and bare[-1].kind == NUM and _DIGIT.search(bare[-1].text) else None
        if number is None and opens_chain and equals[index - 1] in ("=", "is"):
            number = _counted(segments, index)
        if number is not None and (left is None or not left.compound) and right is not None and right.compound:
            # "by 4 = $27 * 4 = 108": a bare number right before "=" set equal to a calculation must be its value;
            # so must a count whose result is counted in the same unit ("24 marbles is 3 * 24 = 72 marbles")
            stated = _Expression([number])
            ok, _ = _agrees(right, stated, line)
            found.append(Claim(f"{number.text} = {right.text()}", ok, next(iter(stated.values), Fraction(0))))
            continue
        if left is None or right is None or not left.compound:
            continue
        if segments[index - 1] and not left.has_operator and equals[index - 1] != "=":
            continue  # "3/8 is equal to $375": a part named by its fraction, not a division
        ok, value = _agrees(left, right, line)
        if not ok and right.compound:
            ok = _continues(left, right)
        text = f"{left.text()} = {right.text()}"
        found.append(Claim(text, ok, value if value is not None else Fraction(0)))
    return found


def _counted(segments: list[list[Token]], index: int) -> Token | None:
    """The number of ``24 marbles is 3 * 24 = 72 marbles``: a count before the link whose unit word also follows the
    chain's result (a conversion, ``2 hours is 2 * 60 = 120 minutes``, changes unit and is not one)."""
    segment = _trim(segments[index - 1])
    before = segment[-2:]
    if len(before) < 2 or before[0].kind != NUM or before[1].kind != WORD or index + 1 >= len(segments):
        return None
    if len(segment) > 2 and segment[-3].text.lower() in _PREPOSITIONS:
        return None  # "to beat Alex by 1 fish is 33 + 1 = 34 fish": the count is not what "is" is said of
    result = _trim(segments[index + 1])[:2]
    unit = before[1].text.lower()
    if len(result) == 2 and result[0].kind == NUM and result[1].kind == WORD and result[1].text.lower() == unit:
        return before[0]
    return None


def _solved_claims(tokens: list[Token], line: str, unknowns: dict[str, Fraction]) -> list[Claim]:
    """A named unknown solved for (``13x = 429``, ``x = 33``, ``2J = 240 / 5``) must keep the value the first step that
    solved for it gave it: ``10x = 980`` then ``x = 96`` is a false step (a ``let`` naming it again starts over)."""
    found: list[Claim] = []
    if not any(t.variable for t in tokens):
        return found  # most lines name no unknown: nothing to solve for, nothing to forget
    if _LET.search(line):
        for t in tokens:
            if t.kind == WORD and t.variable:
                unknowns.pop(t.text, None)
    for e, token in enumerate(tokens):
        if token.kind != EQ:
            continue
        solved = _coefficient_and_unknown(tokens[:e])
        right, _ = _prefix(tokens[e + 1 :])
        if solved is None or right is None or len(right.values) != 1 or any(t.percent for t in right.tokens):
            continue
        coefficient, name = solved
        value = next(iter(right.values)) / coefficient
        known = unknowns.setdefault(name, value)
        holds = abs(value - known) <= max(Fraction(1, 100), max(abs(value), abs(known)) / 200)  # rounding
        found.append(Claim(f"{name} = {float(value):g}, but {name} = {float(known):g} before", holds, value))
    return found


def _coefficient_and_unknown(left: list[Token]) -> tuple[Fraction, str] | None:
    """``(k, "x")`` where the tokens end in ``kx``, ``k * x``, ``x * k`` or ``x`` alone, the whole left side."""
    tail = _trim(left)
    for pattern in ((NUM, WORD), (NUM, OP, WORD), (WORD, OP, NUM), (WORD,)):
        n = len(pattern)
        part = tail[-n:]
        if len(part) < n or tuple(t.kind for t in part) != pattern or (n == 3 and part[1].text != "*"):
            continue
        before = tail[-n - 1] if len(tail) > n else None
        if before is not None and (before.kind in (OP, LP, RP, NUM) or before.variable or before.text in _TIMES):
            return None  # "10x + 20 = 1000", "(x", "3 x Y": more than one term
        if n == 1 and before is not None and before.kind == WORD and before.text.lower() not in _CONNECTIVES:
            return None  # "Juice box C is 4 + 7": a name, not an unknown solved for
        unknown = next(t for t in part if t.kind == WORD)
        number = next((t for t in part if t.kind == NUM), None)
        coefficient = number.value if number is not None and number.value else Fraction(1)
        if unknown.variable and not (number is not None and number.percent):
            return coefficient, unknown.text
        return None
    return None


def _continues(left: _Expression, right: _Expression) -> bool:
    """A running total (``2 + 3 = 5 + 4``): the right side goes on from the left side's value."""
    values = left.values
    for k, t in enumerate(right.tokens):
        if k and t.kind == OP and (_Expression(right.tokens[:k]).values & values):
            return True
    return False


def _trim(tokens: list[Token]) -> list[Token]:
    """A segment without trailing punctuation."""
    end = len(tokens)
    while end and tokens[end - 1].kind == STOP:
        end -= 1
    return tokens[:end] if end else tokens


def _normalize(text: str) -> str:
    for pattern, replacement in (*_LATEX, *_PLAIN) if "\\" in text else _PLAIN:
        text = pattern.sub(replacement, text)
    return _STEP_LABEL.sub(" ", text)


def _word_numbers(text: str) -> set[Fraction]:
    return {Fraction(NUMBER_WORDS[w.lower()]) for w in _WORD_NUMBER.findall(text)}


def _numbers(text: str) -> set[Fraction]:
    """The values of the numbers a text states (digits and number words)."""
    found = _word_numbers(text)
    for match in _TOKEN.finditer(text) if _DIGIT.search(text) else ():
        if match.group("num"):
            found.add(_number(match.group("num")))
    return found


def _restates(step: str, problem_words: frozenset[str]) -> bool:
    """Whether a step only repeats the problem (most of its words are the problem's)."""
    words = _WORD.findall(step.lower())
    return bool(words) and sum(w in problem_words for w in words) >= 0.8 * len(words)


def _stems(text: str) -> frozenset[str]:
    """A text's words, lowercased, without a trailing s (so "cans" is "can" on both sides of a comparison)."""
    return frozenset(w.rstrip("s") for w in _WORD.findall(text.lower()) if w not in NUMBER_WORDS)


_FILLER = _stems("the a an is are was were has have had of in on at to for and with so there it its he she they his")
_RELATIONS = _stems("than more less fewer times twice half per each every many much")  # a given that relates two
_PROBLEM_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=4096)
def _given_quantities(problem: str) -> tuple[tuple[str, frozenset[str], Fraction], ...]:
    """The problem's sentences that give one quantity outright (one number, no comparison): text, words, value."""
    given = []
    for sentence in _PROBLEM_SENTENCE.split(problem.strip()):
        words, values = _stems(sentence), _numbers(_normalize(sentence))
        if len(values) == 1 and not words & _RELATIONS:
            given.append((sentence, words, next(iter(values))))
    return tuple(given)


def _misread_fact(problem: str, line: str, tokens: list[Token], values: set[Fraction], known: set[Fraction]) -> str:
    """A step that restates a quantity the problem gives outright (every word of the step is in the sentence that
    gives it) with another number, one that neither the problem nor an earlier step has ("Tallest tree: 151 feet"
    where the problem says 150): the step and that sentence; empty where there is none."""
    if len(values) != 1 or values <= known or any(t.kind == OP for t in tokens):
        return ""
    words = _stems(line) - _FILLER
    for sentence, given_words, value in _given_quantities(problem) if words else ():
        if words <= given_words and value not in values:
            return f"{line.strip()} (the problem: {sentence})"
    return ""


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
    final answer and any calculation written inside a box (``\\boxed{12/3 = 4}``), never the boxed answer itself."""
    match = _FINAL_LINE.search(line)
    if match is None:
        return line
    return " ; ".join(part for part in [line[: match.start()], *_BOXED_CLAIM.findall(line)] if _DIGIT.search(part))


def split_steps(trace: str) -> list[str]:
    """A trace's steps: its non-empty lines, or its sentences where it is one paragraph."""
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    if len(lines) == 1:
        lines = [s.strip() for s in _SENTENCE_END.split(lines[0]) if s.strip()]
    return lines


def check_trace(problem: str, trace: str) -> TraceCheck:
    """Every arithmetic claim of every step evaluated, then whether the final answer is derived by some step."""
    steps = split_steps(trace)
    normalized = [_working(_normalize(step)) for step in steps]
    body = [i for i, line in enumerate(normalized) if line.strip()]
    labels: list[bool | None] = [None] * len(steps)
    declared = declared_variables(" ".join(normalized[i] for i in body))
    stated: set[Fraction] = set()
    numbers: list[set[Fraction]] = []
    checked = 0
    unknowns: dict[str, Fraction] = {}  # a named unknown's value, as the first step that solves for it gives it
    known = set(_problem_facts(problem)[1])  # the numbers the problem and the steps so far state
    for i in body:
        tokens = tokenize(normalized[i], declared) if _DIGIT.search(normalized[i]) else []
        if tokens:  # number words are tokens too
            numbers.append({t.value for t in tokens if t.kind == NUM and t.value is not None})
        else:
            numbers.append(_word_numbers(normalized[i]))
        claims = [*_claims(tokens, normalized[i]), *_solved_claims(tokens, normalized[i], unknowns)] if tokens else []
        for claim in claims:
            checked += 1
            if not claim.holds:
                labels[i] = False
                return TraceCheck(steps, labels, checked, Drop("false_calculation", claim.text))
            labels[i] = True
            stated.add(claim.value)
        if not claims and (misread := _misread_fact(problem, normalized[i], tokens, numbers[-1], known)):
            labels[i] = False
            return TraceCheck(steps, labels, checked, Drop("misread_fact", misread))
        known |= numbers[-1]
    if not _derived(problem, trace, [normalized[i] for i in body], numbers, stated):
        if steps:
            labels[-1] = False  # the step that states the answer states it without a derivation
        return TraceCheck(steps, labels, checked, Drop("answer_not_derived"))
    return TraceCheck(steps, labels, checked, None)


@lru_cache(maxsize=4096)
def _problem_facts(problem: str) -> tuple[frozenset[str], frozenset[Fraction]]:
    """A problem's words and the numbers it gives (a problem's samples share them)."""
    return frozenset(_WORD.findall(problem.lower())), frozenset(_numbers(_normalize(problem)))


def _derived(problem: str, trace: str, body: list[str], numbers: list[set[Fraction]], stated: set[Fraction]) -> bool:
    """Whether the final answer is the result of a step: a checked calculation, or a number a working step (one that
    is not a restatement of the problem) states; ``numbers`` are the body lines' numbers."""
    answer = extract_answer(trace)
    if answer is None:
        return True  # no final answer: the format filters' concern, not this check's
    problem_words, given = _problem_facts(problem)
    working = [n for line, n in zip(body, numbers, strict=True) if n - given or not _restates(line, problem_words)]
    if not working:
        return False
    targets = _numbers(_normalize(answer))
    if len(targets) != 1:
        return True  # a non-numeric answer: derivation is judged by the family checks
    target = next(iter(targets))
    scaled = {target, target * 100, target / 100}  # cents, percents
    return bool(scaled & stated) or any(scaled & n for n in working)


def find_reasoning_error(problem: str, trace: str) -> str | None:
    """None where no error is found, else a reason starting with its code (``false_calculation: <claim>``,
    ``misread_fact: <step> (the problem: <sentence>)``, ``answer_not_derived``)."""
    error = check_trace(problem, trace).error
    return None if error is None else str(error)


PROCESS_REASONS = (
    "false_calculation",
    "misread_fact",
    "answer_not_derived",
    "family_fact",
    "judge_first_wrong_step",
)


def rejected_steps(problem: str, trace: str, reason: Drop) -> TraceCheck:
    """The steps and labels of a trace the reasoning checks rejected for ``reason``, with its first bad step marked
    (for a family fact: the step that asserts it; for the step judge: the step it names)."""
    check = check_trace(problem, trace)
    if check.first_bad_step is not None or not check.steps:
        return check
    if reason.code == "judge_first_wrong_step" and reason.detail:
        index = min(int(reason.detail.split()[0]), len(check.steps) - 1)
    elif reason.code == "family_fact" and reason.detail:
        assertion = reason.detail.split(" (")[0]
        index = next((i for i, step in enumerate(check.steps) if assertion in step), len(check.steps) - 1)
    else:
        return check
    labels = [*check.labels[:index], False, *[None] * (len(check.steps) - index - 1)]
    return TraceCheck(check.steps, labels, check.claims, reason)
