"""Program-of-thought traces: run by the interpreter, judged on whether they run, never by the prose answer rules."""

import pytest

from filters.steps import check_trace
from filters.steps.program import Unjudged, program_source, run_program
from filters.steps.setups import leftover_untaken
from filters.steps.text import split_steps

PENS = (
    "Janet had 22 green pens and 10 yellow pens. Then she bought 6 bags of blue pens and 2 bags of red pens. There "
    "were 9 pens in each bag of blue and 6 pens in each bag of red. How many pens does Janet have now?"
)


@pytest.mark.parametrize(
    ("steps", "error", "first_bad_step"),
    [
        (  # right, and its answer stated by nothing but its print: no prose rule may read "Step 5" as the answer
            [
                "Step 1: old_pens = 22 + 10",
                "Step 2: blue = 6 * 9",
                "Step 3: red = 2 * 6",
                "Step 4: total = old_pens + blue + red",
                "Step 5: print(total)",
            ],
            None,
            None,
        ),
        (  # the same without step labels, in a code fence, with a function, a loop and an f-string
            [
                "```python",
                "def pens(bags, per_bag):",
                "    return bags * per_bag",
                "total = 22 + 10",
                "for bags, per_bag in [(6, 9), (2, 6)]:",
                "    total += pens(bags, per_bag)",
                'print(f"Janet has {total} pens")',
                "```",
            ],
            None,
            None,
        ),
        (  # a name used before anything sets it: the program cannot run, wrong at that line (a real model's trace)
            [
                "Step 1: green_pens = 22",
                "Step 2: blue_bags = 6",
                "Step 3: blue_pens_per_bag = 9",
                "Step 4: blue_pens += blue_bags * blue_pens_per_bag",
                "Step 5: print(green_pens + blue_pens)",
            ],
            "program_fails: Step 4: blue_pens += blue_bags * blue_pens_per_bag (NameError: name 'blue_pens' is not "
            "defined)",
            3,
        ),
        (
            ["bags = 6 - 6", "per_bag = 54 / bags", "print(per_bag)"],
            "program_fails: per_bag = 54 / bags (ZeroDivisionError: division by zero)",
            1,
        ),
        (  # a count of pens below zero
            ["pens = 22 + 10", "given_away = 40", "left = pens - given_away", "print(left)"],
            "negative_quantity: left = pens - given_away",
            2,
        ),
    ],
)
def test_a_program_trace_is_wrong_only_where_it_cannot_run(
    steps: list[str], error: str | None, first_bad_step: int | None
) -> None:
    check = check_trace(PENS, "\n".join(steps))
    assert (None if check.error is None else str(check.error)) == error
    assert check.first_bad_step == first_bad_step
    if first_bad_step is None:
        code = [i for i, step in enumerate(steps) if step.strip() and not step.startswith("```")]
        assert all(check.labels[i] for i in code if not steps[i].lstrip().startswith(("def", "for")))
    else:
        assert check.labels[first_bad_step + 1 :] == [None] * (len(steps) - first_bad_step - 1)


@pytest.mark.parametrize(
    ("blue", "last_line", "error", "first_bad_step"),
    [
        ("6 * 9", "total = old + blue + red", None, None),
        # red pens left out
        ("6 * 9", "total = old + blue", "contradicts_reference: 86 where the reference's answer is 98", 3),
        # the first worked-out number neither the problem nor the reference has: bags added as pens
        ("6 + 9", "total = old + blue + red", "contradicts_reference: 59 where the reference's answer is 98", 1),
        # a given written where a calculation belongs is no worked-out number
        ("6", "total = old + blue + red", "contradicts_reference: 50 where the reference's answer is 98", 3),
    ],
)
def test_a_program_whose_print_is_not_the_references_answer_is_wrong_where_it_makes_it(
    blue: str, last_line: str, error: str | None, first_bad_step: int | None
) -> None:
    """Wrong at its first worked-out number that neither the problem nor the reference states (a program's lines
    follow one another as the reference's calculations do); a given written where a calculation belongs is no worked
    number, and the line that makes the printed number is."""
    trace = f"old = 22 + 10\nblue = {blue}\nred = 2 * 6\n{last_line}\nprint(total)"
    check = check_trace(PENS, trace, reference="Janet has 32 + 54 + 12 = 98 pens now.\n#### 98")
    assert (None if check.error is None else str(check.error)) == error
    assert check.first_bad_step == first_bad_step
    # without the reference only a given the program never states (the 9 pens a bag) says the answer is wrong
    alone = check_trace(PENS, trace).error
    assert (alone is None) if "9" in blue else str(alone).endswith("(the problem's 9 is never used)")
    if error is not None:  # a bare gold answer has no calculations to compare: the line that makes the answer
        assert check_trace(PENS, trace, reference="98").first_bad_step == 3


