"""Schedules, sensors and asset checks, evaluated directly on crafted inputs."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.automation import checks_changed, new_benchmark_file, new_seed_file, refresh_schedule
from assets.batches import BATCHES, REVERIFY_RUN_CONFIG, batch_seed, check_key
from assets.checks import (
    contamination_check,
    contamination_hits,
    deduplicated_ids_unique,
    drop_rate_checks,
    eval_train_overlap,
    graded_cot_rows_above_floor,
    graded_cot_rows_verified,
    partition_metadata,
)
from assets.settings import FoundrySettings
from filters.decontamination import load_benchmark, scan_fingerprint
from tests.data import GSM8K_TEST


@pytest.mark.slow
def test_weekly_refresh_adds_a_new_batch_partition_per_scheduled_day() -> None:
    weekly_refresh = refresh_schedule(FoundrySettings().refresh_cron)
    monday = dt.datetime(2026, 11, 30, 3, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        first = weekly_refresh(dg.build_schedule_context(instance=instance, scheduled_execution_time=monday))
        later = monday + dt.timedelta(days=7)
        second = weekly_refresh(dg.build_schedule_context(instance=instance, scheduled_execution_time=later))
        assert (first.run_key, first.partition_key) == ("refresh-2026-11-30-weekly", "2026-11-30-weekly")
        assert second.partition_key == "2026-12-07-weekly"
        assert instance.get_dynamic_partitions(BATCHES.name) == ["2026-11-30-weekly", "2026-12-07-weekly"]
        assert batch_seed(first.partition_key) != batch_seed(second.partition_key)  # new procedural problems
        again = weekly_refresh(dg.build_schedule_context(instance=instance, scheduled_execution_time=monday))
        assert again.run_key == first.run_key  # a re-evaluated tick is deduplicated by its run key
        assert len(instance.get_dynamic_partitions(BATCHES.name)) == 2
    assert weekly_refresh.cron_schedule == "0 3 * * 1"


def test_seed_sensor_requests_one_batch_per_new_file(tmp_path: Path) -> None:
    settings = FoundrySettings(seed_dir=str(tmp_path))
    (tmp_path / "a.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n')
    (tmp_path / "notes.txt").write_text("not a seed file")
    context = dg.build_sensor_context()
    result = new_seed_file(context, settings=settings)
    requests = result.run_requests
    assert [r.tags["seed_file"] for r in requests] == ["a.jsonl"]
    assert requests[0].run_config["ops"]["seed_problems"]["config"]["sources"] == [
        str((tmp_path / "a.jsonl").resolve())
    ]
    (added,) = result.dynamic_partitions_requests
    assert added.partition_keys == [requests[0].partition_key] and "-seed-a-" in requests[0].partition_key
    again = new_seed_file(dg.build_sensor_context(cursor=result.cursor), settings=settings)
    assert again.run_requests == [] and again.dynamic_partitions_requests == []
    (tmp_path / "b.csv").write_text("question,answer\nq,#### 2\n")
    third = new_seed_file(dg.build_sensor_context(cursor=again.cursor), settings=settings)
    assert [r.tags["seed_file"] for r in third.run_requests] == ["b.csv"]


def test_seed_files_whose_names_differ_in_punctuation_or_suffix_are_separate_batches(tmp_path: Path) -> None:
    """`a b.jsonl` and `a-b.jsonl`, `x.jsonl` and `x.csv`, dropped in the same second: four batches, each reading its
    own file (they shared a batch key, and one overwrote the other)."""
    names = ["a b.jsonl", "a-b.jsonl", "x.jsonl", "x.csv"]
    for name in names:
        body = "question,answer\nq,#### 2\n" if name.endswith(".csv") else '{"question": "q", "answer": "#### 1"}\n'
        (tmp_path / name).write_text(body)
        os.utime(tmp_path / name, (1_700_000_000, 1_700_000_000))
    result = new_seed_file(dg.build_sensor_context(), settings=FoundrySettings(seed_dir=str(tmp_path)))
    keys = {r.tags["seed_file"]: r.partition_key for r in result.run_requests}
    assert sorted(keys) == sorted(names) and len(set(keys.values())) == 4
    assert all(check_key(key) == key for key in keys.values())


def test_benchmark_sensor_redecontaminates_every_batch_against_all_benchmarks(tmp_path: Path) -> None:
    configured = tmp_path.parent / f"{tmp_path.name}-configured.jsonl"  # outside the watched folder
    configured.write_text('{"question": "q"}\n')
    settings = FoundrySettings(benchmark_dir=str(tmp_path), benchmarks=[str(configured)])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(BATCHES.name, ["b1", "b2"])
        (tmp_path / "old.jsonl").write_text('{"question": "q"}\n')
        context = dg.build_sensor_context(instance=instance)
        first = new_benchmark_file(context, settings=settings)
        assert len(first.run_requests) == 2
        (tmp_path / "new.jsonl").write_text('{"question": "r"}\n')
        later = dg.build_sensor_context(instance=instance, cursor=first.cursor)
        requests = new_benchmark_file(later, settings=settings).run_requests
    assert [r.partition_key for r in requests] == ["b1", "b2"]
    assert {r.tags["added_benchmarks"] for r in requests} == {"new.jsonl"}
    config = requests[0].run_config["ops"]["decontaminated"]["config"]
    # the sensor adds the watched files; the shipped and configured sets stay (decontaminated adds config's sets to
    # them), so a redecontamination never lets back in what an earlier run removed
    assert [os.path.basename(f) for f in config["benchmarks"]] == ["new.jsonl", "old.jsonl"]
    assert config.get("shipped", True) is True


def test_checks_changed_sensor_verifies_again_once_each_batch_verified_by_other_checks() -> None:
    from filters.verify import CHECKS_VERSION

    verified = {"old": {"checks_version": "0ld0ld0ld0ld"}, "now": {"checks_version": CHECKS_VERSION}, "unsaid": {}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(BATCHES.name, ["old", "now", "unsaid", "never_verified"])
        for batch, said in verified.items():
            instance.report_runless_asset_event(dg.AssetMaterialization("verified", partition=batch, metadata=said))
        requests = checks_changed(dg.build_sensor_context(instance=instance))
    assert [r.partition_key for r in requests] == ["old", "unsaid"]  # a batch verified before versions were recorded
    assert {r.run_key for r in requests} == {f"reverify-{CHECKS_VERSION}-old", f"reverify-{CHECKS_VERSION}-unsaid"}
    assert all(r.run_config == REVERIFY_RUN_CONFIG for r in requests)  # not held by the floor on CoT rows


def test_the_checks_version_covers_every_module_a_verdict_depends_on() -> None:
    from filters.verify import verdict_sources

    modules = set(verdict_sources("filters.verify", {}))
    assert {"filters.answers", "filters.families", "filters.steps.checks", "filters.steps.program"} <= modules
    assert not modules & {"filters.dedup", "filters.decontamination", "filters.edu"}  # no verdict there


@pytest.mark.parametrize(("ids", "passed"), [(["a", "b"], True), (["a", "a"], False)])
def test_unique_ids_check(ids: list[str], passed: bool) -> None:
    assert deduplicated_ids_unique(pl.LazyFrame({"id": ids})).passed is passed


def test_contamination_check_fails_on_a_benchmark_question() -> None:
    question = json.loads(GSM8K_TEST.read_text().splitlines()[5])["question"]
    gsm8k = {"gsm8k_test": load_benchmark(GSM8K_TEST)}
    clean = pl.DataFrame({"id": ["x"], "problem": ["What is 2 + 2?"], "text": ["4"]})
    assert contamination_hits(clean, gsm8k).passed
    dirty = pl.DataFrame(
        {"id": ["x", "y"], "problem": ["What is 2 + 2?", None], "text": ["4", f"Consider: {question}"]}
    )
    result = contamination_hits(dirty, gsm8k)
    assert not result.passed and result.metadata["first_hits"].value == "y"


@pytest.mark.parametrize(
    ("change", "scan", "passed"),
    [
        (None, "the stage's (same rows and sets)", True),
        ("a benchmark question written into the stored rows", "again", False),
        ("other settings", "again", True),
    ],
)
def test_the_contamination_check_takes_the_stages_scan_only_for_the_rows_it_scanned(
    change: str | None, scan: str, passed: bool
) -> None:
    gsm8k = {"gsm8k_test": load_benchmark(GSM8K_TEST)}
    frame = pl.DataFrame({"id": ["x", "y"], "problem": ["What is 2 + 2?", "What is 3 + 3?"], "text": ["4", "6"]})
    metadata = {
        "benchmark_files": {"gsm8k_test": str(GSM8K_TEST)}, "ngram": 10, "fuzzy": 0.9,
        "scan_fingerprint": scan_fingerprint(frame, gsm8k, 10, 0.9),
    }  # fmt: skip
    if change == "a benchmark question written into the stored rows":
        frame = frame.with_columns(pl.Series("text", ["4", gsm8k["gsm8k_test"][3]]))
    elif change == "other settings":
        metadata["ngram"] = 8
    result = contamination_check(metadata, frame)
    assert result.passed is passed and result.metadata["scan"].value == scan


def graded(verified: list[bool]) -> pl.DataFrame:
    return pl.DataFrame({"kind": ["cot"] * len(verified) + ["textbook"], "verified": [*verified, None]})


@pytest.mark.parametrize(("verified", "passed"), [([True, True], True), ([True, False], False)])
def test_every_cot_row_verified_check(verified: list[bool], passed: bool) -> None:
    assert graded_cot_rows_verified(graded(verified)).passed is passed


def test_row_count_floor_check() -> None:
    settings = FoundrySettings(min_cot_rows=3)
    assert not graded_cot_rows_above_floor(graded([True, True]), settings).passed
    assert graded_cot_rows_above_floor(graded([True, True, True]), settings).passed


@pytest.mark.parametrize(("kept", "dropped", "passed"), [(9, 1, True), (2, 8, False)])
def test_drop_rate_check(kept: int, dropped: int, passed: bool) -> None:
    check = next(c for c in drop_rate_checks if "decontaminated" in str(c.check_keys))
    frames = {"kept": pl.LazyFrame({"id": ["k"] * kept}), "dropped": pl.LazyFrame({"id": ["d"] * dropped})}
    result = check(**frames, settings=FoundrySettings())
    assert result.passed is passed


def test_eval_train_disjoint_check(tmp_path: Path) -> None:
    for split, problems in (("train", ["p1", "p2"]), ("eval", ["p3"])):
        folder = tmp_path / "data" / "cot" / "math" / "level-1"
        folder.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"problem_id": problems}).write_parquet(folder / f"{split}-00000-of-00001.parquet")
    assert eval_train_overlap(str(tmp_path)).passed
    pl.DataFrame({"problem_id": ["p2"]}).write_parquet(tmp_path / "data/cot/math/level-1/eval-00000-of-00001.parquet")
    assert not eval_train_overlap(str(tmp_path)).passed


def test_the_code_location_loads_with_every_job_schedule_and_sensor() -> None:
    import definitions

    dg.Definitions.validate_loadable(definitions.defs)
    repository = definitions.defs.get_repository_def()
    assert {job.name for job in repository.get_all_jobs()} >= {"refresh_dataset", "redecontaminate", "reverify"}
    assert dg.AssetKey("student_sft") not in repository.get_job("reverify").asset_layer.executable_asset_keys
    assert repository.get_job("redecontaminate").asset_layer.executable_asset_keys >= {
        dg.AssetKey("decontaminated"),
        dg.AssetKey("published_dataset"),
    }


@pytest.mark.parametrize(
    ("metadata", "passed"),
    [
        ({}, False),
        ({"benchmark_files": {}}, False),
        ({"benchmark_files": {}, "decontamination": "disabled by config"}, True),
        ({"benchmark_files": {"gsm8k_test": str(GSM8K_TEST)}}, True),
    ],
)
def test_the_contamination_check_fails_where_its_batch_recorded_no_benchmark(metadata: dict, passed: bool) -> None:
    frame = pl.DataFrame({"id": ["x"], "problem": ["What is 2 + 2?"], "text": ["4"]})
    assert contamination_check(metadata, frame).passed is passed


def test_a_check_reads_its_own_batchs_metadata() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(BATCHES.name, ["b1", "b2"])
        instance.report_runless_asset_event(
            dg.AssetMaterialization("decontaminated", partition="b1", metadata={"n": 1})
        )
        instance.report_runless_asset_event(
            dg.AssetMaterialization("decontaminated", partition="b2", metadata={"n": 2})
        )
        assert partition_metadata(instance, "decontaminated", "b1") == {"n": 1}
        assert partition_metadata(instance, "decontaminated", "b3") == {}


@pytest.mark.parametrize(("value", "executor"), [(None, "multiprocess"), ("in_process", "in_process")])
def test_the_executor_comes_from_the_environment(value: str | None, executor: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FOUNDRY_EXECUTOR"}
    env |= {"FOUNDRY_EXECUTOR": value} if value else {}
    code = "import definitions; print(definitions.defs.executor.name)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == executor


def test_a_bad_executor_is_named() -> None:
    with pytest.raises(ValueError, match="executor"):
        FoundrySettings.from_env({"FOUNDRY_EXECUTOR": "threads"})


@pytest.mark.parametrize("address", [None, "127.0.0.1:6379", "ray://head:10001"])
def test_the_ray_executor_needs_the_dashboards_url(address: str | None) -> None:
    """Steps go to Ray's job API, on its dashboard: a cluster address that is no URL (the GCS's, Ray Client's) is
    named when the code location loads, not found by the first step."""
    from assets.cluster import ray_steps

    with pytest.raises(ValueError, match=r"set \$RAY_ADDRESS to its dashboard's URL \(http://<head>:8265\)"):
        ray_steps({"RAY_ADDRESS": address} if address else {})


def test_a_step_on_ray_is_given_the_pipelines_settings_but_no_secret() -> None:
    """Ray keeps a job's environment in its job table (on its dashboard): keys, tokens and the database URL stay
    behind, each node has its own; the executor's choice stays behind too (a step would load it with Ray's address)."""
    from assets.cluster import forwarded_variables

    env = {"FOUNDRY_DATA_DIR": "/d", "TEACHER_BASE_URLS": "http://t/v1", "TEACHER_API_KEY": "sk-x", "HF_TOKEN": "hf_x",
           "DAGSTER_HOME": "/h", "DAGSTER_PG_URL": "postgresql://u:pw@h/db", "FOUNDRY_EXECUTOR": "ray",
           "HOME": "/root", "PATH": "/usr/bin"}  # fmt: skip
    forwarded = forwarded_variables(env)
    assert forwarded[:-1] == ["DAGSTER_HOME", "FOUNDRY_DATA_DIR", "TEACHER_BASE_URLS"]
    assert forwarded[-1] == f"PATH={Path(sys.executable).parent}:/usr/bin"


def test_a_url_as_the_data_folder_is_refused_not_made_a_folder() -> None:
    """$FOUNDRY_DATA_DIR=s3://... is named when the code location loads (it became a local folder named `s3:`)."""
    with pytest.raises(ValueError, match=r"FOUNDRY_DATA_DIR='s3://bucket/x' is a URL.*FOUNDRY_PUBLISH_URL"):
        FoundrySettings.from_env({"FOUNDRY_DATA_DIR": "s3://bucket/x"})
    env = {**os.environ, "FOUNDRY_DATA_DIR": "s3://bucket/x"}
    loaded = subprocess.run([sys.executable, "-c", "import definitions"], env=env, capture_output=True, text=True)
    assert loaded.returncode != 0 and "is a URL" in loaded.stderr
    assert not Path("s3:").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [("FOUNDRY_DATADIR", r"\$FOUNDRY_DATADIR is not a setting of the pipeline: did you mean \$FOUNDRY_DATA_DIR\?"),
     ("FOUNDRY_MAX_DROP_RATE_DEDUP", r"did you mean \$FOUNDRY_MAX_DROP_RATE_DEDUPLICATED\?"),
     ("FOUNDRY_COLOUR", r"\$FOUNDRY_COLOUR is not a setting of the pipeline \(\$FOUNDRY_DATA_DIR, _PUBLISH_URL")],
)  # fmt: skip
def test_a_misspelt_pipeline_variable_is_named(tmp_path: Path, name: str, message: str) -> None:
    """A $FOUNDRY_* variable nothing reads would be ignored without a word (the data written to the default folder
    instead of the one meant): it is named when the settings load, with the closest right one."""
    with pytest.raises(ValueError, match=message):
        FoundrySettings.from_env({"FOUNDRY_DATA_DIR": str(tmp_path), name: "x"})


