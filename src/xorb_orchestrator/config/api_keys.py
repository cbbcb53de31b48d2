"""XORB_API_KEYS and XORB_API_KEY_FILE: the bearer keys the API accepts, and the person each one belongs to.

A key file line is `<key>` (a service key: alerts, reads, and approvals only where XORB_APPROVER_HEADERS=trust)
or `<key> <person> [<role>,<role>...]` (the key of one person, who approves as that person with those roles).
XORB_API_KEYS stays a comma-separated list of service keys: a comma cannot separate both keys and roles, and
a `key=person` form would be ambiguous with base64 keys ending in `=`.

No message here ever contains a key: errors name the variable, the file and the line instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_MAX_NAME = 200
_LINE_FORMAT = "expected '<key>' or '<key> <person> [<role>,<role>...]'"


class ApiKeyError(ValueError):
    """A bad key entry; the message is one line naming where it is, never the key."""


@dataclass(frozen=True)
class Person:
    """Who holds a person-bound key: the name approvals record, and the roles the key gives them."""

    name: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiKeyEntry:
    """One accepted key; `person` is None for a service key. `secret` never shows in a repr."""

    secret: str = field(repr=False)
    person: Person | None = None
    where: str = ""  # "XORB_API_KEYS" or "<file> line <n>", for messages


def parse_env_keys(value: str) -> list[ApiKeyEntry]:
    """XORB_API_KEYS: 'k1, k2' -> two service keys. A key with whitespace in it is refused (it is almost always
    a person-bound line that belongs in XORB_API_KEY_FILE, or keys separated by spaces instead of commas)."""
    entries = []
    for n, part in enumerate((p.strip() for p in value.split(",")), start=1):
        if not part:
            continue
        if len(part.split()) > 1:
            raise ApiKeyError(
                f"XORB_API_KEYS: entry {n} contains whitespace; separate keys with commas, and put person-bound "
                "keys ('<key> <person> <role>,<role>') in XORB_API_KEY_FILE"
            )
        entries.append(ApiKeyEntry(part, None, "XORB_API_KEYS"))
    return entries


def parse_key_file(text: str, path: Path | str) -> list[ApiKeyEntry]:
    """XORB_API_KEY_FILE's text: one entry a line; `#` starts a comment (a whole line, or a trailing field)."""
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        comment = next((i for i, f in enumerate(fields) if f.startswith("#")), len(fields))
        fields = fields[:comment]
        if not fields:
            continue
        where = f"{path} line {n}"
        if len(fields) > 3:
            raise ApiKeyError(
                f"XORB_API_KEY_FILE: {where}: {_LINE_FORMAT}, found {len(fields)} fields "
                "(a person's name has no spaces; roles are separated by commas without spaces)"
            )
        person = None
        if len(fields) > 1:
            person = Person(_person(fields[1], where), _roles(fields[2] if len(fields) > 2 else "", where))
        entries.append(ApiKeyEntry(fields[0], person, where))
    return entries


def merge_keys(entries: Iterable[ApiKeyEntry]) -> list[ApiKeyEntry]:
    """Drop exact repeats; refuse a key listed twice with different people or roles (which one would count?)."""
    seen: dict[str, ApiKeyEntry] = {}
    for entry in entries:
        first = seen.setdefault(entry.secret, entry)
        if first.person != entry.person:
            here = _label(entry.where)
            there = "in XORB_API_KEYS" if first.where == "XORB_API_KEYS" else f"at {first.where}"
            raise ApiKeyError(f"{here}: this key is already listed {there} with another person or roles; list it once")
    return list(seen.values())


def _label(where: str) -> str:
    return where if where == "XORB_API_KEYS" else f"XORB_API_KEY_FILE: {where}"


def _person(value: str, where: str) -> str:
    if "," in value or len(value) > _MAX_NAME:
        raise ApiKeyError(
            f"XORB_API_KEY_FILE: {where}: a person's name has no commas and at most {_MAX_NAME} characters "
            f"({_LINE_FORMAT})"
        )
    return value


def _roles(value: str, where: str) -> tuple[str, ...]:
    roles = tuple(role for role in value.split(",") if role)
    for role in roles:
        if len(role) > _MAX_NAME:
            raise ApiKeyError(f"XORB_API_KEY_FILE: {where}: a role name has at most {_MAX_NAME} characters")
    return tuple(dict.fromkeys(roles))
