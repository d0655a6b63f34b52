"""The cluster profile on real parts: PostgreSQL from Debian's binaries, the queued run coordinator started by a real
``dagster-daemon``, the teacher as two replicas, and two batches at once through the whole graph to the publish."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.cluster import (
    LocalPostgres,
    LocalRay,
    cluster_env,
    instance_of,
    local_env,
    one_after_another,
    postgres_bin,
    through_the_queue,
)
from generators.teachers.embedded import free_port
from tests.sim_server import SimServer
from tests.test_fixed_seed_demo import teacher

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 2  # requests in flight per teacher server: the endpoint's limit
pytestmark = pytest.mark.slow
needs_postgres = pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL's binaries (Debian's postgresql)")


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


def dagster_env(data: Path, urls: list[str], limit: int = LIMIT) -> dict[str, str]:
    """The environment of the runs: the data folder, every step in the run's process, the teacher and the student
    both the simulated replicas at ``limit`` requests in flight each."""
    endpoint = {"BASE_URLS": ",".join(urls), "MODEL": "sim-teacher", "CHAT": "false", "MAX_CONCURRENCY": str(limit)}
    roles = {f"{role}_{k}": v for role in ("TEACHER", "STUDENT") for k, v in endpoint.items()}
    return {**os.environ, "FOUNDRY_DATA_DIR": str(data), "FOUNDRY_EXECUTOR": "in_process", **roles}


def failures(instance: dg.DagsterInstance) -> list[str]:
    """What each failed step or run said, for an assertion's message."""
    kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    return [
        f"{entry.step_key}: {entry.dagster_event.message if entry.dagster_event else entry.user_message}"[:3000]
        for run in instance.get_runs()
        for entry in instance.all_logs(run.run_id)
        if entry.dagster_event and entry.dagster_event.event_type in kinds
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [(None, "dagster.yaml keeps Dagster on PostgreSQL at $DAGSTER_PG_URL, which is not set"),
     ("postgresql+psycopg2://foundry:s3cret-pw@127.0.0.1:{port}/dagster",
      "the Dagster instance's PostgreSQL at 127.0.0.1:{port}/dagster ($DAGSTER_PG_URL) does not answer")],
)  # fmt: skip
def test_a_postgresql_that_is_not_there_is_named_in_one_line(tmp_path: Path, url: str | None, message: str) -> None:
    """The cluster profile without its database: one line naming the URL's host, port and database (never its
    password) or the unset variable, not a stack trace."""
    port = free_port()
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.cluster.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_PG_URL"} | {"DAGSTER_HOME": str(tmp_path)}
    if url:
        env["DAGSTER_PG_URL"] = url.format(port=port)
    done = subprocess.run([sys.executable, "-m", "assets.batches", "add", "b1"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr and "s3cret" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path}/" if not url else "error: the")
    assert message.format(port=port) in done.stderr


@needs_postgres
@pytest.mark.e2e
def test_two_batches_at_once_on_postgres_publish_what_one_machine_does_within_the_endpoint_limit(
    tmp_path: Path,
) -> None:
    seeds = tmp_path / "sums.jsonl"
    seeds.write_text("".join(json.dumps({"question": f"What is {i} + {2 * i + 1}?", "answer": f"#### {3 * i + 1}"})
                             + "\n" for i in range(1, 9)))  # fmt: skip
    config = json.dumps(batch_config(seeds))
    batches = ["east", "west"]
    with SimServer(teacher, latency_s=0.2) as one, SimServer(teacher, latency_s=0.2) as two, LocalPostgres() as pg:
        replicas = [one, two]
        urls = [server.base_url for server in replicas]
        # the cluster: both batches queued at once, dagster-daemon starting them
        env = cluster_env(tmp_path / "cluster", pg, dagster_env(tmp_path / "cluster-data", urls))
        records = through_the_queue(env, batches, config, tmp_path / "daemon.log", timeout_s=600, say=lambda _: None)
        with instance_of(env) as instance:
            assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2, failures(instance)
        starts, ends = sorted(r.start_time for r in records), sorted(r.end_time for r in records)
        assert starts[1] < ends[0], "the two runs did not run at once"
        in_flight = [server.log.max_in_flight for server in replicas]
        served = [server.log.requests for server in replicas]
        # one machine: the local profile, the same batches one after the other
        one_after_another(local_env(tmp_path / "local", dagster_env(tmp_path / "local-data", urls)), batches, config)
    assert all(0 < n <= LIMIT for n in in_flight), in_flight  # counted at the servers
    assert all(served), served  # both replicas served
    cluster_rows, local_rows = published_ids(tmp_path / "cluster-data"), published_ids(tmp_path / "local-data")
    assert cluster_rows == local_rows and cluster_rows["data/cot/math/level-1/train-00000-of-00001"]
    assert all(len(ids) == len(set(ids)) for ids in cluster_rows.values())


@pytest.mark.e2e
def test_a_batch_on_a_ray_cluster_runs_its_steps_on_both_nodes_and_publishes_what_one_machine_does(
    tmp_path: Path,
) -> None:
    """$FOUNDRY_EXECUTOR=ray: every step a Ray job (dagster-ray's executor) on a local cluster of a head and a second
    node, one CPU each. Both nodes ran steps (Ray's job table), the stages say their node in metadata, and the
    published ids are the ones the same batch gets with every step in one process."""
    seeds = tmp_path / "sums.jsonl"
    seeds.write_text("".join(json.dumps({"question": f"What is {i} + {2 * i + 1}?", "answer": f"#### {3 * i + 1}"})
                             + "\n" for i in range(1, 9)))  # fmt: skip
    config = json.dumps(batch_config(seeds))
    with SimServer(teacher, latency_s=0.05) as server:
        runs = {kind: local_env(tmp_path / kind, dagster_env(tmp_path / f"{kind}-data", [server.base_url]))
                for kind in ("ray", "in_process")}  # fmt: skip
        with LocalRay(runs["ray"]) as ray:
            env = {**runs["ray"], "FOUNDRY_EXECUTOR": "ray", "RAY_ADDRESS": ray.address}
            one_after_another(env, ["b1"], config)
            from ray.job_submission import JobSubmissionClient

            jobs = JobSubmissionClient(ray.address).list_jobs()
            ran_on = {job.driver_node_id for job in jobs if (job.submission_id or "").startswith("dagster-step-")}
        one_after_another(runs["in_process"], ["b1"], config)
    nodes = set()
    with instance_of(runs["ray"]) as instance:
        for record in instance.get_run_records():
            materialized = dg.DagsterEventType.ASSET_MATERIALIZATION
            for entry in instance.all_logs(record.dagster_run.run_id, of_type=materialized):
                node = entry.asset_materialization.metadata.get("ray_node") if entry.asset_materialization else None
                nodes |= {str(node.value)} if node else set()
    assert len(ran_on) == 2 and nodes and nodes <= ran_on, (ran_on, nodes)  # steps on both nodes, saying which
    assert published_ids(tmp_path / "ray-data") == published_ids(tmp_path / "in_process-data")