def test_a_program_prints_what_python_prints() -> None:
    lines = ["total = 0", "for day in range(1, 8):", "    if day != 3:", "        total += day * 2",
             "print(round(total / 4, 2), max(1, 2))"]  # fmt: skip
    source = program_source("\n".join(lines), len(lines))
    assert source is not None
    run = run_program(source)
    assert run.fault is None and run.printed == [12.5, 2]
    assert run.assigned[0] == (0, 0.0) and run.assigned[-1] == (3, 50.0)


def test_loops_break_continue_and_end_as_python_s_do() -> None:
    lines = ["n, seen = 0, []", "while n < 10:", "    n += 1", "    if n % 2:", "        continue", "    if n > 6:",
             "        break", "    seen.append(n)", "else:", "    seen.append(-1)",
             "for k in [1, 2]:", "    pass", "else:", "    seen.append(100)", "print(seen, n)"]  # fmt: skip
    exec_globals: dict = {}
    exec("\n".join(lines).replace("print(", "result = ("), exec_globals)  # what Python itself makes of it
    run = run_program("\n".join(lines))
    assert run.fault is None and run.printed == list(exec_globals["result"]) == [[2, 4, 6, 100], 8]


@pytest.mark.parametrize(
    "steps",
    [
        ["from sympy import Symbol, solve", "x = Symbol('x')", "print(solve(2 * x - 4)[0])"],  # a library
        ["total = 1", "while True:", "    total += 1", "print(total)"],  # runs for ever
        ["n = 10 ** 1000", "print(n)"],  # no quantity of a word problem
        ["cells = [0] * 10 ** 9", "print(len(cells))"],  # nor a list that size
        ["print(sum(range(10 ** 12)))", "x = 1"],
        ["def f(n):", "    return f(n + 1)", "x = f(1)", "print(x)"],
        ["class Box:", "    size = 3", "x = Box.size", "print(x)"],
        ["x = None", "print(x is None)"],
    ],
)
def test_a_program_the_interpreter_cannot_run_is_left_unjudged(steps: list[str]) -> None:
    source = program_source("\n".join(steps), len(steps))
    assert source is not None
    with pytest.raises(Unjudged):
        run_program(source)
    check = check_trace("What does this program print?", "\n".join(steps))  # no given it could leave out
    assert check.error is None and check.labels == [None] * len(steps)


@pytest.mark.parametrize(
    "trace",
    [
        "Step 1: 22 + 10 = 32 pens.\nStep 2: 6 * 9 = 54 blue pens.\nThe answer is 86.",
        "x = 22 + 10\nThe answer is 32.",  # prose after code
        "total = 22 + 10",  # assigns, prints nothing: no program
        "print(32)",  # prints, assigns nothing
    ],
)
def test_prose_is_no_program(trace: str) -> None:
    assert program_source(trace, len(split_steps(trace))) is None


CODE_LINES = ("x = 5", "y = x / 0", "x += y", "print(x)", "for i in range(3):", "    x = x * 10 ** 9", "while x:",
              "    x -= 1", "y = [x] * x", "y = x[0]", "def f(a):", "    return f(a)", "z = f(x)", "print(f'{x:.2f}')",
              "x = 'a' + 1", "x = -x", "if x > 2:", "else:", "    pass", "import math", "x = math.ceil(x / 3)",
              "x = int('9' * 5000)", "break", "x = 10 ** 70", "x = x ** x", "print(*y)", "x, y = 1", "y = {'a': 1}",
              "x = (lambda: 1)()", "x = round(x, 500)", "y.append(x)", "print(max())", "x = y < 3")  # fmt: skip


