"""The checks aimed at errors real models make: unknowns held to the equations they solve, expressions with an unknown
never evaluated as numbers, and a trace held to a worked reference solution's answer."""

from fractions import Fraction

import pytest

from filters.steps import check_trace, find_reasoning_error, step_depth
from filters.steps.setups import set_up_origin


def _assert_misread(problem: str, trace: str, error: str | None) -> None:
    """The trace is kept (``error`` None) or rejected as ``misread_fact`` with that detail."""
    found = find_reasoning_error(problem, trace)
    assert (found is None) if error is None else found == f"misread_fact: {error}"


BIKES = "Alisa biked 12 miles per hour for 4.5 hours. Stanley biked at x miles per hour for 2.5 hours. They biked 79."


@pytest.mark.parametrize(
    ("trace", "error"),
    [
        ("Step 1: 12 * 4.5 = 54 miles.\nStep 2: 54 + 2.5x = 79.\nStep 3: Solving for x, we get: x = 12.", "x = 12"),
        ("Step 1: 54 + 2.5x = 79.\nStep 2: 2.5x = 25.\nStep 3: x = 10.\nThe answer is \\boxed{10}.", None),
        ("Step 1: 54 miles + 2.5x miles = 79 miles, so x = 10.\nThe answer is \\boxed{10}.", None),
        # a unit after the unknown's term is the term's, not the end of the equation's side
        ("Step 1: 79 = (54 miles + 2.5x miles)\nStep 2: x = 10 miles per hour.\nThe answer is \\boxed{10}.", None),
        (
            "Step 1: 79 = (54 miles + 2.5x miles)\nStep 2: x = (79 / 2.5) miles\nThe answer is \\boxed{31.6}.",
            "x = 31.6",
        ),
        ("Step 1: 54 + 2.5x = 79.\nStep 2: x = 9.5.\nThe answer is \\boxed{9.5}.", "x = 9.5"),
        ("Step 1: Let x be his speed. 3(x - 2) + 30 = 54.\nStep 2: x = 10.\nThe answer is \\boxed{10}.", None),
        ("Step 1: Let x be his speed. 3(x - 2) + 30 = 54.\nStep 2: x = 8.\nThe answer is \\boxed{8}.", "x = 8"),
    ],
)
def test_a_solved_unknown_must_solve_the_equation_stated_for_it(trace: str, error: str | None) -> None:
    found = find_reasoning_error(BIKES, trace)
    assert (found is None) if error is None else (found is not None and f"false_calculation: {error}" in found)


@pytest.mark.parametrize(
    "trace",
    [
        "Step 1: P + 3 + 3 = P + 6 pages.\nStep 2: 5P + 30 = 95, so 5P = 65 and P = 13.\nThe answer is \\boxed{13}.",
        "Step 1: Let x be the third score. Bowler 1: 3x(1/3) = x.\nStep 2: x + 3x + x = 810, 5x = 810, x = 162.\n"
        "The answer is \\boxed{162}.",
        "Step 1: 3Y/3 = 120/3 or Y = 40 minutes.\nThe answer is \\boxed{40}.",
        "Step 1: The 3 sisters are 3 * x = 3x years old.\nStep 2: 36 + 3x = 84, so 3x = 48 and x = 16.\n"
        "The answer is \\boxed{16}.",
    ],
)
def test_simplifications_and_names_are_not_equations_to_solve(trace: str) -> None:
    assert find_reasoning_error("A problem with 95 pages, 810 points, 120 minutes and 84 years.", trace) is None


JERRY = "Jerry is twice as old as he was 5 years ago. How old will Jerry be in 3 years?"


@pytest.mark.parametrize(
    ("trace", "error"),
    [
        ("Step 1: Let x be his age now.\nStep 2: x + 3 = 2(x/2).\nStep 3: x = 3.\nThe answer is \\boxed{6}.",
         "no x solves"),
        ("Step 1: Let x be his age now.\nStep 2: x - 5 + 5 = x + 1 - 1.\nStep 3: x = 2(x - 5), so x = 10.\n"
         "Step 4: 10 + 3 = 13.\nThe answer is \\boxed{13}.", None),
        ("Step 1: Let x be his age now.\nStep 2: x = 2(x - 5) = 2x - 10, so x = 10.\nStep 3: 10 + 3 = 13.\n"
         "The answer is \\boxed{13}.", None),
        ("Step 1: Let x be his age now.\nStep 2: 2(x - 5) + x = 2x - 10 + x = 3x - 10 = 20, so x = 10.\n"
         "Step 3: 10 + 3 = 13.\nThe answer is \\boxed{13}.", None),
        ("Step 1: Let x be his age now.\nStep 2: 3x + 5 = x + 25, so 2x = 20 and x = 10.\nStep 3: 10 + 3 = 13.\n"
         "The answer is \\boxed{13}.", None),
        ("Step 1: Let x be his age now.\nStep 2: x - (3/8)*x - (1/4)*x = x - (4/8)*x - (2/8)*x = (2/8)*x.\n"
         "Step 3: (2/8)*x = 5, so x = 20.\nStep 4: 20 + 3 = 23.\nThe answer is \\boxed{23}.",
         "a simplification in x changes its value"),
        ("Step 1: Let x be his age now.\nStep 2: (1/4)*x + (1/3)*x = (5/12)*x.\nStep 3: (5/12)*x = 5, so x = 12.\n"
         "Step 4: 12 + 3 = 15.\nThe answer is \\boxed{15}.",
         "a simplification in x changes its value (only x = 0 solves it)"),
        ("Step 1: Let x be his age now.\nStep 2: (60x * 5) / 15 = 40x.\nStep 3: 40x = 120, so x = 3.\n"
         "Step 4: 3 + 3 = 6.\nThe answer is \\boxed{6}.",
         "a simplification in x changes its value (only x = 0 solves it)"),
        ("Step 1: Let x be his age now.\nStep 2: (1/4)*x + (1/4)*x = x/2.\nStep 3: x/2 = 5, so x = 10.\n"
         "Step 4: 10 + 3 = 13.\nThe answer is \\boxed{13}.", None),
        ("Step 1: Let x be his age now.\nStep 2: 5 + 2x + 4 = 10 + 2x.\nStep 3: 10 + 2x = 30, so x = 10.\n"
         "Step 4: 10 + 3 = 13.\nThe answer is \\boxed{13}.", "no x solves"),  # "2x." ends a sentence, no product
        ("Step 1: Let x be his age now.\nStep 2: 500 * x / 60 = 8.33x (rounded to two decimal places).\n"
         "Step 3: 8.33x = 25, so x = 3.\nThe answer is \\boxed{3}.", None),  # rounded, not changed
        ("Step 1: Let x be his age now.\nStep 2: 8.33x * 150 = 12375x (rounded to two decimal places).\n"
         "Step 3: 12375x = 24750, so x = 2.\nThe answer is \\boxed{2}.",  # a remark in brackets is no product
         "a simplification in x changes its value (only x = 0 solves it)"),
    ],
)  # fmt: skip
def test_an_equation_no_value_solves_is_a_false_step(trace: str, error: str | None) -> None:
    """Both sides with the unknown: one that always holds simplifies, one that never holds is wrong, one that holds
    for one value is solved later, except where that value is 0 (a simplification written as an equation: no word
    problem asks for an unknown of 0); the members of a simplification (a chain of expressions in the unknown) are
    one expression written anew, so two that differ are wrong."""
    found = find_reasoning_error(JERRY, trace)
    assert (found is None) if error is None else (found is not None and f"false_calculation: {error}" in found)


WORKOUT = "Josh worked out for 8 weeks, 4 hours a week. Pepe is 5 feet 6 inches tall; Ben is 1 foot taller."


@pytest.mark.parametrize(
    ("trace", "error"),
    [
        ("Step 1: He missed 8 - 4 = 4 hours.\nThe answer is \\boxed{4}.", "8 - 4 adds weeks and hours unconverted"),
        ("Step 1: Ben is 6 + 1 = 7 feet tall.\nThe answer is \\boxed{7}.", "6 + 1 adds inches and feet unconverted"),
        ("Step 1: Pepe is 5.5 feet tall.\nStep 2: 5.5 + 0.5 = 6 feet.\nStep 3: Ben is 6 + 1 = 7 feet tall.\n"
         "The answer is \\boxed{7}.", None),  # the 6 of step 3 is step 2's, not the 6 inches
        ("Step 1: 8 * 4 = 32 hours.\nStep 2: 32 + 4 = 36 hours.\nThe answer is \\boxed{36}.", None),
        ("Step 1: 6 / 12 = 0.5 feet, so 5 + 6 / 12 = 5.5 feet.\nThe answer is \\boxed{5.5}.", None),
        ("Step 1: 4 + 8(7) = 60 days.\nThe answer is \\boxed{60}.", None),
        # the 4 a line works out before it uses it is that result, not the problem's 4 hours
        ("Step 1: He rested 2 + 2 = 4 weeks, so 8 - 4 = 4 weeks.\nThe answer is \\boxed{4}.", None),
    ],
)  # fmt: skip
def test_given_quantities_in_different_units_are_not_added_unconverted(trace: str, error: str | None) -> None:
    found = find_reasoning_error(WORKOUT, trace)
    assert (found is None) if error is None else found == f"false_calculation: {error}"


TUTOR = "Lloyd earns $10 an hour. He tutored 5 hours the first week and 8 hours the second. How much did he earn?"
MILK = "A store bought 4000 gallons of milk at $3.5 per gallon and returned 2/5 of it. How much is the refund?"
RUN = "Jeff runs an hour a day. On Thursday he cut his run short by 20 minutes; on Friday he ran 10 minutes more."
WOOL = "Azalea sheared 200 sheep, 10 pounds of wool each, sold at $20 a pound, and paid the shearer $2000. Profit?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (TUTOR, "Step 1: He earns $10 x 5 = $<<10*5=50>>50 the first week.\nStep 2: So $50 + $8 = $58.\n#### 58",
         "50 + 8 adds dollars and hours unconverted"),  # 8 is the problem's hours, whatever sign the step puts on it
        (MILK, "Step 1: The milk cost 4000 * $3.5 = $14,000.\nStep 2: He returned 2/5 * 4000 = 1600 gallons.\n"
         "Step 3: The refund is $14,000 - 1600 = $12,400.\n#### 12400",
         "14,000 - 1600 adds dollars and gallons unconverted"),  # units the steps gave their own results
        (MILK, "Step 1: The milk cost 4000 * $3.5 = $14,000.\nStep 2: He returned 2/5 * 4000 = 1600 gallons.\n"
         "Step 3: The refund is 1600 * $3.5 = $5600.\n#### 5600", None),
        (WOOL, "Step 1: 200 * 10 = 2000 pounds of wool.\nStep 2: 2000 * $20 = $40000.\n"
         "Step 3: Her profit is $40000 - $2000 = $38000.\n#### 38000", None),  # 2000 is also a given: either one
        # inline math between dollar signs is no money: "$60+10 = 70$ minutes" adds minutes
        (RUN, "On Thursday, Jeff ran for 60 - 20 = $60-20 = 40$ minutes.\nOn Friday, 60 + 10 = $60+10 = 70$ minutes."
         "\nIn all, 60 * 3 + 40 + 70 = 290 minutes.\nThe answer is \\boxed{290}.", None),
    ],
)  # fmt: skip
def test_quantities_the_steps_work_out_keep_their_units(problem: str, trace: str, error: str | None) -> None:
    found = find_reasoning_error(problem, trace)
    assert (found is None) if error is None else found == f"false_calculation: {error}"


TRIP = "Michael drives at an average speed of 50 km/hr for 3 days. The distance to Texas is 6000 km."


@pytest.mark.parametrize(
    ("trace", "first_bad", "error"),
    [
        ("Step 1: He drives 50 km/hr * 3 days = 150 km.\nThe answer is \\boxed{150}.", 0,
         "50 km/hr * 3 days = 150 km multiplies a rate in km/hr by days unconverted"),
        ("Step 1: He drives 3 days.\nStep 2: So 3 days x 50 km per hour = 150 km.\nThe answer is \\boxed{150}.", 1,
         "3 days x 50 km per hour = 150 km multiplies a rate in km/hour by days unconverted"),
        ("Step 1: 3 days is 3 * 24 = 72 hours.\nStep 2: 50 km/hr * 72 hours = 3600 km.\n"
         "The answer is \\boxed{3600}.", None, None),
        ("Step 1: 50 km/hr * 3 days * 24 hours/day = 3600 km.\nThe answer is \\boxed{3600}.", None, None),
        ("Step 1: 50 km/hr * 3 hours = 150 km.\nThe answer is \\boxed{150}.", None, None),
    ],
)  # fmt: skip
def test_a_rate_times_an_amount_in_another_unit_of_its_kind_is_converted(
    trace: str, first_bad: int | None, error: str | None
) -> None:
    checked = check_trace(TRIP, trace)
    assert checked.first_bad_step == first_bad
    assert (checked.error is None) if error is None else str(checked.error) == f"false_calculation: {error}"


