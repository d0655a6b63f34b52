"""Dagster resources: the teacher/student model endpoint and the parquet IO manager."""

import multiprocessing
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import polars as pl
from pydantic import Field, PrivateAttr
from upath import UPath

from assets.batches import check_key
from assets.settings import check_variables, default_data_dir
from filters.ray_workers import in_ray_job
from generators.teachers.backend import ModelBackend, ModelNotServedError, TeacherUnreachableError, check_served
from generators.teachers.cache import ResponseCache
from generators.teachers.embedded import (
    EMBEDDED_ENGINES,
    EMBEDDED_MODEL,
    EMBEDDED_SAMPLING,
    EmbeddedServer,
    die_with_parent,
    embedded_threads,
    release_server,
    shared_server,
)
from generators.teachers.models import hf_model
from generators.teachers.openai_backend import MAX_REPLY_BYTES, OpenAICompatibleBackend
from generators.teachers.prm import PrmClient


@dataclass(frozen=True)
class EndpointSettings:
    """What an endpoint is, resolved: where, which model, how to prompt it, and how hard to push it."""

    base_urls: tuple[str, ...]
    model: str
    chat: bool
    engine: str
    max_concurrency: int
    timeout_s: float
    max_retries: int
    seeded: bool = True  # send each request its own seed (vLLM's CPU build dies on them: set $PREFIX_SEEDED=false)
    adaptive: bool = False  # AIMD on requests in flight, up to max_concurrency (remote endpoints)
    max_tokens: int | None = None  # the token budget of a reply (None: each step's own, for the embedded model)
    embedded_engine: str = "llama.cpp"  # the server behind the embedded model: llama.cpp (GGUF) or vllm
    embedded_threads: int = 1  # the embedded llama.cpp server's threads ($FOUNDRY_EMBEDDED_THREADS, else one per core)

    @property
    def embedded(self) -> bool:
        return not self.base_urls and self.engine == "openai"


# Profile defaults: the embedded server answers one request after another; a remote vLLM server serves hundreds.
# A remote server's capacity is not known: its limit adapts (AIMD) below the ceiling max_concurrency.
PROFILES = {"embedded": {"max_concurrency": 4, "timeout_s": 300.0, "max_retries": 5, "adaptive": False},
            "remote": {"max_concurrency": 64, "timeout_s": 600.0, "max_retries": 5, "adaptive": True}}  # fmt: skip
# each number's variable, type and least value (as the fields' own bounds: config and environment are held alike)
_NUMBERS = {"max_concurrency": ("MAX_CONCURRENCY", int, 1), "timeout_s": ("TIMEOUT_S", float, 1e-3),
            "max_retries": ("MAX_RETRIES", int, 0)}  # fmt: skip
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
# every $<ROLE>_* variable a model endpoint reads; any other under its prefix is a mistake (TEACHER_BASE_URL)
VARIABLES = ("BASE_URLS", "MODEL", "API_KEY", "CHAT", "SEEDED", "ADAPTIVE", "ENGINE", "MAX_CONCURRENCY", "TIMEOUT_S",
             "MAX_RETRIES", "MAX_TOKENS")  # fmt: skip


