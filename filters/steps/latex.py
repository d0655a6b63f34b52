"""Numeric equalities written in LaTeX (MATH-style traces): every link of ``$a = b = c$`` whose sides hold no unknown
is evaluated with sympy (through math-verify's LaTeX parser) and must hold, and a value an equation in one unknown is
solved to must solve it.

The token stream of ``filters.steps.tokens`` reads ``\\frac``, ``\\times`` and ``\\cdot``; competition solutions also
write roots, powers in braces, binomials, factorials, ``\\pi``, logarithms and trigonometry, which only a computer
algebra system evaluates. A display is read statement by statement: align rows, what ``\\Rightarrow`` or ``\\quad``
separates, and what top-level commas separate; a degree mark is a plain number but under a trigonometric function,
and a unit written as text (``5\\text{ cm}``) a symbol, so a link with the same units on both sides is evaluated. Other
links with an unknown are equations or identities and are left alone; so are number bases, inequalities,
approximations, sums, integrals, limits and powers of three-digit exponents, whose LaTeX the parser misreads, cannot
settle or takes long to evaluate, and equalities the text itself calls false.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

from filters.steps.claims import Claim

# display and inline math; a "$" that opens or closes on a space, or closes right before a digit, is a dollar sign
# ("$12 - $2 = $10"), not math, and so is an escaped one, in math or out ("$54\div 3\cdot\$1=\$18$")
_MATH = re.compile(
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|\\begin\{(?:align|equation|gather|eqnarray)\*?\}(.+?)\\end\{\w+\*?\}"
    r"|(?<!\\)\$(?![\s$])((?:\\\$|[^$])+?)(?<![\s\\])\$(?!\d)",
    re.DOTALL,
)
_DOLLAR = re.compile(r"\\\$\s*")
_LEFT_ALONE = re.compile(
    r"\\approx|\\neq|\\ne\b|\\pm|\\mp|\\sum|\\prod|\\int|\\lim|\\infty|\\text|\\begin|\\circ|"
    r"\^\s*\{?\s*-?\d{3,}|\^\s*\\circ|\\equiv|\\pmod|\\mod|\d{4,}\s*!|!!|"
    r"%|\\%|\\sim|\\to|:|\\mbox|\\hbox|\d,\d"
)
# an inequality in a chain parts its equalities, each still checked ("(1 + 1 + 2 + 4)^2 = 64" in "... \ge (1 + 1 +
# 2 + 4)^2 = 64"); a side with an ellipsis elides terms, so its links are left alone, not the others of its chain
_INEQUALITY = re.compile(r"<|>|\\[lg]eq?(?![a-zA-Z])|\\[lg]t(?![a-zA-Z])")
_ELIDED = re.compile(r"\\[lc]?dots")
# an align row that carries on the row before's chain ("\\ &= 3x - 1"), and an align column mark
_CONTINUED_ROW = re.compile(r"\\\\\s*&\s*=")
_COLUMN = re.compile(r"&")
# where one statement of a display ends and the next begins: a row, an implication, a space between statements
_IMPLICATION = r"\\(?:Rightarrow|Longrightarrow|rightarrow|implies)(?![a-zA-Z])"
_STATEMENT_END = re.compile(rf"\\\\|{_IMPLICATION}|\\(?:iff|qquad|quad)(?![a-zA-Z])")
# 1,000, 1{,}000, 1\,000 and 1 000 (1,\!000: spacing)
_THOUSANDS = re.compile(r"(?<=\d)(?:,|\{,\}|\\,|\s)(?=\d{3}(?!\d))")
_BETWEEN_DIGITS = re.compile(r"\d,\d")  # "13,2000": no thousands, nor a list; the statement is left alone
_SPACING = re.compile(r"\\!")  # a negative thin space
_UNBRACED = re.compile(r"\\(sqrt|[dt]?frac|[dt]?binom)\s*(\d)(\d)?")  # \sqrt9, \frac12, \binom52
# "(15)(1500)", "5(1)", "3\left(...\right)": a product, which the parser reads as a call
_IMPLICIT = re.compile(r"(\d|\)|\\right\))\s*(\\left\(|\()")
_TRAILING = re.compile(r"[\s.,;]+$")
# what a text says right after an equality it shows to be false ("$1 = \\sqrt{9} + 4$, which is not true")
_REFUTED = re.compile(r"[\s,]*(?:which|this|that)?\s*(?:is|are)\s+(?:not|false|impossible|a contradiction)", re.I)
# what joins a statement to the one it follows from: an implication sign, or the next row of a display
_IMPLIES = re.compile(rf"{_IMPLICATION}|\\\\")
_CONCLUSION = re.compile(
    r"\b(?:so|then|thus|hence|therefore|gives?|giving|gets?|find|means?|meaning|yields?|obtain|impl(?:y|ies|ying)|"
    r"simplif(?:y|ies|ying)|becomes?|reduces?|factors?|expands?)\b",
    re.I,
)
_TRIAL = re.compile(
    r"\b(?:try|trying|tried|test\w*|check\w*|plug\w*|substitut\w*|setting|set|let|suppose|if|when|for)\b", re.I
)
_LETTER = re.compile(r"[a-zA-Z]")
_SOLVED = re.compile(r"(?P<unknown>[a-zA-Z])\s*=\s*(?P<value>[^=]+)(?:=.*)?")  # an unknown set to a value
_CONSTANT_LETTER = re.compile(r"(?<![\\a-zA-Z])[ei](?![a-zA-Z])")
# a degree mark, read as a plain number where no trigonometric function takes it ("2x^\\circ = 128^\\circ")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?")
_TRIGONOMETRY = re.compile(r"\\(?:arc)?(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])")
# a unit a quantity is written in ("5\\text{ cm}", "12 \\text{ dollars}"): a symbol named after it, so that a link with
# the same units on both sides is evaluated; words in text ("\\text{ or }") leave the statement alone
_UNIT_TEXT = re.compile(r"\\(?:text|mbox|mathrm)\s*\{\s*([A-Za-z]{2,}(?:\s+[A-Za-z]{2,})?)\s*\}")
_NOT_UNITS = frozenset(
    ("if", "or", "and", "is", "are", "when", "for", "where", "th", "st", "nd", "rd", "gcd", "lcm", "mod", "of", "so")
)
_UNIT_SYMBOL = "unit"
_UNIT_WRITTEN = re.compile(rf"\\mathrm\{{{_UNIT_SYMBOL}(\w+)\}}")
_UNIT_MARK = re.compile(rf"\\mathrm\{{{_UNIT_SYMBOL}\w+\}}(?:\^\s*\{{?\d\}}?)?")
_BLANK = re.compile(r"\s|&|\\q?quad(?![a-zA-Z])")  # what a display's part holds that states nothing
_ALTERNATIVE = re.compile(r"[\s,]*or[\s,]*", re.IGNORECASE)
_LISTED = re.compile(r"[,;]\s*$")  # a segment that ends in a comma is one of a list ("$x = 1,$ $x = 2,$")
_UNBOXED = re.compile(r"^\s*\\boxed\{(.*)\}\s*$")  # a value boxed as the answer
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


_PROSE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")  # a word that is not a command's name: "$5 loaves of bread, 2 3$"


def _segments(text: str) -> list[re.Match[str]]:
    """The LaTeX math of a text: display math, environments, and inline ``$...$`` that reads as math, not prose
    between two prices."""
    if not ("$" in text or "\\" in text):
        return []
    return [m for m in _MATH.finditer(text) if m.group(5) is None or not _PROSE.search(_UNIT_TEXT.sub("", m.group(5)))]


def _content(match: re.Match[str]) -> str:
    """A math segment's text, its dollar signs dropped (a price's sign is no factor)."""
    return _DOLLAR.sub("", next(group for group in match.groups() if group))


def equalities(text: str) -> list[str]:
    """The LaTeX math segments of a text that state an equality (dollar signs of prices are not math)."""
    if "=" not in text:
        return []
    return [
        segment
        for match in _segments(text)
        if "=" in (segment := _content(match)) and not _REFUTED.match(text, match.end())
    ]


def has_math(text: str) -> bool:
    """Whether a text writes LaTeX math (a competition problem, where quantities may well be negative)."""
    return bool(_segments(text))


def without_equalities(text: str) -> str:
    """The text with its LaTeX equalities cut out (``latex_claims`` checks them), for the token stream's claims."""
    for match in reversed([m for m in _segments(text) if "=" in _content(m)] if "=" in text else []):
        text = f"{text[: match.start()]} ; {text[match.end() :]}"
    return text


