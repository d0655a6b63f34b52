"""Seed problem loaders: local jsonl/parquet/csv files or a `datasets` id, with a column mapping.

Every problem of a bad file is reported before any teacher request, naming the file, the line and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import BinaryIO

import polars as pl

from filters.answers import extract_answer
from filters.schemas import PROBLEM_SCHEMA

GSM8K_TRAIN = (
    Path(__file__).parents[1] / "data" / "seeds" / "gsm8k_train.jsonl"
)  # shipped, MIT (LICENSE.gsm8k beside it)
MAX_PROBLEM_CHARS = 20_000
_ANSWER_MARK = re.compile(r"####|\\boxed|\\fbox")  # where a worked solution states its answer
_SURROGATE = re.compile("[\ud800-\udfff]")
SEED_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")  # in any case: `.JSONL` is a file, not a hub id
MAX_LINE_BYTES = 2**20  # a seed line: a problem and its answer, never a document
REASONING_KIND = {"math": "mathematical", "logic": "logical", "commonsense": "common-sense"}


class SeedFileError(ValueError):
    """A seed source that cannot be used; the message names the file, line and field."""


def normalize_answer(raw: str) -> str | None:
    """The gold answer from a raw answer field: GSM8K's ``#### N``, MATH's ``\\boxed{}``, or the text itself."""
    raw = raw.strip()
    if not raw:
        return None
    if _ANSWER_MARK.search(raw):
        return extract_answer(raw)
    return raw


def worked_solution(raw: str) -> str | None:
    """The worked solution an answer field holds (GSM8K's steps then ``#### N``, MATH's solution around its
    ``\\boxed{}``), kept in the problem's ``spec`` as its reference; None where the field is the bare answer."""
    match = _ANSWER_MARK.search(raw)
    return raw.strip() if match and re.search(r"\w", raw[: match.start()]) else None


def _records_json_array(path: Path, data: bytes) -> Iterable[tuple[int, dict]]:
    """A ``.json`` file holding one array of objects (record n is element n, 1-based), or one object written over
    several lines (one record)."""
    try:
        records = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SeedFileError(f"{path}: not a JSON array of objects, nor one object ({err})") from err
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list):
        raise SeedFileError(f"{path}: expected a JSON array of objects, got {type(records).__name__}")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise SeedFileError(f"{path}: element {number}: expected a JSON object, got {type(record).__name__}")
        yield number, record


def _records_jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    """The records of a JSON-lines file, read a line at a time and no line past ``MAX_LINE_BYTES`` (a 1 GB line is
    refused when it is met, not after the whole file is in memory); a ``.json`` file that holds one array is read
    whole."""
    with path.open("rb") as handle:
        start = 3 if handle.read(3) == b"\xef\xbb\xbf" else 0  # a UTF-8 byte-order mark is not part of the JSON
        handle.seek(start)
        first = handle.readline(MAX_LINE_BYTES).strip()
        whole = path.suffix.lower() == ".json" and (
            first.startswith(b"[") or (first.startswith(b"{") and not _parses(first))
        )
        handle.seek(start)
        if whole:
            yield from _records_json_array(path, handle.read())
        else:
            yield from _json_lines(path, handle)


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def _json_lines(path: Path, handle: BinaryIO) -> Iterable[tuple[int, dict]]:
    lineno = 0
    while line := handle.readline(MAX_LINE_BYTES + 1):
        lineno += 1
        if len(line) > MAX_LINE_BYTES:
            raise SeedFileError(
                f"{path}: line {lineno}: longer than {MAX_LINE_BYTES:,} bytes (a problem, not a document)"
            )
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SeedFileError(f"{path}: line {lineno}: not valid UTF-8 ({err.reason} at byte {err.start})") from err
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            raise SeedFileError(f"{path}: line {lineno}: invalid JSON ({err.msg} at column {err.colno})") from err
        if not isinstance(record, dict):
            raise SeedFileError(f"{path}: line {lineno}: expected a JSON object, got {type(record).__name__}")
        yield lineno, record


def _records_table(path: Path) -> Iterable[tuple[int, dict]]:
    try:
        if path.suffix == ".parquet":
            frame, first_line = pl.read_parquet(path), 0
        else:
            path.read_bytes().decode("utf-8")
            frame, first_line = pl.read_csv(path, infer_schema=False), 2  # line 1 is the header
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise SeedFileError(f"{path}: line {line}: not valid UTF-8 ({err.reason})") from err
    except (pl.exceptions.PolarsError, OSError) as err:
        raise SeedFileError(f"{path}: cannot be read as {path.suffix[1:]}: {err}") from err
    for index, record in enumerate(frame.iter_rows(named=True)):
        yield index + first_line, record


