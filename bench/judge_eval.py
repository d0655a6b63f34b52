"""How well a step checker finds the first wrong step of real model solutions, on a ProcessBench-format file.

Each line: ``problem``, ``steps`` (a list), ``label`` (the 0-based first wrong step a person found, -1 where the
solution is sound), and optionally ``reference`` (a worked solution) and ``final_answer_correct``. The default file is
the shipped MR-GSM8K sample (``bench/data/mr_gsm8k_dev.jsonl``, MIT): 282 GSM8K-style solutions, every one wrong
somewhere. The checker is ``filters.steps.check_trace``, scored without and with the reference.

Reported per arm: solutions flagged, first wrong step put on the person's step, a sound step flagged before it, and
where the file has them, wrong-answer and right-answer solutions flagged and ProcessBench's F1 (the harmonic mean of
the accuracy on erroneous solutions and on sound ones). The last line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.steps import check_trace

SHIPPED = Path(__file__).parent / "data" / "mr_gsm8k_dev.jsonl"


def score(rows: list[dict], with_reference: bool) -> dict[str, float]:
    """The figures of ``check_trace`` on ``rows``, each a share of the rows it is about."""
    n = flagged = exact = before = sound = sound_right = 0
    by_answer = {True: [0, 0], False: [0, 0]}
    for row in rows:
        reference = row.get("reference") if with_reference else None
        checked = check_trace(row["problem"], "\n".join(row["steps"]), reference=reference)
        found = -1 if checked.first_bad_step is None else checked.first_bad_step
        label = row["label"]
        n += 1
        flagged += found >= 0
        if label >= 0:
            exact += found == label
            before += 0 <= found < label
        else:
            sound += 1
            sound_right += found < 0
        if "final_answer_correct" in row:
            tally = by_answer[bool(row["final_answer_correct"])]
            tally[0] += found >= 0
            tally[1] += 1
    erroneous = n - sound
    figures: dict[str, float] = {
        "solutions": n,
        "flagged": flagged / n,
        "first_wrong_step_exact": exact / max(1, erroneous),
        "flagged_before_first_error": before / max(1, erroneous),
    }
    for right, (hits, total) in by_answer.items():
        if total:
            figures[f"{'right' if right else 'wrong'}_answer_flagged"] = hits / total
    if sound:
        accuracy_error, accuracy_sound = exact / max(1, erroneous), sound_right / sound
        both = accuracy_error + accuracy_sound
        figures["processbench_f1"] = 2 * accuracy_error * accuracy_sound / both if both else 0.0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=SHIPPED, help="a ProcessBench-format jsonl file")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.path.read_text().splitlines() if line.strip()]
    results = {}
    for arm, with_reference in (("rules", False), ("rules+reference", True)):
        figures = score(rows, with_reference)
        results[arm] = figures
        shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
        print(f"{arm}: {shown}")
    keys = ("flagged", "first_wrong_step_exact", "flagged_before_first_error")
    print(" ".join(f"{arm.replace('+', '_')}_{k}={results[arm][k]:.3f}" for arm in results for k in keys))


if __name__ == "__main__":
    main()