FISH = "Jen got 3 fish. They each need $1 worth of food a day. How much does she spend on food in the month of May?"
EMAILS = "James responds to 320 emails in a 5 day work week. How many emails does he answer a day?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (FISH, "Step 1: 3 * 1 = 3 dollars a day.\nStep 2: There are 30 days in the month of May, so 3 * 30 = 90.\n"
         "The answer is \\boxed{90}.", "There are 30 days in the month of May: there are 31"),
        (FISH, "Step 1: 3 * 1 = 3 dollars a day.\nStep 2: There are 31 days in May, so 3 * 31 = 93.\n"
         "The answer is \\boxed{93}.", None),
        (FISH, "Step 1: She feeds them for 12 hours a day, and there are 12 hours in a day.\nStep 2: 3 * 31 = 93.\n"
         "The answer is \\boxed{93}.", "there are 12 hours in a day: there are 24"),
        (FISH, "Step 1: The fish eat 3 hours per day.\nStep 2: 3 * 31 = 93.\nThe answer is \\boxed{93}.", None),
        (EMAILS, "Step 1: Since there are 5 days in a week, 320 / 5 = 64.\nThe answer is \\boxed{64}.", None),
    ],
)  # fmt: skip
def test_a_conversion_fact_must_hold(problem: str, trace: str, error: str | None) -> None:
    found = find_reasoning_error(problem, trace)
    assert (found is None) if error is None else found == f"false_calculation: {error}"


TASK = "Susan earns $5 every 10 minutes. She works from 8 a.m. to 11 a.m. How much money does she earn?"
WATER = "John drinks a bottle of water every half hour. How many bottles does he drink in a 45 minute puzzle?"
DOWNLOAD = "An internet connection downloads 20 kb per second. How many kb does it download in an hour?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # a real solution: a rate per hour over 30 is not a rate per minute
            WATER,
            "Step 1: He drinks 2 bottles in one hour.\nStep 2: He drinks 2/30 = 1/15 bottles in one minute.\n"
            "Step 3: 45 * 1/15 = 3 bottles.\nThe answer is \\boxed{3}.",
            "false_calculation: 2/30 = 1/15 bottles in one minute: one hour is 60 minutes",
        ),
        (
            WATER,
            "Step 1: He drinks 2 bottles in one hour.\nStep 2: He drinks 2/60 = 1/30 bottles in one minute.\n"
            "Step 3: 45 * 1/30 = 1.5 bottles.\nThe answer is \\boxed{1.5}.",
            None,
        ),
        (  # a rate per minute times 60 is one per hour, times anything else is not
            WATER,
            "Step 1: He sips 3 ounces per minute.\nStep 2: 3 * 30 = 90 ounces per hour.\nThe answer is \\boxed{90}.",
            "false_calculation: 3 * 30 = 90 ounces per hour: one hour is 60 minutes",
        ),
        (  # a factor a step gives: $100 a day over its 10 hours is $10 an hour
            "John makes $80 a day and a $20 bonus for 2 extra hours on top of his 8. What does he make per hour?",
            "Step 1: 8 + 2 = 10 hours.\nStep 2: 80 + 20 = 100 dollars a day.\nStep 3: 100/10 = 10 dollars an hour.\n"
            "The answer is \\boxed{10}.",
            None,
        ),
        (  # a real solution: kb/s over s/h has seconds twice below, not cancelled
            DOWNLOAD,
            "Step 1: 60 * 60 = 3600 seconds in an hour.\nStep 2: 20 kb/s / 3600 s/h = 0.005556 kb/h.\n"
            "The answer is \\boxed{0.005556}.",
            "false_calculation: 20 kb/s / 3600 s/h divides by a rate with s on top; it multiplies",
        ),
        (
            DOWNLOAD,
            "Step 1: 60 * 60 = 3600 seconds in an hour.\nStep 2: 20 kb/s * 3600 s/h = 72000 kb/h.\n"
            "The answer is \\boxed{72000}.",
            None,
        ),
        (  # a real solution: $5 every 10 minutes is no $5 a minute
            TASK,
            "Step 1: She works 11-8 = <<11-8=3>>3 hours.\nStep 2: 3*60 = <<3*60=180>>180 minutes.\n"
            "Step 3: So she earns $5*180 = $<<5*180=900>>900.\nThe answer is \\boxed{900}.",
            "misread_fact: 5*180 takes 5 per 10 minutes as per one",
        ),
        (
            TASK,
            "Step 1: She works 11-8 = 3 hours.\nStep 2: 3*60 = 180 minutes.\nStep 3: 180/10 = 18 times.\n"
            "Step 4: She earns $5*18 = $90.\nThe answer is \\boxed{90}.",
            None,
        ),
        (  # the several used in a rate per one: 5/10 = 0.5 dollars a minute
            TASK,
            "Step 1: She earns 5/10 = 0.5 dollars a minute.\nStep 2: 3*60 = 180 minutes.\n"
            "Step 3: 0.5 * 180 = 90 dollars.\nThe answer is \\boxed{90}.",
            None,
        ),
    ],
)
def test_a_rate_is_converted_by_its_units_factor(problem: str, trace: str, error: str | None) -> None:
    assert find_reasoning_error(problem, trace) == error


BUS = "A bus has a capacity of 200 people. At the third station 180 people are on the bus. How many seats are empty?"
MARBLES = "Ben has 5 marbles and loses 2 of them. How many marbles does Ben have?"


LIBRARY = "A class library has 9 books. Diego receives a donation of 12 books. How many books does Diego have now?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # a demo published this row: its answer is right, its first step a product of two counts of books
            LIBRARY,
            "Step 1: Diego has 9 * 12 = 108 books.\nStep 2: 12 + 9 = 21 books are in the library now.\n"
            "The answer is \\boxed{21}.",
            "misread_fact: 9 * 12 multiplies two counts of the same things",
        ),
        (LIBRARY, "Step 1: Diego has 9 + 12 = 21 books.\nThe answer is \\boxed{21}.", None),
        (  # counts of different things multiply: boxes of books
            "Diego has 3 boxes with 12 books in each box. How many books does he have?",
            "Step 1: He has 3 * 12 = 36 books.\nThe answer is \\boxed{36}.",
            None,
        ),
        (  # sizes are no counts: "3 trees by 4 trees", "5 bricks high"
            "John plants a plot of 3 trees by 4 trees. Each tree gives 5 apples. How many apples does he get?",
            "Step 1: He has 3*4 = 12 trees.\nStep 2: 12 * 5 = 60 apples.\nThe answer is \\boxed{60}.",
            None,
        ),
        (  # units of measure multiply into areas
            "A rectangle has a length of 3 inches and a width of 6 inches. What is its area?",
            "Step 1: The area is 3 x 6 = 18 square inches.\nThe answer is \\boxed{18}.",
            None,
        ),
        (  # GSM8K train solutions, each sound: a factor a step worked out is no given ("15 - 9 = 6 large pizzas")
            "A small pizza has 6 slices and a large pizza has 12 slices. You buy 15 pizzas, 9 of them small. How many "
            "slices do you have?",
            "Step 1: 15 - 9 = <<15-9=6>>6 large pizzas.\nStep 2: 6 * 12 = <<6*12=72>>72 slices.\n"
            "Step 3: 9 * 6 = <<9*6=54>>54 slices.\nStep 4: 72 + 54 = <<72+54=126>>126 slices.\n"
            "The answer is \\boxed{126}.",
            None,
        ),
        (  # labelled as other things, even where a calculator note repeats the product bare
            "Each of her 4 siblings brings 2 suitcases, and her parents bring 3 suitcases. How many are there?",
            "Step 1: 4 siblings * 2 suitcases each = <<4*2=8>>8 suitcases.\n"
            "Step 2: 2 parents * 3 suitcases each = <<2*3=6>>6 suitcases.\nStep 3: 8 + 6 = <<8+6=14>>14 suitcases.\n"
            "The answer is \\boxed{14}.",
            None,
        ),
        (  # a number the problem also writes in words: "Five baskets" and "5 peaches"
            "There were 25 peaches in each basket. Five baskets were delivered. The farmers ate 5 peaches. How many "
            "peaches are left?",
            "Step 1: 5 x 25 = <<5*25=125>>125 peaches.\nStep 2: 125 - 5 = <<125-5=120>>120 peaches.\n"
            "The answer is \\boxed{120}.",
            None,
        ),
        (  # one side of a grid, and a count of the second of two nouns ("30 matchsticks houses")
            "A wall has 8 tiles running the width and 20 tiles running the height. How many tiles are on the wall?",
            "Step 1: 8*20 = <<8*20=160>>160 tiles.\nThe answer is \\boxed{160}.",
            None,
        ),
        (
            "He makes 30 matchsticks houses, and each house uses 10 matchsticks. How many matchsticks did he use?",
            "Step 1: 30*10 = <<30*10=300>>300 matchsticks.\nThe answer is \\boxed{300}.",
            None,
        ),
    ],
)
def test_two_counts_of_the_same_things_do_not_multiply(problem: str, trace: str, error: str | None) -> None:
    assert find_reasoning_error(problem, trace) == error


HOBBIES = (
    "A class of 50 students: 10 like to bake, 5 like to play basketball, and the rest play video games or music. How "
    "many play video games if twice as many play music as basketball?"
)


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # a real solution: half of 15 students
            HOBBIES,
            "Step 1: 10+5=<<10+5=15>>15 students.\nStep 2: Then 15/2=<<15/2=7.5>>7.5 students like to play basketball."
            "\nStep 3: 50-7.5-10-5=<<50-7.5-10-5=27.5>>27.5 students.\nThe answer is \\boxed{27.5}.",
            "misread_fact: 7.5 students: a count of students is whole",
        ),
        (
            HOBBIES,
            "Step 1: 5*2 = 10 students play music.\nStep 2: 50-10-5-10 = 25 students.\nThe answer is \\boxed{25}.",
            None,
        ),
        (  # an average may be fractional
            "Two classes have 15 and 16 students. What is the average class size?",
            "Step 1: 15 + 16 = 31 students.\nStep 2: The average is 31/2 = 15.5 students.\n"
            "The answer is \\boxed{15.5}.",
            None,
        ),
        (  # a trace that rounds its fraction up has read it as one
            "25 students go on a trip in cars that seat 4. How many cars are needed?",
            "Step 1: 25/4 = 6.25 cars.\nStep 2: We round up: 6 + 1 = 7 cars.\nThe answer is \\boxed{7}.",
            None,
        ),
    ],
)
def test_a_count_of_people_is_whole(problem: str, trace: str, error: str | None) -> None:
    assert find_reasoning_error(problem, trace) == error


PLAYLISTS = "A playlist has 300 songs, each 10 hours long. How many hours do John's 20 playlists last in total?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # a real solution: hours shared among the playlists are hours per playlist
            PLAYLISTS,
            "Step 1: 300 * 10 = 3000 hours.\nStep 2: The 20 playlists last 3000 hours / 20 playlists = 150 hours in "
            "total.\nThe answer is \\boxed{150}.",
            "misread_fact: 3000 hours / 20 playlists = 150 hours is a share of each of the playlists, not a total",
        ),
        (
            PLAYLISTS,
            "Step 1: 300 * 10 = 3000 hours.\nStep 2: They last a total of 3000 hours / 20 playlists = 150 hours.\n"
            "The answer is \\boxed{150}.",
            "misread_fact: 3000 hours / 20 playlists = 150 hours is a share of each of the playlists, not a total",
        ),
        (  # the share named as one: per playlist, each
            PLAYLISTS,
            "Step 1: 3000 hours / 20 playlists = 150 hours per playlist.\nStep 2: 150 * 20 = 3000 hours in total."
            "\nThe answer is \\boxed{3000}.",
            None,
        ),
        (  # a division by a rate is a total: 120 minutes / 60 minutes per hour
            "A film lasts 120 minutes. How many hours is it?",
            "Step 1: 120 minutes / 2 halves = 60 minutes each.\nStep 2: 120 minutes / 60 minutes per hour = 2 hours "
            "in total.\nThe answer is \\boxed{2}.",
            None,
        ),
        (  # the same things on both sides: a count of pieces, not a share
            "A 30 foot rope is cut into 3 foot pieces. How many pieces are there in total?",
            "Step 1: 30 feet / 3 feet = 10 pieces in total.\nThe answer is \\boxed{10}.",
            None,
        ),
    ],
)
def test_a_share_of_each_is_no_total(problem: str, trace: str, error: str | None) -> None:
    assert find_reasoning_error(problem, trace) == error


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (BUS, "Step 1: To fill the bus we need 180 - 180 = 0 people.\nThe answer is \\boxed{0}.",
         "180 - 180 = 0 takes a quantity from itself"),
        (MARBLES, "Step 1: Ben loses 5 marbles - 5 marbles = 0 marbles.\nThe answer is \\boxed{0}.",
         "5 marbles - 5 marbles = 0 takes a quantity from itself"),
        (BUS, "Step 1: To fill the bus we need 200 - 180 = 20 people.\nThe answer is \\boxed{20}.", None),
        (MARBLES, "Step 1: 2 * 5 - 5 = 5 marbles.\nStep 2: 5 - 2 = 3 marbles.\nThe answer is \\boxed{3}.", None),
        (MARBLES, "Step 1: He keeps 5 - 2 = 3 marbles; 3 + 2 - 5 = 0 are missing.\nThe answer is \\boxed{3}.", None),
    ],
)  # fmt: skip
def test_a_quantity_taken_from_itself_is_misread(problem: str, trace: str, error: str | None) -> None:
    _assert_misread(problem, trace, error)


