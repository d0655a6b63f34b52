"""The card's figures come from the reports of the batches a revision publishes, and from no other batch."""

import json

import dagster as dg
import polars as pl
import pytest

from assets.metadata import stage_report
from assets.stages import COUNTED_STAGES
from generators.publishing.reports import finished_batches, published_reports


def reports(batch: str, rows: int, decontamination: str = "on", gate: list[str] | None = None) -> pl.DataFrame:
    """The stage reports of one batch where every stage took ``rows`` rows in 2 seconds."""
    frames = []
    for stage in COUNTED_STAGES:
        metadata: dict[str, object] = {"rows_in": rows, "rows_out": rows - 1, "rows_per_s": rows / 2}
        if stage == "decontaminated":
            metadata |= {
                "decontamination": decontamination,
                "benchmarks": dg.MetadataValue.json({f"bench-{batch}": 10}),
            }
        if stage == "verified":
            metadata |= {
                "verifier_audit": dg.MetadataValue.json({"audited_rows": rows}),
                "reasoning_checks": dg.MetadataValue.json({"chance_gate": {"cannot_pass": gate or []}}),
            }
        if stage == "reasoning_filtered":
            metadata |= {"min_edu_score": 3, "judge_model": f"judge-{batch}"}
        frames.append(stage_report(stage, metadata))
    return pl.concat(frames).with_columns(pl.lit(batch).alias("batch"))


def test_only_the_published_batches_count() -> None:
    frame = pl.concat(
        [reports("a", 10), reports("b", 100, "disabled by config", ["4 samples at chance 0.5"]), reports("c", 1000)]
    )
    summed = published_reports(frame, COUNTED_STAGES, {"a", "c"})
    assert {row["stage"]: (row["rows_in"], row["rows_out"]) for row in summed.stages}["verified"] == (1010, 1008)
    assert summed.throughput["verified"] == 252.5  # 1,010 rows in 2 + 2 seconds
    assert summed.decontamination == {"status": "on", "benchmarks": {"bench-a": 10, "bench-c": 10}}
    assert summed.judge == {"min_edu_score": 3, "judge_model": "judge-c"}
    assert [audit["batch"] for audit in summed.audits] == ["a", "c"] and summed.cannot_pass == []
    with_b = published_reports(frame, COUNTED_STAGES, {"a", "b"})
    assert with_b.decontamination["status"] == "disabled by config"
    assert with_b.cannot_pass == ["4 samples at chance 0.5"]


@pytest.mark.parametrize(
    ("graded", "reported", "published"),
    [
        (["a", "a"], ["a", "b"], {"a", "b"}),  # b ran to its end and no row passed: its rejections count
        (["a", "c"], ["a"], {"a", "c"}),  # c's rows are graded, its reports not in yet
        ([], [], set()),  # no batch has finished
    ],
)
def test_a_batch_that_ran_to_its_end_is_published_with_or_without_rows(
    graded: list[str], reported: list[str], published: set[str]
) -> None:
    rows = pl.DataFrame({"batch": graded}, schema={"batch": pl.String})
    frame = (
        pl.concat([reports(batch, 10) for batch in reported])
        if reported
        else pl.DataFrame(schema={"batch": pl.String})
    )
    assert finished_batches(rows, frame) == published


def test_a_stage_report_keeps_plain_values_and_leaves_tables_out() -> None:
    row = stage_report(
        "cot_traces",
        {
            "requests": 8,
            "rows": 7,
            "generation_wall_s": 4.0,
            "teacher_model": "m",
            "samples": dg.MetadataValue.md("x"),
        },
    ).row(0, named=True)
    assert (row["rows_in"], row["rows_out"], row["seconds"]) == (8, 7, 4.0)
    assert json.loads(row["report"]) == {"generation_wall_s": 4.0, "requests": 8, "rows": 7, "teacher_model": "m"}


def test_no_batch_no_figures() -> None:
    summed = published_reports(pl.DataFrame(schema={"batch": pl.String}), COUNTED_STAGES, set())
    assert summed.stages == [] and summed.audits == [] and summed.decontamination["status"] == "on"


def test_sampling_to_a_target_is_reported_for_the_published_batches() -> None:
    yields = [{"domain": "math", "samples": 40, "verified": 4, "samples_per_verified_row": 10.0}]
    frame = pl.concat(
        [
            stage_report(
                "cot_traces",
                {
                    "requests": 40,
                    "rows": 40,
                    "sampling": f"target met in {batch}",
                    "yield_per_domain": dg.MetadataValue.json(yields),
                },
            ).with_columns(pl.lit(batch).alias("batch"))
            for batch in ("a", "b", "c")
        ]
    )
    summed = published_reports(frame, COUNTED_STAGES, {"a", "b"})
    assert summed.sampling == [
        {"batch": "a", "sampling": "target met in a"},
        {"batch": "b", "sampling": "target met in b"},
    ]
    assert summed.yields == [{"domain": "math", "samples": 80, "verified": 8, "samples_per_verified_row": 10.0}]
