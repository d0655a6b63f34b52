"""Run config checked as a whole before any model call: every asset's config in a run is validated (types, ranges,
names) by the first model step, so a bad value fails the run before a single request is sent."""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import dagster as dg
import pydantic

C = TypeVar("C", bound=type[dg.Config])
CONFIG_CLASSES: dict[str, type[dg.Config]] = {}
"""Each configurable asset's (or multi-asset op's) name and its config class, registered where the class is defined."""


def config_of(name: str) -> Callable[[C], C]:
    """Class decorator: ``name``'s config class, checked with the whole run's config before any model call."""

    def register(cls: C) -> C:
        CONFIG_CLASSES[name] = cls
        return cls

    return register


def run_config_errors(run_config: Mapping[str, Any]) -> list[str]:
    """``<asset>.<field>: <what is wrong>`` for every value of ``run_config`` its config class rejects."""
    classes = CONFIG_CLASSES
    errors = []
    for name, spec in (run_config.get("ops") or {}).items():
        if name not in classes:
            continue
        try:
            classes[name](**((spec or {}).get("config") or {}))
        except pydantic.ValidationError as err:
            errors += [
                f"{'.'.join(map(str, [name, *e['loc']]))}: {e['msg']} (got {e.get('input')!r})" for e in err.errors()
            ]
    return errors


def validate_run_config(context: dg.AssetExecutionContext) -> None:
    """Fail the step, before it calls a model, where any asset's config in this run is bad."""
    errors = run_config_errors(context.run.run_config or {})
    if errors:
        raise dg.Failure(description="bad run config (nothing was sent to a model): " + "; ".join(errors))
