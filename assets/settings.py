"""The pipeline's settings, read from the environment once, where the code location loads (``definitions.py``), and
handed to the checks, sensors and resources that use them as one resource. A bad value is named before anything runs.

The model endpoints are the exception: a ``ModelResource`` reads its role's variables (``$TEACHER_*``, ``STUDENT_*``,
``JUDGE_*``) when it is first used, so run config that sets one of its fields keeps the others.
"""

import difflib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, field_validator

from assets.stages import DROP_RATE_CEILINGS
from filters.decontamination import benchmark_files_there


def default_data_dir(env: Mapping[str, str] = os.environ) -> str:
    """$FOUNDRY_DATA_DIR, else ``data/`` in the project: the one place every writer and sensor looks. It is a folder
    (local, or a shared mount on a cluster) this process can write, made if missing; a URL is refused rather than made
    a folder named ``s3:``, and a folder that cannot be written (a read-only mount, another user's) is named now,
    not by the first step that writes, after the teacher's requests."""
    raw = env.get("FOUNDRY_DATA_DIR") or ""
    if "://" in raw:
        raise ValueError(
            f"$FOUNDRY_DATA_DIR={raw!r} is a URL: the working data folder must be a path (local, or a shared mount); "
            "publish to a URL with $FOUNDRY_PUBLISH_URL"
        )
    folder = os.path.abspath(raw or Path(__file__).resolve().parents[1] / "data")
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        where = "$FOUNDRY_DATA_DIR" if raw else "the data folder ($FOUNDRY_DATA_DIR unset)"
        raise ValueError(f"{where} {folder}: this process cannot write there ({err.strerror or err})") from None
    return folder


def check_variables(env: Mapping[str, str], prefix: str, known: Sequence[str], what: str) -> None:
    """Refuse a variable under ``prefix`` that nothing reads: misspelt (``$TEACHER_BASE_URL``, ``$FOUNDRY_DATADIR``),
    it would be ignored without a word. The closest known name is suggested."""
    for name in sorted(k for k in env if k.startswith(prefix) and k[len(prefix) :] not in known):
        close = difflib.get_close_matches(name[len(prefix) :], known, n=1)
        hint = f": did you mean ${prefix}{close[0]}?" if close else ""
        raise ValueError(f"${name} is not a setting of {what}{hint} (${prefix}{', _'.join(known)})")


# every $FOUNDRY_* variable something reads (the embedded engine's three are read where the model server starts)
FOUNDRY_VARIABLES = (
    "DATA_DIR", "PUBLISH_URL", "MODEL_STEPS", "EXECUTOR", "REFRESH_CRON", "SEED_DIR", "BENCHMARK_DIR", "BENCHMARKS",
    "MIN_COT_ROWS", "STUDENT_GATE", "STUDENT_GATE_MARGIN", "STUDENT_GATE_SET", "EMBEDDED_ENGINE", "VLLM_PYTHON",
    "EMBEDDED_THREADS", "RAY_MODEL_GPUS", "RAY_STEP_MEMORY_GB",
    *(f"MAX_DROP_RATE_{stage.upper()}" for stage in DROP_RATE_CEILINGS),
)  # fmt: skip


