"""Numeric equalities written in LaTeX (MATH-style traces): every link of ``$a = b = c$`` whose sides hold no unknown
is evaluated with sympy (through math-verify's LaTeX parser) and must hold.

The token stream of ``filters.steps.tokens`` reads ``\\frac``, ``\\times`` and ``\\cdot``; competition solutions also
write roots, powers in braces, binomials, ``\\pi``, logarithms and trigonometry, which only a computer algebra system
evaluates. Links with an unknown are equations or identities and are left alone; so are degrees, number bases,
inequalities, approximations, sums, integrals, limits and powers of three-digit exponents, whose LaTeX the parser
misreads, cannot settle or takes long to evaluate.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction
from functools import lru_cache

from filters.steps.claims import Claim

# display and inline math; a "$" that opens or closes on a space, or closes right before a digit, is a dollar sign
# ("$12 - $2 = $10"), not math
_MATH = re.compile(
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|\\begin\{(?:align|equation|gather|eqnarray)\*?\}(.+?)\\end\{\w+\*?\}"
    r"|\$(?![\s$])([^$]+?)(?<!\s)\$(?!\d)",
    re.DOTALL,
)
_LEFT_ALONE = re.compile(
    r"<|>|\\[lg]eq?\b|\\approx|\\neq|\\ne\b|\\pm|\\mp|\\sum|\\prod|\\int|\\lim|\\infty|\\text|\\begin|\\\\|&|\\circ|"
    r"\^\s*\{?\s*-?\d{3,}|\^\s*\\circ|_|\\equiv|\\pmod|\\mod|\\cdots|\\dots|\\ldots|!|\\binom|\\dbinom|\\choose|"
    r"%|\\%|\\sim|\\to|:|;|,"
)
# "(15)(1500)", "5(1)", "3\left(...\right)": a product, which the parser reads as a call
_IMPLICIT = re.compile(r"(\d|\)|\\right\))\s*(\\left\(|\()")
_TRAILING = re.compile(r"[\s.,;]+$")


_PROSE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")  # a word that is not a command's name: "$5 loaves of bread, 2 3$"


def _segments(text: str) -> list[re.Match[str]]:
    """The LaTeX math of a text: display math, environments, and inline ``$...$`` that reads as math, not prose
    between two prices."""
    if not ("$" in text or "\\" in text):
        return []
    return [m for m in _MATH.finditer(text) if m.group(5) is None or not _PROSE.search(m.group(5))]


def _content(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group)


def equalities(text: str) -> list[str]:
    """The LaTeX math segments of a text that state an equality (dollar signs of prices are not math)."""
    return [segment for match in _segments(text) if "=" in (segment := _content(match))] if "=" in text else []


def has_math(text: str) -> bool:
    """Whether a text writes LaTeX math (a competition problem, where quantities may well be negative)."""
    return bool(_segments(text))


def without_equalities(text: str) -> str:
    """The text with its LaTeX equalities cut out (``latex_claims`` checks them), for the token stream's claims."""
    for match in reversed([m for m in _segments(text) if "=" in _content(m)] if "=" in text else []):
        text = f"{text[: match.start()]} ; {text[match.end() :]}"
    return text


@lru_cache(maxsize=65536)
def _value(side: str) -> complex | None:
    """The value of one side of an equality, where it parses to an expression without unknowns; else None."""
    from latex2sympy2_extended import latex2sympy

    try:
        expression = latex2sympy(_IMPLICIT.sub(r"\1\\cdot \2", side))
        if getattr(expression, "free_symbols", None) or not hasattr(expression, "evalf"):
            return None
        return complex(expression.evalf(30))
    except Exception:  # the parser's and sympy's errors are many and unrelated; an unreadable side checks nothing
        return None


def _places(side: str) -> int | None:
    """Decimal places of a side that is one plain decimal number (a rounded result); None otherwise."""
    match = re.fullmatch(r"-?\d+\.(\d+)", side)
    return len(match.group(1)) if match else None


def latex_claims(segments: list[str]) -> list[Claim]:
    """Every numeric equality link of LaTeX equality ``segments`` (``equalities`` of a text), with whether it holds
    (a decimal on the right may round the left to its places)."""
    found = []
    for segment in segments:
        if _LEFT_ALONE.search(segment):
            continue
        sides = [_TRAILING.sub("", side).strip() for side in segment.split("=")]
        for left, right in itertools.pairwise(sides):
            if not left or not right:
                continue
            a, b = _value(left), _value(right)
            if a is None or b is None:
                continue
            places = _places(right)
            tolerance = 0.5 * 10**-places if places is not None else 1e-9 * max(1.0, abs(b))
            holds = abs(a - b) <= tolerance * (1 + 1e-9)
            found.append(Claim(f"{left} = {right}", holds, _as_fraction(b)))
    return found


def _as_fraction(value: complex) -> Fraction:
    """The real value of a side as an exact-enough rational, for the derived-answer check (0 for a complex one)."""
    return Fraction(value.real).limit_denominator(10**6) if abs(value.imag) < 1e-12 else Fraction(0)
