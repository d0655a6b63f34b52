"""The OpenAI-compatible backend: an async ``openai`` client against one or more servers of the same model (vLLM,
llama.cpp, any hosted endpoint), with a bound on requests in flight and a fast reachability check."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any

import openai

from generators.teachers.backend import (
    CachedBackend,
    GenerationRequest,
    GenerationResult,
    OnResult,
    TeacherUnreachableError,
)
from generators.teachers.cache import ResponseCache
from generators.teachers.concurrency import ConcurrencyLimiter

CLIENT_CONNECTIONS = 32


class OpenAICompatibleBackend(CachedBackend):
    """Async ``openai`` client against one or more servers of the same model, served least-loaded."""

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
    ) -> None:
        """``seeded``: send each request its own seed (sampling parameters' seed and the sample index), so a server
        samples reproducibly; off for vLLM's CPU build, whose engine dies on seeded requests batched together
        ("CPU Generator does not use offset"). The cache key keeps the seed either way. ``adaptive``: AIMD on the
        requests in flight per endpoint, up to ``max_concurrency`` (``generators.teachers.concurrency``), for remote
        servers whose capacity is not known; failed attempts are retried ``max_retries`` times, after the server's
        Retry-After or an exponential wait. ``revive``: called where a connection fails, to start a dead local
        engine again (True: it runs now, and the request is sent again at once)."""
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
        # a reply slower than this means the server queues: the adaptive limit backs off before requests time out
        self.latency_ceiling_s = 0.5 * timeout_s

    def complete(self, requests: Sequence[GenerationRequest], on_result: OnResult) -> None:
        asyncio.run(self._complete(requests, on_result))

    async def _complete(self, requests: Sequence[GenerationRequest], on_result: OnResult) -> None:
        # httpx's connection pool scans all its connections for every request: at hundreds in flight one client
        # spends milliseconds of CPU a request, so each endpoint gets a client per CLIENT_CONNECTIONS in flight
        shards = max(1, -(-self.max_concurrency // CLIENT_CONNECTIONS))
        clients = [
            [
                openai.AsyncOpenAI(base_url=url, api_key=self._api_key, timeout=self.timeout_s, max_retries=0)
                for _ in range(shards)
            ]
            for url in self.base_urls
        ]
        limiter = ConcurrencyLimiter(
            len(self.base_urls), self.max_concurrency, self.adaptive, latency_ceiling_s=self.latency_ceiling_s
        )
        retries = [0]

        async def run_one(index: int, request: GenerationRequest) -> None:
            for attempt in range(self.max_retries + 1):
                slot, started = await limiter.acquire()
                client = clients[slot][attempt % shards]
                try:
                    result = await self._call(client, request)
                except openai.OpenAIError as err:
                    overloaded, retryable, wait = _overload(err)
                    await limiter.release(slot, started, overloaded)
                    if isinstance(err, openai.APIConnectionError) and self.revive is not None:
                        wait = 0.0 if await asyncio.to_thread(self.revive) else wait
                    if retryable and attempt < self.max_retries:
                        retries[0] += 1
                        backoff = min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.5)  # jitter: no herd
                        await asyncio.sleep(wait if wait is not None else backoff)
                        continue
                    result = _failed(err, self.base_urls[slot], attempt)
                except (ValueError, AttributeError, TypeError, KeyError) as err:
                    # a malformed reply (an HTML page with status 200, broken JSON) fails the request, naming where
                    await limiter.release(slot, started, overloaded=False)
                    result = _failed(err, self.base_urls[slot], attempt)
                else:
                    await limiter.release(slot, started, overloaded=False)
                break
            on_result(index, result)

        try:
            await self._check_reachable([shard[0] for shard in clients])
            await asyncio.gather(*(run_one(i, r) for i, r in enumerate(requests)))
        finally:
            self.concurrency = {**limiter.report(), "retries": retries[0], "adaptive": self.adaptive}
            for shard in clients:
                for client in shard:
                    await client.close()

    async def _check_reachable(self, clients: list[openai.AsyncOpenAI]) -> None:
        """Fail in seconds, naming the URL, where no endpoint answers at all (any HTTP reply counts as an answer)."""
        reasons = []
        for url, client in zip(self.base_urls, clients, strict=True):
            try:
                await client.with_options(timeout=min(10.0, self.timeout_s), max_retries=1).models.list()
                return
            except (openai.APIConnectionError, openai.APITimeoutError) as err:
                reasons.append(f"{url}: {type(err).__name__}: {err}")
            except openai.OpenAIError:
                return
        raise TeacherUnreachableError(f"no teacher endpoint answers ({'; '.join(reasons)})")

    async def _call(self, client: openai.AsyncOpenAI, request: GenerationRequest) -> GenerationResult:
        p = request.params
        common: dict[str, Any] = {
            "model": self.model,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
        }
        if self.seeded:
            common["seed"] = p.seed * 10_007 + request.sample_index
        if p.stop:
            common["stop"] = list(p.stop)
        if request.messages is not None:
            reply = await client.chat.completions.create(
                messages=[{"role": role, "content": content} for role, content in request.messages], **common
            )
            message = reply.choices[0].message
            text, finish = message.content or "", reply.choices[0].finish_reason
            extra = message.model_extra or {}
            reasoning = getattr(message, "reasoning_content", None) or extra.get("reasoning_content")
            reasoning = reasoning or extra.get("reasoning")  # vLLM's newer field name
        else:
            reply = await client.completions.create(prompt=request.prompt or "", **common)
            text, finish, reasoning = reply.choices[0].text, reply.choices[0].finish_reason, None
        usage = reply.usage
        return GenerationResult(
            text=text,
            finish_reason=finish,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cached=False,
            reasoning=reasoning or None,
        )


def _overload(err: openai.OpenAIError) -> tuple[bool, bool, float | None]:
    """(a sign of overload, worth retrying, the server's Retry-After in seconds) for a failed attempt: 429, 503,
    504 and timeouts are overload; those, other 5xx, 408, 409 and lost connections are retried."""
    if isinstance(err, openai.APITimeoutError):
        return True, True, None
    if isinstance(err, openai.APIConnectionError):
        return False, True, None
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        retry_after = err.response.headers.get("retry-after")
        wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        return status in (429, 503, 504), status in (408, 409, 429) or status >= 500, wait
    return False, False, None


def _failed(err: Exception, url: str, attempt: int) -> GenerationResult:
    reason = f"{type(err).__name__} from {url} (after {attempt + 1} attempts): {str(err)[:300]}"
    return GenerationResult(None, None, 0, 0, cached=False, error=reason)
