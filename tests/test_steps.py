"""The reasoning checks: stated calculations, derived answers, family facts and the chance-level gate."""

import json

import polars as pl
import pytest

from filters.families import binomial_tail, chance_level, family_reasoning_error
from filters.steps import check_trace, find_reasoning_error
from filters.steps.claims import justified_claims
from filters.steps.tokens import normalize
from filters.verify import ReasoningChecks, StepJudge, verify_traces
from generators.tasks.judge import parse_first_wrong_step

PROBLEM = "Ava has 16 apples. She gives 3 to Ben and 4 to Chloe. How many apples does she have left?"


@pytest.mark.parametrize(
    "trace",
    [
        "16 - 3 - 4 = 9\nThe answer is \\boxed{9}.",
        "She gives away 3 + 4 = 7 apples, so 16 - 7 = 9 are left. \\boxed{9}",
        "Step 1: $12 - $2 = $10\nStep 2: $10 - $1 = $9\nThe answer is \\boxed{9}.",
        "3 x 4 = 12 and 12 - 3 = 9. \\boxed{9}",
        "3 × 4 = 12, 12 ÷ 4 = 3, 3 · 3 = 9. \\boxed{9}",
        "20% of 50 is 10, and 10 - 1 = 9. \\boxed{9}",
        "2 times 5 equals 10, 10 minus 1 equals 9. \\boxed{9}",
        "Half of 18 is 9. \\boxed{9}",
        "The total is 4 + 5 = 9 = 9. \\boxed{9}",
        "She had $1,200 + $300 = $1,500, then $1,500 - $1,491 = $9. \\boxed{9}",
        "$\\frac{1}{2} \\times 18 = 9$. \\boxed{9}",
        "$3 \\cdot 3 = 9$. \\boxed{9}",
        "Running total: 2 + 3 = 5 + 4 = 9. \\boxed{9}",
        "10 / 3 = 3.33 per friend, so 3 friends get 3.33 * 3 = 9.99, or about 10; really 4 + 5 = 9. \\boxed{9}",
        "2 hours = 120 minutes, and 120 / 40 = 3 laps, 3 * 3 = 9. \\boxed{9}",
        "0.09 * 100 = 9%, so 9 of every 100. \\boxed{9}",
        "8 bags/trip * 4 oz/bag = 32 oz/trip, and 32 oz / 16 oz/pound = 2 pounds; 2 + 7 = 9. \\boxed{9}",
        "Let x be the apples left. Then x + 7 = 16, so x = 16 - 7 = 9. \\boxed{9}",
        "2 1/2 + 6 1/2 = 9. \\boxed{9}",
        "Mixed-up notation: 32(.25) = 8 and 8 + 1 = 9. \\boxed{9}",
        "The 1200-mile trip / 50 miles an hour = 24 hours; 24 - 15 = 9. \\boxed{9}",
        "So 9 = 4 + 5, and 3 nickels = 3 * $0.05 = $0.15 on the side. \\boxed{9}",
        "Half of the winnings is W/2 = 4 + 5 = 9. \\boxed{9}",
        "2 hours is 2 * 60 = 120 minutes, and 120 / 40 = 3 laps, 3 * 3 = 9. \\boxed{9}",
        "9 apples is 4 + 5 = 9 apples. \\boxed{9}",
        "The amount that beats Ben by 1 apple is 8 + 1 = 9 apples. \\boxed{9}",
        "Let x be the apples left. 2x = 18, so x = 18 / 2 = 9. \\boxed{9}",
        "Let Y be the minutes. 3 x Y = 9 x 3 or 3Y = 27, so Y = 27 / 3 = 9. \\boxed{9}",
        "Let x be the apples left. 3x = 28, so x = 9.33, about 9. \\boxed{9}",
        "Of 27 apples, 2.5 are bad: 2.5 / 27 * 100% = 9.259%, about 9%. \\boxed{9}",  # a percent rounded
        # words before a count say what "is" is said of (GSM8K, its calculator notes cut: "Double 10 bales is 10*2 =
        # 20 bales", "the number of flowers left after he gave his brother 15 flowers is 60 - 15 = 45 flowers")
        "Triple 3 apples is 3 * 3 = 9 apples. \\boxed{9}",
        "The apples left after he gave away 15 apples is 24 - 15 = 9 apples. \\boxed{9}",
        "The train took 5 one way + 4 on the return trip = 9 people. \\boxed{9}",  # a number word in a label
        # an amount said to be a share worked out (GSM8K: "The $15 is 1 - 1/4 = 3/4 of the money left", "Therefore
        # 192 is 2/3 of the original amount: (2/3)* original amount = 192", "So 20% is $14 + $42 = $56")
        "So $6 is 1 - 1/3 = 2/3 of the money, and 6 / (2/3) = 9. \\boxed{9}",
        "So 6 is 2/3 of the apples: (2/3) * apples = 6, and 6 * 3 / 2 = 9. \\boxed{9}",
        "If 10% is $3, then 30% is $3 + $6 = $9. \\boxed{9}",
        "Leave at 11 a.m. - 2 hours = 9 a.m. \\boxed{9}",  # a clock time's full stops end no sentence
        "- Apples: 4 + 5 = **9**\n\n**Answer: 9**",  # Markdown bold
        "Step 1: 4 + 14 = 18 cups.\nStep 2: 18 cups = 9 pints.\n\\boxed{9}",  # cups and pints convert
        "The bed is 30 sq. ft. - 21 sq.ft = 9 sq. ft. of soil. \\boxed{9}",  # abbreviations end no sentence
        "She pays $5 (apples) + $4 (pear juice) = $9. \\boxed{9}",  # labels in parentheses
        "Two crates hold 2 * 1 500 = 3 000 grams, or 3 kilograms, and 3 + 6 = 9. \\boxed{9}",  # spaced thousands
        "The drive holds 1800 / 200 = 9 200-kilobyte videos. \\boxed{9}",  # a count before a hyphenated size
        # a parenthesis never closed, itself an operand: which numbers it holds is unknown (a GSM8K solution without
        # its note: "he has to make a total of $100+($100*(10/100) = $110 from sales")
        "He makes $12+($12*(50/100) = $18 in all, and 18 / 2 = 9. \\boxed{9}",
        # an operand named in words, inside parentheses or right after a number (GSM8K: "1 + (Michael's age - 1) x 2 =
        # 15", ".1(Number of Minutes) + 1 = .15(Number of Minutes)")
        "If 1 + (Ben's age - 1) x 2 = 17, then Ben's age is 9. So 4 + 5 = 9. \\boxed{9}",
        "So .1(Number of Days) + 1 = .2(Number of Days), and 1 / .1 = 10, 10 - 1 = 9. \\boxed{9}",
        "Step 1: In minutes we get: 2 hours = 120 minutes.\nStep 2: 120 / 40 = 3, 3 * 3 = 9.\n\\boxed{9}",  # converts
        # from GSM8K train solutions: spaced thousands ending a sentence or divided, mixed numbers in words, a
        # quotient cut to whole turns, and times of day
        "The profit is $45 000 x 20/100 = $9 000. And 9 000 / 1 000 = 9. \\boxed{9}",
        "They get 18 000/2 = 9 000 each, and 9 000 / 1 000 = 9. \\boxed{9}",
        "He reads 4 / 3 = 1 and 1/3 hours of each, and 1 and 1/3 * 6 + 1 = 9. \\boxed{9}",
        "Carrying 26 objects three at a time takes 26/3 = 8 and 2/3 loads, so 8 + 1 = 9 trips. \\boxed{9}",
        "In 58 hours the cycle fits 58 / 6 = 9 full cycles with a remainder of 4 hours. \\boxed{9}",
        "She left at 7:50 and walked 30 minutes, so 7:50 + 30 minutes = 8:20, and 4 + 5 = 9. \\boxed{9}",
        "From 9 am - 5 pm is 8 hours, and 8 + 1 = 9. \\boxed{9}",  # a stretch between clock times, no minus
        "Day 1 + Day 2 = 4 + 5 = 9 apples. \\boxed{9}",  # parts named by labels (GSM8K: "Week 1 + Week 2 = 35 + 35")
        "She has 9 apples because 18 / 2 = <<9=9>>9. \\boxed{9}",  # a calculator note with nothing to calculate
        # a statement and the calculation after "because": its result, an operand or a percent
        "She sold 7 apples because 7 x 1 = 7, and 16 - 7 = 9 are left because 16 - 7 = 9. \\boxed{9}",
        "She earned $21 because she sold 7 apples and 7 x 3 = 21, so 30 - 21 = 9. \\boxed{9}",
        "She kept 9 apples because 3 x 3 = 9, which is 56% because 9 / 16 = .5625. \\boxed{9}",
        # the result written after a calculator note: rounded, cut to a whole, a percent, its sign said in words
        "She has 28 / 3 = <<28/3=9.333333333333334>>9.33, so 9 whole bags. \\boxed{9}",
        "She fills 28/3 = <<28/3=9.333333333333334>>9 bags. \\boxed{9}",
        "She ate 9/100 = <<9/100=0.09>>9% of them, and 4 + 5 = 9. \\boxed{9}",
        "Ben got 9 - 18 = <<9-18=-9>>9 fewer apples, so she has 9. \\boxed{9}",
        # a measure in two units turned into the smaller one: the smaller part is no count set equal to the sum
        "1 hour 30 minutes = 60 + 30 = 90 minutes, and 90 / 10 = 9. \\boxed{9}",
        "He rode 1 hour and 30 minutes, which is 60 + 30 = 90 minutes; 90 / 10 = 9. \\boxed{9}",
        "2 feet 3 inches = 2 * 12 + 3 = 27 inches, and 27 / 3 = 9. \\boxed{9}",
        # a chain whose value goes on in another unit (a GSM8K solution: "he has 4-2=2 hours=120 minutes left")
        "He has 4 - 2 = 2 hours = 120 minutes left, and 120 / 40 = 3, 3 * 3 = 9. \\boxed{9}",
        # an amount set equal to itself in another unit works the answer out (GSM8K: "2.5 years = 30 months")
        "Step 1: Let F be the hours. 2F = 1.5, so F = 0.75.\nStep 2: 0.75 hours = 45 minutes.\n"
        "Step 3: 45 / 5 = 9.\n\\boxed{9}",
        "Step 1: Let F be the years. 4F = 3, so F = 0.75.\nStep 2: 0.75 years = 9 months.\n\\boxed{9}",
        # a known unknown put into a multiple of it works that multiple out (a GSM8K solution: "x=10", then "the
        # number of Carla's wins would be 2x=20 games")
        "Step 1: Let x be the pears. 3x = 13.5, so x = 4.5.\nStep 2: The apples are twice the pears.\n"
        "Step 3: So the apples are 2x = 9.\n\\boxed{9}",
        # an amount in cents set equal to one in dollars (GSM8K: "$0.25/glass x 10 glasses = 250 cents")
        "Each costs 3 * 50 cents = $1.50, and 1.50 * 6 = 9. \\boxed{9}",
        "She sells 10 glasses: $0.25/glass x 10 glasses = 250 cents, and 250 - 241 = 9. \\boxed{9}",
        "Each dryer costs 25 x 4 = 100 cents = $1, and 1 * 9 = 9. \\boxed{9}",
        # a negative operand after an operation, and a statement joined by "because" (GSM8K solutions)
        "Step 1: -36 + 13 + -15 + 47 = 9 degrees.\nThe answer is \\boxed{9}.",
        "Step 1: -2X = -18.\nStep 2: Therefore X = 9 because -18/-2 = 9.\n\\boxed{9}",
        "Nikita = (1/2) 16 + 1 = 9 points. \\boxed{9}",  # a product after a parenthesis (a GSM8K test solution)
        # parts named by labels, and a result set equal to itself, are no dropped operation
        "Week 1 = 4 apples and Week 2 = 5 apples, so 4 + 5 = 9 apples. \\boxed{9}",
        "Taking away 7 leaves 16 - 7 = 9 = 9 apples. \\boxed{9}",
    ],
)
def test_correct_traces_in_varied_notation_are_kept(trace: str) -> None:
    assert find_reasoning_error(PROBLEM, trace) is None


