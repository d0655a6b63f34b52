"""The cluster profile on real parts: PostgreSQL from Debian's binaries, the queued run coordinator started by a real
``dagster-daemon``, a Ray cluster of two nodes running every step, the embedded teacher as two replicas, and two
batches at once through the whole graph to the publish."""

import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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
from generators.teachers.embedded import EMBEDDED_MODEL, EmbeddedServer, free_port
from tests.data import write_sum_seeds
from tests.fault_proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 2  # requests in flight per teacher server: the endpoint's limit
pytestmark = pytest.mark.slow
needs_postgres = pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL's binaries (Debian's postgresql)")


def batch_config(seeds: Path) -> dict:
    return {"ops": {
        "seed_problems": {"config": {"sources": [str(seeds)], "limit_per_source": 3}},
        "synthetic_problems": {"config": {"count": 3, "min_steps": 1, "max_steps": 1, "families": ["arithmetic"]}},
        "evolved_problems": {"config": {"count": 1}},
        "textbook_topics": {"config": {"count": 1, "seed": 7}},
        "cot_traces": {"config": {"samples_per_problem": 2}},
        "difficulty_graded": {"config": {"samples": 2}},
        # the 270M base model's reasoning rarely passes the reasoning checks (test_pipeline_e2e runs them): here rows
        # are verified on their answers and passages kept whatever the judge says, so both batches publish
        "verified": {"config": {"process_checks": False, "family_checks": False, "chance_alpha": None}},
        "reasoning_filtered": {"config": {"min_edu_score": 0}},
    }}  # fmt: skip


@contextlib.contextmanager
def embedded_replicas(root: Path, count: int) -> Iterator[list[FaultProxy]]:
    """``count`` embedded llama.cpp servers of the shipped model, a thread each, each behind a proxy that counts what
    it is asked and how many requests it holds at once (the server's own view of the endpoint's limit)."""
    with contextlib.ExitStack() as stack:
        proxies = []
        for _ in range(count):
            server = EmbeddedServer(root / "models", root / "logs", n_threads=1)
            server.start()
            stack.callback(server.stop)
            proxies.append(stack.enter_context(FaultProxy(server.base_url)))
        yield proxies


def published_ids(data: Path) -> dict[str, list[str]]:
    """The ids of every published file's rows, by the file's path in the revision (its revision suffix cut)."""
    revision = (data / "published" / "reasoning-foundry").resolve()
    return {
        str(path.relative_to(revision)).rsplit("-", 1)[0]: sorted(pl.read_parquet(path)["id"].to_list())
        for path in sorted(revision.rglob("*.parquet"))
    }


def dagster_env(data: Path, urls: list[str], limit: int = LIMIT) -> dict[str, str]:
    """The environment of the runs: the data folder, every step in the run's process, the teacher and the student
    both the replicas at ``limit`` requests in flight each, with the embedded model's small token budget."""
    endpoint = {"BASE_URLS": ",".join(urls), "MODEL": EMBEDDED_MODEL, "CHAT": "false", "MAX_CONCURRENCY": str(limit),
                "MAX_TOKENS": "96"}  # fmt: skip
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


MODEL_STEPS = {"evolved_problems", "cot_traces", "textbook_passages", "reasoning_filtered", "verified",
               "difficulty_graded"}  # fmt: skip


def kill_mid_step(step: str, served: Callable[[], int], answered: int, stop: threading.Event) -> list[int]:
    """Watch for the processes of ``step`` (a Ray job's entrypoint, its shell and its ``dagster api execute_step``,
    say their step in $DAGSTER_RUN_STEP_KEY) and kill them with SIGKILL once the servers have been asked ``answered``
    requests (``served()``) since the step started; the pids killed."""
    import psutil

    killed: list[int] = []

    def watch() -> None:
        start = None
        while not stop.is_set() and not killed:
            asked = served()
            for process in psutil.process_iter(["cmdline"]):
                with contextlib.suppress(psutil.Error):
                    command = " ".join(process.info["cmdline"] or [])
                    if "execute_step" in command and process.environ().get("DAGSTER_RUN_STEP_KEY") == step:
                        start = asked if start is None else start
                        if asked - start >= answered:
                            process.kill()
                            killed.append(process.pid)
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    return killed


