"""Reasoning models keep their reasoning: thinking sent apart or in <think> tags is captured, kept apart from the
solution, filtered on its own terms and published, against a simulated vLLM-like server over the real protocol."""

import json
from pathlib import Path

import dagster as dg
import datasets
import polars as pl
import pytest

from filters.reasoning import ReasoningFilterConfig, reasoning_filter, thinking_loop
from generators.tasks.cot import CotTask, split_thinking
from generators.teachers.backend import SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.openai_backend import OpenAICompatibleBackend
from tests.graph import graph_resources
from tests.sim_server import SimServer


@pytest.mark.parametrize(
    ("text", "reasoning", "thinking", "solution", "closed"),
    [
        ("The answer is \\boxed{4}.", None, None, "The answer is \\boxed{4}.", True),
        ("<think>\n2 and 2 make 4.\n</think>\n\nThe answer is \\boxed{4}.", None, "2 and 2 make 4.",
         "The answer is \\boxed{4}.", True),
        ("  <think>2 and 2... let me see, 2 and", None, "2 and 2... let me see, 2 and", "", False),
        ("The answer is \\boxed{4}.", "2 and 2 make 4.", "2 and 2 make 4.", "The answer is \\boxed{4}.", True),
        ("Think first. <think>not a block at the start</think> \\boxed{4}", None, None,
         "Think first. <think>not a block at the start</think> \\boxed{4}", True),
    ],
)  # fmt: skip
def test_thinking_is_split_from_the_solution(
    text: str, reasoning: str | None, thinking: str | None, solution: str, closed: bool
) -> None:
    parts = split_thinking(text, reasoning)
    assert (parts.thinking, parts.solution, parts.closed) == (thinking, solution, closed)


LONG_THINKING = " ".join(f"Let me reconsider step {i}: the numbers still add up." for i in range(300))


def sim_answer(question: str) -> tuple[str, str]:
    """Thinking and a correct solution for the simple sums these tests ask."""
    a, b = [int(w) for w in question.replace("?", " ").split() if w.isdigit()][:2]
    return f"{question} {LONG_THINKING}", f"Step 1: {a} + {b} = {a + b}.\nThe answer is \\boxed{{{a + b}}}."


@pytest.mark.parametrize(
    ("reasoning", "chat"), [("reasoning_content", True), ("think_tags", True), ("think_tags", False)]
)
def test_a_reasoning_models_thinking_is_captured_whole(tmp_path: Path, reasoning: str, chat: bool) -> None:
    problems = pl.DataFrame(
        [{"problem_id": f"p{i}", "source": "t", "domain": "math", "reasoning_kind": "mathematical",
          "problem": f"What is {i} + {i + 1}?", "answer": str(2 * i + 1), "steps": 1, "template": "sum", "spec": None}
         for i in range(4)]
    )  # fmt: skip
    with SimServer(sim_answer, reasoning=reasoning) as server:
        backend = OpenAICompatibleBackend(
            [server.base_url], "sim-teacher", ResponseCache(tmp_path / "c.sqlite"), chat=chat
        )
        output = CotTask(backend, SamplingParams(max_tokens=4096), 2).run(problems)
        traces, failed = output.rows, output.rejections
        sent = server.log.sent_thinking
    assert failed.is_empty() and traces.height == 8
    for row in traces.iter_rows(named=True):
        assert row["thinking"] == sent[row["problem"]] and row["thinking_closed"] is True
        assert row["trace"].startswith("Step 1:") and "<think>" not in row["trace"]
    kept = reasoning_filter(traces.rename({"trace": "text"}).with_columns(pl.lit("cot").alias("kind")))
    assert kept.dropped.is_empty()  # 3,000 words of thinking do not count against the solution's length


def test_an_unclosed_think_block_is_truncated_thinking() -> None:
    rows = pl.DataFrame(
        [{"id": "a", "kind": "cot", "text": "", "thinking": "Let me think " * 50, "thinking_closed": False,
          "finish_reason": "length", "completion_tokens": 4096},
         {"id": "b", "kind": "cot", "text": "Step 1: 2 + 2 = 4.\nThe answer is \\boxed{4}.", "thinking": "word " * 30,
          "thinking_closed": True, "finish_reason": "stop", "completion_tokens": 60}]
    )  # fmt: skip
    result = reasoning_filter(rows, ReasoningFilterConfig(max_thinking_words=20))
    assert dict(zip(result.dropped["id"], result.dropped["code"], strict=True)) == {
        "a": "truncated_thinking",
        "b": "thinking_too_long",
    }


