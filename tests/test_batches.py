"""Batch keys, order and the command-line backfill (real runs through the Dagster CLI)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.batches import BATCHES, add_batch, batch_index, batch_key, batch_seed, check_key, earlier_batches

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("key", "ok"),
    [("2026-11-30-weekly", True), ("b1", True), ("seed-gsm8k_v2.1", True), ("", False), ("-x", False),
     ("a b", False), ("a/b", False), ("x" * 101, False)],
)  # fmt: skip
def test_batch_keys(key: str, ok: bool) -> None:
    if ok:
        assert check_key(key) == key
    else:
        with pytest.raises(ValueError, match="batch key"):
            check_key(key)


def test_batches_keep_their_order_and_seeds_differ() -> None:
    import datetime as dt

    assert batch_key(dt.datetime(2026, 11, 30, tzinfo=dt.UTC), "weekly") == "2026-11-30-weekly"
    assert len({batch_seed(f"b{i}") for i in range(100)}) == 100
    with dg.instance_for_test() as instance:
        for key in ("b2", "b1", "b3", "b1"):
            add_batch(instance, key)
        assert instance.get_dynamic_partitions(BATCHES.name) == ["b2", "b1", "b3"]
        assert earlier_batches(instance, "b3") == ["b2", "b1"] and earlier_batches(instance, "b2") == []
        assert batch_index(instance, "b1") == 1 and batch_index(instance, "new") == 3


def test_backfill_runs_each_batch_in_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "FOUNDRY_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "assets.batches", "backfill", "w1", "w2", "--select", "synthetic_problems"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[1/2] batch w1" in done.stdout and "[2/2] batch w2" in done.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions(BATCHES.name) == ["w1", "w2"]
        records = instance.fetch_materializations(dg.AssetKey("synthetic_problems"), limit=10).records
        assert sorted(r.partition_key for r in records) == ["w1", "w2"]
        seeds = {r.asset_materialization.metadata["seed"].value for r in records}
    assert seeds == {batch_seed("w1"), batch_seed("w2")}  # each batch drew its own problems
    stored = sorted(p.name for p in (tmp_path / "data" / "assets" / "synthetic_problems").iterdir())
    assert stored == ["w1.parquet", "w2.parquet"]


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("2026-12-05 07:00:00 +0000 - dagster - DEBUG - job - 3a2d - 1 - verified - STEP_START - Started",
         "verified: started"),
        ("2026-12-05 07:00:00 +0000 - dagster - INFO - job - 3a2d - cot_traces - 24/80 requests done, 0 from cache",
         "cot_traces: 24/80 requests done, 0 from cache"),
        ("2026-12-05 07:00:00 +0000 - dagster - DEBUG - job - 3a2d - 16635 - verified - STEP_OUTPUT - Yielded", None),
        ("Traceback (most recent call last):", None),
    ],
)  # fmt: skip
def test_the_run_shows_a_line_a_step(line: str, shown: str | None) -> None:
    from assets.batches import progress_line

    assert progress_line(line) == shown


def test_a_batch_explains_what_became_of_its_rows(tmp_path: Path) -> None:
    import polars as pl

    from assets.batches import explain
    from assets.metadata import stage_report

    for stage, (rows_in, rows_out, codes) in {
        "cot_traces": (80, 80, []),
        "verified": (80, 0, ["wrong_answer"] * 69 + ["false_calculation"] * 11),
    }.items():
        (tmp_path / "assets" / f"{stage}_report").mkdir(parents=True)
        stage_report(stage, {"rows_in": rows_in, "rows_out": rows_out}).write_parquet(
            tmp_path / "assets" / f"{stage}_report" / "b.parquet"
        )
        (tmp_path / "assets" / f"{stage}_rejections").mkdir(parents=True)
        pl.DataFrame({"code": codes}, schema={"code": pl.String}).write_parquet(
            tmp_path / "assets" / f"{stage}_rejections" / "b.parquet"
        )
    said = explain(tmp_path, "b", ("cot_traces", "verified", "difficulty_graded"))
    assert "cot_traces: 80 in, 80 out\n" in said
    assert "verified: 80 in, 0 out; dropped: wrong_answer 69, false_calculation 11" in said
    assert "difficulty_graded: did not run" in said


@pytest.mark.parametrize("key", ["../outside", "a/b", ".."])
def test_a_batch_key_from_the_ui_or_api_writes_nothing_outside_the_data_folder(tmp_path: Path, key: str) -> None:
    """The CLI validates keys; a key added another way reaches the IO manager, which refuses it before writing."""
    import polars as pl

    from assets.resources import ParquetIOManager

    @dg.asset(partitions_def=BATCHES)
    def rows() -> pl.DataFrame:
        return pl.DataFrame({"x": [1]})

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(BATCHES.name, [key])
        result = dg.materialize(
            [rows],
            resources={"io_manager": ParquetIOManager(base_path=str(tmp_path / "data" / "assets"))},
            instance=instance,
            partition_key=key,
            raise_on_error=False,
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert "batch key" in failure and "letters, digits" in failure
    assert [p for p in tmp_path.rglob("*.parquet*")] == []


@pytest.mark.slow
def test_processes_that_open_a_fresh_instance_at_once_leave_it_whole(tmp_path: Path) -> None:
    """Four `python -m assets.batches add` at once on a fresh $DAGSTER_HOME (two `make demo` at once): every one
    registers its batch and the instance opens afterwards (SQLite storage made by two processes at once was left
    with two schema heads, broken for good, in most tries)."""
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", home)
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        adds = [subprocess.Popen([sys.executable, "-m", "assets.batches", "add", f"k{i}"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for i in range(4)]  # fmt: skip
        outputs = [add.communicate(timeout=120)[0].decode() for add in adds]
        assert [add.returncode for add in adds] == [0] * 4, outputs
        listed = subprocess.run([sys.executable, "-m", "assets.batches", "list"], env=env, capture_output=True)
        assert sorted(listed.stdout.decode().split()) == ["k0", "k1", "k2", "k3"], listed.stderr.decode()
