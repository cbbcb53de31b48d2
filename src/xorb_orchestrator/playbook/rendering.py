"""Rendering an action's arguments where each value lands: data stays data, whatever an attacker wrote into it.

Alert content (a user name, a URL, a host name) is whatever the attacker typed. Joined into a URL as text, a user
`ceo-id/lifecycle/deactivate#` turned `POST .../users/${{ inputs.user }}/lifecycle/suspend` into a call to a
different endpoint. So a value is rendered for its context, never concatenated raw:

- an argument named `url` or ending in `_url` is a URL template. What the author wrote (the literal text) sets
  its structure; a value inserted *after* the scheme and host is one percent-encoded piece: in the path one
  segment (`/` becomes `%2F`), in the query or fragment one encoded value (`&`, `=`, `#` encoded). A value
  before the host is complete (`${{ inputs.api }}/users/...`: the operator's base URL, or `https://${{ ... }}`)
  is part of the address, and must not carry whitespace, control characters or, in the host, URL syntax.
- values under a `headers` mapping are header values: a line break or NUL is refused (it would start a header
  of the attacker's choosing).
- anything else is a JSON value (the HTTP client encodes it) or plain text.
The rule is by name so that no action, connector or caller can forget to ask for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from xorb_orchestrator.playbook.expressions import ExpressionError, evaluate
from xorb_orchestrator.playbook.templates import as_text, compile_template, is_template, render_value

_HEADER_BREAKS = ("\r", "\n", "\0")
# Characters that would change which host a URL names when they come from a value in the host part.
_HOST_SYNTAX = frozenset("/\\?#@ \t\r\n%")


def is_url_argument(name: str) -> bool:
    return name == "url" or name.endswith("_url")


def render_action_args(args: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """An action's arguments rendered for where each value goes (module docstring). ExpressionError names the
    argument when a value cannot go there."""
    rendered: dict[str, Any] = {}
    for name, value in args.items():
        if is_url_argument(name) and isinstance(value, str) and is_template(value):
            rendered[name] = render_url(value, context, name)
        elif name == "headers" and isinstance(value, Mapping):
            rendered[name] = {key: _header(str(key), item, context) for key, item in value.items()}
        else:
            rendered[name] = render_value(value, context)
    return rendered


def render_url(template: str, context: Mapping[str, Any], name: str = "url") -> str:
    """A URL template rendered with each value encoded for its place (path segment, query value ...)."""
    compiled = compile_template(template)
    if compiled.is_whole_expression:
        value = evaluate(compiled.parts[0], context)
        if not isinstance(value, str):
            raise ExpressionError(f"{name}: expected a URL, got {type(value).__name__}")
        return _address(value, name, "the URL")
    out = ""
    for part in compiled.parts:
        if isinstance(part, str):
            out += part
            continue
        value = as_text(evaluate(part, context))
        place = _place(out)
        if place == "address":
            out += _address(value, name, "the address")
        elif place == "host":
            out += _host(value, name)
        else:
            out += quote(value, safe="")
    return out


def _place(so_far: str) -> str:
    """Where the next value lands, from what was written before it."""
    if "#" in so_far or "?" in so_far:
        return "component"  # query or fragment: one encoded value
    scheme_end = so_far.find("://")
    if scheme_end < 0:
        # No host yet: a base URL (scheme and host) comes from this value; after a `/` it is a relative path.
        return "component" if "/" in so_far else "address"
    if "/" in so_far[scheme_end + 3 :]:
        return "component"  # the path: one segment
    return "host"


def _address(value: str, name: str, what: str) -> str:
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ExpressionError(f"{name}: {what} carries whitespace or control characters: {value[:80]!r}")
    return value


def _host(value: str, name: str) -> str:
    if any(ch in _HOST_SYNTAX or ord(ch) < 32 for ch in value):
        raise ExpressionError(f"{name}: a value in the host part must be a host name or address, got {value[:80]!r}")
    return value


def _header(key: str, value: Any, context: Mapping[str, Any]) -> Any:
    rendered = render_value(value, context)
    if isinstance(rendered, str) and any(mark in rendered for mark in _HEADER_BREAKS):
        raise ExpressionError(f"headers.{key}: a line break or NUL in a header value is refused")
    return rendered
