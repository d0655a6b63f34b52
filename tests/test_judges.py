"""Step judges: Monte-Carlo rollouts over the real protocol (a simulated teacher that continues a written start), and
the rules that combine several judges' verdicts in the verified stage."""

import re
from pathlib import Path

import polars as pl
import pytest

from filters.verify import ReasoningChecks, StepJudge, verify_traces
from generators.tasks.prompts import cot_prompt
from generators.tasks.rollouts import continued, first_unreachable, rollout_first_wrong_steps
from generators.teachers.backend import SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.openai_backend import OpenAICompatibleBackend
from tests.sim_server import SimServer

PROBLEM = "Ava has 16 apples and gives away 3 and then 4. How many are left?"
SOUND = ["Step 1: 3 + 4 = 7 apples go.", "Step 2: 16 - 7 = 9 apples are left.", "The answer is \\boxed{9}."]
SLIP = ["Step 1: 3 + 4 = 8 apples go.", "Step 2: 16 - 8 = 8 apples are left.", "The answer is \\boxed{8}."]
LUCKY = ["Step 1: 3 + 4 = 8 apples go.", "Step 2: 16 - 8 = 9 apples are left.", "The answer is \\boxed{9}."]


def teacher(question: str, written: str) -> tuple[None, str]:
    """A teacher that carries on from what is written: after a wrong step it can only end wrong."""
    return None, "So \\boxed{8}." if "= 8" in written else "So \\boxed{9}."


@pytest.mark.parametrize(
    ("steps", "reached", "last_right", "first"),
    [
        (3, {0: True, 1: True}, True, -1),
        (3, {0: True, 1: False}, True, 1),
        (3, {0: False, 1: False}, False, 0),
        (3, {0: True, 1: True}, False, 2),  # only the trace's own ending goes wrong
        (3, {1: False}, True, None),  # no completion came back from step 0
        (3, {0: False}, True, 0),  # a step after the first wrong one is not needed
        (1, {}, True, -1),
    ],
)
def test_the_first_step_no_rollout_recovers_from(
    steps: int, reached: dict, last_right: bool, first: int | None
) -> None:
    assert first_unreachable(steps, reached, last_right) == first


@pytest.mark.parametrize("chat", [False, True])
def test_rollouts_continue_each_step_prefix_over_the_protocol(chat: bool, tmp_path: Path) -> None:
    with SimServer(teacher, continues=True) as server:
        backend = OpenAICompatibleBackend([server.base_url], "sim-teacher", ResponseCache(tmp_path / "c"), chat=chat)
        verdicts, stats = rollout_first_wrong_steps(
            [PROBLEM] * 3, [SOUND, SLIP, LUCKY], ["9", "9", "9"], backend, SamplingParams(max_tokens=32), k=3
        )
        last = server.log.last_payload
    assert verdicts == [-1, 0, 0]
    assert stats.requests == 3 * 2 * 3  # k completions from every step but the last, per trace
    if chat:  # the written start is the final assistant message, continued (vLLM's extension to the chat API)
        assert last["messages"][-1]["role"] == "assistant" and last["continue_final_message"] is True
    else:
        assert last["prompt"].endswith("\n") and "Step 1:" in last["prompt"].rsplit("Answer:", 1)[-1]


def test_a_written_start_is_continued_in_either_prompt_form() -> None:
    completion = continued(cot_prompt(PROBLEM, chat=False), SOUND[:1])
    assert completion.prompt.endswith("Answer: Step 1: 3 + 4 = 7 apples go.\n") and completion.messages is None
    chat = continued(cot_prompt(PROBLEM, chat=True), SOUND[:2])
    assert chat.messages[-1] == ("assistant", "\n".join(SOUND[:2]) + "\n") and chat.prompt is None


def judge_saying(*verdicts: int | None) -> StepJudge:
    return StepJudge("judge", lambda problems, steps, *_: list(verdicts))


def verdicts_of(checks: ReasoningChecks) -> pl.DataFrame:
    """One right-answer trace per judge verdict, through the verified stage's checks."""
    rows = [{"kind": "cot", "id": f"r{i}", "problem_id": f"p{i}", "problem": PROBLEM, "answer": "9",
             "text": "\n".join(SOUND)} for i in range(3)]  # fmt: skip
    result, _ = verify_traces(pl.DataFrame(rows), workers=1, checks=checks)
    kept = result.kept.filter(pl.col("kind") == "cot").select("id", pl.lit(None, pl.String).alias("code"))
    dropped = result.dropped.select("id", "code", "step_label_source", "reasoning_checks")
    return pl.concat([kept, dropped], how="diagonal_relaxed").sort("id")


def test_any_judge_rejects_at_the_earliest_step_named() -> None:
    prm = StepJudge("prm", lambda problems, steps, *_: [1, -1, None])
    rollout = StepJudge("rollout", lambda problems, steps, *_: [0, -1, -1])
    out = verdicts_of(ReasoningChecks(step_judges=(prm, rollout), judge_rule="any"))
    assert out["code"].to_list() == ["judge_first_wrong_step", None, None]
    assert out["step_label_source"].to_list() == ["rollout", None, None]


