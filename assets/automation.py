"""Refresh automation: a weekly refresh schedule, a sensor for new seed files, one for new benchmark files."""

import json
import os
from pathlib import Path

import dagster as dg

SEED_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")

refresh_job = dg.define_asset_job(
    "refresh_dataset", selection=dg.AssetSelection.all(), description="Generate a new batch end to end and publish it."
)
redecontaminate_job = dg.define_asset_job(
    "redecontaminate",
    selection=dg.AssetSelection.assets("decontaminated", "decontaminated_rejections").downstream(),
    description="Re-run decontamination (and everything after it) over the stored rows, then republish.",
)


def _refresh_cron() -> str:
    return os.environ.get("FOUNDRY_REFRESH_CRON", "0 3 * * 1")  # Mondays 03:00


@dg.schedule(cron_schedule=_refresh_cron(), job=refresh_job, execution_timezone="UTC")
def weekly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Each refresh is a new batch: its procedural problems are seeded by the scheduled day, so they are new."""
    when = context.scheduled_execution_time
    batch = when.strftime("%Y-%m-%d")
    seed = int(when.timestamp()) // 86_400
    return dg.RunRequest(
        run_key=f"refresh-{batch}",
        run_config={"ops": {"synthetic_problems": {"config": {"seed": seed}}}},
        tags={"batch": batch},
    )


def _new_files(folder: Path, suffixes: tuple[str, ...], seen: dict[str, float]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix in suffixes and seen.get(p.name) != p.stat().st_mtime
    )


def _watched(env: str, default: str) -> Path:
    return Path(os.environ.get(env, default))


@dg.sensor(job=refresh_job, minimum_interval_seconds=60)
def new_seed_file(context: dg.SensorEvaluationContext):
    """A run per seed file that appears (or changes) in $FOUNDRY_SEED_DIR, with that file as the seed source."""

    seen = json.loads(context.cursor) if context.cursor else {}
    folder = _watched("FOUNDRY_SEED_DIR", os.path.join(os.environ.get("FOUNDRY_DATA_DIR", "data"), "incoming_seeds"))
    for path in _new_files(folder, SEED_SUFFIXES, seen):
        seen[path.name] = path.stat().st_mtime
        yield dg.RunRequest(
            run_key=f"seed-{path.name}-{path.stat().st_mtime}",
            run_config={
                "ops": {"seed_problems": {"config": {"sources": [str(path.resolve())], "limit_per_source": None}}}
            },
            tags={"seed_file": path.name},
        )
    context.update_cursor(json.dumps(seen))


@dg.sensor(job=redecontaminate_job, minimum_interval_seconds=60)
def new_benchmark_file(context: dg.SensorEvaluationContext):
    """When a benchmark file appears in $FOUNDRY_BENCHMARK_DIR, decontaminate again against all of them."""

    seen = json.loads(context.cursor) if context.cursor else {}
    folder = _watched("FOUNDRY_BENCHMARK_DIR", os.path.join(os.environ.get("FOUNDRY_DATA_DIR", "data"), "benchmarks"))
    added = _new_files(folder, (".jsonl", ".parquet"), seen)
    if added:
        for path in added:
            seen[path.name] = path.stat().st_mtime
        benchmarks = sorted(str(p.resolve()) for p in folder.iterdir() if p.suffix in (".jsonl", ".parquet"))
        yield dg.RunRequest(
            run_key="benchmarks-" + "-".join(f"{p.name}@{p.stat().st_mtime}" for p in added),
            run_config={"ops": {"decontaminated": {"config": {"benchmarks": benchmarks}}}},
            tags={"added_benchmarks": ",".join(p.name for p in added)},
        )
    context.update_cursor(json.dumps(seen))
