"""Sound solutions written as models write them (bench/data/model_style_sound.jsonl): each must be kept.

The set holds 242 right solutions to GSM8K-style problems in the styles chat and math models use: "Step N:" lines,
"The answer is: N", "####", \\boxed, Markdown headings and bold, numbered lists, LaTeX inline and display math, the
unknown set up and solved (MetaMath's "what is the value of unknown variable x"), and programs. A false alarm here is
a sound trace the pipeline would drop, or a wrong label in ``cot-steps``.
"""

import json
from pathlib import Path

import pytest

from filters.steps import check_trace

ROWS = [json.loads(line) for line in (Path(__file__).parents[1] / "bench/data/model_style_sound.jsonl").open()]


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_a_sound_model_written_solution_is_kept(row: dict) -> None:
    checked = check_trace(row["problem"], "\n".join(row["steps"]))
    assert checked.error is None, f"{checked.error} at step {checked.first_bad_step}"


def test_the_set_is_sound_and_labelled_so() -> None:
    assert len(ROWS) == 242 and {row["label"] for row in ROWS} == {-1}
    assert all(row["answer"] and row["final_answer_correct"] for row in ROWS)
