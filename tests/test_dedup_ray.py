"""datatrove's MinHash stages on a local Ray cluster give the same clusters as on the local executor."""

import os

import pytest

from bench.curation_data import labelled_rows
from filters.dedup import minhash_clusters, minhash_duplicates

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    os.environ["RAY_AUTH_MODE"] = "disabled"  # no token written under ~/.ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield
    ray.shutdown()


def test_ray_executor_finds_the_same_clusters_as_the_local_one(local_ray) -> None:
    texts, _ = labelled_rows(600, seed=7)
    local = minhash_clusters(texts)
    on_ray = minhash_clusters(texts, executor="ray", workers=2)
    assert on_ray == local
    assert sum(c >= 0 for c in local) > 100  # the comparison is about real clusters, not all -1
    assert minhash_duplicates(texts, executor="ray", workers=2) == minhash_duplicates(texts)


def test_an_unknown_executor_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dedup executor 'spark'"):
        minhash_clusters(["a b c", "a b c"], executor="spark")
