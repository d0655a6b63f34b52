"""Expressions of a token stream: exact rational values by recursive descent, and the expressions that end and start
the segments around an equality sign (unit words after a number skipped)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

from filters.steps.tokens import EQ, LP, NUM, OP, RP, STOP, WORD, Token, starts_operand

MAX_UNIT_WORDS = 6  # "8 bags/trip", "360 * .25 expected loss"; a longer run of words is prose
# words that join two statements, never a quantity's unit: "X = 9 because -18/-2 = 9" is no 9 - 18 / -2
_JOINS = frozenset({"because", "since", "so", "then", "therefore", "thus", "hence", "which", "while", "when", "if"})


class Parser:
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
            elif t and (t.kind == LP or t.variable or _after_parenthesis(self.tokens, self.i)):
                value *= self.power()  # 2(3 + 4), 2.5x, (1/2) 278
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
            return base ** int(exponent)
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
class Expression:
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
        if any(t.variable for t in self.tokens):
            return set()  # "40 - (12 + 3x)": an unknown's value is not stated
        if _named_operand(self.tokens):
            return set()  # "1 + (Michael's age - 1) * 2": an operand named in words has no value here
        modes = (True, False) if any(t.percent for t in self.tokens) else (True,)
        return {v for mode in modes if (v := Parser(self.tokens, mode).parse()) is not None}

    def text(self) -> str:
        return " ".join(t.text for t in self.tokens)

    def decimals(self) -> int | None:
        """Decimal places of a plain stated number; None for a compound expression."""
        if self.compound or not (number := self.first_number):
            return None
        digits = number.text.rstrip("%").strip()
        return len(digits.split(".")[1]) if "." in digits else 0


def _named_operand(tokens: list[Token]) -> bool:
    """Whether a run of words stands where an operand does: after an opening parenthesis or an operator (not after a
    number, whose unit it is) and before an operator ("(Michael's age - 1)", "Total - 5")."""
    i = 0
    while i < len(tokens):
        if tokens[i].kind != WORD:
            i += 1
            continue
        j = i
        while j < len(tokens) and tokens[j].kind == WORD:
            j += 1
        before = tokens[i - 1].kind if i else LP
        if before in (LP, OP) and j < len(tokens) and tokens[j].kind == OP:
            return True
        i = j
    return False


def _after_parenthesis(tokens: list[Token], i: int) -> bool:
    """Whether ``tokens[i]`` is a number in digits right after a closing parenthesis, a product's second factor
    ("(1/2) 278"); a number word there is a count ("(2) two kids")."""
    t = tokens[i] if 0 < i < len(tokens) else None
    return t is not None and t.kind == NUM and tokens[i - 1].kind == RP and t.text[:1] in "0123456789."


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
        if tokens[k].text.lower() in _JOINS:
            return j
        if j - k >= MAX_UNIT_WORDS:
            return j
        k -= 1
    if k < 0 or tokens[k].kind not in (NUM, RP):
        return j
    if k + 1 <= j and tokens[k + 1].text.lower() == "of" and j == len(tokens) - 1:
        return None  # "1/3 of Solomon =": a part of an unstated quantity
    return k


def suffix(tokens: list[Token]) -> Expression | None:
    """The expression that ends a segment (the left side of the ``=`` after it)."""
    j = _skip_units_back(tokens, len(tokens) - 1)
    if j is None:
        return None
    end, start = j + 1, None
    while j >= 0:
        if tokens[j].kind == NUM:
            first = j
        elif tokens[j].kind == RP and (opening := _matching(tokens, j, -1)) is not None:
            first = opening
        else:
            break
        start, prev = first, first - 1
        if prev < 0:
            break
        if (tokens[first].kind == LP and tokens[prev].kind in (NUM, RP)) or _after_parenthesis(tokens, first):
            # 32(.25), (1/2) 278
            j = prev
            continue
        if tokens[prev].kind == LP and prev and tokens[prev - 1].kind == OP and _matching(tokens, prev, 1) is None:
            return None  # "100 + (100 * (10/100) = 110": a parenthesis never closed leaves the operands unknown
        if tokens[prev].kind != OP:
            break
        if tokens[prev].text == "-" and (
            prev == 0 or tokens[prev - 1].kind in (OP, LP, EQ, STOP) or tokens[prev - 1].text.lower() in _JOINS
        ):
            start = prev  # a negative number
            if prev == 0 or tokens[prev - 1].kind != OP:
                break
            prev -= 1  # "-18 / -2", "13 + -15": the operation before the negative operand goes on
        k = _skip_units_back(tokens, prev - 1)
        if k is None:
            return None
        if k < 0 or tokens[k].kind not in (NUM, RP):
            if tokens[prev].verbal:
                break  # "divided into 4 + 6": prose, not an operation on an unstated quantity
            return None  # "number of pages * (2/3)": an unknown operand
        j = k
    return Expression(tokens[start:end]) if start is not None else None


def prefix(tokens: list[Token]) -> tuple[Expression | None, int]:
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
        if j < len(tokens) and (tokens[j].kind == LP or _after_parenthesis(tokens, j)):
            continue  # "105(2/7)", "(1/2) 278": a product goes on
        while k < len(tokens) and tokens[k].kind == WORD and k - j < MAX_UNIT_WORDS:
            if tokens[k].text.lower() in _JOINS:
                break
            k += 1
        if j < len(tokens) and tokens[j].variable:
            return None, j  # "= 3p"
        if j < len(tokens) and tokens[j].text.lower() == "of":
            return Expression(tokens[:end]), j  # "= 4/5 of her prize": a value, but no chain goes on from it
        if k < len(tokens) and tokens[k].kind == OP:
            if any(t.variable for t in tokens[j:k]):
                return None, k
            j = k + 1
            nxt = j + 1 if j < len(tokens) and tokens[j].text == "-" else j
            if not starts_operand(tokens, nxt):
                if tokens[k].verbal:
                    break
                return None, j  # "8 bags / Y": an unknown operand
            continue
        j = k
        break
    return (Expression(tokens[:end]) if end else None), j


def trim(tokens: list[Token]) -> list[Token]:
    """A segment without trailing punctuation."""
    end = len(tokens)
    while end and tokens[end - 1].kind == STOP:
        end -= 1
    return tokens[:end] if end else tokens