class ModelResource(dg.ConfigurableResource):
    """A model endpoint in a role (a teacher, a student, a judge: the subclasses, each with its variables' prefix):
    the embedded server (llama.cpp's, or vLLM's with ``$FOUNDRY_EMBEDDED_ENGINE=vllm``), any
    OpenAI-compatible server, or (``engine: vllm``) an in-process ``vllm.LLM`` (``make vllm``, or the ``vllm`` extra on
    a GPU).

    A field left unset comes from the environment under the resource's prefix when the endpoint is first used
    ($TEACHER_BASE_URLS, _MODEL, _API_KEY, _CHAT, _SEEDED, _ADAPTIVE, _ENGINE, _MAX_CONCURRENCY, _TIMEOUT_S,
    _MAX_RETRIES, _MAX_TOKENS; $STUDENT_* and $JUDGE_* for the other two), else from the profile (embedded, or
    remote: requests in flight adapt below the ceiling ``max_concurrency``, replies get thousands of tokens). So run
    config that sets one field, say ``max_concurrency``, keeps the endpoint, model, key and data folder. The key is
    read from the environment when used ($<PREFIX>_API_KEY, or the variable ``api_key_env`` names) and is never
    config: run config is stored with the run. The embedded server starts on first use and stops
    when the run ends, also when it fails; the endpoints of one process share it.
    """

    PREFIX: ClassVar[str]  # the role's: $<PREFIX>_BASE_URLS, _MODEL, ...
    REMOTE_MAX_TOKENS: ClassVar[int]  # the role's token budget for a remote model

    base_urls: list[str] | None = None
    model: str | None = None
    # the environment variable that holds the key ($<PREFIX>_API_KEY by default): a key is never config, which Dagster
    # would store in plain text with the run
    api_key_env: str | None = None
    chat: bool | None = None
    seeded: bool | None = None
    adaptive: bool | None = None
    max_concurrency: int | None = Field(default=None, ge=1, le=4096)
    timeout_s: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0, le=20)
    max_tokens: int | None = Field(default=None, ge=1)
    data_dir: str = Field(default_factory=default_data_dir)
    n_threads: int | None = None  # the embedded server's threads (default: $FOUNDRY_EMBEDDED_THREADS, or a core each)
    engine: str | None = None  # openai (an OpenAI-compatible server, or the embedded one) or vllm
    embedded_engine: str | None = None  # $FOUNDRY_EMBEDDED_ENGINE: the embedded server's, llama.cpp or vllm
    vllm_engine_args: dict[str, Any] = {}

    _server: EmbeddedServer | None = PrivateAttr(default=None)
    _cache: ResponseCache | None = PrivateAttr(default=None)
    _backend: ModelBackend | None = PrivateAttr(default=None)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["ModelResource"]:
        _end_with_run_process()
        try:
            yield self
        finally:
            if self._server is not None:
                release_server(self._server)
                self._server = None
            if self._cache is not None:
                self._cache.close()
                self._cache = None
            self._backend = None

    def _env(self, name: str) -> str | None:
        return os.environ.get(f"{self.PREFIX}_{name}") or None

    def api_key(self) -> str | None:
        """The key, read from the environment when used."""
        return os.environ.get(self.api_key_env) if self.api_key_env else self._env("API_KEY")

    def _check_variables(self) -> None:
        """A variable under the role's prefix that the endpoint does not read (``$TEACHER_BASE_URL``, one letter
        short) would be ignored without a word, and the embedded model would answer: it is named instead."""
        check_variables(os.environ, f"{self.PREFIX}_", VARIABLES, f"the {self.PREFIX.lower()} model")

    def _flag(self, name: str, default: bool) -> bool:
        """A yes/no variable ($<PREFIX>_<name>); a word that is neither is named, not read as no."""
        raw = self._env(name)
        if raw is None:
            return default
        if raw.lower() not in _TRUE | _FALSE:
            raise ValueError(f"${self.PREFIX}_{name}={raw!r} is neither true nor false (1/0, yes/no, on/off)")
        return raw.lower() in _TRUE

    def settings(self) -> EndpointSettings:
        """The endpoint as configured, the environment and the profile filling what config left unset; a bad or
        unknown environment variable is named."""
        self._check_variables()
        urls = self.base_urls
        if urls is None:
            urls = [u.strip() for u in (self._env("BASE_URLS") or "").split(",") if u.strip()]
        for url in urls:
            if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
                raise ValueError(
                    f"a base URL of the {self.PREFIX.lower()} model carries a user and password (…@"
                    f"{url.split('@', 1)[-1]}): URLs are logged and stored, so give the key in ${self.PREFIX}_API_KEY"
                )
        engine = self.engine or self._env("ENGINE") or "openai"
        if engine not in ("openai", "vllm"):
            raise ValueError(f"engine {engine!r} (${self.PREFIX}_ENGINE or config): openai or vllm")
        profile = "remote" if urls else "embedded"  # in-process vLLM on its own is the embedded profile too
        embedded_engine = self.embedded_engine or os.environ.get("FOUNDRY_EMBEDDED_ENGINE") or "llama.cpp"
        if embedded_engine not in EMBEDDED_ENGINES:
            choices = " or ".join(EMBEDDED_ENGINES)
            raise ValueError(f"embedded engine {embedded_engine!r} ($FOUNDRY_EMBEDDED_ENGINE or config): {choices}")
        named = self.model or self._env("MODEL")
        if profile == "embedded" and engine == "openai" and named not in (None, EMBEDDED_MODEL):
            role = self.PREFIX.lower()
            raise ValueError(
                f"the {role} model is {named!r} (${self.PREFIX}_MODEL or config), but no server is given "
                f"(${self.PREFIX}_BASE_URLS is empty): the embedded {EMBEDDED_MODEL} would answer, recorded as "
                f"{named!r}; set ${self.PREFIX}_BASE_URLS to the server that serves it"
            )
        model = named or (EMBEDDED_MODEL if profile == "embedded" else None)
        if model is None:
            raise ValueError(f"${self.PREFIX}_MODEL is not set: which model does {urls or 'vLLM'} serve?")
        chat = self.chat if self.chat is not None else self._flag("CHAT", profile == "remote")
        seeded = self.seeded
        if seeded is None:  # vLLM's CPU build dies on batches of seeded requests: the embedded vLLM server gets none
            seeded = self._flag(
                "SEEDED", not (profile == "embedded" and engine == "openai" and embedded_engine == "vllm")
            )
        adaptive = self.adaptive
        if adaptive is None:
            adaptive = self._flag("ADAPTIVE", bool(PROFILES[profile]["adaptive"]))
        numbers: dict[str, Any] = {}
        for field, (suffix, kind, least) in _NUMBERS.items():
            value, raw = getattr(self, field), self._env(suffix)
            if value is None and raw is not None:
                try:
                    value = kind(raw)
                except ValueError as err:
                    raise ValueError(f"${self.PREFIX}_{suffix}={raw!r} is not a {kind.__name__}") from err
                if value < least:
                    raise ValueError(f"${self.PREFIX}_{suffix}={raw!r}: at least {least:g}")
            numbers[field] = PROFILES[profile][field] if value is None else value
        max_tokens = self.max_tokens
        if max_tokens is None and (raw := self._env("MAX_TOKENS")) is not None:
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(f"${self.PREFIX}_MAX_TOKENS={raw!r} is not a positive int")
            max_tokens = int(raw)
        if max_tokens is None and profile == "remote":
            max_tokens = self.REMOTE_MAX_TOKENS
        return EndpointSettings(
            tuple(urls), model, chat, engine, **numbers, seeded=seeded, adaptive=adaptive, max_tokens=max_tokens,
            embedded_engine=embedded_engine, embedded_threads=self.n_threads or embedded_threads(),
        )  # fmt: skip

    def check_reachable(self, timeout_s: float = 10.0) -> None:
        """Fail, naming the URL, where a remote endpoint does not answer ``/models`` or does not list the model (the
        embedded model and an in-process engine always do): a later step's model is checked before the first request
        of the run."""
        settings = self.settings()
        if settings.embedded or settings.engine != "openai":
            return
        key = self.api_key()
        for url in settings.base_urls:
            request = urllib.request.Request(f"{url.rstrip('/')}/models")
            if key:
                request.add_header("Authorization", f"Bearer {key}")
            try:
                with urllib.request.urlopen(request, timeout=timeout_s) as response:
                    listing = response.read(MAX_REPLY_BYTES)
            except urllib.error.HTTPError:
                continue  # an HTTP reply is an answer
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                reason = getattr(err, "reason", err)
                message = f"the {self.PREFIX.lower()} model at {url} does not answer: {reason}"
                raise TeacherUnreachableError(message) from None
            try:
                check_served(settings.model, url, listing)
            except ModelNotServedError as err:
                where = f"the {self.PREFIX.lower()} model (${self.PREFIX}_MODEL or config)"
                raise ModelNotServedError(f"{where}: {err}") from None

    def backend(self) -> ModelBackend:
        """The backend to send requests to, built once per process (starting the embedded server if it is needed)."""
        if self._backend is None:
            self._backend = self._build_backend()
        return self._backend

    def _build_backend(self) -> ModelBackend:
        settings = self.settings()
        data = Path(self.data_dir)
        self._cache = ResponseCache(data / "cache" / "responses.sqlite")
        if settings.engine == "vllm":
            from generators.teachers.vllm_backend import VLLMBackend

            if settings.model == EMBEDDED_MODEL:  # the shipped model, as a Hugging Face folder vLLM can read
                folder = str(hf_model(data / "models"))
                return VLLMBackend(
                    folder, self._cache, settings.chat, EMBEDDED_MODEL, settings.seeded, **self.vllm_engine_args
                )
            return VLLMBackend(
                settings.model, self._cache, settings.chat, seeded=settings.seeded, **self.vllm_engine_args
            )
        urls = list(settings.base_urls)
        if not urls:
            if self._server is None:
                self._server = shared_server(
                    settings.embedded_engine, data / "models", data / "logs", settings.embedded_threads
                )
            urls = [self._server.base_url]
        return OpenAICompatibleBackend(
            urls,
            settings.model,
            self._cache,
            api_key=self.api_key(),
            chat=settings.chat,
            max_concurrency=settings.max_concurrency,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            backend=_backend_name(settings),
            seeded=settings.seeded,
            adaptive=settings.adaptive,
            revive=self._server.revive if self._server is not None and not settings.base_urls else None,
            extra_body=EMBEDDED_SAMPLING[settings.embedded_engine] if settings.embedded else None,
        )

    @property
    def server_pid(self) -> int | None:
        """The embedded server's process id while it runs (None for a remote endpoint)."""
        return self._server.process.pid if self._server and self._server.process else None


