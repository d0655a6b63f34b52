"""What a base-model teacher's few-shot examples are worth: the embedded Gemma 3 270M (llama.cpp) on the same one-step
arithmetic story problems, prompted with the domain's fixed worked examples and with sibling shots (three other
problems of each problem's template and operations, worked out; ``cot_traces.shots: siblings``), in one run.

Per arm: traces with the right answer, and traces ``verified`` would keep (answer and reasoning checks). The last
line: ``siblings_vs_domain_verified=<x> siblings_verified=<n> domain_verified=<n> requests_per_arm=<n>``.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.answers import extract_answer
from filters.verify import would_verify
from generators.problems.procedural import generate_problems
from generators.tasks.cot import CotTask, Shots
from generators.tasks.prompts import COT_STOP
from generators.teachers.backend import SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.embedded import EMBEDDED_MODEL, EmbeddedServer
from generators.teachers.openai_backend import OpenAICompatibleBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--samples", type=int, default=3, help="samples a problem, each with its own seed")
    parser.add_argument("--seed", type=int, default=0, help="which problems the generator draws")
    parser.add_argument("--quick", action="store_true", help="10 problems x 2 samples")
    args = parser.parse_args()
    count, samples = (10, 2) if args.quick else (args.problems, args.samples)
    problems = generate_problems(count, seed=args.seed, min_steps=1, max_steps=1)
    params = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=200, stop=COT_STOP)
    results: dict[Shots, tuple[int, int, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        server = EmbeddedServer(tmp / "models", tmp / "logs")
        url = server.start()
        try:
            for arm in ("domain", "siblings"):
                backend = OpenAICompatibleBackend([url], EMBEDDED_MODEL, ResponseCache(tmp / f"{arm}.sqlite"))
                started = time.monotonic()
                output = CotTask(backend, params, samples, shots=arm).run(problems)
                traces = output.rows
                right = sum(extract_answer(t) == a for t, a in zip(traces["trace"], traces["answer"], strict=True))
                results[arm] = (right, sum(would_verify(traces)), time.monotonic() - started)
        finally:
            server.stop()
    requests = count * samples
    print("| shots | requests | right answer | verified (answer and reasoning) | minutes |")
    print("|---|---|---|---|---|")
    for arm, (right, verified, seconds) in results.items():
        print(f"| {arm} | {requests} | {right} | {verified} | {seconds / 60:.1f} |")
    domain, siblings = results["domain"][1], results["siblings"][1]
    print(
        f"siblings_vs_domain_verified={siblings / max(domain, 1):.2f} siblings_verified={siblings} "
        f"domain_verified={domain} requests_per_arm={requests}"
    )


if __name__ == "__main__":
    main()
