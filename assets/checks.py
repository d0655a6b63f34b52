"""Asset checks that guard the pipeline's invariants; the blocking ones stop a bad result from publishing.

Thresholds come from the environment: FOUNDRY_MIN_COT_ROWS (default 1; a batch judged again has no floor) and
FOUNDRY_MAX_DROP_RATE_<STAGE> (defaults below; verification has none, since a base-model teacher fails most of its
traces).
"""

import warnings
from typing import Any

import dagster as dg
import polars as pl

from assets.batches import BATCHES
from assets.settings import FoundrySettings
from assets.stages import DROP_RATE_CEILINGS
from filters.decontamination import BenchmarkIndex, Decontaminate, load_benchmark, scan_fingerprint, scanned_columns
from filters.stream import chunks, height
from generators.publishing.targets import read_parquet_files

# Checks of partitioned assets are partitioned too (one result per batch); Dagster marks that API as a preview.
warnings.filterwarnings("ignore", "Specifying a partitions_def on an AssetCheckSpec", dg.PreviewWarning)


@dg.asset_check(asset="deduplicated", blocking=True, partitions_def=BATCHES)
def deduplicated_ids_unique(deduplicated: pl.LazyFrame) -> dg.AssetCheckResult:
    """No two rows share an id after dedup."""
    repeated = deduplicated.select(pl.len() - pl.col("id").n_unique()).collect().item()
    return dg.AssetCheckResult(passed=repeated == 0, metadata={"repeated_ids": repeated})


@dg.asset_check(asset="decontaminated", blocking=True, partitions_def=BATCHES)
def decontaminated_has_no_benchmark_overlap(
    context: dg.AssetCheckExecutionContext, decontaminated: pl.LazyFrame
) -> dg.AssetCheckResult:
    """Zero contamination hits: the kept rows, scanned again against the benchmark sets this batch's stage used."""
    metadata = partition_metadata(context.instance, "decontaminated", context.partition_key)
    return contamination_check(metadata, decontaminated)


def contamination_check(metadata: dict, frame: pl.DataFrame | pl.LazyFrame) -> dg.AssetCheckResult:
    """The check against the benchmark list a batch's decontamination recorded: none recorded fails (it would
    check nothing), as does an empty list, unless decontamination was disabled explicitly. Where the stored rows,
    the benchmark items and the settings are the ones the stage scanned (its fingerprint), the stage's scan stands;
    anything else is scanned again."""
    if "benchmark_files" not in metadata:
        return dg.AssetCheckResult(passed=False, metadata={"error": "no benchmark list recorded for this batch"})
    named = metadata["benchmark_files"]
    if not named and metadata.get("decontamination") != "disabled by config":
        return dg.AssetCheckResult(passed=False, metadata={"error": "no benchmark was checked"})
    benchmarks = {name: load_benchmark(source) for name, source in named.items()}
    ngram, fuzzy = metadata.get("ngram", 10), metadata.get("fuzzy", 0.9)
    if metadata.get("scan_fingerprint") == scan_fingerprint(frame, benchmarks, ngram, fuzzy):
        return dg.AssetCheckResult(
            passed=True, metadata={"benchmarks": len(named), "hits": 0, "scan": "the stage's (same rows and sets)"}
        )
    return contamination_hits(frame, benchmarks, ngram, fuzzy)


