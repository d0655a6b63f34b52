"""The fixed cost of a batch: one small batch (8 problems x 2 samples) through the whole graph to the published
dataset, run by the Dagster CLI as `make demo` runs it, against a simulated teacher and student (tests/sim_server.py,
50 ms per request), so nearly all the time is the pipeline's own: step start-up, IO, checks.

Run twice in one go, each in a fresh data folder and Dagster home: with the multiprocess executor (a process per
step, the default) and with the in-process one ($FOUNDRY_EXECUTOR=in_process).

    python bench/batch_overhead.py

The last line is ``in_process_vs_multiprocess=<x> multiprocess_s=<a> in_process_s=<b> steps=<n>``: x = a / b, the
speed-up of running every step in the run's own process.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sim_server import SimServer  # noqa: E402

PROBLEMS = 8
RUN_CONFIG = {
    "ops": {
        "seed_problems": {"config": {"sources": [], "limit_per_source": PROBLEMS}},
        "synthetic_problems": {"config": {"count": 0}},
        "evolved_problems": {"config": {"count": 0}},
        "textbook_topics": {"config": {"count": 0}},
        "cot_traces": {"config": {"samples_per_problem": 2}},
        "difficulty_graded": {"config": {"samples": 2}},
        "published_dataset": {"config": {"eval_fraction": 0.25}},
    }
}


def answer(question: str) -> tuple[None, str]:
    """A right, one-step solution of the sums this bench asks."""
    a, b = [int(w) for w in re.findall(r"\d+", question)][-2:]
    return None, f"Step 1: {a} + {b} = {a + b}.\nThe answer is \\boxed{{{a + b}}}."


def run(executor: str, url: str, root: Path) -> tuple[float, int]:
    """Wall seconds of one batch through the CLI with ``executor``, and the steps it ran."""
    home, data = root / executor / "dagster_home", root / executor / "data"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    seeds = root / "sums.jsonl"
    env = {
        **os.environ, "DAGSTER_HOME": str(home), "FOUNDRY_DATA_DIR": str(data), "FOUNDRY_EXECUTOR": executor,
        "TEACHER_BASE_URLS": url, "TEACHER_MODEL": "sim-teacher", "STUDENT_BASE_URLS": url,
        "STUDENT_MODEL": "sim-teacher",
    }  # fmt: skip
    config = json.loads(json.dumps(RUN_CONFIG))
    config["ops"]["seed_problems"]["config"]["sources"] = [str(seeds)]
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [sys.executable, "-m", "assets.batches", "add", "b1"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    started = time.monotonic()
    done = subprocess.run(
        [str(bin_dir / "dagster"), "asset", "materialize", "-f", "definitions.py", "--select", "*published_dataset",
         "--partition", "b1", "--config-json", json.dumps(config)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{executor}: exit {done.returncode}\n{done.stderr[-3000:]}")
    steps = len(set(re.findall(r'Started execution of step "([^"]+)"', done.stderr)))
    return wall, steps


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, SimServer(answer, latency_s=0.05) as server:
        root = Path(tmp)
        (root / "sums.jsonl").write_text(
            "".join(
                json.dumps({"question": f"What is {i} + {i + 2}?", "answer": f"#### {2 * i + 2}"}) + "\n"
                for i in range(1, PROBLEMS + 1)
            )
        )
        times = {}
        for executor in ("multiprocess", "in_process"):
            times[executor], steps = run(executor, server.base_url, root)
            print(f"{executor}: {times[executor]:.1f} s, {steps} steps")
    speedup = times["multiprocess"] / times["in_process"]
    print(
        f"in_process_vs_multiprocess={speedup:.2f} multiprocess_s={times['multiprocess']:.1f} "
        f"in_process_s={times['in_process']:.1f} steps={steps}"
    )


if __name__ == "__main__":
    main()
