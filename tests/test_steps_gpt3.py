"""GPT-3's solutions to GSM8K test problems (bench/data/gsm8k_gpt3_solutions.jsonl, from OpenAI's grade-school-math
repository, MIT): 236 solutions by four models to 59 problems, labelled by their final answers. A right answer must be
kept unless its reasoning is wrong: a false alarm here is a sound trace a real model wrote that the pipeline would
drop. How many wrong answers the rules flag is a measurement, not a test (``bench/judge_eval.py``)."""

import json
from pathlib import Path

import pytest

from filters.steps import check_trace

ROWS = [json.loads(line) for line in (Path(__file__).parents[1] / "bench/data/gsm8k_gpt3_solutions.jsonl").open()]
RIGHT = [row for row in ROWS if row["final_answer_correct"]]
# right answers reached by wrong reasoning, and the step a reader rejects
UNSOUND = {"gsm8k-test-23-gpt3-175b-finetuning": 0}  # "At 1:00 PM, the candle has burned for 1 hour" (it starts then)


@pytest.mark.parametrize("row", RIGHT, ids=[row["id"] for row in RIGHT])
def test_a_right_answer_is_kept_unless_its_reasoning_is_wrong(row: dict) -> None:
    checked = check_trace(row["problem"], "\n".join(row["steps"]))
    assert checked.first_bad_step == UNSOUND.get(row["id"]), f"{checked.error} at step {checked.first_bad_step}"


def test_the_set_is_labelled_by_final_answers() -> None:
    assert len(ROWS) == 236 and len({row["problem"] for row in ROWS}) == 59 and len(RIGHT) == 82
    for row in ROWS:  # (one solution runs out before its answer: wrong)
        gold = float(row["reference"].rsplit("####", 1)[1].replace(",", ""))
        last = row["steps"][-1]
        right = last.startswith("#### ") and float(last.removeprefix("#### ").replace(",", "")) == gold
        assert right == row["final_answer_correct"], row["id"]
