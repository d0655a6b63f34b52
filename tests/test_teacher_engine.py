"""The teacher engine against the real embedded server: cache, crash-resume after kill -9, faults and retries."""

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generators.problems.families import generate_mixed
from generators.tasks.evolve import evolve_problems
from generators.tasks.judge import judge_first_wrong_steps
from generators.teachers.backend import GenerationRequest, SamplingParams
from generators.teachers.cache import ResponseCache, request_key
from generators.teachers.embedded import EMBEDDED_MODEL
from generators.teachers.openai_backend import OpenAICompatibleBackend
from tests.fault_proxy import FaultProxy

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def requests_for(count: int, max_tokens: int = 24, temperature: float = 0.8) -> list[GenerationRequest]:
    params = SamplingParams(temperature=temperature, max_tokens=max_tokens, stop=("\n\n",), seed=11)
    return [
        GenerationRequest(params, prompt=f"Question: What is {i} + {i}?\nAnswer: The sum is", sample_index=i % 2)
        for i in range(count)
    ]


def proxy_key(request: GenerationRequest) -> tuple[str, int]:
    return request.prompt, request.params.seed * 10_007 + request.sample_index


def test_rerun_makes_zero_requests_and_a_changed_parameter_only_what_it_touches(
    embedded_server_url: str, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with FaultProxy(embedded_server_url) as proxy:
        backend = OpenAICompatibleBackend([proxy.base_url], EMBEDDED_MODEL, cache, max_concurrency=2)
        first, stats = backend.generate(requests_for(4))
        assert stats.cache_hits == 0 and len(proxy.log.received) == 4
        tagged = [
            GenerationRequest(r.params, r.prompt, sample_index=r.sample_index, metadata=(("row", str(i)),))
            for i, r in enumerate(requests_for(4))
        ]
        results, stats = backend.generate(tagged)  # metadata is not part of the key: all cache hits
        assert stats.cache_hits == 4 and [r.metadata for r in results] == [{"row": str(i)} for i in range(4)]
        again, stats = backend.generate(requests_for(4))
        assert stats.cache_hits == 4 and len(proxy.log.received) == 4
        assert [r.text for r in again] == [r.text for r in first]
        grown = [*requests_for(4), GenerationRequest(requests_for(1)[0].params, prompt="Question: 9 * 9?\nAnswer:")]
        _, stats = backend.generate(grown)
        assert stats.cache_hits == 4 and len(proxy.log.received) == 5
        _, stats = backend.generate(requests_for(4, max_tokens=25))
        assert stats.cache_hits == 0 and len(proxy.log.received) == 9


JOB = """
import sys
from generators.teachers.cache import ResponseCache
from generators.teachers.embedded import EMBEDDED_MODEL
from generators.teachers.openai_backend import OpenAICompatibleBackend
from tests.test_teacher_engine import requests_for
backend = OpenAICompatibleBackend([sys.argv[1]], EMBEDDED_MODEL, ResponseCache(sys.argv[2]), max_concurrency=2)
results, stats = backend.generate(requests_for(int(sys.argv[3]), max_tokens=32))
print("done", stats.requests, stats.cache_hits, stats.failures, "retries", stats.concurrency.get("retries", 0))
"""


def test_kill_9_mid_run_then_rerun_repeats_no_completed_request(embedded_server_url: str, tmp_path: Path) -> None:
    count, cache_path = 12, tmp_path / "cache.sqlite"
    command = [sys.executable, "-c", JOB, "", str(cache_path), str(count)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    requests = requests_for(count, max_tokens=32)

    def committed_now() -> set[tuple[str, int]]:
        """The requests whose responses the job has committed to its cache so far (read while it writes: WAL)."""
        if not cache_path.exists():
            return set()
        cache = ResponseCache(cache_path)
        try:
            return {proxy_key(r) for r in requests if cache.get(request_key(r.payload(EMBEDDED_MODEL))) is not None}
        finally:
            cache.close()

    with FaultProxy(embedded_server_url) as proxy:
        command[3] = proxy.base_url
        job = subprocess.Popen(command, env=env, cwd=ROOT)
        deadline = time.monotonic() + 120
        # kill once 5 responses are committed (a response the proxy finished may not be committed yet)
        while len(committed_now()) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        job.send_signal(signal.SIGKILL)
        job.wait()
        first_run = set(proxy.log.received)
        committed = committed_now()
        assert 5 <= len(committed) < count
        received_before = len(proxy.log.received)
        finished = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        second = [(prompt, seed) for prompt, seed, _ in proxy.log.received[received_before:]]
    assert f"done {count} {len(committed)} 0 retries" in finished.stdout
    assert not set(second) & committed, "a request whose response was committed was sent again"
    # each uncommitted request sent once more, and again only as a retry the rerun counted (a connection the loaded
    # server dropped)
    retried = int(finished.stdout.split("retries")[-1])
    assert len(set(second)) == count - len(committed) and len(second) == len(set(second)) + retried
    assert len(first_run) >= 5


def test_faults_are_retried_or_recorded_and_nothing_is_duplicated(embedded_server_url: str, tmp_path: Path) -> None:
    requests = requests_for(16)
    with FaultProxy(embedded_server_url, fault_rate=0.35, seed=3, retry_after_s=1, stall_s=8.0) as proxy:
        backend = OpenAICompatibleBackend(
            [proxy.base_url],
            EMBEDDED_MODEL,
            ResponseCache(tmp_path / "c.sqlite"),
            max_concurrency=3,
            timeout_s=5.0,
            max_retries=8,
        )
        results, stats = backend.generate(requests)
    kinds = {fault for fault, _, _, _ in proxy.log.faults}
    assert kinds == {"429", "500", "drop", "stall"}, kinds
    assert len(results) == 16 and stats.requests == 16
    assert all((r.text is not None) != (r.error is not None) for r in results)
    assert stats.failures == sum(r.error is not None for r in results)
    assert stats.failures <= 2
    # one result per request, none duplicated; every success was completed by the server (a client timeout on a
    # slow server can make the server finish a request twice, but the run still keeps one row for it)
    succeeded = {proxy_key(r) for r, result in zip(requests, results, strict=True) if result.error is None}
    assert len(succeeded) == 16 - stats.failures and succeeded <= set(proxy.log.completed)
    # a 429's Retry-After was honoured before the same request came again
    for fault, prompt, seed, at in proxy.log.faults:
        if fault == "429":
            retried = [t for p, s, t in proxy.log.received if (p, s) == (prompt, seed) and t > at]
            assert retried and retried[0] - at >= 0.95


def test_requests_spread_over_replicas_and_length_finishes_are_counted(
    embedded_server_url: str, tmp_path: Path
) -> None:
    params = SamplingParams(temperature=0.8, max_tokens=3, seed=5)  # no stop: every answer runs into max_tokens
    requests = [GenerationRequest(params, prompt=f"Count to ten: {i},", sample_index=0) for i in range(8)]
    with FaultProxy(embedded_server_url) as first, FaultProxy(embedded_server_url) as second:
        backend = OpenAICompatibleBackend(
            [first.base_url, second.base_url], EMBEDDED_MODEL, ResponseCache(tmp_path / "c.sqlite"), max_concurrency=2
        )
        results, stats = backend.generate(requests)
    assert len(first.log.completed) >= 2 and len(second.log.completed) >= 2
    assert len(first.log.completed) + len(second.log.completed) == 8
    assert stats.length_finishes == 8 and all(r.finish_reason == "length" for r in results)
    again, stats = backend.generate(requests)  # kept as cut: a rerun gets the same incomplete answers back
    assert stats.cache_hits == 8 and all(r.finish_reason == "length" for r in again)


def test_progress_is_reported_on_a_timer_during_long_generations(embedded_server_url: str, tmp_path: Path) -> None:
    ticks: list[tuple[int, int, float]] = []
    with FaultProxy(
        embedded_server_url, fault_rate=1.0, stall_s=1.2
    ) as proxy:  # every first try stalls past the timeout
        backend = OpenAICompatibleBackend(
            [proxy.base_url], EMBEDDED_MODEL, ResponseCache(tmp_path / "c.sqlite"), timeout_s=1.0, max_retries=1
        )
        backend.progress_every_s = 0.5
        started = time.monotonic()
        _, stats = backend.generate(
            requests_for(2), lambda done, total, s: ticks.append((done, total, time.monotonic()))
        )
    assert stats.failures == 2  # stalled twice each: recorded as failed, not dropped
    assert len(ticks) >= 3 and ticks[-1][:2] == (2, 2)
    assert all(b[2] - a[2] <= 1.5 for a, b in itertools.pairwise([(0, 0, started), *ticks]))


def test_empty_and_malformed_replies_fail_naming_the_url_and_are_not_cached(
    embedded_server_url: str, tmp_path: Path
) -> None:
    requests = requests_for(6)
    cache = ResponseCache(tmp_path / "c.sqlite")
    with FaultProxy(embedded_server_url, fault_rate=1.0, faults=("empty", "html", "badjson")) as broken:
        backend = OpenAICompatibleBackend([broken.base_url], EMBEDDED_MODEL, cache, max_retries=0)
        results, stats = backend.generate(requests)
    assert len(cache) == 0  # nothing broken is kept: the next run asks again
    assert stats.failures == 4 and all(broken.base_url in r.error for r in results if r.error)  # named endpoint
    assert [r.text for r in results if r.error is None] == ["", ""]  # empty: an answer the filters drop as `empty`
    with FaultProxy(embedded_server_url) as fixed:
        backend = OpenAICompatibleBackend([fixed.base_url], EMBEDDED_MODEL, cache)
        results, stats = backend.generate(requests)
    assert stats.failures == 0 and stats.cache_hits == 0
    assert len(cache) == sum(bool(r.text.strip()) for r in results) >= 5


def test_the_step_judge_speaks_the_chat_protocol_to_a_real_server(embedded_server_url: str, tmp_path: Path) -> None:
    """The plumbing of the optional step judge over the real protocol (the embedded 270M base model is no judge: its
    answers are mostly unusable, and an unusable answer is no verdict, never a rejection)."""
    judge = OpenAICompatibleBackend(
        [embedded_server_url], EMBEDDED_MODEL, ResponseCache(tmp_path / "c.sqlite"), chat=True
    )
    steps = [["3 + 4 = 7", "16 - 7 = 9"], ["3 + 4 = 8", "16 - 8 = 8"]]
    verdicts, stats = judge_first_wrong_steps(
        ["Ava has 16 apples and gives away 3 and 4. How many are left?"] * 2,
        steps,
        judge,
        SamplingParams(0.0, 1.0, 48),
    )
    assert stats.requests == 2 and stats.failures == 0
    assert all(v is None or -1 <= v < 2 for v in verdicts)
    again, stats = judge_first_wrong_steps(
        ["Ava has 16 apples and gives away 3 and 4. How many are left?"] * 2,
        steps,
        judge,
        SamplingParams(0.0, 1.0, 48),
    )
    assert again == verdicts and stats.cache_hits == 2


def test_an_evolution_cut_at_the_token_limit_never_becomes_a_problem(embedded_server_url: str, tmp_path: Path) -> None:
    seeds = generate_mixed(2, seed=1, families=["arithmetic"], min_steps=1, max_steps=1)
    with FaultProxy(embedded_server_url, fault_rate=1.0, faults=("length",)) as proxy:
        backend = OpenAICompatibleBackend([proxy.base_url], EMBEDDED_MODEL, ResponseCache(tmp_path / "c.sqlite"))
        output = evolve_problems(seeds, backend, 2, 2, SamplingParams(max_tokens=48), workers=1)
        problems, rejected = output.rows, output.rejections
    assert problems.is_empty()
    assert rejected["code"].to_list() == ["evolution_truncated"] * 2


def test_a_dead_embedded_server_is_started_again_and_no_request_is_lost(tmp_path: Path) -> None:
    """kill -9 of the llama.cpp server in the middle of a batch: the backend starts it again on the same port and
    every request gets its answer; a server that keeps dying is given up on after max_restarts."""
    import threading

    from generators.teachers.embedded import EmbeddedServer

    server = EmbeddedServer(tmp_path / "models", tmp_path / "logs", max_restarts=1)
    url = server.start()
    first_pid = server.process.pid
    try:
        backend = OpenAICompatibleBackend(
            [url], EMBEDDED_MODEL, ResponseCache(tmp_path / "c.sqlite"), max_concurrency=2, revive=server.revive
        )
        killer = threading.Timer(1.0, lambda: os.killpg(first_pid, signal.SIGKILL))
        killer.start()
        results, stats = backend.generate(requests_for(24))
        killer.join()
        assert server.restarts == 1 and server.process.pid != first_pid and server.base_url == url
        assert stats.failures == 0 and all(r.text is not None for r in results)
        os.killpg(server.process.pid, signal.SIGKILL)  # asked at once, before its exit: a death all the same
        assert server.revive() is False  # past max_restarts: the failure is reported, not hidden by restarts
    finally:
        server.stop()


def test_the_endpoints_of_a_process_share_one_embedded_server(tmp_path: Path) -> None:
    """Teacher and student in one process (the in-process executor) use one server; it stops with the last of them."""
    from assets.resources import StudentResource, TeacherResource

    teacher, student = TeacherResource(data_dir=str(tmp_path)), StudentResource(data_dir=str(tmp_path))
    with teacher.yield_for_execution(None), student.yield_for_execution(None):
        teacher.backend(), student.backend()
        server = teacher._server
        assert server is student._server and server.process.poll() is None
        assert teacher.server_pid == student.server_pid
    assert server.process.poll() is not None
