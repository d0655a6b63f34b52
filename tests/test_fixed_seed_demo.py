"""A fixed-seed run of the whole graph, against a deterministic simulated teacher, publishes exactly what it did
before: the problem ids, every published row and the card are compared with a stored golden copy. Restructuring the
code must not change them; a deliberate change of behaviour rewrites the copy with ``UPDATE_GOLDEN=1``."""

import hashlib
import json
import os
import random
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.data import write_sum_seeds
from tests.graph import graph_resources
from tests.sim_server import SimServer

GOLDEN = Path(__file__).parent / "golden" / "fixed_seed_demo.json"
SENTENCES = [
    "A ratio compares two quantities by division, so 6 to 3 is the same ratio as 2 to 1.",
    "To add fractions with different denominators, first rewrite them over a common denominator.",
    "The area of a rectangle is its length times its width, measured in square units.",
    "A prime number has exactly two divisors: one and itself.",
    "Percent means per hundred, so 25 percent of 80 is 25 times 80 divided by 100, which is 20.",
    "When a statement is true, its contrapositive is true as well, while its converse may not be.",
    "Averages summarize a list: add the values, then divide by how many there are.",
    "Each weekday follows the one before, so seven days after a Monday is again a Monday.",
    "Checking an answer by substituting it back is a habit that catches many slips.",
    "Multiplication distributes over addition: 3 times (4 + 5) equals 3 times 4 plus 3 times 5.",
]


def teacher(question: str) -> tuple[None, str]:
    """Deterministic replies: a judge's score, a correct worked sum, or a reply fixed by the prompt's hash."""
    digest = int(hashlib.sha256(question.encode()).hexdigest()[:8], 16)
    if "Educational score" in question or "educational" in question.lower():
        return None, f"Clear and on topic.\nEducational score: {3 + digest % 3}"
    if summands := re.fullmatch(r"What is (\d+) \+ (\d+)\?", question):
        a, b = int(summands[1]), int(summands[2])
        return None, f"Step 1: Add {a} and {b}: {a} + {b} = {a + b}.\nThe answer is \\boxed{{{a + b}}}."
    if "Question:" not in question and len(question) > 200:  # a textbook passage request
        rng = random.Random(digest)
        return None, " ".join(rng.sample(SENTENCES, 8))
    return None, f"Step 1: Read the question.\nStep 2: Work it out.\nThe answer is \\boxed{{{digest % 12}}}."


def materialize_fixed_seed_batch(
    tmp_path: Path,
    instance: dg.DagsterInstance,
    ops: dict | None = None,
    selection: dg.AssetSelection | None = None,
    **settings: object,
) -> dg.ExecuteInProcessResult:
    """Materialize every batch asset (or ``selection``) for one batch with fixed seeds, in ``tmp_path`` as the working
    folder (a seed row's source is its path as given), against the deterministic simulated teacher; ``ops`` adds run
    config, whatever the selection."""
    import definitions
    from assets.batches import add_batch
    from assets.resources import TeacherResource

    seeds = write_sum_seeds(tmp_path / "sums.jsonl")
    config = {
        "seed_problems": {"config": {"sources": [seeds.name], "limit_per_source": 8}},
        "synthetic_problems": {"config": {"count": 12, "seed": 7}},
        "evolved_problems": {"config": {"count": 2}},
        "textbook_topics": {"config": {"count": 3, "seed": 7}},
        "cot_traces": {"config": {"samples_per_problem": 2}},
        "difficulty_graded": {"config": {"samples": 2}},
    }
    everything = [*definitions.all_assets, *definitions.batch_checks]
    if selection is not None:  # the config of the selected steps alone
        selected = {
            key.path[-1] for key in selection.resolve([a for a in everything if isinstance(a, dg.AssetsDefinition)])
        }
        config = {op: value for op, value in config.items() if op in selected}
    config |= ops or {}
    with SimServer(teacher) as server:
        endpoint = TeacherResource(base_urls=[server.base_url], model="sim-teacher", chat=False, data_dir=".")
        add_batch(instance, "fixed")
        return dg.materialize(
            everything,
            resources=graph_resources(".", endpoint, **settings),
            run_config={"ops": config},
            instance=instance,
            partition_key="fixed",
            selection=selection,
            raise_on_error=False,
        )  # fmt: skip


SECRET = "sk-live-0123456789abcdef"  # the teacher's key, from the environment as users give it


def run_fixed_seed_demo(tmp_path: Path) -> dict:
    """The fixed-seed batch, published with the teacher's key in ``$TEACHER_API_KEY``; return what a user would get,
    having checked that the key is in nothing the run stored: the event log (metadata, run config) and every file."""
    with dg.instance_for_test() as instance:
        result = materialize_fixed_seed_batch(tmp_path, instance)
        logs = [entry for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]
        assert result.success and logs
        assert not [entry for entry in logs if SECRET in dg.serialize_value(entry)]
        assert not [run for run in instance.get_runs() if SECRET in dg.serialize_value(run)]
    assert not [path for path in tmp_path.rglob("*") if path.is_file() and SECRET.encode() in path.read_bytes()]
    assets = tmp_path / "assets"
    problem_ids = {
        name: pl.read_parquet(assets / name / "fixed.parquet")["problem_id"].to_list()
        for name in ("seed_problems", "synthetic_problems", "evolved_problems")
    }
    published = (tmp_path / "published" / "reasoning-foundry").resolve()
    rows = {}
    for shard in sorted(published.glob("data/**/*.parquet")):
        frame = pl.read_parquet(shard)
        rows[str(shard.relative_to(published))] = [
            json.dumps(r, sort_keys=True, default=str) for r in frame.iter_rows(named=True)
        ]
    return {
        "problem_ids": problem_ids,
        "rows": rows,
        "card": (published / "README.md").read_text(),
        "changelog": (published / "CHANGELOG.md").read_text(),
    }


