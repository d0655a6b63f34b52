"""End-to-end: materialize the real graph against the embedded llama.cpp teacher, then load what it published."""

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
from assets.resources import HubResource, ParquetIOManager, StorageResource, TeacherResource
from filters.verify import verify
from generators.teacher import GenerationRequest, SamplingParams
from tests.conftest import GSM8K_TEST, GSM8K_TRAIN, MATH500

pytestmark = pytest.mark.e2e


def resources_for(data_dir: Path) -> dict:
    return {
        "io_manager": ParquetIOManager(base_path=str(data_dir / "assets")),
        "teacher": TeacherResource(data_dir=str(data_dir)),
        "student": TeacherResource(data_dir=str(data_dir)),
        "storage": StorageResource(data_dir=str(data_dir)),
        "hub": HubResource(),
    }


class ServerWatcher:
    """Collects the pids of llama_cpp.server processes that appear while a run is going on."""

    def __init__(self) -> None:
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    @staticmethod
    def running() -> set[int]:
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"llama_cpp.server" in cmdline and f"{os.getpid()}".encode() not in cmdline:
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


RUN_CONFIG = {
    "ops": {
        "seed_problems": {"config": {"sources": [str(GSM8K_TRAIN)], "limit_per_source": 2}},
        "synthetic_problems": {
            "config": {"count": 8, "seed": 3, "min_steps": 1, "max_steps": 1, "families": ["arithmetic", "syllogism"]}
        },
        "evolved_problems": {"config": {"count": 2, "solve_samples": 3, "max_tokens": 120}},
        "cot_traces": {"config": {"samples_per_problem": 3, "max_tokens": 160}},
        "textbook_topics": {"config": {"count": 2, "seed": 5}},
        "textbook_passages": {"config": {"max_tokens": 160}},
        "decontaminated": {"config": {"benchmarks": [str(GSM8K_TEST), str(MATH500)]}},
        "difficulty_graded": {"config": {"samples": 2, "max_tokens": 160}},
    }
}


# A second batch that repeats most of the first: the same synthetic seed with one problem more, the seed file's next
# one-row slice (row 2, which the first batch read), the same textbook topics (cached, identical passages).
SECOND_BATCH = {
    "ops": {
        **RUN_CONFIG["ops"],
        "seed_problems": {"config": {"sources": [str(GSM8K_TRAIN)], "limit_per_source": 1}},
        "synthetic_problems": {"config": {**RUN_CONFIG["ops"]["synthetic_problems"]["config"], "count": 9}},
        "evolved_problems": {"config": {"count": 0}},
    }
}


def materialize_batch(instance: dg.DagsterInstance, batch: str, data_dir: Path, run_config: dict):
    add_batch(instance, batch)
    return dg.materialize(
        [*definitions.all_assets, *definitions.defs.asset_checks],
        resources=resources_for(data_dir),
        run_config=run_config,
        instance=instance,
        partition_key=batch,
    )


