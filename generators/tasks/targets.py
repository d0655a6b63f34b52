"""Sampling to a target: rounds of CoT samples until a batch has the verified rows it asks for, or its budget is spent.

A run asks for verified rows, not samples; a teacher's yield is unknown in advance (a 270M base model: a few percent;
a strong teacher on hard problems: 20-60%). So generation goes in rounds, as rejection sampling does (RFT, STaR):
each round's traces are checked in process by ``accept`` (the answer and reasoning checks ``verified`` runs), a
problem stops once it has ``per_problem`` verified traces, the others get more samples, and new problems are drawn
from the batch's pool while the target is short, until the target is met or a budget (samples per problem, requests,
rounds) is spent. ``verified`` stays the authority: it decides every row again.

A problem whose answer space is small (yes/no, a choice) is never stopped for reaching ``per_problem``: stopping at a
success would bias the chance gate's binomial test (optional stopping), so it takes its samples in whole rounds.
Requests are numbered per problem (its ``sample_index`` goes on from round to round), so a rerun after a crash asks
the same requests again and the response cache answers every completed one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from filters.schemas import rejections_frame
from generators.tasks.base import Task, TaskOutput
from generators.teachers.backend import GenerationStats, ProgressFn

Accept = Callable[[pl.DataFrame], Sequence[bool]]
"""Per row of every trace so far (a problem's samples together, for majority votes): whether it would be verified."""


@dataclass(frozen=True)
class Target:
    """What a batch asks for and what it may spend: ``rows`` verified traces in all (None: no total), at most
    ``per_problem`` of them a problem (None: no cap), ``samples_per_round`` samples a problem each round, and the
    budget: ``max_samples_per_problem``, ``max_requests`` (None: no limit) and ``max_rounds``."""

    rows: int | None = None
    per_problem: int | None = None
    samples_per_round: int = 4
    max_samples_per_problem: int = 16
    max_requests: int | None = None
    max_rounds: int = 8

    def __post_init__(self) -> None:
        if (self.rows is not None and self.rows < 1) or (self.per_problem is not None and self.per_problem < 1):
            raise ValueError(f"target rows {self.rows}, per problem {self.per_problem}: at least 1 where set")
        if not 1 <= self.samples_per_round <= self.max_samples_per_problem:
            raise ValueError(
                f"samples_per_round {self.samples_per_round}: from 1 to max_samples_per_problem "
                f"({self.max_samples_per_problem})"
            )
        if self.max_rounds < 1 or (self.max_requests is not None and self.max_requests < 1):
            raise ValueError(f"max_rounds {self.max_rounds}, max_requests {self.max_requests}: at least 1")


@dataclass
class SamplingReport:
    """What sampling to a target spent and got: per round, problems sampled, requests and verified rows so far; in
    all, whether the target was met (None: there was none), problems stopped at ``per_problem`` and problems given
    up with their budget spent short of it, and per domain samples, verified rows and samples per verified row."""

    rounds: list[dict] = field(default_factory=list)
    requests: int = 0
    verified: int = 0
    target_met: bool | None = None
    stopped_at_k: int = 0
    given_up: int = 0
    problems_sampled: int = 0
    by_domain: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        """One line a person reads first."""
        if self.target_met is None:
            aim = "no target"
        else:
            aim = "target met" if self.target_met else "target NOT met: the budget ran out first"
        return (
            f"{aim}: {self.verified} verified rows from {self.requests} requests in {len(self.rounds)} rounds over "
            f"{self.problems_sampled} problems ({self.stopped_at_k} stopped at k, {self.given_up} given up)"
        )


def _drawn(pool: int, active: int, target: Target, verified: int) -> int:
    """How many new problems the next round draws: enough for the shortfall at ``per_problem`` each."""
    if target.rows is None or verified >= target.rows or active >= pool:
        return 0
    per = target.per_problem or target.samples_per_round
    return min(pool - active, max(1, math.ceil((target.rows - verified) / per)))


def sample_to_target(
    task: Task,
    problems: pl.DataFrame,
    target: Target,
    accept: Accept,
    small_answer_space: Sequence[bool],
    progress: ProgressFn | None = None,
    on_round: Callable[[dict], None] | None = None,
) -> tuple[TaskOutput, SamplingReport]:
    """Rounds of ``task`` (whose ``samples`` is the round's samples a problem) over ``problems`` until ``target``:
    every row made and every rejection, the accounting of every round, and the report. ``small_answer_space`` says
    per problem whether it is never stopped at ``per_problem``; ``on_round`` hears each round's line of the report."""
    pool = problems.to_dicts()
    spent = [0] * len(pool)
    verified = [0] * len(pool)
    stopped = [False] * len(pool)
    active = len(pool) if target.rows is None or target.per_problem is None else 0
    active += _drawn(len(pool), active, target, 0)
    outputs: list[TaskOutput] = []
    report = SamplingReport()
    for _ in range(target.max_rounds):
        todo = [i for i in range(active) if not stopped[i] and spent[i] < target.max_samples_per_problem]
        if target.max_requests is not None:
            todo = todo[: (target.max_requests - report.requests) // task.samples]
        if not todo:
            break
        output = task.run([pool[i] for i in todo], progress, [spent[i] for i in todo])
        outputs.append(output)
        for i in todo:
            spent[i] += task.samples
        report.requests += output.stats.requests
        rows = pl.concat([o.rows for o in outputs], how="vertical_relaxed")
        passed = rows.select("problem_id").with_columns(pl.Series("ok", list(accept(rows)), dtype=pl.Boolean))
        counts = dict(passed.group_by("problem_id").agg(pl.col("ok").sum()).iter_rows())
        for i in range(active):
            verified[i] = counts.get(pool[i]["problem_id"], 0)
            k = target.per_problem
            if k is not None and verified[i] >= k and not small_answer_space[i]:
                stopped[i] = True
        report.verified = sum(min(v, target.per_problem or v) for v in verified)
        report.rounds.append({"problems": len(todo), "requests": output.stats.requests, "verified": report.verified})
        if on_round is not None:
            on_round({"round": len(report.rounds), **report.rounds[-1]})
        if target.rows is not None and report.verified >= target.rows:
            break
        active += _drawn(len(pool), active, target, report.verified)
    if target.rows is not None:
        report.target_met = report.verified >= target.rows
    report.problems_sampled = sum(s > 0 for s in spent)
    report.stopped_at_k = sum(stopped)
    budget_spent = [s >= target.max_samples_per_problem for s in spent]
    report.given_up = sum(b and not s for b, s in zip(budget_spent, stopped, strict=True))
    report.by_domain = _by_domain(pool, spent, verified, target.per_problem)
    merged = TaskOutput(
        pl.concat([o.rows for o in outputs], how="vertical_relaxed") if outputs else pl.DataFrame(schema=task.outputs),
        pl.concat([o.rejections for o in outputs], how="vertical_relaxed") if outputs else rejections_frame([]),
        GenerationStats.merged([o.stats for o in outputs]),
    )
    return merged, report


def _by_domain(pool: list[dict], spent: list[int], verified: list[int], k: int | None) -> list[dict]:
    """Per domain: samples spent, verified rows counted (at most ``k`` a problem) and samples per verified row."""
    table: dict[str, list[int]] = {}
    for problem, samples, good in zip(pool, spent, verified, strict=True):
        if samples:
            totals = table.setdefault(problem.get("domain") or "unknown", [0, 0])
            totals[0] += samples
            totals[1] += min(good, k or good)
    return [
        {"domain": domain, "samples": s, "verified": v, "samples_per_verified_row": round(s / v, 1) if v else None}
        for domain, (s, v) in sorted(table.items())
    ]
