"""The connections file (`XORB_CONNECTORS_FILE`): which tools this deployment reaches, where, and with what
credentials — by reference only.

```yaml
connections:
  - name: edge-fw                 # [a-z0-9-]{1,64}: playbooks name it in an action's `connection`
    type: nftables                # a connector type (xorb connectors list shows them)
    options: {table: xorb, netns: gw}
  - name: soc-api
    type: http
    url: https://api.soc.example/v2/
    auth: {type: bearer, token: "env:SOC_API_TOKEN"}   # env:NAME or file:/path, never the secret
    tls: {verify: true, ca_file: /etc/xorb/ca.pem}
```

Misspelt keys are errors naming the connection and the field; options are checked by the connector's own model.
Pure: text in, model out.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xorb_orchestrator.infrastructure.secrets import check_reference

MAX_FILE_CHARS = 200_000
MAX_CONNECTIONS = 200
_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
SecretRef = Annotated[str, AfterValidator(check_reference)]


class ConnectionsInvalid(ValueError):
    """The connections file is not valid: one line naming the file, the connection and the field."""


class Auth(BaseModel):
    """How to authenticate, by reference: a bearer token, basic (username + token as the password), a named
    header, or OAuth2 client credentials (token URL, client id, the secret by reference, scope)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bearer", "basic", "header", "oauth2"]
    token: SecretRef | None = None
    header: str | None = None
    username: str | None = Field(None, max_length=200)
    token_url: str | None = Field(None, max_length=2000)
    client_id: str | None = Field(None, max_length=500)
    client_secret: SecretRef | None = None
    scope: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _fields_of_type(self) -> Self:
        needs = {
            "bearer": ("token",),
            "basic": ("token", "username"),
            "header": ("token", "header"),
            "oauth2": ("token_url", "client_id", "client_secret"),
        }[self.type]
        for name in needs:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: type {self.type} needs it")
        allowed = {*needs, "type", "scope"} if self.type == "oauth2" else {*needs, "type"}
        for name in self.model_fields_set - allowed:
            raise ValueError(f"{name}: not used by type {self.type}")
        if self.header is not None and not _HEADER.match(self.header):
            raise ValueError("header: not an HTTP header name")
        return self


class Tls(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verify: bool = True
    ca_file: str | None = Field(None, max_length=1000)
    client_cert: str | None = Field(None, max_length=1000)
    client_key: str | None = Field(None, max_length=1000)


class Connection(BaseModel):
    """One connection. `options` are the connector type's own (checked against its model when the file loads)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str = Field(min_length=1, max_length=64)
    url: str | None = Field(None, max_length=2000)
    auth: Auth | None = None
    tls: Tls = Field(default_factory=Tls)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("must be 1 to 64 characters of a-z, 0-9 and '-'")
        return name

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
            raise ValueError("must be an http(s):// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials: put them in `auth` as a reference")
        return url


class Connections(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connections: list[Connection] = Field(default_factory=list, max_length=MAX_CONNECTIONS)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[str] = set()
        for connection in self.connections:
            if connection.name in seen:
                raise ValueError(f"connection {connection.name!r}: name: used by more than one connection")
            seen.add(connection.name)
        return self

    def get(self, name: str) -> Connection | None:
        return next((c for c in self.connections if c.name == name), None)

    def of_type(self, kind: str) -> list[Connection]:
        return [c for c in self.connections if c.type == kind]


def load_connections(text: str, origin: str) -> Connections:
    """Parse the file; ConnectionsInvalid with one line when it is not valid (options are checked by the caller)."""
    if len(text) > MAX_FILE_CHARS:
        raise ConnectionsInvalid(f"{origin}: longer than {MAX_FILE_CHARS} characters")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConnectionsInvalid(f"{origin}: {where}not valid YAML") from None
    if not isinstance(data, dict):
        raise ConnectionsInvalid(f"{origin}: expected a mapping with `connections:`")
    try:
        return Connections.model_validate(data)
    except ValidationError as error:
        raise ConnectionsInvalid(one_line(origin, data, error)) from None


def one_line(origin: str, data: dict[str, Any], error: ValidationError, prefix: str = "") -> str:
    """The first problem as `origin: connection 'name': field: message` (and how many more)."""
    problems = sorted(
        error.errors(include_url=False, include_input=False), key=lambda p: p["type"] != "extra_forbidden"
    )
    first = problems[0]
    loc = list(first["loc"])
    parts = [origin]
    if len(loc) >= 2 and loc[0] == "connections" and isinstance(loc[1], int):
        items = data.get("connections")
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        name = item.get("name") if isinstance(item, dict) else None
        label = f"connection {name!r}" if isinstance(name, str) and _NAME.match(name) else f"connections[{loc[1]}]"
        parts.append(label)
        loc = loc[2:]
    field = prefix + ".".join(str(step) for step in loc)
    if field:
        parts.append(field)
    kind = first["type"]
    message = (
        "unknown key (misspelt?)"
        if kind == "extra_forbidden"
        else "is required"
        if kind == "missing"
        else str(first["msg"]).removeprefix("Value error, ")
    )
    more = len(problems) - 1
    return ": ".join([*parts, message]) + (f" (and {more} more)" if more else "")