def _records_hub(dataset_id: str, split: str) -> Iterable[tuple[int, dict]]:
    import datasets

    yield from enumerate(datasets.load_dataset(dataset_id, split=split))


def seed_problem_id(problem: str) -> str:
    """A seed problem's id, from its text alone: the same file typed as another path, moved or renamed keeps its
    rows' ids, so a batch never reads again what an earlier batch read; one problem in two files is one problem."""
    return "seed-" + hashlib.sha256(problem.strip().encode()).hexdigest()[:16]


def load_seed_problems(
    source: str,
    problem_field: str = "question",
    answer_field: str = "answer",
    split: str = "train",
    limit: int | None = None,
    domain: str = "math",
    taken: Collection[str] = (),
) -> pl.DataFrame:
    """Seed problems from a local jsonl/parquet/csv file or a `datasets` id, with answers normalized: the first
    ``limit`` rows whose ``problem_id`` is not in ``taken`` (the rows earlier batches read, so rows added anywhere
    in the file, the top included, are read by the next batch); every row is checked, kept or not, so a bad row
    anywhere in the file is named by the first batch that reads it; empty once every row is taken."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in SEED_SUFFIXES and path.is_file():  # a folder may be a local `datasets` repo
        raise SeedFileError(f"{path}: a seed file ends in {', '.join(SEED_SUFFIXES)} (a name without one is a hub id)")
    if suffix in SEED_SUFFIXES:
        if path.is_dir():
            raise SeedFileError(f"{path}: is a directory, not a seed file")
        if not path.is_file():
            raise SeedFileError(f"{path}: seed file not found")
        if path.stat().st_size == 0:
            raise SeedFileError(f"{path}: the seed file is empty")
        records = _records_jsonl(path) if suffix in {".jsonl", ".json"} else _records_table(path)
        where, unit = str(path), "line"
        named = path.name  # what rows say of their source: never a local path, which would reach the Hub
    else:
        records, where, unit = _records_hub(source, split), f"{source}[{split}]", "row"
        named = where
    rows: list[dict] = []
    valid = 0
    for lineno, record in records:
        fields = {}
        for role, name in (("problem", problem_field), ("answer", answer_field)):
            if name not in record:
                raise SeedFileError(f"{where}: {unit} {lineno}: missing field {name!r} (the {role} column)")
            value = record[name]
            if value is None or (isinstance(value, str) and not value.strip()):
                raise SeedFileError(f"{where}: {unit} {lineno}: field {name!r} is empty")
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise SeedFileError(
                    f"{where}: {unit} {lineno}: field {name!r} must be a string, got {type(value).__name__}"
                )
            fields[role] = str(value)
            if _SURROGATE.search(fields[role]):  # "\ud800" alone: valid JSON, no text; it fails every writer later
                raise SeedFileError(
                    f"{where}: {unit} {lineno}: field {name!r} holds a lone surrogate (\\ud800-\\udfff)"
                )
        if len(fields["problem"]) > MAX_PROBLEM_CHARS:
            raise SeedFileError(
                f"{where}: {unit} {lineno}: field {problem_field!r} holds {len(fields['problem']):,} characters "
                f"(at most {MAX_PROBLEM_CHARS:,}: a problem, not a document)"
            )
        gold = normalize_answer(fields["answer"])
        if gold is None:
            raise SeedFileError(f"{where}: {unit} {lineno}: field {answer_field!r} has no extractable final answer")
        valid += 1
        solution = worked_solution(fields["answer"])
        problem_id = seed_problem_id(fields["problem"])
        # (ids up to 2026-12-06 hashed the path as typed too: a batch of those releases has read this row)
        typed_id = "seed-" + hashlib.sha256(f"{where}\n{fields['problem']}".encode()).hexdigest()[:16]
        if problem_id in taken or typed_id in taken or (limit is not None and len(rows) >= limit):
            continue  # checked, not kept: a bad line after the slice is named now, not by a batch weeks later
        rows.append(
            {
                "problem_id": problem_id,
                "source": named,
                "domain": domain,
                "reasoning_kind": REASONING_KIND.get(domain, domain),
                "problem": fields["problem"].strip(),
                "answer": gold,
                "steps": None,
                "template": None,
                "spec": json.dumps({"solution": solution}) if solution else None,
            }
        )
    if not valid:
        raise SeedFileError(f"{where}: the seed source holds no rows")
    return pl.DataFrame(rows, schema=PROBLEM_SCHEMA)