@lru_cache(maxsize=65536)
def _expression(side: str) -> Any:
    """One side of an equality as a sympy expression (None where the parser cannot read it)."""
    from latex2sympy2_extended import latex2sympy

    try:
        expression = latex2sympy(_IMPLICIT.sub(r"\1\\cdot \2", _UNBRACED.sub(_braced, side)))
    except Exception:  # the parser's errors are many and unrelated; an unreadable side checks nothing
        return None
    return expression if hasattr(expression, "evalf") else None


@lru_cache(maxsize=65536)
def _value(side: str) -> complex | None:
    """The value of one side of an equality, where it parses to an expression without unknowns or whose unknowns
    cancel (``2(n + 7) - (2n + 1)`` is 13); else None."""
    expression = _expression(side)
    if expression is not None and expression.free_symbols:
        try:
            expression = expression.expand()
        except Exception:  # (sympy's errors are many and unrelated)
            return None
    return None if expression is None or expression.free_symbols else _number(expression)


def _number(expression: Any) -> complex | None:
    """The value of a sympy expression without unknowns (None where sympy cannot give one)."""
    try:
        return complex(expression.evalf(30))
    except Exception:  # sympy's errors are many and unrelated (an undefined function applied, a division by zero)
        return None


def _braced(match: re.Match[str]) -> str:
    """``\\sqrt9`` as ``\\sqrt{9}``, ``\\frac12`` as ``\\frac{1}{2}``, ``\\binom52`` as ``\\binom{5}{2}``: a command's
    one-digit arguments in braces."""
    command, first, second = match.groups()
    if command == "sqrt":
        return f"\\sqrt{{{first}}}{second or ''}"
    name = "binom" if command.endswith("binom") else "frac"
    return f"\\{name}{{{first}}}{{{second}}}" if second else match.group(0)


