"""Which playbook responds to an incident.

A playbook applies when one of its ATT&CK tags names a technique of the incident, exactly (T1071.001) or as
its parent technique (a playbook tagged T1071 covers T1071.001). The most specific match wins: more exact
matches, then more parent matches, then the playbook id (so the choice never depends on file order). Its inputs
come from the deployment's configured inputs (XORB_PLAYBOOK_INPUTS) and, for inputs named like an observable
key (ip, src_ip, user, url, hostname ...), from the incident's observables. A playbook whose required inputs
cannot be filled is passed over, and the plan says why; with none left the built-in plan (notify the SOC) runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.plan import PinnedPlaybook
from xorb_orchestrator.models.response_plan import TargetChoice
from xorb_orchestrator.playbook import InputError, InputType, Playbook
from xorb_orchestrator.sources.generic_alert import OBSERVABLE_KEYS

TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
ALL_PLAYBOOKS = "*"  # XORB_PLAYBOOK_INPUTS key: inputs offered to every playbook that declares them


@dataclass(frozen=True)
class Match:
    """How a playbook's tags cover the incident's techniques."""

    playbook: Playbook
    exact: tuple[str, ...]
    parent: tuple[str, ...]

    def describe(self) -> str:
        return ", ".join([*self.exact, *(f"{t} (parent)" for t in self.parent)])


@dataclass
class Selection:
    """The chosen playbook pinned with its inputs (or None), the match, and what was passed over and why."""

    pinned: PinnedPlaybook | None = None
    match: Match | None = None
    passed_over: list[str] = field(default_factory=list)


def match(playbook: Playbook, techniques: Iterable[str]) -> Match | None:
    """The playbook's match for these techniques, or None when no tag covers any of them."""
    tags = {tag.upper() for tag in playbook.tags if TECHNIQUE.match(tag.upper())}
    exact, parent = [], []
    for technique in dict.fromkeys(t.upper() for t in techniques):
        if technique in tags:
            exact.append(technique)
        elif technique.split(".")[0] in tags:
            parent.append(technique)
    return Match(playbook, tuple(exact), tuple(parent)) if exact or parent else None


def inputs_from_observables(
    playbook: Playbook, observables: Sequence[Observable], given: Mapping[str, Any]
) -> dict[str, Any]:
    """`given`, plus each declared input named like an observable key (ip, src_ip, user, url, hostname ...) that
    was not given, taken from the observables of that type and role (a list input: all of them)."""
    inputs = dict(given)
    for name, spec in playbook.inputs.items():
        if inputs.get(name) is not None or name not in OBSERVABLE_KEYS:
            continue
        kind, role = OBSERVABLE_KEYS[name]
        values = [o.value for o in observables if o.type == kind and (role is None or o.role == role)]
        if values:
            inputs[name] = values if spec.type is InputType.LIST else values[0]
    return inputs


def inputs_from_targets(
    playbook: Playbook, targets: Sequence[TargetChoice], given: Mapping[str, Any]
) -> dict[str, Any]:
    """`given`, plus each declared input named like an observable key filled from the policy's **targets** only,
    by type and role (`dest_ip` takes a target seen as dest; `ip` any address target): never from an observable
    the policy did not choose, so a block cannot land on the infected workstation because it came first."""
    inputs = dict(given)
    for name, chosen in targets_for_inputs(playbook, targets, given).items():
        values = [target.value for target in chosen]
        inputs[name] = values if playbook.inputs[name].type is InputType.LIST else values[0]
    return inputs


def targets_for_inputs(
    playbook: Playbook, targets: Sequence[TargetChoice], given: Mapping[str, Any]
) -> dict[str, list[TargetChoice]]:
    """Input name -> the targets that fill it (see inputs_from_targets); inputs already given are left alone."""
    filled: dict[str, list[TargetChoice]] = {}
    for name, spec in playbook.inputs.items():
        if given.get(name) is not None or name not in OBSERVABLE_KEYS:
            continue
        kind, role = OBSERVABLE_KEYS[name]
        chosen = [t for t in targets if t.type == kind and (role is None or t.role == role)]
        if chosen:
            filled[name] = chosen if spec.type is InputType.LIST else chosen[:1]
    return filled


def wrong_side(playbook: Playbook, filled: Mapping[str, Sequence[TargetChoice]]) -> str | None:
    """Why a target landed on the wrong side of an input that says which side it takes (InputSpec.target)."""
    for name, chosen in filled.items():
        side = playbook.inputs[name].target
        for target in chosen:
            if side is not None and target.scope.value != side:
                return f"its input {name!r} takes an {side} target, and {target.value} is {target.scope.value}"
    return None


def candidates(techniques: Sequence[str], catalog: Mapping[str, Playbook]) -> list[Match]:
    """The playbooks whose ATT&CK tags cover the incident's techniques, most specific first."""
    found = [m for playbook in catalog.values() if (m := match(playbook, techniques)) is not None]
    found.sort(key=lambda m: (-len(m.exact), -len(m.parent), m.playbook.id))
    return found


def configured_inputs(playbook: Playbook, configured: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The deployment's inputs for this playbook: those for every playbook (`*`) that it declares, overridden by
    its own entry (kept whole, so a misspelt name there is reported, not ignored)."""
    shared = {k: v for k, v in configured.get(ALL_PLAYBOOKS, {}).items() if k in playbook.inputs}
    return {**shared, **configured.get(playbook.id, {})}


def choose_playbook(
    techniques: Sequence[str],
    observables: Sequence[Observable],
    catalog: Mapping[str, Playbook],
    configured: Mapping[str, Mapping[str, Any]],
    *,
    allowed: frozenset[str] | None = None,
    mutating_actions: Iterable[str] = (),
) -> Selection:
    """The playbook to run for an incident with these techniques and observables (see the module docstring).

    `allowed`: the playbook ids that may run on their own (None: all of them). Pure: the caller loads the catalog.
    """
    matches = candidates(techniques, catalog)
    selection = Selection()
    mutating = list(mutating_actions)
    for found in matches:
        playbook = found.playbook
        if allowed is not None and playbook.id not in allowed:
            selection.passed_over.append(f"{playbook.id}: matched {found.describe()} but is not in XORB_AUTO_PLAYBOOKS")
            continue
        inputs = inputs_from_observables(playbook, observables, configured_inputs(playbook, configured))
        try:
            pinned = PinnedPlaybook.pin(playbook, inputs=inputs, catalog=catalog, mutating_actions=mutating)
        except InputError as exc:
            selection.passed_over.append(
                f"{playbook.id}: matched {found.describe()} but {exc} (set it in XORB_PLAYBOOK_INPUTS, or send it "
                "as an observable)"
            )
            continue
        selection.pinned, selection.match = pinned, found
        break
    return selection
