"""Real model solutions labelled by their final answer only: the embedded teacher (Gemma 3 270M, llama.cpp) solves
GSM8K test problems (the copy the project ships for decontamination, MIT) through the pipeline's chain-of-thought
task and prompt, and the rule checks judge every solution, without and with GSM8K's worked solution as reference.

A wrong final answer means a wrong step somewhere, so every wrong-answer solution the checks do not flag is a real
error they miss at GSM8K's difficulty; the right-answer solutions flagged are false alarms or right answers reached
by wrong steps (read them before counting them as either). ``--out`` writes the solutions in
ProcessBench's format (``problem``, ``steps``, ``reference``, ``answer``, ``final_answer_correct``; no step label), for
``bench/judge_eval.py`` to score model judges on. The last line:
``wrong_answer_flagged=<x> right_answer_flagged=<x> wrong=<n> right=<n>`` (the rules without a reference).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.judge_eval import evaluate
from filters.verify import verify
from generators.problems.seeds import load_seed_problems
from generators.tasks.cot import CotTask
from generators.tasks.prompts import COT_STOP
from generators.teachers.backend import SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.embedded import EMBEDDED_MODEL, EmbeddedServer
from generators.teachers.openai_backend import OpenAICompatibleBackend

GSM8K_TEST = Path(__file__).resolve().parents[1] / "filters" / "data" / "benchmarks" / "gsm8k_test.jsonl"


def solution_rows(traces: list[dict]) -> list[dict]:
    """Generated CoT rows -> ProcessBench-format rows, one step a non-empty line, labelled by the final answer."""
    rows = []
    for trace in traces:
        reference = json.loads(trace["spec"])["solution"] if trace["spec"] else None
        rows.append(
            {
                "problem": trace["problem"],
                "steps": [line.strip() for line in trace["trace"].splitlines() if line.strip()],
                "reference": reference,
                "answer": trace["answer"],
                "final_answer_correct": bool(verify(trace["trace"], trace["answer"])),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200, help="the first N GSM8K test problems")
    parser.add_argument("--samples", type=int, default=2, help="samples a problem, each with its own seed")
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--out", type=Path, help="write the solutions here (ProcessBench format, jsonl)")
    parser.add_argument("--quick", action="store_true", help="10 problems x 1 sample")
    args = parser.parse_args()
    count, samples = (10, 1) if args.quick else (args.problems, args.samples)
    problems = load_seed_problems(str(GSM8K_TEST), limit=count)
    params = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=args.max_tokens, stop=COT_STOP)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        server = EmbeddedServer(tmp / "models", tmp / "logs")
        url = server.start()
        try:
            backend = OpenAICompatibleBackend([url], EMBEDDED_MODEL, ResponseCache(tmp / "cache.sqlite"))
            started = time.monotonic()
            traces = CotTask(backend, params, samples).run(problems).rows.to_dicts()
            minutes = (time.monotonic() - started) / 60
        finally:
            server.stop()
    rows = solution_rows(traces)
    if args.out:
        args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    results = evaluate(rows, {})
    wrong = sum(not row["final_answer_correct"] for row in rows)
    right = len(rows) - wrong
    print(f"{len(rows)} solutions to {count} GSM8K test problems, {minutes:.1f} minutes: {right} right, {wrong} wrong")
    print("| arm | wrong-answer solutions flagged | right-answer solutions flagged |")
    print("|---|---|---|")
    for name, found in results.items():
        cells = [f"{found[k]:.3f}" if k in found else "-" for k in ("wrong_answer_flagged", "right_answer_flagged")]
        print(f"| {name} | {' | '.join(cells)} |")
    rules = results["rules"]
    print(
        f"wrong_answer_flagged={rules.get('wrong_answer_flagged', 0.0):.3f} "
        f"right_answer_flagged={rules.get('right_answer_flagged', 0.0):.3f} wrong={wrong} right={right}"
    )


if __name__ == "__main__":
    main()
