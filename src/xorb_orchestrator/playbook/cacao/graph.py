"""The workflow as a graph: references, the start step, cycles, dead ends, and where branches join again.

CACAO branches (of if/while/switch/parallel steps) are sub-workflows that end at an `end` step, after which the run
goes on with the branching step's `on_completion`. Branches that instead flow into a common step (and a step's
`on_success`/`on_failure` paths) join where every path from them meets: their nearest common post-dominator.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from xorb_orchestrator.playbook.cacao.models import (
    AnyStep,
    CacaoPlaybook,
    EndStep,
    ParallelStep,
    StartStep,
    WhileConditionStep,
)
from xorb_orchestrator.playbook.errors import PlaybookError

EXIT = "<exit>"  # every end step leads here
_BLOCKS = ("if-condition", "switch-condition", "parallel", "while-condition")


class Graph:
    """Read-only questions about a parsed playbook's workflow."""

    def __init__(self, playbook: CacaoPlaybook) -> None:
        self.playbook = playbook
        self.steps: dict[str, AnyStep] = dict(playbook.workflow)

    def step(self, step_id: str) -> AnyStep:
        return self.steps[step_id]

    def is_end(self, step_id: str) -> bool:
        return isinstance(self.steps.get(step_id), EndStep)

    def success(self, step_id: str) -> str | None:
        """The explicit next step on success: on_completion or on_success."""
        step = self.steps[step_id]
        return step.on_completion or step.on_success

    def continuation(self, step_id: str) -> str | None:
        """Where the run goes after this step (and its branches) succeeded: its on_completion/on_success, or,
        for a branching step without one, the step where all its branches join again."""
        explicit = self.success(step_id)
        if explicit is not None:
            return explicit
        step = self.steps[step_id]
        if step.type in _BLOCKS and not isinstance(step, WhileConditionStep):
            return self.join([target for _, target in step.branches()])
        return None

    def _flow(self, step_id: str) -> list[str]:
        """Successors in the continuation graph (branch entries count only where there is no continuation)."""
        step = self.steps[step_id]
        if isinstance(step, EndStep):
            return [EXIT]
        found = [t for t in (step.on_completion, step.on_success, step.on_failure) if t in self.steps]
        if not found and step.type in _BLOCKS:
            found = [target for _, target in step.branches() if target in self.steps]
        return found or [EXIT]

    @cached_property
    def post_dominators(self) -> dict[str, frozenset[str]]:
        """Step -> the steps every path from it to an end passes through (itself included)."""
        nodes = [*self.steps, EXIT]
        everything = frozenset(nodes)
        result: dict[str, frozenset[str]] = {node: everything for node in nodes}
        result[EXIT] = frozenset({EXIT})
        changed = True
        while changed:
            changed = False
            for node in self.steps:
                successors = [result[s] for s in self._flow(node)]
                new = frozenset({node}) | frozenset.intersection(*successors)
                if new != result[node]:
                    result[node], changed = new, True
        return result

    def join(self, entries: Iterable[str]) -> str | None:
        """The nearest step that every path from all `entries` reaches (None when they only meet at the end)."""
        present = [entry for entry in entries if entry in self.steps]
        if not present:
            return None
        common = frozenset.intersection(*(self.post_dominators[entry] for entry in present)) - {EXIT}
        common = frozenset(c for c in common if not isinstance(self.steps[c], EndStep))
        if not common:
            return None
        # Post-dominators form a chain: the nearest one is post-dominated by all the others.
        return max(common, key=lambda candidate: len(self.post_dominators[candidate]))