def test_no_program_a_model_writes_makes_the_checks_raise() -> None:
    """Fixed-seed fuzz over lines of code: a program that fails, loops, recurses or overflows is judged or left
    unjudged, never raises out of the checks."""
    import random

    rng = random.Random(0)
    for _ in range(1500):
        trace = "\n".join(rng.choice(CODE_LINES) for _ in range(rng.randint(2, 8)))
        check_trace(PENS, trace)


CAR = "The car weighs 1200 pounds. The force to move the car is 1% of the weight. How much force does he need?"
FRUIT = "George has 45% more pears than bananas. If George has 200 bananas, how many fruits does George have?"


@pytest.mark.parametrize(
    ("problem", "lines", "first_bad_step"),
    [
        (CAR, ["weight = 1200", "force_percent = 1", "force = weight * force_percent", "print(force)"], 2),
        (FRUIT, ["bananas = 200", "pears = 45", "total = bananas + pears", "print(total)"], 1),
        (CAR, ["weight = 1200", "force_percent = 1", "force = weight * force_percent / 100", "print(force)"], None),
        (CAR, ["weight = 1200", "force = weight * 0.01", "print(force)"], None),
        (FRUIT, ["bananas = 200", "more = 45", "pears = bananas + bananas * more / 100", "print(bananas + pears)"],
         None),
    ],
)  # fmt: skip
def test_a_program_that_keeps_a_percent_as_a_plain_number_misreads_it(
    problem: str, lines: list[str], first_bad_step: int | None
) -> None:
    """Under the things' own name the assignment is the misreading; under a percent's name, its first use."""
    checked = check_trace(problem, "\n".join(lines))
    assert checked.first_bad_step == first_bad_step
    assert (checked.error is None) if first_bad_step is None else checked.error.code == "misread_fact"


SCREWS = "James has 40 screws. He puts together 4 tables of 4 legs, 2 screws a leg. How many screws will he have left?"


@pytest.mark.parametrize(
    ("lines", "first_bad_step"),
    [
        (["screws = 40", "left_screws = screws / 2 * 4 * 4", "print(left_screws)"], 1),
        (["feed = 300", "remaining_feed = feed / (5 * 4 * 7)", "print(remaining_feed)"], 1),
        (["screws = 40", "used = 2 * 4 * 4", "left_screws = screws - used", "print(left_screws)"], None),
        (["screws = 40", "screws -= 2 * 4 * 4", "left = screws", "print(left)"], None),
        (["money = 50", "spent = 10", "money_left = money - spent", "left_each = money_left / 2", "print(left_each)"],
         None),
        (["eggs = 50", "leftover = eggs % 12", "print(leftover)"], None),
        (["left_turns = 3", "total = left_turns * 2", "print(total)"], None),
        (["money = 50", "money_left = money * 0.25", "print(money_left)"], None),  # she spends 75%: a quarter is left
        (["money = 50", "money_left = money * 0.75", "print(money_left)"], 1),
    ],
)  # fmt: skip
def test_a_program_that_calls_a_quantity_left_over_must_take_something_away(
    lines: list[str], first_bad_step: int | None
) -> None:
    untaken = leftover_untaken(SCREWS + " She spends 75% of her money.", "\n".join(lines))
    assert (None if untaken is None else untaken[0]) == first_bad_step
    if untaken:
        checked = check_trace(SCREWS + " She spends 75% of her money.", "\n".join(lines))
        assert checked.first_bad_step == first_bad_step and checked.error.code == "misread_fact"


BAMBOO = "The bamboo grows 30 inches a day. Today it is 20 feet tall. In how many days will it be 600 inches tall?"
PUZZLE = "Steve took 10 hours. Anna took 2 hours more than half Steve's time. How long did Anna take?"
CLASS = "Of 50 students 10 bake, 5 play basketball and twice as many play music. How many play video games?"
EMAILS = "James gets 40 emails a day. 20% of them need no response. He answers 2/3 of the rest before 5:00 pm."