BASKETS = (
    "A basket of green food costs $25 and a basket of red food costs $18. If you buy 3 baskets of green food and red "
    "food, how much will you have to pay in total if you get $2 off for each basket of red food?"
)
TRUCK = (
    "By the end of the first street there are 5 children chasing the truck. On the second street, each child is "
    "joined by another child. How many children are chasing the truck?"
)
CALLS = "Ali calls 3 families. Then each family calls 3 other families. How many families are called in the 2nd round?"
DONUTS = "Andrew wants 3 donuts for each of his 2 friends, and 1 extra donut for each friend. How many per friend?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (BASKETS, "Step 1: 3 baskets of red food cost 3 x $18 = $54.\nStep 2: You get $2 off for each basket of red "
         "food, so the red food costs $54 - $2 = $52.\nThe answer is \\boxed{127}.",
         "54 - 2 = 52: 2 off for each basket comes once for each"),
        (TRUCK, "Step 1: Each child is joined by another child, so there are 5 + 1 = 6 children.\n"
         "The answer is \\boxed{6}.", "5 + 1 = 6: Each child is joined by another comes once for each"),
        (CALLS, "Step 1: Each family calls 3 other families, so 3 + 3 = 6 families.\nThe answer is \\boxed{6}.",
         "3 + 3 = 6: Each family calls 3 other comes once for each"),
        # once for each thing: a product, or a sum of each thing's own amounts
        (BASKETS, "Step 1: 3 baskets of red food cost 3 x $18 = $54.\nStep 2: You get $2 off for each basket of red "
         "food: $2 x 3 = $6, so $54 - $6 = $48.\nStep 3: 3 x $25 + $48 = $123.\nThe answer is \\boxed{123}.", None),
        (BASKETS, "Step 1: With $2 off for each basket of red food, one costs $18 - $2 = $16.\n"
         "Step 2: 3 x $16 = $48.\nThe answer is \\boxed{48}.", None),
        (TRUCK, "Step 1: Each child is joined by another child, so there are 5 + 5 = 10 children.\n"
         "The answer is \\boxed{10}.", None),
        (DONUTS, "Step 1: With 1 extra donut for each friend, 3 donuts + 1 extra = 4 donuts for each friend.\n"
         "The answer is \\boxed{4}.", None),
    ],
)  # fmt: skip
def test_an_amount_for_each_comes_once_for_each(problem: str, trace: str, error: str | None) -> None:
    _assert_misread(problem, trace, error)


BUS_STOPS = "48 people ride a bus. At a stop, 21 passengers get off and 3 times fewer get on. How many ride on?"
AGES = "Billy is 3 times younger than Gladys. Billy is 10 years old. How old is Gladys?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (BUS_STOPS, "Step 1: 48 - 21 = 27 people.\nStep 2: 3 times fewer passengers get on, so 3 * 21 = 63 people get "
         "on.\nStep 3: 27 + 63 = 90.\nThe answer is \\boxed{90}.",
         "3 * 21 = 63: 3 times fewer divides by 3"),
        (BUS_STOPS, "Step 1: 48 - 21 = 27 people.\nStep 2: 3 times fewer passengers get on, so 21 / 3 = 7 people get "
         "on.\nStep 3: 27 + 7 = 34.\nThe answer is \\boxed{34}.", None),
        # with "than", the line may work out the larger quantity from the smaller
        (AGES, "Step 1: Billy is 3 times younger than Gladys, so Gladys is 3 * 10 = 30 years old.\n"
         "The answer is \\boxed{30}.", None),
    ],
)  # fmt: skip
def test_n_times_fewer_is_a_division(problem: str, trace: str, error: str | None) -> None:
    _assert_misread(problem, trace, error)


BAKING = "Paige bakes 2 loaves an hour. If she baked from 1:00 PM - 6:00 PM straight, how many loaves did she bake?"
SHIFT = "Ann works from 9 am to 5 pm and packs 10 boxes an hour. How many boxes does she pack?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (BAKING, "Step 1: In 6 hours, she bakes 2 x 6 = 12 loaves.\nThe answer is \\boxed{12}.",
         "Step 1: In 6 hours, she bakes 2 x 6 = 12 loaves. (the problem: from 1:00 PM - 6:00 PM)"),
        (SHIFT, "Step 1: She packs 10 boxes an hour for 9 hours.\nStep 2: 10 * 9 = 90.\nThe answer is \\boxed{90}.",
         "Step 1: She packs 10 boxes an hour for 9 hours. (the problem: from 9 am to 5 pm)"),
        (BAKING, "Step 1: From 1:00 PM to 6:00 PM is 6 - 1 = 5 hours.\nStep 2: In 5 hours, she bakes 2 x 5 = 10 "
         "loaves.\nThe answer is \\boxed{10}.", None),
        (SHIFT, "Step 1: From 9 am to 5 pm is 8 hours.\nStep 2: 10 * 8 = 80.\nThe answer is \\boxed{80}.", None),
        (SHIFT, "Step 1: 9 hours after 9 am she has worked 9 - 1 = 8 hours.\nStep 2: 10 * 8 = 80.\n"
         "The answer is \\boxed{80}.", None),
    ],
)  # fmt: skip
def test_the_hours_between_clock_times_are_not_one_of_them(problem: str, trace: str, error: str | None) -> None:
    _assert_misread(problem, trace, error)


DOUGHNUTS = "A bakery makes 120 doughnuts every day and sells each for $2. How much does it make in June?"
SAVINGS = "Mia saves $15 each week. How much has she saved in a year?"
COBBLER = "A cobbler mends 3 pairs an hour for 8 hours a day from Monday to Thursday. How many pairs in a week?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (DOUGHNUTS, "Step 1: It makes 120 x $2 = $240 in June.\nThe answer is \\boxed{240}.",
         "Step 1: It makes 120 x $2 = $240 in June. (rates per day, never turned into one per month)"),
        (SAVINGS, "Step 1: Mia saves $15 each week.\nStep 2: In a year she has saved 15 * 12 = $180.\n"
         "The answer is \\boxed{180}.",
         "Step 2: In a year she has saved 15 * 12 = $180. (rates per week, never turned into one per year)"),
        (DOUGHNUTS, "Step 1: June has 30 days.\nStep 2: 120 x $2 x 30 = $7200 in June.\nThe answer is \\boxed{7200}.",
         None),
        (SAVINGS, "Step 1: A year has 52 weeks, so 15 * 52 = $780.\nThe answer is \\boxed{780}.", None),
        # a problem that names its days counts them itself
        (COBBLER, "Step 1: 3 * 8 = 24 pairs a day.\nStep 2: In a week, 24 * 4 = 96 pairs.\nThe answer is \\boxed{96}.",
         None),
    ],
)  # fmt: skip
def test_a_rate_per_day_is_turned_into_the_period_asked_about(problem: str, trace: str, error: str | None) -> None:
    _assert_misread(problem, trace, error)


CHICKENS = (
    "Lena keeps 13 chickens on a farm. Lena sells 5 chickens at the market. How many chickens does Lena count now?"
)
MARBLES = (
    "Emma has 28 marbles. Tom has 5 marbles. A friend gives Emma 11 more marbles. How many marbles does Emma have now?"
)


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        # a row a demo published on 2026-12-06
        (CHICKENS, "Step 1: Lena has 5 chickens.\nStep 2: 13 - 5 = 8.\nThe answer is \\boxed{8}.",
         "Step 1: Lena has 5 chickens. (the problem: Lena keeps 13 chickens)"),
        (CHICKENS, "Step 1: At first she has 5 chickens.\nStep 2: 13 - 5 = 8.\nThe answer is \\boxed{8}.",
         "Step 1: At first she has 5 chickens. (the problem: Lena keeps 13 chickens)"),
        (MARBLES, "Step 1: Emma has 11 marbles.\nStep 2: 28 + 11 = 39.\nThe answer is \\boxed{39}.",
         "Step 1: Emma has 11 marbles. (the problem: Emma has 28 marbles)"),
        (CHICKENS, "Step 1: Lena has 13 chickens.\nStep 2: She sells 5, so 13 - 5 = 8.\nThe answer is \\boxed{8}.",
         None),
        # a result, once a step has calculated, may be held
        (CHICKENS, "Step 1: 13 - 5 = 8.\nStep 2: Lena has 8 chickens.\nThe answer is \\boxed{8}.", None),
        # with two holders, "she" may be the other one; Tom holds his own 5
        (MARBLES, "Step 1: Tom has 5 marbles.\nStep 2: 28 + 11 = 39.\nThe answer is \\boxed{39}.", None),
    ],
)  # fmt: skip
def test_a_holding_the_problem_gives_is_not_restated_as_another_number(
    problem: str, trace: str, error: str | None
) -> None:
    _assert_misread(problem, trace, error)


TOBY = (
    "Toby reads a 9000-word book at 300 words per minute. He has to be at the airport in 60 minutes and it takes 10 "
    "minutes to get there. How many minutes early will Toby be?"
)
BOXES = "A large box costs 480 cents for 30 ounces, a small 340 cents for 20. What is the lowest price per ounce?"
READING = "Step 1: Toby needs 9000 / 300 = 30 minutes to read the book.\n"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (TOBY, READING + "Step 2: He must leave within 60 - 10 = 50 minutes.\nStep 3: So Toby will be 30 minutes "
         "early.\nThe answer is \\boxed{30}.",
         "Step 3: So Toby will be 30 minutes early. (the last calculation, 50, is left unused)"),
        (TOBY, READING + "Step 2: He must leave within 60 - 10 = 50 minutes.\nStep 3: 50 - 30 = 20 minutes early.\n"
         "The answer is \\boxed{20}.", None),
        (TOBY, READING + "Step 2: To check, 30 * 300 = 9000 words.\nStep 3: So Toby will be 30 minutes early.\n"
         "The answer is \\boxed{30}.", None),
        (BOXES, "Step 1: 480 / 30 = 16 cents per ounce.\nStep 2: 340 / 20 = 17 cents per ounce.\nStep 3: The lower "
         "price is 16 cents.\nThe answer is \\boxed{16}.", None),
    ],
)  # fmt: skip
def test_an_answer_is_not_an_earlier_result_the_last_calculation_passed_over(
    problem: str, trace: str, error: str | None
) -> None:
    _assert_misread(problem, trace, error)


DIEGO = "Diego bakes 12 cookies. Diego gives 8 cookies to the neighbours. How many cookies does Diego have now?"
BOXED = "Diego bakes 12 cookies and packs 4 in each box. How many boxes does he fill?"
JARS = "Ava has 10 marbles. Ava shares the marbles equally among 5 jars. How many marbles are in a jar?"
WAGE = "Weng earns $12 an hour for babysitting. Yesterday, she did 50 minutes of babysitting. How much did she earn?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (DIEGO, "Step 1: There are 8 cookies in each box.\nStep 2: Diego has 12 - 8 = 4 cookies left.\n"
         "The answer is \\boxed{4}.", "There are 8 cookies in each box. (the problem gives no amount for each)"),
        (DIEGO, "Step 1: Diego gives 8 cookies to the neighbours.\nStep 2: Diego has 12 - 8 = 4 cookies left.\n"
         "The answer is \\boxed{4}.", None),
        (BOXED, "Step 1: There are 4 cookies in each box.\nStep 2: 12 / 4 = 3 boxes.\nThe answer is \\boxed{3}.",
         None),
        (JARS, "Step 1: Ava has 10 marbles.\nStep 2: Each jar contains 5 marbles.\nThe answer is \\boxed{5}.",
         "Each jar contains 5 marbles. (the problem gives no amount for each)"),
        (JARS, "Step 1: Ava has 10 marbles.\nStep 2: Each jar contains 10 / 5 = 2 marbles.\n"
         "The answer is \\boxed{2}.", None),
        # a rate the problem gives with "an" is an amount for each ("$12 an hour" restated "$12 per hour")
        (WAGE, "Step 1: Weng earns $12 per hour.\nStep 2: 50 minutes is 50/60 of an hour.\n"
         "Step 3: So she earns 12 * 50/60 = $10.\nThe answer is \\boxed{10}.", None),
    ],
)  # fmt: skip
def test_a_given_is_no_amount_for_each_where_the_problem_has_none(problem: str, trace: str, error: str | None) -> None:
    _assert_misread(problem, trace, error)


PEARS = "George has 45% more pears than bananas. If George has 200 bananas, how many fruits does George have?"
CARDS = "There are 15 red cards and 60% more green cards. How many cards are there?"
HIRED = "A factory employed 852 people, and 25% more workers have just been hired. How many employees are there now?"


