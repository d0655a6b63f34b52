"""A run killed with ``kill -9``: its steps stop calling the teacher at once, and ``recover`` marks the run failed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.batches import recover
from tests.sim_server import SimServer

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def live_processes_in_group(group: int) -> list[int]:
    """Processes (not zombies) in process group ``group``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def start_run(tmp_path: Path, server: SimServer) -> tuple[subprocess.Popen, list[str], dict[str, str]]:
    """A real ``dagster asset materialize`` of batch ``b1`` up to ``cot_traces`` against ``server`` (2 requests in
    flight), in a session of its own, returned once ``cot_traces`` is under way (evolved_problems sends 8 requests);
    the command and environment, to run it again."""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("batch", ["b1"])
    teacher = {"TEACHER_BASE_URLS": server.base_url, "TEACHER_MODEL": server.model, "TEACHER_MAX_CONCURRENCY": "2"}
    env = {**os.environ, "DAGSTER_HOME": str(home), "FOUNDRY_DATA_DIR": str(data), **teacher}
    selection = (
        "*cot_traces,evolved_problems_rejections,cot_traces_rejections,evolved_problems_report,cot_traces_report"
    )
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-f", "definitions.py",
               "--select", selection, "--partition", "b1"]  # fmt: skip
    run = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=(tmp_path / "run.log").open("w"))  # fmt: skip
    assert wait_for(lambda: server.log.requests >= 16, 240), (tmp_path / "run.log").read_text()[-3000:]
    return run, command, env


def test_kill_9_of_the_run_process_stops_its_steps_and_recover_marks_it_failed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with SimServer(lambda q: (None, "2 + 2 = 4\nThe answer is 4."), latency_s=1.0, capacity=2) as server:
        run, _, _ = start_run(tmp_path, server)
        try:
            run.send_signal(signal.SIGKILL)
            run.wait()
            # the step process receives SIGTERM as its parent dies; give it a moment, then nothing more may come
            assert wait_for(lambda: not live_processes_in_group(run.pid), 15), live_processes_in_group(run.pid)
            sent = server.log.requests
            time.sleep(4)  # at 2 in flight and 1 s each, a live step would send ~8 more requests by now
            assert server.log.requests == sent
        finally:
            for pid in live_processes_in_group(run.pid):
                os.kill(pid, signal.SIGKILL)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (started,) = instance.get_runs()
        assert started.status == dg.DagsterRunStatus.STARTED  # nothing tells Dagster the run died ...
        assert recover(instance) == [started.run_id]  # ... until recover does
        assert instance.get_run_by_id(started.run_id).status == dg.DagsterRunStatus.FAILURE
        assert recover(instance) == []


def test_ctrl_c_ends_the_run_and_a_rerun_pays_only_for_what_was_not_answered(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the terminal's process group) mid-``cot_traces``: every process ends, the run is not left
    STARTED, and the rerun asks the teacher only what was not answered before (at most the requests in flight then
    are asked twice)."""
    home = tmp_path / "home"
    with SimServer(lambda q: (None, "2 + 2 = 4\nThe answer is 4."), latency_s=1.0, capacity=2) as server:
        run, command, env = start_run(tmp_path, server)
        try:
            os.killpg(run.pid, signal.SIGINT)
            run.wait(60)
            assert run.returncode != 0
            assert wait_for(lambda: not live_processes_in_group(run.pid), 15), live_processes_in_group(run.pid)
        finally:
            for pid in live_processes_in_group(run.pid):
                os.kill(pid, signal.SIGKILL)
        interrupted = server.log.requests
        server.latency_s = 0.01
        rerun = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        asked_again = server.log.requests - interrupted
        (tmp_path / "clean").mkdir()  # what the selection asks of a teacher from nothing
        (tmp_path / "clean" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        clean = {**env, "DAGSTER_HOME": str(tmp_path / "clean"), "FOUNDRY_DATA_DIR": str(tmp_path / "clean" / "data")}
        with dg.DagsterInstance.from_config(str(tmp_path / "clean")) as instance:
            instance.add_dynamic_partitions("batch", ["b1"])
        assert subprocess.run(command, env=clean, cwd=ROOT, capture_output=True, timeout=300).returncode == 0
        total = server.log.requests - interrupted - asked_again
    assert interrupted < total and interrupted + asked_again <= total + 2, (interrupted, asked_again, total)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        second, first = instance.get_runs()  # newest first
        assert first.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
        assert second.status == dg.DagsterRunStatus.SUCCESS