@needs_postgres
@pytest.mark.e2e
@pytest.mark.stack
def test_two_batches_at_once_on_postgres_and_ray_publish_what_one_machine_does_within_the_endpoint_limit(
    tmp_path: Path,
) -> None:
    """The whole cluster stack on real parts: PostgreSQL from Debian's binaries, both batches queued at once and
    started by a real ``dagster-daemon``, every step a Ray job (dagster-ray's executor) on a head and a second node
    (one CPU each, the second declaring a GPU), the embedded teacher as two replicas. Model steps ask for a GPU
    ($FOUNDRY_RAY_MODEL_GPUS=1), so all of them run on the second node; the rest run on both. One batch's cot_traces
    step is killed (SIGKILL) mid-step: its job fails its health check and a second job runs it, paying only for the
    requests whose answers were not yet stored (the teacher's cache). The same batches then run one after the other
    on one machine (the local profile) from the cluster's stored answers: they ask the teacher nothing (every answer
    the cluster got was kept) and publish the same ids."""
    from ray.job_submission import JobStatus, JobSubmissionClient
    from ray.util.state import list_nodes

    seeds = write_sum_seeds(tmp_path / "sums.jsonl")
    config = json.dumps(batch_config(seeds))
    batches = ["east", "west"]
    with embedded_replicas(tmp_path / "teacher", 2) as replicas, LocalPostgres() as pg:
        urls = [proxy.base_url for proxy in replicas]

        def asked() -> int:
            return sum(len(proxy.log.received) for proxy in replicas)

        env = cluster_env(tmp_path / "cluster", pg, dagster_env(tmp_path / "cluster-data", urls))
        env |= {"FOUNDRY_RAY_MODEL_GPUS": "1", "FOUNDRY_RAY_STEP_MEMORY_GB": "0.2"}
        stop = threading.Event()
        with LocalRay(env, gpus=1) as ray:  # the nodes' own environment holds $DAGSTER_PG_URL (never sent to Ray)
            killed = kill_mid_step("cot_traces", asked, answered=4, stop=stop)
            launch = {**env, "FOUNDRY_EXECUTOR": "ray", "RAY_ADDRESS": ray.address}
            records = through_the_queue(launch, batches, config, tmp_path / "daemon.log", timeout_s=900,
                                        say=lambda _: None)  # fmt: skip
            stop.set()
            jobs = sorted((j for j in JobSubmissionClient(ray.address).list_jobs() if j.metadata.get("dagster/op")),
                          key=lambda job: job.start_time or 0)  # fmt: skip
            gpu_nodes = {n.node_id for n in list_nodes(address=ray.address) if n.resources_total.get("GPU")}
        nodes, dedup_on = set(), set()
        with instance_of(env) as instance:
            assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2, failures(instance)
            for record in records:
                materialized = dg.DagsterEventType.ASSET_MATERIALIZATION
                for entry in instance.all_logs(record.dagster_run.run_id, of_type=materialized):
                    metadata = entry.asset_materialization.metadata if entry.asset_materialization else {}
                    nodes |= {str(metadata["ray_node"].value)} if "ray_node" in metadata else set()
                    dedup_on |= {metadata["dedup_executor"].value} if "dedup_executor" in metadata else set()
        starts, ends = sorted(r.start_time for r in records), sorted(r.end_time for r in records)
        in_flight = [proxy.log.max_in_flight for proxy in replicas]
        served = [len(proxy.log.received) for proxy in replicas]
        requests = collections.Counter((prompt, seed) for proxy in replicas for prompt, seed, _ in proxy.log.received)
        # one machine: the local profile, the same batches one after the other, from the answers the cluster stored
        shutil.copytree(tmp_path / "cluster-data" / "cache", tmp_path / "local-data" / "cache")
        one_after_another(local_env(tmp_path / "local", dagster_env(tmp_path / "local-data", urls)), batches, config)
        local_served = asked() - sum(served)
    assert starts[1] < ends[0], "the two runs did not run at once"
    assert all(0 < n <= LIMIT for n in in_flight), in_flight  # counted at the servers
    assert all(served), served  # both replicas served
    # the killed step ran again, and only there; every step of both runs succeeded in the end
    attempts = {(j.metadata["dagster/run-id"], j.metadata["dagster/op"]): [] for j in jobs}
    for job in jobs:
        attempts[(job.metadata["dagster/run-id"], job.metadata["dagster/op"])].append(job.status)
    retried = {key: statuses for key, statuses in attempts.items() if len(statuses) > 1}
    assert killed and list(retried.values()) == [[JobStatus.FAILED, JobStatus.SUCCEEDED]], attempts
    assert [op for _, op in retried] == ["cot_traces"] and all(s[-1] == JobStatus.SUCCEEDED for s in attempts.values())
    ran_on = {key: job.driver_node_id for job in jobs if job.status == JobStatus.SUCCEEDED
              for key in [(job.metadata["dagster/run-id"], job.metadata["dagster/op"])]}  # fmt: skip
    assert {node for (_, op), node in ran_on.items() if op in MODEL_STEPS} == gpu_nodes and len(gpu_nodes) == 1
    assert len(set(ran_on.values())) == 2, ran_on  # the other steps ran on the head too
    assert nodes and nodes <= set(ran_on.values()), (ran_on, nodes)  # the stages say their node
    # the MinHash stages ran on the runs' own cluster where a CPU was free, else in the step (two runs on two CPUs
    # often leave none: tests/test_dedup_ray.py checks the cluster's side)
    assert dedup_on and dedup_on <= {"ray", "local"}, dedup_on
    # the retry re-asked at most what was in flight at the kill and what came in since the cache's last write (0.2 s:
    # at most one more answer a slot), on each replica; every answer was kept: one machine asked for none again
    assert sum(requests.values()) - len(requests) <= 2 * LIMIT * len(replicas), requests.most_common(3)
    assert local_served == 0, local_served
    cluster_rows, local_rows = published_ids(tmp_path / "cluster-data"), published_ids(tmp_path / "local-data")
    assert cluster_rows == local_rows
    assert all(len(ids) == len(set(ids)) for ids in cluster_rows.values())
    # one revision holds both batches
    revision = (tmp_path / "cluster-data" / "published" / "reasoning-foundry").resolve()
    published = {b for path in revision.rglob("*.parquet") for b in pl.read_parquet(path, columns=["batch"])["batch"]}
    assert published == set(batches), published


