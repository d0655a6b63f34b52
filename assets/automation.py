"""Refresh automation: a weekly refresh schedule, a sensor for new seed files, one for new benchmark files, one for
batches verified by other reasoning checks than the running code's."""

import hashlib
import importlib.util
import json
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from assets.batches import (
    BATCH,
    BATCHES,
    REVERIFY_RUN_CONFIG,
    REVERIFY_SELECTION,
    add_batch,
    batch_key,
    checked_by_other_checks,
)
from assets.settings import FoundrySettings
from filters.verify import CHECKS_VERSION

SEED_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def refresh_selection(with_students: bool) -> dg.AssetSelection:
    """What a refresh materializes: the whole graph, less the student loop where its extra (torch) is not installed,
    so that a scheduled run of the default install publishes and ends green instead of failing at ``student_sft``."""
    everything = dg.AssetSelection.all()
    return everything if with_students else everything - dg.AssetSelection.groups("students")


STUDENTS_INSTALLED = importlib.util.find_spec("torch") is not None
refresh_job = dg.define_asset_job(
    "refresh_dataset",
    selection=refresh_selection(STUDENTS_INSTALLED),
    description="Generate a new batch end to end and publish it; then train and score the student on the new "
    "revision where the `student` extra is installed (`make student`).",
)
publish_job = dg.define_asset_job(
    "publish_batch",
    selection=refresh_selection(False),
    description="Generate a batch end to end and publish it, without the student loop: what a cluster runs per batch "
    "where the student trains elsewhere (on a GPU pool, after the publish).",
)
redecontaminate_job = dg.define_asset_job(
    "redecontaminate",
    selection=dg.AssetSelection.assets("decontaminated").required_multi_asset_neighbors().downstream(),
    description="Re-run decontamination (and everything after it) over one batch's stored rows, then republish.",
)
with warnings.catch_warnings():  # Dagster's parser passes a beta parameter of its own (include_sources)
    warnings.simplefilter("ignore", dg.BetaWarning)
    _reverify_selection = dg.AssetSelection.from_string(REVERIFY_SELECTION)
reverify_job = dg.define_asset_job(
    "reverify",
    selection=_reverify_selection,
    description="Verify one batch's stored rows again by this code's reasoning checks, grade and republish them (the "
    "student loop is not run: it trains on the next revision as ever).",
)


def refresh_schedule(cron: str) -> dg.ScheduleDefinition:
    """The refresh schedule on ``cron`` (``FoundrySettings.refresh_cron``: Mondays 03:00 UTC by default)."""

    @dg.schedule(name="weekly_refresh", cron_schedule=cron, job=refresh_job, execution_timezone="UTC")
    def weekly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Each refresh is a new batch (a new partition): its procedural problems and topics are seeded by the batch
        key, seed files yield rows no earlier batch read, and dedup drops whatever an earlier batch already has."""
        batch = add_batch(context.instance, batch_key(context.scheduled_execution_time, "weekly"))
        return dg.RunRequest(run_key=f"refresh-{batch}", partition_key=batch, tags={"batch": batch})

    return weekly_refresh


@dg.sensor(job=reverify_job, minimum_interval_seconds=300)
def checks_changed(context: dg.SensorEvaluationContext):
    """When the code's reasoning checks change (a deploy), verify every batch verified by other checks again, once per
    version, so that a published revision holds no row the current checks reject."""
    return [
        dg.RunRequest(
            run_key=f"reverify-{CHECKS_VERSION}-{batch}",
            partition_key=batch,
            tags={"batch": batch},
            run_config=REVERIFY_RUN_CONFIG,
        )
        for batch in checked_by_other_checks(context.instance)
    ]


def _new_files(folder: Path, suffixes: tuple[str, ...], seen: dict[str, float]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix in suffixes and seen.get(p.name) != p.stat().st_mtime
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "file"


@dg.sensor(job=refresh_job, minimum_interval_seconds=60)
def new_seed_file(context: dg.SensorEvaluationContext, settings: FoundrySettings):
    """A run per seed file that appears (or changes) in the watched seed folder ($FOUNDRY_SEED_DIR), with that file
    as the seed source."""

    seen = json.loads(context.cursor) if context.cursor else {}
    folder = settings.watched_seed_dir
    requests, batches = [], []
    for path in _new_files(folder, SEED_SUFFIXES, seen):
        mtime = path.stat().st_mtime
        seen[path.name] = mtime
        # the name's hash too: `a b.jsonl` and `a-b.jsonl`, or `x.jsonl` and `x.csv`, dropped in the same second are
        # two batches, not one that one of them overwrites
        named = hashlib.sha256(path.name.encode()).hexdigest()[:6]
        batch = batch_key(
            datetime.fromtimestamp(mtime, UTC), f"seed-{_slug(path.stem)}-{named}-{int(mtime) % 100_000:05d}"
        )
        batches.append(batch)
        requests.append(
            dg.RunRequest(
                run_key=f"seed-{path.name}-{mtime}",
                partition_key=batch,
                run_config={
                    "ops": {"seed_problems": {"config": {"sources": [str(path.resolve())], "limit_per_source": None}}}
                },
                tags={"seed_file": path.name, "batch": batch},
            )
        )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[BATCHES.build_add_request(batches)] if batches else [],
        cursor=json.dumps(seen),
    )


@dg.sensor(job=redecontaminate_job, minimum_interval_seconds=60)
def new_benchmark_file(context: dg.SensorEvaluationContext, settings: FoundrySettings):
    """When a benchmark file appears in the watched benchmark folder ($FOUNDRY_BENCHMARK_DIR), decontaminate every
    batch again against all of them; the shipped and the configured ($FOUNDRY_BENCHMARKS) sets stay, since
    decontamination adds config's sets to them (a run per batch; each republishes, and once the last has run the
    published revision is clean)."""

    seen = json.loads(context.cursor) if context.cursor else {}
    folder = settings.watched_benchmark_dir
    added = _new_files(folder, (".jsonl", ".parquet"), seen)
    requests = []
    if added:
        for path in added:
            seen[path.name] = path.stat().st_mtime
        watched = sorted(str(p.resolve()) for p in folder.iterdir() if p.suffix in (".jsonl", ".parquet"))
        stamp = "-".join(f"{p.name}@{p.stat().st_mtime}" for p in added)
        for batch in context.instance.get_dynamic_partitions(BATCH):
            requests.append(
                dg.RunRequest(
                    run_key=f"benchmarks-{stamp}-{batch}",
                    partition_key=batch,
                    run_config={"ops": {"decontaminated": {"config": {"benchmarks": watched}}}},
                    tags={"added_benchmarks": ",".join(p.name for p in added), "batch": batch},
                )
            )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen))
