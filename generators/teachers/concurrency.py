"""How many requests each endpoint gets at once: a fixed bound, or an adaptive one (AIMD, as in TCP's congestion
control) for remote endpoints. The adaptive limit starts at the ceiling; an overload signal (429, 503, a timeout, or a
reply slower than the latency ceiling, which means the server queues) halves it, at most once per round trip; each
healthy reply adds 1/limit, so it grows by one request per limit's worth of replies and settles just under what the
endpoint serves. Several replicas each get their own limit, and a request goes where the most room is."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class EndpointLimit:
    """One endpoint's limit and what it reached."""

    limit: float
    in_flight: int = 0
    peak_in_flight: int = 0
    lowest_limit: float = field(default=0.0)
    backoffs: int = 0
    last_decrease: float = 0.0  # monotonic time of the last halving


class ConcurrencyLimiter:
    """Per-endpoint bounds on requests in flight, fixed (``adaptive=False``) or AIMD between ``floor`` and
    ``ceiling``."""

    def __init__(
        self,
        endpoints: int,
        ceiling: int,
        adaptive: bool,
        floor: int = 1,
        decrease: float = 0.5,
        latency_ceiling_s: float | None = None,
    ) -> None:
        if endpoints < 1 or ceiling < 1 or not 1 <= floor <= ceiling or not 0 < decrease < 1:
            raise ValueError(f"limiter: endpoints {endpoints}, ceiling {ceiling}, floor {floor}, decrease {decrease}")
        self.ceiling, self.floor, self.adaptive = ceiling, floor, adaptive
        self.decrease, self.latency_ceiling_s = decrease, latency_ceiling_s
        self.endpoints = [EndpointLimit(float(ceiling), lowest_limit=float(ceiling)) for _ in range(endpoints)]
        self._changed: asyncio.Condition | None = None

    def _room(self, index: int) -> int:
        endpoint = self.endpoints[index]
        return int(endpoint.limit) - endpoint.in_flight

    async def acquire(self) -> tuple[int, float]:
        """Wait for room at some endpoint; (the endpoint with the most room, the start time)."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            await self._changed.wait_for(lambda: any(self._room(i) > 0 for i in range(len(self.endpoints))))
            index = max(range(len(self.endpoints)), key=self._room)
            endpoint = self.endpoints[index]
            endpoint.in_flight += 1
            endpoint.peak_in_flight = max(endpoint.peak_in_flight, endpoint.in_flight)
        return index, time.monotonic()

    async def release(self, index: int, started: float, overloaded: bool) -> None:
        """A request to ``index`` that began at ``started`` is over; ``overloaded``: it met a sign of overload."""
        endpoint = self.endpoints[index]
        now = time.monotonic()
        slow = self.latency_ceiling_s is not None and now - started > self.latency_ceiling_s
        if self.adaptive:
            if overloaded or slow:
                # one halving per round trip: the requests already in flight when it happened say nothing new
                if started >= endpoint.last_decrease:
                    endpoint.limit = max(float(self.floor), endpoint.limit * self.decrease)
                    endpoint.lowest_limit = min(endpoint.lowest_limit, endpoint.limit)
                    endpoint.backoffs += 1
                    endpoint.last_decrease = now
            else:
                endpoint.limit = min(float(self.ceiling), endpoint.limit + 1.0 / endpoint.limit)
        assert self._changed is not None
        async with self._changed:
            endpoint.in_flight -= 1
            # wake as many waiters as there is room, not all of them: with every request of a large batch waiting,
            # waking all on each release would cost time in proportion to the batch, per request
            self._changed.notify(sum(max(0, self._room(i)) for i in range(len(self.endpoints))))

    def report(self) -> dict[str, float | int]:
        """What the limits reached: peak requests in flight (all endpoints), the final and lowest limits, backoffs."""
        return {
            "concurrency_peak": sum(e.peak_in_flight for e in self.endpoints),
            "concurrency_limit_final": round(sum(e.limit for e in self.endpoints), 1),
            "concurrency_limit_lowest": round(sum(e.lowest_limit for e in self.endpoints), 1),
            "concurrency_backoffs": sum(e.backoffs for e in self.endpoints),
        }