TIMED_OUT = "ray start failed: Exception: The current node timed out during startup. This could happen because ..."


def test_a_node_that_registers_after_ray_start_gave_up_joins_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine `ray start` can give up on a node (30 s to register, fixed in Ray) whose processes then
    come up anyway: the cluster waits for the node instead of failing the test or the demo that started it."""
    from ray.util.state import list_nodes

    start = LocalRay._start
    late: list[threading.Thread] = []

    def late_second_node(cluster: LocalRay, *args: str) -> None:
        if "--head" in args:
            return start(cluster, *args)
        late.append(threading.Timer(2, start, (cluster, *args)))
        late[0].start()
        raise RuntimeError(TIMED_OUT)

    monkeypatch.setattr(LocalRay, "_start", late_second_node)
    with LocalRay() as ray:
        late[0].join(timeout=180)  # its `ray start` returns once the node is registered
        alive = [node for node in list_nodes(address=ray.address) if node.state == "ALIVE"]
    assert len(alive) == 2


def test_a_node_that_never_comes_up_fails_the_cluster_and_leaves_nothing_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = LocalRay._start

    def no_second_node(cluster: LocalRay, *args: str) -> None:
        if "--head" in args:
            return start(cluster, *args)
        raise RuntimeError(TIMED_OUT)

    monkeypatch.setattr(LocalRay, "_start", no_second_node)
    monkeypatch.setattr("assets.cluster.LATE_NODE_S", 5)
    cluster = LocalRay()
    with pytest.raises(RuntimeError, match="timed out during startup"):
        cluster.__enter__()
    assert cluster.processes() == []
