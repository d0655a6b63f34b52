"""The per-batch stages in one table: what the asset factory builds (group, description, model step), which stages'
rejections are gathered, and each stage's drop-rate ceiling."""

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

# Steps that call a model carry this tag; definitions.py lets $FOUNDRY_MODEL_STEPS of them run at once in a run
# (default 1: on one machine two embedded llama.cpp servers would only fight over the same cores).
MODEL_STEP = {"foundry/model": "teacher"}
# Across runs, a model step also takes a slot of its model's concurrency pool: the cluster profile
# (dagster.cluster.yaml) gives each pool one slot, so batches that run at once never put more than one step's
# $TEACHER_MAX_CONCURRENCY requests in flight on each teacher server together. The local profile sets no pool limit.
TEACHER_POOL, STUDENT_POOL = "teacher", "student"


def amount(env: Mapping[str, str], name: str) -> float:
    """The number of 0 or more that $``name`` holds (0 where unset)."""
    raw = env.get(name) or "0"
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"${name}={raw!r}: a number of 0 or more")
    return value


def gpu_request(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The op tag that has dagster-ray's executor ($FOUNDRY_EXECUTOR=ray) give a model step $FOUNDRY_RAY_MODEL_GPUS
    GPUs besides its CPU (default 0: a model behind a server needs none; 1 where the engine runs in the step, as a
    student's training does): Ray places the step only on a node with them free."""
    gpus = amount(env, "FOUNDRY_RAY_MODEL_GPUS")
    return {"dagster-ray/config": json.dumps({"num_gpus": gpus})} if gpus else {}


GPU_REQUEST = gpu_request()


@dataclass(frozen=True)
class Stage:
    """A per-batch stage that writes kept rows and rejections; ``max_drop_rate`` (None: no ceiling) is the share of
    rows it may drop before its blocking asset check fails and stops the batch from publishing
    (``$FOUNDRY_MAX_DROP_RATE_<NAME>`` overrides it; 1 turns it off). The ceilings catch a broken run, not a weak
    teacher: a reasoning model whose thinking was counted as its solution lost 99% to `too_long` and still
    published."""

    name: str
    group: str
    description: str
    model_step: bool = False
    max_drop_rate: float | None = None


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage("evolved_problems", "generation", "Teacher-evolved problems a majority agrees on.", model_step=True),
        Stage("cot_traces", "generation", "Chain-of-thought samples with their lineage.", model_step=True),
        Stage("textbook_passages", "generation", "Textbook-style passages.", model_step=True),
        Stage("deduplicated", "curation", "Traces and passages with exact and near duplicates removed.",
              max_drop_rate=0.8),
        Stage("decontaminated", "curation", "Rows that share no n-gram run with any benchmark test set.",
              max_drop_rate=0.2),
        Stage("reasoning_filtered", "curation", "Rows with an extractable answer, sane length and no repetition.",
              model_step=True, max_drop_rate=0.9),
        Stage("verified", "grading", "CoT rows whose final answer is right and whose reasoning holds.",
              model_step=True),
    )
}  # fmt: skip
REJECTION_STAGES = tuple(STAGES)
COUNTED_STAGES = (*REJECTION_STAGES, "difficulty_graded")  # the card's rows-per-stage table
DROP_RATE_CEILINGS = {s.name: s.max_drop_rate for s in STAGES.values() if s.max_drop_rate is not None}
