"""Verification throughput: verifications per second per core on GSM8K-style and MATH-style pairs, latency
percentiles, and the speed-up of the process pool with all cores.

Pairs come from the shipped benchmark sets (filters/data/benchmarks): GSM8K test solutions (`#### N`) and MATH-500
reference solutions (`\\boxed{}`) against their gold answers, half of them rewritten into an equivalent but different
form (``N.0``, ``\\frac{2N}{2}``) so that math-verify, not the string shortcut, decides. Then the process checks:
their speed and judgements on planted GSM8K test traces and MATH-500 solutions, and the share of the shipped GSM8K
train solutions they reject (false alarms). The last line is ``verifications_per_s_per_core=<x> p99_ms=<y> ...`` for
the numeric (GSM8K-style) pairs; goal >= 1,000.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.answers import extract_answer
from filters.decontamination import SHIPPED_DIR as DATA
from filters.steps import find_reasoning_error
from filters.steps.facts import problem_facts
from filters.steps.latex import equalities, latex_claims
from filters.steps.tokens import number
from filters.verify import verify, verify_many
from generators.problems.seeds import GSM8K_TRAIN


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


def _as_steps(lines: list[str], answer: str) -> str:
    return "\n".join(f"Step {i}: {line}" for i, line in enumerate(lines, 1)) + f"\nThe answer is \\boxed{{{answer}}}."


def process_traces(limit: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(kind, problem, trace) built from GSM8K *test* reference solutions as the dev set was built from train ones:
    ``clean`` (the solution as numbered steps), ``false_calc`` (one stated result changed, later steps untouched) and
    ``not_derived`` (question sentences restated, then the answer)."""
    rng = random.Random(seed)
    rows = [json.loads(line) for line in (DATA / "gsm8k_test.jsonl").read_text().splitlines()][:limit]
    out = []
    for row in rows:
        body, _, gold = row["answer"].partition("####")
        lines = [re.sub(r"<<[^>]*>>", "", line).strip() for line in body.strip().splitlines() if line.strip()]
        answer = gold.strip().replace(",", "")
        out.append(("clean", row["question"], _as_steps(lines, answer)))
        results = [(i, m) for i, line in enumerate(lines) for m in re.finditer(r"=\s*\$?(\d+)(?![\d.,/])", line)]
        if results:
            i, match = rng.choice(results)
            value = int(match.group(1))
            wrong = value + rng.choice([d for d in (-10, -2, -1, 1, 2, 10) if value + d >= 0])
            changed = lines[i][: match.start(1)] + str(wrong) + lines[i][match.end(1) :]
            out.append(("false_calc", row["question"], _as_steps([*lines[:i], changed, *lines[i + 1 :]], answer)))
        sentences = [s.strip() for s in re.split(r"(?<=[.!])\s+", row["question"]) if s.strip()][:-1]
        if sentences:
            out.append(
                ("not_derived", row["question"], _as_steps(sentences[: rng.randint(1, len(sentences))], answer))
            )
    return out


def process_check_rates(traces: list[tuple[str, str, str]], passes: int = 3) -> tuple[float, dict[str, float]]:
    """Traces checked per CPU second (the best of ``passes`` cold-cache passes after a warm-up one that compiles the
    regexes), and per kind the share judged right (clean kept, the others caught)."""
    right: dict[str, list[bool]] = {}
    for kind, problem, trace in traces:  # the warm-up pass: regexes compiled, number parsing cached
        right.setdefault(kind, []).append((find_reasoning_error(problem, trace) is None) == (kind == "clean"))
    best = float("inf")
    for _ in range(passes):
        for cache in (number, problem_facts):
            cache.cache_clear()  # every pass starts cold: each trace is new, as in a run
        started = time.process_time()
        for _, problem, trace in traces:
            find_reasoning_error(problem, trace)
        best = min(best, time.process_time() - started)
    return len(traces) / max(1e-9, best), {kind: sum(v) / len(v) for kind, v in right.items()}


def math_process_rates(limit: int, seed: int = 0) -> tuple[float, float, float, int, float]:
    """The process checks on MATH-500 reference solutions (sound, as far as known) and on the same solutions with one
    ``= N`` result changed to N + 1: traces a second on one core, the share of the sound ones kept, the share of
    changed ones caught and how many there were, and the share caught among those whose change lands in a link of a
    LaTeX equality without unknowns (one that sympy evaluates)."""
    rows = [json.loads(line) for line in (DATA / "math500_test.jsonl").read_text().splitlines()][:limit]
    rng = random.Random(seed)
    started = time.process_time()
    kept = [find_reasoning_error(row["problem"], row["solution"]) is None for row in rows]
    rate = len(rows) / max(1e-9, time.process_time() - started)
    caught: list[tuple[bool, bool]] = []  # (caught, in an evaluated link)
    for row, sound in zip(rows, kept, strict=True):
        changes = list(re.finditer(r"=\s*(\d+)(?=\s*[$.,\\])", row["solution"]))
        if not sound or not changes:
            continue
        change = rng.choice(changes)
        number = int(change.group(1)) + 1
        planted = f"{row['solution'][: change.start(1)]}{number}{row['solution'][change.end(1) :]}"
        evaluated = any(not claim.holds for claim in latex_claims(equalities(planted)))
        caught.append((find_reasoning_error(row["problem"], planted) is not None, evaluated))
    in_links = [hit for hit, evaluated in caught if evaluated]
    return (
        rate,
        sum(kept) / len(kept),
        sum(hit for hit, _ in caught) / max(1, len(caught)),
        len(caught),
        sum(in_links) / max(1, len(in_links)),
    )


def seed_false_alarms(limit: int) -> tuple[float, int]:
    """The share of the shipped GSM8K train solutions (sound, as far as known; their calculator notes kept as written)
    that the process checks reject, a false-alarm measure, and how many were checked."""
    rows = [json.loads(line) for line in GSM8K_TRAIN.read_text().splitlines()][:limit]
    flagged = 0
    for row in rows:
        body, _, gold = row["answer"].rpartition("####")
        lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
        flagged += find_reasoning_error(row["question"], _as_steps(lines, gold.strip())) is not None
    return flagged / len(rows), len(rows)


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
    traces = process_traces(400 if args.quick else 1319)
    process_rate, accuracy = process_check_rates(traces)
    rate, p99 = results["gsm8k"]
    print(
        f"process checks (filters.steps) on {len(traces)} traces from GSM8K test solutions: {process_rate:.0f}/s on "
        f"one core ({process_rate / rate:.2f}x the answer check's rate); "
        + ", ".join(
            f"{kind} {'kept' if kind == 'clean' else 'caught'} {share:.3f}" for kind, share in accuracy.items()
        )
    )
    math_rate, math_kept, math_caught, planted, in_links = math_process_rates(150 if args.quick else 500)
    print(
        f"process checks on MATH-500 reference solutions: {math_rate:.0f}/s on one core; sound kept {math_kept:.3f}, "
        f"a changed result caught {math_caught:.3f} of {planted} ({in_links:.3f} where a link of numbers is false)"
    )
    seeds_flagged, seeds = seed_false_alarms(2000 if args.quick else 10_000)
    print(f"process checks on {seeds} GSM8K train solutions (the seeds, notes kept): flagged {seeds_flagged:.3f}")
    print(
        f"verifications_per_s_per_core={rate:.0f} p99_ms={p99:.2f} process_checks_per_s_per_core={process_rate:.0f} "
        f"process_vs_answer_check={process_rate / rate:.2f} seed_solutions_flagged={seeds_flagged:.3f}"
    )


if __name__ == "__main__":
    main()
