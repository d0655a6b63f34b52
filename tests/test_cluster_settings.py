"""What a step asks of a Ray cluster, and the errors that name the part of a cluster that is missing: fast checks,
no cluster started (tests/test_cluster.py runs the real ones)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from upath import UPath

from assets.cluster import ray_steps, ray_unreachable
from assets.resources import missing_output
from assets.stages import gpu_request
from generators.teachers.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("value", "tag"),
    [(None, {}), ("", {}), ("0", {}), ("1", {"num_gpus": 1.0}), ("0.5", {"num_gpus": 0.5})],
)
def test_a_model_step_asks_for_the_gpus_the_environment_gives(value: str | None, tag: dict) -> None:
    env = {} if value is None else {"FOUNDRY_RAY_MODEL_GPUS": value}
    assert {k: json.loads(v) for k, v in gpu_request(env).items()} == ({"dagster-ray/config": tag} if tag else {})


@pytest.mark.parametrize("value", ["one", "-1", "inf", "nan"])
def test_a_bad_gpu_count_is_named(value: str) -> None:
    with pytest.raises(ValueError, match=rf"\$FOUNDRY_RAY_MODEL_GPUS='{value}': a number of 0 or more"):
        gpu_request({"FOUNDRY_RAY_MODEL_GPUS": value})


def test_every_step_asks_for_the_memory_the_environment_gives() -> None:
    env = {"RAY_ADDRESS": "http://head:8265", "FOUNDRY_RAY_STEP_MEMORY_GB": "0.5"}

    def ray_config(env: dict[str, str]) -> dict:
        return ray_steps(env).config_schema.resolve_config({}).value["config"]["ray"]  # the configured executor's

    assert ray_config(env)["memory"] == 2**29 and ray_config(env)["num_cpus"] == 1
    assert ray_config({"RAY_ADDRESS": "http://head:8265"})["memory"] is None


@pytest.mark.parametrize("address", ["127.0.0.1:6379", "ray://head:10001", ""])
def test_a_ray_address_that_is_no_job_api_is_refused_when_the_definitions_load(address: str) -> None:
    with pytest.raises(ValueError, match="set \\$RAY_ADDRESS to its dashboard's URL"):
        ray_steps({"RAY_ADDRESS": address})


def test_a_ray_cluster_that_does_not_answer_is_named_in_one_line_before_the_run(tmp_path: Path) -> None:
    """`python -m assets.batches run` on the Ray executor checks the cluster's job API first: one line naming the
    URL, exit 1, nothing launched."""
    address = f"http://127.0.0.1:{free_port()}"
    assert address in ray_unreachable(address)
    env = {**os.environ, "FOUNDRY_EXECUTOR": "ray", "RAY_ADDRESS": address, "FOUNDRY_DATA_DIR": str(tmp_path),
           "DAGSTER_HOME": str(tmp_path)}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "assets.batches", "run", "b1"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().startswith(f"error: the Ray cluster at $RAY_ADDRESS={address} does not answer")
    assert not (tmp_path / "logs").exists()  # nothing launched


@pytest.mark.parametrize(
    ("env", "said"),
    [({}, "rerun the step that writes it"),
     ({"RAY_JOB_CONFIG_JSON_ENV_VAR": "{}"}, "every node must see the same $FOUNDRY_DATA_DIR")],
)  # fmt: skip
def test_an_input_that_is_not_there_is_named_with_the_machine_that_looked(env: dict, said: str) -> None:
    message = missing_output(UPath("/data/assets/cot_traces/b1.parquet"), env)
    assert message.startswith("the stored output /data/assets/cot_traces/b1.parquet on ") and said in message