def test_consensus_keeps_agreement_and_rejects_disagreement() -> None:
    critic = StepJudge("judge", lambda problems, steps, *_: [1, -1, -1])
    rollout = StepJudge("rollout", lambda problems, steps, *_: [1, -1, 0])
    out = verdicts_of(ReasoningChecks(step_judges=(critic, rollout), judge_rule="consensus"))
    assert out["code"].to_list() == ["judge_first_wrong_step", None, "judges_disagree"]
    assert out["step_label_source"].to_list()[0] == "consensus"
    assert out["reasoning_checks"].to_list()[2][-1] == "judge:no_wrong_step"  # the rollouts named step 0


def test_consensus_takes_no_verdict_as_no_agreement() -> None:
    out = verdicts_of(ReasoningChecks(step_judges=(judge_saying(-1, None, -1),), judge_rule="consensus"))
    assert out["code"].to_list() == [None, "judges_disagree", None]


def test_an_unknown_judge_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="judge_rule 'majority'"):
        ReasoningChecks(judge_rule="majority")


@pytest.mark.e2e
def test_rollouts_judge_the_verified_stage_of_a_real_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``step_judges: [rollouts]`` in a real materialization: the teacher completes every right answer from each of
    its steps, and the verified rows say the rollouts found no wrong step."""
    import dagster as dg

    from tests.test_fixed_seed_demo import materialize_fixed_seed_batch

    monkeypatch.chdir(tmp_path)
    with dg.instance_for_test() as instance:
        ops = {"verified": {"config": {"step_judges": ["rollouts"], "rollouts": 2}}}
        result = materialize_fixed_seed_batch(tmp_path, instance, ops)
        assert result.success
        verified = pl.read_parquet(tmp_path / "assets" / "verified" / "fixed.parquet").filter(pl.col("kind") == "cot")
        meta = instance.get_latest_materialization_event(dg.AssetKey("verified")).asset_materialization.metadata
    assert verified.height > 0
    assert all(checks[-1] == "rollout:no_wrong_step" for checks in verified["reasoning_checks"].to_list())
    assert meta["judge_requests"].value >= 2 * verified.height


@pytest.mark.parametrize(
    ("judges", "message", "failed_at"),
    [(["prm"], r"\$PRM_BASE_URLS and \$PRM_MODEL", "verified"),
     (["critic"], r"\$JUDGE_BASE_URLS and \$JUDGE_MODEL", "verified"),
     (["rollouts", "rollouts"], "each at most once", "evolved_problems"),
     (["oracle"], "each at most once, of critic, prm, rollouts", "evolved_problems")],
)  # fmt: skip
def test_a_step_judge_without_its_model_is_refused_before_any_call(
    judges: list[str], message: str, failed_at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown judge fails the run at its first model step; a judge whose model is not configured fails the
    verified stage before it sends a request, naming the variables to set."""
    import dagster as dg

    from tests.test_fixed_seed_demo import materialize_fixed_seed_batch

    monkeypatch.chdir(tmp_path)
    for role in ("PRM", "JUDGE"):
        monkeypatch.delenv(f"{role}_BASE_URLS", raising=False)
    with dg.instance_for_test() as instance:
        result = materialize_fixed_seed_batch(tmp_path, instance, {"verified": {"config": {"step_judges": judges}}})
    failure = result.get_step_failure_events()[0]
    assert failure.step_key == failed_at
    assert re.search(message, failure.event_specific_data.error.to_string())


def test_the_judge_bench_scores_model_judges_and_their_consensus(tmp_path: Path) -> None:
    """bench/judge_eval.py against real servers: a critic that always names step 1 and a teacher that rolls out;
    each judge's figures and their consensus (a verdict only where both agree)."""
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from judge_eval import main

    rows = [{"problem": PROBLEM, "steps": SLIP, "label": 0, "answer": "9"},
            {"problem": PROBLEM, "steps": SOUND, "label": -1, "reference": "3 + 4 = 7, 16 - 7 = 9\n#### 9"},
            {"problem": PROBLEM, "steps": LUCKY, "label": 0, "answer": "9", "final_answer_correct": True}]  # fmt: skip
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with (
        SimServer(lambda q: (None, "Paragraph 1 is wrong. \\boxed{1}"), model="critic") as critic,
        SimServer(teacher, continues=True, model="teacher") as writer,
    ):
        results = main(
            [str(path), "--critic-url", critic.base_url, "--teacher-url", writer.base_url, "--rollouts", "2"]
        )
    assert results["rollouts"]["first_wrong_step_exact"] == 1.0 and results["rollouts"]["processbench_f1"] == 1.0
    assert results["critic"]["first_wrong_step_exact"] == 0.0 and results["critic"]["flagged"] == 1.0
    assert results["consensus"]["with_verdict"] == 0.0  # they never agree
    assert results["rules"]["solutions"] == 3


def test_a_judge_is_told_each_traces_domain() -> None:
    """Rollouts prompt with the problem's own domain's examples, so the judges get the domains (math by default)."""
    told: list[list[str]] = []
    judge = StepJudge("rollout", lambda problems, steps, answers, domains: told.append(domains) or [-1] * len(domains))
    rows = [{"kind": "cot", "id": f"r{i}", "problem_id": f"p{i}", "problem": PROBLEM, "answer": "9", "domain": d,
             "text": "\n".join(SOUND)} for i, d in enumerate(["math", "logic"])]  # fmt: skip
    verify_traces(pl.DataFrame(rows), workers=1, checks=ReasoningChecks(chance_alpha=None, step_judges=(judge,)))
    assert told == [["math", "logic"]]