def test_two_batches_publish_a_loadable_verified_dataset_deduplicated_across_batches(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        with ServerWatcher() as watcher:
            result = materialize_batch(instance, "b1", tmp_path, RUN_CONFIG)
        assert result.success
        check_first_batch(result, watcher, tmp_path)
        first = datasets.load_dataset(str(tmp_path / "published" / "reasoning-foundry"), "cot")
        first_ids = {i for split in first.values() for i in split["id"]}

        monkeypatch.setenv("FOUNDRY_MIN_COT_ROWS", "0")  # the second batch may verify nothing new
        second = materialize_batch(instance, "b2", tmp_path, SECOND_BATCH)
        published = datasets.load_dataset(str(tmp_path / "published" / "reasoning-foundry"), "cot")
        # a benchmark file appears that holds one published problem of b1: the redecontaminate job reruns b1
        leaked = first["train"]["problem"][0]
        new_benchmark = tmp_path / "leaked_bench.jsonl"
        new_benchmark.write_text(json.dumps({"question": leaked}) + "\n")
        benchmarks = [str(GSM8K_TEST), str(MATH500), str(new_benchmark)]
        third = dg.materialize(
            [*definitions.all_assets, *definitions.defs.asset_checks],
            selection=definitions.automation.redecontaminate_job.selection,
            resources=resources_for(tmp_path),
            run_config={"ops": {"decontaminated": {"config": {"benchmarks": benchmarks}},
                                "difficulty_graded": RUN_CONFIG["ops"]["difficulty_graded"]}},
            instance=instance,
            partition_key="b1",
        )  # fmt: skip
    assert third.success
    assert "deduplicated" not in {e.asset_key.path[-1] for e in third.get_asset_materialization_events()}
    removed = third.output_for_node("decontaminated", "decontaminated_rejections")
    assert "contaminated:leaked_bench:problem" in set(removed["reason"])
    republished = datasets.load_dataset(str(tmp_path / "published" / "reasoning-foundry"), "cot")
    assert leaked not in {p for split in republished.values() for p in split["problem"]}
    assert leaked not in set(third.output_for_node("difficulty_graded")["problem"])
    b2_graded = second.output_for_node("difficulty_graded").filter(pl.col("kind") == "cot").height
    assert ("b2" in {b for split in republished.values() for b in split["batch"]}) == (b2_graded > 0)
    assert second.success
    reason = dict(second.output_for_node("deduplicated", "deduplicated_rejections").select("id", "reason").iter_rows())
    first_problems = set(result.output_for_node("deduplicated", "deduplicated")["problem_id"].drop_nulls())
    traces = second.output_for_node("cot_traces", "cot_traces")
    repeated = traces.filter(traces["problem_id"].is_in(list(first_problems)))
    assert repeated["problem_id"].n_unique() >= 9  # 8 synthetic problems and the seed row the first batch had
    assert {reason.get(i) for i in repeated["id"]} == {"earlier_batch_exact_duplicate_problem"}
    passages = second.output_for_node("textbook_passages", "textbook_passages")
    assert {reason.get(i) for i in passages["id"]} == {"earlier_batch_exact_duplicate_text"}
    kept = second.output_for_node("deduplicated", "deduplicated")
    assert set(kept["problem_id"]) == set(traces["problem_id"]) - first_problems  # the one new problem is left
    assert kept.height >= 1
    metadata = second.asset_materializations_for_node("deduplicated")[0].metadata
    assert metadata["checked_against_batches"].value == ["b1"]

    ids = [i for split in published.values() for i in split["id"]]
    assert len(ids) == len(set(ids)) and first_ids <= set(ids)
    assert set(published["train"]["batch"]) <= {"b1", "b2"}
    assert "## Batches" in (tmp_path / "published" / "reasoning-foundry" / "README.md").read_text()
    published_metadata = second.asset_materializations_for_node("published_dataset")[0].metadata
    for chart in ("throughput", "rows_per_stage"):
        assert published_metadata[chart].value.startswith("![")  # a PNG chart above its table
    graded_metadata = result.asset_materializations_for_node("difficulty_graded")[0].metadata
    assert "data:image/png;base64," in graded_metadata["difficulty_histogram"].value


def check_first_batch(result: dg.ExecuteInProcessResult, watcher: "ServerWatcher", tmp_path: Path) -> None:
    assert watcher.pids, "the embedded server never started"
    assert not (watcher.pids & ServerWatcher.running()), "the embedded server outlived the run"

    graded = result.output_for_node("difficulty_graded")
    problems = graded.filter(graded["kind"] == "cot")["problem_id"].n_unique()
    assert problems >= 1, "the embedded teacher verified no trace at all"
    folder = tmp_path / "published" / "reasoning-foundry"
    cot = datasets.load_dataset(str(folder), "cot")
    assert set(cot) == ({"train", "eval"} if problems >= 2 else {"train"})
    assert sum(split.num_rows for split in cot.values()) == graded.filter(graded["kind"] == "cot").height
    for column in (
        "problem",
        "answer",
        "reasoning",
        "messages",
        "verified",
        "level",
        "teacher_model",
        "template_hash",
    ):
        assert column in cot["train"].column_names
    for split in cot.values():
        assert all(split["verified"])
        for row in split:
            assert verify(row["reasoning"], row["answer"]) is True
            assert row["level"] in range(1, 6)
    if "eval" in cot:
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
    assert rejected.height > 0 and rejected["reason"].null_count() == 0
    metadata = result.asset_materializations_for_node("cot_traces")[0].metadata
    evolved = result.output_for_node("evolved_problems", "evolved_problems")
    assert evolved.height + rejected.filter(rejected["stage"] == "evolved_problems").height == 2
    for spec in evolved["spec"]:
        assert json.loads(spec)["agreement"] >= 0.6
    assert metadata["requests"].value == (2 + 8 + evolved.height) * 3 and metadata["failures"].value == 0
    assert set(result.output_for_node("synthetic_problems")["domain"]) == {"math", "logic"}


@dg.asset
def generation_then_failure(teacher: TeacherResource) -> None:
    backend = teacher.backend()
    (result,), _ = backend.generate(
        [GenerationRequest(SamplingParams(max_tokens=4), prompt="Question: 1+1?\nAnswer:")]
    )
    assert result.error is None
    raise RuntimeError("a step failed after the teacher had started")


def test_teacher_server_is_stopped_when_the_run_fails(tmp_path: Path) -> None:
    with ServerWatcher() as watcher:
        result = dg.materialize([generation_then_failure], resources=resources_for(tmp_path), raise_on_error=False)
    assert not result.success
    assert watcher.pids, "the embedded server never started"
    assert not (watcher.pids & ServerWatcher.running()), "the embedded server outlived the failed run"
