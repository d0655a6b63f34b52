"""What a problem gives: its words, its numbers and the sentences that state one quantity outright; and the steps that
only restate the problem, restate a given with another number, give it as an amount for each where the problem has
none, state a quantity from nowhere, close a worked answer with a digression, or call the answer a number of times
where things are asked."""

from __future__ import annotations

import collections
import contextlib
import re
from fractions import Fraction
from functools import lru_cache

from filters.steps.latex import has_math
from filters.steps.text import FINAL_ANSWER, answer_step, sentences
from filters.steps.tokens import (
    AMOUNT,
    NUMBER_WORDS,
    OP,
    TIME_OF_DAY,
    WORD_NUMBER,
    Token,
    normalize,
    number,
    numbers,
    percent_forms,
)

WORD_RE = re.compile(r"[a-z]+")


def restates(step: str, problem_words: frozenset[str]) -> bool:
    """Whether a step only repeats the problem (most of its words are the problem's)."""
    words = WORD_RE.findall(step.lower())
    return bool(words) and sum(w in problem_words for w in words) >= 0.8 * len(words)


def _stems(text: str) -> frozenset[str]:
    """A text's words, lowercased, without a trailing s (so "cans" is "can" on both sides of a comparison)."""
    return frozenset(w.rstrip("s") for w in WORD_RE.findall(text.lower()) if w not in NUMBER_WORDS)


_FILLER = _stems("the a an is are was were has have had of in on at to for and with so there it its he she they his")
_RELATIONS = _stems("than more less fewer times twice half per each every many much")  # a given that relates two


@lru_cache(maxsize=4096)
def _given_quantities(problem: str) -> tuple[tuple[str, frozenset[str], Fraction], ...]:
    """The problem's sentences that give one quantity outright (one number, no comparison): text, words, value."""
    given = []
    for sentence in sentences(problem):
        words, values = _stems(sentence), numbers(normalize(sentence))
        if len(values) == 1 and not words & _RELATIONS and not sentence.rstrip().endswith("?"):
            given.append((sentence, words, next(iter(values))))
    return tuple(given)


_WRITTEN = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\d,]|\s*:)")  # digits, not a label's ("Day 2:")
# a calculation's words, and an equality's ("25 cents is equal to 1 quarter": a fact a line states, not an event)
_RELATES = re.compile(r"[-+*/×÷=%]|\b(?:times|divided|plus|minus|of|equals?|equivalent)\b", re.IGNORECASE)


# a rounding, whose numbers are its rule's ("round up from $1.87 to $2, since the digit after the 1 is 5 or higher")
_ROUNDS = re.compile(r"\bround(?:s|ed|ing)?\b|\bnearest\b", re.IGNORECASE)


def _written(line: str) -> set[Fraction]:
    values = set()
    for digits in _WRITTEN.findall(line):
        with contextlib.suppress(ValueError):
            values.add(Fraction(digits.replace(",", "")))
    return values


def unfounded_fact(given: frozenset[Fraction], lines: list[str]) -> int | None:
    """The first of ``lines`` (normalized steps) that states outside any calculation a number that neither the
    problem (``given``) nor an earlier line has, and that no later line uses: an event or a fact from nowhere ("Jade
    buys 3 chickens and gives away 4" where the problem has no such thing); None where there is none. A line with a
    time of day works its numbers out from the times, a rounding by its rule."""
    written = [_written(line) for line in lines]
    later = collections.Counter(value for values in written for value in values)  # lines from here on stating it
    seen = set(given)
    for i, line in enumerate(lines):
        later.subtract(written[i])
        new = written[i] - seen
        if (
            new
            and not (FINAL_ANSWER.search(line) or _RELATES.search(line) or TIME_OF_DAY.search(line))
            and not _ROUNDS.search(line)
            and all(later[v] <= 0 for v in new)
        ):
            return i
        seen |= written[i]
    return None


# the words a closing step may use whatever the problem is about: function words and the words of reasoning
_GENERAL = (
    _FILLER
    | _RELATIONS
    | _stems(
        "them their here that these those what which whose been being having doing done will would shall should "
        "could might must about above across after against along among around before behind below between beyond "
        "during from into like onto over past since through under until upon within without also although because "
        "both either neither though unless whether while when where then hence therefore however still just even "
        "only very such same something anything everything nothing other another some most equal equals total "
        "amount number answer result value difference product quotient minus final finally need find calculate "
        "left"
    )
)


