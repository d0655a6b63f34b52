"""The data sets the project ships (GSM8K train seeds; GSM8K test and MATH-500 benchmarks), for the tests to import."""

from filters.decontamination import SHIPPED_BENCHMARKS
from generators.problems.seeds import GSM8K_TRAIN

GSM8K_TEST, MATH500 = SHIPPED_BENCHMARKS
__all__ = ["GSM8K_TEST", "GSM8K_TRAIN", "MATH500"]
