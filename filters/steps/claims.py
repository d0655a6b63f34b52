"""The claims a line states: every equality between two expressions, with whether it holds (rounding, percents,
running totals tolerated), and the values named unknowns are solved to."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from fractions import Fraction

from filters.steps.equations import equation_solution
from filters.steps.expressions import Expression, prefix, suffix, trim
from filters.steps.text import sentences
from filters.steps.tokens import AMOUNT, DIGIT, EQ, LP, NUM, OP, RP, STOP, WORD, Token, numbers, tokenize
from filters.steps.units import converts, one_kind

_TIMES = frozenset({"x", "X", "times", "by", "of", "per"})  # words that join a number to an unknown
_CONNECTIVES = frozenset({"so", "then", "or", "and", "thus", "hence", "therefore", "get", "gives", "means", "that"})
# verbs that state a count: "leaves 9 = 3 books" sets the count equal to another number ("Week 2 = 35" labels a part)
_STATING = frozenset({"leaves", "leave", "left", "remain", "remains", "gives", "give", "gets", "get", "has", "have",
                      "had", "makes", "make", "is", "are", "was", "were"})  # fmt: skip
_LET = re.compile(r"\blet\b", re.IGNORECASE)
# words that make a whole-number result a rounding or a quotient cut ("13 / 6 = 2 full cycles with a remainder of 1")
_ROUNDING = re.compile(
    r"round|approx|about|nearly|almost|roughly|estimate|≈|~|whole|nearest|remainder|full|complete", re.IGNORECASE
)
_AMOUNT = r"(\d[\d,]*(?:\.\d+)?)(\s+[A-Za-z]{2,})?"  # a plain amount and its unit word, if any
# "so we can write: $180000 = $330000.": an equation set up between two plain amounts, the whole of its clause
_SET_UP = re.compile(
    rf"\b(?:write|equation|get|have|gives?)\s*:?\s*{_AMOUNT}\s*=\s*{_AMOUNT}\s*\.?\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class Claim:
    """One stated equality between two expressions of a trace, whether it holds, and the unknown it solves for (None:
    a calculation)."""

    text: str
    holds: bool
    value: Fraction
    unknown: str | None = None
    converted: Fraction | None = None  # a true conversion's first amount: "1 hour = 60 minutes" states 1 hour too


_CENTS = frozenset({"cent", "cents", "¢"})


def _agrees(left: Expression, right: Expression, line: str, cents: bool = False) -> tuple[bool, Fraction | None]:
    """Whether ``left = right`` holds: exactly, to the precision the right side states (rounded or cut; to a whole
    number only where it is within 0.01 or the line says it rounds), or with a percent read as a plain number or an
    amount in ``cents`` as one in dollars."""
    lefts, rights = left.values, right.values
    if not lefts or not rights:
        return True, None
    percent = cents or any(t.percent for t in (*left.tokens, *right.tokens))
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


def line_claims(tokens: list[Token], line: str) -> list[Claim]:
    """Every checkable equality a line's tokens state, in order, a number said to be a calculation after the line's
    calculations ("26 books is 26 * 12 = 380 books": its slip is the product's)."""
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
    said_to_be: list[Claim] = []  # numbers set equal to a calculation
    previous: Expression | None = None
    head: Expression | None = None  # the last calculation of the chain in progress
    for index in range(1, len(segments)):
        if segments[index] and segments[index][0].kind == STOP:
            previous = None
            continue
        opens_chain = previous is None
        conversion = _conversion(segments[index - 1], segments[index], opens_chain)
        if conversion is not None and (conversion[1] or not opens_chain):
            # "2.5 years = 30 months" works 30 out; "2 hours = 100 minutes" in a chain is false
            text, holds, result, amount = conversion
            found.append(Claim(text, holds, result, converted=amount if holds else None))
            previous = head = None  # "4 - 2 = 2 hours = 120 minutes": the chain's value goes on in another unit
            continue
        left = suffix(segments[index - 1]) if opens_chain else previous
        right, end = prefix(segments[index])
        if previous is not None and not previous.compound and head is not None and equals[index - 1] == "=":
            left = head  # "4 + 5 = 9 = 10": the chain's calculation against its next link
        previous = right if right is not None and end >= len(trim(segments[index])) else None
        head = left if left is not None and left.compound and previous is not None else None
        bare = trim(segments[index - 1])[-2:] if opens_chain and equals[index - 1] == "=" else []
        # "by 4 = $27 * 4": a bare number after a word; "Week 1 + Week 2 = 35 + 35" names its parts by labels
        after_word = len(bare) == 1 or (
            len(bare) == 2
            and bare[0].kind == WORD
            and len(bare[0].text) > 1
            and sum(t.text == bare[0].text for t in segments[index - 1]) == 1
        )
        number = bare[-1] if bare and after_word and bare[-1].kind == NUM and DIGIT.search(bare[-1].text) else None
        if number is None and opens_chain and equals[index - 1] in ("=", "is"):
            number = _counted(segments, index) or (_alone(segments, index) if equals[index - 1] == "is" else None)
        if number is not None and (left is None or not left.compound) and right is not None and right.compound:
            # "by 4 = $27 * 4 = 108": a bare number right before "=" set equal to a calculation must be its value;
            # so must a count whose result is counted in the same unit ("24 marbles is 3 * 24 = 72 marbles")
            stated = Expression([number])
            ok, _ = _agrees(right, stated, line)
            said_to_be.append(Claim(f"{number.text} = {right.text()}", ok, next(iter(stated.values), Fraction(0))))
            continue
        # "Taking away 6 leaves 9 = 3 books", "4 times as many is 25 = 100 dollars": a count set equal to another
        # number, its operation dropped
        count = number if len(bare) == 2 and bare[0].text.lower() in _STATING else None
        if not opens_chain and equals[index - 2 : index] == ["is", "="] and left is not None and len(left.tokens) == 1:
            count = left.tokens[0] if left.tokens[0].kind == NUM else None
        if (
            count is not None
            and right is not None
            and not right.compound
            and not _agrees(right, Expression([count]), line)[0]
        ):
            found.append(Claim(f"{count.text} = {right.text()}", False, next(iter(right.values), Fraction(0))))
            continue
        if left is None or right is None or not left.compound:
            continue
        if opens_chain and equals[index - 1] != "=" and _function_of(segments[index - 1], left):
            continue  # "the ones digit of 3^3 is 7": the value of a function named in words, not of the calculation
        if segments[index - 1] and not left.has_operator and equals[index - 1] != "=":
            continue  # "3/8 is equal to $375": a part named by its fraction, not a division
        # "$0.25/glass x 10 glasses = 250 cents", "3 * 50 cents = $1.50": one side in cents, the other in dollars
        cents = any(t.text.lower() in _CENTS for t in (*segments[index - 1][-1:], *segments[index][:end]))
        ok, value = _agrees(left, right, line, cents)
        if not ok and right.compound:
            ok = _continues(left, right)
        text = f"{left.text()} = {right.text()}"
        found.append(Claim(text, ok, value if value is not None else Fraction(0)))
    if (set_up := _SET_UP.search(line.strip())) is not None:
        a, unit, b, other = set_up.groups()
        if (unit or "").strip().lower() == (other or "").strip().lower():  # "2 hours = 120 minutes" converts
            left_value, right_value = Fraction(a.replace(",", "")), Fraction(b.replace(",", ""))
            found.append(Claim(f"{a} = {b}", left_value == right_value, right_value))
    return [*found, *said_to_be]


_FUNCTIONS = frozenset({"digit", "digits", "remainder", "residue", "root", "reciprocal", "log", "logarithm"})


def _function_of(segment: list[Token], expression: Expression) -> bool:
    """Whether the words right before ``expression`` in ``segment`` name a function of it ("the ones digit of",
    "the remainder of")."""
    start = next((i for i, t in enumerate(segment) if t is expression.tokens[0]), 0)
    words = [t.text.lower() for t in segment[max(0, start - 2) : start] if t.kind == WORD]
    return len(words) == 2 and words[1] == "of" and words[0] in _FUNCTIONS


def _conversion(before: list[Token], after: list[Token], opening: bool) -> tuple[str, bool, Fraction, Fraction] | None:
    """An amount set equal to itself in another unit of the same kind ("2.5 years = 30 months"; in a chain, the whole
    link: "= 2 hours = 120 minutes"): its text, whether it holds, the converted amount and the amount converted; None
    where it is none."""
    tail = trim(before)
    if len(tail) < 2 or (len(tail) > 2 and (not opening or tail[-3].kind in (OP, NUM, LP))):
        return None
    amount, unit = tail[-2:]
    other = trim(after)[:2]
    if len(other) < 2 or amount.kind != NUM or other[0].kind != NUM or unit.kind != WORD or other[1].kind != WORD:
        return None
    if amount.value is None or other[0].value is None:
        return None
    holds = converts(amount.value, unit.text, other[0].value, other[1].text)
    text = f"{amount.text} {unit.text} = {other[0].text} {other[1].text}"
    return None if holds is None else (text, holds, other[0].value if holds else Fraction(0), amount.value)


def _alone(segments: list[list[Token]], index: int) -> Token | None:
    """The number of ``6 is 2 * 6 = 12`` (``$6 is ...`` once the dollar sign is read away): a number that is its
    clause's whole subject, after a connective at most, said to be a calculation whose result is no share
    (``$20 is 1 - 1/3 = 2/3 of the money``, ``20% is $14 + $42``)."""
    segment = segments[index - 1]
    start = max((k + 1 for k, t in enumerate(segment) if t.kind == STOP), default=0)
    clause = trim(segment)[start:]
    if clause and clause[0].text.lower() in _CONNECTIVES:
        clause = clause[1:]
    if len(clause) != 1 or clause[0].kind != NUM or clause[0].percent or not DIGIT.search(clause[0].text):
        return None
    calculation, end = prefix(segments[index])
    if calculation is None or end < len(trim(segments[index])) or index + 1 >= len(segments):
        return None  # "192 is 2/3 of the original amount: ... = 192" says a share, not a calculation
    after = segments[index + 1]
    value, end = prefix(after)
    share = any(t.percent for t in after[:end]) or any(t.text.lower() == "of" for t in after[end : end + 1])
    return None if value is None or share else clause[0]


def _counted(segments: list[list[Token]], index: int) -> Token | None:
    """The number of ``24 marbles is 3 * 24 = 72 marbles``: a count that opens its clause before the link, whose unit
    word also follows the chain's result (a conversion, ``2 hours is 2 * 60 = 120 minutes``, changes unit and is not
    one)."""
    segment = trim(segments[index - 1])
    before = segment[-2:]
    if len(before) < 2 or before[0].kind != NUM or before[1].kind != WORD or index + 1 >= len(segments):
        return None
    if len(segment) > 2 and segment[-3].kind != STOP and segment[-3].text.lower() not in _CONNECTIVES:
        # "to beat Alex by 1 fish is 33 + 1 = 34 fish", "Double 10 bales is 10*2 = 20 bales", "left after he gave
        # 15 flowers is 60 - 15 = 45 flowers": words before the count say what "is" is said of, not the count itself
        return None
    larger = [t for t in segment[-5:-2] if t.text.lower() != "and"][-2:]
    if len(larger) == 2 and larger[0].kind == NUM and one_kind(larger[1].text, before[1].text):
        return None  # "1 hour and 30 minutes = 60 + 30 = 90 minutes": the count is the smaller part of a measure
    result = trim(segments[index + 1])[:2]
    unit = before[1].text.lower()
    if len(result) == 2 and result[0].kind == NUM and result[1].kind == WORD and result[1].text.lower() == unit:
        return before[0]
    return None


# an operation in words on the result before it, and what it comes to: "multiplies this by 2 to get 16", "divide by
# 4, which gives 5", "add 3 to it to get 10", "subtract 5 from that, which is 7"
_PREVIOUS = r"(?:(?:this|that|it|the (?:result|total|sum|product|difference|amount))\s+)"
_COMES_TO = (
    rf"\b[^.\d]*?(?:\b(?:to get|to give|gives?|giving|is|equals|making|makes|results? in|which is)\s+|=\s*)"
    rf"(?:the answer of\s+|a total of\s+)?\$?(?P<result>{AMOUNT})(?!\s*[-+*/x×=]|[\d,.]*\d)"
    rf"(?!\s*(?:[A-Za-z]+\b\s*){{1,3}}[-+*/×=])"  # no operand of a calculation ("= 30 minutes / 60 minutes/hour")
)
_FIRST = rf"(?:{_PREVIOUS}|\$?(?P<first>{AMOUNT})\s+)"  # the amount operated on: the result before, or one named
_WORDED = (
    (operator.mul, re.compile(rf"\bmultipl\w*\s+{_FIRST}?by\s+\$?(?P<operand>{AMOUNT}){_COMES_TO}", re.I)),
    (operator.truediv, re.compile(rf"\bdivid\w*\s+{_FIRST}?by\s+\$?(?P<operand>{AMOUNT}){_COMES_TO}", re.I)),
    (operator.add, re.compile(rf"\badd\w*\s+\$?(?P<operand>{AMOUNT})\s+to\s+{_FIRST}{_COMES_TO}", re.I)),
    (operator.sub, re.compile(rf"\bsubtract\w*\s+\$?(?P<operand>{AMOUNT})\s+from\s+{_FIRST}{_COMES_TO}", re.I)),
)
_LAST_AMOUNT = re.compile(rf"{AMOUNT}(?!.*\d)", re.DOTALL)


def worded_claims(line: str, before: str) -> list[Claim]:
    """The operations a line states in words on the amount before it (the last one earlier in the line, else the last
    of the line ``before`` it) with what they come to: "Ivan has saved 8 * 2 = 16 dollars." then "The relative
    multiplies this by 2 to get the answer of 16 dollars." is a false step."""
    found: list[Claim] = []
    for operation, pattern in _WORDED:
        for match in pattern.finditer(line):
            first = match.group("first")
            last = _LAST_AMOUNT.search(line[: match.start()]) or _LAST_AMOUNT.search(before)
            earlier = first or (last.group() if last else None)
            operand = Fraction(match.group("operand").replace(",", ""))
            if earlier is None or (operation is operator.truediv and not operand):
                continue
            result = Fraction(match.group("result").replace(",", ""))
            value = operation(Fraction(earlier.replace(",", "")), operand)
            places = len(match.group("result").partition(".")[2])
            holds = abs(value - result) <= abs(result) / 10**6 or _rounds_to(value, result, places)
            said = " ".join(match.group().split())
            found.append(Claim(said if first else f"{earlier} then {said}", holds, result))
    return found


# "She buys 2 cartons a month because 210 / 15 = 14": a statement, then the calculation it rests on
_BECAUSE = re.compile(r"\bbecause\s+(?=-?\.?\d)")
_CONDITIONAL = re.compile(r"\b(?:if|then|when)\b|[A-Za-z]\s*=", re.IGNORECASE)
_SPACED_THOUSANDS = re.compile(r"\d, \d{3}\b")  # "14, 400 pages": a typo of 14,400, not two numbers
_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9}
_SCALED = re.compile(rf"\b({'|'.join(_SCALES)})\b", re.IGNORECASE)
_NOTE_CLAIM = re.compile(r" ; [^;]* ;")  # a calculator note as ``normalize`` leaves it: " ; 20-6=14 ; "


