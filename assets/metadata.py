"""Metadata a person reads at a glance: counts, drop reasons and samples as markdown tables, charts as PNG."""

import base64
import contextlib
import functools
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl

from assets.batches import BATCHES
from assets.stages import GPU_REQUEST, MODEL_STEP, STAGES, TEACHER_POOL
from filters.contract import FilterResult
from filters.ray_workers import in_ray_job, init_ray
from filters.schemas import OPTIONAL_REJECTION_COLUMNS, REJECTION_SCHEMA, Schema
from filters.stream import Streamed
from generators.tasks.base import TaskOutput
from generators.teachers.backend import GenerationStats, check_failures

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def markdown_table(rows: Sequence[dict], max_cell: int = 160) -> str:
    """A markdown table of dict rows, cells cut to ``max_cell`` characters and escaped for pipes and newlines."""
    if not rows:
        return "_none_"
    columns = list(rows[0])

    def cell(value: object) -> str:
        text = str(value).replace("|", "\\|").replace("\n", " ⏎ ")
        return text if len(text) <= max_cell else text[: max_cell - 1] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _figure() -> "tuple[Figure, Axes]":
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt.subplots(figsize=(6, 3.2), dpi=80)


def _inline_png(title: str, figure: "Figure") -> str:
    """A matplotlib figure as an inline markdown image (the figure is closed)."""
    from matplotlib import pyplot as plt

    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png")
    plt.close(figure)
    return f"![{title}](data:image/png;base64,{base64.b64encode(png.getvalue()).decode()})"


def bar_chart(title: str, counts: Mapping[str, int | float], xlabel: str, ylabel: str) -> str:
    """A PNG bar chart as an inline markdown image, followed by the same numbers as a table with text bars."""
    figure, axes = _figure()
    axes.bar(list(counts), list(counts.values()), color="#4f46e5")
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if max((len(k) for k in counts), default=0) > 4:
        axes.tick_params(axis="x", labelrotation=60, labelsize=7)
    top = max(counts.values(), default=0) or 1
    rows = [{xlabel: k, ylabel: v, "": "█" * round(20 * v / top)} for k, v in counts.items()]
    return f"{_inline_png(title, figure)}\n\n{markdown_table(rows)}"


def line_chart(title: str, series: Mapping[str, Sequence[tuple[object, float]]], xlabel: str, ylabel: str) -> str:
    """A PNG chart of one line per series (points as (x, y)) as an inline markdown image."""
    figure, axes = _figure()
    for name, points in series.items():
        xs = [x if isinstance(x, int | float) else str(x) for x, _ in points]
        axes.plot(xs, [y for _, y in points], marker="o", markersize=3, label=name)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series) > 1:
        axes.legend(fontsize=7)
    if max((len(str(x)) for points in series.values() for x, _ in points), default=0) > 4:
        axes.tick_params(axis="x", labelrotation=60, labelsize=7)
    return _inline_png(title, figure)