def closing_digression(problem: str, lines: list[str], answer: set[Fraction]) -> int | None:
    """The step just before the final answer where an earlier step has worked the answer out already, when it states
    no number (in digits or words) and speaks of two or more things that neither the problem nor an earlier step
    does ("Since she has the same amount of money in both deposits ..." after "$25 * 4 = $100", a row a demo
    published): a digression from nowhere, not a step of the solution; None where there is none."""
    final = answer_step(lines)
    if final is None or final < 2 or not answer or _written(closing := lines[final - 1]) or numbers(closing):
        return None
    if not any(answer & _written(line) for line in lines[: final - 1]):
        return None
    known = _stems(problem).union(*(_stems(line) for line in lines[: final - 1]))
    new = {word for word in _stems(closing) - known - _GENERAL if len(word) > 3}
    return final - 1 if len(new) >= 2 else None


def misread_fact(problem: str, line: str, tokens: list[Token], values: set[Fraction], said: set[Fraction]) -> str:
    """A step that restates a quantity the problem gives outright (every word of the step is in the sentence that
    gives it) with another number, one that no earlier step (``said``) has: a number the problem lacks ("Tallest tree:
    151 feet" where the problem says 150), or another sentence's where the step restates most of this one ("The
    relative multiplies the savings by $20." for "A relative multiplies Mateo's savings by 4"): the step and that
    sentence; empty where there is none."""
    if len(values) != 1 or values <= said or any(t.kind == OP for t in tokens):
        return ""
    words = _stems(line) - _FILLER
    number = next(iter(values))
    elsewhere = number in problem_facts(problem)[1]  # another sentence's number
    if elsewhere and restates_given(problem, line, number):
        return ""  # "Amber ran 8 miles." restates the sentence that gives 8, not "... ran 52 miles in total."
    for sentence, given_words, value in _given_quantities(problem) if words else ():
        if words <= given_words and value not in values:
            if elsewhere and len(words) < 0.5 * len(given_words - _FILLER):
                continue
            return f"{line.strip()} (the problem: {sentence})"
    return ""


_EACH = re.compile(r"\b(?:each|per|every)\b", re.IGNORECASE)
# a rate the problem gives with "a" or "an": "$12 an hour", "3 cups a day", "$4 a car"
_RATE_A = re.compile(r"\d(?:[\d,.]*\d)?%?\s+(?:[A-Za-z]+\s+)?an?\s+[A-Za-z]+", re.IGNORECASE)


def rate_from_nowhere(problem: str, line: str, tokens: list[Token], values: set[Fraction]) -> str:
    """A step that, calculating nothing, gives a number of a problem that speaks of no amount for each thing (nor of
    one "a" thing, "$12 an hour") as an amount for each ("There are 8 cookies in each box." for "Diego gives 8
    cookies to the neighbours", a row a demo published; "Each jar contains 5 marbles." for 10 marbles shared among 5
    jars): the step and why; empty where there is none."""
    if len(values) != 1 or any(t.kind == OP for t in tokens) or not _EACH.search(line):
        return ""
    if _EACH.search(problem) or _RATE_A.search(problem):
        return ""
    value = next(iter(values))
    if value <= 1 or value not in problem_facts(problem)[1] or _RELATES.search(line):
        return ""
    return f"{line.strip()} (the problem gives no amount for each)"


