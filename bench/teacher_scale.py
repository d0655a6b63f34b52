"""Teacher scale against a simulated vLLM server (tests/sim_server.py, in a process of its own): 2 s per request,
256 requests served at once, reasoning sent as ``reasoning_content``.

- fraction_of_ideal: requests/s our generator reaches over the ideal (capacity / latency = 128/s), at the remote
  profile's concurrency raised to the server's capacity;
- client_cpu_ms_per_request: this process's CPU time per request (the server's CPU is not counted);
- reasoning_kept: the share of well-formed long reasoning traces (thinking >= 2,000 words, right answer) that pass the
  reasoning filters and verification with their thinking intact;
- peak_rss_mb: this process's peak resident memory.

The last line is ``fraction_of_ideal=<x> client_cpu_ms_per_request=<y> reasoning_kept=<z> peak_rss_mb=<m>`` (goals:
x >= 0.95, y <= 1.0, z >= 0.9).
"""

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from filters.reasoning import reasoning_filter
from filters.verify import verify_traces
from generators.tasks.cot import CotTask
from generators.teachers.backend import SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.openai_backend import OpenAICompatibleBackend
from tests.sim_server import SimServer

LATENCY_S, CAPACITY = 2.0, 256
THINKING = " ".join(  # 2,040 words that recheck and restate, as long thinking does, without looping
    f"Check {i}: {i} plus {2 * i} makes {3 * i}, and {3 * i} halved is {1.5 * i}." for i in range(170)
)


def answer(question: str) -> tuple[str, str]:
    a, b = [int(w) for w in question.replace("?", " ").split() if w.isdigit()][:2]
    return THINKING, f"Step 1: {a} + {b} = {a + b}.\nThe answer is \\boxed{{{a + b}}}."


def serve(ready: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    with SimServer(answer, latency_s=LATENCY_S, capacity=CAPACITY, reasoning="reasoning_content") as server:
        ready.put(server.base_url)
        stop.wait()


def problems(count: int) -> pl.DataFrame:
    return pl.DataFrame(
        [{"problem_id": f"p{i}", "source": "bench", "domain": "math", "reasoning_kind": "mathematical",
          "problem": f"What is {i} + {i + 7}?", "answer": str(2 * i + 7), "steps": 1, "template": "sum", "spec": None}
         for i in range(count)]
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,048 requests (8 full waves) instead of 4,096")
    args = parser.parse_args()
    count = 2048 if args.quick else 4096
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    server = context.Process(target=serve, args=(ready, stop), daemon=True)
    server.start()
    url = ready.get(timeout=30)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            backend = OpenAICompatibleBackend(
                [url], "sim-teacher", ResponseCache(Path(tmp) / "c.sqlite"), chat=True, max_concurrency=CAPACITY
            )
            frame = problems(count)
            cpu, wall = time.process_time(), time.monotonic()
            output = CotTask(backend, SamplingParams(max_tokens=8192)).run(frame)
            traces, stats = output.rows, output.stats
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    finally:
        stop.set()
        server.join(10)
    rate = stats.requests / wall
    ideal = CAPACITY / LATENCY_S
    rows = traces.rename({"trace": "text"}).with_columns(pl.lit("cot").alias("kind"))
    filtered = reasoning_filter(rows)
    checked, _ = verify_traces(filtered.kept, workers=2)
    intact = checked.kept.filter(pl.col("thinking") == THINKING).height
    print(
        f"{stats.requests} requests ({stats.failures} failed) in {wall:.1f} s: {rate:.1f}/s of an ideal {ideal:.0f}/s"
    )
    print(f"client CPU {cpu:.2f} s: {1000 * cpu / stats.requests:.2f} ms per request")
    print(f"reasoning filters kept {filtered.kept.height} of {rows.height}, verification {checked.kept.height}, "
          f"thinking intact in {intact}")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"fraction_of_ideal={rate / ideal:.3f} client_cpu_ms_per_request={1000 * cpu / stats.requests:.2f} "
        f"reasoning_kept={intact / count:.3f} peak_rss_mb={peak:.0f}"
    )


if __name__ == "__main__":
    main()