@pytest.mark.parametrize(
    ("trace", "claim"),
    [
        ("16 - 3 - 4 = 8\nThe answer is \\boxed{9}.", "16 - 3 - 4 = 8"),
        ("Step 1: $12 - $2 = $11\nStep 2: 11 - 2 = 9\n\\boxed{9}", "12 - 2 = 11"),
        ("3 x 4 = 13 and 13 - 4 = 9. \\boxed{9}", "3 * 4 = 13"),
        ("20% of 50 is 12, then 12 - 3 = 9. \\boxed{9}", "20% * 50 = 12"),
        ("2 times 5 equals 11, and 11 - 2 = 9. \\boxed{9}", "2 * 5 = 11"),
        ("Half of 318 is 158. 158 - 149 = 9. \\boxed{9}", "half * 318 = 158"),
        ("The total is 4 + 5 = 9 = 10. \\boxed{9}", "4 + 5 = 10"),
        ("- Apples: 4 + 4 = **9**\n\n**Answer: 9**", "4 + 4 = 9"),  # Markdown bold is no number of its own
        ("He has 4 + 14 = 18 cups = 8 pints, and 8 + 1 = 9. \\boxed{9}", "18 cups = 8 pints"),  # 2 cups a pint
        ("$\\frac{1}{2} \\times 10 = 6$, 6 + 3 = 9. \\boxed{9}", "\\frac{1}{2} \\times 10 = 6"),  # read by sympy
        ("10 / 4 = 2.6, and 2.6 + 6.4 = 9. \\boxed{9}", "10 / 4 = 2.6"),
        ("Amanda has gone on 7 hikes x 8 = 55 hikes. 55 - 46 = 9. \\boxed{9}", "7 hikes * 8 = 55"),
        ("He spends $40 on t-shirts * 2 = $82 on coats, and 82 - 73 = 9. \\boxed{9}", "40 on t-shirts * 2 = 82"),
        ("She found 3 * 3 = 12 T-shirts. 12 - 3 = 9. \\boxed{9}", "3 * 3 = 12"),
        # a bare number set equal to a calculation (seen in a published demo row, "multiplies her savings by 4 = ...")
        ("She multiplies her savings by 3 = $3 * 3 = 9. \\boxed{9}", "3 = 3 * 3"),
        # a count said to be a calculation whose result is counted in the same unit (a published demo row: "Step 1:
        # 24 marbles is 3 * 24 = 72 marbles")
        ("Step 1: 3 apples is 3 * 3 = 9 apples.\nThe answer is \\boxed{9}.", "3 = 3 * 3"),
        ("16 apples = 4 + 5 = 9 apples. \\boxed{9}", "16 = 4 + 5"),
        # where the calculation is false too, its slip is the one reported (a demo's "26 books is 26 * 12 = 380 books")
        ("Step 1: 3 apples is 3 * 4 = 9 apples.\nThe answer is \\boxed{9}.", "3 * 4 = 9"),
        # an amount of money said to be a calculation (a demo's cot-steps row: "Step 1: $6 is 2 * 6 = 12 dollars.")
        ("Step 1: $3 is 3 * 3 = 9 dollars.\nThe answer is \\boxed{9}.", "3 = 3 * 3"),
        ("So $3 is 3 * 3 = $9.\nThe answer is \\boxed{9}.", "3 = 3 * 3"),
        ("1 hour 30 minutes = 60 + 30 = 80 minutes, and 80 - 71 = 9. \\boxed{9}", "60 + 30 = 80"),
        ("He has 4 - 2 = 2 hours = 100 minutes left, and 100 - 91 = 9. \\boxed{9}", "2 hours = 100 minutes"),
        ("From 9 am - 5 pm is 8 hours, and 8 + 2 = 9. \\boxed{9}", "8 + 2 = 9"),  # the rest of a clock line is judged
        ("The bed is 30 sq. ft. - 20 sq.ft = 9 sq. ft. of soil. \\boxed{9}", "30 sq ft - 20 = 9"),
        ("She pays $5 (apples) + $5 (pear juice) = $9. \\boxed{9}", "5 + 5 = 9"),
        ("She has 9 apples (4 + 4 = 9). \\boxed{9}", "4 + 4 = 9"),  # a calculation in parentheses is checked
        # a calculator note's result written otherwise (GPT-3's GSM8K test solutions: "130,000*.15 =
        # $<<130000*.15=19500.0>>195,000"; "360 - 480 = $<<360-480=-120>>120" with no word for the sign)
        ("He has 3 * 30 = <<3*30=90>>900 apples, and 900 - 891 = 9. \\boxed{9}", "3 * 30 = 900"),
        ("She ate 40 * 50 = $<<40000*50=2000000>>200,000 and 4 + 5 = 9. \\boxed{9}", "40000 * 50 = 200,000"),
        ("She has 18 - 27 = <<18-27=-9>>9 apples. \\boxed{9}", "18 - 27 = 9"),
        # a statement its own "because" calculation does not give (GSM8K solutions: "He needs to spend 160 because
        # 480 / 30 = 16"; GPT-3's: "She buys 2 cartons of ice cream a month because 210 / 15 = 14.0")
        ("She has 8 apples left because 16 - 7 = 9. \\boxed{9}", "She has 8 apples left because 16 - 7 = 9"),
        ("She gave 3 bags because 14 / 2 = <<14/2=7>>7, and 16 - 7 = 9. \\boxed{9}", "3 bags because 14 / 2 = 7"),
        ("She has (4 apples + 4 apples) = 9 apples. \\boxed{9}", "4 apples + 4 apples"),  # units are no operands
        ("Each costs 3 * 50 cents = $1.60, and 1.60 * 5 + 1 = 9. \\boxed{9}", "3 * 50 = 1.60"),  # cents, by 100 only
        ("Step 1: -36 + 13 + -15 + 46 = 9 degrees.\nThe answer is \\boxed{9}.", "- 36 + 13 + - 15 + 46 = 9"),
        ("Step 1: So X = 9 because -18/-2 = 8.\n\\boxed{9}", "- 18 / - 2 = 8"),
        ("Nikita = (1/2) 16 + 3 = 9 points. \\boxed{9}", "( 1/2 ) 16 + 3 = 9"),
        ("Green: 27 M&Ms / 30 M&Ms * 100 = 80%, and 80 - 71 = 9. \\boxed{9}", "27 M&Ms / 30 M&Ms * 100 = 80%"),
        ("Two crates hold 2 * 1 500 = 3 500 grams, and 3 + 6 = 9. \\boxed{9}", "2 * 1 500 = 3 500"),
        ("They get 18 000/2 = 8 000 each, and 8 + 1 = 9. \\boxed{9}", "18 000 / 2 = 8 000"),
        ("He reads 4 / 3 = 1 and 2/3 hours, and 4 + 5 = 9. \\boxed{9}", "4 / 3 = 1 2/3"),
        ("It fits 58 / 6 = 9 cycles, and 4 + 5 = 9. \\boxed{9}", "58 / 6 = 9"),  # no remainder said: a slip
        # a count set equal to another number, its operation dropped (a demo's published row: "Taking away 6 leaves
        # 9 = 3 books", as the worked examples write "leaves 9 - 6 = 3 books")
        ("Step 1: Taking away 7 leaves 16 = 9 apples.\nThe answer is \\boxed{9}.", "16 = 9"),
        ("Step 1: Adding the 5 more gives 4 = 9 apples.\nThe answer is \\boxed{9}.", "4 = 9"),
        ("Step 1: 3 times as many is 3 = 9 apples.\nThe answer is \\boxed{9}.", "3 = 9"),
        # an equation set up between two plain amounts (a real solution: "so we can write: $180000 = $330000.")
        ("Step 1: 16 - 7 = 9 apples.\nStep 2: She paid $12, so we can write: $9 = $12.\n\\boxed{9}", "9 = 12"),
        # a named unknown solved for, then given another value (the false calculations process_dev still let through)
        (
            "Step 1: Let x be the apples left.\nStep 2: 10x = 80\nStep 3: x = 9\nThe answer is \\boxed{9}.",
            "x = 9, but x = 8",
        ),
        ("Let J be Ben's apples. 3J = 27, so J = 9, and 2J = 20. \\boxed{9}", "J = 10, but J = 9"),
    ],
)
def test_a_false_calculation_is_rejected_and_named(trace: str, claim: str) -> None:
    reason = find_reasoning_error(PROBLEM, trace)
    assert reason is not None and reason.startswith("false_calculation: ")
    assert claim in reason