_CLAIMS_GIVEN = re.compile(
    r"\b(?:we are|we're|we were) given\b|\bthe problem (?:says|states|tells us|gives)\b|\baccording to the problem\b",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[,;]|\bso\b")


def claimed_given(line: str, given: frozenset[Fraction], said: set[Fraction]) -> str:
    """A step that says the problem gives a number that neither the problem (``given``) nor an earlier step (``said``)
    has ("We are given that the value of x is 6" where the problem has no 6): the step and why; empty where there is
    none."""
    match = _CLAIMS_GIVEN.search(line) if "given" in line or "problem" in line else None  # a substring test is cheap
    if match is None:
        return ""
    claimed = numbers(_CLAUSE_END.split(line[match.end() :])[0])
    return f"{line.strip()} (the problem gives no such number)" if claimed - percent_forms((*given, *said)) else ""


_STATE = re.compile(r"\b(?:starts?|started|starting|begins?|began|left|remain\w*)\b", re.IGNORECASE)
_TAKEN = re.compile(
    r"\b(?:los[te]s?|losing|gives?|gave|giving|eats?|ate|eaten|spends?|spent|sells?|sold|lends?|lent|donat\w+|uses?|"
    r"used|breaks?|broke|pays?|paid|takes? away|took away)\b",
    re.IGNORECASE,
)  # an amount that leaves: what is lost, given, eaten, spent, sold, lent, used, paid
_LINKS = re.compile(r"\b(?:than|more|less|fewer|after|before|from|per|each|every)\b", re.IGNORECASE)


def taken_as_kept(problem: str, line: str, tokens: list[Token], values: set[Fraction], said: set[Fraction]) -> str:
    """A step that states as what is left or what one starts with ("There are 4 marbles left.", "She starts with 6
    cookies.") a number the problem gives only as an amount that leaves ("Hana loses 4 marbles") and no earlier step
    (``said``) has: the step and that sentence; empty where there is none."""
    if len(values) != 1 or values <= said or any(t.kind == OP for t in tokens) or not _STATE.search(line):
        return ""
    if _TAKEN.search(line) or _RELATES.search(line) or _LINKS.search(line):
        return ""  # the step speaks of the change itself, or relates quantities
    leaving = _only_leaving(problem, next(iter(values)))
    return f"{line.strip()} (the problem: {leaving})" if leaving else ""


def _only_leaving(problem: str, value: Fraction) -> str:
    """The first sentence that gives ``value`` where every sentence that gives it gives it as an amount that leaves
    ("Hana loses 4 marbles"; the words since the number before it take away and state nothing, so "Lena keeps 13
    chickens and sells 5" leaves with 5, not 13); empty otherwise."""
    normalized = [(sentence, normalize(sentence)) for sentence in sentences(problem)]
    giving = [(sentence, text) for sentence, text in normalized if value in numbers(text)]
    if giving and all(_leaves(text, value) for _, text in giving):
        return giving[0][0]
    return ""


_QUANTITY = re.compile(rf"(?<![\w.]){AMOUNT}|{WORD_NUMBER.pattern}", re.IGNORECASE)


def _leaves(sentence: str, value: Fraction) -> bool:
    """Whether a (normalized) sentence gives ``value`` only after words that take away and state nothing, each time
    since the number before it or the sentence's start ("loses 4 marbles and has 4 marbles left" also keeps 4)."""
    start, leaving = 0, []
    for match in _QUANTITY.finditer(sentence):
        text = match.group()
        if (Fraction(NUMBER_WORDS[text.lower()]) if text.lower() in NUMBER_WORDS else number(text)) == value:
            before = sentence[start : match.start()]
            leaving.append(bool(_TAKEN.search(before)) and not _STATE.search(before))
        start = match.end()
    return bool(leaving) and all(leaving)


_REMAINING = re.compile(rf"\b(?:remaining|leftover)\s+({AMOUNT})(?![\d.])", re.IGNORECASE)


def taken_as_remaining(problem: str, line: str, said: set[Fraction]) -> str:
    """A step that calls "the remaining N" a number the problem gives only as an amount that leaves ("After selling
    the remaining 16, 21 - 16 = 5 cookies were left." for "Lena gives 16 cookies to the neighbours", a row a demo
    published) and no earlier step (``said``) has: the step and that sentence; empty where there is none."""
    for match in _REMAINING.finditer(line) if "remain" in line or "leftover" in line else ():
        value = Fraction(match.group(1).replace(",", ""))
        if value not in said and (leaving := _only_leaving(problem, value)):
            return f"{line.strip()} (the problem: {leaving})"
    return ""


# "How many dollars does Diego have now?": whose quantity the answer is; a comparison ("than") asks of two
_ASKED_OWNER = re.compile(
    r"\b[Hh]ow (?:many|much)\b[^?]*?\b(?:does|do|did|will|would)\s+(?P<owner>[A-Z][a-z]+)\s+(?:now\s+|still\s+)?"
    r"(?:have|own|keep|count|save|end up with)\b[^?]*\?"
)
# "The relative has $100 left over", "so Fawn has 16 + 12 = 28 books": who a clause gives a quantity to
_HOLDS = re.compile(
    r"(?:^|[.:;!]\s+|\b(?:so|then|and|now)\s+)(?P<owner>(?:[Tt]he\s+)?[A-Za-z]+)\s+(?:now\s+)?"
    r"(?:has|have|had|owns|gets|ends up with|is left with)\b(?P<rest>(?:[^.,\n]|[.,](?=\d))*)"
)
_NEXT_CLAUSE = re.compile(r"\b(?:so|and|then|but|while)\b")
_AMOUNTS = re.compile(rf"{AMOUNT}|{WORD_NUMBER.pattern}", re.IGNORECASE)  # in digits or in words
_TERM = re.compile(r"\d\s*\*?\s*[A-Za-z]\b")  # a term in an unknown: 2Y, 2*Y
_COMPARED = re.compile(r"\s*(?:[a-z]+\s+)?(?:more|less|fewer|times)\b", re.IGNORECASE)
_PRONOUNS = frozenset({"he", "she", "they", "it", "we", "you", "i", "this", "that", "there", "which", "who"})


@lru_cache(maxsize=4096)
def _asked_owner(problem: str) -> tuple[str, str] | None:
    """Whose quantity the question asks for and the question itself, lowercased; None for a comparison or none."""
    asked = _ASKED_OWNER.search(problem)
    if asked is None or " than " in asked.group():
        return None
    return asked.group("owner"), asked.group().lower()


def answer_given_to_another(problem: str, steps: list[str], answer: str | None) -> int | None:
    """The step that gives the final answer (one number) to another participant of the problem than the one the
    question asks about ("The relative has $100 left over." where Diego's money is asked); None where a step gives it
    to the one asked about or to a pronoun, or where no step gives it to anyone."""
    asked = _asked_owner(problem)
    targets = numbers(normalize(answer)) if asked and answer else set()
    if asked is None or len(targets) != 1:
        return None
    owner_asked, question = asked
    value = next(iter(targets))
    others: list[int] = []
    for i, step in enumerate(steps):
        text, start = normalize(step).strip(), 0
        while held := _HOLDS.search(text, start):
            # what the owner holds: the clause's result, not an operand ("Dawn has 60+40 = 100"); another's holding
            # may follow in the same sentence ("Bruce has 60 so Simon has 12+60 = 72")
            clause = _NEXT_CLAUSE.split(held.group("rest"), maxsplit=1)[0]
            start = held.start("rest") + len(clause)
            amounts = list(_AMOUNTS.finditer(clause))
            if not amounts or value not in numbers(amounts[-1].group()) or _TERM.search(clause):
                continue  # the result comes last; "John has 2*Y = 2Y kids" holds no number yet
            if _COMPARED.match(clause, amounts[-1].end()):
                continue  # "Dawn has 40 more": a difference, not what Dawn holds
            owner = held.group("owner")
            noun = owner.split()[-1]
            if owner == owner_asked or owner.lower() in _PRONOUNS:
                return None
            named = noun[0].isupper() and noun != "The" and re.search(rf"\b{noun}\b", problem)
            role = owner.lower().startswith("the ") and re.search(rf"\b(?:[Aa]n?|[Tt]he) {noun}\b", problem)
            if (named or role) and noun.lower() not in question:
                others.append(i)
    return others[0] if others else None


_TIMES_COUNTED = re.compile(r"\bnumber of times\b", re.IGNORECASE)  # a count of events, not of things
_ASKED_THINGS = re.compile(r"\bhow many (?P<noun>[a-z]+)\b", re.IGNORECASE)
_ASKED_TIMES = re.compile(r"\bhow (?:many times|often)\b", re.IGNORECASE)


def answer_named_times(problem: str, steps: list[str], answer: str | None) -> tuple[int, str] | None:
    """The step that calls the final answer (one number) "the number of times" something happens where the question
    asks how many of a thing ("The number of times Hana wins the game is 2 * 8 = 16" for how many marbles, a row a
    demo published): the 0-based step and what the question asks, else None."""
    if not any(_TIMES_COUNTED.search(step) for step in steps) or _ASKED_TIMES.search(problem):
        return None
    asked = _ASKED_THINGS.search(problem)
    targets = numbers(normalize(answer)) if asked and answer else set()
    if asked is None or len(targets) != 1:
        return None
    for i, step in enumerate(steps):
        if _TIMES_COUNTED.search(step) and any(
            _TIMES_COUNTED.search(sentence) and targets <= numbers(normalize(sentence)) for sentence in sentences(step)
        ):
            return i, f"the question asks how many {asked.group('noun')}"
    return None


_HOLDING = r"(?:has|had|have|keeps|kept|owns|owned)"
# "Lena keeps 13 chickens": what a named participant holds at the start, by the problem
_GIVEN_HOLDING = re.compile(
    rf"\b(?P<owner>[A-Z][a-z]+)\s+{_HOLDING}\s+(?:saved\s+)?\$?(?P<amount>{AMOUNT})\s+(?P<noun>[a-z]+)"
)
_WORKS = re.compile(r"\d\s*[-+*/x×÷]\s*\$?\d|=")  # a step that calculates


@lru_cache(maxsize=4096)
def _holdings(problem: str) -> tuple[tuple[re.Pattern[str], str, Fraction, str], ...]:
    """What each named participant holds at the start, by the problem: the pattern of a step that says they hold a
    number of those things, the things, the number and the problem's words."""
    held: dict[tuple[str, str], tuple[Fraction, str]] = {}
    for match in _GIVEN_HOLDING.finditer(problem):
        noun = match.group("noun").lower().removesuffix("s")
        held.setdefault((match.group("owner"), noun), (number(match.group("amount")), match.group(0)))
    owners = {owner for owner, _ in held}
    found = []
    for (owner, noun), (amount, says) in held.items():
        names = rf"{owner}|[Ss]he|[Hh]e" if len(owners) == 1 else owner
        pattern = re.compile(rf"\b(?:{names})\s+{_HOLDING}\s+(?:only\s+)?\$?(?P<amount>{AMOUNT})\s+(?P<noun>[a-z]+)")
        found.append((pattern, noun, amount, says))
    return tuple(found)


def holding_misstated(problem: str, steps: list[str]) -> tuple[int, str] | None:
    """The first step, before any step calculates, that says a participant holds another number of the problem than
    the problem gives them ("Lena has 5 chickens." where Lena keeps 13 chickens and sells 5, a row a demo published;
    "she", where the problem names one holder): the 0-based step and why (what the problem says), else None."""
    if not (holdings := _holdings(problem)):
        return None
    given = problem_facts(problem)[1]
    for i, step in enumerate(steps):
        if _WORKS.search(step):
            return None
        for pattern, noun, amount, says in holdings:
            for match in pattern.finditer(step):
                stated = number(match.group("amount"))
                if match.group("noun").lower().removesuffix("s") == noun and stated != amount and stated in given:
                    return i, f"the problem: {says}"
    return None


# "Walking dogs = 39 + 30 = 69": a label in words, then a sum of two amounts and its result
_LABELLED_SUM = re.compile(
    rf"^\s*(?P<label>[A-Za-z][A-Za-z' ]{{2,40}}?)\s*[=:]\s*(?P<a>{AMOUNT})\s*\+\s*(?P<b>{AMOUNT})\s*=\s*{AMOUNT}"
)
_ACTIVITY = re.compile(r"[A-Za-z]+ing\b")


def sum_named_after_a_part(problem: str, line: str) -> str:
    """A sum labelled with an activity (a word in -ing) whose words the problem's sentence that gives one of the two
    parts holds, not the other's ("Walking dogs = 39 + $30 = 69 dollars" for "Nia has saved $30. Nia earns $39 more
    by walking dogs.", a row a demo published): the whole named after a part. The claim, else ""."""
    match = _LABELLED_SUM.match(line)
    if match is None or not _ACTIVITY.match(label := match.group("label").strip()):
        return ""
    words = [w for w in WORD_RE.findall(label.lower()) if w.rstrip("s") not in _FILLER]
    a, b = number(match.group("a")), number(match.group("b"))
    for sentence in sentences(problem):
        text = sentence.lower()
        given = numbers(normalize(sentence))
        if all(re.search(rf"\b{w}\b", text) for w in words) and (a in given) != (b in given):
            return f"{line.strip()} (a sum named after one of its parts: {sentence.strip()})"
    return ""


# a relation by a factor: "2 times as many cookies", "three times more apples", "twice as much water"
_FACTOR_OF = re.compile(
    rf"\b(?:(?P<times>{AMOUNT}|{WORD_NUMBER.pattern})\s+times\s+(?:as\s+(?:many|much)|more|the)"
    r"|(?P<word>twice|thrice)\s+as\s+(?:many|much))\s+(?P<noun>[a-z]+)",
    re.IGNORECASE,
)
_FACTOR_WORDS = {"twice": 2, "thrice": 3}


@lru_cache(maxsize=4096)
def _factors_of(text: str) -> dict[str, frozenset[Fraction]]:
    """The factors a text relates each thing by ("2 times as many cookies": cookies, 2)."""
    found: dict[str, set[Fraction]] = {}
    for match in _FACTOR_OF.finditer(text):
        written = match.group("times")
        if written is None:
            factor = Fraction(_FACTOR_WORDS[match.group("word").lower()])
        else:
            factor = Fraction(NUMBER_WORDS[written.lower()]) if written.lower() in NUMBER_WORDS else number(written)
        found.setdefault(match.group("noun").lower(), set()).add(factor)
    return {noun: frozenset(factors) for noun, factors in found.items()}


def relation_misstated(problem: str, line: str) -> str:
    """A step that calculates nothing and relates a thing the problem relates by a factor by another factor ("After
    baking, there are 4 times as many cookies left." for "until there are 2 times as many cookies", a demo's published
    row): the step and the problem's factors; empty where there is none."""
    given = _factors_of(problem) if re.search(r"times|twice|thrice", line, re.IGNORECASE) else {}
    for noun, factors in _factors_of(line).items() if given else ():
        if noun in given and not factors & given[noun]:
            written = ", ".join(f"{float(f):g}" for f in sorted(given[noun]))
            return f"{line.strip()} (the problem: {written} times as many {noun})"
    return ""


def restates_given(problem: str, line: str, value: Fraction) -> bool:
    """Whether ``line`` restates a sentence of the problem that gives ``value``: its words (fillers aside) all
    come from that sentence ("She has 16 books." for "Jade has 16 books and reads them all.")."""
    words = _stems(line) - _FILLER
    return any(value in numbers(normalize(s)) and words <= _stems(s) for s in sentences(problem))


@lru_cache(maxsize=4096)
def problem_facts(problem: str) -> tuple[frozenset[str], frozenset[Fraction]]:
    """A problem's words and the numbers it gives (a problem's samples share them)."""
    return frozenset(WORD_RE.findall(problem.lower())), frozenset(numbers(normalize(problem)))


_SIGNED = re.compile(
    r"(?<![\w.])[-−]\s?\d|°|\b(?:negative|below|temperature|fahrenheit|celsius|warm\w*|cool\w*|cold\w*|hotter|heat\w*|"
    r"freez\w*|debt|owes?|owed|loss|lose|deficit|profit|balance|change|difference|net|gain|altitude|elevation|"
    r"sea level|score)\b",
    re.IGNORECASE,
)
_IMPOSSIBLE = re.compile(
    r"negative[^.]*(?:does ?n[o'’]t make sense|not possible|impossible|cannot|can['’]t)"
    r"|(?:cannot|can['’]t|not) be negative|(?:cannot|can['’]t) (?:have|be) a negative",
    re.IGNORECASE,
)
_DEFICIT = re.compile(r"\b(?:negative|deficit|short(?:age|fall)?|owes?|debt|loss|below zero)\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def admits_negatives(problem: str) -> bool:
    """Whether a quantity of the problem can be negative: it states a negative number, or speaks of temperatures
    (degrees of heat, not of angles), debts, losses, changes or differences; else every count, length, price, angle
    and time it asks about is at least 0."""
    return bool(_SIGNED.search(problem)) or has_math(problem)


def negative_allowed(problem: str, trace: str) -> bool:
    """Whether a negative result may stand: the trace does not call it impossible ("a negative value doesn't make
    sense", "we can't have a negative number of beakers"), and the problem admits negatives or the trace reads it as
    a deficit, a shortfall, a debt or a loss."""
    if _IMPOSSIBLE.search(trace):
        return False
    return admits_negatives(problem) or bool(_DEFICIT.search(trace))