def _statements(segment: str) -> list[str]:
    """The statements of a math segment: its align rows (a row that begins ``&=`` carries on the chain before it),
    what implications and spaces separate, and its top-level commas and semicolons."""
    segment = _COLUMN.sub("", _CONTINUED_ROW.sub("=", _THOUSANDS.sub("", _SPACING.sub("", segment))))
    found = []
    for part in _STATEMENT_END.split(segment):
        depth, start = 0, 0
        for i, char in enumerate(part):
            depth += char in "({["
            depth -= char in ")}]"
            if char in ",;" and depth == 0 and not _BETWEEN_DIGITS.match(part, i - 1):
                found.append(part[start:i])
                start = i + 1
        found.append(part[start:])
    return [
        _UNIT_TEXT.sub(_unit, _DEGREES.sub("", statement) if not _TRIGONOMETRY.search(statement) else statement)
        for statement in found
        if "=" in statement
    ]


def _unit(match: re.Match[str]) -> str:
    """A unit written as text as the symbol it stands for (``\\mathrm{unitcm}``); other text as written."""
    word = match.group(1)
    return match.group(0) if word.lower() in _NOT_UNITS else f"\\mathrm{{{_UNIT_SYMBOL}{''.join(word.split())}}}"


def _with_units(left: str, right: str) -> tuple[complex, complex] | None:
    """The values of two sides written in the same units, each unit taken as 1; None where the sides hold anything
    but numbers and units, or not the same units (``1\\text{ foot} = 12\\text{ inches}`` converts)."""
    a, b = _expression(left), _expression(right)
    if a is None or b is None or not a.free_symbols or a.free_symbols != b.free_symbols:
        return None
    if not all(str(symbol).startswith(_UNIT_SYMBOL) for symbol in a.free_symbols):
        return None
    ones = dict.fromkeys(a.free_symbols, 1)
    values = _number(a.subs(ones)), _number(b.subs(ones))
    return None if values[0] is None or values[1] is None else (values[0], values[1])


def _places(side: str) -> int | None:
    """Decimal places of a side that is one plain decimal number (a rounded result); None otherwise."""
    match = re.fullmatch(r"-?\d+\.(\d+)", side)
    return len(match.group(1)) if match else None


