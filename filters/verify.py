"""Answer verification with math-verify, run in worker processes so its SIGALRM timeouts work and never hang a run.

Answer types: multiple choice (a letter), boolean (yes/no, true/false), math (numbers, fractions, LaTeX, sets,
intervals, tuples: math-verify), and exact text. Where a problem has no gold answer, a majority vote over its samples
decides, and on problems that do have gold the same vote is audited against the gold check.
"""

from __future__ import annotations

import ast
import hashlib
import json
import multiprocessing
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, TimeoutError, wait
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from filters import schemas
from filters.answers import boolean_value, choice_letter, extract_answer, extract_answer_with_method
from filters.contract import Drop, Filter, FilterResult
from filters.families import FAMILY_FACT, binomial_tail, chance_level, family_contradiction, has_family_check
from filters.steps import TRACE_REASONS, check_trace, marked_at, source_of, split_steps
from filters.steps.reference import CONTRADICTS_REFERENCE

__all__ = [
    "CHECKS_VERSION",
    "JUDGE_RULES",
    "ReasoningChecks",
    "StepJudge",
    "answer_type",
    "extract_answer",
    "majority_vote",
    "majority_votes",
    "verify",
    "verify_many",
    "verify_traces",
]

WRONG_ANSWER, GOLD_UNPARSEABLE, OVER_LIMIT, AT_CHANCE, JUDGED_WRONG, JUDGES_DISAGREE = schemas.reasons(
    __name__, "wrong_answer", "gold_unparseable", "over_per_problem_limit", "answer_at_chance_level",
    "judge_first_wrong_step", "judges_disagree",
)  # fmt: skip
PROCESS_REASONS = (
    *(code for code in TRACE_REASONS if code != CONTRADICTS_REFERENCE),  # a right answer agrees with its reference
    FAMILY_FACT,
    JUDGED_WRONG,
    JUDGES_DISAGREE,
)
"""The codes that reject a right answer's reasoning: the card's columns, the audit's ``rejected_by_reasoning``."""


def verdict_sources(module: str, found: dict[str, bytes]) -> dict[str, bytes]:
    """The source of ``module`` (a ``filters`` module) and of every ``filters`` module it imports, directly or not,
    by module name."""
    base = Path(__file__).parent.joinpath(*module.split(".")[1:])
    path = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)
    if path is None or module in found:
        return found  # an imported name, not a module
    found[module] = path.read_bytes()
    for node in ast.walk(ast.parse(found[module])):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "filters":
                verdict_sources(name, found)
    return found


CHECKS_VERSION = hashlib.sha256(
    b"".join(name.encode() + b"\0" + text for name, text in sorted(verdict_sources(__name__, {}).items()))
).hexdigest()[:12]
"""What the verdicts of this code are: a hash of the source of this module and every ``filters`` module it imports
(answer extraction, the process checks, the family checks). Rows verified under another version may be judged
otherwise now; publishing names their batches."""
_MATHY = re.compile(r"[\\^_{}0-9=<>]")
_WORDS = re.compile(r"[A-Za-z][A-Za-z .,'-]*[A-Za-z.]")  # two or more letters: a text answer, not a product of symbols


def _as_latex(answer: str) -> str:
    answer = answer.strip()
    return answer if answer.startswith("$") else f"${answer}$"


@lru_cache(maxsize=4096)
def _parse(answer: str, timeout_s: int) -> tuple:
    from math_verify import parse

    return tuple(parse(_as_latex(answer), parsing_timeout=timeout_s))


def _is_math(parsed: tuple) -> bool:
    return any(not isinstance(item, str) for item in parsed)


def answer_type(gold: str, timeout_s: int = 5) -> str | None:
    """``choice``, ``boolean``, ``math`` or ``text``; None for an empty gold or math that math-verify cannot read."""
    gold = gold.strip()
    if not gold:
        return None
    if choice_letter(gold):
        return "choice"
    if boolean_value(gold):
        return "boolean"
    if _WORDS.fullmatch(gold):
        return "text"
    if _is_math(_parse(gold, timeout_s)):
        return "math"
    return None if _MATHY.search(gold) else "text"


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("\\text", "").strip(" .{}$").split())


