"""Batches: every refresh is a new dynamic partition of the per-batch assets, deduplicated against earlier batches.

``python -m assets.batches add [KEY]`` registers a batch in the Dagster instance ($DAGSTER_HOME) and prints its key,
for the command line: ``dagster asset materialize -f definitions.py --select '*' --partition KEY``.
``python -m assets.batches remove KEY`` unregisters a batch, the one way to publish without its rows.
``python -m assets.batches backfill KEY [KEY ...]`` registers the batches and materializes them one after another
(each a real run through the Dagster CLI), so each batch's dedup sees the batches before it.
``python -m assets.batches recover`` marks failed the runs whose process on this machine is gone (``kill -9``, a lost
machine): they stay STARTED otherwise, since the default run launcher has no run-worker health check.
``python -m assets.batches run KEY --config-json J`` materializes one batch with its full log in ``<data>/logs``,
showing progress; where the run fails (nothing passed every check, say) it says which stage removed what and why,
instead of a stack trace, and exits 2. ``python -m assets.batches explain KEY`` says the same of any batch.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import polars as pl
from dagster._core.errors import DagsterError
from sqlalchemy.exc import SQLAlchemyError

from assets.stages import STUDENT_POOL, TEACHER_POOL
from filters.verify import CHECKS_VERSION

try:
    from dagster_postgres.utils import DagsterPostgresException
except ImportError:  # the local profile needs no PostgreSQL driver
    INSTANCE_ERRORS: tuple[type[Exception], ...] = (DagsterError, SQLAlchemyError)
else:
    INSTANCE_ERRORS = (DagsterError, SQLAlchemyError, DagsterPostgresException)

BATCH = "batch"  # the name of the dynamic partitions the batches are
BATCHES = dg.DynamicPartitionsDefinition(name=BATCH)
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def batch_key(when: datetime, label: str) -> str:
    """A readable, sortable key: the day and what started the batch (``2026-11-30-weekly``)."""
    return f"{when:%Y-%m-%d}-{label}"


def check_key(key: str, what: str = "batch key") -> str:
    """The key itself, or a ValueError naming what is wrong with it. Batch keys and dataset names both become folder
    and file names, so both are held to this wherever they come from (the CLI, the UI, the API, run config)."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"{what} {key!r}: use 1-100 letters, digits, '.', '_' or '-', starting alphanumeric")
    return key


def batch_seed(key: str) -> int:
    """A stable seed per batch, so procedural problems and topics differ from batch to batch."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def batch_index(instance: dg.DagsterInstance, key: str) -> int:
    """The position of ``key`` among the registered batches (the order they were added)."""
    keys = instance.get_dynamic_partitions(BATCH)
    return keys.index(key) if key in keys else len(keys)


def earlier_batches(instance: dg.DagsterInstance, key: str) -> list[str]:
    """Batches registered before ``key``: the ones its rows are deduplicated against."""
    keys = instance.get_dynamic_partitions(BATCH)
    return list(keys[: batch_index(instance, key)])


def add_batch(instance: dg.DagsterInstance, key: str) -> str:
    """Register ``key`` as a batch (idempotent) and return it."""
    check_key(key)
    if not instance.has_dynamic_partition(BATCH, key):
        instance.add_dynamic_partitions(BATCH, [key])
    return key


def _run_process(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run's executor reported for its own process (steps report theirs under a step key)."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event and event.engine_event_data else None
        if pid is not None and entry.step_key is None:
            return int(str(pid.value))
    return None


def _is_dagster_process(pid: int) -> bool:
    """Whether ``pid`` is a live process running dagster (a reused pid running something else does not count)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read()
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and b"dagster" in command


