"""Run config is validated as a whole, with ranges and names, before any model call."""

import inspect

import dagster as dg
import polars as pl
import pytest

import definitions
from assets.run_config import CONFIG_CLASSES, run_config_errors
from tests.graph import graph_resources


@pytest.mark.parametrize(
    ("op", "config", "named"),
    [
        ("cot_traces", {"samples_per_problem": 0}, "cot_traces.samples_per_problem"),
        ("synthetic_problems", {"count": -3}, "synthetic_problems.count"),
        ("published_dataset", {"eval_fraction": 1.5}, "published_dataset.eval_fraction"),
        ("verified", {"min_agreement": 1.5}, "verified.min_agreement"),
        ("evolved_problems", {"min_agreement": 0}, "evolved_problems.min_agreement"),
        ("difficulty_graded", {"level_mode": "bogus"}, "difficulty_graded.level_mode"),
        ("difficulty_graded", {"thresholds": [0.2, 0.4, 0.6, 0.8]}, "difficulty_graded.thresholds"),
        ("cot_traces", {"temperature": -1}, "cot_traces.temperature"),
        ("cot_traces", {"shots": "nearest"}, "cot_traces.shots"),
        ("reasoning_filtered", {"min_edu_score": 7}, "reasoning_filtered.min_edu_score"),
        ("decontaminated", {"fuzzy": 0.1}, "decontaminated.fuzzy"),
        ("seed_problems", {"limit_per_source": 0}, "seed_problems.limit_per_source"),
        ("published_dataset", {"name": "./../../x"}, "published_dataset.name"),
        ("published_dataset", {"name": "two\nlines"}, "published_dataset.name"),
        ("published_dataset", {"name": ""}, "published_dataset.name"),
        ("synthetic_problems", {"families": []}, "synthetic_problems.families"),
        ("synthetic_problems", {"families": ["arithmetic", "sudoku"]}, "synthetic_problems.families"),
        ("synthetic_problems", {"min_steps": 4, "max_steps": 2}, "synthetic_problems: Value error, min_steps 4"),
        ("synthetic_problems", {"count": 50_000_000}, "synthetic_problems.count"),
        ("reasoning_filtered", {"languages": ["klingon"]}, "reasoning_filtered.languages"),
    ],
)
def test_a_bad_value_is_named(op: str, config: dict, named: str) -> None:
    errors = run_config_errors({"ops": {op: {"config": config}}})
    assert len(errors) == 1 and errors[0].startswith(named), errors


def test_the_defaults_are_valid_and_every_configurable_asset_is_covered() -> None:
    assert run_config_errors({"ops": {name: {"config": {}} for name in CONFIG_CLASSES}}) == []
    configurable = {
        asset.op.name
        for asset in definitions.all_assets
        if "config" in inspect.signature(asset.op.compute_fn.decorated_fn).parameters
    }
    assert configurable <= set(CONFIG_CLASSES), configurable - set(CONFIG_CLASSES)


@pytest.mark.slow
def test_a_bad_value_fails_the_run_before_any_model_call(tmp_path) -> None:
    """The first model step rejects the whole run's config: no request reaches the teacher, whose port is closed
    (a request would fail with a connection error instead)."""
    from assets.resources import TeacherResource
    from generators.teachers.embedded import free_port

    teacher = TeacherResource(base_urls=[f"http://127.0.0.1:{free_port()}/v1"], model="m", data_dir=str(tmp_path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("batch", ["b1"])
        result = dg.materialize(
            [*definitions.all_assets],
            selection=dg.AssetSelection.assets(
                "synthetic_problems", "seed_problems", "evolved_problems", "evolved_problems_rejections",
                "cot_traces", "cot_traces_rejections", "cot_traces_report", "evolved_problems_report",
            ),
            resources=graph_resources(tmp_path, teacher),
            run_config={"ops": {"evolved_problems": {"config": {"count": 1}},
                                "cot_traces": {"config": {"samples_per_problem": 0}}}},
            instance=instance,
            partition_key="b1",
            raise_on_error=False,
        )  # fmt: skip
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert failure.step_key == "evolved_problems"
    message = str(failure.event_specific_data.error)
    assert "cot_traces.samples_per_problem" in message and "nothing was sent to a model" in message


def test_extra_students_on_the_embedded_server_are_refused_before_it_starts(tmp_path) -> None:
    """The embedded server answers to any model name: "extra students" there would be the same model fitted again."""
    from assets.batches import BATCHES
    from assets.resources import ParquetIOManager, TeacherResource

    student = TeacherResource(data_dir=str(tmp_path))  # the embedded default
    (tmp_path / "verified").mkdir()
    pl.DataFrame({"kind": ["cot"], "problem_id": ["p"], "problem": ["1 + 1?"], "answer": ["2"]}).write_parquet(
        tmp_path / "verified" / "b1.parquet"
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("batch", ["b1"])
        result = dg.materialize(
            [dg.AssetSpec("verified", partitions_def=BATCHES), definitions.grading.difficulty_graded],
            resources={"io_manager": ParquetIOManager(base_path=str(tmp_path)), "student": student},
            run_config={"ops": {"difficulty_graded": {"config": {"extra_student_models": ["qwen2.5-0.5b"]}}}},
            instance=instance,
            partition_key="b1",
            raise_on_error=False,
        )
    assert not result.success
    assert "the same model again" in str(result.get_step_failure_events()[0].event_specific_data.error)
    assert student.server_pid is None and not (tmp_path / "models").exists()  # the server never started


def test_a_key_is_never_config_only_the_name_of_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run config is stored with the run, so an endpoint takes no key there: a key in run config is refused before
    the run starts; the key comes from $<ROLE>_API_KEY or the variable ``api_key_env`` names."""
    from assets.resources import TeacherResource

    monkeypatch.setenv("TEACHER_API_KEY", "sk-default")
    monkeypatch.setenv("MY_TEACHER_KEY", "sk-mine")
    assert TeacherResource().api_key() == "sk-default"
    assert TeacherResource(api_key_env="MY_TEACHER_KEY").api_key() == "sk-mine"

    @dg.asset
    def uses_teacher(teacher: TeacherResource) -> None: ...

    with pytest.raises(dg.DagsterInvalidConfigError, match="api_key"):
        dg.materialize(
            [uses_teacher],
            resources={"teacher": TeacherResource()},
            run_config={"resources": {"teacher": {"config": {"api_key": "sk-in-plain-text"}}}},
        )
