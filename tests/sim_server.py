"""A simulated OpenAI-compatible teacher on 127.0.0.1, shaped like a vLLM server, for tests and benchmarks.

It answers ``/v1/completions``, ``/v1/chat/completions`` and ``/v1/models`` over real HTTP/1.1 (keep-alive), with a
set latency per request, a capacity (requests served at once; the rest queue, as on a busy vLLM), a reasoning format
(``none``; ``think_tags``: ``<think>...</think>`` before the solution; ``reasoning_content``: the thinking in the chat
message's own field, as vLLM's reasoning parser sends it) and a share of injected 429s with Retry-After. What it says
comes from ``answer(question) -> (thinking, solution)``, the question being the last ``Question:`` of a completion
prompt or the last user message of a chat; with ``continues``, ``answer(question, written)`` also gets the start of
the answer the request asks it to continue (after a completion prompt's last ``Answer:``, or a chat's final assistant
message).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.local_http import LocalHTTPServer

Answer = Callable[[str], tuple[str | None, str]]
SampleAnswer = Callable[[str, int], tuple[str | None, str]]
"""An answer that also depends on the request's seed (the sampling seed and the sample index, as clients send it)."""
ContinuedAnswer = Callable[[str, str], tuple[str | None, str]]
"""An answer that also depends on the start of the answer the request asks to continue."""


@dataclass
class SimLog:
    requests: int = 0
    rejected_429: int = 0  # injected, or (queue=False) turned away when full
    in_flight: int = 0
    max_in_flight: int = 0
    sent_thinking: dict[str, str] = field(default_factory=dict)  # question -> the thinking the server sent
    last_payload: dict = field(default_factory=dict)  # the body of the last completion request


def question_of(payload: dict) -> str:
    """The question a request asks: the last ``Question:`` of a prompt, or the last user message."""
    if "messages" in payload:
        return next(m["content"] for m in reversed(payload["messages"]) if m["role"] == "user").strip()
    prompt = payload.get("prompt") or ""
    return prompt.rsplit("Question:", 1)[-1].split("\nAnswer:")[0].strip()


def written_of(payload: dict) -> str:
    """The start of the answer a request asks to continue: a chat's final assistant message, or what follows a
    completion prompt's last ``Answer:``."""
    if "messages" in payload:
        last = payload["messages"][-1]
        return last["content"] if last["role"] == "assistant" else ""
    return (payload.get("prompt") or "").rsplit("\nAnswer:", 1)[-1].strip()


class SimServer(LocalHTTPServer):
    def __init__(
        self,
        answer: Answer | SampleAnswer | ContinuedAnswer,
        latency_s: float = 0.0,
        capacity: int = 256,
        reasoning: str = "none",
        rate_429: float = 0.0,
        seed: int = 0,
        model: str = "sim-teacher",
        queue: bool = True,
        by_seed: bool = False,
        continues: bool = False,
    ) -> None:
        """``queue=False``: a request beyond ``capacity`` gets a 429 at once instead of waiting (as a gateway or a
        hosted API answers when it is full). ``by_seed``: ``answer`` takes the request's seed too; ``continues``: the
        start of the answer to continue instead."""
        if reasoning not in ("none", "think_tags", "reasoning_content"):
            raise ValueError(f"reasoning {reasoning!r}: none, think_tags or reasoning_content")
        super().__init__()
        self.say, self.latency_s, self.capacity, self.reasoning = answer, latency_s, capacity, reasoning
        self.rate_429, self.rng, self.model, self.queue = rate_429, random.Random(seed), model, queue
        self.by_seed, self.continues = by_seed, continues
        self.log = SimLog()

    def setup(self) -> None:
        self._slots = asyncio.Semaphore(self.capacity)

    async def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        status, extra, content = await self._respond(method, path, body)
        await self.reply(writer, status, content, extra)
        return True

    async def _respond(self, method: str, path: str, body: bytes) -> tuple[str, str, bytes]:
        if method == "GET" and path.endswith("/models"):
            return (
                "200 OK",
                "",
                json.dumps({"object": "list", "data": [{"id": self.model, "object": "model"}]}).encode(),
            )
        payload = json.loads(body)
        self.log.requests += 1
        self.log.last_payload = payload
        if self.rng.random() < self.rate_429:
            self.log.rejected_429 += 1
            return "429 Too Many Requests", "Retry-After: 1\r\n", b'{"error": {"message": "simulated overload"}}'
        if not self.queue and self.log.in_flight >= self.capacity:
            self.log.rejected_429 += 1
            return "429 Too Many Requests", "", b'{"error": {"message": "server full"}}'
        async with self._slots:
            self.log.in_flight += 1
            self.log.max_in_flight = max(self.log.max_in_flight, self.log.in_flight)
            try:
                await asyncio.sleep(self.latency_s)
            finally:
                self.log.in_flight -= 1
        question = question_of(payload)
        if self.by_seed or self.continues:
            thinking, solution = self.say(question, payload.get("seed", 0) if self.by_seed else written_of(payload))
        else:
            thinking, solution = self.say(question)
        if thinking is not None:
            self.log.sent_thinking[question] = thinking
        chat = path.endswith("/chat/completions")
        apart = chat and self.reasoning == "reasoning_content" and thinking is not None
        text = (
            solution
            if apart or thinking is None or self.reasoning == "none"
            else f"<think>\n{thinking}\n</think>\n\n{solution}"
        )
        usage = {
            "prompt_tokens": len(json.dumps(payload.get("messages") or payload.get("prompt")).split()),
            "completion_tokens": len(text.split()) + (len(thinking.split()) if apart else 0),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if chat:
            message = {"role": "assistant", "content": text, **({"reasoning_content": thinking} if apart else {})}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            kind = "chat.completion"
        else:
            choice, kind = {"index": 0, "text": text, "finish_reason": "stop"}, "text_completion"
        reply = {"id": f"sim-{self.log.requests}", "object": kind, "created": int(time.time()), "model": self.model,
                 "choices": [choice], "usage": usage}  # fmt: skip
        return "200 OK", "", json.dumps(reply).encode()