@pytest.mark.parametrize(
    ("problem", "lines", "first_bad_step"),
    [
        # today's 20 feet left out: the last assignment of what it prints worked its answer out without it
        (BAMBOO, ["per_day = 30", "goal = 600", "days = goal / per_day", "print(days)"], 2),
        (BAMBOO, ["per_day = 30", "goal = 600", "days = (goal - 20 * 12) / per_day", "print(days)"], None),
        # the 20 feet as its inches, 240, is no statement of the 20
        (BAMBOO, ["per_day = 30", "days = (600 - 240) / per_day", "print(days)"], 1),
        # a percent as the share it leaves, a fraction as its parts; a clock time and the 1s name no amount
        (EMAILS, ["answered = 40 * 0.8 * 2 / 3", "print(answered)"], None),
        (EMAILS, ["answered = 40 * (1 - 0.2) * 0.6667", "print(answered)"], None),
        (EMAILS, ["answered = 40 * 2 / 3", "print(answered)"], 0),
        # a factor in words is a given too: twice is a 2 (or a 0.5), half an hour no factor
        (CLASS, ["games = 50 - 10 - 5", "print(games)"], 0),
        (CLASS, ["music = 5 * 2", "games = 50 - 10 - 5 - music", "print(games)"], None),
        (CLASS, ["games = 50 - 10 - 5 - 5 / 0.5", "print(games)"], None),
        # a half is halved or doubled by, not only written: the 2 hours more are no half
        (PUZZLE, ["steve = 10", "anna = 2", "print(steve + anna)"], 2),
        (PUZZLE, ["steve = 10", "anna = steve / 2 + 2", "print(anna)"], None),
        (PUZZLE, ["steve = 10", "anna = 0.5 * steve + 2", "print(anna)"], None),
        ("A video got 0 likes and 5 dislikes. How many votes did it get?", ["votes = 0 + 5", "print(votes)"], None),
        ("A video got 0 likes and 5 dislikes. How many votes did it get?", ["votes = 0", "print(votes)"], 0),
        ("He has 5 apples and 3 pears.", ["x = 1e999", "print(x - 5 * 3)"], None),  # no amount, and no crash
        ("Ann reads 30 pages in half an hour. How many pages does she read in 90 minutes?",
         ["pages = 30 / 30 * 90", "print(pages)"], None),
    ],
)  # fmt: skip
def test_a_program_that_never_states_a_given_worked_its_answer_out_without_it(
    problem: str, lines: list[str], first_bad_step: int | None
) -> None:
    checked = check_trace(problem, "\n".join(lines))
    assert checked.first_bad_step == first_bad_step
    if first_bad_step is not None:
        assert checked.error.code == "misread_fact" and "is never used" in checked.error.detail


def test_a_reference_the_answer_agrees_with_makes_an_unused_given_a_distractor() -> None:
    problem = "Tom is 40 years old. He buys 3 pens at $2 each. How much does he spend?"
    trace = "pens = 3\nprice = 2\nprint(pens * price)"
    assert check_trace(problem, trace).error.detail == "print(pens * price) (the problem's 40 is never used)"
    assert check_trace(problem, trace, reference="3 * 2 = 6\n#### 6").error is None


def test_a_program_the_interpreter_cannot_run_is_still_judged_on_the_givens_it_states() -> None:
    lines = ["from sympy import Eq, Symbol, solve", "x = Symbol('x')", "print(solve(Eq(x / 2 + 2 + x, 29))[0])"]
    problem = "Igor was told to gather 16 tubes and 14 dishes. He gathered half as many tubes, 2 more than the dishes."
    checked = check_trace(problem + " He placed 29 items. How many tubes?", "\n".join(lines))
    assert checked.first_bad_step == 2 and checked.error.detail.endswith("(the problem's 14 is never used)")
    lines[-1] = "print(solve(Eq(x + 16 / 2 + 14 + 2, 29))[0])"
    assert check_trace(problem + " He placed 29 items. How many tubes?", "\n".join(lines)).error is None


PARTY = "Christina needs 0.75 gift bags a guest, because 1/4 of attendees don't show up. She invited 16 friends."
HOTEL = "Helen stayed 3 nights at $80 a night and rode the bus 7 times at $8 a ride. How much did she pay?"


