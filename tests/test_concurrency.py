"""Adaptive concurrency: the AIMD limit per endpoint, and a remote server that turns away what it cannot hold."""

import asyncio
from pathlib import Path

import pytest

from generators.teachers.backend import GenerationRequest, GenerationResult, SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.concurrency import ConcurrencyLimiter
from generators.teachers.openai_backend import OpenAICompatibleBackend
from tests.sim_server import SimServer


@pytest.mark.parametrize(
    ("events", "limit", "backoffs"),
    [
        ([], 16.0, 0),  # starts at the ceiling
        (["overload"], 8.0, 1),  # halved
        (["overload", "overload"], 8.0, 1),  # two signals of one round trip halve it once
        (["overload", "next", "overload"], 4.0, 2),  # a request started after the halving halves it again
        (["overload", "ok"], 8.125, 1),  # a healthy reply adds 1/limit
        (["overload", "next", "overload", "next", "overload", "next", "overload", "next", "overload"], 2.0, 5),
    ],
)
def test_the_limit_halves_on_overload_once_per_round_trip_and_grows_by_one_over_limit(
    events: list[str], limit: float, backoffs: int
) -> None:
    async def scenario() -> ConcurrencyLimiter:
        limiter = ConcurrencyLimiter(1, ceiling=16, adaptive=True, floor=2)
        held = [await limiter.acquire() for _ in range(2)]  # requests in flight, started before any signal
        for event in events:
            if event == "next":
                held.append(await limiter.acquire())  # starts after the last halving
                continue
            slot, started = held.pop()
            await limiter.release(slot, started, overloaded=event == "overload")
        return limiter

    limiter = asyncio.run(scenario())
    assert limiter.endpoints[0].limit == pytest.approx(limit)
    assert limiter.report()["concurrency_backoffs"] == backoffs


def test_a_fixed_limit_never_moves_and_bounds_what_is_in_flight() -> None:
    async def scenario() -> tuple[ConcurrencyLimiter, int]:
        limiter = ConcurrencyLimiter(1, ceiling=3, adaptive=False)
        peak, now = 0, 0

        async def one() -> None:
            nonlocal peak, now
            slot, started = await limiter.acquire()
            now += 1
            peak = max(peak, now)
            await asyncio.sleep(0.001)
            now -= 1
            await limiter.release(slot, started, overloaded=True)

        await asyncio.gather(*(one() for _ in range(20)))
        return limiter, peak

    limiter, peak = asyncio.run(scenario())
    assert peak == 3 and limiter.endpoints[0].limit == 3.0 and limiter.report()["concurrency_backoffs"] == 0


def test_requests_go_to_the_replica_with_the_most_room() -> None:
    async def scenario() -> list[int]:
        limiter = ConcurrencyLimiter(2, ceiling=4, adaptive=True)
        limiter.endpoints[1].limit = 2.0  # the second replica backed off
        return [(await limiter.acquire())[0] for _ in range(6)]

    assert sorted(asyncio.run(scenario())) == [0, 0, 0, 0, 1, 1]


@pytest.mark.parametrize("bad", [dict(endpoints=0), dict(ceiling=0), dict(floor=5), dict(decrease=1.0)])
def test_a_bad_limiter_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="limiter"):
        ConcurrencyLimiter(**{"endpoints": 1, "ceiling": 4, "adaptive": True, **bad})


def sums(count: int) -> list[GenerationRequest]:
    params = SamplingParams(temperature=0.0, max_tokens=16, seed=1)
    return [GenerationRequest(params, prompt=f"Question: What is {i} + 1?\nAnswer:") for i in range(count)]


def against_a_full_server(tmp_path: Path, adaptive: bool) -> tuple[int, int, dict]:
    """(failed requests, requests turned away, the limiter's report) for 300 requests at a ceiling of 64 against a
    server that holds 8 and answers the rest with a bare 429."""
    with SimServer(lambda q: (None, "2"), latency_s=0.05, capacity=8, queue=False) as server:
        backend = OpenAICompatibleBackend(
            [server.base_url], "sim-teacher", ResponseCache(tmp_path / f"{adaptive}.sqlite"), max_concurrency=64,
            max_retries=3, adaptive=adaptive,
        )  # fmt: skip
        results, stats = backend.generate(sums(300))
        turned_away = server.log.rejected_429
    return sum(r.error is not None for r in results), turned_away, stats.as_metadata()


@pytest.mark.slow
def test_a_full_server_is_met_by_backing_off_not_by_hammering(tmp_path: Path) -> None:
    """The adaptive client backs off to about what the server holds: every request succeeds, and far fewer are
    turned away than by a fixed 64 in flight, which keeps hammering (and leans on retries to get through)."""
    failed, turned_away, report = against_a_full_server(tmp_path, adaptive=True)
    fixed_failed, fixed_turned_away, fixed_report = against_a_full_server(tmp_path, adaptive=False)
    assert failed == 0 and report["adaptive"] is True
    assert report["concurrency_backoffs"] >= 1 and report["concurrency_limit_lowest"] <= 16
    assert report["concurrency_peak"] >= 8
    assert fixed_report["concurrency_backoffs"] == 0 and fixed_report["concurrency_limit_final"] == 64
    assert turned_away * 2 < fixed_turned_away, (turned_away, fixed_turned_away, fixed_failed)
    assert fixed_report["retries"] > report["retries"]


def test_a_large_batch_holds_a_task_only_per_request_in_flight(tmp_path: Path) -> None:
    """Requests get their task once a slot is free: 400 requests at 8 in flight never hold 400 waiting tasks (each
    would cost the event loop time before the first request goes out), and all are answered."""
    tasks_seen: dict[int, int] = {}  # request -> tasks alive when its answer came

    def count(index: int, result: GenerationResult) -> None:
        assert result.error is None
        tasks_seen[index] = len(asyncio.all_tasks())

    with SimServer(lambda q: (None, "2"), latency_s=0.01, capacity=8) as server:
        backend = OpenAICompatibleBackend(
            [server.base_url], "sim-teacher", ResponseCache(tmp_path / "c.sqlite"), max_concurrency=8
        )
        backend.complete(sums(400), count)
    # a task per request in flight, and aiohttp's own per connection: a few dozen at most, where a task per request
    # of the batch would be 400
    assert len(tasks_seen) == 400 and max(tasks_seen.values()) <= 40, max(tasks_seen.values())


def test_a_bug_while_answering_stops_the_batch_instead_of_sending_the_rest(tmp_path: Path) -> None:
    with SimServer(lambda q: (None, "2"), latency_s=0.01, capacity=4) as server:
        backend = OpenAICompatibleBackend(
            [server.base_url], "sim-teacher", ResponseCache(tmp_path / "c.sqlite"), max_concurrency=4
        )

        def broken(index: int, result: GenerationResult) -> None:
            raise KeyError("a bug in the caller's callback")

        with pytest.raises(KeyError, match="a bug"):
            backend.complete(sums(200), broken)
        sent = server.log.requests
    assert sent < 20, sent
