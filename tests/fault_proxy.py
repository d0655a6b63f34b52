"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of a real OpenAI-compatible server.

It forwards requests as they are, or at a set rate answers 429 with Retry-After, answers 500, drops the connection
without a response, or stalls past the client's timeout; or (faults chosen by name) answers 200 with an empty
completion, a completion marked cut at the token limit, an HTML page, or JSON cut short. It logs every request it
receives and every response it completed, keyed by (prompt, seed), so tests can count what the server was asked for.
"""

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

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


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        fault_rate: float = 0.0,
        seed: int = 0,
        retry_after_s: int = 1,
        stall_s: float = 6.0,
        faults: tuple[str, ...] = FAULTS,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault_rate = fault_rate
        self.faults = faults
        self.rng = random.Random(seed)
        self.retry_after_s = retry_after_s
        self.stall_s = stall_s
        self.log = ProxyLog()
        self.port: int | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._client = httpx.AsyncClient(base_url=self.upstream.removesuffix("/v1"), timeout=120)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
                body = await reader.readexactly(length) if length else b""
                if not await self._answer(method, path, headers, body, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, method: str, path: str, headers: dict, body: bytes, writer: asyncio.StreamWriter) -> bool:
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
            content = b'{"error": {"message": "injected fault"}}'
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(content)}\r\n{extra}\r\n"
            )
            writer.write(head.encode() + content)
            await writer.drain()
            return True
        if fault in BROKEN_REPLIES:
            content = BROKEN_REPLIES[fault]
            kind = "text/html" if fault == "html" else "application/json"
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(content)}\r\n\r\n".encode())
            writer.write(content)
            await writer.drain()
            return True
        forwarded = {k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")}
        reply = await self._client.request(method, path, content=body, headers=forwarded)
        content = reply.content
        if fault in ("empty", "length"):
            answer = json.loads(content)
            for choice in answer.get("choices", []):
                if fault == "empty":
                    choice["text"] = ""
                else:
                    choice["finish_reason"] = "length"
            content = json.dumps(answer).encode()
        writer.write(
            f"HTTP/1.1 {reply.status_code} OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(content)}\r\n\r\n".encode()
            + content
        )
        await writer.drain()
        if body and reply.status_code == 200:
            self.log.completed.append(key)
        return True
