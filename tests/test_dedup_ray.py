"""datatrove's MinHash stages on a local Ray cluster give the same clusters as on the local executor."""

import signal

import pytest

from bench.curation_data import labelled_rows
from filters.dedup import init_ray, minhash_clusters, minhash_duplicates

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
