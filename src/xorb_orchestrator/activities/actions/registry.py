"""The action registry: every response action the worker can run, by registered name.

An action is one file in this package that defines its args model (`ActionArgs`), its activity
(`@activity.defn(name=...)`, taking ActionInput and returning ActionResult) and calls `register_action` with
its `ActionSpec` and a function that builds the activity from `ActionDeps`. Importing this module imports
every module of the package, so a new file is all it takes; the worker registers what is found here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from xorb_orchestrator.config import Settings
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.playbook.actions import ACTIONS, ActionSpec


@dataclass(frozen=True)
class ActionDeps:
    """What an action's activity may use; built once per worker."""

    settings: Settings
    http: httpx.AsyncClient


ActionActivity = Callable[[ActionInput], Awaitable[ActionResult]]
ActivityBuilder = Callable[[ActionDeps], ActionActivity]

_BUILDERS: dict[str, ActivityBuilder] = {}


def register_action(spec: ActionSpec[Any], build: ActivityBuilder) -> None:
    """Make `spec.name` known: to validation (its spec) and to the worker (`build(deps)` gives its activity)."""
    ACTIONS.add(spec)
    _BUILDERS[spec.name] = build


def action_specs() -> list[ActionSpec[Any]]:
    """Every registered action, sorted by name."""
    return ACTIONS.specs()


def action_spec(name: str) -> ActionSpec[Any] | None:
    return ACTIONS.get(name)


def action_flags() -> dict[str, bool]:
    """`{name: mutating}`, what `validate_playbook(..., actions=...)` takes."""
    return ACTIONS.flags()


def action_activities(deps: ActionDeps) -> list[ActionActivity]:
    """The activity of every registered action, for the worker. Refuses a registry with dangling undos."""
    problems = ACTIONS.problems()
    if problems:
        raise RuntimeError("; ".join(problems))
    return [_BUILDERS[spec.name](deps) for spec in ACTIONS.specs()]


def _import_action_modules() -> None:
    # Last in this module, so `register_action` exists when an action module (imported here or on its own)
    # imports it. An action module imported first imports this one, which imports the rest: same result.
    package = importlib.import_module("xorb_orchestrator.activities.actions")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "registry":
            importlib.import_module(f"{package.__name__}.{module.name}")


_import_action_modules()