@pytest.mark.parametrize(
    "line",
    [
        "He lost 9 that day because 11 - 20 = -9",  # a loss is the size of a negative result
        "There are 3 million women in the city because 6,000,000 / 2 = 3,000,000",
        "The first crane is 14 percent taller because if 200 + 200x = 228 then x = .14",  # an unknown solved for
        "The person closest to him read 14, 400 pages because 19,200 x .75 = 14,400",  # a typo of 14,400
        "She is late because the bus left at 7 and 7 + 2 = 9",  # no calculation right after "because"
    ],
)
def test_a_statement_its_because_calculation_gives_is_kept(line: str) -> None:
    assert justified_claims(normalize(line)) == []


DIEGO = (
    "Diego has saved $12. Diego spends $2 on a book. Diego earns $2 more by walking dogs. "
    "How many dollars does Diego have now?"
)


@pytest.mark.parametrize(
    ("problem", "trace"),
    [
        (DIEGO, "The cost of walking dogs is $1 per day. \\boxed{12}"),
        (DIEGO, "Diego has saved $12. Diego spends $2 on a book.\nThe answer is \\boxed{12}."),
        (PROBLEM, "Step 1: Ava has 16 apples.\nStep 2: She gives 3 to Ben and 4 to Chloe.\nThe answer is \\boxed{9}."),
        (PROBLEM, "The answer is \\boxed{9}."),
        (
            "Premise 1: Some blicks are qualls. Premise 2: Some florps are blicks. Does it follow that some florps "
            "are qualls? Answer yes or no.",
            "Some blicks are qualls. Some florps are blicks. So the answer is \\boxed{no}.",
        ),
    ],
)
def test_an_answer_no_step_derives_is_rejected(problem: str, trace: str) -> None:
    assert find_reasoning_error(problem, trace) == "answer_not_derived"


