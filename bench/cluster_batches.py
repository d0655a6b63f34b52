"""Two batches at once on the cluster profile against two after each other on the local profile, in one run.

The cluster: a throwaway PostgreSQL (Debian's binaries), both batches queued at once and started by dagster-daemon,
the model steps in their pools (one teacher step at a time across the runs), every step in its run's process; then
the same on a local Ray cluster of two nodes, one CPU each, with every step a Ray job ($FOUNDRY_EXECUTOR=ray,
dagster-ray's executor) and with every run a Ray job (dagster-ray's run launcher). The local profile: SQLite, the same
two batches one after the other, every step in the run's process. All against the same simulated teacher fleet
(tests/sim_server.py): two replicas, 0.5 s a request, 4 requests in flight each, as a small GPU fleet would answer.

    python bench/cluster_batches.py

The last line is ``cluster_vs_local=<x> ray_vs_local=<y> launcher_vs_local=<z> ... batches=2``: the local profile's
seconds over each arm's, the speed-ups of running the two batches at once.
"""

import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assets.cluster import (  # noqa: E402
    LocalPostgres,
    LocalRay,
    cluster_env,
    forwarded_variables,
    local_env,
    one_after_another,
    through_the_queue,
)
from tests.data import write_sum_seeds  # noqa: E402
from tests.sim_server import SimServer  # noqa: E402
from tests.test_cluster import batch_config, dagster_env  # noqa: E402
from tests.test_fixed_seed_demo import teacher  # noqa: E402

LATENCY_S, IN_FLIGHT = 0.5, 4


def at_once(root: Path, config: str, urls: list[str], ray: str = "") -> float:
    """Seconds for two batches queued at once on the cluster profile: every step in its run's process, or on a Ray
    cluster of two nodes (``ray``): each step a Ray job (``executor``: dagster-ray's executor), or each run one
    (``launcher``: dagster-ray's run launcher, the steps in the run's process)."""
    with LocalPostgres() as pg:
        env = cluster_env(root, pg, dagster_env(root / "data", urls, IN_FLIGHT))
        with LocalRay(env) if ray else contextlib.nullcontext() as cluster:
            launch = env
            if cluster and ray == "executor":
                launch = {**env, "FOUNDRY_EXECUTOR": "ray", "RAY_ADDRESS": cluster.address}
            elif cluster:
                launcher = {"address": cluster.address, "num_cpus": 1, "env_vars": forwarded_variables(env)}
                with (root / "dagster.yaml").open("a") as profile:
                    yaml.safe_dump({"run_launcher": {"module": "dagster_ray", "class": "RayRunLauncher",
                                                     "config": {"ray": launcher}}}, profile)  # fmt: skip
            started = time.monotonic()
            records = through_the_queue(launch, ["b1", "b2"], config, root / "daemon.log", say=lambda _: None)
            seconds = time.monotonic() - started
    if any(r.dagster_run.status.value != "SUCCESS" for r in records):
        raise SystemExit(f"a cluster run failed: {(root / 'daemon.log').read_text()[-2000:]}")
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        seeds = write_sum_seeds(root / "sums.jsonl")
        config = json.dumps(batch_config(seeds))
        with SimServer(teacher, latency_s=LATENCY_S) as one, SimServer(teacher, latency_s=LATENCY_S) as two:
            urls = [one.base_url, two.base_url]
            cluster_s = at_once(root / "in-process", config, urls)
            ray_s = at_once(root / "ray", config, urls, ray="executor")
            launcher_s = at_once(root / "launcher", config, urls, ray="launcher")
            local = local_env(root / "local", dagster_env(root / "local-data", urls, IN_FLIGHT))
            started = time.monotonic()
            one_after_another(local, ["b1", "b2"], config)
            local_s = time.monotonic() - started
    print(f"two batches at once, cluster profile: {cluster_s:.1f} s; each step a Ray job {ray_s:.1f} s; each run a "
          f"Ray job {launcher_s:.1f} s; one after the other, local: {local_s:.1f} s")  # fmt: skip
    print(f"cluster_vs_local={local_s / cluster_s:.2f} ray_vs_local={local_s / ray_s:.2f} "
          f"launcher_vs_local={local_s / launcher_s:.2f} cluster_s={cluster_s:.1f} ray_s={ray_s:.1f} "
          f"launcher_s={launcher_s:.1f} local_s={local_s:.1f} batches=2")  # fmt: skip


if __name__ == "__main__":
    main()