def justified_claims(line: str) -> list[Claim]:
    """A statement justified by a calculation right after "because" must state the calculation's result (as it is,
    without its sign, as a percent, or in thousands or millions, to a hundredth) or an operand of it ("He sold 11 sets
    because 11 x 15 = 165"): "She buys 2 cartons a month because 210 / 15 = 14" and "He needs to spend 160 because 480
    / 30 = 16" are false. A reason that sets up or solves an unknown, or says "if", is no calculation of the
    statement's."""
    found: list[Claim] = []
    for sentence in sentences(line) if "because" in line else ():
        if (match := _BECAUSE.search(sentence)) is None:
            continue
        statement, reason = sentence[: match.start()], sentence[match.end() :]
        stated = numbers(statement)
        if not stated or _CONDITIONAL.search(reason) or _SPACED_THOUSANDS.search(statement):
            continue
        tokens = tokenize(reason)
        calculation = next((claim for claim in line_claims(tokens, reason) if claim.holds), None)
        if calculation is None:
            continue
        before = tokens[: next((i for i, t in enumerate(tokens) if t.kind == EQ), len(tokens))]
        # (a written fraction's numerator and denominator are operands too: "20 because 20/10 = 2")
        operands = {t.value for t in before if t.kind == NUM} | numbers(
            " ".join(t.text for t in before).replace("/", " ")
        )
        result = abs(calculation.value)
        forms = [result, 100 * result, *(result / _SCALES[w.lower()] for w in _SCALED.findall(statement))]
        if not any(value in operands or any(abs(abs(value) - f) <= f / 100 for f in forms) for value in stated):
            found.append(Claim(" ".join(_NOTE_CLAIM.sub("", sentence).split()).rstrip("."), False, calculation.value))
    return found


