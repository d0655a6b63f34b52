"""How well a step judge finds the first wrong step of real model solutions, on a ProcessBench-format file.

Each line: ``problem``, ``steps`` (a list), ``label`` (the 0-based first wrong step a person found, -1 where the
solution is sound; absent where a row is labelled by its final answer only), and optionally ``reference`` (a worked
solution), ``answer`` (the gold answer; else the one a GSM8K ``####`` or a ``\\boxed{}`` reference ends with) and
``final_answer_correct``. The default file is the shipped MR-GSM8K sample (``bench/data/mr_gsm8k_dev.jsonl``, MIT): 282
GSM8K-style solutions, every one wrong somewhere.

Judges: the rule checks (``filters.steps.check_trace``) without and with the reference, always; and, where their
servers are given, a critic chat model (``--critic-url``), a process reward model behind vLLM's pooling runner
(``--prm-url``), Monte-Carlo rollouts by a teacher (``--teacher-url``, which needs gold answers), and the consensus of
the model judges given (a verdict only where all agree, as in Qwen's consensus filtering). Keys come from
$JUDGE_API_KEY, $PRM_API_KEY and $TEACHER_API_KEY.

Reported per judge: solutions flagged; on erroneous solutions, the first wrong step put on the person's step and a
sound step flagged before it; on sound ones (label -1), the share kept; solutions it gave a verdict on; and where the
file has them, wrong-answer and right-answer solutions flagged and ProcessBench's F1 (the harmonic mean of the
accuracy on erroneous solutions and on sound ones). The last line is ``key=value`` pairs.

``bench/data/model_style_sound.jsonl`` is another shipped file: 242 sound solutions written as chat and math models
write them (label -1 throughout), a measure of false alarms. ``bench/data/gsm8k_gpt3_solutions.jsonl`` is the third:
476 solutions by four GPT-3 models to 119 GSM8K test problems, labelled by final answer only (OpenAI's
grade-school-math repository, MIT).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.answers import last_boxed
from filters.steps import check_trace
from generators.tasks.judge import judge_first_wrong_steps
from generators.tasks.rollouts import rollout_first_wrong_steps
from generators.teachers.backend import SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.openai_backend import OpenAICompatibleBackend
from generators.teachers.prm import PrmClient

SHIPPED = Path(__file__).parent / "data" / "mr_gsm8k_dev.jsonl"
_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$")
Judge = Callable[[list[dict]], list[int | None]]
"""Rows -> per row the first wrong step (-1: none; None: no verdict)."""


def rule_verdicts(rows: list[dict], with_reference: bool) -> list[int | None]:
    """``check_trace``'s first bad step of each solution (-1: none)."""
    found: list[int | None] = []
    for row in rows:
        reference = row.get("reference") if with_reference else None
        checked = check_trace(row["problem"], "\n".join(row["steps"]), reference=reference)
        found.append(-1 if checked.first_bad_step is None else checked.first_bad_step)
    return found


def gold_answer(row: dict) -> str:
    """The row's gold answer: its ``answer``, else the end of its reference (GSM8K's ``####``, or ``\\boxed{}``)."""
    if row.get("answer"):
        return str(row["answer"])
    reference = row.get("reference") or ""
    marked = _GSM8K_ANSWER.search(reference)
    return marked.group(1).replace(",", "") if marked else last_boxed(reference) or ""


def agreed(verdicts: Sequence[Sequence[int | None]]) -> list[int | None]:
    """Per row the verdict every judge gives; None where one gave none or they differ."""
    return [said[0] if None not in said and len(set(said)) == 1 else None for said in zip(*verdicts, strict=True)]


def figures(rows: list[dict], found: Sequence[int | None]) -> dict[str, float]:
    """The figures of one judge's verdicts on ``rows`` (None: no verdict, counted as not flagged), each a share of
    the rows it is about: the error figures where the file has erroneous solutions, ``sound_kept`` where it has sound
    ones, ProcessBench's F1 where it has both."""
    n = len(rows)
    flagged = [v is not None and v >= 0 for v in found]
    erroneous = [i for i, row in enumerate(rows) if row.get("label", -1) >= 0]
    sound = [i for i, row in enumerate(rows) if row.get("label", 0) < 0]
    result: dict[str, float] = {"solutions": n, "flagged": sum(flagged) / n}
    if erroneous:
        exact = sum(found[i] == rows[i]["label"] for i in erroneous)
        before = sum(flagged[i] and found[i] < rows[i]["label"] for i in erroneous)  # type: ignore[operator]
        result["first_wrong_step_exact"] = exact / len(erroneous)
        result["flagged_before_first_error"] = before / len(erroneous)
    if sound:
        result["sound_kept"] = sum(found[i] == -1 for i in sound) / len(sound)
    result["with_verdict"] = sum(v is not None for v in found) / n
    for right in (True, False):
        about = [i for i, row in enumerate(rows) if row.get("final_answer_correct") is right]
        if about:
            result[f"{'right' if right else 'wrong'}_answer_flagged"] = sum(flagged[i] for i in about) / len(about)
    if erroneous and sound:
        accuracy_error, accuracy_sound = result["first_wrong_step_exact"], result["sound_kept"]
        both = accuracy_error + accuracy_sound
        result["processbench_f1"] = 2 * accuracy_error * accuracy_sound / both if both else 0.0
    return result


