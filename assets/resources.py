"""Dagster resources: the teacher/student model endpoint and the parquet IO manager."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import polars as pl
from pydantic import Field, PrivateAttr
from upath import UPath

from generators.cache import ResponseCache
from generators.embedded import EMBEDDED_MODEL, EmbeddedServer
from generators.teacher import OpenAICompatibleBackend, TeacherBackend


class TeacherResource(dg.ConfigurableResource):
    """A model endpoint: the embedded llama.cpp server when ``base_urls`` is empty, else any OpenAI-compatible server;
    with ``engine="vllm"``, an in-process ``vllm.LLM`` (optional extra) loading ``model``.

    The embedded server starts on first use and stops when the run ends, also when it fails.
    """

    base_urls: list[str] = []
    model: str = EMBEDDED_MODEL
    api_key: str | None = None
    chat: bool = False
    max_concurrency: int = Field(4, ge=1, le=4096)
    timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(5, ge=0, le=20)
    data_dir: str = "data"
    n_threads: int | None = None
    engine: Literal["openai", "vllm"] = "openai"
    vllm_engine_args: dict[str, Any] = {}

    _server: EmbeddedServer | None = PrivateAttr(default=None)
    _cache: ResponseCache | None = PrivateAttr(default=None)
    _backend: TeacherBackend | None = PrivateAttr(default=None)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["TeacherResource"]:
        try:
            yield self
        finally:
            if self._server is not None:
                self._server.stop()
                self._server = None
            if self._cache is not None:
                self._cache.close()
                self._cache = None
            self._backend = None

    @property
    def backend_name(self) -> str:
        if self.engine == "vllm":
            return "vllm"
        return "openai" if self.base_urls else "embedded-llama.cpp"

    def backend(self) -> TeacherBackend:
        """The backend to send requests to, built once per process (starting the embedded server if it is needed)."""
        if self._backend is None:
            self._backend = self._build_backend()
        return self._backend

    def _build_backend(self) -> TeacherBackend:
        data = Path(self.data_dir)
        self._cache = ResponseCache(data / "cache" / "responses.sqlite")
        if self.engine == "vllm":
            from generators.vllm_backend import VLLMBackend

            return VLLMBackend(self.model, self._cache, chat=self.chat, **self.vllm_engine_args)
        urls = list(self.base_urls)
        if not urls:
            if self._server is None:
                server = EmbeddedServer(data / "models", data / "logs", n_threads=self.n_threads)
                server.start()
                self._server = server
            urls = [self._server.base_url]
        return OpenAICompatibleBackend(
            urls,
            self.model,
            self._cache,
            api_key=self.api_key,
            chat=self.chat,
            max_concurrency=self.max_concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backend=self.backend_name,
        )

    @property
    def server_pid(self) -> int | None:
        """The embedded server's process id while it runs (None for a remote endpoint)."""
        return self._server.process.pid if self._server and self._server.process else None


_ENDPOINT_SETTINGS = {"MAX_CONCURRENCY": ("max_concurrency", int), "TIMEOUT_S": ("timeout_s", float),
                      "MAX_RETRIES": ("max_retries", int)}  # fmt: skip


def endpoint_settings(prefix: str) -> dict[str, Any]:
    """``{prefix}_MAX_CONCURRENCY``, ``{prefix}_TIMEOUT_S`` and ``{prefix}_MAX_RETRIES`` where set; a bad value
    is named."""
    settings: dict[str, Any] = {}
    for suffix, (field, kind) in _ENDPOINT_SETTINGS.items():
        raw = os.environ.get(f"{prefix}_{suffix}")
        if raw is None:
            continue
        try:
            settings[field] = kind(raw)
        except ValueError as err:
            raise ValueError(f"${prefix}_{suffix}={raw!r} is not a {kind.__name__}") from err
    return settings