def solved_claims(tokens: list[Token], line: str, unknowns: dict[str, Fraction]) -> list[Claim]:
    """A named unknown solved for (``13x = 429``, ``x = 33``, ``2J = 240 / 5``, ``54 + 2.5x = 79``) must keep the value
    the first step that solved for it gave it: ``10x = 980`` then ``x = 96`` is a false step (a ``let`` naming it again
    starts over)."""
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
        right, _ = prefix(tokens[e + 1 :])
        if (
            solved is not None
            and right is not None
            and len(right.values) == 1
            and not any(t.percent for t in right.tokens)
        ):
            coefficient, name = solved
            value = next(iter(right.values)) / coefficient
        elif solved is None and (mirrored := _number_for_unknown(tokens[:e], tokens[e + 1 :])):
            name, value = mirrored
        elif solved is None and (equation := equation_solution(tokens, e)):
            name, solution = equation
            if isinstance(solution, str):
                found.append(Claim(f"{solution}: {line.strip()}", False, Fraction(0)))
                continue
            value = solution
        else:
            continue
        substituted = name in unknowns
        known = unknowns.setdefault(name, value)
        holds = abs(value - known) <= max(Fraction(1, 100), max(abs(value), abs(known)) / 200)  # rounding
        found.append(Claim(f"{name} = {float(value):g}, but {name} = {float(known):g} before", holds, value, name))
        if substituted and holds and solved is not None and solved[0] != 1 and right is not None:
            # "2x = 20" once x = 10: the known unknown put in, and 20 worked out as a calculation works it out
            found.append(Claim(f"{solved[0]}{name} = {right.text()}", True, next(iter(right.values))))
    return found


