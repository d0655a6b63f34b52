"""A persistent response cache keyed by a hash of the full request; results are committed as they arrive, a few at a
time (``CachedBackend`` writes what came in during the last fraction of a second in one transaction)."""

from __future__ import annotations

import hashlib
import json
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any


def request_key(payload: dict[str, Any]) -> str:
    """A stable hash of a request: model, prompt or messages, sampling parameters and sample index."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_KEYS_PER_QUERY = 500  # under SQLite's limit on bound parameters in one statement (999 in older builds)


class CacheUnreadableError(RuntimeError):
    """The cache file is damaged (a truncated copy, another program's file): named, never silently replaced."""


class ResponseCache:
    """SQLite store of completed generations; safe to share between processes (WAL) and threads (a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL)")
            self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise CacheUnreadableError(
                f"the response cache {self.path} cannot be read ({err}); move it away to start a new one (the "
                "responses it holds would be requested again)"
            ) from err

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The stored responses of those ``keys`` that have one, a few hundred keys a query."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            query = f"SELECT key, response FROM responses WHERE key IN ({','.join('?' * len(chunk))})"
            with self._lock:
                rows = self._db.execute(query, chunk).fetchall()
            found.update((key, json.loads(response)) for key, response in rows)
        return found

    def put_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Store ``(key, response)`` pairs in one transaction."""
        rows = [(key, json.dumps(response)) for key, response in items]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO responses (key, response) VALUES (?, ?)", rows)
            self._db.execute("COMMIT")

    def writer(self) -> CacheWriter:
        """A thread that stores batches handed to it, so the caller's event loop never waits on the disk."""
        return CacheWriter(self)

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CacheWriter:
    """Stores ``(key, response)`` batches in a thread of its own, in the order they were handed over; ``close``
    waits for every batch and raises the first write error, so nothing handed over is lost unnoticed."""

    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache
        self._batches: queue.SimpleQueue[list[tuple[str, dict[str, Any]]] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="cache-writer", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        while (batch := self._batches.get()) is not None:
            if self._error is None:
                try:
                    self._cache.put_many(batch)
                except BaseException as err:  # raised again by close, in the caller's thread
                    self._error = err

    def submit(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Hand a batch over; the caller must not change the list afterwards."""
        if items:
            self._batches.put(items)

    def close(self) -> None:
        self._batches.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
