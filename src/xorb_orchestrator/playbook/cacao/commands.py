"""CACAO commands as native step bodies: `http-api` and `openc2-http` become `http.request` actions, `manual`
becomes an `approval` (a person does it and says so)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import timedelta
from typing import Any

from xorb_orchestrator.playbook.cacao.models import (
    ActionStep,
    AgentTarget,
    CacaoPlaybook,
    HttpApiCommand,
    ManualCommand,
    OpenC2HttpCommand,
)
from xorb_orchestrator.playbook.cacao.variables import Scope, Variables
from xorb_orchestrator.playbook.durations import format_duration

HTTP_ACTION = "http.request"
MAX_HTTP_TIMEOUT = 50  # seconds: the most http.request allows for one call
DEFAULT_MANUAL_TIMEOUT = timedelta(hours=1)
DEFAULT_MANUAL_ROLE = "soc-analyst"
# Agent/target types that name people: an individual approves by name, the others by role.
_PEOPLE_TYPES = {"individual"}
_ROLE_TYPES = {"group", "organization", "sector", "security-category"}
_START_LINE = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE)\s+(\S+)(?:\s+HTTP/\d(?:\.\d)?)?$")


class CommandError(ValueError):
    """A command that cannot be converted; `field` is its path inside the step."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def milliseconds(value: int) -> str:
    """CACAO milliseconds as a native duration: whole seconds, rounded up, at least 1s."""
    return format_duration(timedelta(seconds=max(1, math.ceil(value / 1000))))


def http_action(
    playbook: CacaoPlaybook, step: ActionStep, index: int, variables: Variables, scope: Scope
) -> dict[str, Any]:
    """The `action: http.request` body (action + args) for an http-api or openc2-http command."""
    command = step.commands[index]
    assert isinstance(command, HttpApiCommand | OpenC2HttpCommand)
    field = f"commands[{index}]"
    start = _START_LINE.match(command.command.strip())
    if start is None:
        raise CommandError(
            f"{field}.command", f"expected an HTTP start line such as 'GET /path HTTP/1.1', got {command.command!r}"
        )
    method, target = start.group(1), start.group(2)
    if isinstance(command, OpenC2HttpCommand) and method != "POST":
        raise CommandError(f"{field}.command", f"an openc2-http command is a POST, got {method}")
    url = target if re.match(r"^https?://", target) else base_url(playbook, step) + "/" + target.lstrip("/")
    args: dict[str, Any] = {"method": method, "url": variables.template(url, scope)}
    if command.headers:
        args["headers"] = {
            name: variables.template(", ".join(values), scope) for name, values in command.headers.items()
        }
    body = _body(command, field)
    if body is not None:
        args["json"] = variables.template_value(body, scope)
    if step.timeout:  # the call itself gives up first, so the step fails cleanly (http.request allows 50s)
        args["timeout"] = min(MAX_HTTP_TIMEOUT, max(1, math.ceil(step.timeout / 1000)))
    return {"action": HTTP_ACTION, "args": args}


def _body(command: HttpApiCommand | OpenC2HttpCommand, field: str) -> Any:
    """The JSON request body, as data: variables inside its strings are then substituted one by one."""
    if isinstance(command, HttpApiCommand) and command.content is not None:
        text, where = command.content, f"{field}.content"
    elif command.content_b64 is not None:
        where = f"{field}.content_b64"
        text = _decode(command.content_b64, where)
    else:
        return None
    try:
        return json.loads(text)
    except ValueError:
        what = "an OpenC2 command" if isinstance(command, OpenC2HttpCommand) else "JSON"
        raise CommandError(where, f"is not {what}: http.request sends JSON bodies only") from None


def _decode(value: str, field: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise CommandError(field, "is not base64-encoded UTF-8 text") from None


def base_url(playbook: CacaoPlaybook, step: ActionStep) -> str:
    """The URL of the step's HTTP target: its first target (or else its agent) that is an http-api definition.

    From the address: `url` as given; else `dname`, `ipv4` or `ipv6` with the port — https for 443 and 8443,
    http otherwise (CACAO's default port is 80).
    """
    candidates = [(f"targets[{i}]", target) for i, target in enumerate(step.targets)]
    if step.agent is not None:
        candidates.append(("agent", step.agent))
    if not candidates:
        raise CommandError("targets", "an HTTP command needs a target (or agent) of type http-api")
    definitions = {**playbook.agent_definitions, **playbook.target_definitions}
    for field, reference in candidates:
        found = definitions.get(reference)
        if found is not None and found.type == "http-api":
            return _address(found, field, reference)
    field, reference = candidates[0]
    found = definitions.get(reference)
    if found is None:
        raise CommandError(field, f"'{reference}' is not in target_definitions or agent_definitions")
    raise CommandError(field, f"'{reference}' is a {found.type} target; HTTP commands need an http-api one")


def _address(definition: AgentTarget, field: str, reference: str) -> str:
    address = definition.address
    for url in address.get("url", []):
        return str(url).rstrip("/")
    port = (definition.port or "80").strip()
    scheme = "https" if port in ("443", "8443") else "http"
    default = {"http": "80", "https": "443"}[scheme]
    suffix = "" if port == default else f":{port}"
    for key in ("dname", "ipv4", "ipv6"):
        for host in address.get(key, []):
            host = f"[{host}]" if key == "ipv6" else str(host)
            return f"{scheme}://{host}{suffix}"
    raise CommandError(field, f"http-api '{reference}' has no url, dname, ipv4 or ipv6 address")


def manual_approval(
    playbook: CacaoPlaybook, step: ActionStep, index: int, variables: Variables, scope: Scope
) -> dict[str, Any]:
    """The `approval` body for a manual command: the command text is the message; the step's agent approves."""
    command = step.commands[index]
    assert isinstance(command, ManualCommand)
    field = f"commands[{index}]"
    if command.command is not None:
        text = command.command
    elif command.command_b64 is not None:
        text = _decode(command.command_b64, f"{field}.command_b64")
    else:
        raise CommandError(field, "a manual command needs command or command_b64")
    message = f"{step.name}: {text}" if step.name else text
    approvers: dict[str, list[str]] = {"roles": [DEFAULT_MANUAL_ROLE]}
    agent = playbook.agent_definitions.get(step.agent) if step.agent else None
    if agent is not None and agent.name:
        if agent.type in _PEOPLE_TYPES:
            approvers = {"people": [agent.name]}
        elif agent.type in _ROLE_TYPES:
            approvers = {"roles": [agent.name]}
    timeout = milliseconds(step.timeout) if step.timeout else format_duration(DEFAULT_MANUAL_TIMEOUT)
    return {
        "approval": {
            "message": variables.template(message, scope),
            "approvers": approvers,
            "timeout": timeout,
            "on_timeout": "deny",
        }
    }