TREES = (
    "There are three trees in the town square. The tallest tree is 150 feet tall. The middle height tree is 2/3 the "
    "height of the tallest tree. The shortest tree is half the size of the middle tree. How tall is the shortest tree?"
)
MATEO = "Mateo has saved $20. A relative multiplies Mateo's savings by 4 as a gift. How many dollars does Mateo have?"
FLOORS = (
    "The Chrysler Building has 11 more floors than the Leeward Center. Together they have a total of 35 floors. How "
    "many floors does the Chrysler Building have?"
)


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [
        (
            TREES,
            "Step 1: Tallest Tree: 151 feet\nStep 2: Middle Tree: 150(2/3)=300/3=100 feet\nStep 3: 100/2=50 feet\n"
            "The answer is \\boxed{50}.",
            "misread_fact: Tallest Tree: 151 feet (the problem: The tallest tree is 150 feet tall.)",
        ),
        (
            PROBLEM,
            "Step 1: Ava has 15 apples.\nStep 2: 16 - 3 - 4 = 9\nThe answer is \\boxed{9}.",
            "misread_fact: Ava has 15 apples. (the problem: Ava has 16 apples.)",
        ),
        (TREES, "Step 1: Tallest tree: 150 feet\nStep 2: 150 * 2/3 = 100, 100/2 = 50\n\\boxed{50}", None),
        (  # another sentence's number in a step that restates this one (a demo's published row)
            MATEO,
            "Step 1: The relative multiplies the savings by $20.\nStep 2: 4 * 20 = 80 dollars.\n"
            "The answer is \\boxed{80}.",
            "misread_fact: The relative multiplies the savings by  20. (the problem: A relative multiplies Mateo's "
            "savings by 4 as a gift.)",
        ),
        (MATEO, "Step 1: The relative multiplies the savings by 4.\nStep 2: 4 * 20 = 80.\n\\boxed{80}", None),
        (  # the step restates the sentence that gives its number, not the one of the total
            "Amber, Micah, and Ahito ran 52 miles in total. Amber ran 8 miles. Micah ran 3.5 times what Amber ran.",
            "Step 1: Amber ran 8 miles.\nStep 2: Micah ran 3.5 * 8 = 28 miles.\nStep 3: 52 - 8 - 28 = 16 miles.\n"
            "The answer is \\boxed{16}.",
            None,
        ),
        (PROBLEM, "Step 1: 16 - 3 - 4 = 9\nStep 2: Ava has 9 apples.\nThe answer is \\boxed{9}.", None),
        (  # a given that relates two quantities is not a value to restate: the steps solve for Leeward's 12
            FLOORS,
            "Step 1: L + L + 11 = 35\nStep 2: 2L = 24\nStep 3: Leeward = 12 floors\nStep 4: 12 + 11 = 23 floors\n"
            "The answer is \\boxed{23}.",
            None,
        ),
        (  # the question's words say its answer, not its number (a GSM8K solution)
            "There are 3 numbers that are consecutive integers. Together they have a sum of 18. What is the largest "
            "of the 3 numbers?",
            "Let N = smallest number\nN + 1 = next number\nN + 2 = largest number\nN + (N + 1) + (N + 2) = 18\n"
            "3N + 3 = 18\n3N = 15\nN = 5\nThe largest number is 7.\n#### 7",
            None,
        ),
    ],
)
def test_a_step_that_restates_a_given_with_another_number_is_rejected(
    problem: str, trace: str, error: str | None
) -> None:
    assert find_reasoning_error(problem, trace) == error