VARIED = " ".join(f"Check {i}: {i} plus {2 * i} makes {3 * i}, and {3 * i} halved is {1.5 * i}." for i in range(200))
SENTENCE = "So the total is the number of apples in each basket times the number of baskets we counted before."


@pytest.mark.parametrize(
    ("thinking", "loops_from"),
    [
        (LONG_THINKING, None),  # restates one short phrase 300 times: sound
        (VARIED, None),
        (" ".join(f"Wait, let me check. {i} + {i} = {2 * i}, good." for i in range(300)), None),
        (VARIED + " " + " ".join([SENTENCE] * 30), 2_400),  # a loop after 2,400 sound words
        (" ".join([SENTENCE] * 4) + " " + VARIED, None),  # said 4 times: under the bar
    ],
)
def test_a_loop_in_the_thinking_is_found_where_it_is(thinking: str, loops_from: int | None) -> None:
    loop = thinking_loop(thinking)
    if loops_from is None:
        assert loop is None
    else:
        assert loop is not None and abs(loop[0] - loops_from) <= 100 and loop[1] > 0.9


def test_the_reasoning_filter_drops_thinking_that_loops() -> None:
    solution = "Step 1: 2 + 2 = 4.\nThe answer is \\boxed{4}."
    rows = pl.DataFrame(
        [{"id": i, "kind": "cot", "text": solution, "thinking": thinking, "thinking_closed": True,
          "finish_reason": "stop", "completion_tokens": 3000}
         for i, thinking in (("sound", VARIED), ("loop", VARIED + " " + " ".join([SENTENCE] * 30)))]
    )  # fmt: skip
    result = reasoning_filter(rows)
    assert result.kept["id"].to_list() == ["sound"]
    assert result.dropped["code"].to_list() == ["thinking_repetition"]
    assert reasoning_filter(rows, ReasoningFilterConfig(max_thinking_repetition=1.0)).dropped.is_empty()


@pytest.mark.e2e
def test_the_published_thinking_is_what_the_server_sent(tmp_path: Path) -> None:
    import definitions
    from assets.batches import add_batch
    from assets.resources import TeacherResource

    seeds = tmp_path / "sums.jsonl"
    seeds.write_text("".join(json.dumps({"question": f"What is {i} + {i + 2}?", "answer": f"#### {2 * i + 2}"}) + "\n"
                             for i in range(1, 5)))  # fmt: skip
    with SimServer(sim_answer, reasoning="reasoning_content", latency_s=0.05) as server:
        endpoint = TeacherResource(base_urls=[server.base_url], model="sim-teacher", chat=True, data_dir=str(tmp_path))
        with dg.instance_for_test() as instance:
            add_batch(instance, "b1")
            result = dg.materialize(
                [*definitions.all_assets, *definitions.batch_checks],
                resources=graph_resources(tmp_path, endpoint),
                run_config={"ops": {
                    "seed_problems": {"config": {"sources": [str(seeds)], "limit_per_source": 4}},
                    "synthetic_problems": {"config": {"count": 0}},
                    "evolved_problems": {"config": {"count": 0}},
                    "textbook_topics": {"config": {"count": 0}},
                    "cot_traces": {"config": {"samples_per_problem": 2, "max_tokens": 8192}},
                    "difficulty_graded": {"config": {"samples": 2, "max_tokens": 8192}},
                    "published_dataset": {"config": {"eval_fraction": 0.25}},
                }},
                instance=instance,
                partition_key="b1",
            )  # fmt: skip
        sent = dict(server.log.sent_thinking)
    assert result.success
    cot = datasets.load_dataset(str(tmp_path / "published" / "reasoning-foundry"), "cot")
    rows = [row for split in cot.values() for row in split]
    assert len(rows) == 4
    for row in rows:
        assert row["thinking"] == sent[row["problem"]] and len(row["thinking"].split()) >= 3000
        assert row["reasoning"].startswith("Step 1:")
        assistant = row["messages"][-1]
        assert assistant["content"] == f"<think>\n{row['thinking']}\n</think>\n\n{row['reasoning']}"
