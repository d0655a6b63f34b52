"""What the stages reported for the batches a revision publishes, summed for the card: rows and throughput per stage,
decontamination, the educational-value judge, the verifier audit and the chance gate's warnings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class PublishedReports:
    """The stage reports of the published batches, read for the card and the publishing notes."""

    stages: list[dict] = field(default_factory=list)  # stage, rows_in, rows_out: summed over the batches
    throughput: dict[str, float] = field(default_factory=dict)  # rows (requests) a second, over all the batches
    # status ("on" unless a batch says otherwise) and benchmarks (name: items) over all the batches
    decontamination: dict = field(default_factory=lambda: {"status": "on", "benchmarks": {}})
    judge: dict = field(default_factory=dict)  # min_edu_score and judge_model of the latest batch that says
    audits: list[dict] = field(default_factory=list)  # the verifier audit, one row a batch
    cannot_pass: list[str] = field(default_factory=list)  # the chance gate's warnings, each once
    sampling: list[dict] = field(default_factory=list)  # batch and summary, where a batch sampled to a target
    yields: list[dict] = field(default_factory=list)  # per domain: samples, verified rows, samples per verified row
    checks_versions: dict[str, str | None] = field(default_factory=dict)  # batch: the version of the checks it met


def _reports(frame: pl.DataFrame, stage: str) -> list[tuple[str, dict]]:
    """(batch, report) of one stage, oldest batch first."""
    rows = frame.filter(pl.col("stage") == stage).sort("batch")
    return [(row["batch"], json.loads(row["report"])) for row in rows.iter_rows(named=True)]


def finished_batches(graded: pl.DataFrame, frame: pl.DataFrame) -> set[str]:
    """The batches a revision publishes: those with graded rows, and those whose stages all reported (``frame``, the
    `stage_reports` of every batch) though no row passed: their rejections count on the card, their located errors
    go to `cot-steps`. A batch still running has neither and counts nowhere."""
    reported = set(frame["batch"].to_list()) if "stage" in frame.columns else set()
    return set(graded["batch"].to_list()) | reported


def published_reports(frame: pl.DataFrame, stages: tuple[str, ...], batches: set[str]) -> PublishedReports:
    """``frame`` (the `stage_reports` of every batch, with a ``batch`` column) read over ``batches`` alone, the
    ones the revision publishes: a batch that never reached publishing counts nowhere on the card."""
    if "stage" not in frame.columns:
        return PublishedReports()  # no batch has reported yet
    scoped = frame.filter(pl.col("batch").is_in(sorted(batches)))
    table: list[dict] = []
    throughput: dict[str, float] = {}
    for stage in stages:
        rows = scoped.filter(pl.col("stage") == stage)
        if not rows.height:
            continue
        rows_in, rows_out = rows["rows_in"].sum(), rows["rows_out"].sum()
        table.append({"stage": stage, "rows_in": rows_in, "rows_out": rows_out})
        timed = rows.filter(pl.col("seconds").is_not_null() & pl.col("rows_in").is_not_null())
        if timed.height and (seconds := timed["seconds"].sum()) > 0:
            throughput[stage] = round(float(timed["rows_in"].sum()) / float(seconds), 1)
    decontamination = PublishedReports().decontamination
    for _, report in _reports(scoped, "decontaminated"):
        if report.get("decontamination", "on") != "on":
            decontamination["status"] = report["decontamination"]
        decontamination["benchmarks"].update(report.get("benchmarks") or {})
    judge: dict = {}
    for _, report in _reports(scoped, "reasoning_filtered"):
        judge = {k: report[k] for k in ("min_edu_score", "judge_model") if k in report} or judge
    audits, cannot_pass = [], []
    checks_versions: dict[str, str | None] = {}
    for batch, report in _reports(scoped, "verified"):
        audits.append({"batch": batch, **(report.get("verifier_audit") or {})})
        checks_versions[batch] = report.get("checks_version")
        gate = (report.get("reasoning_checks") or {}).get("chance_gate") or {}
        cannot_pass += [line for line in gate.get("cannot_pass", []) if line not in cannot_pass]
    sampling: list[dict] = []
    by_domain: dict[str, list[int]] = {}
    for batch, report in _reports(scoped, "cot_traces"):
        if "sampling" in report:
            sampling.append({"batch": batch, "sampling": report["sampling"]})
        for row in report.get("yield_per_domain") or []:
            totals = by_domain.setdefault(row["domain"], [0, 0])
            totals[0], totals[1] = totals[0] + row["samples"], totals[1] + row["verified"]
    yields = [
        {"domain": d, "samples": s, "verified": v, "samples_per_verified_row": round(s / v, 1) if v else None}
        for d, (s, v) in sorted(by_domain.items())
    ]
    return PublishedReports(
        table, throughput, decontamination, judge, audits, cannot_pass, sampling, yields, checks_versions
    )