@pytest.mark.e2e
def test_a_fixed_seed_run_publishes_what_it_did_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEACHER_API_KEY", SECRET)
    got = run_fixed_seed_demo(tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert sum(len(r) for r in got["rows"].values()) > 0, "the run published nothing: the comparison would be empty"
    for part in ("problem_ids", "rows", "card", "changelog"):
        assert got[part] == golden[part], part


@pytest.mark.e2e
def test_a_stage_that_drops_more_than_its_ceiling_stops_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixed-seed run drops 28 of 47 rows as duplicates (the simulated teacher repeats itself): under a 0.5
    ceiling the blocking check fails and nothing downstream of dedup runs, so nothing is published."""
    from assets.stages import DROP_RATE_CEILINGS

    monkeypatch.chdir(tmp_path)
    with dg.instance_for_test() as instance:
        result = materialize_fixed_seed_batch(
            tmp_path, instance, max_drop_rates={**DROP_RATE_CEILINGS, "deduplicated": 0.5}
        )
        [failed] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert not result.success
    assert failed.check_name == "deduplicated_drop_rate_under_ceiling"
    assert failed.metadata["drop_rate"].value == pytest.approx(28 / 47, abs=1e-4)
    assert not result.asset_materializations_for_node("decontaminated")
    assert not (tmp_path / "published").exists()


def published_ids(folder: Path) -> dict[str, list[str]]:
    """The ids of each published file of the current revision, by file name (its revision suffix cut)."""
    return {
        shard.name.rsplit("-", 1)[0]: sorted(pl.read_parquet(shard, columns=["id"])["id"])
        for shard in folder.resolve().glob("data/**/*.parquet")
    }


@pytest.mark.e2e
def test_a_batch_verified_by_other_checks_is_named_and_verified_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch verified by an earlier version of the reasoning checks (a deploy since) is named on the card; the
    ``reverify`` job judges its stored rows by the current checks and republishes, asking the teacher nothing new,
    however few rows remain: the floor on CoT rows guards new batches, and would hold rejected rows in place."""
    from assets.automation import reverify_job
    from assets.batches import REVERIFY_RUN_CONFIG, checked_by_other_checks

    monkeypatch.chdir(tmp_path)
    published = tmp_path / "published" / "reasoning-foundry"
    with dg.instance_for_test() as instance:
        with monkeypatch.context() as earlier:
            earlier.setattr("assets.grading.CHECKS_VERSION", "0ld0ld0ld0ld")
            assert materialize_fixed_seed_batch(tmp_path, instance).success
        assert checked_by_other_checks(instance) == ["fixed"]
        assert "batches fixed were verified by other reasoning checks" in (published / "README.md").read_text()
        rows = published_ids(published)
        floor = {"min_cot_rows": 10**6}  # far above the batch's rows, as a batch whose every row the checks now reject
        held = materialize_fixed_seed_batch(tmp_path, instance, selection=reverify_job.selection, **floor)
        assert not held.success  # without saying it judges again, the floor stops the publish
        rejudge = REVERIFY_RUN_CONFIG["ops"]
        again = materialize_fixed_seed_batch(tmp_path, instance, rejudge, reverify_job.selection, **floor)
        assert again.success and checked_by_other_checks(instance) == []
    assert "were verified by other reasoning checks" not in (published / "README.md").read_text()
    assert published_ids(published) == rows
    graded = again.asset_materializations_for_node("difficulty_graded")[0].metadata
    assert graded["requests"].value == graded["cache_hits"].value  # every answer from the teacher's cache


@pytest.mark.e2e
def test_reverify_on_the_command_line_judges_each_such_batch_then_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m assets.batches reverify`, the way without the daemon: each batch verified by other checks is judged
    again in a run of its own, then one publish; a second call finds nothing to do."""
    import subprocess
    import sys

    from assets.batches import checked_by_other_checks

    monkeypatch.chdir(tmp_path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance, monkeypatch.context() as earlier:
        earlier.setattr("assets.grading.CHECKS_VERSION", "0ld0ld0ld0ld")
        assert materialize_fixed_seed_batch(tmp_path, instance).success
    with SimServer(teacher) as server:
        endpoint = {"BASE_URLS": server.base_url, "MODEL": "sim-teacher", "CHAT": "false"}
        env = {**os.environ, "DAGSTER_HOME": str(home), "FOUNDRY_DATA_DIR": str(tmp_path),
               "FOUNDRY_MIN_COT_ROWS": "999",  # a floor the batch misses: judging again is not held by it
               **{f"{role}_{k}": v for role in ("TEACHER", "STUDENT") for k, v in endpoint.items()}}  # fmt: skip
        command = [sys.executable, "-m", "assets.batches", "reverify"]
        root = Path(__file__).resolve().parents[1]
        first = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=600)
        second = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "[1/1] batch fixed: verified by other reasoning checks" in first.stdout
    assert "publishing a revision with them" in first.stdout and "published_dataset: published" in first.stdout
    assert second.returncode == 0 and "nothing to do" in second.stdout
    with dg.DagsterInstance.get() as instance:
        assert checked_by_other_checks(instance) == []
    card = (tmp_path / "published" / "reasoning-foundry" / "README.md").read_text()
    assert "were verified by other reasoning checks" not in card