def _end_with_run_process() -> None:
    """In a step's own process (the multiprocess executor's child), end the step when the run process dies: after a
    ``kill -9`` of the run, an orphaned step would go on calling the model. A run in one process is left alone."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    die_with_parent()
    if not parent.is_alive():  # the run died before the signal was armed
        os._exit(1)


def _backend_name(settings: EndpointSettings) -> str:
    if settings.engine == "vllm":
        return "vllm"
    return f"embedded-{settings.embedded_engine}" if settings.embedded else "openai"


class TeacherResource(ModelResource):
    """The teacher that writes the traces and passages, and judges passages ($TEACHER_*; the embedded model by
    default)."""

    PREFIX: ClassVar[str] = "TEACHER"
    REMOTE_MAX_TOKENS: ClassVar[int] = 4096  # a reasoning model's trace: thousands of tokens


class StudentResource(ModelResource):
    """The student model that grades difficulty ($STUDENT_*; the embedded model by default)."""

    PREFIX: ClassVar[str] = "STUDENT"
    REMOTE_MAX_TOKENS: ClassVar[int] = 1024  # 200 cut 15-19% of a capable student's answers, scored wrong


class JudgeResource(ModelResource):
    """The optional step judge ($JUDGE_*): a capable chat model."""

    PREFIX: ClassVar[str] = "JUDGE"
    REMOTE_MAX_TOKENS: ClassVar[int] = 4096


class PrmResource(ModelResource):
    """The optional process reward model ($PRM_*): a PRM such as Qwen2.5-Math-PRM-7B served by vLLM's pooling runner
    (``--runner pooling``), one score per step."""

    PREFIX: ClassVar[str] = "PRM"
    REMOTE_MAX_TOKENS: ClassVar[int] = 1  # it scores, it writes nothing

    def client(self) -> PrmClient:
        """The client of the configured servers; an unset endpoint is named before any request."""
        settings = self.settings()
        if settings.embedded or settings.engine != "openai":
            raise ValueError(
                "the prm step judge needs a process reward model behind vLLM's pooling runner: set $PRM_BASE_URLS and "
                "$PRM_MODEL (for example Qwen/Qwen2.5-Math-PRM-7B served with `vllm serve ... --runner pooling`)"
            )
        return PrmClient(settings.base_urls, settings.model, self.api_key(), settings.timeout_s,
                         settings.max_retries, settings.max_concurrency)  # fmt: skip


class PolarsParquetIOManager(dg.UPathIOManager):
    """Stores each asset output as one parquet file under a local folder or any fsspec URL."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame | pl.LazyFrame, path: UPath) -> None:
        """A frame, or a lazy one (a streamed stage's output) sunk to the file without collecting it. A batch key
        that is no plain name (``../x``, added through the UI or the API) is refused before anything is written."""
        if context.has_asset_partitions:
            for key in context.asset_partition_keys:
                check_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        if isinstance(obj, pl.LazyFrame) and _local(path):
            obj.sink_parquet(partial.path)
        else:
            with partial.open("wb") as handle:
                (obj.collect() if isinstance(obj, pl.LazyFrame) else obj).write_parquet(handle)
        partial.rename(path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame | pl.LazyFrame:
        """A frame; a scan where the input is typed ``pl.LazyFrame`` (a streamed stage reads it a chunk at a time)."""
        lazy = context.dagster_type.typing_type is pl.LazyFrame
        if _local(path) and not path.exists():
            raise FileNotFoundError(missing_output(path))
        if lazy and _local(path):
            return pl.scan_parquet(path.path)
        with path.open("rb") as handle:
            frame = pl.read_parquet(handle)
        return frame.lazy() if lazy else frame

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


def missing_output(path: UPath, env: Mapping[str, str] = os.environ) -> str:
    """Why an input a step needs is not there, naming the machine that looked: where steps run on several machines
    (Ray jobs), the usual cause is storage they do not share."""
    where = f"{path.path} on {socket.gethostname()}"
    if not in_ray_job(env):
        return f"the stored output {where} is not there: rerun the step that writes it"
    return (
        f"the stored output {where} is not there, though an earlier step wrote it: steps run as Ray jobs on several "
        "nodes, and every node must see the same $FOUNDRY_DATA_DIR: a folder every node mounts at the same path, or "
        "an fsspec URL (s3://...)"
    )


def _local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


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

    def push(self, location: str, revision: str) -> bool:
        """Upload the revision at ``location`` (a folder, or a publish URL's revision, copied down first) as revision
        ``revision``; False where the hub already has it."""
        from generators.publishing.targets import push_to_hub

        if self.repo_id is None:
            raise ValueError("the hub resource has no repo_id ($HF_REPO_ID): nothing to push to")
        repo_id = self.repo_id
        if "://" not in location:
            return push_to_hub(Path(location), repo_id, revision, self.token, self.endpoint)
        import fsspec

        fs, path = fsspec.core.url_to_fs(location)
        with tempfile.TemporaryDirectory() as copy:
            fs.get(f"{path.rstrip('/')}/", copy, recursive=True)
            return push_to_hub(Path(copy), repo_id, revision, self.token, self.endpoint)