def latest_metadata(instance: dg.DagsterInstance, asset: str) -> dict:
    """The metadata of an asset's latest materialization, as plain values (empty where it has none)."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    materialization = event.asset_materialization if event else None
    return {k: v.value for k, v in materialization.metadata.items()} if materialization else {}


def score_table(scores: Sequence[int | None]) -> str:
    """Passages per educational score 0-5 (and unscored) as a chart."""
    counts = {str(s): sum(1 for x in scores if x == s) for s in range(6)}
    counts["none"] = sum(1 for x in scores if x is None)
    return bar_chart("Educational score of the passages", counts, "score", "passages")


def samples(frame: pl.DataFrame | pl.LazyFrame, columns: Sequence[str], n: int = 3) -> dg.MetadataValue:
    present = [c for c in columns if c in frame.collect_schema().names()]
    return dg.MetadataValue.md(markdown_table(frame.lazy().select(present).head(n).collect().to_dicts()))


def counts_by(frame: pl.DataFrame, column: str) -> dg.MetadataValue:
    if frame.is_empty() or column not in frame.columns:
        return dg.MetadataValue.md("_none_")
    table = frame.group_by(column).len("rows").sort("rows", descending=True)
    return dg.MetadataValue.md(markdown_table(table.to_dicts()))


def reasons_table(result: FilterResult | Streamed) -> dg.MetadataValue:
    rows = [{"code": code, "rows": count} for code, count in result.reasons.items()]
    return dg.MetadataValue.md(markdown_table(rows))


def generation_metadata(stats: GenerationStats) -> dict[str, object]:
    return {**stats.as_metadata(), **({"first_errors": "\n".join(stats.errors)} if stats.errors else {})}


def rejections(
    dropped: pl.DataFrame | pl.LazyFrame, stage: str, text_column: str = "text"
) -> pl.DataFrame | pl.LazyFrame:
    """Dropped rows in the shape of the rejections table: stage, id, text, code, detail, and where the rows have them
    the problem (id and text), the domain, the step labels and who located the first bad step (the reasoning report
    and the `cot-steps` config read them); lazy where ``dropped`` is (a streamed stage's)."""
    schema: Schema = {"stage": pl.String, **REJECTION_SCHEMA, **OPTIONAL_REJECTION_COLUMNS}
    columns = dropped.collect_schema().names()
    if isinstance(dropped, pl.DataFrame) and dropped.is_empty():
        return pl.DataFrame(schema=schema)
    optional = [
        pl.col(c) if c in columns else pl.lit(None, dtype=dtype).alias(c)
        for c, dtype in OPTIONAL_REJECTION_COLUMNS.items()
    ]
    return dropped.select(
        pl.lit(stage).alias("stage"),
        pl.col("id"),
        pl.col(text_column).cast(pl.String).alias("text"),
        pl.col("code"),
        pl.col("detail"),
        *optional,
    ).cast(pl.Schema(schema))


REPORT_SCHEMA: Schema = {
    "stage": pl.String,
    "rows_in": pl.Int64,
    "rows_out": pl.Int64,
    "seconds": pl.Float64,
    "report": pl.String,
}
"""A stage's report for one batch: rows in and out, the seconds it took (where it says), and its metadata's plain
values as JSON (what the dataset card reads; tables and charts stay in the metadata)."""


def _plain(value: object) -> object:
    """A metadata value as plain JSON where it is data (numbers, text, JSON), None where it is a table or a chart."""
    if isinstance(value, dg.JsonMetadataValue):
        return value.data
    if isinstance(value, dg.MetadataValue):
        return None
    return value if isinstance(value, int | float | str | bool) else None


@functools.cache
def ray_node() -> dict[str, str]:
    """The Ray node a step runs on, for its metadata, where it runs as a Ray job (``$FOUNDRY_EXECUTOR=ray``)."""
    if not in_ray_job():
        return {}
    import ray

    init_ray(logging_level=logging.ERROR)  # the job's own cluster, from its environment
    return {"ray_node": ray.get_runtime_context().get_node_id()}


def stage_report(stage: str, metadata: Mapping[str, Any]) -> pl.DataFrame:
    """The one-row report a stage writes beside its rows, from the metadata it reports (a generation stage counts its
    requests in and its rows out, over its generation wall time)."""
    rows_in = metadata.get("rows_in", metadata.get("requests"))
    rows_out = metadata.get("rows_out", metadata.get("rows"))
    rate, wall = metadata.get("rows_per_s"), metadata.get("generation_wall_s")
    seconds = wall if wall is not None else (rows_in / rate if rows_in is not None and rate else None)
    plain = {key: value for key, raw in metadata.items() if (value := _plain(raw)) is not None}
    row = {"stage": stage, "rows_in": rows_in, "rows_out": rows_out, "seconds": seconds}
    return pl.DataFrame([{**row, "report": json.dumps(plain, sort_keys=True, default=str)}], schema=REPORT_SCHEMA)


def filter_outputs(
    stage: str,
    result: FilterResult | Streamed,
    started: float,
    sample_columns: Sequence[str],
    **extra: object,
) -> Iterator[dg.Output]:
    """The two outputs of a filtering stage: kept rows with their metadata, and its rejections (frames, or scans of
    a streamed stage's files, which the IO manager writes without collecting)."""
    elapsed = max(time.monotonic() - started, 1e-9)
    rows_in = result.kept_rows + result.dropped_rows
    metadata: dict[str, Any] = {
        "rows_in": rows_in,
        "rows_out": result.kept_rows,
        "rows_dropped": result.dropped_rows,
        "drop_reasons": reasons_table(result),
        "rows_per_s": round(rows_in / elapsed, 1),
        "samples": samples(result.kept, sample_columns),
        **extra,
        **ray_node(),
    }
    yield dg.Output(result.kept, output_name=stage, metadata=metadata)
    yield dg.Output(
        rejections(result.dropped, stage), output_name=f"{stage}_rejections", metadata={"rows": result.dropped_rows}
    )
    yield dg.Output(stage_report(stage, metadata), output_name=f"{stage}_report")


def generation_outputs(
    stage: str, output: TaskOutput, max_failure_fraction: float, **extra: object
) -> Iterator[dg.Output]:
    """The two outputs of a generation stage, after failing it where too many requests failed."""
    check_failures(output.stats, max_failure_fraction)
    metadata: dict[str, Any] = {"rows": output.rows.height, **extra, **generation_metadata(output.stats), **ray_node()}
    yield dg.Output(output.rows, output_name=stage, metadata=metadata)
    dropped = rejections(output.rejections, stage)
    yield dg.Output(dropped, output_name=f"{stage}_rejections", metadata={"rows": output.rejections.height})
    yield dg.Output(stage_report(stage, metadata), output_name=f"{stage}_report")


@contextlib.contextmanager
def scratch_folder(stage: str) -> Iterator[Path]:
    """A folder for a streamed stage's files, removed once its outputs are stored (the IO manager writes them from
    there while the stage yields). Its name carries the process id, so the folders of a process that was killed
    (``kill -9`` leaves them) are removed by the next stage that makes one."""
    for stale in Path(tempfile.gettempdir()).glob("foundry-scratch-*"):
        pid = stale.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"foundry-scratch-{os.getpid()}-{stage}-") as folder:
        yield Path(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def report_out(name: str) -> dg.AssetOut:
    """The output of a stage's per-batch report (``stage_report``), which publishing reads for the card."""
    return dg.AssetOut(description=f"What {name} reported for the batch: rows, time, settings.", group_name="reports")


def stage_asset(name: str) -> Callable[[Callable], dg.AssetsDefinition]:
    """The decorator of a per-batch stage of the stage table: its kept rows, its rejections and its report as three
    outputs, partitioned by batch, tagged as a model step where it calls a model."""
    stage = STAGES[name]
    outs = {
        name: dg.AssetOut(description=stage.description, group_name=stage.group, kinds={"polars"}),
        f"{name}_rejections": dg.AssetOut(
            description=f"Rows dropped by {name}, with the reason.", group_name="rejections"
        ),
        f"{name}_report": report_out(name),
    }
    return dg.multi_asset(
        outs=outs,
        partitions_def=BATCHES,
        op_tags={**MODEL_STEP, **GPU_REQUEST} if stage.model_step else None,
        pool=TEACHER_POOL if stage.model_step else None,
    )


def progress_logger(context: dg.AssetExecutionContext) -> Callable[[int, int, GenerationStats], None]:
    """A progress callback that writes a line to the run log."""

    def report(done: int, total: int, stats: GenerationStats) -> None:
        context.log.info(
            f"{done}/{total} requests done, {stats.cache_hits} from cache, {stats.failures} failed, "
            f"{stats.completion_tokens_per_s:.1f} completion tokens/s"
        )

    return report
