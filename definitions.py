"""The Dagster code location: every asset, check, resource and job of the reasoning-data foundry.

Settings come from the environment once, here (``FoundrySettings.from_env``): everything the pipeline writes goes under
$FOUNDRY_DATA_DIR (default: ``data/`` beside this file). A teacher or student other than the embedded model is chosen
with $TEACHER_BASE_URLS / $STUDENT_BASE_URLS, the optional step judge with $JUDGE_BASE_URLS, a Hub target with
$HF_REPO_ID, $HF_TOKEN and $HF_ENDPOINT (see README.md).
"""

from __future__ import annotations

import os

import dagster as dg

from assets import automation, checks, curation, generation, grading, problems, publishing, students
from assets.cluster import ray_steps
from assets.resources import (
    HubResource,
    JudgeResource,
    ParquetIOManager,
    PrmResource,
    StorageResource,
    StudentResource,
    TeacherResource,
)
from assets.settings import FoundrySettings
from assets.stages import MODEL_STEP

SETTINGS = FoundrySettings.from_env()
DATA_DIR = SETTINGS.data_dir


def hub() -> HubResource:
    """Push to $HF_REPO_ID (at $HF_ENDPOINT if set) with $HF_TOKEN where they are set; else publish locally only.
    The token stays a ``dg.EnvVar``: it never lands in config, logs or metadata."""
    if not os.environ.get("HF_REPO_ID"):
        return HubResource()
    return HubResource(
        repo_id=dg.EnvVar("HF_REPO_ID"),
        token=dg.EnvVar("HF_TOKEN") if os.environ.get("HF_TOKEN") else None,
        endpoint=dg.EnvVar("HF_ENDPOINT") if os.environ.get("HF_ENDPOINT") else None,
    )


# at most $FOUNDRY_MODEL_STEPS model steps at once (two embedded servers on one machine only fight over its cores)
MODEL_STEP_LIMITS = [{"key": k, "value": v, "limit": SETTINGS.model_steps} for k, v in MODEL_STEP.items()]


def executor(kind: str) -> dg.ExecutorDefinition:
    """The executor $FOUNDRY_EXECUTOR names: ``multiprocess``, ``in_process`` or ``ray``."""
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "ray":
        return ray_steps()
    return dg.multiprocess_executor.configured({"tag_concurrency_limits": MODEL_STEP_LIMITS})


all_assets = dg.load_assets_from_modules([problems, generation, curation, grading, publishing])
batch_checks = dg.load_asset_checks_from_modules([checks])
# downstream of the publish: train and score a student on each revision, then release it past the gate
student_assets = dg.load_assets_from_modules([students])
student_checks = dg.load_asset_checks_from_modules([students])

defs = dg.Definitions(
    assets=[*all_assets, *student_assets],
    asset_checks=[*batch_checks, *student_checks],
    resources={
        "io_manager": ParquetIOManager(base_path=os.path.join(DATA_DIR, "assets")),
        "teacher": TeacherResource(),  # $TEACHER_*, else the embedded model
        "student": StudentResource(),  # $STUDENT_*, else the embedded model
        "judge": JudgeResource(),  # $JUDGE_*: the optional critic step judge, a capable chat model
        "prm": PrmResource(),  # $PRM_*: the optional process reward model, behind vLLM's pooling runner
        "storage": StorageResource(data_dir=DATA_DIR, publish_url=SETTINGS.publish_url),
        "settings": SETTINGS,
        "hub": hub(),
    },
    executor=executor(SETTINGS.executor),
    jobs=[automation.refresh_job, automation.publish_job, automation.redecontaminate_job, automation.reverify_job],
    schedules=[automation.refresh_schedule(SETTINGS.refresh_cron)],
    sensors=[automation.new_seed_file, automation.new_benchmark_file, automation.checks_changed],
)
