"""The Dagster code location: every asset, check, resource and job of the reasoning-data foundry.

Everything the pipeline writes goes under $FOUNDRY_DATA_DIR (default: ``data/`` beside this file). A teacher or
student other than the embedded model is chosen with $TEACHER_BASE_URLS / $STUDENT_BASE_URLS, the optional step judge
with $JUDGE_BASE_URLS (see README.md).
"""

from __future__ import annotations

import os

import dagster as dg

from assets import automation, checks, curation, generation, grading, problems, publishing
from assets.resources import (
    JudgeResource,
    ParquetIOManager,
    StorageResource,
    StudentResource,
    TeacherResource,
    default_data_dir,
    hub_from_env,
)

DATA_DIR = default_data_dir()

all_assets = dg.load_assets_from_modules([problems, generation, curation, grading, publishing])

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    resources={
        "io_manager": ParquetIOManager(base_path=os.path.join(DATA_DIR, "assets")),
        "teacher": TeacherResource(),  # $TEACHER_*, else the embedded model
        "student": StudentResource(),  # $STUDENT_*, else the embedded model
        "judge": JudgeResource(),  # $JUDGE_*: the optional step judge, a capable chat model
        "storage": StorageResource(data_dir=DATA_DIR, publish_url=os.environ.get("FOUNDRY_PUBLISH_URL")),
        "hub": hub_from_env(),
    },
    executor=dg.multiprocess_executor.configured(
        {
            "tag_concurrency_limits": [
                {"key": "foundry/model", "value": "teacher", "limit": int(os.environ.get("FOUNDRY_MODEL_STEPS", "1"))}
            ]
        }
    ),
    jobs=[automation.refresh_job, automation.redecontaminate_job],
    schedules=[automation.weekly_refresh],
    sensors=[automation.new_seed_file, automation.new_benchmark_file],
)
