"""The student loop on a real published revision, on CPU: the student group trains the shipped Gemma 3 270M with
LoRA on the revision's train split (its loss on those rows goes down), scores base and tuned with lm-eval, writes
"Student results" into the card and the changelog, and releases; a crafted regression fails the gate and holds the
release back."""

import json
from pathlib import Path

import dagster as dg
import datasets
import polars as pl
import pytest

from tests.graph import graph_resources
from tests.test_fixed_seed_demo import materialize_fixed_seed_batch

STUDENT_CONFIG = {
    "ops": {
        "student_sft": {"config": {"max_steps": 3, "batch_size": 2, "learning_rate": 1e-3, "max_length": 192}},
        "student_eval": {
            "config": {"eval_problems": 3, "benchmarks": ["gsm8k_test"], "benchmark_sample": 3, "max_new_tokens": 48}
        },
    }
}


def materialize_students(
    instance: dg.DagsterInstance, data_dir: Path, **settings: object
) -> dg.ExecuteInProcessResult:
    import definitions

    return dg.materialize(
        [*definitions.student_assets, *definitions.student_checks],
        resources=graph_resources(data_dir, **settings),
        run_config=STUDENT_CONFIG,
        instance=instance,
        raise_on_error=False,
    )


@pytest.mark.e2e
@pytest.mark.stack
def test_a_revision_trains_and_scores_a_student_and_a_regression_blocks_the_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with dg.instance_for_test() as instance:
        # an eval split to score on: 3 of the batch's 8 problem ids hash under 0.5 (none under the default 0.1)
        held_out = {"published_dataset": {"config": {"eval_fraction": 0.5}}}
        assert materialize_fixed_seed_batch(tmp_path, instance, held_out).success
        result = materialize_students(instance, tmp_path)
        assert result.success
        [training] = result.output_for_node("student_sft").to_dicts()
        scores = result.output_for_node("student_eval")
        [gate] = result.get_asset_check_evaluations()

        # a crafted regression: an earlier revision whose tuned student scored 1.0 under the same settings
        history_path = tmp_path / "students" / "history.jsonl"
        [entry] = [json.loads(line) for line in history_path.read_text().splitlines()]
        earlier = {**entry, "revision": "0000earlier", "tuned": {k: 1.0 for k in entry["tuned"]}}
        history_path.write_text(json.dumps(earlier) + "\n" + json.dumps(entry) + "\n")
        blocked = materialize_students(instance, tmp_path, student_gate="on", student_gate_margin=0.05)

    # training: the loss on the training rows went down, with the adapter saved
    assert training["steps"] == 3 and training["adapter"] and training["shipped_student"]
    assert training["train_loss_after"] < training["train_loss_before"]
    assert (Path(training["tuned_model"]) / "adapter_config.json").is_file()
    # scoring: base and tuned on the eval split (per level) and on the GSM8K sample, with intervals
    assert set(scores["eval_set"]) == {"eval_split", "gsm8k_test"}
    overall = scores.filter(pl.col("group") == "all")
    assert overall["n"].to_list()[1] == 3 and 1 <= overall["n"].to_list()[0] <= 3  # the eval split may hold fewer
    assert (overall["base_low"] <= overall["base_accuracy"]).all()
    assert (overall["tuned_accuracy"] <= overall["tuned_high"]).all()
    assert scores.filter(pl.col("group").str.starts_with("level=")).height >= 1
    # the gate is off for the shipped student by default, and says so; the revision is released
    assert gate.passed and "noise" in gate.metadata["gate"].value
    assert result.asset_materializations_for_node("released_dataset")
    # the card and the changelog of the revision carry the results, and the revision still loads
    published = tmp_path / "published" / "reasoning-foundry"
    card = (published / "README.md").read_text()
    assert "## Student results" in card and "| set | group | n | base | tuned | difference |" in card
    assert "train loss" in card
    assert "- student: eval_split" in (published / "CHANGELOG.md").read_text()
    assert datasets.load_dataset(str(published), "cot")["train"].num_rows > 0

    # the crafted regression: scores reused, the gate fails, nothing is released
    assert not blocked.success
    [failed] = blocked.get_asset_check_evaluations()
    assert not failed.passed
    assert "blocked: tuned" in failed.metadata["gate"].value and "0000earlier" in failed.metadata["gate"].value
    assert not blocked.asset_materializations_for_node("released_dataset")