COOKIES = "Emma bakes 9 cookies. Emma keeps baking until there are 2 times as many cookies. How many cookies now?"


@pytest.mark.parametrize(
    ("trace", "error"),
    [  # the working on the line of the final answer counts, and is checked; the boxed answer alone derives nothing
        ("Step 1: Emma starts with 9 cookies.\nStep 2: She has 9 * 2 = 18 cookies. The answer is \\boxed{18}.", None),
        ("Step 1: Emma starts with 9 cookies.\nStep 2: Twice: \\boxed{9 * 2 = 18}.\nThe answer is \\boxed{18}.", None),
        ("Step 1: She has 9 * 2 = 19 cookies. The answer is \\boxed{19}.", "false_calculation: 9 * 2 = 19"),
        ("Step 1: Emma starts with 9 cookies.\nThe answer is \\boxed{18}.", "answer_not_derived"),
        # a calculation that states the answer in words is working too, and is checked
        ("Step 1: Emma starts with 9 cookies.\nStep 2: The final answer is 9 * 2 = 18.\n#### 18", None),
        ("Step 1: Emma starts with 9 cookies.\nStep 2: Therefore, the answer is 9 * 2 = 18.\nThe answer is: 18", None),
        ("Emma starts with 9 cookies, so the answer is 9 * 2 = 19 cookies.", "false_calculation: 9 * 2 = 19"),
        # after a box, a calculation is no statement of the answer: "\boxed{18} - 9 = 9" derives nothing
        ("Step 1: Emma has 9 cookies.\nStep 2: \\boxed{18} - 9 = 9 more cookies.", "answer_not_derived"),
        # and a box that holds another number than the final answer is a second answer
        (
            "Step 1: Emma has \\boxed{9} + 9 = 18 cookies.\nThe answer is \\boxed{18}.",
            "two_answers: Step 1: Emma has \\boxed{9} + 9 = 18 cookies.",
        ),
    ],
)
def test_the_line_of_the_final_answer_is_working_up_to_the_answer(trace: str, error: str | None) -> None:
    assert find_reasoning_error(COOKIES, trace) == error


def test_diego_derived_properly_is_kept() -> None:
    trace = "Diego has $12 - $2 = $10 after the book, then $10 + $2 = $12 after walking dogs. \\boxed{12}"
    assert find_reasoning_error(DIEGO, trace) is None


def test_step_labels_mark_the_first_bad_step() -> None:
    check = check_trace(
        PROBLEM, "Step 1: 3 + 4 = 7\nStep 2: She thinks.\nStep 3: 16 - 7 = 8\nThe answer is \\boxed{9}."
    )
    assert check.labels == [True, None, False, None]
    assert check.first_bad_step == 2 and check.claims == 2
    assert check_trace(PROBLEM, "Ava has 16 apples. \\boxed{16}").labels[-1] is False


ISLAND = {  # Ava says Ben is a knave, Ben says they are the same kind: Ava is a knight, Ben a knave
    "people": ["Ava", "Ben"],
    "statements": [
        {"speaker": "Ava", "claim": {"kind": "is_knave", "about": ["Ben"]}},
        {"speaker": "Ben", "claim": {"kind": "same", "about": ["Ava", "Ben"]}},
    ],
    "target": "Ava",
}
CALENDAR = {"start": 3, "offset": 3, "choices": ["Tuesday", "Sunday", "Monday", "Friday"]}  # Thursday + 3 = Sunday


