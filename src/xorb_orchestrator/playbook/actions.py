"""Response actions as data: an action's name, its typed arguments, whether it changes anything, what undoes it.

An `ActionCatalog` is a list of specs built once at start-up (service.py) and passed to whoever needs it:
validation, planning, dry runs, the worker. The built-in actions' specs are in builtin_actions.py; their
activities are in activities/actions/.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from xorb_orchestrator.playbook.effects import EFFECT_KINDS, TARGET_KINDS

# Same rule as a playbook's `action` field (models/playbook/policies.py), kept here to avoid an import cycle.
ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class ActionArgs(BaseModel):
    """Base of every action's arguments. Unknown fields are refused, so a misspelt argument names itself."""

    model_config = ConfigDict(extra="forbid")

    def mutating(self) -> bool | None:
        """Whether *this* call changes something, for actions where that depends on the arguments.

        None (the default) means the action's `mutating` flag decides. Must be pure: it is also evaluated
        to decide what a dry run simulates.
        """
        return None


ArgsT = TypeVar("ArgsT", bound=ActionArgs)


class ActionArgsInvalid(ValueError):
    """Arguments that do not fit the action's model. The message names every bad field."""


@dataclass(frozen=True)
class ActionSpec(Generic[ArgsT]):
    """What the registry knows about one action.

    `mutating` says whether the action may change something outside the orchestrator (a firewall rule, a
    message people read): validation, dry runs and approvals treat it as disruptive. When that depends on
    the arguments, `mutating` is the worst case and the args model's `mutating()` refines it per call
    (`mutating_unless` says when, for people). `undo` names the registered action that reverses it.
    """

    name: str
    description: str
    args: type[ArgsT]
    mutating: bool
    undo: str | None = None
    mutating_unless: str = ""
    # Whether a call reaches a system outside (a lookup does, a data helper does not). A dry run makes such a
    # call only where its step says `dry_run: call`; the safe default is yes.
    reaches_out: bool = True
    # An effect nothing can take back (revoking sessions, deleting, killing a process): no undo, and issue-12's
    # guardrails make it ask a person whatever the autonomy.
    one_way: bool = False
    # The connector type whose connections it acts through (XORB_CONNECTORS_FILE); None for built-in actions.
    connector: str | None = None
    # For the guardrails (docs/guardrails.md): the containment it makes (block, isolate, disable_account,
    # sign_out; budgets are set per kind), the argument naming what it acts on and that target's kind (protected
    # assets and known-good values are never touched), and whether it only informs people (a chat message: never
    # held, even by the kill switch).
    effect: str | None = None
    target: str | None = None
    target_kind: str | None = None
    informs: bool = False

    def __post_init__(self) -> None:
        if not ACTION_NAME.match(self.name):
            raise ValueError(f"action name {self.name!r} must look like area.verb (lower case, dot-separated)")
        if self.undo is not None and not ACTION_NAME.match(self.undo):
            raise ValueError(f"action {self.name}: undo {self.undo!r} is not an action name")
        if self.mutating_unless and not self.mutating:
            raise ValueError(f"action {self.name}: mutating_unless only applies to a mutating action")
        if self.one_way and (self.undo is not None or not self.mutating):
            raise ValueError(f"action {self.name}: a one-way action is mutating and has no undo")
        if self.effect is not None and self.effect not in EFFECT_KINDS:
            raise ValueError(f"action {self.name}: effect {self.effect!r} is not one of {', '.join(EFFECT_KINDS)}")
        if (self.target is None) != (self.target_kind is None) or (
            self.target_kind is not None and self.target_kind not in TARGET_KINDS
        ):
            raise ValueError(f"action {self.name}: give target and target_kind ({', '.join(TARGET_KINDS)}) together")
        if self.target is not None and self.target not in self.args.model_fields:
            raise ValueError(f"action {self.name}: target {self.target!r} is not one of its arguments")

    def parse_args(self, raw: Mapping[str, Any] | None) -> ArgsT:
        """The validated arguments; ActionArgsInvalid naming each bad field otherwise."""
        try:
            return self.args.model_validate(dict(raw or {}))
        except ValidationError as exc:
            raise ActionArgsInvalid(f"{self.name}: {describe_args_error(exc)}") from None

    def mutates(self, args: ArgsT) -> bool:
        """Whether this call, with these validated arguments, changes something."""
        if not self.mutating:
            return False
        refined = args.mutating()
        return True if refined is None else refined

    def is_mutating(self, raw: Mapping[str, Any] | None) -> bool:
        """Like `mutates`, from raw arguments; arguments that do not validate count as mutating (the safe side)."""
        if not self.mutating:
            return False
        try:
            return self.mutates(self.parse_args(raw))
        except ActionArgsInvalid:
            return True

    def args_schema(self) -> dict[str, Any]:
        """The JSON Schema of the arguments (field names as written in a playbook)."""
        return self.args.model_json_schema(by_alias=True)

    def describe(self) -> dict[str, Any]:
        """Everything about the action, as JSON-ready data (what `xorb actions list --json` prints)."""
        return {
            "name": self.name,
            "description": self.description,
            "mutating": self.mutating,
            "mutating_unless": self.mutating_unless or None,
            "undo": self.undo,
            "one_way": self.one_way,
            "connector": self.connector,
            "effect": self.effect,
            "target": self.target,
            "target_kind": self.target_kind,
            "args_schema": self.args_schema(),
        }


def describe_args_error(exc: ValidationError) -> str:
    """One line per bad field: `field 'url': expected a valid URL, got 'x'`, joined with '; '."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()))
        message = err.get("msg", "invalid value").removeprefix("Value error, ").replace("Input should be", "expected")
        if err.get("type") == "extra_forbidden":
            message = "unknown argument"
        elif err.get("type") == "missing":
            message = "required argument is missing"
        else:
            got = err.get("input")
            if isinstance(got, str | int | float | bool) and "got " not in message:
                message += f", got {got!r}"
        parts.append(f"field '{loc}': {message}" if loc else message)
    return "; ".join(parts)


class ActionCatalog:
    """Action specs by name; immutable. Pure data: the activities that perform them are the worker's."""

    def __init__(self, specs: Iterable[ActionSpec[Any]]) -> None:
        self._specs: dict[str, ActionSpec[Any]] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"action {spec.name!r} is in the catalog twice")
            self._specs[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> ActionSpec[Any] | None:
        return self._specs.get(name)

    def specs(self) -> list[ActionSpec[Any]]:
        """Every spec, sorted by name."""
        return [self._specs[name] for name in sorted(self._specs)]

    def flags(self) -> dict[str, bool]:
        """`{name: mutating}`: what playbook validation takes as its `actions`."""
        return {spec.name: spec.mutating for spec in self.specs()}

    def mutating(self) -> list[str]:
        """The actions that may change something outside (worst case): a run pins them for its dry-run logic."""
        return [spec.name for spec in self.specs() if spec.mutating]

    def always_mutating(self) -> list[str]:
        """The actions that change something whatever their arguments: a dry run never calls them."""
        return [spec.name for spec in self.specs() if spec.mutating and not spec.mutating_unless]

    def problems(self) -> list[str]:
        """Catalog mistakes: an undo naming an unknown action, or a non-mutating action with an undo."""
        found = []
        for spec in self.specs():
            if spec.undo is None:
                continue
            if spec.undo not in self._specs:
                found.append(f"action {spec.name}: its undo {spec.undo!r} is not in the catalog")
            if not spec.mutating:
                found.append(f"action {spec.name}: only a mutating action has anything to undo")
        return found
