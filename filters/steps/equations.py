"""Linear equations in one named unknown (``54 + 2.5x = 79``, ``3(x - 2) = x + 10``) and the value that solves them,
so that a later step's ``x = 12`` can be held to it."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from filters.steps.expressions import Parser, trim
from filters.steps.tokens import EQ, LP, NUM, OP, RP, STOP, WORD, Token


@dataclass(frozen=True)
class Linear:
    """``slope * unknown + constant``, exact."""

    slope: Fraction
    constant: Fraction

    def __add__(self, other: Linear) -> Linear:
        return Linear(self.slope + other.slope, self.constant + other.constant)

    def __sub__(self, other: Linear) -> Linear:
        return Linear(self.slope - other.slope, self.constant - other.constant)

    def __neg__(self) -> Linear:
        return Linear(-self.slope, -self.constant)

    def __mul__(self, other: Linear) -> Linear:
        if self.slope and other.slope:
            raise ValueError("not linear")
        return Linear(self.slope * other.constant + other.slope * self.constant, self.constant * other.constant)

    def __truediv__(self, other: Linear) -> Linear:
        if other.slope:
            raise ValueError("not linear")
        return Linear(self.slope / other.constant, self.constant / other.constant)


class _LinearParser(Parser):
    """The arithmetic parser over linear values: a named unknown is ``1 * unknown + 0``; powers are not linear."""

    def __init__(self, tokens: list[Token]) -> None:
        super().__init__([], scale_percent=True)
        self.tokens = [t for t in tokens if t.kind != WORD or t.variable]

    def power(self) -> Linear:  # type: ignore[override]
        value = self.atom()
        if (t := self.peek()) and t.kind == OP and t.text == "^":
            raise ValueError("not linear")
        return value

    def atom(self) -> Linear:  # type: ignore[override]
        t = self.tokens[self.i]
        if t.variable:
            self.i += 1
            return Linear(Fraction(1), Fraction(0))
        value = super().atom()
        return value if isinstance(value, Linear) else Linear(Fraction(0), value)


def _side(tokens: list[Token]) -> list[Token]:
    """The tokens of an equation's side: numbers, operators, parentheses, unknowns, and unit words after a number or
    an unknown."""
    return [
        t
        for i, t in enumerate(tokens)
        if t.kind in (NUM, OP, LP, RP) or (t.kind == WORD and (t.variable or _unit(tokens, i)))
    ]


def _unit(tokens: list[Token], i: int) -> bool:
    """Whether the word at ``i`` names the unit of the quantity before it (``54 miles``, ``1200X km``)."""
    return tokens[i].after_number or (i > 0 and tokens[i - 1].variable)


def _extent(tokens: list[Token], start: int, step: int) -> int:
    """How far from ``start`` in direction ``step`` the tokens can belong to an equation's side: up to an equality, a
    stop, or a word that is neither an unknown nor a unit inside the expression (``54 miles + 2.5x``)."""
    j = start
    while 0 <= j < len(tokens):
        t = tokens[j]
        if t.kind in (EQ, STOP):
            break
        if t.kind == WORD and not t.variable:
            unit = _unit(tokens, j) and j + 1 < len(tokens) and tokens[j + 1].kind in (OP, RP, EQ)
            if not unit:
                break
        j += step
    return j


def _chained(tokens: list[Token], begin: int, end: int) -> bool:
    """Whether the equality between ``tokens[begin:end]`` goes on, on either side, to another expression that holds
    the unknown (``x - 3/8x = x - 4/8x = x/2``): a simplification, whose members are one expression written anew."""
    if end < len(tokens) and tokens[end].kind == EQ:
        after = _side(trim(tokens[end + 1 : _extent(tokens, end + 1, 1)]))
        if any(t.variable for t in after):
            return True
    if begin > 0 and tokens[begin - 1].kind == EQ:
        before = _side(trim(tokens[_extent(tokens, begin - 2, -1) + 1 : begin - 1]))
        if any(t.variable for t in before):
            return True
    return False


# words a number after them names ("section 2", "day 3"), as a label rather than a quantity
_LABELS = frozenset({
    "section", "day", "week", "month", "year", "part", "level", "floor", "group", "team", "room", "grade", "stage",
    "phase", "round", "chapter", "page", "row", "column", "box", "bag", "step", "store", "shelf", "class", "bus",
    "truck", "car", "house", "plan", "option", "type", "question", "game", "lesson", "test",
})  # fmt: skip


def equation_solution(tokens: list[Token], e: int) -> tuple[str, Fraction | str] | None:
    """Where the equality at ``tokens[e]`` is a linear equation in one unknown, the unknown's side more than the
    unknown alone: the unknown and the value that solves it, or why it is false where it cannot hold (no value solves
    ``x + 3 = x``; a simplification's sides differ); else None."""
    if tokens[e].text != "=":
        return None  # "3 sisters is 3 * x" names a quantity; it is no equation to solve
    begin = _extent(tokens, e - 1, -1) + 1
    end = _extent(tokens, e + 1, 1)
    left, right = _side(trim(tokens[begin:e])), _side(trim(tokens[e + 1 : end]))
    if len(left) == 1 and begin > 0 and tokens[begin - 1].kind == WORD and tokens[begin - 1].text.lower() in _LABELS:
        return None  # "the spaces in section 2 = x + 200": a name's number, not a side
    names = {t.text for t in (*left, *right) if t.variable}
    if len(names) != 1 or any(t.percent for t in (*left, *right)):
        return None
    name = names.pop()
    unknown_sides = [side for side in (left, right) if any(t.variable for t in side)]
    if not any(sum(t.kind != WORD for t in side) >= 2 for side in unknown_sides):
        return None  # "1/3 = x" names
    sides: list[Linear] = []
    for side in (left, right):
        value = _LinearParser(side).parse()
        if not isinstance(value, Linear):
            return None
        sides.append(value)
    difference = sides[0] - sides[1]
    if not difference.slope:  # "P + 3 + 3 = P + 6" simplifies; "x + 3 = x" holds for no x
        return (name, f"no {name} solves") if difference.constant else None
    if len(unknown_sides) != 1:
        if abs(difference.slope) <= max(abs(side.slope) for side in sides) / 200 and not difference.constant:
            return None  # "500 * x / 60 = 8.33x": rounded
        if not difference.constant:  # "(1/4)x + (1/3)x = (5/12)x": no word problem asks for an unknown of 0
            return name, f"a simplification in {name} changes its value (only {name} = 0 solves it)"
        if all(sum(t.kind != WORD for t in side) >= 2 for side in unknown_sides) and _chained(tokens, begin, end):
            return name, f"a simplification in {name} changes its value"  # "x = 2(x - 5) = 2x - 10" sets one up
        return None  # "x - 10 + x = x" is solved as it is simplified
    return name, -difference.constant / difference.slope
