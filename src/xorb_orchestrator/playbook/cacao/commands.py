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
# The version may lack its '/' (SOARCA's examples write "GET get HTTP1.1"); a target without '/' is relative.
_START_LINE = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE)\s+(\S+)(?:\s+HTTP/?\d(?:\.\d)?)?$")


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
    args.update(_body_args(command, field, variables, scope))
    if step.timeout:  # the call itself gives up first, so the step fails cleanly (http.request allows 50s)
        args["timeout"] = min(MAX_HTTP_TIMEOUT, max(1, math.ceil(step.timeout / 1000)))
    return {"action": HTTP_ACTION, "args": args}


def _body_args(
    command: HttpApiCommand | OpenC2HttpCommand, field: str, variables: Variables, scope: Scope
) -> dict[str, Any]:
    """The body as http.request arguments: `json` when it is JSON sent as JSON (variables are then substituted
    inside its strings, so a value cannot break the document), else `body_text`, sent as written with the
    command's Content-Type (CACAO allows any string: form data, XML, plain text)."""
    found = _body_text(command, field)
    if found is None:
        return {}
    text, where = found
    try:
        data = json.loads(text)
    except ValueError:
        if isinstance(command, OpenC2HttpCommand):
            raise CommandError(where, "is not an OpenC2 command: an OpenC2 body is JSON") from None
        return {"body_text": variables.template(text, scope)}
    if isinstance(command, OpenC2HttpCommand) or _sent_as_json(command.headers):
        return {"json": variables.template_value(data, scope)}
    return {"body_text": variables.template(text, scope)}


def _body_text(command: HttpApiCommand | OpenC2HttpCommand, field: str) -> tuple[str, str] | None:
    """(the body as text, its field), or None without a body."""
    if isinstance(command, HttpApiCommand) and command.content is not None:
        return command.content, f"{field}.content"
    if command.content_b64 is not None:
        where = f"{field}.content_b64"
        return _decode(command.content_b64, where), where
    return None


def _sent_as_json(headers: dict[str, list[str]]) -> bool:
    """Whether a body is sent as JSON: no Content-Type (http.request then says application/json) or a JSON one."""
    types = [value for name, values in headers.items() if name.lower() == "content-type" for value in values]
    return not types or all("json" in value.lower() for value in types)


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
    article = "an" if found.type[:1] in ("a", "e", "i", "o", "u") else "a"
    raise CommandError(field, f"'{reference}' is {article} {found.type} target; HTTP commands need an http-api one")


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
    playbook: CacaoPlaybook,
    step: ActionStep,
    index: int,
    variables: Variables,
    scope: Scope,
    outputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The `approval` body for a manual command: the command text is the message; the step's agent approves.

    `outputs` (name -> description) are the values the person gives with the approval: the step's out_args.
    """
    command = step.commands[index]
    assert isinstance(command, ManualCommand)
    field = f"commands[{index}]"
    if command.command is not None:
        text = command.command
    elif command.command_b64 is not None:
        text = _decode(command.command_b64, f"{field}.command_b64")
    else:
        raise CommandError(field, "a manual command needs command or command_b64")
    message = variables.template(f"{step.name}: {text}" if step.name else text, scope)
    approval: dict[str, Any] = {
        "message": message + _asked(outputs or {}),
        "approvers": _approvers(playbook, step),
        "timeout": milliseconds(step.timeout) if step.timeout else format_duration(DEFAULT_MANUAL_TIMEOUT),
        "on_timeout": "deny",
    }
    if outputs:
        approval["outputs"] = list(outputs)
    return {"approval": approval}


def _approvers(playbook: CacaoPlaybook, step: ActionStep) -> dict[str, list[str]]:
    agent = playbook.agent_definitions.get(step.agent) if step.agent else None
    if agent is not None and agent.name:
        if agent.type in _PEOPLE_TYPES:
            return {"people": [agent.name]}
        if agent.type in _ROLE_TYPES:
            return {"roles": [agent.name]}
    return {"roles": [DEFAULT_MANUAL_ROLE]}


def _asked(outputs: dict[str, str]) -> str:
    """The values to give, with the variables' descriptions, appended to the message (as text, not a template)."""
    if not outputs:
        return ""
    asked = "; ".join(f"{name}: {text}" if text else name for name, text in outputs.items())
    return f" (give with your approval: {asked})".replace("${{", "$${{")