def same_answer(predicted: str, gold: str, kind: str, timeout_s: int = 5) -> bool:
    """Whether two extracted answers agree under the gold's answer type."""
    if kind == "choice":
        return choice_letter(predicted) == choice_letter(gold)
    if kind == "boolean":
        return boolean_value(predicted) == boolean_value(gold)
    if _normal(predicted) == _normal(gold):
        return True
    if kind == "text":
        return False
    from math_verify import verify as math_equal

    pred_parsed = _parse(predicted, timeout_s)
    return bool(pred_parsed) and bool(
        math_equal(list(_parse(gold, timeout_s)), list(pred_parsed), timeout_seconds=timeout_s)
    )


def verify(prediction_text: str, gold: str, timeout_s: int = 5) -> bool | None:
    """True if the final answer of ``prediction_text`` equals ``gold``; None where the gold cannot be parsed."""
    kind = answer_type(gold, timeout_s)
    if kind is None:
        return None
    predicted = extract_answer(prediction_text)
    return predicted is not None and same_answer(predicted, gold.strip(), kind, timeout_s)


def _verify_chunk(pairs: list[tuple[str, str]], timeout_s: int) -> list[bool | None]:
    return [verify(prediction, gold, timeout_s) for prediction, gold in pairs]


def verify_many(
    predictions: Sequence[str], golds: Sequence[str], workers: int = 2, timeout_s: int = 5, chunk: int = 64
) -> list[bool | None]:
    """``verify`` over many pairs in a pool of processes; order kept.

    Each item is bounded by math-verify's own timeouts; a worker stuck past the chunk's whole budget (C code a signal
    cannot interrupt) is killed and its chunk counts as unverified (False), so nothing can hang a run.
    """
    pairs = list(zip(predictions, golds, strict=True))
    if not pairs:
        return []
    chunks = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(chunks))), mp_context=context)
    try:
        futures = [pool.submit(_verify_chunk, part, timeout_s) for part in chunks]
        budget = 30 + 3 * timeout_s * chunk * len(chunks) / max(1, min(workers, len(chunks)))
        done, _ = wait(futures, timeout=budget)
        out: list[bool | None] = []
        for future, part in zip(futures, chunks, strict=True):
            try:
                out += future.result(timeout=0) if future in done else [False] * len(part)
            except TimeoutError:
                out += [False] * len(part)
        return out
    finally:
        for process in list(getattr(pool, "_processes", {}).values()):
            if process.is_alive():
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)


def majority_vote(
    answers: Sequence[str | None], min_agreement: float = 0.5, timeout_s: int = 5
) -> tuple[str | None, float, list[bool]]:
    """The answer most samples agree on (equivalence by answer type), its share of all samples, and per sample
    whether it agrees with the winner. No winner (None) where the share is under ``min_agreement`` or tied."""
    clusters: list[list[int]] = []
    for index, answer in enumerate(answers):
        if not answer:
            continue
        kind = answer_type(answer, timeout_s) or "text"
        for cluster in clusters:
            if same_answer(answer, answers[cluster[0]] or "", kind, timeout_s):
                cluster.append(index)
                break
        else:
            clusters.append([index])
    if not clusters:
        return None, 0.0, [False] * len(answers)
    clusters.sort(key=len, reverse=True)
    best = clusters[0]
    share = len(best) / len(answers)
    if share < min_agreement or (len(clusters) > 1 and len(clusters[1]) == len(best)):
        return None, share, [False] * len(answers)
    members = set(best)
    return answers[best[0]], share, [i in members for i in range(len(answers))]


