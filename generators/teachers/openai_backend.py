"""The OpenAI-compatible backend: the OpenAI HTTP protocol (``/completions``, ``/chat/completions``, ``/models``) over
aiohttp against one or more servers of the same model (vLLM, llama.cpp, any hosted endpoint), with a bound on requests
in flight and a fast reachability check.

It speaks the protocol directly rather than through the ``openai`` SDK: at hundreds of requests a second the SDK's
layers (typed parameters, httpx's connection pool, response models) cost about 5 ms of CPU a request, enough to make
one client the bottleneck of a vLLM fleet; a request here costs well under one (``bench/teacher_scale.py``)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from generators.teachers.backend import (
    CachedBackend,
    GenerationRequest,
    GenerationResult,
    OnResult,
    TeacherUnreachableError,
    check_served,
)
from generators.teachers.cache import ResponseCache
from generators.teachers.concurrency import ConcurrencyLimiter

MAX_REPLY_BYTES = 8 * 2**20  # a reasoning model's 32k-token trace is about 0.2 MB of JSON
SILENT_ATTEMPTS = 16
"""Attempts in a row that get no reply within the timeout before the rest of a batch fails at once. With a request
given up at its second timeout, a server that accepts and never answers costs a batch about two timeouts, not an hour
of retries per request."""


class EndpointError(Exception):
    """A failed attempt: an HTTP error status (with the server's Retry-After), a timeout, or no connection."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: str | None = None, timeout: bool = False
    ) -> None:
        super().__init__(message)
        self.status, self.timeout = status, timeout
        self.retry_after = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None

    @property
    def connection(self) -> bool:
        """No HTTP reply at all: the server is down, refused or dropped the connection."""
        return self.status is None and not self.timeout