def read_only_mount(folder: Path) -> list[str]:
    """A command prefix that runs a command with ``folder`` mounted read-only (root bypasses file modes, so a chmod
    makes no folder read-only for it); the test is skipped where mount namespaces are not allowed."""
    script = f'mount --bind "{folder}" "{folder}" && mount -o remount,ro,bind "{folder}" && exec "$@"'
    prefix = ["unshare", "-m", "sh", "-c", script, "sh"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespace here: a read-only folder cannot be made")
    return prefix


@pytest.mark.parametrize("where", ["under a file", "read-only mount"])
def test_a_data_folder_this_process_cannot_write_is_named_before_anything_runs(tmp_path: Path, where: str) -> None:
    """A data folder that cannot be written is one line naming it when the settings load (it was a stack trace from
    the first step that wrote, the log folder of `run`), and the batch sends no request."""
    if where == "under a file":
        (tmp_path / "a-file").write_text("")
        folder, prefix = tmp_path / "a-file" / "data", []
        with pytest.raises(ValueError, match=f"FOUNDRY_DATA_DIR {folder}: this process cannot write there"):
            FoundrySettings.from_env({"FOUNDRY_DATA_DIR": str(folder)})
    else:
        folder = tmp_path / "data"
        folder.mkdir()
        prefix = read_only_mount(folder)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "FOUNDRY_DATA_DIR": str(folder), "DAGSTER_HOME": str(home),
           "TEACHER_BASE_URLS": "http://127.0.0.1:9/v1", "TEACHER_MODEL": "m"}  # fmt: skip
    run = subprocess.run([*prefix, sys.executable, "-m", "assets.batches", "run", "b1"], env=env, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().startswith(f"error: $FOUNDRY_DATA_DIR {folder}: this process cannot write there (")


def test_a_refresh_without_the_student_extra_leaves_the_student_loop_out() -> None:
    """The default install has no torch: its scheduled refresh publishes and stops there, instead of ending FAILED at
    ``student_sft``; with the extra, the refresh trains and scores the student too."""
    import definitions
    from assets.automation import refresh_selection

    graph = definitions.defs.resolve_asset_graph()
    students = {key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "students"}
    without, with_students = refresh_selection(False).resolve(graph), refresh_selection(True).resolve(graph)
    assert students and not students & without and students <= with_students
    assert dg.AssetKey("published_dataset") in without


def test_a_drop_rate_ceiling_outside_zero_to_one_is_named() -> None:
    with pytest.raises(ValueError, match=r"FOUNDRY_MAX_DROP_RATE_DEDUPLICATED=5: a drop-rate ceiling is a share"):
        FoundrySettings.from_env({"FOUNDRY_MAX_DROP_RATE_DEDUPLICATED": "5"})


def test_a_benchmark_file_that_is_not_there_is_named_before_any_model_call(tmp_path: Path) -> None:
    """A missing $FOUNDRY_BENCHMARKS file fails when the settings load; one in run config, at the first model step
    (both were found only at decontamination, after all the teacher's requests)."""
    import assets.curation  # noqa: F401  (registers the decontaminated stage's config)
    from assets.run_config import run_config_errors

    gone = str(tmp_path / "gone.jsonl")
    with pytest.raises(ValueError, match=f"FOUNDRY_BENCHMARKS: benchmark files not found: {gone}"):
        FoundrySettings.from_env({"FOUNDRY_BENCHMARKS": gone})
    [error] = run_config_errors({"ops": {"decontaminated": {"config": {"benchmarks": [gone, "org/set@test"]}}}})
    assert error.startswith(f"decontaminated.benchmarks: Value error, benchmark files not found: {gone} (got")