def majority_votes(
    groups: Sequence[Sequence[str | None]], min_agreement: float = 0.5, workers: int = 2, timeout_s: int = 5
) -> list[tuple[str | None, float, list[bool]]]:
    """``majority_vote`` over many groups of answers in worker processes (math-verify's timeouts need main threads)."""
    if not groups:
        return []
    size = max(1, len(groups) // max(1, workers))
    parts = [list(map(list, groups[i : i + size])) for i in range(0, len(groups), size)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        done = pool.map(_vote_chunk, parts, [min_agreement] * len(parts), [timeout_s] * len(parts))
        return [vote for part in done for vote in part]


def _vote_chunk(
    groups: list[list[str | None]], min_agreement: float, timeout_s: int
) -> list[tuple[str | None, float, list[bool]]]:
    return [majority_vote(group, min_agreement, timeout_s) for group in groups]


def _jaccard(a: str, b: str) -> float:
    sa, sb = set(a.lower().split()), set(b.lower().split())
    return len(sa & sb) / max(1, len(sa | sb))


def diverse_subset(texts: Sequence[str], k: int) -> list[int]:
    """Indexes of up to ``k`` texts chosen greedily so each new one is least similar (word Jaccard) to those chosen."""
    if len(texts) <= k:
        return list(range(len(texts)))
    chosen = [0]
    while len(chosen) < k:
        rest = [i for i in range(len(texts)) if i not in chosen]
        chosen.append(min(rest, key=lambda i: max(_jaccard(texts[i], texts[j]) for j in chosen)))
    return sorted(chosen)


StepVerdicts = Callable[[list[str], list[list[str]], list[str], list[str]], list[int | None]]
"""(problems, their traces' steps, their gold answers, their domains) -> per trace the first wrong step a judge names,
-1 for none, None where it gave no usable verdict."""


@dataclass(frozen=True)
class StepJudge:
    """A judge of first wrong steps (a critic model, a process reward model, rollouts) and the label source its
    verdicts carry (``LABEL_SOURCES``)."""

    source: str
    verdicts: StepVerdicts


JUDGE_RULES = ("any", "consensus")
"""How several step judges decide: ``any`` rejects at the earliest step any judge names; ``consensus`` (Qwen's
consensus filtering) keeps a trace only where every judge finds no wrong step, rejects at the step every judge names,
and rejects a trace the judges disagree on (or one a judge gave no verdict on) as ``judges_disagree``."""


@dataclass(frozen=True)
class ReasoningChecks:
    """Which reasoning checks a right answer must also pass: the process check of calculations and derivation
    (``filters.steps``), the family facts (``filters.families``), where the answer space is small agreement with the
    gold above chance at one-sided level ``chance_alpha`` (None turns that gate off), and where any are given, step
    judges combined by ``judge_rule`` (none by default: a judge must be far more capable than the embedded model)."""

    process: bool = True
    family: bool = True
    chance_alpha: float | None = 0.05
    step_judges: tuple[StepJudge, ...] = ()
    judge_rule: str = "any"

    def __post_init__(self) -> None:
        if self.judge_rule not in JUDGE_RULES:
            raise ValueError(f"judge_rule {self.judge_rule!r}: one of {JUDGE_RULES}")


def _spec(raw: str | None) -> dict | None:
    return json.loads(raw) if raw else None


@dataclass(frozen=True)
class ReasoningVerdicts:
    """Per row: why its reasoning fails (None where it holds or the answer is wrong), the checks it passed, its step
    labels with who located the first bad step (``LABEL_SOURCES``; None where none is), and its problem's chance-level
    p-value (None where the answer space is open); per tested problem its (chance, samples, p-value)."""

    flaws: list[Drop | None]
    passed: list[list[str]]
    labels: list[list[bool | None]]
    sources: list[str | None]
    located: list[Drop | None]  # of a wrong answer: what shows its first bad step
    p_values: list[float | None]
    tested: list[tuple[float, int, float]]


def reasoning_verdicts(cot: pl.DataFrame, right: Sequence[bool | None], checks: ReasoningChecks) -> ReasoningVerdicts:
    """The reasoning checks over the rows whose answer is right (``right``), in the order of ``cot``."""
    n = cot.height
    templates = cot["problem_template"].to_list() if "problem_template" in cot.columns else [None] * n
    specs = [_spec(raw) for raw in cot["spec"].to_list()] if "spec" in cot.columns else [None] * n
    problems, texts, golds = cot["problem"].to_list(), cot["text"].to_list(), cot["answer"].to_list()
    # a seed's worked solution, where it has one, is the reference a wrong answer's first wrong step is found against
    references = [(spec or {}).get("solution") or gold for spec, gold in zip(specs, golds, strict=True)]
    reasons: list[Drop | None] = [None] * n
    passed: list[list[str]] = [[] for _ in range(n)]
    labels: list[list[bool | None]] = [[] for _ in range(n)]
    sources: list[str | None] = [None] * n
    located: list[Drop | None] = [None] * n
    for i in range(n):
        if right[i] is False and checks.process and golds[i]:
            # a wrong answer: where the rules, or the reference (the worked solution, else the gold answer), first
            # show it wrong
            shown = check_trace(problems[i], texts[i], reference=references[i])
            labels[i] = shown.labels
            if shown.error is not None and shown.first_bad_step is not None:
                located[i], sources[i] = shown.error, source_of(shown.error.code)
        if not right[i]:
            continue
        passed[i].append("answer")
        if checks.process:
            result = check_trace(problems[i], texts[i])
            labels[i] = result.labels
            if result.error:
                reasons[i], sources[i] = result.error, source_of(result.error.code)
                continue
            passed[i] += [f"calculations:{result.claims}", "derived"]
        if checks.family:
            if contradiction := family_contradiction(templates[i], specs[i], texts[i]):
                reasons[i], sources[i] = Drop(FAMILY_FACT, str(contradiction)), "family"
                steps = split_steps(texts[i])
                at = next((k for k, step in enumerate(steps) if contradiction.assertion in step), len(steps) - 1)
                labels[i] = marked_at(labels[i], len(steps), at)
                continue
            if has_family_check(templates[i]):
                passed[i].append(f"family:{templates[i]}")
    if checks.step_judges:
        domains = cot["domain"].to_list() if "domain" in cot.columns else []
        _judge_steps(checks, problems, texts, golds, domains, reasons, passed, labels, sources)
    p_values: list[float | None] = [None] * n
    tested: list[tuple[float, int, float]] = []
    by_problem: dict[str, list[int]] = {}
    for i, problem_id in enumerate(cot["problem_id"].to_list()):
        by_problem.setdefault(problem_id, []).append(i)
    for indexes in by_problem.values():
        first = indexes[0]
        kind = answer_type(golds[first]) if golds[first] else None
        chance = chance_level(kind, templates[first], specs[first])
        if chance is None or checks.chance_alpha is None:
            continue
        hits = sum(bool(right[i]) for i in indexes)
        p = binomial_tail(hits, len(indexes), chance)
        tested.append((chance, len(indexes), p))
        for i in indexes:
            p_values[i] = p
            if not right[i] or reasons[i]:
                continue
            if p > checks.chance_alpha:
                reasons[i] = Drop(AT_CHANCE, f"{hits}/{len(indexes)} right at chance {chance:.2f}, p={p:.3f}")
            else:
                passed[i].append(f"above_chance:p={p:.3g}")
    return ReasoningVerdicts(reasons, passed, labels, sources, located, p_values, tested)


def _judge_steps(
    checks: ReasoningChecks,
    problems: list[str],
    texts: list[str],
    golds: list[str | None],
    cot_domains: list[str],
    reasons: list[Drop | None],
    passed: list[list[str]],
    labels: list[list[bool | None]],
    sources: list[str | None],
) -> None:
    """The judges' first wrong step for every row still standing (right answer, sound by the other checks), combined
    by the checks' ``judge_rule``."""
    standing = [i for i in range(len(texts)) if passed[i] and reasons[i] is None]
    steps = [split_steps(texts[i]) for i in standing]
    domains = cot_domains or ["math"] * len(texts)  # rows without a domain are math
    asked = (
        [problems[i] for i in standing],
        steps,
        [golds[i] or "" for i in standing],
        [domains[i] for i in standing],
    )
    verdicts = [judge.verdicts(*asked) for judge in checks.step_judges]
    names = [judge.source for judge in checks.step_judges]
    for n, (i, trace) in enumerate(zip(standing, steps, strict=True)):
        said = [judged[n] for judged in verdicts]
        told = {name: "no verdict" if v is None else "no wrong step" if v < 0 else f"step {v}"
                for name, v in zip(names, said, strict=True)}  # fmt: skip
        passed[i] += [
            f"{name}:{verdict.replace(' ', '_')}" for name, verdict in told.items() if "step " not in verdict
        ]
        wrong = [(v, name) for v, name in zip(said, names, strict=True) if v is not None and v >= 0]
        if checks.judge_rule == "consensus" and (None in said or len(set(said)) > 1):
            reasons[i] = Drop(JUDGES_DISAGREE, ", ".join(f"{name}: {verdict}" for name, verdict in told.items()))
        elif wrong:
            at, source = min(wrong, key=lambda named: named[0])
            reasons[i] = Drop(JUDGED_WRONG, f"{at} ({trace[at][:120]})")
            sources[i] = "consensus" if checks.judge_rule == "consensus" and len(names) > 1 else source
            labels[i] = marked_at(labels[i], len(trace), at)


def chance_gate_report(tested: Sequence[tuple[float, int, float]], alpha: float | None) -> dict[str, object]:
    """Problems the chance gate tested (chance, samples, p-value each) and rejected; and the sample counts at which
    it cannot pass at all (every sample right still has p = chance^n above alpha)."""
    hopeless = sorted({(round(c, 3), n) for c, n, _ in tested if alpha is not None and c**n > alpha})
    return {
        "alpha": alpha,
        "problems_tested": len(tested),
        "problems_at_chance": sum(alpha is not None and p > alpha for _, _, p in tested),
        "cannot_pass": [
            f"{n} samples at chance {c}: even {n}/{n} right has p={c**n:.3f} > {alpha}; raise samples_per_problem"
            for c, n in hopeless
        ],
    }


class VerifyTraces(Filter):
    """Decide every CoT row by its gold answer (math-verify) or, where there is none, by majority vote; then a
    right answer must also pass the reasoning checks (``ReasoningChecks``).

    Keeps up to ``max_per_problem`` verified traces a problem, preferring diverse ones. Adds ``verified``,
    ``extracted_answer``, ``extraction``, ``verifier`` (the method that decided the answer), ``teacher_pass_rate``,
    ``reasoning_checks`` (the checks the row passed), ``step_labels`` and ``chance_p_value``. Also returns the
    verifier audit (on problems with gold, how often the majority vote agrees with the gold check) and the reasoning
    report (right answers, and how many of those each reasoning check rejected). Rows of other kinds pass through
    with ``verified`` null (after the CoT rows).
    """

    name = "verified"

    def __init__(
        self,
        workers: int = 2,
        max_per_problem: int = 4,
        min_agreement: float = 0.5,
        checks: ReasoningChecks | None = None,
    ) -> None:
        self.workers, self.max_per_problem, self.min_agreement = workers, max_per_problem, min_agreement
        self.checks = checks or ReasoningChecks()
        self.audit: dict[str, object] = {}
        self._decisions: list[Drop | None] = []

    def reads(self) -> Sequence[str]:
        return ("id", "kind", "text", "answer", "problem_id", "problem", "problem_template", "spec")

    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        return self._decisions

    def annotate(self, frame: pl.DataFrame) -> pl.DataFrame:
        workers, max_per_problem, min_agreement, checks = (
            self.workers, self.max_per_problem, self.min_agreement, self.checks
        )  # fmt: skip
        is_cot = frame["kind"] == "cot"
        cot = frame.filter(is_cot)
        extracted = [extract_answer_with_method(text) for text in cot["text"]]
        golds = [a or "" for a in cot["answer"].to_list()]
        gold_verdicts = verify_many(cot["text"].to_list(), golds, workers=workers)
        problem_ids = cot["problem_id"].to_list()
        by_problem: dict[str, list[int]] = {}
        for index, problem in enumerate(problem_ids):
            by_problem.setdefault(problem, []).append(index)
        problems = list(by_problem)
        groups = [[extracted[i][0] for i in by_problem[p]] for p in problems]
        votes = majority_votes(groups, min_agreement, workers)
        vote_verdicts: list[bool | None] = [None] * cot.height
        for problem, (winner, _, agrees) in zip(problems, votes, strict=True):
            for index, agree in zip(by_problem[problem], agrees, strict=True):
                vote_verdicts[index] = None if winner is None else agree
        winners = {problem: vote[0] for problem, vote in zip(problems, votes, strict=True)}
        verdicts, methods = [], []
        for gold, by_gold, by_vote in zip(golds, gold_verdicts, vote_verdicts, strict=True):
            if gold.strip():
                verdicts.append(by_gold)
                methods.append(f"math-verify:{answer_type(gold) or 'unparseable'}")
            else:
                verdicts.append(bool(by_vote))
                methods.append("majority_vote")
        audited = [
            (g, v is True)
            for gold, g, v in zip(golds, gold_verdicts, vote_verdicts, strict=True)
            if gold.strip() and g is not None
        ]
        accepted = [g for g, v in audited if v]
        audit: dict[str, object] = {
            "audited_rows": len(audited),
            "majority_vote_agrees_with_gold": round(sum(g == v for g, v in audited) / len(audited), 4)
            if audited
            else None,
            "majority_vote_precision": round(sum(accepted) / len(accepted), 4) if accepted else None,
            "rows_by_majority_vote": methods.count("majority_vote"),
        }
        cot = cot.with_columns(
            pl.Series("verified", [bool(v) for v in verdicts], dtype=pl.Boolean),
            pl.Series("extracted_answer", [e[0] for e in extracted], dtype=pl.String),
            pl.Series("extraction", [e[1] for e in extracted], dtype=pl.String),
            pl.Series("verifier", methods, dtype=pl.String),
        ).with_columns(
            pl.col("verified").cast(pl.Float64).mean().over("problem_id").alias("teacher_pass_rate"),
            pl.when(pl.col("verifier") == "majority_vote")
            .then(pl.col("problem_id").replace_strict(winners, default=None, return_dtype=pl.String))
            .otherwise(pl.col("answer"))
            .alias("answer"),
        )
        judged = reasoning_verdicts(cot, verdicts, checks)
        flaws = judged.flaws
        cot = cot.with_columns(
            pl.Series("reasoning_checks", judged.passed, dtype=pl.List(pl.String)),
            pl.Series("step_labels", judged.labels, dtype=pl.List(pl.Boolean)),
            pl.Series("step_label_source", judged.sources, dtype=pl.String),
            pl.Series("chance_p_value", judged.p_values, dtype=pl.Float64),
            pl.Series("verified", [bool(v) and flaw is None for v, flaw in zip(verdicts, flaws, strict=True)]),
        )
        keep: set[int] = set()
        texts = cot["text"].to_list()
        for indexes in by_problem.values():
            correct = [i for i in indexes if verdicts[i] and flaws[i] is None]
            keep.update(correct[j] for j in diverse_subset([texts[i] for i in correct], max_per_problem))
        decisions = [
            Drop(GOLD_UNPARSEABLE)
            if verdicts[i] is None
            else Drop(WRONG_ANSWER, str(judged.located[i]) if judged.located[i] else None)
            if not verdicts[i]
            else flaws[i] or (None if i in keep else Drop(OVER_LIMIT))
            for i in range(cot.height)
        ]
        right = sum(bool(v) for v in verdicts)
        rejected = [f.code for f in flaws if f]
        audit["reasoning"] = {
            "right_answer_rows": right,
            "rejected_by_reasoning": {code: rejected.count(code) for code in sorted(set(rejected))},
            "verified_rows": right - len(rejected),
            "chance_gate": chance_gate_report(judged.tested, checks.chance_alpha),
        }
        self.audit = audit
        others = frame.filter(~is_cot)
        self._decisions = [*decisions, *[None] * others.height]
        return pl.concat([cot, others], how="diagonal_relaxed")


def would_verify(traces: pl.DataFrame, workers: int = 2) -> list[bool]:
    """Per CoT row (its solution in ``trace``, as generation writes it): whether ``verified`` would keep it on its
    answer and its reasoning, every sample counted (no per-problem cap). The chance gate is left to ``verified``, which
    sees every sample of a problem."""
    if not traces.height:
        return []
    columns = ("id", "problem_id", "problem", "answer", "problem_template", "spec")
    frame = traces.select(*(c for c in columns if c in traces.columns), pl.col("trace").alias("text"))
    result, _ = verify_traces(
        frame.with_columns(pl.lit("cot").alias("kind")), workers, 10**9, checks=ReasoningChecks(chance_alpha=None)
    )
    kept = set(result.kept["id"].to_list())
    return [row in kept for row in traces["id"].to_list()]


def small_answer_spaces(problems: pl.DataFrame) -> list[bool]:
    """Per problem: whether its answers can be guessed (yes/no, a choice, an ordering), where the chance gate tests
    the problem's samples together."""
    templates = problems["template"].to_list() if "template" in problems.columns else [None] * problems.height
    specs = problems["spec"].to_list() if "spec" in problems.columns else [None] * problems.height
    return [
        chance_level(answer_type(gold) if gold else None, template, _spec(spec)) is not None
        for gold, template, spec in zip(problems["answer"].to_list(), templates, specs, strict=True)
    ]


def verify_traces(
    frame: pl.DataFrame,
    workers: int = 2,
    max_per_problem: int = 4,
    min_agreement: float = 0.5,
    checks: ReasoningChecks | None = None,
) -> tuple[FilterResult, dict[str, object]]:
    """:class:`VerifyTraces` applied once: the result and the verifier audit."""
    verifier = VerifyTraces(workers, max_per_problem, min_agreement, checks)
    return verifier(frame), verifier.audit
