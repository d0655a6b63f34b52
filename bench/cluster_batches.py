"""Two batches at once on the cluster profile against two after each other on the local profile, in one run.

The cluster: a throwaway PostgreSQL (Debian's binaries), both batches queued at once and started by dagster-daemon,
the model steps in their pools (one teacher step at a time across the runs). The local profile: SQLite, the same
two batches one after the other. Both against the same simulated teacher fleet (tests/sim_server.py): two replicas,
0.5 s a request, 4 requests in flight each, as a small GPU fleet would answer; every step in the run's process.

    python bench/cluster_batches.py

The last line is ``cluster_vs_local=<x> cluster_s=<a> local_s=<b> batches=2``: x = b / a, the speed-up of running
the two batches at once.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assets.cluster import LocalPostgres, cluster_env, local_env, one_after_another, through_the_queue  # noqa: E402
from tests.sim_server import SimServer  # noqa: E402
from tests.test_cluster import batch_config, dagster_env  # noqa: E402
from tests.test_fixed_seed_demo import teacher  # noqa: E402

LATENCY_S, IN_FLIGHT = 0.5, 4


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        seeds = root / "sums.jsonl"
        seeds.write_text("".join(json.dumps({"question": f"What is {i} + {2 * i + 1}?", "answer": f"#### {3 * i + 1}"})
                                 + "\n" for i in range(1, 9)))  # fmt: skip
        config = json.dumps(batch_config(seeds))
        with SimServer(teacher, latency_s=LATENCY_S) as one, SimServer(teacher, latency_s=LATENCY_S) as two:
            urls = [one.base_url, two.base_url]
            with LocalPostgres() as pg:
                env = cluster_env(root / "cluster", pg, dagster_env(root / "cluster-data", urls, IN_FLIGHT))
                started = time.monotonic()
                records = through_the_queue(env, ["b1", "b2"], config, root / "daemon.log", say=lambda _: None)
                cluster_s = time.monotonic() - started
            if any(r.dagster_run.status.value != "SUCCESS" for r in records):
                raise SystemExit(f"a cluster run failed: {(root / 'daemon.log').read_text()[-2000:]}")
            local = local_env(root / "local", dagster_env(root / "local-data", urls, IN_FLIGHT))
            started = time.monotonic()
            one_after_another(local, ["b1", "b2"], config)
            local_s = time.monotonic() - started
    print(f"two batches at once, cluster profile: {cluster_s:.1f} s; one after the other, local: {local_s:.1f} s")
    print(f"cluster_vs_local={local_s / cluster_s:.2f} cluster_s={cluster_s:.1f} local_s={local_s:.1f} batches=2")


if __name__ == "__main__":
    main()
