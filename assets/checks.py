"""Asset checks that guard the pipeline's invariants; the blocking ones stop a bad result from publishing."""

import dagster as dg
import polars as pl


@dg.asset_check(asset="deduplicated", blocking=True)
def deduplicated_ids_unique(deduplicated: pl.DataFrame) -> dg.AssetCheckResult:
    """No two rows share an id after dedup."""
    repeated = deduplicated.height - deduplicated["id"].n_unique()
    return dg.AssetCheckResult(passed=repeated == 0, metadata={"repeated_ids": repeated})


@dg.asset_check(asset="difficulty_graded", blocking=True)
def graded_cot_rows_verified(difficulty_graded: pl.DataFrame) -> dg.AssetCheckResult:
    """Every CoT row that reaches publishing was verified correct."""
    cot = difficulty_graded.filter(pl.col("kind") == "cot")
    unverified = cot.filter(~pl.col("verified").fill_null(False)).height
    return dg.AssetCheckResult(passed=unverified == 0, metadata={"cot_rows": cot.height, "unverified": unverified})