@pytest.mark.parametrize(
    ("problem", "trace", "flagged"),
    [
        (PEARS, "Step 1: 45% of 200 bananas is (45/100) * 200 = 90 pears.\nStep 2: 90 + 200 = 290 fruits.\n"
         "The answer is \\boxed{290}.", True),
        (CARDS, "Step 1: 60% of 15 is 0.6 * 15 = 9 green cards.\nStep 2: 15 + 9 = 24 cards.\n"
         "The answer is \\boxed{24}.", True),
        (CARDS, "Step 1: 60% of 15 is .6 * 15 = 9 green cards.\nStep 2: 15 + 9 = 24 cards.\n"
         "The answer is \\boxed{24}.", True),
        (PEARS, "Step 1: He has 45/100 * 200 = 90 more pears.\nStep 2: 200 + 90 = 290 pears.\n"
         "Step 3: 290 + 200 = 490 fruits.\nThe answer is \\boxed{490}.", False),
        (PEARS, "Step 1: 1.45 * 200 = 290 pears.\nStep 2: 290 + 200 = 490 fruits.\nThe answer is \\boxed{490}.",
         False),
        (CARDS, "Step 1: The green cards are 160% of the red: 160/100 * 15 = 24 green cards.\n"
         "Step 2: 15 + 24 = 39 cards.\nThe answer is \\boxed{39}.", False),
        # the percent of is the increase, named new or added (GSM8K's "25% more workers have just been hired")
        (HIRED, "Step 1: 25% of 852 is 852 * 0.25 = 213 new workers.\nStep 2: 852 + 213 = 1065.\n"
         "The answer is \\boxed{1065}.", False),
        (HIRED, "Step 1: The workers added are 25% of 852 = 213 workers.\nStep 2: 852 + 213 = 1065.\n"
         "The answer is \\boxed{1065}.", False),
    ],
)  # fmt: skip
def test_a_percent_more_read_as_a_percent_of_is_misread(problem: str, trace: str, flagged: bool) -> None:
    checked = check_trace(problem, trace)
    assert (
        (checked.first_bad_step == 0 and str(checked.error).startswith("misread_fact: "))
        if flagged
        else (checked.error is None)
    )


def test_an_expression_holding_an_unknown_is_not_evaluated() -> None:
    trace = "Step 1: He has $40 - ($12 + $3x) = $19 left.\nStep 2: 3x = 9, x = 3.\nThe answer is \\boxed{3}."
    assert find_reasoning_error("Craig has $40. He spends $12 and 3 packs at $x. He has $19 left.", trace) is None


CANDLES = (
    "Marcy makes 50000 candles, 99% guaranteed not to explode. 5% of the more dangerous candles also smell like "
    "wet dog. How many both smell like wet dog and explode?"
)
CANDLES_REFERENCE = (
    "100% - 99% = 1%\n1% * 5% = 0.05%\n0.05% * 50000 candles = <<0.05*.01*50000=25>>25 candles\n#### 25"
)


@pytest.mark.parametrize(
    ("trace", "first_bad", "error"),
    [
        (  # the wrong answer: the last working step that states it is the first one shown wrong
            "Step 1: 0.99 * 50000 = 49500 candles.\nStep 2: 5% of 50000 candles is 0.05 * 50000 = 2500 candles.\n"
            "Step 3: So the number that smell and explode is 2500 candles.\nStep 4: #### 2500",
            2,
            "contradicts_reference: 2500 where the reference's answer is 25",
        ),
        (  # a wrong number worked out, then only restated: wrong where it is worked out
            "Step 1: 0.99 * 50000 = 49500 candles do not explode.\nStep 2: 5% of them is 0.05 * 49500 = 2475.\n"
            "Step 3: So 2475 candles smell and explode.\nStep 4: #### 2475",
            1,
            "contradicts_reference: 2475 where the reference's answer is 25",
        ),
        (  # another path to the right answer is not flagged
            "Step 1: 1% of 50000 is 500 candles explode.\nStep 2: 5% of 500 is 0.05 * 500 = 25.\n#### 25",
            None,
            None,
        ),
        (  # a wrong answer no working step states: its own line is the bad step
            "Step 1: 1% explode.\nStep 2: 5% of those smell.\nThe answer is \\boxed{30}.",
            2,
            "answer_not_derived",
        ),
    ],
)
def test_a_reference_holds_the_final_answer(trace: str, first_bad: int | None, error: str | None) -> None:
    checked = check_trace(CANDLES, trace, reference=CANDLES_REFERENCE)
    assert checked.first_bad_step == first_bad
    assert (checked.error is None) if error is None else str(checked.error) == error
    assert find_reasoning_error(CANDLES, trace) in (None, "answer_not_derived")  # without a reference: no answer check


def test_a_reference_without_a_numeric_answer_settles_nothing() -> None:
    trace = "Step 1: 5% of 50000 candles is 0.05 * 50000 = 2500 candles.\n#### 2500"
    assert check_trace(CANDLES, trace, reference="Think about it.").error is None
    assert check_trace(CANDLES, trace, reference="").error is None


@pytest.mark.parametrize(
    ("trace", "depth"),
    [
        ("Step 1: Read the question.\nStep 2: Work it out.\nThe answer is \\boxed{3}.", 2),
        ("- 3 + 4 = 7\n- 7 * 2 = 14\nSo \\boxed{14}.", 2),
        ("She has 3 + 4 = 7 apples, then 7 * 2 = 14 apples. She is happy. The answer is 14.", 2),
    ],
)
def test_step_depth_counts_the_steps_the_checks_split(trace: str, depth: int) -> None:
    assert step_depth(trace) == depth


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # a count left below zero where nothing in the problem can be negative
            "Ginger and Amy start with 100 candies. Ginger eats 4 a day, Amy 3 a day. How many more has Amy?",
            "Step 1: Amy has 97 - 42 = 55 candies left.\nStep 2: Amy has 55 - 56 = -1 candies left.\n#### 1",
            "negative_quantity: 55 - 56 = - 1",
        ),
        (  # temperatures can be negative
            "The temperatures were -14, -8 and +1 degrees. What was the average?",
            "Step 1: -14 + (-8) + 1 = -21 degrees.\nStep 2: -21/3 = -7 degrees.\nThe answer is \\boxed{-7}.",
            None,
        ),
        (  # degrees of an angle are not of heat: no angle of the problem's is negative
            "The pyramid is at 32 degrees from the ground. The sun rises 5 degrees an hour for 10 hours. How many "
            "degrees from the ground is the sun?",
            "Step 1: The sun moves 10 * 5 = 50 degrees.\nStep 2: The angle is 32 - 50 = -18 degrees.\n#### -18",
            "negative_quantity: 32 - 50 = - 18",
        ),
        (  # a room that warms and cools by degrees has temperatures, which can be
            "A room at 5 degrees cools 3 degrees an hour for 4 hours. How warm is it then?",
            "Step 1: It cools 3 * 4 = 12 degrees.\nStep 2: 5 - 12 = -7 degrees.\n#### -7",
            None,
        ),
        (  # the trace reads the negative result as a shortfall
            "Dale had 100 candies and sold 150. Then he ordered 100 more. How many does he have left?",
            "Step 1: 100 - 150 = -50 candies, a deficit.\nStep 2: -50 + 100 = 50 candies.\nThe answer is \\boxed{50}.",
            None,
        ),
        (  # the trace itself says a negative result cannot be: no deficit
            "Dale had 100 candies and sold 40. How many does he have left?",
            "Step 1: 100 + 40 - 150 = -10 candies.\nStep 2: A negative number doesn't make sense, so 10.\n#### 10",
            "negative_quantity: 100 + 40 - 150 = - 10",
        ),
        (  # a problem that speaks of losing admits negatives, but not where the trace says this one cannot be
            "Igor took 7 beakers and lost several. He placed 29 items. How many beakers did Igor lose?",
            "Step 1: He lost 7 - 29 = -22 beakers.\nStep 2: We can't have a negative number of beakers, so 22.\n"
            "#### 22",
            "negative_quantity: 7 - 29 = - 22",
        ),
        (  # a loss can be negative, but a final answer that drops the sign of the result takes it as positive
            "Igor took 7 beakers and lost several. He placed 29 items. How many beakers did Igor lose?",
            "Step 1: He lost 7 - 29 = -22 beakers.\n#### 22",
            "negative_quantity: 7 - 29 = - 22 (the final answer drops its sign)",
        ),
        (
            "Milly pays $3 to ship a $32 book back, and is refunded 75% of its price. How much money will Milly lose?",
            "Step 1: The refund is 0.75 * 32 = $24.\nStep 2: She loses $3.00 - $24 = -$21.\nStep 3: Milly will lose "
            "$21.\n#### 21",
            "negative_quantity: 3.00 - 24 = - 21 (the final answer drops its sign)",
        ),
        (  # the trace reads its negative result as the size of the opposite: a profit of -6 is a loss of 6
            "Ann buys a bike for $30 and sells it for $24. How much money does she lose?",
            "Step 1: Her profit is 24 - 30 = -6 dollars.\nStep 2: So she loses $6.\n#### 6",
            None,
        ),
        (  # a count below zero read as the size of the opposite: -5 more is 5 fewer
            "Tom has 20 apples and Jim has 25. How many fewer apples does Tom have than Jim?",
            "Step 1: 20 - 25 = -5.\nStep 2: Tom has 5 fewer apples.\n#### 5",
            None,
        ),
        (  # the answer is the negative result, sign and all
            "The temperature was 5 degrees in the morning and dropped 8 degrees by night. What was it at night?",
            "5 - 8 = -3 degrees.\nThe answer is: -3",
            None,
        ),
        (  # a negative operand: the trace works with signed numbers on purpose
            "A diver is 6 m below the surface and rises 3 m. How many meters below the surface is she?",
            "Step 1: -6 + 3 = -3 m, so she is 3 m below the surface.\n#### 3",
            None,
        ),
    ],
)
def test_a_quantity_that_cannot_be_negative_is_not(problem: str, trace: str, error: str | None) -> None:
    assert find_reasoning_error(problem, trace) == error


ORANGES = (
    "Jennifer bought 12 oranges, she gave her x daughters 2 oranges each, and her only boy got 3 oranges. She "
    "remained with 3 oranges. What is the value of unknown variable x?"
)
BOOKS = (
    "Elise sold twice as many books in the first year as this year. She sold 200 books in three years, 1300 in the "
    "second. Her sales number this year is x. What is the value of unknown variable x?"
)


@pytest.mark.parametrize(
    ("problem", "trace", "first_bad_step", "code"),
    [
        (  # solved to a negative: wrong where the expression it equates was built, not where it was solved
            ORANGES,
            "Step 1: She gave away 2x + 3 oranges.\nStep 2: She had 12 + (2x + 3) = 15 + 2x oranges.\n"
            "Step 3: She has 3 left, so 15 + 2x = 3.\nStep 4: 2x = -12, so x = -6.\n#### -6",
            1,
            "negative_quantity",
        ),
        (  # an equation no earlier step builds is itself the set-up
            ORANGES,
            "Step 1: She gave away 2x + 3 oranges.\nStep 2: So 12 + 2x + 3 = 3.\nStep 3: 2x = -12, x = -6.\n#### -6",
            1,
            "negative_quantity",
        ),
        (  # a replaced given solved to a number no problem writes (66.67 books)
            BOOKS,
            "Step 1: First year 2x.\nStep 2: In three years 2x + x = 3x.\nStep 3: So 3x = 200.\n"
            "Step 4: x = 200 / 3 = 66.67, about 66.\n#### 66",
            1,
            "misread_fact",
        ),
        (  # a whole number of hundredths, or a fraction under one, is a number a problem writes
            BOOKS.replace("200 books", "150 books"),
            "Step 1: First year 2x.\nStep 2: In three years 2x + x = 3x.\nStep 3: So 3x = 150.\nStep 4: x = 50.\n"
            "#### 50",
            None,
            None,
        ),
        (
            "She ate x of the 6 slices. 4 slices are left. What is the value of unknown variable x?",
            "Step 1: 6x = 4, so x = 4/6 = 2/3.\n#### 2/3",
            None,
            None,
        ),
        (  # a real solution: an unknown the problem counts elves with is whole, even under one
            "Nissa hires 60 elves. A third of the elves quit, then x of the remaining elves quit. 30 elves are left. "
            "What is the value of unknown variable x?",
            "Step 1: (1/3)*60 = 20 elves quit.\nStep 2: 60 - 20 = 40 elves remain.\nStep 3: x*40 elves quit.\n"
            "Step 4: The number of elves left is 40 - x*40 = 40(1 - x).\nStep 5: So 40(1 - x) = 30.\n"
            "Step 6: 1 - x = 0.75, so x = 0.25.\n#### 0.25",
            3,
            "misread_fact",
        ),
        (  # zero for an amount the problem wrote as x: wrong where the equation's 24x was built
            "There are 20 friends, and John wants each to have x slices. Pizzas are sliced into 8 portions. John "
            "needs to order 10 pizzas. What is the value of unknown variable x?",
            "Step 1: The slices needed are 20x.\nStep 2: So 8 * 3x = 24x slices.\nStep 3: 24x = 20x, so 4x = 0.\n"
            "Step 4: x = 0.\n#### 0",
            1,
            "misread_fact",
        ),
        (  # zero for a coordinate is a number a problem writes
            "The line through (x, 3) and (4, 5) has slope 1/2. What is the value of unknown variable x?",
            "Step 1: (5 - 3) / (4 - x) = 1/2, so 4 - x = 4.\nStep 2: x = 0.\n#### 0",
            None,
            None,
        ),
        (  # a trace's own unknown in a problem that replaced none may be anything
            "Bob drives 32 miles at 7 miles per hour. How many hours does it take?",
            "Step 1: 7x = 32, so x = 32/7 = 4.57 hours.\n#### 4.57",
            None,
            None,
        ),
    ],
)
def test_an_unknown_solved_to_what_cannot_be_was_set_up_wrong(
    problem: str, trace: str, first_bad_step: int | None, code: str | None
) -> None:
    checked = check_trace(problem, trace)
    assert checked.first_bad_step == first_bad_step
    assert (checked.error is None) if code is None else checked.error.code == code