def teacher_from_env(prefix: str, data_dir: str) -> TeacherResource:
    """The embedded model, unless ``{prefix}_BASE_URLS`` names servers (key and model then come from the env too)
    or ``{prefix}_ENGINE=vllm`` asks for in-process vLLM on ``{prefix}_MODEL``; timeouts, retries and concurrency
    from ``endpoint_settings``."""
    settings = endpoint_settings(prefix)
    if os.environ.get(f"{prefix}_ENGINE") == "vllm":
        return TeacherResource(engine="vllm", model=dg.EnvVar(f"{prefix}_MODEL"), chat=True, data_dir=data_dir)
    if not os.environ.get(f"{prefix}_BASE_URLS"):
        return TeacherResource(data_dir=data_dir, **settings)
    return TeacherResource(
        base_urls=[u.strip() for u in os.environ[f"{prefix}_BASE_URLS"].split(",") if u.strip()],
        model=dg.EnvVar(f"{prefix}_MODEL"),
        api_key=dg.EnvVar(f"{prefix}_API_KEY") if os.environ.get(f"{prefix}_API_KEY") else None,
        chat=os.environ.get(f"{prefix}_CHAT", "true").lower() in {"1", "true", "yes"},
        data_dir=data_dir,
        **settings,
    )


class PolarsParquetIOManager(dg.UPathIOManager):
    """Stores each asset output as one parquet file under a local folder or any fsspec URL."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            obj.write_parquet(handle)
        partial.rename(path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame:
        with path.open("rb") as handle:
            return pl.read_parquet(handle)

    def load_partitions(self, context: dg.InputContext) -> pl.DataFrame | dict[str, pl.DataFrame]:
        """For an input marked ``ALL_BATCHES``: every materialized batch in one frame, with a ``batch`` column."""
        if not context.definition_metadata.get("all_batches"):
            return super().load_partitions(context)
        keys = context.asset_partition_keys
        loaded = super().load_partitions(context)
        by_key = {keys[0]: loaded} if len(keys) == 1 else loaded
        lost = [k for k in keys if by_key.get(k) is None and _was_materialized(context, k)]
        if lost:
            paths = self._get_paths_for_partitions(context)
            raise ValueError(
                f"refusing to publish a smaller dataset: {context.asset_key.to_user_string()} of batch(es) "
                + ", ".join(f"{k} (expected at {paths[k]})" for k in lost)
                + " was materialized but its stored output is missing; restore it, rerun the batch, or remove the "
                "batch explicitly with `python -m assets.batches remove KEY`"
            )
        frames = [f.with_columns(pl.lit(k).alias("batch")) for k, f in by_key.items() if f is not None]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema={"batch": pl.String})


def _was_materialized(context: dg.InputContext, partition: str) -> bool:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[partition]), limit=1
    ).records
    return bool(records)


ALL_BATCHES = {"all_batches": True, "allow_missing_partitions": True}
"""Input metadata for an unpartitioned asset that reads every batch of a partitioned one: a batch never materialized
(its run failed or has not got there yet) is skipped; one materialized whose output is gone fails the read."""


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Parquet files under ``base_path`` (a folder or an fsspec URL)."""

    base_path: str

    def create_io_manager(self, context: dg.InitResourceContext) -> PolarsParquetIOManager:
        return PolarsParquetIOManager(base_path=UPath(self.base_path))


class StorageResource(dg.ConfigurableResource):
    """Where the pipeline writes: everything lives under ``data_dir`` (``data/`` in the project by default); the
    published dataset goes to ``publish_url`` instead where one is set (any fsspec URL)."""

    data_dir: str = "data"
    publish_url: str | None = None

    @property
    def published_dir(self) -> Path:
        return Path(self.data_dir) / "published"

    @property
    def dedup_index_dir(self) -> Path:
        """One parquet file of exact and MinHash band hashes per batch, read by later batches' dedup."""
        return Path(self.data_dir) / "dedup_index"


class HubResource(dg.ConfigurableResource):
    """The Hugging Face Hub target: nothing is pushed without a ``repo_id``; the token comes from ``dg.EnvVar``."""

    repo_id: str | None = None
    token: str | None = None
    endpoint: str | None = None

    def push(self, folder: Path, revision: str) -> bool:
        """Upload ``folder`` as revision ``revision``; False where the hub already has it."""
        from generators.publishing import push_to_hub

        return push_to_hub(folder, self.repo_id, revision, self.token, self.endpoint)


def hub_from_env() -> HubResource:
    """Push to $HF_REPO_ID (at $HF_ENDPOINT if set) with $HF_TOKEN where they are set; else publish locally only."""
    if not os.environ.get("HF_REPO_ID"):
        return HubResource()
    return HubResource(
        repo_id=dg.EnvVar("HF_REPO_ID"),
        token=dg.EnvVar("HF_TOKEN") if os.environ.get("HF_TOKEN") else None,
        endpoint=dg.EnvVar("HF_ENDPOINT") if os.environ.get("HF_ENDPOINT") else None,
    )
