"""Sampling to a target against a simulated teacher whose yield per problem is known: the target is met with the
expected requests, problems stop at k, budgets stop the run, and a rerun pays for no completed sample twice."""

from pathlib import Path

import polars as pl
import pytest

from filters.verify import small_answer_spaces, would_verify
from generators.tasks.cot import CotTask
from generators.tasks.targets import Target, sample_to_target
from generators.teachers.backend import SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.openai_backend import OpenAICompatibleBackend
from tests.sim_server import SimServer

pytestmark = pytest.mark.slow  # math-verify worker processes each round

# problem i is "What is i + 10?"; sample n of it is right where n % EVERY[i] == 0 (EVERY 0: never)
EVERY = {1: 1, 2: 2, 3: 4, 4: 0}


def teacher(question: str, seed: int) -> tuple[None, str]:
    a = int(question.split()[2])
    index = seed % 10_007  # the client sends seed * 10_007 + sample index
    right = EVERY[a] and index % EVERY[a] == 0
    result = a + 10 if right else a + 11
    return None, f"Step 1: {a} + 10 = {a + 10}.\nThe answer is \\boxed{{{result}}}."


def problems() -> pl.DataFrame:
    rows = [
        {"problem_id": f"p{a}", "source": "test", "domain": "math", "reasoning_kind": "mathematical",
         "problem": f"What is {a} + 10?", "answer": str(a + 10), "steps": 1, "template": None, "spec": None}
        for a in EVERY
    ]  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"template": pl.String, "spec": pl.String})


def run(cache: Path, target: Target) -> tuple:
    with SimServer(teacher, by_seed=True) as server:
        backend = OpenAICompatibleBackend([server.base_url], "sim-teacher", ResponseCache(cache), max_concurrency=8)
        task = CotTask(backend, SamplingParams(0.7, 0.95, 64, (), 0), target.samples_per_round)
        frame = problems()
        output, report = sample_to_target(task, frame, target, would_verify, small_answer_spaces(frame))
        return output, report, server.log.requests


def test_problems_stop_at_k_and_the_rest_spend_their_budget(tmp_path: Path) -> None:
    target = Target(per_problem=2, samples_per_round=2, max_samples_per_problem=8)
    output, report, sent = run(tmp_path / "c.sqlite", target)
    per_problem = dict(output.rows.group_by("problem_id").len().iter_rows())
    # every sample right: 2; every 2nd: 4; every 4th: 6 (samples 0 and 4); never: its budget of 8
    assert per_problem == {"p1": 2, "p2": 4, "p3": 6, "p4": 8}
    assert report.requests == sent == 20 and report.verified == 6
    assert (report.stopped_at_k, report.given_up, report.target_met) == (3, 1, None)
    assert report.by_domain == [{"domain": "math", "samples": 20, "verified": 6, "samples_per_verified_row": 3.3}]
    # every sample has its own index: the rows are new rows, not repeats
    assert output.rows["id"].n_unique() == 20 and output.rows["sample_index"].max() == 7


def test_a_total_target_draws_problems_until_met(tmp_path: Path) -> None:
    target = Target(rows=3, per_problem=1, samples_per_round=2, max_samples_per_problem=8)
    output, report, _ = run(tmp_path / "c.sqlite", target)
    assert report.target_met and report.verified >= 3
    # three problems drawn for a shortfall of 3 at one verified row each; p1-p3 each right in round 1
    assert report.rounds == [{"problems": 3, "requests": 6, "verified": 3}]
    assert set(output.rows["problem_id"]) == {"p1", "p2", "p3"}


def test_a_budget_stops_the_run_and_says_the_target_was_not_met(tmp_path: Path) -> None:
    target = Target(rows=10, per_problem=5, samples_per_round=2, max_samples_per_problem=8, max_requests=12)
    _, report, sent = run(tmp_path / "c.sqlite", target)
    assert report.requests == sent <= 12 and report.target_met is False
    assert "target NOT met" in report.summary()


def test_a_rerun_after_a_crash_pays_for_no_completed_sample_twice(tmp_path: Path) -> None:
    target = Target(per_problem=2, samples_per_round=2, max_samples_per_problem=8)
    first, _, _ = run(tmp_path / "c.sqlite", target)
    again, report, sent = run(tmp_path / "c.sqlite", target)
    assert sent == 0 and again.stats.cache_hits == report.requests == 20
    assert again.rows["id"].to_list() == first.rows["id"].to_list()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 0}, "at least 1"),
        ({"samples_per_round": 9, "max_samples_per_problem": 8}, "samples_per_round 9"),
        ({"max_rounds": 0}, "max_rounds 0"),
    ],
)
def test_a_bad_target_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Target(**kwargs)