@pytest.mark.parametrize(
    ("problem", "lines", "first_bad_step", "why"),
    [
        (PARTY, ["no_show = 1/4", "bags = 16 * 0.75", "total = no_show + bags", "print(total)"], 2, "a share added"),
        (PARTY, ["no_show = 1/4", "shows = 1 - no_show", "bags = 16 * shows", "print(bags)"], None, None),
        (PARTY, ["no_show = 0.25", "bags = 16 - 16 * no_show", "print(bags)"], None, None),
        ("A pen costs $.5 and a book $4. How much do both cost?", ["pen = .5", "print(pen + 4)"], None, None),
        (HOTEL, ["total = 0", "for night in range(3):", "    total += 80 * night", "print(total + 7 * 8)"], 2,
         "scaled by the count from 0"),
        (HOTEL, ["total = 0", "for night in range(3):", "    total += 80", "print(total + 7 * 8)"], None, None),
        (HOTEL, ["total = 0", "for day in range(1, 3 + 1):", "    total += 80 * day", "print(total + 7 * 8)"], None,
         None),
    ],
)  # fmt: skip
def test_a_program_that_adds_a_share_or_a_loops_count_misreads_the_problem(
    problem: str, lines: list[str], first_bad_step: int | None, why: str | None
) -> None:
    checked = check_trace(problem, "\n".join(lines))
    assert checked.first_bad_step == first_bad_step
    assert (checked.error is None) if why is None else why in checked.error.detail


FEED = (
    "Dexter has five pigs. Each one eats 4 pounds of feed, twice a day. If Dexter ordered 300 pounds of feed, how "
    "many pounds of feed is left after a week?"
)
SHOP = (
    "Josh services 3 cars a day. He is open every day but Sunday and Wednesday. He gets $4 a car. How much in 2 weeks?"
)
DRIVE = (
    "The drive from Bernadette's apartment takes four times as long as the drive from Wayne's hotel. It takes Wayne "
    "four minutes. She wants to arrive 5 minutes before him. How much earlier should she leave than Wayne?"
)


@pytest.mark.parametrize(
    ("problem", "lines", "first_bad_step"),
    [
        (FEED, ["per_meal = 4", "meals = 2", "used = per_meal * meals * 7 * 5 / 2", "print(300 - used)"], 2),
        (FEED, ["per_meal = 4", "meals = 2", "used = per_meal * meals * 7 * 5", "print(300 - used)"], None),
        (FEED, ["pigs = 5", "meals = 2", "used = 4 * meals * 7 * pigs", "print(300 - used)"], None),
        (SHOP, ["weeks = 2", "hours = 8 - 2", "days = 7 - 2", "cars = 3 * hours * days * weeks", "print(cars)"], 1),
        (SHOP, ["weeks = 2", "days = 7 - 2", "cars = 3 * days * weeks", "print(cars * 4)"], None),
        (  # a day's 7 turns days into weeks, whatever else the problem gives as 7
            "Ann has 7 hens. Each lays 2 eggs a day. How many eggs in 2 weeks?",
            ["hens = 7", "per_day = hens * 2", "print(per_day * 7 * 2)"],
            None,
        ),
        (  # "parents" are 2 as much as "2 popcorns" are
            "A family of parents and a child go to the cinema. An adult ticket is $12 and a child ticket $8. They buy "
            "2 popcorns for $3 each. How many dollars do they pay?",
            ["popcorns = 2", "total = 2 * 12 + 8 + popcorns * 3", "print(total)"],
            None,
        ),
        (  # the problem gives 4 twice: named once, written once more
            "A pen costs $4 and a book 4 times as much. How much do both cost?",
            ["pen = 4", "book = 4 * pen", "print(pen + book)"],
            None,
        ),
        (  # a program the interpreter cannot run is judged on it too
            DRIVE,
            ["from sympy import solve", "w = 4", "x = Symbol('x')", "t = solve(4*x + 4 - 5)[0]", "print(t - w)"],
            3,
        ),
    ],
)  # fmt: skip
def test_a_program_that_writes_a_named_given_again_uses_it_for_what_the_problem_does_not_say(
    problem: str, lines: list[str], first_bad_step: int | None
) -> None:
    checked = check_trace(problem, "\n".join(lines))
    assert checked.first_bad_step == first_bad_step
    if first_bad_step is None:
        assert checked.error is None
    else:
        assert checked.error.code == "misread_fact" and "named already, written again" in checked.error.detail