def _number_for_unknown(left: list[Token], right: list[Token]) -> tuple[str, Fraction] | None:
    """``("x", 7)`` where a lone number equals a lone unknown, the unknown written second ("we get 7 = x, so David is
    7"): the unknown solved, as ``x = 7`` solves it."""
    tail, head = trim(left), trim(right)
    if not tail or tail[-1].kind != NUM or tail[-1].value is None or tail[-1].percent:
        return None
    if len(tail) > 1 and (tail[-2].kind in (OP, LP, NUM) or tail[-2].variable):
        return None  # "2 + 7 = x" adds; "(7 = x"
    if not head or head[0].kind != WORD or not head[0].variable:
        return None
    if len(head) > 1 and (head[1].kind in (OP, NUM, LP, EQ) or head[1].variable):
        return None  # "7 = x + 2", "7 = x = ..."
    return head[0].text, tail[-1].value


def _coefficient_and_unknown(left: list[Token]) -> tuple[Fraction, str] | None:
    """``(k, "x")`` where the tokens end in ``kx``, ``k * x``, ``x * k`` or ``x`` alone, the whole left side."""
    tail = trim(left)
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


def _continues(left: Expression, right: Expression) -> bool:
    """A running total (``2 + 3 = 5 + 4``): the right side goes on from the left side's value."""
    values = left.values
    return any(k and t.kind == OP and Expression(right.tokens[:k]).values & values for k, t in enumerate(right.tokens))
