"""Beyond one machine: the executor that sends each step to a Ray cluster (``$FOUNDRY_EXECUTOR=ray``), and the
cluster profile on one machine (``python -m assets.cluster demo``, ``make cluster-demo``): a throwaway PostgreSQL
from Debian's binaries (``initdb`` and ``pg_ctl`` in a temporary folder, on a free port of 127.0.0.1, as the
``postgres`` user where this runs as root, which PostgreSQL refuses), ``dagster-daemon`` starting queued runs, one
batch launched through the queue, and a local Ray cluster of two nodes. tests/test_cluster.py runs these stacks."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.events import DagsterEvent, StepRetryData
from dagster._core.execution.context.system import IStepContext
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.executor.base import Executor
from dagster._core.executor.init import InitExecutorContext
from dagster._core.executor.step_delegating import StepDelegatingExecutor
from dagster._utils.error import SerializableErrorInfo

from assets.stages import amount
from generators.teachers.embedded import free_port

if TYPE_CHECKING:
    import psutil

ROOT = Path(__file__).resolve().parents[1]
# What a step on a Ray node takes from the environment that launched the run. Secrets stay behind (Ray keeps a job's
# environment in its job table, shown on its dashboard): each node has its own. So does the executor's choice (a
# step loads the definitions, and in a Ray job $RAY_ADDRESS is the cluster's own address).
FORWARDED_PREFIXES = ("FOUNDRY_", "TEACHER_", "STUDENT_", "JUDGE_", "PRM_", "HF_")
FORWARDED = ("DAGSTER_HOME", "XDG_CACHE_HOME")
SECRET = re.compile(r"KEY|TOKEN|PASSWORD|SECRET|PG_URL")


def forwarded_variables(env: Mapping[str, str]) -> list[str]:
    """What a step on a Ray node is given: variables by name (their values read as each step is sent), and a PATH
    that finds this environment's ``dagster`` first (every node runs the same image, the project at the same path)."""
    names = sorted(
        name
        for name in env
        if (name.startswith(FORWARDED_PREFIXES) or name in FORWARDED)
        and not SECRET.search(name)
        and name != "FOUNDRY_EXECUTOR"
    )
    return [*names, f"PATH={Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"]


LOST_STEP_RETRIES = 2  # how often a step whose Ray job died is started again