@pytest.mark.parametrize(
    ("template", "spec", "trace", "error"),
    [
        (
            "calendar",
            CALENDAR,
            "One day after Thursday is Saturday, two days is Sunday, three days is Tuesday. Monday is option (B). "
            "\\boxed{B}",
            "One day after Thursday is Saturday",
        ),
        (
            "calendar",
            CALENDAR,
            "In 3 days it will be Sunday. Monday is option (B). \\boxed{B}",
            "option (B) is Sunday",
        ),
        (
            "calendar",
            CALENDAR,
            "One day after Thursday is Friday, two days after is Saturday, three days after is "
            "Sunday. Sunday is option (B). \\boxed{B}",
            None,
        ),
        ("calendar", CALENDAR, "If it were 2 days it would be Monday; in 3 days it is Sunday, (B). \\boxed{B}", None),
        (
            "knights_and_knaves",
            ISLAND,
            "Ben says they are the same kind. So Ben is a knight and Ava is a knave. \\boxed{knight}",
            "Ben is a knight",
        ),
        (
            "knights_and_knaves",
            ISLAND,
            "If Ben is a knight, Ava is a knight too, but then Ava lies. So Ben is a knave and Ava is a knight. "
            "\\boxed{knight}",
            None,
        ),
        (
            "ordering",
            {
                "people": ["Ava", "Ben", "Chloe"],
                "clues": [{"kind": "first", "a": "Ben"}, {"kind": "before", "a": "Chloe", "b": "Ava"}],
                "place": 1,
            },
            "Ben finished first. Ava finished second. \\boxed{Ava}",
            "Ava finished second",
        ),
    ],
)
def test_family_checks_hold_a_trace_to_the_solver(template: str, spec: dict, trace: str, error: str | None) -> None:
    found = family_reasoning_error(template, spec, trace)
    if error is None:
        assert found is None
    else:
        assert found is not None and found.code == "family_fact" and error in (found.detail or "")


@pytest.mark.parametrize(
    ("hits", "n", "chance", "expected"),
    [(5, 5, 0.5, 1 / 32), (4, 5, 0.5, 6 / 32), (0, 4, 0.5, 1.0), (3, 3, 0.25, 1 / 64), (2, 4, 0.25, 0.26171875)],
)
def test_binomial_tail(hits: int, n: int, chance: float, expected: float) -> None:
    assert binomial_tail(hits, n, chance) == pytest.approx(expected)


def test_chance_levels() -> None:
    assert chance_level("boolean", "syllogism", {}) == 0.5
    assert chance_level("choice", "calendar", CALENDAR) == 0.25
    assert chance_level("text", "knights_and_knaves", {"people": ["A", "B"]}) == 0.5
    assert chance_level("text", "ordering", {"people": ["A", "B", "C"]}) == pytest.approx(1 / 3)
    assert chance_level("math", "arithmetic", {}) is None


def _yes_no_rows(problem: str, answers: list[str]) -> list[dict]:
    return [
        {
            "kind": "cot",
            "id": f"{problem}-{i}",
            "problem_id": problem,
            "problem": "Premise 1: All cats are mammals. Premise 2: All mammals are animals. Are all cats animals?",
            "answer": "yes",
            "problem_template": "syllogism",
            "spec": json.dumps({"form": "Barbara"}),
            "text": f"Cats are within mammals, and mammals within animals, so that chain gives {a}. \\boxed{{{a}}}",
        }
        for i, a in enumerate(answers)
    ]


@pytest.mark.parametrize(
    ("answers", "kept"),
    [
        (["yes"] * 5, 4),  # 5/5 right: p = 1/32 < 0.05 (at most 4 kept per problem)
        (["yes"] * 4 + ["no"], 0),  # 4/5: p = 0.19, at chance
        (["yes"] * 4, 0),  # 4/4: p = 1/16 > 0.05: the gate cannot pass with 4 samples
        (["yes", "no"], 0),
    ],
)
def test_chance_gate_on_crafted_pass_counts(answers: list[str], kept: int) -> None:
    frame = pl.DataFrame(_yes_no_rows("p", answers))
    result, audit = verify_traces(frame, workers=1)
    assert result.kept.height == kept
    at_chance = result.dropped.filter(pl.col("code") == "answer_at_chance_level")
    assert at_chance.height == (answers.count("yes") if not kept else 0)
    gate = audit["reasoning"]["chance_gate"]
    assert gate["problems_tested"] == 1
    assert bool(gate["cannot_pass"]) == (len(answers) < 5)
    off, _ = verify_traces(frame, workers=1, checks=ReasoningChecks(chance_alpha=None))
    assert off.kept.height == min(4, answers.count("yes"))


def test_verified_rows_carry_their_checks_and_step_labels() -> None:
    frame = pl.DataFrame(
        [
            {"kind": "cot", "id": "good", "problem_id": "p", "problem": PROBLEM, "answer": "9",
             "text": "Step 1: 3 + 4 = 7\nStep 2: 16 - 7 = 9\nThe answer is \\boxed{9}."},
            {"kind": "cot", "id": "lucky", "problem_id": "p", "problem": PROBLEM, "answer": "9",
             "text": "Step 1: 3 + 4 = 8\nStep 2: 16 - 7 = 9\nThe answer is \\boxed{9}."},
        ]
    )  # fmt: skip
    result, audit = verify_traces(frame, workers=1)
    assert result.kept["id"].to_list() == ["good"]
    row = result.kept.row(0, named=True)
    assert row["verified"] and row["reasoning_checks"] == ["answer", "calculations:2", "derived"]
    assert row["step_labels"] == [True, True, None]
    assert result.dropped.select("code", "detail").rows() == [("false_calculation", "3 + 4 = 8")]
    assert audit["reasoning"]["right_answer_rows"] == 2
    assert audit["reasoning"]["rejected_by_reasoning"] == {"false_calculation": 1}


@pytest.mark.parametrize(
    ("completion", "steps", "index"),
    [
        ("Paragraph 1 adds wrongly. \\boxed{1}", 3, 1),
        ("All paragraphs hold. \\boxed{-1}", 3, -1),
        ("First \\boxed{0}, on reflection \\boxed{2}", 3, 2),
        ("\\boxed{ 0 }", 1, 0),
        ("\\boxed{7}", 3, None),  # out of range
        ("The error is in paragraph 2.", 3, None),  # no boxed index: no verdict
        ("\\boxed{two}", 3, None),
    ],
)
def test_step_judge_answers_are_parsed_or_none(completion: str, steps: int, index: int | None) -> None:
    assert parse_first_wrong_step(completion, steps) == index


