"""Command arguments (Language 1.0, 3.3.1.4, and the SLPF profile's, 2.1.3.2) and the time window they give.

A value of the wrong type is malformed (400); an argument name neither defines is one this consumer does not
support (501 "Option not supported", as the profile asks for arguments it does not know).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xorb_orchestrator.actuator.answers import malformed, shown, unsupported

RESPONSE_TYPES = ("none", "ack", "status", "complete")
DIRECTIONS = ("both", "ingress", "egress")
DROP_PROCESSES = ("none", "reject", "false_ack")
TIMING = ("start_time", "stop_time", "duration")
SLPF_ARGS = ("drop_process", "persistent", "direction", "insert_rule")
MAX_RULE_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class Arguments:
    """The arguments of one command, as given (None: left out)."""

    start_time: int | None = None
    stop_time: int | None = None
    duration: int | None = None
    response_requested: str | None = None
    drop_process: str | None = None
    persistent: bool | None = None
    direction: str | None = None
    insert_rule: int | None = None

    def given(self) -> list[str]:
        """The names of the arguments present, as a producer wrote them (slpf ones prefixed)."""
        names = [*TIMING, "response_requested"]
        given = [name for name in names if getattr(self, name) is not None]
        return given + [f"slpf.{name}" for name in SLPF_ARGS if getattr(self, name) is not None]


@dataclass(frozen=True)
class Window:
    """When a rule is in effect, in epoch milliseconds: from `start_ms` until `stop_ms` (None: until deleted)."""

    start_ms: int
    stop_ms: int | None

    def started(self, now_ms: int) -> bool:
        return self.start_ms <= now_ms

    def ended(self, now_ms: int) -> bool:
        return self.stop_ms is not None and self.stop_ms <= now_ms

    def widened(self, other: Window) -> Window:
        """Both windows' span: the earlier start, the later stop (never, if either is)."""
        stop = None if self.stop_ms is None or other.stop_ms is None else max(self.stop_ms, other.stop_ms)
        return Window(min(self.start_ms, other.start_ms), stop)


def parse_args(value: Any) -> Arguments:
    """`args` of a command (None when it has none)."""
    if value is None:
        return Arguments()
    if not isinstance(value, dict):
        raise malformed(f"args: expected an object, got {shown(value)}")
    if not value:
        raise malformed("args: an empty object (leave args out when there are none)")
    for name in value:
        if name not in (*TIMING, "response_requested", "slpf"):
            raise unsupported("Option not supported", f"args.{name[:40]}")
    start, stop, duration = (_milliseconds(f"args.{name}", value.get(name)) for name in TIMING)
    response = value.get("response_requested")
    if response is not None and response not in RESPONSE_TYPES:
        raise malformed(f"args.response_requested: expected one of {', '.join(RESPONSE_TYPES)}, got {shown(response)}")
    return Arguments(start, stop, duration, response, **_slpf(value.get("slpf")))


def _slpf(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise malformed(f"args.slpf: expected an object, got {shown(value)}")
    for name in value:
        if name not in SLPF_ARGS:
            raise unsupported("Option not supported", f"args.slpf.{name[:40]}")
    found = {name: value.get(name) for name in SLPF_ARGS}
    for name, allowed in (("drop_process", DROP_PROCESSES), ("direction", DIRECTIONS)):
        if found[name] is not None and found[name] not in allowed:
            raise malformed(f"args.slpf.{name}: expected one of {', '.join(allowed)}, got {shown(found[name])}")
    if found["persistent"] is not None and not isinstance(found["persistent"], bool):
        raise malformed(f"args.slpf.persistent: expected true or false, got {shown(found['persistent'])}")
    number = found["insert_rule"]
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise malformed(f"args.slpf.insert_rule: expected a rule number (an integer), got {shown(number)}")
    if number is not None and not 0 <= number <= MAX_RULE_NUMBER:
        raise malformed(f"args.slpf.insert_rule: expected 0 to {MAX_RULE_NUMBER}, got {number}")
    return found


def _milliseconds(where: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise malformed(f"{where}: expected milliseconds (an integer, 0 or more), got {shown(value)}")
    return value


def window(args: Arguments, now_ms: int) -> Window:
    """The window start_time, stop_time and duration give (Language 3.3.1.4): any two, the third derived."""
    start, stop, duration = args.start_time, args.stop_time, args.duration
    if None not in (start, stop, duration):
        raise malformed("args: start_time, stop_time and duration together (give at most two)")
    if duration == 0:
        raise malformed("args.duration: 0 ms would end the rule as it starts")
    if start is None:
        start = stop - duration if stop is not None and duration is not None else now_ms
    if stop is None and duration is not None:
        stop = start + duration
    if stop is not None and stop <= start:
        raise malformed(f"args.stop_time: {stop} is not after the start ({start})")
    if stop is not None and stop <= now_ms:
        raise malformed(f"args.stop_time: {stop} has passed (now {now_ms})")
    return Window(start, stop)


def requested_response(command: Any) -> str:
    """`response_requested` of a command as far as it can be read; "complete" when it says none (3.2.1.7.2)."""
    args = command.get("args") if isinstance(command, dict) else None
    value = args.get("response_requested") if isinstance(args, dict) else None
    return value if value in RESPONSE_TYPES else "complete"