def graph_problems(graph: Graph) -> list[PlaybookError]:
    """Every structural problem of the workflow graph (empty: it can be converted)."""
    playbook, steps = graph.playbook, graph.steps
    problems: list[PlaybookError] = []
    start = playbook.workflow_start
    if start not in steps:
        problems.append(PlaybookError(f"step '{start}' is not in the workflow", field="workflow_start"))
    elif not isinstance(steps[start], StartStep):
        kind = steps[start].type
        message = f"step '{start}' is {'an' if kind[0] in 'aeiou' else 'a'} {kind} step, not a start step"
        problems.append(PlaybookError(message, field="workflow_start"))
    exception = playbook.workflow_exception
    if exception is not None and exception not in steps:
        problems.append(PlaybookError(f"step '{exception}' is not in the workflow", field="workflow_exception"))
    for step_id, step in steps.items():
        problems.extend(_step_problems(step_id, step, steps))
    if problems:
        return problems
    roots = [start] + ([exception] if exception is not None else [])
    problems.extend(_cycles(graph, roots))
    if problems:
        return problems
    for step_id in _reachable(graph, roots):
        step = steps[step_id]
        if not isinstance(step, EndStep) and graph.continuation(step_id) is None:
            what = "on_success" if step.on_failure is not None else "on_completion"
            problems.append(PlaybookError(f"no next step ({what}): every path must reach an end step", step_id))
    return problems


def _step_problems(step_id: str, step: AnyStep, steps: dict[str, AnyStep]) -> list[PlaybookError]:
    problems: list[PlaybookError] = []
    prefix = step_id.split("--", 1)[0]
    if prefix != step.type:
        problems.append(PlaybookError(f"a {step.type} step's id must start with '{step.type}--'", step_id, "type"))
    if step.on_completion is not None and (step.on_success is not None or step.on_failure is not None):
        both = "on_success" if step.on_success is not None else "on_failure"
        problems.append(PlaybookError(f"on_completion and {both} cannot both be set", step_id, both))
    if isinstance(step, StartStep | EndStep):
        for name in ("on_success", "on_failure"):
            if getattr(step, name) is not None:
                problems.append(PlaybookError(f"not allowed on a {step.type} step", step_id, name))
    if isinstance(step, EndStep) and step.on_completion is not None:
        problems.append(PlaybookError("not allowed on an end step", step_id, "on_completion"))
    for name, target in step.next_steps():
        if target not in steps:
            problems.append(PlaybookError(f"unknown step '{target}'", step_id, name))
        elif target == step_id and not isinstance(step, WhileConditionStep):
            problems.append(PlaybookError("a step cannot lead to itself", step_id, name))
        elif isinstance(steps[target], StartStep):
            problems.append(PlaybookError(f"step '{target}' is a start step; nothing leads to one", step_id, name))
    if isinstance(step, ParallelStep) and len(set(step.next_steps_)) != len(step.next_steps_):
        problems.append(PlaybookError("a branch is listed twice", step_id, "next_steps"))
    return problems


def _reachable(graph: Graph, roots: list[str]) -> list[str]:
    seen: list[str] = []
    todo = list(roots)
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in graph.steps:
            continue
        seen.append(step_id)
        todo.extend(target for _, target in graph.steps[step_id].next_steps())
    return seen


def _cycles(graph: Graph, roots: list[str]) -> list[PlaybookError]:
    """Loops other than a while-condition's: a step of its on_true branch leading back to it."""
    problems: list[PlaybookError] = []
    done: set[str] = set()
    # The path being explored: (step id, the field by which it was left).
    path: list[tuple[str, str]] = []

    def visit(step_id: str) -> None:
        if step_id in done:
            return
        on_path = [node for node, _ in path]
        for name, target in graph.steps[step_id].next_steps():
            if target in on_path:
                index = on_path.index(target)
                if isinstance(graph.steps[target], WhileConditionStep) and path[index][1] == "on_true":
                    continue  # the end of an iteration: the loop condition is evaluated again
                loop = " -> ".join([*on_path[index:], step_id, target])
                problems.append(
                    PlaybookError(
                        f"leads back to step '{target}' ({loop}): only a while-condition may loop", step_id, name
                    )
                )
                continue
            path.append((step_id, name))
            visit(target)
            path.pop()
        done.add(step_id)

    for root in roots:
        if root in graph.steps:
            visit(root)
    return problems