def recover(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every in-progress run whose executor process is gone from this machine; return their ids."""
    statuses = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=statuses)):
        pid = _run_process(instance, run.run_id)
        if pid is not None and not _is_dagster_process(pid):
            instance.report_run_failed(run, f"the run's process (pid {pid}) is gone: killed or lost; marked failed")
            failed.append(run.run_id)
    return failed


_SHOWN_EVENTS = {"STEP_START": "started", "STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED"}


def progress_line(line: str) -> str | None:
    """What a person reads of one line of the Dagster CLI's log: a step's start, end or failure, and what the steps
    themselves say (progress, warnings); None for the rest."""
    fields = line.rstrip("\n").split(" - ")
    if len(fields) >= 9 and fields[2] == "DEBUG" and fields[7] in _SHOWN_EVENTS:
        return f"{fields[6]}: {_SHOWN_EVENTS[fields[7]]}"
    if len(fields) >= 7 and fields[2] in ("INFO", "WARNING", "ERROR") and not fields[6].isupper():
        return f"{fields[5]}: {' - '.join(fields[6:])[:200]}"
    return None


def explain(data_dir: str | Path, key: str, stages: tuple[str, ...]) -> str:
    """What became of batch ``key``'s rows, stage by stage, from what its stages stored: rows in and out and the top
    reasons each stage dropped rows for, and where the rejected rows are."""
    assets = Path(data_dir) / "assets"
    lines = [f"What became of batch {key}'s rows, stage by stage:"]
    for stage in stages:
        report, dropped = (
            assets / f"{stage}_report" / f"{key}.parquet",
            assets / f"{stage}_rejections" / f"{key}.parquet",
        )
        if not report.is_file():
            lines.append(f"  {stage}: did not run")
            continue
        row = pl.read_parquet(report).row(0, named=True)
        top = ""
        if dropped.is_file() and (frame := pl.read_parquet(dropped, columns=["code"])).height:
            counts = frame.group_by("code").len().sort(["len", "code"], descending=[True, False]).head(3)
            top = "; dropped: " + ", ".join(f"{code} {n}" for code, n in counts.iter_rows())
        lines.append(f"  {stage}: {row['rows_in']} in, {row['rows_out']} out{top}")
        if sampled := json.loads(row["report"]).get("sampling"):
            lines.append(f"    sampling: {sampled}")
    lines.append(f"Every dropped row, with its text and reason: {assets}/<stage>_rejections/{key}.parquet")
    return "\n".join(lines)


def open_instance() -> dg.DagsterInstance:
    """The Dagster instance of $DAGSTER_HOME, its storage made by one process at a time: SQLite storage that two
    processes create at once is left with two schema heads (alembic: "more than one head"), broken for good."""
    home = Path(os.environ.get("DAGSTER_HOME") or ".")
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)  # every storage made and stamped while the lock is held
            instance.all_instigator_state()
            set_pool_limits(instance)
            return instance
        except INSTANCE_ERRORS as err:  # a setting, not a bug: one line, no stack trace
            raise SystemExit(f"error: {instance_error(home, err)}") from None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def instance_error(home: Path, err: Exception) -> str:
    """What stopped the Dagster instance of ``home`` from opening, naming the part: the PostgreSQL it names (its
    password never shown), or the setting it could not read."""
    url = os.environ.get("DAGSTER_PG_URL")
    if "DAGSTER_PG_URL" in str(err):
        return f"{home}/dagster.yaml keeps Dagster on PostgreSQL at $DAGSTER_PG_URL, which is not set"
    if url and ("DB connection" in str(err) or isinstance(err, SQLAlchemyError)):
        parts = urlsplit(url)
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        return f"the Dagster instance's PostgreSQL at {where} ($DAGSTER_PG_URL) does not answer or refuses: {err}"
    return f"the Dagster instance in {home} cannot be opened: {err}"


def set_pool_limits(instance: dg.DagsterInstance) -> None:
    """Give the model pools (``teacher``, ``student``) the profile's default limit explicitly, once, where the
    profile sets one (the cluster profile). Left to the default, the first two runs that reach a pool at once both
    create it, and on PostgreSQL one of them fails (dagster-io/dagster#33552: a unique violation aborts the
    transaction); a limit set by hand (`dagster instance concurrency set`) is kept."""
    default = instance.global_op_concurrency_default_limit
    storage = instance.event_log_storage
    if default is None or not storage.supports_global_concurrency_limits:
        return
    for pool in sorted({TEACHER_POOL, STUDENT_POOL} - storage.get_concurrency_keys()):
        storage.set_concurrency_slots(pool, default)


def run_batch(
    key: str, select: str, config_json: str, data_dir: str, stages: tuple[str, ...], partitioned: bool = True
) -> int:
    """Materialize ``select`` for batch ``key`` (``partitioned=False``: unpartitioned assets after it, the publish)
    through the Dagster CLI, its full log in ``<data_dir>/logs/<key>.log`` (``publish.log``) and a line a step on
    screen; on a failure, what became of the rows (``explain``) and the log's path. The exit status: 0, or 2 where
    the run failed."""
    log = Path(data_dir) / "logs" / (f"{key}.log" if partitioned else "publish.log")  # a batch's log is its own
    log.parent.mkdir(parents=True, exist_ok=True)
    open_instance()  # made here, by one process at a time, before the Dagster CLI opens it
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    command = [dagster, "asset", "materialize", "-f", "definitions.py", "--select", select,
               *(["--partition", key] if partitioned else []), "--config-json", config_json]  # fmt: skip
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            if shown := progress_line(line):
                print(shown, flush=True)
        code = process.wait()
    if code == 0:
        return 0
    print(f"\nThe run for batch {key} failed, and nothing new was published (the last revision stays).")
    failures = [line.split(" - ", 5)[-1].strip() for line in log.read_text().splitlines() if "STEP_FAILURE" in line]
    if failures:
        print(f"What stopped it: {failures[0][:400]}")
    print(explain(data_dir, key, stages))
    print(f"The full log: {log}")
    return 2


REVERIFY_SELECTION = (
    '(key:"verified"+ or key:"verified_rejections"+ or key:"verified_report"+) and not group:"students"'
)
"""What judging a batch again takes: ``verified`` and everything after it, up to the publish, without the student
loop (it trains on the next revision as ever)."""
REVERIFY_RUN_CONFIG = {"ops": {"difficulty_graded_graded_cot_rows_above_floor": {"config": {"rejudged": True}}}}
"""A run that judges stored rows again is not held by the floor on CoT rows: the rows it rejects leave the dataset."""


def checked_by_other_checks(instance: dg.DagsterInstance) -> list[str]:
    """The registered batches whose latest ``verified`` was made by other reasoning checks than this code's
    (``CHECKS_VERSION``), oldest first; a batch never verified is not among them."""
    stale = []
    for batch in instance.get_dynamic_partitions(BATCH):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey("verified"), asset_partitions=[batch]), limit=1
        ).records
        materialization = records[0].asset_materialization if records else None
        if materialization is not None:
            version = materialization.metadata.get("checks_version")
            if version is None or version.value != CHECKS_VERSION:
                stale.append(batch)
    return stale


def reverify(data_dir: str, stages: tuple[str, ...]) -> int:
    """The ``reverify`` job's stages (``verified`` and what follows it) for every batch verified by other reasoning
    checks than this code's, one after another, then one publish of them all; nothing is published where one fails.
    The exit status as ``run_batch`` gives it."""
    stale = checked_by_other_checks(open_instance())
    if not stale:
        print("every batch was verified by this code's reasoning checks: nothing to do")
        return 0
    select = f'({REVERIFY_SELECTION}) and not key:"published_dataset"'
    for number, key in enumerate(stale, 1):
        print(f"[{number}/{len(stale)}] batch {key}: verified by other reasoning checks, verifying again", flush=True)
        if code := run_batch(key, select, json.dumps(REVERIFY_RUN_CONFIG), data_dir, stages):
            return code
    print("publishing a revision with them", flush=True)
    if code := run_batch(stale[-1], 'key:"published_dataset"', "{}", data_dir, stages, partitioned=False):
        print("Publish them with: dagster asset materialize -f definitions.py --select published_dataset")
    return code


def backfill(keys: list[str], select: str = "*", definitions: str = "definitions.py") -> None:
    """Register ``keys`` and materialize ``select`` for each in order, one run per batch; stop at the first failure."""
    instance = open_instance()
    for key in keys:
        add_batch(instance, key)
    for number, key in enumerate(keys, 1):
        print(f"[{number}/{len(keys)}] batch {key}", flush=True)
        command = ["dagster", "asset", "materialize", "-f", definitions, "--select", select, "--partition", key]
        done = subprocess.run([os.path.join(os.path.dirname(sys.executable), command[0]), *command[1:]])
        if done.returncode:
            raise SystemExit(f"batch {key} failed (exit {done.returncode}); later batches were not run")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m assets.batches", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="register a batch and print its key")
    add.add_argument("key", nargs="?", help="default: today's date and 'manual', numbered if taken")
    commands.add_parser("list", help="the registered batches, oldest first")
    remove = commands.add_parser("remove", help="unregister a batch: the next publish leaves its rows out")
    remove.add_argument("key")
    several = commands.add_parser("backfill", help="register batches and materialize them one after another")
    several.add_argument("keys", nargs="+")
    several.add_argument("--select", default="*", help="asset selection (default: the whole graph)")
    commands.add_parser("recover", help="mark failed the runs whose process on this machine is gone")
    one = commands.add_parser("run", help="materialize one batch, its log in <data>/logs; explain a failure")
    one.add_argument("key")
    one.add_argument("--select", default="*")
    one.add_argument("--config-json", default="{}")
    why = commands.add_parser("explain", help="what became of a batch's rows, stage by stage")
    why.add_argument("key")
    commands.add_parser("reverify", help="verify again, and republish, the batches verified by other reasoning checks")
    args = parser.parse_args(argv)
    if args.command in ("run", "explain", "reverify"):
        from assets.settings import FoundrySettings
        from assets.stages import COUNTED_STAGES

        try:
            settings = FoundrySettings.from_env()
        except ValueError as err:  # a bad setting is a message, not a stack trace
            raise SystemExit(f"error: {err}") from None
        data_dir = settings.data_dir
        if args.command == "explain":
            print(explain(data_dir, check_key(args.key), COUNTED_STAGES))
            return
        if args.command == "reverify":
            raise SystemExit(reverify(data_dir, COUNTED_STAGES))
        if settings.executor == "ray":
            from assets.cluster import ray_unreachable

            if unreachable := ray_unreachable(os.environ.get("RAY_ADDRESS", "")):
                raise SystemExit(f"error: {unreachable}")
        raise SystemExit(run_batch(check_key(args.key), args.select, args.config_json, data_dir, COUNTED_STAGES))
    if args.command == "backfill":
        backfill([check_key(k) for k in args.keys], args.select)
        return
    instance = open_instance()
    if args.command == "recover":
        failed = recover(instance)
        print("\n".join(f"marked failed: run {run_id}" for run_id in failed) or "no orphaned runs")
        return
    if args.command == "list":
        print("\n".join(instance.get_dynamic_partitions(BATCH)))
        return
    if args.command == "remove":
        if not instance.has_dynamic_partition(BATCH, args.key):
            raise SystemExit(f"no batch {args.key!r}; registered: {instance.get_dynamic_partitions(BATCH)}")
        instance.delete_dynamic_partition(BATCH, args.key)
        print(f"removed batch {args.key}: the next publish leaves its rows out (the changelog counts them)")
        return
    key = args.key
    if key is None:
        base = batch_key(datetime.now(UTC), "manual")
        existing = set(instance.get_dynamic_partitions(BATCH))
        key = next(k for k in (base, *(f"{base}-{i}" for i in range(2, 10_000))) if k not in existing)
    print(add_batch(instance, key))


if __name__ == "__main__":
    main()
