"""A process reward model served by vLLM's pooling runner (``--runner pooling``, ``token_classify``), driven by the
pipeline's PRM client: the mechanics on a tiny random model of Qwen2.5-Math-PRM's architecture that the test makes
(one score per step, read at the step tags), never its accuracy. Runs where vLLM is installed (``make vllm``)."""

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import polars as pl
import pytest

from filters.verify import ReasoningChecks, StepJudge, verify_traces
from generators.teachers.embedded import free_port
from generators.teachers.prm import PrmClient
from generators.teachers.vllm_backend import server_command
from tests.tiny_prm import make_tiny_prm

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM (`make vllm`: its CPU build)"),
]
PROBLEM = "Ava has 16 apples and gives away 3 and then 4 . How many are left ?"
STEPS = ["3 + 4 = 7 apples are given away .", "16 - 7 = 9 apples are left .", "The answer is 9 ."]


@pytest.fixture(scope="module")
def prm(tmp_path_factory) -> Iterator[PrmClient]:
    folder = tmp_path_factory.mktemp("tiny-prm")
    tag = make_tiny_prm(folder)
    port = free_port()
    command = server_command(str(folder), "tiny-prm", port, sys.executable, max_model_len=512)
    command += ["--runner", "pooling", "--pooler-config", json.dumps({"step_tag_id": tag})]
    log = folder / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the PRM server gave no answer in 600 s"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                break
            except OSError:
                time.sleep(1)
        yield PrmClient((f"http://127.0.0.1:{port}/v1",), "tiny-prm")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_a_prm_scores_each_step_at_its_tag(prm: PrmClient) -> None:
    scores = prm.step_scores(PROBLEM, STEPS)
    assert scores is not None and len(scores) == len(STEPS) and all(0.0 < s < 1.0 for s in scores)
    assert prm.step_scores(PROBLEM, STEPS) == pytest.approx(scores, abs=1e-3)  # the same chat, the same scores
    # a causal model scores a step from what comes before it: the first two steps score the same without the third
    assert prm.step_scores(PROBLEM, STEPS[:2]) == pytest.approx(scores[:2], abs=1e-3)
    assert prm.first_wrong_steps([PROBLEM, PROBLEM], [STEPS, STEPS[:1]], threshold=1.0) == [0, 0]
    assert prm.first_wrong_steps([PROBLEM], [STEPS], threshold=0.0) == [-1]


def test_a_prm_judges_right_answers_in_verification(prm: PrmClient) -> None:
    """A PRM as the verified stage's step judge: with a bar no step can clear, every right answer is rejected at
    its first step, labelled by the PRM."""
    text = "\n".join(f"Step {i + 1}: {step}" for i, step in enumerate(STEPS[:2])) + "\nThe answer is \\boxed{9}."
    frame = pl.DataFrame([{"kind": "cot", "id": f"r{i}", "problem_id": f"p{i}", "problem": PROBLEM, "answer": "9",
                           "text": text} for i in range(2)])  # fmt: skip

    def strict(problems: list[str], steps: list[list[str]], *_: list[str]) -> list[int | None]:
        return prm.first_wrong_steps(problems, steps, threshold=1.0)

    checks = ReasoningChecks(step_judges=(StepJudge("prm", strict),))
    result, _ = verify_traces(frame, workers=1, checks=checks)
    assert result.kept.filter(pl.col("kind") == "cot").is_empty()
    assert result.dropped["code"].to_list() == ["judge_first_wrong_step"] * 2
    assert result.dropped["step_label_source"].to_list() == ["prm"] * 2
    assert [labels[0] for labels in result.dropped["step_labels"].to_list()] == [False, False]
