"""An OpenC2 command (Language 1.0, 3.3.1) read and checked against what this SLPF consumer carries out. Pure.

What is wrong with a command decides its answer, in the order a producer would want to learn it: a command that is
not one (not an object, an unknown field or action, a target that is not one member) is malformed (400); a valid
command this consumer does not carry out (an action or pair outside the profile, `update file`, an argument it does
not support) is 501; then the values themselves (a bad address, port or time) are checked, 400 again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from xorb_orchestrator.actuator.answers import malformed, shown, unsupported
from xorb_orchestrator.actuator.arguments import MAX_RULE_NUMBER, Arguments, Window, parse_args, window
from xorb_orchestrator.actuator.targets import NET_KINDS, ConnectionTarget, NetTarget, parse_connection, parse_net

LANGUAGE_ACTIONS = (
    "scan", "locate", "query", "deny", "contain", "allow", "start", "stop", "restart", "cancel", "set", "update",
    "redirect", "create", "delete", "detonate", "restore", "copy", "investigate", "remediate",
)  # fmt: skip
LANGUAGE_TARGETS = (
    "artifact", "command", "device", "domain_name", "email_addr", "features", "file", "idn_domain_name",
    "idn_email_addr", "ipv4_net", "ipv6_net", "ipv4_connection", "ipv6_connection", "iri", "mac_addr", "process",
    "properties", "uri",
)  # fmt: skip
RULE_NUMBER = "slpf:rule_number"
RULE_TARGETS = ["ipv4_connection", "ipv4_net", "ipv6_connection", "ipv6_net"]
# What `query features` lists as pairs: the ones carried out. `update file` is in the profile, not here (501).
PAIRS = {"allow": RULE_TARGETS, "deny": RULE_TARGETS, "query": ["features"], "delete": [RULE_NUMBER]}
PROFILE_ACTIONS = ("query", "deny", "allow", "update", "delete")
FEATURES = ("versions", "profiles", "pairs", "rate_limit")
MAX_FEATURES = 10
COMMAND_FIELDS = ("action", "target", "args", "actuator", "command_id")
SPECIFIERS = ("hostname", "named_group", "asset_id", "asset_tuple")
_COMMAND_ID = re.compile(r"^\S{0,36}$")


@dataclass(frozen=True)
class RuleCommand:
    """allow or deny a target, in a window, with the profile's options."""

    action: str
    target: NetTarget | ConnectionTarget
    window: Window
    direction: str = "both"
    drop_process: str = "none"
    persistent: bool = True
    insert_rule: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The command as kept in the rule book: what the rule does, without its timing or number."""
        options = {"direction": self.direction, "drop_process": self.drop_process, "persistent": self.persistent}
        if self.action == "allow":
            del options["drop_process"]
        return {"action": self.action, "target": self.target.to_json(), "args": {"slpf": options}}

    def identity(self) -> str:
        """Equal for two commands that ask for the same rule (a repeat): same action, target and options."""
        return json.dumps(self.to_json(), sort_keys=True)


@dataclass(frozen=True)
class DeleteRule:
    number: int


@dataclass(frozen=True)
class QueryFeatures:
    features: tuple[str, ...]


Command = RuleCommand | DeleteRule | QueryFeatures


@dataclass(frozen=True)
class Request:
    """A command checked, with the response it asks for and its id (if it has one)."""

    command: Command
    response_requested: str
    command_id: str | None


def parse_command(value: Any, now_ms: int) -> Request:
    """The command `value` (JSON) is, checked; CommandError (400 or 501) naming what is wrong otherwise."""
    if not isinstance(value, dict):
        raise malformed(f"a command is a JSON object, got {shown(value)}")
    unknown = [name for name in value if name not in COMMAND_FIELDS]
    if unknown:
        raise malformed(f"unknown field {unknown[0][:40]!r} (a command has {', '.join(COMMAND_FIELDS)})")
    action = value.get("action")
    if action not in LANGUAGE_ACTIONS:
        raise malformed(f"action: {shown(action)} is not an OpenC2 action")
    kind, target = _target(value.get("target"))
    if action not in PROFILE_ACTIONS:
        raise unsupported("Command not supported", f"{action} is not an SLPF action")
    if kind not in PAIRS.get(action, []):
        what = "Target type not supported" if action in ("allow", "deny") else "Command not supported"
        raise unsupported(what, f"{action} {kind}")
    _actuator(value.get("actuator"))
    command_id = _command_id(value.get("command_id"))
    args = parse_args(value.get("args"))
    response = args.response_requested or "complete"
    if action == "query":
        return Request(_query(args, target), response, command_id)
    if action == "delete":
        return Request(_delete(args, target), response, command_id)
    return Request(rule_command(action, kind, target, args, now_ms), response, command_id)


def rule_command(action: str, kind: str, target: Any, args: Arguments, now_ms: int) -> RuleCommand:
    """allow/deny `kind` `target` with `args`; also how the rule book reads back what it kept."""
    if args.drop_process is not None and action == "allow":
        raise unsupported("Option not supported", "args.slpf.drop_process applies to deny only")
    if args.drop_process == "false_ack":
        raise unsupported("Option not supported", "args.slpf.drop_process false_ack (none and reject are)")
    parsed = parse_net(kind, target) if kind in NET_KINDS else parse_connection(kind, target)
    return RuleCommand(
        action=action,
        target=parsed,
        window=window(args, now_ms),
        direction=args.direction or "both",
        drop_process=args.drop_process or "none",
        persistent=True if args.persistent is None else args.persistent,
        insert_rule=args.insert_rule,
    )


def _target(value: Any) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise malformed(f"target: expected an object with exactly one member (the target type), got {shown(value)}")
    kind, target = next(iter(value.items()))
    if kind in LANGUAGE_TARGETS or kind == RULE_NUMBER:
        return kind, target
    if ":" in kind:  # another profile's extension target (nsid:name): valid, not ours
        raise unsupported("Target type not supported", kind[:60])
    raise malformed(f"Validation Error: Target: {kind[:60]!r} is not an OpenC2 target")


def _actuator(value: Any) -> None:
    """The actuator, if named, must be this one (slpf); its specifiers are accepted as they come: one endpoint is
    one actuator."""
    if value is None:
        return
    if not isinstance(value, dict) or len(value) != 1:
        raise malformed(f"actuator: expected an object with exactly one member (the profile), got {shown(value)}")
    profile, specifiers = next(iter(value.items()))
    if profile != "slpf":
        raise unsupported("Actuator not supported", f"{profile[:40]} (this is an slpf actuator)")
    if not isinstance(specifiers, dict):
        raise malformed(f"actuator.slpf: expected an object of specifiers, got {shown(specifiers)}")
    unknown = [name for name in specifiers if name not in SPECIFIERS]
    if unknown:
        raise malformed(f"actuator.slpf: unknown specifier {unknown[0][:40]!r} (specifiers: {', '.join(SPECIFIERS)})")


def _command_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _COMMAND_ID.match(value):
        raise malformed(f"command_id: expected up to 36 characters without spaces, got {shown(value)}")
    return value


def _query(args: Arguments, target: Any) -> QueryFeatures:
    # Language 4.1: query features takes response_requested complete and nothing else, and says 400 otherwise.
    if args.given() not in ([], ["response_requested"]) or args.response_requested not in (None, "complete"):
        raise malformed("query features takes no argument but response_requested complete")
    if not isinstance(target, list) or len(target) > MAX_FEATURES:
        raise malformed(f"target.features: expected a list of at most {MAX_FEATURES} features, got {shown(target)}")
    for feature in target:
        if feature not in FEATURES:
            raise malformed(f"target.features: {shown(feature)} is not a feature ({', '.join(FEATURES)})")
    return QueryFeatures(tuple(dict.fromkeys(target)))  # a repeated feature counts once (3.4.1.5)


def _delete(args: Arguments, target: Any) -> DeleteRule:
    extra = [name for name in args.given() if name != "response_requested"]
    if extra:
        raise unsupported("Option not supported", f"args.{extra[0]} with delete")
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target <= MAX_RULE_NUMBER:
        raise malformed(f"target.{RULE_NUMBER}: expected a rule number (an integer), got {shown(target)}")
    return DeleteRule(target)