def ray_steps(env: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """dagster-ray's executor: each step a job on the Ray cluster whose dashboard is at $RAY_ADDRESS, one CPU each (so
    steps that can run at once spread over the nodes) and $FOUNDRY_RAY_STEP_MEMORY_GB of memory where set; a model
    step asks for GPUs too (``stages.gpu_request``). A step whose job dies (its process or node lost) is started
    again (``LostStepsRetried``); a step that fails by itself fails as it does on one machine."""
    address = env.get("RAY_ADDRESS") or ""
    if not address.startswith(("http://", "https://")):
        raise ValueError(
            f"$FOUNDRY_EXECUTOR=ray sends each step to a Ray cluster's job API: set $RAY_ADDRESS to its dashboard's "
            f"URL (http://<head>:8265), not {address!r}"
        )
    from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
    from dagster_ray import ray_executor

    memory = amount(env, "FOUNDRY_RAY_STEP_MEMORY_GB")
    ray = {"address": address, "env_vars": forwarded_variables(env), "num_cpus": 1}
    configured = ray_executor.configured({"ray": {**ray, "memory": int(memory * 2**30)} if memory else ray})
    create = configured.executor_creation_fn
    assert create is not None

    def create_on_a_cluster_that_answers(init_context: InitExecutorContext) -> Executor:
        if why := ray_unreachable(address):  # one error naming the cluster, before any step
            raise ConnectionError(why)
        return LostStepsRetried.around(create(init_context))

    return dg.ExecutorDefinition(
        name="ray",
        config_schema=configured.config_schema,  # type: ignore[arg-type]  # a configured schema is one too
        requirements=multiple_process_executor_requirements(),
        executor_creation_fn=create_on_a_cluster_that_answers,
        description=ray_executor.description,
    )


def ray_unreachable(address: str, timeout_s: float = 10) -> str:
    """Why the Ray cluster whose dashboard is at ``address`` takes no jobs; empty where its job API answers."""
    try:
        with urllib.request.urlopen(f"{address.rstrip('/')}/api/version", timeout=timeout_s) as reply:
            json.load(reply)
    except (OSError, ValueError) as err:
        return (
            f"the Ray cluster at $RAY_ADDRESS={address} does not answer its job API ({err}): start its head with the "
            f"dashboard (ray start --head --dashboard-host=0.0.0.0) or set $RAY_ADDRESS to the dashboard's URL"
        )
    return ""


class LostStepsRetried(StepDelegatingExecutor):
    """A step-delegating executor that starts a step again where its worker ended without the step saying how it
    went, which Dagster finds by the step's health check (a Ray job whose process was killed, whose node was lost,
    or that could not start the step), up to ``LOST_STEP_RETRIES`` times. A step that fails by itself reports its
    own failure and is not retried here (Dagster's retry policies still apply)."""

    @classmethod
    def around(cls, executor: Executor) -> LostStepsRetried:
        """The same executor (dagster-ray's, configured), its lost steps retried."""
        assert isinstance(executor, StepDelegatingExecutor), type(executor)
        retrying = cls.__new__(cls)
        retrying.__dict__.update(vars(executor))
        return retrying

    def log_failure_or_retry_event_after_error(
        self, step_context: IStepContext, err_info: SerializableErrorInfo, known_state: KnownExecutionState
    ) -> DagsterEvent:
        attempts = known_state.get_retry_state().get_attempt_count(step_context.step.key)
        if "failed health check" in err_info.message and attempts < LOST_STEP_RETRIES:
            return DagsterEvent.step_retry_event(step_context, StepRetryData(error=err_info, seconds_to_wait=None))
        return super().log_failure_or_retry_event_after_error(step_context, err_info, known_state)


def postgres_bin() -> Path | None:
    """The folder of ``pg_ctl`` and ``initdb``: on the PATH, or Debian's ``/usr/lib/postgresql/<version>/bin``."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


class LocalPostgres:
    """``with LocalPostgres() as pg:`` a server with an empty database ``dagster`` at ``pg.url``, gone afterwards."""

    def __init__(self) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise FileNotFoundError("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql-15")
        self.bin = binaries
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="foundry-pg-"))
        self.url = f"postgresql+psycopg2://foundry@127.0.0.1:{self.port}/dagster"

    def _run(self, *args: str) -> None:
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], user=self.user, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def __enter__(self) -> LocalPostgres:
        if self.user:
            shutil.chown(self.root, self.user)
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", "foundry", "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "foundry", "dagster")
        return self

    def stop(self) -> None:
        """Stop the server at once (as a crash would), keeping its folder."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(RuntimeError):  # stopped already
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


LATE_NODE_S = 120  # how long a node that missed `ray start`'s own wait may take to come up
STOP_S = 30  # how long stopping waits for the processes it killed, and for any a node still starting spawns


class LocalRay:
    """``with LocalRay(env) as ray:`` a Ray cluster on this machine, a head (with the dashboard's job API, at
    ``ray.address``) and a second node, one CPU each, every port free-picked (two clusters on one machine do not
    collide); stopped afterwards, only its own processes. ``env``: the nodes' environment (their steps inherit it);
    ``gpus``: the GPUs the second node declares (Ray schedules by what a node declares, so a CPU machine can stand
    in for a GPU node)."""

    def __init__(self, env: Mapping[str, str] | None = None, gpus: int = 0) -> None:
        self.env = dict(env or os.environ)
        self.gpus = gpus
        self.root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay short
        self.gcs, self.dashboard = free_port(), free_port()
        self.address = f"http://127.0.0.1:{self.dashboard}"

    def _start(self, *args: str) -> None:
        ports = {"dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
                 "runtime-env-agent-port", "node-manager-port", "object-manager-port"}  # fmt: skip
        command = [str(Path(sys.executable).parent / "ray"), "start", *args, "--num-cpus=1", "--disable-usage-stats",
                   *(f"--{name}={free_port()}" for name in sorted(ports))]  # fmt: skip
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed: {done.stderr.strip()[-2000:]}")

    def __enter__(self) -> LocalRay:
        try:
            self._start("--head", f"--port={self.gcs}", "--dashboard-host=127.0.0.1",
                        f"--dashboard-port={self.dashboard}", "--include-dashboard=true", f"--temp-dir={self.root}",
                        f"--ray-client-server-port={free_port()}")  # fmt: skip
            try:
                self._start(f"--address=127.0.0.1:{self.gcs}", f"--num-gpus={self.gpus}")
            except RuntimeError as err:
                # `ray start` gives a node 30 s (fixed in Ray) to register with the head, and leaves its processes
                # starting when it gives up: on a loaded machine the node comes up later, so wait for it
                if "timed out during startup" not in str(err) or not self._nodes_come_up(2, LATE_NODE_S):
                    raise
        except BaseException:
            self.__exit__()
            raise
        return self

    def _nodes_come_up(self, nodes: int, within_s: float) -> bool:
        """Whether the cluster has ``nodes`` nodes alive within ``within_s`` seconds."""
        from ray.util.state import list_nodes

        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the head's state API answers once it is up
                if sum(node.state == "ALIVE" for node in list_nodes(address=self.address)) >= nodes:
                    return True
            time.sleep(1)
        return False

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes (their command lines name its folder or its head's port)."""
        import psutil  # the test tools' (make dev): the pipeline itself runs without it

        mine = []
        for process in psutil.process_iter(["cmdline"]):
            line = " ".join(process.info["cmdline"] or [])
            if str(self.root) in line or f"127.0.0.1:{self.gcs}" in line:
                mine.append(process)
        return mine

    def __exit__(self, *exc: object) -> None:
        import psutil

        # killed, then waited for, and looked for again: a node still starting may spawn a process after the first look
        deadline = time.monotonic() + STOP_S
        while (left := self.processes()) and time.monotonic() < deadline:
            for process in left:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            psutil.wait_procs(left, timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def cluster_env(home: Path, pg: LocalPostgres, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process on the cluster profile: $DAGSTER_HOME holding dagster.cluster.yaml, and the URL
    of its PostgreSQL."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.cluster.yaml", home / "dagster.yaml")
    return {**(env or os.environ), "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": pg.url}


def local_env(home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process on the local profile: $DAGSTER_HOME holding dagster.yaml (SQLite, no queue)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return {**(env or os.environ), "DAGSTER_HOME": str(home)}


@contextlib.contextmanager
def instance_of(env: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance ``env`` names, opened in this process (the profile reads $DAGSTER_PG_URL when loaded)."""
    before = os.environ.get("DAGSTER_PG_URL")
    if "DAGSTER_PG_URL" in env:
        os.environ["DAGSTER_PG_URL"] = env["DAGSTER_PG_URL"]
    try:
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            yield instance
    finally:
        if before is None:
            os.environ.pop("DAGSTER_PG_URL", None)
        else:
            os.environ["DAGSTER_PG_URL"] = before


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} ... failed: {done.stderr.strip()[-3000:]}")


def through_the_queue(
    env: dict[str, str],
    batches: list[str],
    config_json: str,
    log: Path,
    timeout_s: float = 3600,
    say: Callable[[str], None] = print,
) -> list[dg.RunRecord]:
    """Register ``batches``, queue a ``publish_batch`` run for each at once, and let a ``dagster-daemon`` start them;
    the records of every run once all are finished, each change of a run's status and each step that ends said as
    it is seen."""
    bin_dir = Path(sys.executable).parent
    for batch in batches:
        _cli(env, sys.executable, "-m", "assets.batches", "add", batch)
    log.parent.mkdir(parents=True, exist_ok=True)
    code = ["-f", str(ROOT / "definitions.py")]  # a path the steps of a Ray cluster find too
    daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", *code], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=log.open("w"))  # fmt: skip
    try:
        for batch in batches:
            _cli(env, str(bin_dir / "dagster"), "job", "launch", *code, "-j", "publish_batch",
                 "--config-json", config_json, "--tags", json.dumps({"dagster/partition": batch}))  # fmt: skip
        deadline, said, steps_said = time.monotonic() + timeout_s, dict[str, dg.DagsterRunStatus](), dict[str, int]()
        ended = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
        with instance_of(env) as instance:
            while True:
                records = instance.get_run_records()
                for record in records:
                    run = record.dagster_run
                    who = f"run {run.run_id[:8]} (batch {run.tags.get('dagster/partition')})"
                    steps = instance.all_logs(run.run_id, of_type=ended)
                    for entry in steps[steps_said.get(run.run_id, 0) :]:
                        outcome = "done" if entry.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS else "FAILED"
                        say(f"{who}: {entry.step_key} {outcome}")
                    steps_said[run.run_id] = len(steps)
                    if said.get(run.run_id) != run.status:
                        said[run.run_id] = run.status
                        say(f"{who}: {run.status.value}")
                if len(records) == len(batches) and all(r.dagster_run.is_finished for r in records):
                    return list(records)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"runs unfinished after {timeout_s:g} s; the daemon's log: {log}")
                time.sleep(1)
    finally:
        daemon.terminate()
        daemon.wait(60)


def one_after_another(env: dict[str, str], batches: list[str], config_json: str) -> None:
    """Register ``batches`` and run ``publish_batch`` for each in this order, each run in its own process."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as config:  # JSON is YAML
        config.write(config_json)
        config.flush()
        for batch in batches:
            _cli(env, sys.executable, "-m", "assets.batches", "add", batch)
            tags = json.dumps({"dagster/partition": batch})
            dagster = str(Path(sys.executable).parent / "dagster")
            _cli(env, dagster, "job", "execute", "-f", str(ROOT / "definitions.py"), "-j", "publish_batch",
                 "--config", config.name, "--tags", tags)  # fmt: skip


def demo(batch: str, config_json: str, data_dir: str) -> int:
    """One batch on the cluster profile: PostgreSQL, the queue, dagster-daemon and, where $FOUNDRY_EXECUTOR is
    ``ray``, every step a job on a local Ray cluster of two nodes; the exit status of its run."""
    with LocalPostgres() as pg:
        env = cluster_env(Path(data_dir) / "cluster_home", pg)
        print(f"PostgreSQL at {pg.url}; Dagster instance in {env['DAGSTER_HOME']} (dagster.cluster.yaml)", flush=True)
        log = Path(data_dir) / "logs" / "cluster-daemon.log"
        nodes = {k: v for k, v in env.items() if k != "FOUNDRY_EXECUTOR"}  # a step loads the definitions anew
        cluster = LocalRay(nodes) if env.get("FOUNDRY_EXECUTOR") == "ray" else contextlib.nullcontext()
        with cluster as ray:
            if ray:
                print(f"Ray cluster of two nodes, its dashboard at {ray.address}", flush=True)
            launch = {**env, "RAY_ADDRESS": ray.address} if ray else env
            [record] = through_the_queue(launch, [batch], config_json, log)
    print(f"The daemon's log: {log}")
    if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
        return 2
    published = Path(data_dir) / "published" / "reasoning-foundry"
    print(f"Published dataset: {published} -> {published.resolve()}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m assets.cluster", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("demo", help="one batch on the cluster profile, on this machine")
    one.add_argument("batch")
    one.add_argument("--config-json", default="{}")
    args = parser.parse_args(argv)
    from assets.settings import FoundrySettings

    raise SystemExit(demo(args.batch, args.config_json, FoundrySettings.from_env().data_dir))


if __name__ == "__main__":
    main()