class OpenAICompatibleBackend(CachedBackend):
    """The OpenAI protocol against one or more servers of the same model, served least-loaded."""

    backend = "openai"

    def __init__(
        self,
        base_urls: Sequence[str],
        model: str,
        cache: ResponseCache,
        api_key: str | None = None,
        chat: bool = False,
        max_concurrency: int = 8,
        timeout_s: float = 300.0,
        max_retries: int = 5,
        progress_every_s: float = 10.0,
        backend: str = "openai",
        seeded: bool = True,
        adaptive: bool = False,
        revive: Callable[[], bool] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        """``seeded``: send each request its own seed (sampling parameters' seed and the sample index), so a server
        samples reproducibly; off for vLLM's CPU build, whose engine dies on seeded requests batched together
        ("CPU Generator does not use offset"). The cache key keeps the seed either way. ``adaptive``: AIMD on the
        requests in flight per endpoint, up to ``max_concurrency`` (``generators.teachers.concurrency``), for remote
        servers whose capacity is not known; failed attempts are retried ``max_retries`` times, after the server's
        Retry-After or an exponential wait. ``revive``: called where a connection fails, to start a dead local
        engine again (True: it runs now, and the request is sent again at once). ``extra_body``: sampling fields the
        server takes beyond OpenAI's (``top_k``, ``min_p``...), sent with every request."""
        if not base_urls:
            raise ValueError("at least one base URL is needed")
        super().__init__(model, cache, chat, progress_every_s)
        self.base_urls = list(base_urls)
        self.backend = backend
        self._api_key = api_key or "not-needed"
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.seeded = seeded
        self.adaptive = adaptive
        self.revive = revive
        self.extra_body = dict(extra_body or {})
        # a reply slower than this means the server queues: the adaptive limit backs off before requests time out
        self.latency_ceiling_s = 0.5 * timeout_s

    def complete(self, requests: Sequence[GenerationRequest], on_result: OnResult) -> None:
        # asyncio's own loop, not uvloop's (a tenth less CPU a request): under uvloop the SIGTERM a step gets when its
        # run process is killed never stops the step (tests/test_killed_run.py)
        asyncio.run(self._complete(requests, on_result))

    async def _complete(self, requests: Sequence[GenerationRequest], on_result: OnResult) -> None:
        headers = {"Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json"}
        sessions = [
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_concurrency + 8),
                headers=headers,
                cookie_jar=aiohttp.DummyCookieJar(),  # an API sets no cookies worth keeping
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            )
            for _ in self.base_urls
        ]
        limiter = ConcurrencyLimiter(
            len(self.base_urls), self.max_concurrency, self.adaptive, latency_ceiling_s=self.latency_ceiling_s
        )
        retries = [0]
        silent = [0]  # attempts in a row that got no reply within the timeout

        async def run_one(index: int, request: GenerationRequest, slot: int, started: float) -> None:
            timeouts = 0
            for attempt in range(self.max_retries + 1):
                if attempt:
                    slot, started = await limiter.acquire()
                if silent[0] >= SILENT_ATTEMPTS:
                    await limiter.release(slot, started, overloaded=False)
                    result = _failed(EndpointError(f"{silent[0]} attempts in a row got no reply"), "the endpoint", 0)
                    break
                try:
                    result = await self._call(sessions[slot], self.base_urls[slot], request)
                except EndpointError as err:
                    overloaded, retryable, wait = _overload(err)
                    await limiter.release(slot, started, overloaded)
                    if err.connection and self.revive is not None:
                        wait = 0.0 if await asyncio.to_thread(self.revive) else wait
                    timeouts += err.timeout
                    silent[0] += err.timeout
                    if timeouts == 2:  # a server that accepts and never answers is not waited on again and again
                        result = _failed(err, self.base_urls[slot], attempt)
                        break
                    if retryable and attempt < self.max_retries:
                        retries[0] += 1
                        backoff = min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.5)  # jitter: no herd
                        await asyncio.sleep(wait if wait is not None else backoff)
                        continue
                    result = _failed(err, self.base_urls[slot], attempt)
                except (ValueError, AttributeError, TypeError, KeyError, IndexError) as err:
                    # a malformed reply (an HTML page with status 200, broken JSON) fails the request, naming where
                    await limiter.release(slot, started, overloaded=False)
                    result = _failed(err, self.base_urls[slot], attempt)
                else:
                    await limiter.release(slot, started, overloaded=False)
                    silent[0] = 0
                break
            on_result(index, result)

        async def dispatch() -> None:
            """Each request's task made once its slot is free: the first requests go out at once, and a large
            batch never holds a waiting task per request."""
            tasks: list[asyncio.Task] = []
            crashed: list[asyncio.Task] = []  # a bug, not a failed request (those are results): no more are sent

            def note_crash(task: asyncio.Task) -> None:
                if not task.cancelled() and task.exception() is not None:
                    crashed.append(task)

            for index, request in enumerate(requests):
                slot, started = await limiter.acquire()
                if crashed:
                    break
                tasks.append(asyncio.create_task(run_one(index, request, slot, started)))
                tasks[-1].add_done_callback(note_crash)
            await asyncio.gather(*tasks)

        try:
            await self._check_reachable(sessions)
            await dispatch()
        finally:
            self.concurrency = {**limiter.report(), "retries": retries[0], "adaptive": self.adaptive}
            for session in sessions:
                await session.close()

    async def _check_reachable(self, sessions: list[aiohttp.ClientSession]) -> None:
        """Fail in seconds, naming the URL, where no endpoint answers at all (any HTTP reply counts as an answer), or
        where the first that answers lists the models it serves and this one is not among them."""
        reasons = []
        timeout = aiohttp.ClientTimeout(total=min(10.0, self.timeout_s))
        for url, session in zip(self.base_urls, sessions, strict=True):
            for attempt in range(2):
                try:
                    async with session.get(f"{url.rstrip('/')}/models", timeout=timeout) as response:
                        listing = await _bounded(response, MAX_REPLY_BYTES)
                        ok = response.status < 400
                except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                    if attempt:
                        reasons.append(f"{url}: {type(err).__name__}: {err}")
                    continue
                if ok:
                    check_served(self.model, url, listing)
                return
        raise TeacherUnreachableError(f"no teacher endpoint answers ({'; '.join(reasons)})")

    async def _post(self, session: aiohttp.ClientSession, url: str, path: str, body: dict[str, Any]) -> Any:
        """The JSON reply to one POST; an error status, a timeout or a lost connection raise ``EndpointError``."""
        try:
            async with session.post(f"{url.rstrip('/')}{path}", data=json.dumps(body)) as response:
                raw = await _bounded(response, MAX_REPLY_BYTES)
                if response.status >= 400:
                    raise EndpointError(
                        f"HTTP {response.status}: {raw[:300].decode(errors='replace')}",
                        status=response.status,
                        retry_after=response.headers.get("Retry-After"),
                    )
        except TimeoutError as err:
            raise EndpointError(f"no reply in {self.timeout_s:g} s", timeout=True) from err
        except aiohttp.ClientError as err:
            raise EndpointError(f"{type(err).__name__}: {err}") from err
        return json.loads(raw)

    async def _call(self, session: aiohttp.ClientSession, url: str, request: GenerationRequest) -> GenerationResult:
        p = request.params
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            **self.extra_body,
        }
        if self.seeded:
            body["seed"] = p.seed * 10_007 + request.sample_index
        if p.stop:
            body["stop"] = list(p.stop)
        if request.messages is not None:
            body["messages"] = [{"role": role, "content": content} for role, content in request.messages]
            if request.messages[-1][0] == "assistant":  # a written start to continue (vLLM's chat extension)
                body.update(continue_final_message=True, add_generation_prompt=False)
            reply = await self._post(session, url, "/chat/completions", body)
            choice = reply["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            reasoning = message.get("reasoning_content") or message.get("reasoning")  # vLLM's newer field name
        else:
            body["prompt"] = request.prompt or ""
            reply = await self._post(session, url, "/completions", body)
            choice = reply["choices"][0]
            text, reasoning = choice["text"], None
        if not isinstance(text, str):
            raise TypeError(f"the reply's text is a {type(text).__name__}, not a string")
        usage = reply.get("usage") or {}
        return GenerationResult(
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
            cached=False,
            reasoning=reasoning or None,
        )


async def _bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The reply's body, read no further than ``limit`` bytes: a larger one is a malformed reply (ValueError), failed
    and never cached, before it takes the memory."""
    declared = response.content_length or 0
    if declared > limit:
        raise ValueError(f"a reply of {declared / 2**20:.1f} MB (at most {limit // 2**20} MB)")
    parts, size = [], 0
    async for chunk in response.content.iter_chunked(2**16):
        size += len(chunk)
        if size > limit:
            raise ValueError(f"a reply of over {limit // 2**20} MB")
        parts.append(chunk)
    return b"".join(parts)


def _overload(err: EndpointError) -> tuple[bool, bool, float | None]:
    """(a sign of overload, worth retrying, the server's Retry-After in seconds) for a failed attempt: 429, 503,
    504 and timeouts are overload; those, other 5xx, 408, 409 and lost connections are retried."""
    if err.timeout:
        return True, True, None
    if err.status is None:
        return False, True, None
    status = err.status
    return status in (429, 503, 504), status in (408, 409, 429) or status >= 500, err.retry_after


def _failed(err: Exception, url: str, attempt: int) -> GenerationResult:
    reason = f"{type(err).__name__} from {url} (after {attempt + 1} attempts): {str(err)[:300]}"
    return GenerationResult(None, None, 0, 0, cached=False, error=reason)
