"""The teacher layer: one request/result interface, and the cached backend every engine builds on.

Every task and the student grader send ``GenerationRequest``s through a ``ModelBackend``. ``CachedBackend`` owns
what all engines share (cache hits served without a request, only complete answers cached, each result tagged with its
request's metadata, accounting, progress), so an engine implements only ``complete``: answer this batch of misses,
recording failures instead of raising them.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from generators.teachers.cache import ResponseCache, request_key


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters shared by every backend."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0


@functools.lru_cache(maxsize=256)
def _params_record(params: SamplingParams) -> dict[str, Any]:
    """``asdict(params)``, once per distinct parameters: a batch's requests share them (read, never changed)."""
    return asdict(params)


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
            "params": _params_record(self.params),
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
        return {f: getattr(self, f) for f in _RECORD_FIELDS}


# the fields ``cache_record`` keeps, read once (``asdict`` would deep-copy the metadata only to drop it)
_RECORD_FIELDS = tuple(f.name for f in fields(GenerationResult) if f.name not in ("cached", "metadata"))


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
    concurrency: dict[str, float | int | bool] = field(default_factory=dict)  # what the engine's limiter reached

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
            if part.concurrency:
                peak = max(total.concurrency.get("concurrency_peak", 0), part.concurrency.get("concurrency_peak", 0))
                retries = total.concurrency.get("retries", 0) + part.concurrency.get("retries", 0)
                total.concurrency = {**part.concurrency, "concurrency_peak": peak, "retries": retries}
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
            **self.concurrency,
        }


ProgressFn = Callable[[int, int, GenerationStats], None]
# answers are written to the cache in one transaction per this many seconds (a killed run loses at most these)
CACHE_WRITE_EVERY_S = 0.2


class ModelBackend(Protocol):
    """What generators and graders need of a teacher or student model."""

    model: str
    backend: str
    chat: bool

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None
    ) -> tuple[list[GenerationResult], GenerationStats]: ...


class TeacherUnreachableError(ConnectionError):
    """No configured endpoint answers: raised before any request is sent."""


class ModelNotServedError(ValueError):
    """An endpoint lists the models it serves, and the configured name is not one of them."""


def check_served(model: str, url: str, listing: bytes) -> None:
    """Refuse, naming the URL and what it lists, a model name an endpoint's ``/models`` reply does not list: rows
    record the model by this name, so it must be the one the server answers as (a llama.cpp server answers any name
    with its own model). A reply that lists nothing (an error page, a proxy without a listing) says nothing."""
    try:
        entries = json.loads(listing)["data"]
        served = [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]
    except (ValueError, KeyError, TypeError):
        return
    if served and model not in served:
        shown = ", ".join(repr(name) for name in served[:5]) + (f" and {len(served) - 5} more" if served[5:] else "")
        raise ModelNotServedError(f"{url} serves {shown}, not {model!r}: name the model it serves")


class GenerationFailedError(RuntimeError):
    """More requests failed than the configured fraction allows."""


def check_failures(stats: GenerationStats, max_failure_fraction: float) -> None:
    """Raise where the share of failed requests is above ``max_failure_fraction``."""
    if stats.requests and stats.failures / stats.requests > max_failure_fraction:
        raise GenerationFailedError(
            f"{stats.failures} of {stats.requests} requests failed (allowed fraction {max_failure_fraction}); "
            f"first errors: {stats.errors}"
        )


OnResult = Callable[[int, GenerationResult], None]


class CachedBackend(ABC):
    """The shared half of every engine: ``generate`` serves cache hits, hands the misses to ``complete`` and caches,
    tags and counts each result as it arrives (written every ``CACHE_WRITE_EVERY_S``, so a killed run keeps every
    answer it got but those of its last fraction of a second)."""

    backend: str  # the engine's name, on every row it makes

    def __init__(self, model: str, cache: ResponseCache, chat: bool, progress_every_s: float = 10.0) -> None:
        self.model, self.cache, self.chat, self.progress_every_s = model, cache, chat, progress_every_s
        self.concurrency: dict[str, float | int | bool] = {}  # set by engines that bound requests in flight

    @abstractmethod
    def complete(self, requests: Sequence[GenerationRequest], on_result: OnResult) -> None:
        """Answer every request, calling ``on_result(index, result)`` once per request as each is done; a failure is
        a result with ``error`` set, not an exception (an endpoint that cannot be reached at all may raise)."""

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None
    ) -> tuple[list[GenerationResult], GenerationStats]:
        """Results in the order of ``requests``; cache hits make no request, failures are recorded, not raised."""
        stats, started = GenerationStats(), time.monotonic()
        keys = [request_key(r.payload(self.model)) for r in requests]
        results: list[GenerationResult | None] = [None] * len(requests)
        unsaved: list[list[tuple[str, dict]]] = [[]]
        saved_at = [started]
        writer = self.cache.writer()

        def save() -> None:
            writer.submit(unsaved[0])
            unsaved[0] = []
            saved_at[0] = time.monotonic()

        def keep(index: int, result: GenerationResult, fresh: bool) -> None:
            if fresh and result.cacheable:
                unsaved[0].append((keys[index], result.cache_record()))
                if time.monotonic() - saved_at[0] >= CACHE_WRITE_EVERY_S:
                    save()
            result.metadata = dict(requests[index].metadata)
            results[index] = result
            stats.add(result)

        misses = []
        hits = self.cache.get_many(keys)
        for index, key in enumerate(keys):
            hit = hits.get(key)
            if hit is None:
                misses.append(index)
            else:
                keep(index, GenerationResult(**hit, cached=True), fresh=False)
        stop = threading.Event()

        def report_every_interval(report: ProgressFn) -> None:
            while not stop.wait(self.progress_every_s):
                stats.wall_s = time.monotonic() - started
                report(stats.requests, len(requests), stats)

        reporter = threading.Thread(target=report_every_interval, args=(progress,), daemon=True) if progress else None
        if reporter:
            reporter.start()
        try:
            if misses:
                self.complete([requests[i] for i in misses], lambda j, result: keep(misses[j], result, fresh=True))
        finally:
            stop.set()
            save()
            writer.close()
        stats.wall_s = time.monotonic() - started
        stats.concurrency = dict(self.concurrency) if misses else {}
        if progress:
            progress(stats.requests, len(requests), stats)
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"{self.backend} answered {len(requests) - len(missing)} of {len(requests)} requests")
        return [r for r in results if r is not None], stats