def _number(env: Mapping[str, str], name: str, kind: type, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as err:
        raise ValueError(f"${name}={raw!r} is not a {kind.__name__}") from err


class FoundrySettings(dg.ConfigurableResource):
    """Where the pipeline writes and watches, what it publishes to, and the bars its checks hold."""

    data_dir: str = Field(default_factory=default_data_dir)
    publish_url: str | None = None  # $FOUNDRY_PUBLISH_URL: any fsspec URL instead of data_dir/published
    model_steps: int = Field(1, ge=1)  # $FOUNDRY_MODEL_STEPS: model steps at once
    # $FOUNDRY_EXECUTOR: a process per step (steps run side by side), every step in the run's own process (no
    # per-step start-up and one embedded model server per run: what small batches and the demo want), or each step a
    # job on the Ray cluster at $RAY_ADDRESS (its dashboard's URL), one CPU each (docs/scaling.md)
    executor: Literal["multiprocess", "in_process", "ray"] = "multiprocess"
    refresh_cron: str = "0 3 * * 1"  # $FOUNDRY_REFRESH_CRON: Mondays 03:00 UTC
    seed_dir: str | None = None  # $FOUNDRY_SEED_DIR, default data_dir/incoming_seeds
    benchmark_dir: str | None = None  # $FOUNDRY_BENCHMARK_DIR, default data_dir/benchmarks
    benchmarks: list[str] = []  # $FOUNDRY_BENCHMARKS (os.pathsep-separated), besides the shipped ones
    min_cot_rows: int = Field(1, ge=0)  # $FOUNDRY_MIN_COT_ROWS
    max_drop_rates: dict[str, float] = Field(default_factory=lambda: dict(DROP_RATE_CEILINGS))

    @field_validator("benchmarks")
    @classmethod
    def _there(cls, value: list[str]) -> list[str]:
        return benchmark_files_there(value, "$FOUNDRY_BENCHMARKS: ")

    @field_validator("max_drop_rates")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {stage: rate for stage, rate in value.items() if not 0 <= rate <= 1}
        if bad:
            names = ", ".join(f"$FOUNDRY_MAX_DROP_RATE_{stage.upper()}={rate:g}" for stage, rate in bad.items())
            raise ValueError(f"{names}: a drop-rate ceiling is a share of the rows, from 0 to 1")
        return value

    # the student release gate: $FOUNDRY_STUDENT_GATE (auto: off for the shipped 270M student), its margin and set
    student_gate: Literal["auto", "on", "off"] = "auto"
    student_gate_margin: float = Field(0.02, ge=0, le=1)
    student_gate_set: str = "gsm8k_test"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "FoundrySettings":
        """The settings the environment gives ($FOUNDRY_*), defaults for the rest; a bad number or a variable that
        nothing reads is named."""
        check_variables(env, "FOUNDRY_", FOUNDRY_VARIABLES, "the pipeline")
        ceilings = {
            stage: _number(env, f"FOUNDRY_MAX_DROP_RATE_{stage.upper()}", float, ceiling)
            for stage, ceiling in DROP_RATE_CEILINGS.items()
        }
        return cls.model_validate(
            dict(
                data_dir=default_data_dir(env),
                publish_url=env.get("FOUNDRY_PUBLISH_URL") or None,
                model_steps=int(_number(env, "FOUNDRY_MODEL_STEPS", int, 1)),
                executor=env.get("FOUNDRY_EXECUTOR") or "multiprocess",
                refresh_cron=env.get("FOUNDRY_REFRESH_CRON") or "0 3 * * 1",
                seed_dir=env.get("FOUNDRY_SEED_DIR") or None,
                benchmark_dir=env.get("FOUNDRY_BENCHMARK_DIR") or None,
                benchmarks=[p for p in env.get("FOUNDRY_BENCHMARKS", "").split(os.pathsep) if p],
                min_cot_rows=int(_number(env, "FOUNDRY_MIN_COT_ROWS", int, 1)),
                max_drop_rates=ceilings,
                student_gate=env.get("FOUNDRY_STUDENT_GATE") or "auto",
                student_gate_margin=_number(env, "FOUNDRY_STUDENT_GATE_MARGIN", float, 0.02),
                student_gate_set=env.get("FOUNDRY_STUDENT_GATE_SET") or "gsm8k_test",
            )
        )

    @property
    def watched_seed_dir(self) -> Path:
        return Path(self.seed_dir or Path(self.data_dir) / "incoming_seeds")

    @property
    def watched_benchmark_dir(self) -> Path:
        return Path(self.benchmark_dir or Path(self.data_dir) / "benchmarks")
