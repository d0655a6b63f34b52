"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of a real OpenAI-compatible server.

It forwards requests as they are, or at a set rate answers 429 with Retry-After, answers 500, drops the connection
without a response, or stalls past the client's timeout; or (faults chosen by name) answers 200 with an empty
completion, a completion marked cut at the token limit, an HTML page, or JSON cut short. It logs every request it
receives and every response it completed, keyed by (prompt, seed), so tests can count what the server was asked for.
"""

import asyncio
import json
import random
import time
from dataclasses import dataclass, field

import httpx

from tests.local_http import LocalHTTPServer

FAULTS = ("429", "500", "drop", "stall")
BROKEN_REPLIES = {
    "html": b"<html><body><h1>Welcome to nginx!</h1></body></html>",
    "badjson": b'{"id": "cmpl-1", "choices": [{"text": "Step 1',
}


@dataclass
class ProxyLog:
    received: list[tuple[str, int, float]] = field(default_factory=list)  # (prompt, seed, time)
    completed: list[tuple[str, int]] = field(default_factory=list)
    faults: list[tuple[str, str, int, float]] = field(default_factory=list)  # (fault, prompt, seed, time)
    in_flight: int = 0  # requests with a body forwarded whose reply has not come back
    max_in_flight: int = 0


class FaultProxy(LocalHTTPServer):
    def __init__(
        self,
        upstream: str,
        fault_rate: float = 0.0,
        seed: int = 0,
        retry_after_s: int = 1,
        stall_s: float = 6.0,
        faults: tuple[str, ...] = FAULTS,
    ) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.fault_rate = fault_rate
        self.faults = faults
        self.rng = random.Random(seed)
        self.retry_after_s = retry_after_s
        self.stall_s = stall_s
        self.log = ProxyLog()

    def setup(self) -> None:
        self._client = httpx.AsyncClient(base_url=self.upstream.removesuffix("/v1"), timeout=120)

    async def answer(self, method: str, path: str, headers: dict, body: bytes, writer: asyncio.StreamWriter) -> bool:
        """Send one response; False where the connection must close."""
        key = ("", -1)
        if body:
            payload = json.loads(body)
            key = (str(payload.get("prompt") or payload.get("messages")), int(payload.get("seed", -1)))
            self.log.received.append((*key, time.monotonic()))
        # faults come in rotation, so every kind occurs once four have been injected
        fault = (
            self.faults[len(self.log.faults) % len(self.faults)]
            if body and self.rng.random() < self.fault_rate
            else None
        )
        if fault:
            self.log.faults.append((fault, *key, time.monotonic()))
        if fault == "drop":
            return False
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
            return False
        if fault in ("429", "500"):
            status = "429 Too Many Requests" if fault == "429" else "500 Internal Server Error"
            extra = f"Retry-After: {self.retry_after_s}\r\n" if fault == "429" else ""
            await self.reply(writer, status, b'{"error": {"message": "injected fault"}}', extra)
            return True
        if fault in BROKEN_REPLIES:
            kind = "text/html" if fault == "html" else "application/json"
            await self.reply(writer, "200 OK", BROKEN_REPLIES[fault], kind=kind)
            return True
        forwarded = {k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")}
        counted = int(bool(body))
        self.log.in_flight += counted
        self.log.max_in_flight = max(self.log.max_in_flight, self.log.in_flight)
        try:
            reply = await self._client.request(method, path, content=body, headers=forwarded)
        finally:
            self.log.in_flight -= counted
        content = reply.content
        if fault in ("empty", "length"):
            answer = json.loads(content)
            for choice in answer.get("choices", []):
                if fault == "empty":
                    choice["text"] = ""
                else:
                    choice["finish_reason"] = "length"
            content = json.dumps(answer).encode()
        await self.reply(writer, f"{reply.status_code} OK", content)
        if body and reply.status_code == 200:
            self.log.completed.append(key)
        return True