def partition_metadata(instance: dg.DagsterInstance, asset: str, partition: str) -> dict:
    """The metadata of one partition's latest materialization (empty where it has none)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return {}
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def contamination_hits(
    frame: pl.DataFrame | pl.LazyFrame, benchmarks: dict[str, list[str]], ngram: int = 10, fuzzy: float = 0.9
) -> dg.AssetCheckResult:
    """Scan the scanned columns of every row against ``benchmarks``, a chunk at a time; pass only with zero hits."""
    columns = scanned_columns(frame)
    scan = Decontaminate(BenchmarkIndex(benchmarks, ngram, fuzzy), columns)
    hits: list[str] = []
    rows = frame.lazy().select("id", *columns)
    with scan.workers_open(height(rows)):
        for chunk in chunks(rows):
            hits += scan(chunk).dropped["id"].to_list()
    metadata: dict[str, Any] = {
        "benchmarks": len(benchmarks),
        "hits": len(hits),
        "first_hits": ", ".join(hits[:5]),
        "scan": "again",
    }
    return dg.AssetCheckResult(passed=not hits, metadata=metadata)


@dg.asset_check(asset="difficulty_graded", blocking=True, partitions_def=BATCHES)
def graded_cot_rows_verified(difficulty_graded: pl.DataFrame) -> dg.AssetCheckResult:
    """Every CoT row that reaches publishing was verified correct."""
    cot = difficulty_graded.filter(pl.col("kind") == "cot")
    unverified = cot.filter(~pl.col("verified").fill_null(False)).height
    return dg.AssetCheckResult(passed=unverified == 0, metadata={"cot_rows": cot.height, "unverified": unverified})


class FloorConfig(dg.Config):
    """``rejudged``: the run judges a batch's stored rows again (``reverify``). The floor guards a new batch against a
    teacher that made next to nothing; rows the current checks reject must leave the published dataset however few
    remain, so a run that judges again holds none in place."""

    rejudged: bool = False


@dg.asset_check(asset="difficulty_graded", blocking=True, partitions_def=BATCHES)
def graded_cot_rows_above_floor(
    difficulty_graded: pl.DataFrame, settings: FoundrySettings, config: FloorConfig
) -> dg.AssetCheckResult:
    """At least ``settings.min_cot_rows`` ($FOUNDRY_MIN_COT_ROWS) CoT rows reach publishing from a new batch."""
    floor = 0 if config.rejudged else settings.min_cot_rows
    rows = difficulty_graded.filter(pl.col("kind") == "cot").height
    return dg.AssetCheckResult(passed=rows >= floor, metadata={"cot_rows": rows, "floor": floor})


def _drop_rate_check(stage: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=stage,
        name=f"{stage}_drop_rate_under_ceiling",
        partitions_def=BATCHES,
        blocking=True,
        additional_ins={"dropped": dg.AssetIn(f"{stage}_rejections")},
        description=f"The share of rows {stage} drops stays under its ceiling.",
    )
    def check(kept: pl.LazyFrame, dropped: pl.LazyFrame, settings: FoundrySettings) -> dg.AssetCheckResult:
        ceiling = settings.max_drop_rates[stage]
        removed = dropped.select(pl.len()).collect().item()
        total = kept.select(pl.len()).collect().item() + removed
        rate = removed / total if total else 0.0
        return dg.AssetCheckResult(
            passed=rate <= ceiling, metadata={"drop_rate": round(rate, 4), "ceiling": ceiling, "rows_in": total}
        )

    return check


drop_rate_checks = [_drop_rate_check(stage) for stage in DROP_RATE_CEILINGS]


@dg.asset_check(asset="published_dataset")
def published_eval_disjoint_from_train(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """No problem of the published eval split appears in train."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("published_dataset"))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if "path" not in metadata:
        return dg.AssetCheckResult(passed=True, metadata={"published": "nothing (no revision this run)"})
    return eval_train_overlap(str(metadata["path"].value))


def eval_train_overlap(path: str) -> dg.AssetCheckResult:
    """Problems shared by the train and eval splits of a published revision at a local path or an fsspec URL; a
    revision where neither split can be read fails (nothing was checked)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    ids = {}
    for split in ("train", "eval"):
        rows = read_parquet_files(path, f"data/cot/*/*/{split}-*.parquet", columns=["problem_id"])
        ids[split] = set(rows["problem_id"]) if rows.height else set()
    shared = ids["train"] & ids["eval"]
    return dg.AssetCheckResult(
        passed=not shared and bool(ids["train"] or ids["eval"] or not fs.exists(f"{root}/data/cot")),
        metadata={"train_problems": len(ids["train"]), "eval_problems": len(ids["eval"]), "shared": len(shared),
                  "path": path},
    )  # fmt: skip