@pytest.mark.parametrize(
    ("lines", "line", "origin"),
    [
        (["She gave away 2x + 3 oranges.", "She had 12 + (2x + 3) = 15 + 2x oranges."], "So 15 + 2x = 3.", 1),
        (["First year 2x.", "In three years 2x + x = 3x."], "So 3x = 200.", 1),
        (["Her daughters got 2x oranges."], "So 2x = -12.", None),  # a term named, not worked out
        (["It costs $1,750 * x in all."], "1750x + 2,250 = 57,500", None),
        (["It costs $1,750 * x + $2,250 in all."], "1750x + 2250 = 57500", 0),
    ],
)
def test_a_set_up_is_where_its_expression_was_first_written(lines: list[str], line: str, origin: int | None) -> None:
    assert set_up_origin(lines, line, "x") == origin


def test_a_solved_unknown_named_again_restates_nothing() -> None:
    problem = "Tamara is 3 times Kim's height less 4 inches. Tamara and Kim have a combined height of 92 inches."
    trace = "Step 1: K + 3K - 4 = 92\nStep 2: 4K = 96\nStep 3: Kim = <<24=24>>24 inches\n#### 24"
    assert find_reasoning_error(problem, trace) is None


def test_a_product_with_a_parenthesis_is_read_whole() -> None:
    trace = "Step 1: Total: x + 2x + (1/2)x = 105\nStep 2: (7/2)x = 105\nStep 3: x = 105(2/7) = 30 players\n#### 30"
    assert find_reasoning_error("A team has 105 members.", trace) is None


