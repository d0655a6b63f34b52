"""The educational-value bar for textbook passages, decided on the judge's 0-5 score (``edu_score``)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from filters.contract import Drop, Filter
from filters.schemas import reasons

EDU_REASONS = reasons(__name__, "edu_score_unknown", "edu_score_below_min")


class EduScoreFilter(Filter):
    """Passages scored under ``min_score`` go (``edu_score_below_min``), and those the judge gave no score
    (``edu_score_unknown``); rows of other kinds, and every row where ``min_score`` is 0, stay."""

    name = "reasoning_filtered"

    def __init__(self, min_score: int) -> None:
        self.min_score = min_score

    def reads(self) -> Sequence[str]:
        return ("kind", "edu_score")

    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        decisions: list[Drop | None] = []
        for kind, score in frame.select("kind", "edu_score").iter_rows():
            if kind != "textbook" or self.min_score <= 0:
                decisions.append(None)
            elif score is None:
                decisions.append(Drop("edu_score_unknown"))
            else:
                below = score < self.min_score
                decisions.append(Drop("edu_score_below_min", f"{score} < {self.min_score}") if below else None)
        return decisions