def test_step_judge_verdicts_reject_label_and_record() -> None:
    frame = pl.DataFrame(
        [
            {"kind": "cot", "id": f"r{i}", "problem_id": f"p{i}", "problem": PROBLEM, "answer": "9",
             "text": "Step 1: 3 + 4 = 7\nStep 2: 16 - 7 = 9\nThe answer is \\boxed{9}."}
            for i in range(3)
        ]
    )  # fmt: skip
    asked: list[tuple[str, int]] = []

    def judge(problems: list[str], steps: list[list[str]], *_: list[str]) -> list[int | None]:
        asked.extend((p, len(s)) for p, s in zip(problems, steps, strict=True))
        return [1, -1, None]

    checks = ReasoningChecks(step_judges=(StepJudge("judge", judge),))
    result, audit = verify_traces(frame, workers=1, checks=checks)
    assert asked == [(PROBLEM, 3)] * 3
    assert result.dropped.select("code", "detail").rows() == [("judge_first_wrong_step", "1 (Step 2: 16 - 7 = 9)")]
    assert result.dropped["step_labels"].to_list() == [[True, False, None]]
    checks = dict(zip(result.kept["id"], result.kept["reasoning_checks"], strict=True))
    assert checks["r1"][-1] == "judge:no_wrong_step" and checks["r2"][-1] == "judge:no_verdict"
    assert audit["reasoning"]["rejected_by_reasoning"] == {"judge_first_wrong_step": 1}


def test_a_number_that_names_a_part_is_no_side_of_an_equation() -> None:
    problem = (
        "A 1000 car parking lot has 320 spaces in section 1, and 200 more in section 2 than in section 3. How many "
        "spaces are in section 2?"
    )
    trace = (
        "Step 1: Let x be the spaces in section 3. The spaces in section 2 = x + 200.\n"
        "Step 2: 320 + x + 200 + x = 1000, so 2x = 480 and x = 240.\nStep 3: 240 + 200 = 440.\n"
        "The answer is \\boxed{440}."
    )
    assert find_reasoning_error(problem, trace) is None


@pytest.mark.parametrize(
    ("trace", "error"),
    [
        (
            "Step 1: Let x be his age: twice x less 7 is x.\nStep 2: Taking x from both sides, 7 = x.\n"
            "The answer is \\boxed{7}.",
            None,
        ),
        (  # the unknown written second keeps the value it was solved to
            "Step 1: 3x = 21, so x = 7.\nStep 2: Then 8 = x, so David is 8.\nThe answer is \\boxed{8}.",
            "false_calculation: x = 8, but x = 7 before",
        ),
    ],
)
def test_a_number_equal_to_a_lone_unknown_solves_it(trace: str, error: str | None) -> None:
    problem = "David is 7 years older than half his age doubled less 7. How old is David?"
    assert find_reasoning_error(problem, trace) == error


PIZZA = "A pizza is cut into 8 slices. Tom eats 3 slices and Jerry eats 2 slices. What fraction of the pizza is left?"
WALK = "It takes Tom 15 minutes to walk a mile. How many hours does it take him to walk 4 miles?"
ROADS = (
    "Telegraph Road is 162 kilometers long. Pardee Road is 12000 meters long. How many kilometers longer is Telegraph?"
)


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [  # an answer stated by a conversion of a result, or as a fraction of two numbers before it, is worked out
        (WALK, "Walking 4 miles takes 15 × 4 = 60 minutes.\nSince 1 hour = 60 minutes, that is 1 hour.\n"
         "The answer is: 1", None),
        (PIZZA, "They ate 3 + 2 = 5 slices.\nThere are 8 - 5 = 3 slices left.\nSo 3/8 of the pizza is left.\n"
         "The answer is: 3/8", None),
        # the fraction's parts must be numbers stated before it; a false conversion derives nothing
        (PIZZA, "They ate 3 + 2 = 5 slices.\nSo 5/7 of the pizza is left.\nThe answer is: 5/7", "answer_not_worked"),
        (ROADS, "Telegraph is 162 * 1000 = 162000 meters.\n162000 - 12000 = 150,000 meters.\n"
         "Telegraph is 150 km longer than Pardee.\nThe answer is: 150", None),  # an earlier result in another unit
        (ROADS, "Telegraph is 162 * 1000 = 162000 meters.\n162000 - 12000 = 150,000 meters.\n"
         "Telegraph is 15 km longer than Pardee.\nThe answer is: 15", "answer_not_worked"),
        (WALK, "Walking 4 miles takes 15 × 4 = 60 minutes.\nSince 2 hours = 60 minutes, that is 2 hours.\n"
         "The answer is: 2", "answer_not_worked"),
    ],
)  # fmt: skip
def test_an_answer_converted_or_written_as_a_fraction_of_results_is_derived(
    problem: str, trace: str, error: str | None
) -> None:
    assert find_reasoning_error(problem, trace) == error


PACKS = "Each of 28 students needs 3 notebooks. Notebooks come in packs of 10. How many packs are needed?"


@pytest.mark.parametrize(
    ("trace", "error"),
    [  # the last result rounded up to the next whole number: how sound solutions buy whole packs, buses and cans
        ("Total notebooks: 28 × 3 = 84.\nPacks: 84 ÷ 10 = 8.4, so 9 packs are needed.\nThe answer is: 9", None),
        ("84 / 10 = 8.4 packs. We can't buy part of a pack, so we round up to 9.\nThe answer is: 9", None),
        # any other whole number, or the ceiling of an earlier result than the last, is worked out by nothing
        ("Total notebooks: 28 × 3 = 84.\nPacks: 84 ÷ 10 = 8.4, so 10 packs are needed.\nThe answer is: 10",
         "answer_not_worked"),
        ("Each student needs 3 / 2 = 1.5 packs.\nThere are 28 * 3 = 84 notebooks.\nThe answer is: 2",
         "answer_not_worked"),
    ],
)  # fmt: skip
def test_an_answer_rounded_up_from_the_last_result_is_derived(trace: str, error: str | None) -> None:
    assert find_reasoning_error(PACKS, trace) == error


TREE = "A tree costs $24 to plant and nets $6 a year. In which year does it start to earn money?"


