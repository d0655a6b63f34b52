"""The Ray cluster a curation step spreads its work over: where the step runs as a Ray job ($FOUNDRY_EXECUTOR=ray),
that job's own cluster; else the one at $RAY_ADDRESS, else a local instance. The row filters' workers run there as
actors (``ActorPool``), the MinHash stages as datatrove's Ray tasks."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

R = TypeVar("R")


def in_ray_job(env: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is a Ray job's entrypoint: a step that runs on a Ray cluster."""
    return "RAY_JOB_CONFIG_JSON_ENV_VAR" in env


def _clean_worker_processes() -> None:
    """Ray worker setup: datatrove's Ray executor starts a process pool inside each (multithreaded) Ray worker; a
    forked child can inherit a lock held by another thread and hang (seen here at pool exit), so fork from a clean
    single-threaded server instead."""
    import multiprocess

    multiprocess.set_start_method("forkserver", force=True)


def init_ray(num_cpus: int | None = None, **kwargs: Any) -> None:
    """Connect to $RAY_ADDRESS (a Ray job's own cluster, inside one), or start a local Ray instance without
    dashboard or auth token, with the worker setup the MinHash stages need (once per process; ``kwargs`` go to
    ``ray.init``)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    runtime_env = {"worker_process_setup_hook": _clean_worker_processes}
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False, runtime_env=runtime_env, **kwargs)
    else:
        ray.init(
            num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
            runtime_env=runtime_env, **kwargs,
        )  # fmt: skip


def free_cpus() -> int:
    """The CPUs of the connected cluster that no task or actor holds now: what work can be spread over without
    waiting on steps that hold the rest."""
    import ray

    return int(ray.available_resources().get("CPU", 0))


class _Worker:
    """An actor that runs the functions it is handed after ``setup(*args)`` (the row filter it decides with)."""

    def __init__(self, setup: Callable[..., None], *args: Any) -> None:
        setup(*args)

    def run(self, work: Callable[..., Any], *args: Any) -> Any:
        return work(*args)


class ActorPool(Executor):
    """``workers`` Ray actors of one CPU each, each set up once with ``setup(*args)``; ``submit`` hands work to
    them in turn and returns a ``concurrent.futures.Future``, so it stands where a process pool would."""

    def __init__(self, workers: int, setup: Callable[..., None], *args: Any) -> None:
        import ray

        actor = ray.remote(num_cpus=1)(_Worker)
        self._actors: list[Any] = [actor.remote(setup, *args) for _ in range(workers)]
        self._turns = itertools.cycle(self._actors)

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        assert not kwargs, "actors are handed positional arguments only"
        return next(self._turns).run.remote(fn, *args).future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
