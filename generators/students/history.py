"""The student results of every revision, kept in one JSON-lines file, and the release gate read from it."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every recorded evaluation, oldest first (empty where none was recorded)."""
    if not path.is_file():
        return []
    entries = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {lineno} is not JSON ({err.msg}); remove or mend it") from err
    return entries


def record(path: Path, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Add ``entry`` (a revision's results), replacing an earlier entry of the same revision and student settings;
    the file is rewritten whole and renamed into place, under a lock. Returns the history after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        key = (entry["revision"], entry["settings_hash"])
        kept = [e for e in read_history(path) if (e["revision"], e.get("settings_hash")) != key] + [entry]
        partial = path.with_name(path.name + ".partial")
        partial.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in kept))
        os.replace(partial, path)
    return kept


def previous_score(history: list[dict[str, Any]], revision: str, eval_set: str) -> tuple[str, float] | None:
    """The tuned accuracy on ``eval_set`` of the latest revision before ``revision`` that has one."""
    for entry in reversed(history):
        score = entry.get("tuned", {}).get(eval_set)
        if entry["revision"] != revision and score is not None:
            return entry["revision"], score
    return None


def gate_verdict(
    history: list[dict[str, Any]], revision: str, eval_set: str, current: float | None, margin: float
) -> tuple[bool, str]:
    """Whether ``revision`` may be released: its tuned student must not score more than ``margin`` below the previous
    revision's on the fixed benchmark sample. (passed, why)."""
    if current is None:
        return False, f"no tuned score on {eval_set} for revision {revision}: the gate cannot decide"
    previous = previous_score(history, revision, eval_set)
    if previous is None:
        return True, f"first scored revision: tuned {current:.3f} on {eval_set}, nothing to compare with"
    earlier, score = previous
    drop = score - current
    verdict = "blocked" if drop > margin else "passed"
    return drop <= margin, (
        f"{verdict}: tuned {current:.3f} on {eval_set} vs {score:.3f} for revision {earlier} "
        f"(drop {drop:+.3f}, margin {margin:.3f})"
    )
