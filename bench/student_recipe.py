"""The real student run: the student group of assets on the current published revision with a GPU-sized budget
(full fine-tune, epochs over the train split, 400 GSM8K test problems), reporting how much the tuned student gains
over its base model. Run it after a publish (``make demo`` or a refresh), in the same $DAGSTER_HOME:

    .venv/bin/python bench/student_recipe.py                 # GPU budget (CUDA torch, vLLM if installed)
    .venv/bin/python bench/student_recipe.py --quick         # a CPU-sized check of the same path
    .venv/bin/python bench/student_recipe.py --student /models/Qwen2.5-0.5B   # another local student

Last line: ``gsm8k_base=<a> gsm8k_tuned=<b> gsm8k_gain=<b-a> eval_split_gain=<...> steps=<n> train_s=<s>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import definitions

GPU = {
    "student_sft": {"method": "full", "max_steps": -1, "epochs": 2, "batch_size": 32, "learning_rate": 1e-5,
                    "max_length": 1024, "device": "cuda"},
    "student_eval": {"eval_problems": 400, "benchmark_sample": 400, "max_new_tokens": 512, "batch_size": 64,
                     "device": "cuda"},
}  # fmt: skip
QUICK = {
    "student_sft": {"max_steps": 4, "batch_size": 2, "max_length": 384, "device": "cpu"},
    "student_eval": {"eval_problems": 5, "benchmarks": ["gsm8k_test"], "benchmark_sample": 5, "max_new_tokens": 96,
                     "device": "cpu"},
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a CPU-sized budget")
    parser.add_argument("--student", help="a local Hugging Face model folder (default: the shipped Gemma 3 270M)")
    args = parser.parse_args()
    budget = {name: dict(values) for name, values in (QUICK if args.quick else GPU).items()}
    if args.student:
        budget["student_sft"]["student_model"] = args.student
    instance = dg.DagsterInstance.get()
    started = time.monotonic()
    result = dg.materialize(
        [*definitions.student_assets, *definitions.student_checks],
        resources=definitions.defs.resources,
        run_config={"ops": {name: {"config": values} for name, values in budget.items()}},
        instance=instance,
        raise_on_error=False,
    )
    training = result.output_for_node("student_sft")
    scores = result.output_for_node("student_eval")
    if not training.height or not scores.height:
        raise SystemExit("nothing was trained or scored: publish a revision first (make demo)")
    overall = {row["eval_set"]: row for row in scores.filter(scores["group"] == "all").to_dicts()}
    for name, row in overall.items():
        print(
            f"{name}: n={row['n']} base {row['base_accuracy']:.3f} tuned {row['tuned_accuracy']:.3f} "
            f"gain {row['difference']:+.3f} [{row['difference_low']:+.3f}, {row['difference_high']:+.3f}]"
        )
    gsm8k = overall.get("gsm8k_test", {})
    print(f"wall {time.monotonic() - started:.0f} s; run {'passed' if result.success else 'FAILED (see the gate)'}")
    print(
        f"gsm8k_base={gsm8k.get('base_accuracy', float('nan')):.4f} "
        f"gsm8k_tuned={gsm8k.get('tuned_accuracy', float('nan')):.4f} "
        f"gsm8k_gain={gsm8k.get('difference', float('nan')):+.4f} "
        f"eval_split_gain={overall.get('eval_split', {}).get('difference', float('nan')):+.4f} "
        f"steps={training['steps'][0]} train_s={training['wall_s'][0]:.0f}"
    )


if __name__ == "__main__":
    main()