def model_judges(args: argparse.Namespace, cache_dir: Path) -> dict[str, Judge]:
    """The model judges whose servers ``args`` names."""
    judges: dict[str, Judge] = {}
    if args.critic_url:
        critic = OpenAICompatibleBackend(
            [args.critic_url], args.critic_model, ResponseCache(cache_dir / "critic.sqlite"),
            api_key=os.environ.get("JUDGE_API_KEY"), chat=True, max_concurrency=args.concurrency,
        )  # fmt: skip
        params = SamplingParams(temperature=0.0, max_tokens=args.critic_max_tokens)
        judges["critic"] = lambda rows: judge_first_wrong_steps(
            [r["problem"] for r in rows], [r["steps"] for r in rows], critic, params
        )[0]
    if args.prm_url:
        prm = PrmClient((args.prm_url,), args.prm_model, os.environ.get("PRM_API_KEY"),
                        max_concurrency=args.concurrency)  # fmt: skip
        judges["prm"] = lambda rows: prm.first_wrong_steps(
            [r["problem"] for r in rows], [r["steps"] for r in rows], args.prm_threshold
        )
    if args.teacher_url:
        teacher = OpenAICompatibleBackend(
            [args.teacher_url], args.teacher_model, ResponseCache(cache_dir / "teacher.sqlite"),
            api_key=os.environ.get("TEACHER_API_KEY"), chat=args.teacher_chat, max_concurrency=args.concurrency,
        )  # fmt: skip
        params = SamplingParams(temperature=0.7, max_tokens=args.rollout_max_tokens)
        judges["rollouts"] = lambda rows: rollout_first_wrong_steps(
            [r["problem"] for r in rows], [r["steps"] for r in rows], [gold_answer(r) for r in rows], teacher,
            params, args.rollouts,
        )[0]  # fmt: skip
    return judges


def evaluate(rows: list[dict], judges: dict[str, Judge]) -> dict[str, dict[str, float]]:
    """Every judge's figures: the rule arms, each model judge, and the consensus of the model judges."""
    verdicts: dict[str, list[int | None]] = {
        "rules": rule_verdicts(rows, with_reference=False),
        "rules+reference": rule_verdicts(rows, with_reference=True),
    }
    for name, judge in judges.items():
        verdicts[name] = judge(rows)
    if len(judges) > 1:
        verdicts["consensus"] = agreed([verdicts[name] for name in judges])
    return {name: figures(rows, found) for name, found in verdicts.items()}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=SHIPPED, help="a ProcessBench-format jsonl file")
    parser.add_argument("--critic-url", help="an OpenAI-compatible server of a capable chat model (.../v1)")
    parser.add_argument("--critic-model", default="critic")
    parser.add_argument("--critic-max-tokens", type=int, default=2048)
    parser.add_argument("--prm-url", help="vLLM serving a process reward model with --runner pooling")
    parser.add_argument("--prm-model", default="Qwen/Qwen2.5-Math-PRM-7B")
    parser.add_argument("--prm-threshold", type=float, default=0.5)
    parser.add_argument("--teacher-url", help="an OpenAI-compatible server of the model that rolls out")
    parser.add_argument("--teacher-model", default="teacher")
    parser.add_argument("--teacher-chat", action="store_true", help="roll out through the chat API")
    parser.add_argument("--rollouts", type=int, default=8, help="completions from each step")
    parser.add_argument("--rollout-max-tokens", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit", type=int, help="the first N solutions only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv)
    rows = [json.loads(line) for line in args.path.read_text().splitlines() if line.strip()][: args.limit]
    with tempfile.TemporaryDirectory() as cache_dir:
        results = evaluate(rows, model_judges(args, Path(cache_dir)))
    for name, found in results.items():
        shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in found.items())
        print(f"{name}: {shown}")
    keys = ("flagged", "first_wrong_step_exact", "flagged_before_first_error", "sound_kept")
    print(
        " ".join(
            f"{re.sub(r'[^a-z]+', '_', name)}_{k}={found[k]:.3f}"
            for name, found in results.items()
            for k in keys
            if k in found
        )
    )
    return results


if __name__ == "__main__":
    main()
