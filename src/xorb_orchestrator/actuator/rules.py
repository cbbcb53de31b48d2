"""The rule book: every allow/deny rule the consumer holds, by rule number, and the JSON it is kept as.

Rule numbers are given in order and never given twice (the next number is kept with the rules), so a stale
`delete` of a rule long gone can never remove a newer one; a producer may choose a number (`insert_rule`) that is
not in use. A rule being deleted or ending is first moved to `retired` and kept there until its nftables effect
is gone: an actuator that stops between the two removes it when it starts, and never puts it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from xorb_orchestrator.actuator.answers import unsupported
from xorb_orchestrator.actuator.arguments import Arguments, Window
from xorb_orchestrator.actuator.commands import RuleCommand, rule_command

FORMAT = 1


class RuleBookError(ValueError):
    """What was read is not a rule book this consumer wrote; the message says where it is wrong."""


@dataclass(frozen=True)
class Rule:
    number: int
    command: RuleCommand

    @property
    def window(self) -> Window:
        return self.command.window

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "command": self.command.to_json(),
            "start_ms": self.window.start_ms,
            "stop_ms": self.window.stop_ms,
        }


class RuleBook:
    def __init__(self) -> None:
        self._rules: dict[int, Rule] = {}
        self.retired: dict[int, Rule] = {}
        self.next_number = 1

    def __iter__(self) -> Iterator[Rule]:
        return iter(list(self._rules.values()))

    def get(self, number: int) -> Rule | None:
        return self._rules.get(number)

    def identical(self, command: RuleCommand) -> Rule | None:
        """The rule a repeat of `command` is: same action, target and options (and number, if it names one)."""
        identity = command.identity()
        for rule in self._rules.values():
            if rule.command.identity() == identity and command.insert_rule in (None, rule.number):
                return rule
        return None

    def add(self, command: RuleCommand) -> Rule:
        """A new rule for `command`, numbered as it asks or with the next free number; 501 if its number is taken."""
        number = command.insert_rule
        if number is not None and (number in self._rules or number in self.retired):
            raise unsupported("Rule number currently in use", str(number))
        if number is None:
            number = self.next_number
        self.next_number = max(self.next_number, number + 1)
        rule = Rule(number, command)
        self._rules[number] = rule
        return rule

    def rewindow(self, number: int, window: Window) -> Rule:
        rule = Rule(number, dataclasses.replace(self._rules[number].command, window=window))
        self._rules[number] = rule
        return rule

    def retire(self, number: int) -> Rule:
        """Out of the book, into `retired` until its effect is removed (`forget`), or it comes back (`restore`)."""
        rule = self._rules.pop(number)
        self.retired[number] = rule
        return rule

    def restore(self, number: int) -> None:
        self._rules[number] = self.retired.pop(number)

    def forget(self, number: int) -> None:
        self.retired.pop(number, None)

    def discard(self, number: int) -> None:
        """Gone without a trace (a rule whose effect could not be put in place)."""
        self._rules.pop(number, None)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "next_rule_number": self.next_number,
            "rules": [rule.to_json() for rule in sorted(self._rules.values(), key=lambda r: r.number)],
            "retired": [rule.to_json() for rule in sorted(self.retired.values(), key=lambda r: r.number)],
        }

    @classmethod
    def from_json(cls, data: Any) -> RuleBook:
        """The book `to_json` wrote; RuleBookError naming what is wrong otherwise."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RuleBookError(f"not a rule book of format {FORMAT}")
        book = cls()
        try:
            book.next_number = int(data["next_rule_number"])
            for name, into in (("rules", book._rules), ("retired", book.retired)):
                for index, item in enumerate(data[name]):
                    rule = _rule(item, f"{name}[{index}]")
                    into[rule.number] = rule
        except (KeyError, TypeError, ValueError) as exc:
            raise RuleBookError(f"{type(exc).__name__}: {exc}") from None
        return book


def _rule(item: dict[str, Any], where: str) -> Rule:
    command = item["command"]
    action = command["action"]
    ((kind, target),) = command["target"].items()
    options = command["args"]["slpf"]
    args = Arguments(
        drop_process=options.get("drop_process"), persistent=options["persistent"], direction=options["direction"]
    )
    try:
        parsed = rule_command(action, kind, target, args, now_ms=item["start_ms"])
    except Exception as exc:
        raise RuleBookError(f"{where}: {exc}") from None
    window = Window(int(item["start_ms"]), None if item["stop_ms"] is None else int(item["stop_ms"]))
    return Rule(int(item["number"]), dataclasses.replace(parsed, window=window))