def test_the_judge_bench_scores_a_processbench_file() -> None:
    """bench/judge_eval.py's figures on three inline solutions: one wrong step found, one sound solution kept."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from judge_eval import figures, rule_verdicts

    rows = [
        {"problem": BIKES, "steps": ["54 + 2.5x = 79.", "Solving for x, we get: x = 12.", "#### 12"], "label": 1},
        {"problem": BIKES, "steps": ["54 + 2.5x = 79.", "2.5x = 25, so x = 10.", "#### 10"], "label": -1},
        {"problem": BIKES, "steps": ["12 * 4.5 = 54 miles.", "Alisa and Stanley: 79 miles.", "#### 4"], "label": 1},
    ]
    figures = figures(rows, rule_verdicts(rows, with_reference=False))
    assert figures["flagged"] == pytest.approx(2 / 3)  # the third is answer_not_derived, on its last step
    assert figures["first_wrong_step_exact"] == 0.5 and figures["flagged_before_first_error"] == 0.0
    assert figures["processbench_f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_answer_labelled_solutions_are_scored_by_their_final_answers() -> None:
    """bench/answer_labelled.py: a generated CoT row becomes one step a non-empty line, its seed's worked solution the
    reference, labelled by its final answer; the judge bench counts the wrong- and right-answer solutions flagged of
    rows that have no step label, and gives no step figures for them."""
    import json

    from bench.answer_labelled import solution_rows
    from bench.judge_eval import figures, rule_verdicts

    problem = "Ava has 16 apples. She gives 3 to Ben and 4 to Chloe. How many apples does she have left?"
    worked = json.dumps({"solution": "16 - 3 - 4 = <<16-3-4=9>>9\n#### 9"})
    traces = [
        {"problem": problem, "answer": "9", "spec": worked,
         "trace": "Step 1: 16 - 3 - 4 = 9 apples.\n\nThe answer is \\boxed{9}."},
        {"problem": problem, "answer": "9", "spec": None,
         "trace": "Step 1: 16 - 3 = 12 apples.\nThe answer is \\boxed{12}."},
        {"problem": problem, "answer": "9", "spec": None,
         "trace": "Step 1: She has 16 + 3 = 19 apples.\nThe answer is \\boxed{19}."},
    ]  # fmt: skip
    rows = solution_rows(traces)
    assert rows[0]["steps"] == ["Step 1: 16 - 3 - 4 = 9 apples.", "The answer is \\boxed{9}."]
    assert rows[0]["reference"].endswith("#### 9") and rows[1]["reference"] is None
    assert [row["final_answer_correct"] for row in rows] == [True, False, False]
    found = figures(rows, rule_verdicts(rows, with_reference=False))
    assert found["right_answer_flagged"] == 0.0
    assert found["wrong_answer_flagged"] == 0.5  # 16 - 3 = 12 is false; adding what she gave away is a sound sum
    assert "first_wrong_step_exact" not in found and "sound_kept" not in found


def test_verification_locates_first_bad_steps_and_says_who_found_them() -> None:
    """Every rejected trace leaves verification with its step labels: a false calculation (rule), a wrong answer the
    gold shows (reference), the same against a seed's worked solution kept in its spec (where a restated wrong value
    was first worked out), a wrong answer no step works out (rule, on its own line), a family fact its solver
    contradicts (family)."""
    import json

    import polars as pl

    from filters.verify import ReasoningChecks, verify_traces

    problem = "Ava has 16 apples. She gives 3 to Ben and 4 to Chloe. How many apples does she have left?"
    calendar = {"start": 0, "offset": 3, "choices": ["Monday", "Tuesday", "Wednesday", "Thursday"]}
    rows = [
        ("rule", problem, "9", None, None, "Step 1: 3 + 4 = 8\nStep 2: 16 - 7 = 9\nThe answer is \\boxed{9}."),
        ("reference", problem, "9", None, None, "Step 1: 16 - 3 = 13 apples.\nStep 2: So 13 left.\n#### 13"),
        ("worked", problem.replace("16", "20"), "13", None,
         json.dumps({"solution": "She gives 3 + 4 = 7 away.\n20 - 7 = 13 left.\n#### 13"}),
         "Step 1: She gives 3 * 4 = 12 away.\nStep 2: 20 - 12 = 8 apples.\nStep 3: So 8 are left.\n#### 8"),
        ("not_derived", problem, "9", None, None, "Step 1: Think.\nThe answer is \\boxed{12}."),
        ("family", "Today is Monday. What day is it in 3 days?", "D", "calendar", json.dumps(calendar),
         "Step 1: We count on.\nStep 2: 3 days after Monday is Friday.\nThe answer is (D)."),
    ]  # fmt: skip
    frame = pl.DataFrame(
        [
            {"kind": "cot", "id": i, "problem_id": i, "problem": p, "answer": a, "problem_template": t, "spec": s,
             "text": x}
            for i, p, a, t, s, x in rows
        ]
    )  # fmt: skip
    result, _ = verify_traces(frame, workers=1, checks=ReasoningChecks(chance_alpha=None))
    dropped = {row["id"]: row for row in result.dropped.iter_rows(named=True)}
    assert dropped["rule"]["step_labels"] == [False, None, None] and dropped["rule"]["step_label_source"] == "rule"
    assert dropped["reference"]["code"] == "wrong_answer"
    assert dropped["reference"]["detail"] == "contradicts_reference: 13 where the reference's answer is 9"
    assert dropped["reference"]["step_labels"][:2] == [True, False]
    assert dropped["reference"]["step_label_source"] == "reference"
    assert dropped["worked"]["step_labels"][:2] == [True, False]  # against the bare gold: the restating step 3
    assert (
        dropped["not_derived"]["step_labels"] == [None, False]
        and dropped["not_derived"]["step_label_source"] == "rule"
    )
    assert dropped["family"]["code"] == "family_fact" and dropped["family"]["step_label_source"] == "family"
    assert dropped["family"]["step_labels"] == [None, False, None]


@pytest.mark.parametrize(
    ("trace", "error"),
    [
        ("We have that $r = \\sqrt{0^2 + 3^2} = 3.$ So the answer is $\\boxed{3}$.", None),
        ("We have that $r = \\sqrt{0^2 + 3^2} = 4.$ So the answer is $\\boxed{4}$.", "\\sqrt{0^2 + 3^2} = 4"),
        ("So $(7)(10)\\left(\\frac{21}{30}\\right) = \\boxed{49}$.", None),
        ("So $\\frac{1}{2}(4)(4) = 9$.", "\\frac{1}{2}(4)(4) = 9"),
        ("Then $\\binom{5}{2} = 11$ ways.", "\\binom{5}{2} = 11"),
        ("Then $\\binom52 = 11$ ways.", "\\binom52 = 11"),  # one-digit arguments unbraced, as \\frac12
        ("Then $\\dbinom52 = 10$ ways.", None),
        # an inequality parts a chain's equalities, each checked; a side with an ellipsis is left alone
        ("So $4 < t < \\frac{49}{4} = 12.25$.", None),
        ("So $4 < t < \\frac{49}{4} = 13.25$.", "\\frac{49}{4} = 13.25"),
        ("So $(a + b)(\\frac{1}{a} + \\frac{1}{b}) \\ge (1 + 1)^2 = 5$.", "(1 + 1)^2 = 5"),
        ("\\[ 1 - 2 + \\dots - 100 = 50(-1) = -50 \\]", None),
        ("\\[ 1 - 2 + \\dots - 100 = 50(-1) = -49 \\]", "50(-1) = -49"),
        ("So $1 + 2 + \\dots + 10 = 56$.", None),
        # an Asymptote figure is drawing code, no reasoning (MATH-500: a loop's "i=1;i<=6" read as i = 1 and i = 6)
        ("So $2(21)=\\boxed{42}$.\n[asy]\nint i;\nfor(i=1;i<=6;++i)\n{\n}\nfor(i=1;i<=3;++i)\n{\n}[/asy]", None),
        ("So $2(21)=\\boxed{43}$.\n[asy]\nint i;\nfor(i=1;i<=6;++i)\n{\n}[/asy]", "2(21) = \\boxed{43}"),
        # a function named in words takes the value ("the ones digit of 3^3 is 7"), not the calculation
        ("The ones digit of $3^3$ is 7, and the units digit of $7^3$ is 3.", None),
        ("The remainder of 17 * 5 is 2 when divided by 83.", None),
        ("So 3^3 is 7.", "3 ^ 3 = 7"),
        ("There are $\\binom{9}{3} = \\frac{9!}{3!\\cdot 6!} = 84$ sets.", None),
        ("Then $2x + 3 = 7$, so $x = 2$.", None),  # the value solves the equation before it
        ("Then $2x + 3 = 7$, so $x = 3$.", "x = 3 in 2x + 3 = 7"),
        ("Then \\[3\\sqrt{x} = 30 \\Rightarrow x = 10.\\]", "x = 10 in 3\\sqrt{x} = 30"),
        ("We get $$5 = \\frac{5}{2}x$$ $$x = 3$$", "x = 3 in 5 = \\frac{5}{2}x"),
        ("We get $19 = 10^x - 9^x$. Trying $x = 1$, $x = 2$, it holds at $x = 2$.", None),  # a value tried
        ("Then $4a = 4(a - 3) \\Rightarrow 0 = -12$, which cannot be.", None),  # a contradiction reached
        ("For $x = 1$ we have $1 = \\!\\sqrt{9} + 4$, which is not true.", None),  # shown to be false
        ("Equality occurs at $e = \\frac{16}{5}$.", None),  # e is an unknown here, not Euler's number
        ("Since $90^3 = 729,\\!000$, it is more than 90.", None),  # thousands, LaTeX-spaced
        ("\\begin{align*} 5^1 &= 5 \\\\ 5^2 &= 26 \\end{align*}", "5^2 = 26"),  # align rows
        ("\\begin{align*} (2 + 3)^2 &= 5^2 \\\\ &= 24. \\end{align*}", "5^2 = 24"),  # a row carries on the chain
        (
            "So \\[ CD = 15 \\cdot \\frac{8}{17} = \\frac{121}{17}, \\] and so on.",
            "15 \\cdot \\frac{8}{17} = \\frac{121}{17}",
        ),
        ("Hence \\[ x = 84. \\] Then $\\sqrt9 = 4$.", "\\sqrt9 = 4"),
        ("It gives $5x + 2 = 18$. Subtracting 2 gives $5x = 15$.", "5x = 15 from 5x + 2 = 18"),
        ("It gives $5x + 2 = 17$. Subtracting 2 gives $5x = 15$.", None),  # an equation rewritten
        ("So $x^2 = 3x$, and as $x \\ne 0$, so $x = 3$.", None),  # a root lost by dividing: one is shared
        ("We have $2x = 8$, which implies $x = \\boxed{5}$.", "x = \\boxed{5} in 2x = 8"),
        ("\\begin{align*} 2x &= 5 \\\\ x &= \\boxed{2} \\end{align*}", "x = \\boxed{2} in 2x = 5"),
        ("Then $x - 3 = 0,$ $x - 7 = 0,$ or $2x - 10 = 0$.", None),  # a list, not a derivation
        ("\\begin{align*} 3p + e &= 124 \\\\ 5p + e &= 182 \\end{align*}", None),  # e names an unknown
        ("So $100 000 \\times 0.1 = 10 000$ dollars.", None),  # thousands apart by a space
        ("So $13,2000 \\div 60 = 220$ minutes.", None),  # a comma between digits, no thousands: left alone
        (  # words that hold math stating nothing are still words between the two statements
            "Multiplying by 2 gives $3x-9 = 2x+74$. Subtracting $2x$ from both sides yields $x-9 = 75$.",
            "x-9 = 75 from 3x-9 = 2x+74",
        ),
        ("Multiplying by 2 gives $3x-9 = 2x+74$. Subtracting $2x$ from both sides yields $x-9 = 74$.", None),
        (  # an implication that ends a row joins it to the next
            "\\begin{align*} \\pi r^2(4) &= 20\\pi \\quad\\Rightarrow\\\\ 4r^2 &= 21 \\end{align*}",
            "4r^2 = 21 from \\pi r^2(4) = 20\\pi",
        ),
        (  # cases side by side follow case by case
            "\\begin{align*} 5-a=3 \\quad\\text{ OR }\\quad 5-a=-3 \\quad\\Rightarrow\\\\ "
            "2=a \\quad\\text{ OR }\\quad 8=a \\end{align*}",
            None,
        ),
        (
            "\\begin{align*} 5-a=3 \\quad\\text{ OR }\\quad 5-a=-3 \\quad\\Rightarrow\\\\ "
            "2=a \\quad\\text{ OR }\\quad 9=a \\end{align*}",
            "9=a from 5-a=-3",
        ),
        ("Since they are parallel, $2x^\\circ=128^\\circ,$ so $x=65.$", "x = 65 in 2x=128"),  # degrees as numbers
        ("Then $\\sin 30^\\circ = \\frac{1}{2}$.", None),  # (a trigonometric function's degrees left alone)
        ("We have \\[(x + 1)^2 = 4x.\\] This simplifies to $x^2 - 2x + 1 = 0$.", None),  # words that rewrite
        (
            "We have \\[(x + 1)^2 = 4x.\\] This simplifies to $x^2 - 2x + 2 = 0$.",
            "x^2 - 2x + 2 = 0 from (x + 1)^2 = 4x",
        ),
        ("This gives us $x^2 + 1 = 6x,$ or $x^2 - 6x + 1 = 0.$", None),  # "or" after a comma: said again
        ("This gives us $x^2 + 1 = 6x,$ or $x^2 - 6x + 2 = 0.$", "x^2 - 6x + 2 = 0 from x^2 + 1 = 6x"),
        ("It factors, so $x - 3 = 0$ or $x - 7 = 0$.", None),  # "or" between cases
        ("So $x = 2$ and \\[ \\] then $x = 3$.", None),  # an empty display states nothing
        ("Then $z^9 + 1 = 0,$ so $z^9 = -2.$", "z^9 = -2 from z^9 + 1 = 0"),  # a polynomial of degree up to 10
        # units written as text, the same on both sides: the numbers are checked
        ("The area is $(5\\text{ cm})(3\\text{ cm})=15\\text{ cm}^2$.", None),
        (
            "The area is $(5\\text{ cm})(3\\text{ cm})=16\\text{ cm}^2$.",
            "(5\\text{ cm})(3\\text{ cm}) = 16\\text{ cm}^2",
        ),
        (
            "So $12 \\text{ dollars} \\times 3 = 35 \\text{ dollars}$ in all.",
            "12 \\text{ dollars} \\times 3 = 35 \\text{ dollars}",
        ),
        ("The area is $\\pi (2 \\text{ cm})^2 = 12.57 \\text{ cm}^2$.", None),  # rounded to its places
        ("Recall $1 \\text{ foot} = 12 \\text{ inches}$.", None),  # other units: a conversion, left alone
        ("So $x = 5 \\text{ or } x = 7$.", None),  # words in text leave the statement alone
        ("It is about $\\pi \\approx 3.2$.", None),  # approximations are left alone
        ("The area is $\\pi \\cdot 2^2 = 12.57$.", None),  # rounded to the places it states
        ("The area is $\\pi \\cdot 2^2 = 12.75$.", "\\pi \\cdot 2^2 = 12.75"),
        # a mixed number is a whole and a fraction (MATH-500: "$\\frac{150}{4} = 37 \\frac{1}{2}$ miles")
        ("It travels $50 \\times \\frac{3}{4}$ hours $ = \\frac{150}{4} = 37 \\frac{1}{2}$ miles.", None),
        (
            "It travels $50 \\times \\frac{3}{4}$ hours $ = \\frac{150}{4} = 38 \\frac{1}{2}$ miles.",
            "( ( 150 ) / ( 4 ) ) = 38 1/2",
        ),
        # a special right triangle's name is no subtraction (MATH-500: "a $30-60-90$ triangle is $1:\\sqrt{3}:2$")
        ("The ratio of the side lengths of a $30-60-90$ triangle is $1:\\sqrt{3}:2$.", None),
        # a subscripted name leaves its own link alone, not the chain's others (MATH-500: "$r_1r_2r_3 = 2^5 = 32$")
        ("So $r_1r_2r_3 = 2^5 = 32$.", None),
        ("So $r_1r_2r_3 = 2^5 = 33$.", "2^5 = 33"),
        # unknowns that cancel leave a number (MATH-500: "$d$ divides $2(n + 7) - (2n + 1) = 13$")
        ("So $d$ divides $2(n + 7) - (2n + 1) = 13$.", None),
        ("So $d$ divides $2(n + 7) - (2n + 1) = 14$.", "2(n + 7) - (2n + 1) = 14"),
        # a price's escaped dollar sign inside math is no factor and no end of the math (MATH-500's math club)
        ("The club earned $54\\div 3\\cdot\\$1=18\\cdot\\$1=\\$18$ from cookies.", None),
        ("The club earned $54\\div 3\\cdot\\$1=19\\cdot\\$1=\\$18$ from cookies.", "54\\div 3\\cdot1 = 19\\cdot1"),
    ],
)
def test_latex_equalities_are_evaluated(trace: str, error: str | None) -> None:
    found = find_reasoning_error("Compute it. Let $x$ be real.", trace)
    assert found == (None if error is None else f"false_calculation: {error}")


@pytest.mark.parametrize(
    "trace",
    [
        "He paid $12 - $2 = $10. The answer is \\boxed{10}.",
        "He buys 2 $5 loaves of bread, 2 3$ boxes. 2 * 5 + 2 * 3 = 16. The answer is \\boxed{16}.",
        "He paid \\$12 - \\$2 = \\$10 in all. The answer is \\boxed{10}.",  # escaped, as Markdown writes them
    ],
)
def test_dollar_signs_of_prices_are_not_math(trace: str) -> None:
    from filters.steps.latex import equalities, has_math

    assert equalities(trace) == [] and not has_math(trace)
    assert find_reasoning_error("He has $12 and buys bread.", trace) is None


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # stated in prose, produced by no calculation: the demo published this once
            "A class library has 16 books. Jade lends out 4 books. How many books does Jade have now?",
            "Step 1: Jade has 4 books.\nStep 2: When she has no books left, there are only 12 books in total.\n"
            "The answer is \\boxed{12}.",
            "answer_not_worked",
        ),
        (
            "A class library has 16 books. Jade lends out 4 books. How many books does Jade have now?",
            "Step 1: 16 - 4 = 12 books are left.\nStep 2: So there are 12 books.\nThe answer is \\boxed{12}.",
            None,
        ),
        (  # the answer is a given: nothing to work out
            "Jade has 16 books and reads them all. How many books does Jade have?",
            "Step 1: Reading does not take a book away.\nStep 2: She has 16 books.\nThe answer is \\boxed{16}.",
            None,
        ),
        (  # the answer equals a given by chance (4 - 2 = 2), stated in words of its own: a demo published this once
            "Nia has 4 marbles. Nia loses 2 marbles while playing. How many marbles does Nia have now?",
            "Step 1: Nia has 4 marbles.\nStep 2: After losing all of them, Nia is left with only 2 marbles.\n"
            "The answer is \\boxed{2}.",
            "answer_not_worked",
        ),
        (  # the same by chance (25 / 5 = 5 envelopes' worth), and published by the same demo
            "Kofi has saved $25. Kofi splits the money equally into 5 envelopes and keeps one envelope. How many "
            "dollars does Kofi have now?",
            "Step 1: The money is $25.\nStep 2: Half of the money is in an envelope and half is left, which has 5 "
            "envelopes.\nThe answer is \\boxed{5}.",
            "answer_not_worked",
        ),
        (  # a calculation in words the token stream does not read: the line states the answer after its operands
            "Four members run 3 km each. Ralph runs twice as much as any member. How long is the race?",
            "Step 1: 4 x 3 = 12 km.\nStep 2: Ralph runs 2 x 3 km = 6 km.\n"
            "Step 3: The race is 6 km run by Ralph + 12 km run by the rest of the team = 18 km.\n"
            "The answer is \\boxed{18}.",
            None,
        ),
        (  # an operand of the line is no result of it: 2 comes before the 8 that 8 / 4 would make it from
            "Onions cost $2 a pound and he buys 4 pounds. How many people does his soup serve?",
            "Step 1: He pays 4 * $2 = $8 for onions, so his soup serves 2 people.\nThe answer is \\boxed{2}.",
            "answer_not_worked",
        ),
        (  # one operand in words, the other the step before's result
            "Each game Reggie bets 10 marbles. He started with 100 and now has 90. How many games has he lost?",
            "Step 1: Reggie has lost 100 - 90 = 10 marbles.\nStep 2: Each game was worth 10 marbles, so Reggie has "
            "lost 1 game.\nThe answer is \\boxed{1}.",
            None,
        ),
        (  # the step before's results only: a result of an earlier step makes no later number
            "Each game Reggie bets 10 marbles. He started with 100 and now has 90. How many games has he lost?",
            "Step 1: Reggie has lost 100 - 90 = 10 marbles.\nStep 2: He plays on.\nStep 3: Each game was worth 10 "
            "marbles, so Reggie has lost 1 game.\nThe answer is \\boxed{1}.",
            "answer_not_worked",
        ),
        (  # the answer counts the turns of one operation repeated on its own result
            "Jerry drinks 48 sodas a week and halves that each week. How many weeks until he drinks 6 a week?",
            "Step 1: After 1 week: 48 sodas / 2 = 24 sodas.\nStep 2: Then 24 sodas / 2 = 12 sodas.\n"
            "Step 3: Then 12 sodas / 2 = 6 sodas. It takes 3 weeks.\nThe answer is \\boxed{3}.",
            None,
        ),
        (  # turns of different operations are no count of repeats
            "Jerry drinks 48 sodas a week and halves that each week. How many weeks until he drinks 6 a week?",
            "Step 1: After 1 week: 48 sodas / 2 = 24 sodas.\nStep 2: Then 24 sodas / 4 = 6 sodas. It takes 3 "
            "weeks.\nThe answer is \\boxed{3}.",
            "answer_not_worked",
        ),
        (  # the sum of the last two calculations' results, said in words (a GSM8K solution: 30 and 49 questions right,
            # then "He gets 79 questions right in total.")
            "He gets 75% of 40 math questions and 98% of 50 English questions right. How many does he get right?",
            "Step 1: 40 x .75 = 30 math questions.\nStep 2: 50 x .98 = 49 English questions.\n"
            "Step 3: He gets 79 questions right in total.\nThe answer is \\boxed{79}.",
            None,
        ),
        (  # results of calculations further back are no step in words
            "He gets 75% of 40 math questions and 98% of 50 English questions right. How many does he get right?",
            "Step 1: 40 x .75 = 30 math questions.\nStep 2: 50 x .98 = 49 English questions.\n"
            "Step 3: 49 - 9 = 40.\nStep 4: He gets 79 questions right in total.\nThe answer is \\boxed{79}.",
            "answer_not_worked",
        ),
        (  # a quantity set up in an unknown, stated once the unknown is solved (a GSM8K solution: "Remy = 3R + 1",
            # then "R = 8", then "Remy used 25 gallons")
            "Remy used 1 more gallon than 3 times Roman's. Together they used 33 gallons. How many did Remy use?",
            "Step 1: Let R be Roman's gallons. Remy = 3R + 1.\nStep 2: 4R + 1 = 33, so 4R = 32 and R = 8.\n"
            "Step 3: Remy used 25 gallons.\nThe answer is \\boxed{25}.",
            None,
        ),
        (
            "Remy used 1 more gallon than 3 times Roman's. Together they used 33 gallons. How many did Remy use?",
            "Step 1: Let R be Roman's gallons. Remy = 3R + 1.\nStep 2: 4R + 1 = 33, so 4R = 32 and R = 8.\n"
            "Step 3: Remy used 26 gallons.\nThe answer is \\boxed{26}.",
            "answer_not_worked",
        ),
        (  # an expression in the solved unknown, evaluated (a GSM8K test solution: "Red rope = 4 * (Y - 7)")
            "The red rope is four times the blue, which is 7 cm shorter than the yellow. The 3 ropes are 37 cm long "
            "together. How long is the red rope?",
            "Let Y = the yellow rope\nBlue rope = Y - 7\nRed rope = 4 * (Y - 7)\nY + Y - 7 + 4 (Y - 7) = 37 cm\n"
            "6Y - 35 = 37\n6Y = 72\nY = 12 cm\nThe red rope was 20 cm long.\n#### 20",
            None,
        ),
        (
            "The red rope is four times the blue, which is 7 cm shorter than the yellow. The 3 ropes are 37 cm long "
            "together. How long is the red rope?",
            "Let Y = the yellow rope\nBlue rope = Y - 7\nRed rope = 4 * (Y - 7)\nY + Y - 7 + 4 (Y - 7) = 37 cm\n"
            "6Y - 35 = 37\n6Y = 72\nY = 12 cm\nThe red rope was 21 cm long.\n#### 21",
            "answer_not_worked",
        ),
        (  # a negative result counts with its sign
            "The temperatures were -14, -8 and +1 degrees. What was the average?",
            "Step 1: -14 + (-8) + 1 = -21 degrees.\nStep 2: -21/3 = -7 degrees.\nThe answer is \\boxed{-7}.",
            None,
        ),
        (  # so does a negative term in a solved unknown (a GSM8K solution, its calculator notes cut)
            "There are 3 consecutive odd integers that have a sum of -147. What is the largest number?",
            "Let N = smallest number\nN + 2 = next number\nN + 4 = largest number\nN + (N + 2) + (N + 4) = -147\n"
            "3N + 6 = -147\n3N = -153\nN = -51\nThe largest number is -47.\n#### -47",
            None,
        ),
        (  # a number said twice is two terms of a sum in words (a GSM8K solution, its calculator notes cut)
            "The park is 5 miles from Talia's house. The store is 3 miles from the park and 8 miles from her home. "
            "Starting and ending at home, how many miles does Talia drive?",
            "Talia first drives 5 miles to the park + 3 miles from the park to the grocery store = 8 miles.\n"
            "She next drives 8 miles from the store to home + the first 8 miles = 16 miles Talia drives that day.\n"
            "#### 16",
            None,
        ),
        (  # the terms that run up to the result, after a number the line restates
            "Sue waits 16 hours in New York. New Orleans to New York takes 3/4 of the 24 hours from New York to San "
            "Francisco. How long does she take from New Orleans to San Francisco?",
            "New Orleans to New York takes 3/4 * 24 hours = 18 hours.\nShe stayed for 16 hours, so the total is: 18 "
            "hours to New York + 16 hours in New York + 24 hours to San Francisco = 58 hours.\n#### 58",
            None,
        ),
        (  # an amount written in parts, hours and minutes, is the answer in one unit
            "A bus leaves at 8:15 AM and arrives at 11:45 AM. How many hours is the trip?",
            "From 8:15 AM to 11:15 AM is 3 hours, and to 11:45 AM is 30 more minutes.\nSo the trip takes 3.5 hours.\n"
            "The answer is: 3.5",
            None,
        ),
        (
            "A bus leaves at 8:15 AM and arrives at 11:45 AM. How many hours is the trip?",
            "From 8:15 AM to 11:15 AM is 3 hours, and to 11:45 AM is 30 more minutes.\nSo the trip takes 3.3 hours.\n"
            "The answer is: 3.3",
            "answer_not_worked",
        ),
    ],
)
def test_an_answer_must_be_worked_out_unless_given(problem: str, trace: str, error: str | None) -> None:
    assert find_reasoning_error(problem, trace) == error


@pytest.mark.parametrize(
    ("problem", "trace", "first_bad_step"),
    [
        (  # the unworked answer first appears in step 2: the steps after it only repeat it
            "A class library has 16 books. Jade lends out 4 books. How many books are left in the library?",
            "Step 1: Jade has 4 books.\nStep 2: When she has no books left, there are only 13 books in total.\n"
            "Step 3: So 13 books are left.\nThe answer is \\boxed{13}.",
            1,
        ),
        (  # from the first step on, before any calculation
            "Tom has 5 bags with 6 apples each. He eats 3 apples. How many apples are left?",
            "Step 1: Tom has 28 apples left.\nStep 2: 5 * 6 = 30 apples in all.\nThe answer is \\boxed{28}.",
            0,
        ),
        (  # the answer is a given of the problem (4 - 2 = 2 by chance): no step states it from nowhere, the answer's
            "Nia has 4 marbles. Nia loses 2 marbles while playing. How many marbles does Nia have now?",
            "Step 1: Nia has 4 marbles.\nStep 2: After losing all of them, Nia is left with only 2 marbles.\n"
            "The answer is \\boxed{2}.",
            2,
        ),
    ],
)
def test_an_unworked_answer_is_wrong_from_the_step_that_first_states_it(
    problem: str, trace: str, first_bad_step: int
) -> None:
    check = check_trace(problem, trace)
    assert check.error is not None and check.error.code == "answer_not_worked"
    assert check.first_bad_step == first_bad_step
    assert check.labels[:first_bad_step] == [True if "=" in s else None for s in check.steps[:first_bad_step]]
    assert check.labels[first_bad_step + 1 :] == [None] * (len(check.steps) - first_bad_step - 1)


JADE = "Jade keeps 24 chickens on a farm. Jade sells 8 chickens at the market. How many chickens does Jade count now?"


@pytest.mark.parametrize(
    ("trace", "error"),
    [
        (  # an event from nowhere, its numbers used by nothing after it: a cluster demo published this once
            "Jade buys 3 chickens at the market and gives away 4 chickens.\nStep 1: Jade has 24 chickens.\n"
            "Step 2: After selling 8 chickens, 24 - 8 = 16 chickens are left.\nThe answer is \\boxed{16}.",
            "unfounded_fact: Jade buys 3 chickens at the market and gives away 4 chickens.",
        ),
        (  # a fact the problem leaves out, used by a later step
            "Step 1: A chicken has 2 legs.\nStep 2: 24 - 8 = 16 chickens are left.\nStep 3: They have 16 * 2 = 32 "
            "legs, but the question asks for chickens.\nThe answer is \\boxed{16}.",
            None,
        ),
        (  # a result stated before the step that works it out, and the answer
            "Step 1: Jade will have 16 chickens.\nStep 2: 24 - 8 = 16.\nThe answer is \\boxed{16}.",
            None,
        ),
        (  # a label, not a quantity
            "Day 1: Jade has 24 chickens.\nDay 2: 24 - 8 = 16 chickens are left.\nThe answer is \\boxed{16}.",
            None,
        ),
        (  # a line that relates quantities ("of", "times", an operator) is left to the calculation checks
            "Step 1: 24 - 8 = 16 chickens.\nStep 2: 16 of them are hens or 3 are roosters.\n"
            "The answer is \\boxed{16}.",
            None,
        ),
        (  # a line that states an equality of units relates quantities: a fact, not an event
            "Step 1: 24 - 8 = 16 chickens.\nStep 2: 25 cents is equal to 1 quarter.\nThe answer is \\boxed{16}.",
            None,
        ),
        (  # a line with times of day works its numbers out from them
            "Step 1: The market is open from 8:15 AM to 11:15 AM, which is 3 hours.\nStep 2: 24 - 8 = 16 chickens "
            "are left.\nThe answer is \\boxed{16}.",
            None,
        ),
        (  # a rounding works its numbers out by its rule (a GSM8K test solution: "round his petunias up from $1.87
            # to $2, since the number following the 1 is 5 or higher")
            "Step 1: 24 - 8 = 16 chickens.\nStep 2: Jade rounds 16 up to 20, since the digit after the 1 is 5 or "
            "higher.\nThe answer is \\boxed{16}.",
            None,
        ),
    ],
)
def test_a_quantity_from_nowhere_that_nothing_uses_is_unfounded(trace: str, error: str | None) -> None:
    assert find_reasoning_error(JADE, trace) == error


SAVINGS = (
    "Jade has saved $25. A relative multiplies Jade's savings by 4 as a gift. How many dollars does Jade have now?"
)
DIGRESSION = 1, "unfounded_fact", "(a digression after the answer is worked out)"
UNDONE = 1, "misread_fact", "(multiplies that: never worked out)"


HANA = (
    "Hana has 8 marbles. Hana wins a game and ends up with 2 times as many marbles. How many marbles does Hana have?"
)


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # a row a demo published: the answer called a count of wins
            HANA,
            "Step 1: Hana has 8 marbles.\nStep 2: The number of times Hana wins the game is 2 * 8 = 16.\n"
            "The answer is \\boxed{16}.",
            "misread_fact: Step 2: The number of times Hana wins the game is 2 * 8 = 16. (the question asks how many "
            "marbles)",
        ),
        (HANA, "Step 1: She ends up with 2 times as many, 2 * 8 = 16 marbles.\nThe answer is \\boxed{16}.", None),
        (  # a count of times on the way, not the answer (a GSM8K solution's shape)
            "Mark buys 50 cans. Jen buys 6 cans for every 5 cans Mark buys. How many cans does Jen buy?",
            "Step 1: The number of times Jen added 6 cans is 50 / 5 = 10 times.\nStep 2: She buys 10 * 6 = 60 cans.\n"
            "The answer is \\boxed{60}.",
            None,
        ),
        (  # the question asks how many times
            "A bucket holds 4 liters. How many times must Ann fill it to get 20 liters?",
            "Step 1: The number of times is 20 / 4 = 5.\nThe answer is \\boxed{5}.",
            None,
        ),
    ],
)
def test_an_answer_called_a_number_of_times_where_things_are_asked_is_misread(
    problem: str, trace: str, error: str | None
) -> None:
    assert find_reasoning_error(problem, trace) == error


@pytest.mark.parametrize(
    ("trace", "rejected"),
    [
        (  # the row a demo published: two deposits, and money, from nowhere
            "Step 1: Jade's savings (total) = $25 * 4 = $100.\nStep 2: Since she has the same amount of money in both "
            "deposits, her total deposit is equal to the gift plus the original savings.\nThe answer is \\boxed{100}.",
            DIGRESSION,
        ),
        (  # a closing step that speaks of the problem's things
            "Step 1: Jade's savings (total) = $25 * 4 = $100.\nStep 2: So the gift makes Jade's savings four times "
            "what they were.\nThe answer is \\boxed{100}.",
            None,
        ),
        (  # the answer said again in other words: a number word is a number
            "Step 1: $25 * 4 = $100.\nStep 2: Thus, after receiving the gift, Jade ends up with four times her "
            "original savings.\nThe answer is \\boxed{100}.",
            None,
        ),
        (  # one word of its own is a way of saying, not a digression
            "Step 1: $25 * 4 = $100.\nStep 2: That is the whole of Jade's savings now.\nThe answer is \\boxed{100}.",
            None,
        ),
        (  # the answer not worked out before it: the closing step is the solution's last, not an aside
            "Step 1: $25 * 4 gives her savings.\nStep 2: She keeps the money in a bank deposit, untouched.\n"
            "Step 3: $25 * 4 = $100.\nThe answer is \\boxed{100}.",
            None,
        ),
        (  # the row a demo published once the digression was rejected: more done to the answer, never worked out
            "Step 1: Jade's savings = $25 * 4 = $100.\nStep 2: Jade has $100 left over, so she multiplies that by 4 "
            "and then adds this to her total savings to get the money for the gift. The answer is \\boxed{100}.",
            UNDONE,
        ),
        (  # said of what was done: no operation left to do
            "Step 1: Jade's savings = $25 * 4 = $100.\nStep 2: We multiplied it by 4 because the gift multiplies her "
            "savings.\nThe answer is \\boxed{100}.",
            None,
        ),
        (  # said before the calculation that does it
            "Step 1: The gift is $25 * 3 = $75.\nStep 2: She adds this to her savings.\nStep 3: $25 + $75 = $100.\n"
            "The answer is \\boxed{100}.",
            None,
        ),
        (  # and worked out where it is said
            "Step 1: Her savings are $25.\nStep 2: The relative multiplies them by 4, so $25 * 4 = $100.\n"
            "The answer is \\boxed{100}.",
            None,
        ),
    ],
)
def test_a_step_after_the_worked_answer_says_nothing_else_happened(
    trace: str, rejected: tuple[int, str, str] | None
) -> None:
    """A closing digression from nowhere, or an operation on the result that is never worked out, is rejected."""
    check = check_trace(SAVINGS, trace)
    if rejected is None:
        assert check.error is None and check.first_bad_step is None
        return
    step, code, ending = rejected
    assert check.first_bad_step == step
    assert check.error is not None and check.error.code == code and str(check.error).endswith(ending)
    assert check.labels == [True, False, None][: len(check.labels)]


@pytest.mark.parametrize(
    "trace",
    ["Step 1: 5/0 = 0 apples.\nThe answer is \\boxed{0}.", "Step 1: She has 5/0 apples, 2 1/0 more.\nSo 5 apples."],
)
def test_a_division_by_zero_a_model_writes_is_read_not_raised(trace: str) -> None:
    """A demo's 270M teacher wrote "5/0": read as a fraction it raised ZeroDivisionError and failed the whole
    stage. It is a division (5, /, 0), which no check can evaluate, so it is left unjudged."""
    from filters.steps.tokens import numbers

    assert find_reasoning_error("Ava has 5 apples. How many apples does Ava have?", trace) is None
    assert numbers("5/0 and 3/4") == {Fraction(5), Fraction(0), Fraction(3, 4)}


@pytest.mark.parametrize(
    ("text", "values"),
    [("It costs $700\n3/5 of it is tax.", {700, Fraction(3, 5)}), ("2\t1/2 cups", {Fraction(5, 2)}),
     ("2 1/2 cups", {Fraction(5, 2)})],
)  # fmt: skip
def test_a_whole_number_and_a_fraction_make_one_number_on_one_line_only(text: str, values: set) -> None:
    """A number at a line's end and a fraction opening the next were read as one mixed number, which raised out of
    the checks (a problem written over lines fails its whole stage)."""
    from filters.steps.tokens import numbers

    assert numbers(text) == values
    assert find_reasoning_error(text + " What is the tax?", "Step 1: 700 * 3/5 = 420.\nThe answer is 420.") is None


FRAGMENTS = ("5/0", "0/0", "2 1/0", "10^999", "2^2^2^2^2", "(", ")", "=", "+", "-", "*", "/", "%", "$", ".5", "x",
             "\\frac{1}{0}", "$\\sqrt{-1} = 1$", "$1/0 = 2$", "3 x 0 =", "half of", "divided by", "= 5", "12", "0",
             "100%", "\\boxed{", "}", "The answer is \\boxed{3}.", "\n", "Step 1:", "0x = 5", "1e309",
             "5 ÷ 0 = 1", "3/4")  # fmt: skip


def test_no_text_a_model_writes_makes_the_checks_raise() -> None:
    """Fixed-seed fuzz over fragments models have written or could (zero denominators, huge powers, broken LaTeX):
    a check that raises fails the whole stage for every trace of the batch."""
    import random

    rng = random.Random(0)
    for _ in range(2000):
        trace = "".join(rng.choice(FRAGMENTS) + rng.choice(" \n") for _ in range(rng.randint(1, 14)))
        check_trace(f"Ava has 5 apples and 0 pears. What is 2/0? {trace}", trace, reference="#### 5")


LENA = "Lena bakes 21 cookies. Lena gives 16 cookies to the neighbours. How many cookies does Lena have now?"
HANA = "Hana has 11 marbles. Hana loses 4 marbles while playing. How many marbles does Hana have now?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # what is lost stated as what is left, before a sound calculation: a demo published this
            HANA,
            "Step 1: There are 4 marbles left.\nStep 2: After losing the 4 marbles, Hana has 11 - 4 = 7 marbles now.\n"
            "The answer is \\boxed{7}.",
            "misread_fact: There are 4 marbles left. (the problem: Hana loses 4 marbles while playing.)",
        ),
        (  # what is given away stated as the start: a demo published this too
            "Hana bakes 19 cookies. Hana gives 6 cookies to the neighbours. How many cookies does Hana have now?",
            "Step 1: She starts with 6 cookies.\nStep 2: 19 - 6 = 13 cookies.\nThe answer is \\boxed{13}.",
            "misread_fact: She starts with 6 cookies. (the problem: Hana gives 6 cookies to the neighbours.)",
        ),
        (HANA, "Step 1: She starts with 11 marbles.\nStep 2: 11 - 4 = 7 marbles are left.\nThe answer is 7.", None),
        (  # left, and worked out before: 8 - 4 = 4
            "Hana has 8 marbles. Hana loses 4 marbles while playing. How many marbles does Hana have now?",
            "Step 1: 8 - 4 = 4.\nStep 2: There are 4 marbles left.\nThe answer is \\boxed{4}.",
            None,
        ),
        (  # the problem itself says what is left
            "Hana loses 4 marbles and has 4 marbles left. How many did she have?",
            "Step 1: There are 4 marbles left.\nStep 2: 4 + 4 = 8 marbles.\nThe answer is \\boxed{8}.",
            None,
        ),
        (  # the one who receives has what was given
            "Tom has 9 apples. Tom gives 3 apples to Ann. How many apples does Tom have now?",
            "Step 1: Ann has 3 apples.\nStep 2: 9 - 3 = 6 apples.\nThe answer is \\boxed{6}.",
            None,
        ),
        (  # what is given away called what remains, beside a sound calculation: a demo published this
            LENA,
            "Step 1: Lena starts with 21 cookies.\nStep 2: After selling the remaining 16, 21 - 16 = 5 cookies were "
            "left.\nThe answer is \\boxed{5}.",
            "misread_fact: After selling the remaining 16, 21 - 16 = 5 cookies were left. (the problem: Lena gives 16 "
            "cookies to the neighbours.)",
        ),
        (LENA, "Step 1: After giving 16 away, the remaining 21 - 16 = 5 cookies are hers.\nThe answer is 5.", None),
        (LENA, "Step 1: 21 - 16 = 5.\nStep 2: She keeps the remaining 5 cookies.\nThe answer is \\boxed{5}.", None),
        (  # one sentence that keeps 13 and sells 5: the 13 is kept, the 5 leaves
            "Lena keeps 13 chickens on a farm and sells 5. How many chickens does Lena have left?",
            "Step 1: Lena sells 5 chickens.\nStep 2: She started with 13 chickens.\nStep 3: 13 - 5 = 8 are left.\n"
            "The answer is: 8",
            None,
        ),
        (
            "Lena keeps 13 chickens on a farm and sells 5. How many chickens does Lena have left?",
            "Step 1: She started with 5 chickens.\nStep 2: 13 - 5 = 8 are left.\nThe answer is: 8",
            "misread_fact: She started with 5 chickens. (the problem: Lena keeps 13 chickens on a farm and sells 5.)",
        ),
    ],
)
def test_an_amount_that_leaves_stated_as_what_is_kept_is_misread(problem: str, trace: str, error: str | None) -> None:
    assert find_reasoning_error(problem, trace) == error


DIEGO = "Diego has saved $25. A relative multiplies Diego's savings by 4. How many dollars does Diego have now?"


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (  # the answer given to the one who gave: a demo published this
            DIEGO,
            "Step 1: 25 * 4 = 100.\nStep 2: The relative has $100 left over.\nThe answer is \\boxed{100}.",
            "misread_fact: Step 2: The relative has $100 left over. (asked of another)",
        ),
        (DIEGO, "Step 1: 25 * 4 = 100.\nStep 2: Diego has $100 now.\nThe answer is \\boxed{100}.", None),
        (DIEGO, "Step 1: 25 * 4 = 100.\nStep 2: So he has $100.\nThe answer is \\boxed{100}.", None),
        (  # the answer's owner named too, in another clause
            "Anne has 12 fewer books than Fawn. Anne has 16 books. How many books does Fawn have?",
            "Step 1: Anne has 16 books, so Fawn has 16 + 12 = 28 books.\nThe answer is \\boxed{28}.",
            None,
        ),
        (  # a comparison asks of two
            "Robert has 30 cherries, 10 more than Jerry. How many more cherries does Robert have than Jerry?",
            "Step 1: Jerry has 30 - 10 = 20 cherries.\nStep 2: Jerry has 20 fewer, so 30 - 20 = 10.\n"
            "The answer is \\boxed{10}.",
            None,
        ),
        (  # the place the question names holds the answer
            "A class library has 19 books. Hana receives a donation of 10 books. How many books does Hana have in the "
            "library now?",
            "Step 1: 19 + 10 = 29.\nStep 2: The library has 29 books.\nThe answer is \\boxed{29}.",
            None,
        ),
        (  # GSM8K train solutions, each sound: the answer is an operand of another's holding, not what it holds
            "Dawn has 40 more bananas than Lydia, who has 60. The three have 200. How many bananas does Donna have?",
            "Step 1: Lydia has 60, and Dawn has 40 more, then Dawn has 60+40 = <<60+40=100>>100 bananas.\n"
            "Step 2: 200 - 100 - 60 = <<200-100-60=40>>40.\nThe answer is \\boxed{40}.",
            None,
        ),
        (  # a term in an unknown is held, not the number before it
            "John has twice as many children as his sister Yasmin. Their father has 6 grandkids. How many children "
            "does Yasmin have?",
            "Step 1: Let Y be Yasmin's children.\nStep 2: Then John has 2*Y = 2Y kids.\n"
            "Step 3: 2Y + Y = 6, so 3Y = 6.\nStep 4: Y = 6/3 = 2.\nThe answer is \\boxed{2}.",
            None,
        ),
        (  # another's holding comes first in the sentence, the asked one's holding last
            "Bruce has 20 more legos than Kent, who has 40. Simon has 20% more than Bruce. How many does Simon have?",
            "Step 1: Bruce has 20+40 = 60 legos.\nStep 2: .20*60 = 12 legos.\n"
            "Step 3: Kent has 40 and Bruce has 60 so Simon has 12+60 = 72 legos.\nThe answer is \\boxed{72}.",
            None,
        ),
    ],
)
def test_an_answer_given_to_another_than_the_one_asked_about_is_misread(
    problem: str, trace: str, error: str | None
) -> None:
    assert find_reasoning_error(problem, trace) == error


HARRY = "Harry slept x hours last night. James slept 2/3 of what Harry slept. Harry slept 3 more hours than James."


@pytest.mark.parametrize(
    ("trace", "error"),
    [
        ("Step 1: James slept (2/3)x hours.\nStep 2: We are given that the value of x is 6, so x = 6.\n"
         "The answer is \\boxed{6}.",
         "misread_fact: We are given that the value of x is 6, so x = 6. (the problem gives no such number)"),
        ("Step 1: James slept (2/3)x hours.\nStep 2: We are given that Harry slept 3 more hours, so x - (2/3)x = 3.\n"
         "Step 3: (1/3)x = 3, so x = 9.\nThe answer is \\boxed{9}.", None),
        ("Step 1: x - (2/3)x = 3, so (1/3)x = 3.\nStep 2: According to the problem, (1/3)x = 3, so x = 9.\n"
         "The answer is \\boxed{9}.", None),  # a number an earlier step states
    ],
)  # fmt: skip
def test_a_number_said_to_be_given_that_the_problem_does_not_give_is_misread(trace: str, error: str | None) -> None:
    assert find_reasoning_error(HARRY, trace) == error


@pytest.mark.parametrize(
    ("trace", "steps"),
    [
        ("So \\[ x = 1. \\]Then y = 2.", ["So \\[ x = 1. \\]Then y = 2."]),  # no sentence ends inside a display
        (
            "We get\n\\begin{align*}\na &= 1 \\\\\nb &= 2\n\\end{align*}\nDone.",
            ["We get", "\\begin{align*} a &= 1 \\\\ b &= 2 \\end{align*}", "Done."],
        ),
        ("A line.\nAnother line.", ["A line.", "Another line."]),
        ("Opens \\[ and never closes.\nNext.", ["Opens \\[ and never closes.", "Next."]),  # left as it was
    ],
)
def test_display_math_stays_in_one_step(trace: str, steps: list[str]) -> None:
    from filters.steps.text import split_steps

    assert split_steps(trace) == steps


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("22", "answer_not_worked: the answer 22, but x = 66 was solved for"),  # the forward question's answer
        ("66", None),
    ],
)
def test_an_answer_must_be_the_unknown_solved_for(answer: str, error: str | None) -> None:
    problem = (
        "James delivers x messages to Ms. Thompson and 1/3 as many messages to Mr. Yu, 88 messages in all. "
        "What is the value of unknown variable x?"
    )
    trace = (
        "Step 1: He delivers (1/3)*x messages to Mr. Yu.\nStep 2: So x + (1/3)*x = (4/3)*x = 88.\n"
        f"Step 3: Multiplying both sides by 3/4: x = 66.\nStep 4: He delivers (1/3)*66 = 22 to Mr. Yu.\n#### {answer}"
    )
    checked = check_trace(problem, trace)
    assert (None if checked.error is None else str(checked.error)) == error
    assert checked.first_bad_step == (None if error is None else 4)


@pytest.mark.parametrize(("answer", "flagged"), [("13", False), ("91", True)])
def test_an_unknown_solved_in_latex_is_the_answer(answer: str, flagged: bool) -> None:
    problem = "Lena reads x pages a day. In a week she reads 91 pages. What is the value of unknown variable x?"
    trace = (
        "In 7 days she reads $7x$ pages.\nSo $7x = 91$, so $x = \\frac{91}{7} = 13$.\n"
        f"The answer is $\\boxed{{{answer}}}$."
    )
    assert (check_trace(problem, trace).error is not None) == flagged


@pytest.mark.parametrize(
    ("step", "flagged"),
    [
        ("Walking dogs = 39 + $30 = 69 dollars.", True),  # a row a demo published on 2026-12-06
        ("Walking dogs: 39 + 30 = 69 dollars.", True),
        ("Total = 39 + $30 = 69 dollars.", False),
        ("Nia = 39 + $30 = 69 dollars.", False),  # a participant's holding, not an activity
        ("Walking dogs and saving = 39 + 30 = 69 dollars.", False),  # named after both parts
    ],
)
def test_a_sum_is_not_named_after_one_of_its_parts(step: str, flagged: bool) -> None:
    problem = "Nia has saved $30. Nia earns $39 more by walking dogs. How many dollars does Nia have now?"
    checked = check_trace(problem, f"Step 1: Nia has $30.\nStep 2: {step}\nThe answer is \\boxed{{69}}.")
    assert (checked.error is not None and checked.error.code == "misread_fact") == flagged


def test_a_display_longer_than_its_limit_is_left_as_lines() -> None:
    from filters.steps.text import split_steps

    looping = "\n".join(["\\[ x = 1 + 2"] * 60)  # a model in a loop opens displays it does not close
    assert len(split_steps(looping)) == 60
    long = "\n".join(["\\[ x = 1", *["+ 1"] * 45, "\\]", "Done."])  # closes, but past the limit
    assert len(split_steps(long)) == 48
    assert len(split_steps("\\[ x = 1\n+ 2 \\]\nDone.")) == 2
