"""End-to-end: materialize the real graph, then load what it published. The default checks and a failed run run
against the embedded llama.cpp teacher; batches, dedup across them and republishing against the simulated teacher of
the fixed-seed test (the embedded 270M model's answers would only make them slower and less certain)."""

import json
import os
import threading
import time
from pathlib import Path

import dagster as dg
import datasets
import polars as pl
import pytest

import definitions
from assets.batches import add_batch
from assets.resources import TeacherResource
from assets.stages import DROP_RATE_CEILINGS
from filters.contract import Drop
from filters.families import family_reasoning_error
from filters.steps import find_reasoning_error
from filters.verify import verify
from generators.teachers.backend import GenerationRequest, SamplingParams
from tests.data import GSM8K_TEST, MATH500, write_sum_seeds
from tests.graph import graph_resources, stored
from tests.sim_server import SimServer
from tests.test_fixed_seed_demo import teacher

pytestmark = pytest.mark.e2e


class ServerWatcher:
    """Collects the pids of the llama_cpp.server processes serving from ``folder`` (a test's own data folder: a test
    running beside it on another worker has its own) that appear while a run is going on."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder).encode()
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def running(self) -> set[int]:
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"llama_cpp.server" in cmdline and self.folder in cmdline:
                    found.add(int(entry))
        return found

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.pids |= self.running()
            time.sleep(0.2)

    def __enter__(self) -> "ServerWatcher":
        self._before = self.running()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.pids -= self._before


def run_config(seeds: Path) -> dict:
    """The first batch: two rows of ``seeds``, eight synthetic problems, two evolved ones, two textbook passages."""
    return {"ops": {
        "seed_problems": {"config": {"sources": [str(seeds)], "limit_per_source": 2}},
        "synthetic_problems": {
            "config": {"count": 8, "seed": 3, "min_steps": 1, "max_steps": 1, "families": ["arithmetic", "syllogism"]}
        },
        "evolved_problems": {"config": {"count": 2, "solve_samples": 3, "max_tokens": 120}},
        # one sample a problem: the simulated teacher says the same each time, and within a batch a repeated trace is
        # an exact duplicate before it is anything else
        "cot_traces": {"config": {"samples_per_problem": 1, "max_tokens": 160}},
        "textbook_topics": {"config": {"count": 2, "seed": 5}},
        "textbook_passages": {"config": {"max_tokens": 160}},
        "decontaminated": {"config": {"benchmarks": [str(GSM8K_TEST), str(MATH500)]}},
        "difficulty_graded": {"config": {"samples": 2, "max_tokens": 160}},
    }}  # fmt: skip


def restating_teacher(question: str) -> tuple[str | None, str]:
    """The fixed-seed test's simulated teacher, restating the questions it does not work out (as models do): its
    stock reply alone would make every such trace a near duplicate of the others."""
    thinking, solution = teacher(question)
    return thinking, solution.replace("Read the question.", f"Read the question: {question}", 1)


def second_batch(seeds: Path) -> dict:
    """A second batch that repeats most of the first: the same synthetic seed with one problem more, the seed file's
    next one-row slice (row 3: the first batch read rows 1-2), the same textbook topics (cached, identical
    passages)."""
    ops = run_config(seeds)["ops"]
    return {"ops": {
        **ops,
        "seed_problems": {"config": {"sources": [str(seeds)], "limit_per_source": 1}},
        "synthetic_problems": {"config": {**ops["synthetic_problems"]["config"], "count": 9}},
        "evolved_problems": {"config": {"count": 0}},
    }}  # fmt: skip


def materialize_batch(
    instance: dg.DagsterInstance,
    batch: str,
    data_dir: Path,
    run_config: dict,
    endpoint: TeacherResource | None = None,
    **settings: object,
) -> dg.ExecuteInProcessResult:
    add_batch(instance, batch)
    return dg.materialize(
        [*definitions.all_assets, *definitions.batch_checks],
        resources=graph_resources(data_dir, endpoint, **settings),
        run_config=run_config,
        instance=instance,
        partition_key=batch,
    )


def test_two_batches_publish_a_loadable_verified_dataset_deduplicated_across_batches(tmp_path: Path) -> None:
    (tmp_path / "dagster_home").mkdir()
    seeds = write_sum_seeds(tmp_path / "sums.jsonl")
    first_batch = run_config(seeds)
    home = str(tmp_path / "dagster_home")
    with SimServer(restating_teacher) as server, dg.instance_for_test(temp_dir=home) as instance:
        sim = TeacherResource(base_urls=[server.base_url], model=server.model, chat=False, data_dir=str(tmp_path))
        result = materialize_batch(instance, "b1", tmp_path, first_batch, sim)
        assert result.success
        check_first_batch(result, tmp_path)
        first = datasets.load_dataset(str(tmp_path / "published" / "reasoning-foundry"), "cot")
        first_ids = {i for split in first.values() for i in split["id"]}

        # the second batch repeats the first on purpose: its dedup drop rate is above the ceiling a real batch has
        repeats = {**DROP_RATE_CEILINGS, "deduplicated": 1.0}
        second = materialize_batch(instance, "b2", tmp_path, second_batch(seeds), sim, max_drop_rates=repeats)
        published = datasets.load_dataset(str(tmp_path / "published" / "reasoning-foundry"), "cot")
        # a benchmark file appears that holds one published problem of b1: the redecontaminate job reruns b1
        leaked = next(p for split in first.values() for p in split["problem"])
        new_benchmark = tmp_path / "leaked_bench.jsonl"
        new_benchmark.write_text(json.dumps({"question": leaked}) + "\n")
        benchmarks = [str(GSM8K_TEST), str(MATH500), str(new_benchmark)]
        third = dg.materialize(
            [*definitions.all_assets, *definitions.batch_checks],
            selection=definitions.automation.redecontaminate_job.selection,
            resources=graph_resources(tmp_path, sim),
            run_config={"ops": {"decontaminated": {"config": {"benchmarks": benchmarks}},
                                "difficulty_graded": first_batch["ops"]["difficulty_graded"]}},
            instance=instance,
            partition_key="b1",
        )  # fmt: skip
        assert third.success
        check_a_lost_batch_is_refused_and_a_removed_one_is_counted(instance, tmp_path, sim)
    assert "deduplicated" not in {e.asset_key.path[-1] for e in third.get_asset_materialization_events()}
    removed = stored(tmp_path, "decontaminated_rejections", "b1")
    assert ("contaminated", "leaked_bench") in set(removed.select("code", "detail").rows())
    republished = datasets.load_dataset(str(tmp_path / "published" / "reasoning-foundry"), "cot")
    assert leaked not in {p for split in republished.values() for p in split["problem"]}
    assert leaked not in set(third.output_for_node("difficulty_graded", "difficulty_graded")["problem"])
    b2_graded = second.output_for_node("difficulty_graded", "difficulty_graded").filter(pl.col("kind") == "cot").height
    assert b2_graded > 0  # the new sum, worked out: b2's rows stayed published when b1 was removed above
    assert "b2" in {b for split in republished.values() for b in split["batch"]}
    assert second.success
    reason = dict(stored(tmp_path, "deduplicated_rejections", "b2").select("id", "code").iter_rows())
    first_problems = set(stored(tmp_path, "deduplicated", "b1")["problem_id"].drop_nulls())
    traces = second.output_for_node("cot_traces", "cot_traces")
    repeated = traces.filter(traces["problem_id"].is_in(list(first_problems)))
    assert repeated["problem_id"].n_unique() == 8  # the 8 synthetic problems; the seed row is the file's next one
    assert {reason.get(i) for i in repeated["id"]} == {"earlier_batch_exact_duplicate_problem"}
    passages = second.output_for_node("textbook_passages", "textbook_passages")
    assert {reason.get(i) for i in passages["id"]} == {"earlier_batch_exact_duplicate_text"}
    kept = stored(tmp_path, "deduplicated", "b2")
    assert set(kept["problem_id"]) == set(traces["problem_id"]) - first_problems  # the one new problem is left
    assert kept.height >= 1
    metadata = second.asset_materializations_for_node("deduplicated")[0].metadata
    assert metadata["checked_against_batches"].value == ["b1"]

    ids = [i for split in published.values() for i in split["id"]]
    assert len(ids) == len(set(ids)) and first_ids <= set(ids)
    assert {b for split in published.values() for b in split["batch"]} <= {"b1", "b2"}
    assert "## Batches" in (tmp_path / "published" / "reasoning-foundry" / "README.md").read_text()
    published_metadata = second.asset_materializations_for_node("published_dataset")[0].metadata
    for chart in ("throughput", "rows_per_stage"):
        assert published_metadata[chart].value.startswith("![")  # a PNG chart above its table
    graded_metadata = result.asset_materializations_for_node("difficulty_graded")[0].metadata
    assert "data:image/png;base64," in graded_metadata["difficulty_histogram"].value


def publish_only(instance: dg.DagsterInstance, data_dir: Path, endpoint: TeacherResource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*definitions.all_assets, *definitions.batch_checks],
        selection=dg.AssetSelection.assets("published_dataset"),
        resources=graph_resources(data_dir, endpoint),
        instance=instance,
        raise_on_error=False,
    )


def check_a_lost_batch_is_refused_and_a_removed_one_is_counted(
    instance: dg.DagsterInstance, data_dir: Path, endpoint: TeacherResource
) -> None:
    """A batch's stored rows gone: the publish fails and the published revision stays; the batch removed explicitly:
    the next revision leaves its rows out and the changelog counts them."""
    folder = data_dir / "published" / "reasoning-foundry"
    before = folder.resolve()
    stored = data_dir / "assets" / "difficulty_graded" / "b1.parquet"
    stored.rename(stored.with_suffix(".moved"))
    lost = publish_only(instance, data_dir, endpoint)
    assert not lost.success and folder.resolve() == before
    message = str(lost.get_step_failure_events()[0].event_specific_data.error)
    assert "b1" in message and str(stored) in message and "assets.batches remove" in message
    stored.with_suffix(".moved").rename(stored)
    shards = pl.concat([pl.read_parquet(f, columns=["id", "batch"]) for f in folder.glob("data/**/*.parquet")])
    b1_rows = shards.filter(pl.col("batch") == "b1")["id"].n_unique()
    instance.delete_dynamic_partition("batch", "b1")  # what `python -m assets.batches remove b1` does
    removed = publish_only(instance, data_dir, endpoint)
    assert removed.success
    if shards.filter(pl.col("batch") != "b1").height:  # rows of b2 remain: a smaller revision, the removal counted
        left = {b for f in folder.glob("data/**/*.parquet") for b in pl.read_parquet(f, columns=["batch"])["batch"]}
        assert "b1" not in left
        assert f"-{b1_rows} removed" in (folder / "CHANGELOG.md").read_text().split("## ")[1]
    else:  # nothing would remain: no empty revision is published, the previous one stays
        assert folder.resolve() == before
    add_batch(instance, "b1")
    assert publish_only(instance, data_dir, endpoint).success  # back again, rows and all


def check_first_batch(result: dg.ExecuteInProcessResult, tmp_path: Path) -> None:
    from generators.publishing.rows import in_eval

    graded = result.output_for_node("difficulty_graded", "difficulty_graded")
    problems = graded.filter(graded["kind"] == "cot")["problem_id"].unique().to_list()
    assert problems, "the teacher verified no trace at all"
    folder = tmp_path / "published" / "reasoning-foundry"
    cot = datasets.load_dataset(str(folder), "cot")
    held_out = {p for p in problems if in_eval(p, 0.1)}  # the split is the problem id's, at the default fraction
    splits = {name for name, present in (("train", set(problems) - held_out), ("eval", held_out)) if present}
    assert set(cot) == splits
    assert set(cot["eval"]["problem_id"] if held_out else []) == held_out
    assert sum(split.num_rows for split in cot.values()) == graded.filter(graded["kind"] == "cot").height
    columns = ("problem", "answer", "reasoning", "messages", "verified", "level", "teacher_model", "template_hash")
    for split in cot.values():
        assert set(columns) <= set(split.column_names)
        assert all(split["verified"])
        for row in split:
            assert verify(row["reasoning"], row["answer"]) is True
            assert row["level"] in range(1, 6)
    if len(cot) == 2:
        assert not set(cot["train"]["problem_id"]) & set(cot["eval"]["problem_id"])
    textbook = datasets.load_dataset(str(folder), "textbook")
    assert textbook["train"].num_rows >= 1
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card and "Dropped rows per stage" in card
    assert "majority_vote_agrees_with_gold" in card
    stage_rows = card.split("## Rows per stage")[1].split("##")[0]
    for stage in (
        "cot_traces",
        "deduplicated",
        "decontaminated",
        "reasoning_filtered",
        "verified",
        "difficulty_graded",
    ):
        assert f"| {stage} |" in stage_rows

    rejected = result.output_for_node("rejections")
    assert rejected.height > 0 and rejected["code"].null_count() == 0
    metadata = result.asset_materializations_for_node("cot_traces")[0].metadata
    evolved = result.output_for_node("evolved_problems", "evolved_problems")
    assert evolved.height + rejected.filter(rejected["stage"] == "evolved_problems").height == 2
    for spec in evolved["spec"]:
        assert json.loads(spec)["agreement"] >= 0.6
    assert metadata["requests"].value == (2 + 8 + evolved.height) and metadata["failures"].value == 0
    assert set(result.output_for_node("synthetic_problems")["domain"]) == {"math", "logic"}


def test_default_checks_publish_only_reasoning_that_holds(tmp_path: Path) -> None:
    """The reasoning checks on (the defaults) against the embedded teacher: whatever it gets right by luck stays out,
    every published trace passes the checks, and the rejected ones are published as labelled steps."""
    run_config = {
        "ops": {
            "synthetic_problems": {"config": {"count": 8, "seed": 4, "min_steps": 1, "max_steps": 1,
                                              "families": ["arithmetic", "arithmetic", "arithmetic", "calendar"]}},
            "seed_problems": {"config": {"sources": []}},
            "evolved_problems": {"config": {"count": 0}},
            "cot_traces": {"config": {"samples_per_problem": 4, "max_tokens": 160, "shots": "siblings"}},
            "textbook_topics": {"config": {"count": 1, "seed": 5}},
            "textbook_passages": {"config": {"max_tokens": 160}},
            "difficulty_graded": {"config": {"samples": 2, "max_tokens": 160}},
        }
    }  # fmt: skip
    (tmp_path / "dagster_home").mkdir()
    # the 270M base teacher may reason soundly nowhere
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance, ServerWatcher(tmp_path) as watcher:
        result = materialize_batch(instance, "b1", tmp_path, run_config, min_cot_rows=0)
    assert result.success
    assert watcher.pids, "the embedded server never started"
    assert not (watcher.pids & watcher.running()), "the embedded server outlived the run"
    traces = result.output_for_node("cot_traces", "cot_traces")
    # what the family checks and the chance gate key on: the calendar family, and arithmetic's story templates
    assert "calendar" in set(traces["problem_template"]) and traces["problem_template"].null_count() == 0
    # the story problems were shown others of their kind, the calendar items their domain's examples
    shown = dict(traces.select("problem_template", "template").unique().iter_rows())
    assert shown.pop("calendar") == "cot_fewshot_choice" and set(shown.values()) == {"cot_fewshot_siblings"}
    verified = stored(tmp_path, "verified", "b1")
    rejected = stored(tmp_path, "verified_rejections", "b1")
    report = result.asset_materializations_for_node("verified")[0].metadata["reasoning_checks"].value
    right = (
        verified.filter(pl.col("kind") == "cot").height
        + rejected.filter(~pl.col("code").is_in(["wrong_answer", "gold_unparseable"])).height
    )
    assert report["right_answer_rows"] == right
    for row in verified.filter(pl.col("kind") == "cot").iter_rows(named=True):
        assert find_reasoning_error(row["problem"], row["text"]) is None
        assert family_reasoning_error(row["problem_template"], json.loads(row["spec"]), row["text"]) is None
        assert "derived" in row["reasoning_checks"]
    for row in rejected.filter(pl.col("code").is_in(["false_calculation", "answer_not_derived"])).iter_rows(
        named=True
    ):
        assert find_reasoning_error(row["problem"], row["text"]) == str(Drop(row["code"], row["detail"]))
    passages = stored(tmp_path, "reasoning_filtered", "b1").filter(pl.col("kind") == "textbook")
    assert all(score >= 3 for score in passages["edu_score"])
    published = result.asset_materializations_for_node("published_dataset")[0].metadata
    folder = tmp_path / "published" / "reasoning-foundry"
    if published["new_revision"].value:
        card = (folder / "README.md").read_text()
        assert "## Reasoning checks" in card and "| domain | level | right_answer |" in card
        if "cot-steps" in published["configs"].value:
            steps = datasets.load_dataset(str(folder), "cot-steps", split="train")
            assert all(label is False for row in steps for label in [row["step_labels"][row["first_bad_step"]]])
    else:
        assert "no CoT trace is published" in published["notes"].value


@dg.asset
def generation_then_failure(teacher: TeacherResource) -> None:
    backend = teacher.backend()
    (result,), _ = backend.generate(
        [GenerationRequest(SamplingParams(max_tokens=4), prompt="Question: 1+1?\nAnswer:")]
    )
    assert result.error is None
    raise RuntimeError("a step failed after the teacher had started")


def test_teacher_server_is_stopped_when_the_run_fails(tmp_path: Path) -> None:
    with ServerWatcher(tmp_path) as watcher:
        result = dg.materialize([generation_then_failure], resources=graph_resources(tmp_path), raise_on_error=False)
    assert not result.success
    assert watcher.pids, "the embedded server never started"
    assert not (watcher.pids & watcher.running()), "the embedded server outlived the failed run"
