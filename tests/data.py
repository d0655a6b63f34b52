"""The data sets the project ships (GSM8K train seeds; GSM8K test and MATH-500 benchmarks), for the tests to import."""

import json
from pathlib import Path

from filters.decontamination import SHIPPED_BENCHMARKS
from generators.problems.seeds import GSM8K_TRAIN

GSM8K_TEST, MATH500 = SHIPPED_BENCHMARKS
__all__ = ["GSM8K_TEST", "GSM8K_TRAIN", "MATH500", "write_sum_seeds"]


def write_sum_seeds(path: Path, count: int = 8) -> Path:
    """A seed file of ``count`` sums in GSM8K's format ("What is 1 + 3?", "#### 4"), which the simulated teachers of
    the tests answer right."""
    rows = ({"question": f"What is {i} + {2 * i + 1}?", "answer": f"#### {3 * i + 1}"} for i in range(1, count + 1))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
