"""The resources a test needs to materialize the real graph into one folder."""

from pathlib import Path
from typing import Any

import polars as pl

from assets.resources import HubResource, ParquetIOManager, PrmResource, StorageResource, TeacherResource
from assets.settings import FoundrySettings


def graph_resources(data_dir: Path | str, endpoint: TeacherResource | None = None, **settings: Any) -> dict:
    """Every resource of ``definitions.defs`` over ``data_dir``: ``endpoint`` (default: the embedded model) as
    teacher, student and critic judge, no process reward model, and ``settings`` overriding the defaults of
    ``FoundrySettings``."""
    endpoint = endpoint or TeacherResource(data_dir=str(data_dir))
    return {
        "io_manager": ParquetIOManager(base_path=str(Path(data_dir) / "assets")),
        "teacher": endpoint,
        "student": endpoint,
        "judge": endpoint,
        "prm": PrmResource(data_dir=str(data_dir)),
        "storage": StorageResource(data_dir=str(data_dir)),
        "settings": FoundrySettings(data_dir=str(data_dir), **settings),
        "hub": HubResource(),
    }


def stored(data_dir: Path | str, output: str, batch: str) -> pl.DataFrame:
    """An output of one batch as the IO manager stored it (a streamed stage yields a scan of files it removes once
    they are stored, so its value in a run result cannot be read afterwards)."""
    return pl.read_parquet(Path(data_dir) / "assets" / output / f"{batch}.parquet")