def latex_claims(segments: list[str]) -> list[Claim]:
    """Every numeric equality link of LaTeX equality ``segments`` (``equalities`` of a text), with whether it holds
    (a decimal on the right may round the left to its places)."""
    found = []
    statements = [s for segment in segments for s in _statements(segment) if not _LEFT_ALONE.search(s)]
    for part in (part for statement in statements for part in _INEQUALITY.split(statement)):
        sides = [_TRAILING.sub("", side).strip() for side in part.split("=")]
        for left, right in itertools.pairwise(sides):
            if not left or not right or _LETTER.fullmatch(left) or _LETTER.fullmatch(right):
                continue  # a lone letter is an unknown (e, i), not Euler's number or the imaginary unit
            if "_" in left or "_" in right or _ELIDED.search(left) or _ELIDED.search(right):
                continue  # a subscript names a quantity ("r_1r_2r_3 = 2^5 = 32": the link after it is checked), and
                # an ellipsis elides terms
            if _NUMBER.fullmatch(left) and _NUMBER.fullmatch(right):
                continue  # two numbers set equal calculate nothing: a contradiction reached ("0 = -12"), or a label
            a, b = _value(left), _value(right)
            if (a is None or b is None) and (in_units := _with_units(left, right)):
                a, b = in_units
            if a is None or b is None:
                continue
            found.append(
                Claim(
                    _UNIT_WRITTEN.sub(r"\\text{ \1}", f"{left} = {right}"),
                    _equal(a, b, _places(_UNIT_MARK.sub("", right).strip())),
                    _as_fraction(b),
                )
            )
    return found


def latex_solutions(text: str, earlier: str = "") -> list[Claim]:
    """Every equation in one unknown that a text's LaTeX solves or rewrites, with whether the result follows (see
    ``_follows``): ``$7n + 98 = 196$, then $n = 14$``, ``3x = 9 \\Rightarrow x = 3``, the rows of a display. The
    result must follow from the equation by an implication sign or the next row, by words that conclude ("so",
    "gives"), or with nothing between two displays; a value tried ("Trying $x = 1$") is not a solution. The text's
    first equation may follow from the last of ``earlier``, the step before."""
    whole = f"{earlier} {text}" if earlier else text
    pairs: list[tuple[str, str]] = []
    # the segment before: its last statement, where it ended, whether it ends in a comma, whether it is a list's item
    before: tuple[str, int, bool, bool] | None = None
    for match in _segments(whole) if "=" in text else []:
        # (an implication that ends a row, "\\Rightarrow \\\\", leaves nothing between the two: no part)
        parts = [_statements(part) for part in _IMPLIES.split(_content(match)) if _BLANK.sub("", part)]
        gap = whole[before[1] : match.start()] if before else ""
        item = before is not None and before[2] and not gap.strip(" ,;.")  # "$x = 1,$ $x = 2$": a list
        if match.start() >= len(whole) - len(text):  # (the earlier step's own pairs were its to check)
            if before and parts and parts[0] and _concludes(gap, before[2], before[3]):
                pairs.append((before[0], parts[0][0]))
            for a, b in itertools.pairwise(parts):  # cases side by side follow case by case ("x = 3 or x = -3")
                pairs += list(zip(a, b, strict=True)) if len(a) == len(b) > 1 else [(a[-1], b[0])] if a and b else []
        last = next((part[-1] for part in reversed(parts) if part), None)
        if last:  # (math that states nothing, "Subtracting $2x$ from both sides", is words between two statements)
            before = (last, match.end(), bool(_LISTED.search(_content(match))), item)
    return [claim for equation, solution in pairs if (claim := _follows(equation, solution))]


def _concludes(gap: str, comma: bool, item: bool) -> bool:
    """Whether the words between two math segments make the second follow from the first, which ends in a ``comma``
    or not and is an ``item`` of a list or not: concluding words; nothing at all where the first does not end in a
    comma (``$x = 1,$ $x = 2$`` is a list); or "or" after a comma that ends no list's item (``$x^2 + 1 = 6x,$ or $x^2
    - 6x + 1 = 0$`` says it again; ``$x - 3 = 0$ or $x - 7 = 0$`` and ``$a = 0,$ $b = 0,$ or $a + b = 0$`` are
    cases)."""
    if len(gap) > 60 or _TRIAL.search(gap):
        return False
    if _ALTERNATIVE.fullmatch(gap):
        return comma and not item
    return bool(_CONCLUSION.search(gap)) or (not comma and not gap.strip(" ,;."))


def _equal(a: complex, b: complex, places: int | None = None) -> bool:
    """Whether two values are equal, to ``places`` decimals where the right one is rounded to them."""
    tolerance = 0.5 * 10**-places if places is not None else 1e-9 * max(1.0, abs(a), abs(b))
    return abs(a - b) <= tolerance * (1 + 1e-9)


