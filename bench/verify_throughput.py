"""Verification throughput: verifications per second per core on GSM8K-style and MATH-style pairs, latency
percentiles, and the speed-up of the process pool with all cores.

Pairs come from the shipped benchmark sets (filters/data/benchmarks): GSM8K test solutions (`#### N`) and MATH-500
reference solutions (`\\boxed{}`) against their gold answers, half of them rewritten into an equivalent but different
form (``N.0``, ``\\frac{2N}{2}``) so that math-verify, not the string shortcut, decides. The last line is
``verifications_per_s_per_core=<x> p99_ms=<y>`` for the numeric (GSM8K-style) pairs; goal >= 1,000.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.answers import extract_answer
from filters.decontamination import SHIPPED_DIR as DATA
from filters.verify import verify, verify_many


def gsm8k_pairs(limit: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (DATA / "gsm8k_test.jsonl").read_text().splitlines()]
    pairs = []
    for i, row in enumerate(rows[:limit]):
        gold = extract_answer(row["answer"])
        said = row["answer"] if i % 2 else f"The answer is \\boxed{{\\frac{{{2 * int(float(gold))}}}{{2}}}}."
        pairs.append((said, gold))
    return pairs


def math_pairs(limit: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (DATA / "math500_test.jsonl").read_text().splitlines()]
    return [(row["solution"], row["answer"]) for row in (rows * (1 + limit // len(rows)))[:limit]]


def one_core(pairs: list[tuple[str, str]]) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    for prediction, gold in pairs:
        t = time.perf_counter()
        assert verify(prediction, gold) is True, (prediction[-80:], gold)
        latencies.append((time.perf_counter() - t) * 1000)
    return len(pairs) / (time.perf_counter() - started), latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 GSM8K-style and 300 MATH-style pairs")
    args = parser.parse_args()
    n_gsm, n_math = (1000, 300) if args.quick else (1319, 2000)
    verify("\\boxed{1}", "1")  # the first call loads sympy and the grammar (~50 ms): not a steady-state cost
    cores = os.cpu_count() or 1
    started = time.perf_counter()
    verify_many(["\\boxed{1}"] * cores, ["1"] * cores, workers=cores)
    pool_start = time.perf_counter() - started
    print(f"pool of {cores} processes starts in {pool_start:.2f} s")
    results = {}
    for name, pairs in (("gsm8k", gsm8k_pairs(n_gsm)), ("math", math_pairs(n_math))):
        rate, latencies = one_core(pairs)
        started = time.perf_counter()
        verdicts = verify_many([p for p, _ in pairs], [g for _, g in pairs], workers=cores)
        pooled_s = time.perf_counter() - started
        pooled = len(pairs) / pooled_s
        steady = len(pairs) / max(1e-9, pooled_s - pool_start)
        assert all(verdicts)
        results[name] = (rate, percentile(latencies, 99))
        print(
            f"{name}: {len(pairs)} pairs, {rate:.0f}/s on one core, p50 {statistics.median(latencies):.2f} ms, "
            f"p99 {percentile(latencies, 99):.2f} ms; pool of {cores}: {pooled:.0f}/s with its start "
            f"(speed-up {pooled / rate:.2f}x), {steady:.0f}/s without (speed-up {steady / rate:.2f}x)"
        )
    rate, p99 = results["gsm8k"]
    print(f"verifications_per_s_per_core={rate:.0f} p99_ms={p99:.2f}")


if __name__ == "__main__":
    main()
