"""The cluster profile on real parts: PostgreSQL from Debian's binaries, the queued run coordinator started by a real
``dagster-daemon``, the teacher as two replicas, and two batches at once through the whole graph to the publish."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.postgres import LocalPostgres, postgres_bin
from tests.sim_server import SimServer
from tests.test_fixed_seed_demo import teacher

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LIMIT = 2  # requests in flight per teacher server: the endpoint's limit
pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL's binaries (Debian's postgresql-15)"),
]


def batch_config(seeds: Path) -> dict:
    return {"ops": {
        "seed_problems": {"config": {"sources": [str(seeds)], "limit_per_source": 4}},
        "synthetic_problems": {"config": {"count": 8}},
        "evolved_problems": {"config": {"count": 2}},
        "textbook_topics": {"config": {"count": 2, "seed": 7}},
        "cot_traces": {"config": {"samples_per_problem": 2}},
        "difficulty_graded": {"config": {"samples": 2}},
    }}  # fmt: skip


def published_ids(data: Path) -> dict[str, list[str]]:
    """The ids of every published file's rows, by the file's path in the revision (its revision suffix cut)."""
    revision = (data / "published" / "reasoning-foundry").resolve()
    return {
        str(path.relative_to(revision)).rsplit("-", 1)[0]: sorted(pl.read_parquet(path)["id"].to_list())
        for path in sorted(revision.rglob("*.parquet"))
    }


def dagster_env(home: Path, data: Path, urls: list[str], **extra: str) -> dict[str, str]:
    endpoint = {"BASE_URLS": ",".join(urls), "MODEL": "sim-teacher", "CHAT": "false", "MAX_CONCURRENCY": str(LIMIT)}
    roles = {f"{role}_{k}": v for role in ("TEACHER", "STUDENT") for k, v in endpoint.items()}
    return {**os.environ, "DAGSTER_HOME": str(home), "FOUNDRY_DATA_DIR": str(data), "FOUNDRY_EXECUTOR": "in_process",
            **roles, **extra}  # fmt: skip


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
    return done.stdout


def failures(instance: dg.DagsterInstance) -> list[str]:
    """What each failed step or run said, for an assertion's message."""
    kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    return [
        f"{entry.step_key}: {entry.dagster_event.message if entry.dagster_event else entry.user_message}"[:3000]
        for run in instance.get_runs()
        for entry in instance.all_logs(run.run_id)
        if entry.dagster_event and entry.dagster_event.event_type in kinds
    ]


def test_two_batches_at_once_on_postgres_publish_what_one_machine_does_within_the_endpoint_limit(
    tmp_path: Path,
) -> None:
    seeds = tmp_path / "sums.jsonl"
    seeds.write_text("".join(json.dumps({"question": f"What is {i} + {2 * i + 1}?", "answer": f"#### {3 * i + 1}"})
                             + "\n" for i in range(1, 9)))  # fmt: skip
    config = json.dumps(batch_config(seeds))
    config_file = tmp_path / "config.yaml"  # JSON is YAML
    config_file.write_text(config)
    batches = ["east", "west"]
    job = [str(BIN / "dagster"), "job", "launch", "-f", "definitions.py", "-j", "publish_batch"]
    job += ["--config-json", config]
    with SimServer(teacher, latency_s=0.2) as one, SimServer(teacher, latency_s=0.2) as two, LocalPostgres() as pg:
        replicas = [one, two]
        urls = [server.base_url for server in replicas]
        # the cluster: the queue, dagster-daemon starting the queued runs, both batches launched at once
        home, data = tmp_path / "cluster", tmp_path / "cluster-data"
        home.mkdir()
        (home / "dagster.yaml").write_text((ROOT / "dagster.cluster.yaml").read_text())
        env = dagster_env(home, data, urls, DAGSTER_PG_URL=pg.url)
        for batch in batches:
            cli(env, sys.executable, "-m", "assets.batches", "add", batch)
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-f", "definitions.py"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=(tmp_path / "daemon.log").open("w"))  # fmt: skip
        try:
            for batch in batches:
                cli(env, *job, "--tags", json.dumps({"dagster/partition": batch}))
            os.environ["DAGSTER_PG_URL"] = pg.url  # the instance reads it from the environment
            with dg.DagsterInstance.from_config(str(home)) as instance:
                deadline = time.monotonic() + 600
                while not all(run.is_finished for run in instance.get_runs()):
                    assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
                    time.sleep(1)
                runs = instance.get_runs()
                assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS] * 2, failures(instance)
                starts = sorted(instance.get_run_record_by_id(r.run_id).start_time for r in runs)
                ends = sorted(instance.get_run_record_by_id(r.run_id).end_time for r in runs)
                assert starts[1] < ends[0], "the two runs did not run at once"
        finally:
            os.environ.pop("DAGSTER_PG_URL", None)
            daemon.terminate()
            daemon.wait(30)
        in_flight = [server.log.max_in_flight for server in replicas]
        served = [server.log.requests for server in replicas]
        # one machine: the local profile, the same batches one after the other
        local_home, local_data = tmp_path / "local", tmp_path / "local-data"
        local_home.mkdir()
        (local_home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        local = dagster_env(local_home, local_data, urls)
        for batch in batches:
            cli(local, sys.executable, "-m", "assets.batches", "add", batch)
            cli(local, str(BIN / "dagster"), "job", "execute", "-f", "definitions.py", "-j", "publish_batch",
                "--config", str(config_file), "--tags", json.dumps({"dagster/partition": batch}))  # fmt: skip
    assert all(0 < n <= LIMIT for n in in_flight), in_flight  # counted at the servers
    assert all(served), served  # both replicas served
    cluster_rows, local_rows = published_ids(data), published_ids(local_data)
    assert cluster_rows == local_rows and cluster_rows["data/cot/math/level-1/train-00000-of-00001"]
    assert all(len(ids) == len(set(ids)) for ids in cluster_rows.values())