def _follows(equation: str, consequence: str) -> Claim | None:
    """Whether ``consequence``, the statement after ``equation``, follows from it, where both are about one unknown
    alone: a value it is set to (``n = 14``) must solve the equation, and an equation it is rewritten as must share a
    root with it (``5x + 2 = 17``, then ``5x = 15``; dividing by a factor or squaring may lose or add others). None
    where the pair is not of that shape."""
    if any(
        _LEFT_ALONE.search(t)
        or _INEQUALITY.search(t)
        or _ELIDED.search(t)
        or "_" in t
        or _CONSTANT_LETTER.search(t)
        or _UNIT_MARK.search(t)
        for t in (equation, consequence)
    ):
        return None  # (e and i: the parser reads them as numbers, but a system may name an unknown so; units are none;
        # a subscript names one of several: "x_1 + x_2 = 5")
    first = _equation(equation)
    if first is None or _LETTER.fullmatch(first[2]):
        return None  # ("x = 2y", then "x = 4": a definition, not an equation to solve)
    left, right, _ = first
    unknowns = left.free_symbols | right.free_symbols
    if len(unknowns) != 1:
        return None
    symbol = next(iter(unknowns))
    applied = re.compile(rf"(?<![\\a-zA-Z]){re.escape(str(symbol))}\s*(?:\(|\\left\()", re.IGNORECASE)
    if applied.search(equation) or applied.search(consequence):
        return None  # f(8) is a function's value, which the parser reads as a product
    solved = _SOLVED.fullmatch(_TRAILING.sub("", consequence).strip())
    if solved and _expression(solved["unknown"]) == symbol:
        if (value := _value(_UNBOXED.sub(r"\1", solved["value"]))) is None or abs(value.imag) > 1e-12:
            return None
        holds = _holds_at(left, right, symbol, value.real)
        text = f"{solved['unknown']} = {solved['value'].strip()} in {equation.strip()}"
        return None if holds is None else Claim(text, holds, _as_fraction(value), solved["unknown"])
    second = _equation(consequence)
    if second is None or (second[0].free_symbols | second[1].free_symbols) != {symbol}:
        return None
    checked = [(root, _holds_at(*second[:2], symbol, root)) for root in _roots(left - right, symbol)]
    if all(holds is None for _, holds in checked):
        return None  # (no root, or the rewrite has no value at any)
    shared = [root for root, holds in checked if holds]
    text = f"{_TRAILING.sub('', consequence).strip()} from {_TRAILING.sub('', equation).strip()}"
    return Claim(text, bool(shared), _as_fraction(shared[0]) if shared else Fraction(0))


def _equation(statement: str) -> tuple[Any, Any, str] | None:
    """The two sides of a statement's first link as sympy expressions, and its left side as written."""
    sides = [_TRAILING.sub("", side).strip() for side in statement.split("=")]
    if len(sides) < 2 or not sides[0] or not sides[1]:
        return None
    left, right = _expression(sides[0]), _expression(sides[1])
    return None if left is None or right is None else (left, right, sides[0])


def _holds_at(left: Any, right: Any, symbol: Any, value: complex) -> bool | None:
    """Whether ``left = right`` holds with ``symbol`` at ``value`` (None where either side has no value there)."""
    a, b = _number(left.subs(symbol, value)), _number(right.subs(symbol, value))
    if a is None or b is None:
        return None
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _roots(expression: Any, symbol: Any) -> list[complex]:
    """The roots of ``expression = 0`` with its denominators cleared, where that is a polynomial of degree 1 to 10 in
    ``symbol`` with numbers for coefficients; none otherwise."""
    import sympy

    try:
        polynomial = sympy.Poly(sympy.numer(sympy.together(expression)), symbol)
        if not 1 <= polynomial.degree() <= 10 or polynomial.free_symbols != {symbol}:
            return []
        return [complex(root) for root in polynomial.nroots(n=15)]
    except Exception:  # sympy's errors are many and unrelated (not a polynomial, no convergence)
        return []


def _as_fraction(value: complex) -> Fraction:
    """The real value of a side as an exact-enough rational, for the derived-answer check (0 for a complex one)."""
    return Fraction(value.real).limit_denominator(10**6) if abs(value.imag) < 1e-12 else Fraction(0)
