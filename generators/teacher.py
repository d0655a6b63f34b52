"""The teacher layer: one request/result interface and an OpenAI-compatible async backend with a response cache.

Every generator and the student grader send ``GenerationRequest``s through a ``TeacherBackend``; the backend serves
cache hits without a request, spreads the rest over one or more base URLs with a bound on requests in flight, and
records failures instead of dropping them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import openai

from generators.cache import ResponseCache, request_key


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters shared by every backend."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class GenerationRequest:
    """One sample of one prompt: a completion ``prompt`` or chat ``messages``, never both.

    ``metadata`` travels with the request to its result (problem id, purpose...) and is not part of the cache key.
    """

    params: SamplingParams
    prompt: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None  # (role, content) pairs
    sample_index: int = 0
    metadata: tuple[tuple[str, str], ...] = ()

    def payload(self, model: str) -> dict[str, Any]:
        """Everything that determines the response: the cache key is the hash of this."""
        return {
            "model": model,
            "prompt": self.prompt,
            "messages": [list(m) for m in self.messages] if self.messages else None,
            "params": asdict(self.params),
            "sample_index": self.sample_index,
        }


@dataclass
class GenerationResult:
    """What came back for one request; ``error`` is set (and ``text`` None) where it failed after retries."""

    text: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    error: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    reasoning: str | None = None  # a reasoning model's thinking sent apart (``reasoning_content``), kept as data

    @property
    def cacheable(self) -> bool:
        """Only a real answer is kept: a failure or an empty completion (the filters drop it as ``empty``; a broken
        server sends those too) is asked for again next run. A length-cut
        answer is kept as it is, ``finish_reason == "length"`` and all (the same request gets the same cut), and
        every consumer treats it as incomplete: the filters drop it as truncated, evolution rejects it."""
        return self.error is None and bool((self.text or "").strip())

    def cache_record(self) -> dict[str, Any]:
        """What the response cache keeps: the response itself, not how it was served or what it was tagged with."""
        return {k: v for k, v in asdict(self).items() if k not in ("cached", "metadata")}


@dataclass
class GenerationStats:
    """Accounting of one ``generate`` call."""

    requests: int = 0
    cache_hits: int = 0
    failures: int = 0
    length_finishes: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def completion_tokens_per_s(self) -> float:
        return self.completion_tokens / self.wall_s if self.wall_s > 0 else 0.0

    def add(self, result: GenerationResult) -> None:
        """Count one result."""
        self.requests += 1
        self.cache_hits += result.cached
        if result.error is not None:
            self.failures += 1
            if len(self.errors) < 5:
                self.errors.append(result.error)
            return
        self.length_finishes += result.finish_reason == "length"
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens

    @classmethod
    def merged(cls, parts: Sequence[GenerationStats]) -> GenerationStats:
        """The accounting of several ``generate`` calls together (wall times add up)."""
        total = cls()
        for part in parts:
            for name in (
                "requests",
                "cache_hits",
                "failures",
                "length_finishes",
                "prompt_tokens",
                "completion_tokens",
            ):
                setattr(total, name, getattr(total, name) + getattr(part, name))
            total.wall_s += part.wall_s
            total.errors += part.errors[: max(0, 5 - len(total.errors))]
        return total

    def as_metadata(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "failures": self.failures,
            "finish_reason_length": self.length_finishes,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "generation_wall_s": round(self.wall_s, 2),
            "completion_tokens_per_s": round(self.completion_tokens_per_s, 1),
        }


ProgressFn = Callable[[int, int, GenerationStats], None]


class TeacherBackend(Protocol):
    """What generators and graders need of a teacher or student model."""

    model: str
    backend: str
    chat: bool

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None
    ) -> tuple[list[GenerationResult], GenerationStats]: ...


CLIENT_CONNECTIONS = 32


class TeacherUnreachableError(ConnectionError):
    """No configured endpoint answers: raised before any request is sent."""


class GenerationFailedError(RuntimeError):
    """More requests failed than the configured fraction allows."""


def check_failures(stats: GenerationStats, max_failure_fraction: float) -> None:
    """Raise where the share of failed requests is above ``max_failure_fraction``."""
    if stats.requests and stats.failures / stats.requests > max_failure_fraction:
        raise GenerationFailedError(
            f"{stats.failures} of {stats.requests} requests failed (allowed fraction {max_failure_fraction}); "
            f"first errors: {stats.errors}"
        )


class OpenAICompatibleBackend:
    """Async ``openai`` client against one or more servers of the same model, served least-loaded."""

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
    ) -> None:
        if not base_urls:
            raise ValueError("at least one base URL is needed")
        self.base_urls = list(base_urls)
        self.backend = backend
        self.model = model
        self.chat = chat
        self.cache = cache
        self._api_key = api_key or "not-needed"
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.progress_every_s = progress_every_s

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None
    ) -> tuple[list[GenerationResult], GenerationStats]:
        """Results in the order of ``requests``; cache hits make no request, failures are recorded, not raised."""
        return asyncio.run(self._generate(requests, progress))

    async def _generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressFn | None
    ) -> tuple[list[GenerationResult], GenerationStats]:
        stats = GenerationStats()
        started = time.monotonic()
        # httpx's connection pool scans all its connections for every request: at hundreds in flight one client
        # spends milliseconds of CPU a request, so each endpoint gets a client per CLIENT_CONNECTIONS in flight
        shards = max(1, -(-self.max_concurrency // CLIENT_CONNECTIONS))
        client_urls = [url for url in self.base_urls for _ in range(shards)]
        clients = [
            openai.AsyncOpenAI(
                base_url=url, api_key=self._api_key, timeout=self.timeout_s, max_retries=self.max_retries
            )
            for url in client_urls
        ]
        if any(self.cache.get(request_key(r.payload(self.model))) is None for r in requests):
            try:
                await self._check_reachable(clients[::shards])
            except TeacherUnreachableError:
                for client in clients:
                    await client.close()
                raise
        in_flight = [0] * len(clients)
        semaphore = asyncio.Semaphore(self.max_concurrency)
        results: list[GenerationResult | None] = [None] * len(requests)

        async def report_every_interval() -> None:
            while True:
                await asyncio.sleep(self.progress_every_s)
                stats.wall_s = time.monotonic() - started
                progress(stats.requests, len(requests), stats)

        async def run_one(index: int, request: GenerationRequest) -> None:
            key = request_key(request.payload(self.model))
            hit = self.cache.get(key)
            if hit is not None:
                result = GenerationResult(**hit, cached=True)
            else:
                async with semaphore:
                    slot = min(range(len(clients)), key=in_flight.__getitem__)
                    in_flight[slot] += 1
                    try:
                        result = await self._call(clients[slot], request)
                    except (openai.OpenAIError, ValueError, AttributeError, TypeError, KeyError) as err:
                        # a malformed reply (an HTML page with status 200, broken JSON) fails the request, naming where
                        reason = f"{type(err).__name__} from {client_urls[slot]}: {str(err)[:300]}"
                        result = GenerationResult(None, None, 0, 0, cached=False, error=reason)
                    finally:
                        in_flight[slot] -= 1
                if result.cacheable:
                    self.cache.put(key, result.cache_record())
            result.metadata = dict(request.metadata)
            results[index] = result
            stats.add(result)

        reporter = asyncio.create_task(report_every_interval()) if progress else None
        try:
            await asyncio.gather(*(run_one(i, r) for i, r in enumerate(requests)))
        finally:
            if reporter:
                reporter.cancel()
            for client in clients:
                await client.close()
        stats.wall_s = time.monotonic() - started
        if progress:
            progress(stats.requests, len(requests), stats)
        return [r for r in results if r is not None], stats

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
            "seed": p.seed * 10_007 + request.sample_index,
        }
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
