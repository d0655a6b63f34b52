"""Curation on Ray: datatrove's MinHash stages on a local Ray cluster give the same clusters as on the local executor,
and in a step on a Ray cluster the row filters' workers are actors there."""

import os
import signal

import polars as pl
import pytest

from bench.curation_data import labelled_rows
from filters.contract import Drop, RowFilter
from filters.dedup import dedup_executor, minhash_clusters, minhash_duplicates
from filters.ray_workers import init_ray
from filters.schemas import reasons

pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    init_ray(num_cpus=2, _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield
    ray.shutdown()


@pytest.fixture
def deadline():
    """Fail instead of hanging (datatrove's Ray workers fork a process pool; before `init_ray`'s forkserver setup a
    forked child hung at pool exit in about 1 run of 3 here)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("the Ray executor did not finish within 240 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(240)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_ray_executor_finds_the_same_clusters_as_the_local_one(local_ray, deadline) -> None:
    texts, _ = labelled_rows(600, seed=7)
    local = minhash_clusters(texts)
    on_ray = minhash_clusters(texts, executor="ray", workers=2)
    assert on_ray == local
    assert sum(c >= 0 for c in local) > 100  # the comparison is about real clusters, not all -1
    assert minhash_duplicates(texts, executor="ray", workers=2) == minhash_duplicates(texts)


def test_an_unknown_executor_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dedup executor 'spark'"):
        minhash_clusters(["a b c", "a b c"], executor="spark")


ODD = reasons(__name__, "odd")[0]


class PidFilter(RowFilter):
    """Drops odd rows, naming the process that decided: which workers ran is in the decisions."""

    name = "pid"
    parallel_rows = 10
    chunk_rows = 5
    workers = 2

    def decide_row(self, row: dict) -> Drop | None:
        return Drop(ODD, f"{row['x']}@{os.getpid()}") if row["x"] % 2 else None


def test_a_step_on_a_ray_cluster_decides_its_rows_on_actors_there(local_ray, deadline, monkeypatch) -> None:
    """In a Ray job (its variable set, the cluster the local one), the MinHash stages run on the cluster and a row
    filter's workers are actors on its free CPUs; the decisions are the ones one process makes, in order."""
    frame = pl.DataFrame({"x": list(range(100))})
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}")
    assert dedup_executor("auto") == "ray" and dedup_executor("local") == "local"  # MinHash on the cluster too
    on_ray = PidFilter().decide(frame)
    assert [d and d.detail.split("@")[0] for d in on_ray] == [str(x) if x % 2 else None for x in range(100)]
    deciders = {d.detail.split("@")[1] for d in on_ray if d}
    assert len(deciders) == 2 and str(os.getpid()) not in deciders  # two actors, not this process


def test_dedup_runs_locally_outside_a_ray_job(monkeypatch) -> None:
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert dedup_executor("auto") == "local" and dedup_executor("ray") == "ray"
