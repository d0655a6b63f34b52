"""``make demo`` end to end on each embedded engine, each from a fresh clone of this repository with an empty pip cache
and no llama.cpp wheel: install (the llama.cpp compile, or vLLM's environment), model preparation, server start,
generation and the publish, as a new user meets them (the student loop is ``make demo-student``). Takes about 45
minutes on 2 cores; run it with nothing else on the machine.

Per engine: the seconds of the whole ``make demo``, of its install, and of its run; whether the run published, and how
many rows (CoT, step-labelled and RL configs together). The last line: ``vllm_vs_llama_demo_time=<x>
llama_demo_s=<a> vllm_demo_s=<b> llama_published=<n> vllm_published=<m>``.
"""

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo(engine: str, work: Path) -> dict[str, float | int | bool]:
    """One fresh-clone ``make demo EMBEDDED_ENGINE=engine`` in ``work``, timed, its output kept in ``work``."""
    clone = work / f"clone-{engine}"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "PIP_CACHE_DIR": str(work / f"pip-cache-{engine}")}  # empty: every package downloaded
    log = work / f"demo-{engine}.log"
    started = time.monotonic()
    run_started = None
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "demo", f"EMBEDDED_ENGINE={engine}", f"WHEELS={work / f'wheels-{engine}'}"],
            cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        for line in process.stdout:
            out.write(line)
            if run_started is None and line.startswith("batch: "):
                run_started = time.monotonic()
        process.wait()
    ended = time.monotonic()
    text = log.read_text()
    published = "RUN_SUCCESS" in text and "Published dataset" in text
    rows = 0
    if published:
        changelog = (clone / "data" / "published" / "reasoning-foundry" / "CHANGELOG.md").read_text()
        rows = int(match.group(1)) if (match := re.search(r"- rows: (\d+)", changelog)) else 0
    install = (run_started or ended) - started
    return {"total_s": ended - started, "install_s": install, "run_s": ended - (run_started or ended),
            "published": published, "rows": rows}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, help="where the clones go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = {engine: demo(engine, work) for engine in ("llama.cpp", "vllm")}
    print("| engine | install (s) | run (s) | total (s) | published (rows) |")
    for engine, r in results.items():
        print(f"| {engine} | {r['install_s']:.0f} | {r['run_s']:.0f} | {r['total_s']:.0f} | "
              f"{'yes' if r['published'] else 'no'} ({r['rows']}) |")  # fmt: skip
    llama, vllm = results["llama.cpp"], results["vllm"]
    print(
        f"vllm_vs_llama_demo_time={vllm['total_s'] / llama['total_s']:.2f} llama_demo_s={llama['total_s']:.0f} "
        f"vllm_demo_s={vllm['total_s']:.0f} llama_published={llama['rows']} vllm_published={vllm['rows']}"
    )


if __name__ == "__main__":
    main()