@pytest.mark.parametrize(
    ("trace", "error"),
    [  # the one after the last result, counted on in words (a model-style solution: "... = 12 years", then "He
        # starts earning money in the year after that, year 13.")
        ("It pays back $24 / $6 = 4 years.\nIt earns money in the year after that, year 5.\nThe answer is: 5", None),
        ("It pays back $24 / $6 = 4 years.\nIt earns money the next year, year 5.\nThe answer is: 5", None),
        # counted on by more than one, or without saying so, is worked out by nothing
        ("It pays back $24 / $6 = 4 years.\nIt earns money in the year after that, year 6.\nThe answer is: 6",
         "answer_not_worked"),
        ("It pays back $24 / $6 = 4 years.\nIt earns money in year 5.\nThe answer is: 5", "answer_not_worked"),
    ],
)  # fmt: skip
def test_an_answer_counted_on_from_the_last_result_in_words_is_derived(trace: str, error: str | None) -> None:
    assert find_reasoning_error(TREE, trace) == error


def test_a_checked_calculation_of_given_numbers_works_the_answer_out() -> None:
    """A GSM8K solution whose every number is a given ("8 servings", "$1.00 per box") still works its answer out by
    its calculations: 8/8 = $1.00 is no restatement of the problem."""
    problem = (
        "Sam is serving spaghetti and meatballs for dinner.  The pasta costs $1.00 per box, a jar of sauce is $2.00 "
        "and 1 pound of meatballs is $5.00.  He wants to stretch this meal into 8 servings.  How much does each "
        "serving cost?"
    )
    trace = (
        "The pasta is $1.00, the sauce is $2.00 and the meat is $5.00 for a total of 1 + 2 + 5 = $8.00.\n"
        "He stretches the meal into 8 servings, so each serving costs 8/8 = $1.00.\nThe answer is: 1"
    )
    assert find_reasoning_error(problem, trace) is None


SAVINGS = "Ivan saves $8 a week for 2 weeks. A relative doubles what he saved. How many dollars does he have now?"


@pytest.mark.parametrize(
    ("trace", "error"),
    [  # an operation in words on the amount before it, checked as a calculation is
        ("Ivan has saved $8 * 2 = 16 dollars.\nThe relative multiplies this by 2 to get 32 dollars.\n#### 32", None),
        ("Ivan has saved 8 * 2 = 16 dollars, and the relative multiplies it by 2, which is 32.\n#### 32", None),
        ("He saved 8 * 2 = 16 dollars.\nAdd 16 to that to get 32 dollars.\n#### 32", None),
        ("He saved 8 * 2 = 16 dollars.\nDivide this by 2, which gives 8 for each week.\nDoubled: 16 * 2 = 32.\n"
         "#### 32", None),
        # a demo's published row: the relative's doubling stated in words, its result the amount before it
        ("Ivan has saved $8 * 2 = 16 dollars.\nThe relative multiplies this by 2 to get the answer of 16 dollars.\n"
         "#### 16", "false_calculation: 16 then multiplies this by 2 to get the answer of 16"),
        ("He saved 8 * 2 = 16 dollars.\nSubtract 6 from it to get 12 dollars.\n#### 12",
         "false_calculation: 16 then Subtract 6 from it to get 12"),
        # the amount operated on named, not "this"; and what it comes to after "="
        ("He saved 8 * 2 = 16 dollars.\nThe relative multiplies $16 by 2 as a gift = $32.\n#### 32", None),
        ("He saved 8 * 2 = 16 dollars.\nThe relative multiplies this by 2 = 32 dollars.\n#### 32", None),
        ("He saved 8 * 2 = 16 dollars.\nThe relative multiplies $16 by 2 as a gift = $30.\n#### 30",
         "false_calculation: multiplies 16 by 2 as a gift = 30"),
        ("He saved 8 * 2 = 16 dollars.\nThe relative multiplies this by 2 = 30 dollars.\n#### 30",
         "false_calculation: 16 then multiplies this by 2 = 30"),
        ("He saved 8 * 2 = 16 dollars.\nAdd 16 to 16 to get 30 dollars.\n#### 30",
         "false_calculation: Add 16 to 16 to get 30"),
    ],
)  # fmt: skip
def test_an_operation_in_words_on_the_amount_before_it_is_checked(trace: str, error: str | None) -> None:
    assert find_reasoning_error(SAVINGS, trace) == error


@pytest.mark.parametrize(
    ("problem", "trace", "error"),
    [  # two published demo rows (2026-12-07), each with its right answer, and the same rows read right
        (
            "Gus keeps 10 chickens on a farm. Gus sells 4 chickens at the market. How many chickens does Gus have?",
            "Step 1: 4 chickens is \\boxed{10}.\nStep 2: 10 - 4 = 6 chickens are left.\nThe answer is \\boxed{6}.",
            "two_answers: Step 1: 4 chickens is \\boxed{10}.",
        ),
        (  # a calculation whose result is boxed works the answer out, and is checked
            "Gus keeps 10 chickens on a farm. Gus sells 4 chickens at the market. How many chickens does Gus have?",
            "Step 1: 10 - 4 = \\boxed{6} chickens are left.\nThe answer is \\boxed{6}.",
            None,
        ),
        (
            "Gus keeps 10 chickens on a farm. Gus sells 4 chickens at the market. How many chickens does Gus have?",
            "Step 1: 10 - 4 = \\boxed{7} chickens are left.",
            "false_calculation: 10 - 4 = 7",
        ),
        (
            "Farah bakes 9 cookies. Farah keeps baking until there are 2 times as many cookies. How many cookies does "
            "Farah have now?",
            "Step 1: 9 * 2 = 18 cookies.\nStep 2: After baking, there are 4 times as many cookies left.\n"
            "The answer is \\boxed{18}.",
            "misread_fact: After baking, there are 4 times as many cookies left. (the problem: 2 times as many "
            "cookies)",
        ),
        (
            "Farah bakes 9 cookies. Farah keeps baking until there are twice as many cookies. How many cookies does "
            "Farah have now?",
            "Step 1: There are 2 times as many cookies as before.\nStep 2: 9 * 2 = 18 cookies.\n"
            "The answer is \\boxed{18}.",
            None,
        ),
    ],
)
def test_a_second_boxed_answer_or_a_relation_restated_by_another_factor_is_rejected(
    problem: str, trace: str, error: str | None
) -> None:
    assert find_reasoning_error(problem, trace) == error
