"""A request's JSON, decoded strictly and checked against the limits every kept value must meet.

`json.loads` alone accepts what JSON readers disagree on (NaN and Infinity, a key given twice: which value wins?),
numbers a 64-bit consumer cannot hold, and text that is not Unicode (a lone surrogate). Such values are refused at
the door, naming where they are, so an accepted alert reads the same in the worker, in Temporal and in any tool
that reads it after us.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from xorb_orchestrator.models.alert import is_unicode
from xorb_orchestrator.sources.common import child_path

# Deeper JSON is refused at the door: pydantic (which decodes what the workflows receive) stops at 200 levels, and
# an alert accepted with 202 must never be one the worker cannot read.
MAX_JSON_DEPTH = 64
# Integers that fit 64 bits, signed or unsigned: what Go (Temporal), Elasticsearch and most SIEMs can hold.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
_INT_DIGITS = len(str(INT_MAX))  # a longer literal is out of range without converting it (Python stops at 4300)
_SHOWN = 40  # characters of a key or literal quoted in a message


class OutOfRange:
    """A number literal beyond the limits, kept as text until json_problem says where it is."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = _shown(literal)


class DuplicateKeys(dict[str, Any]):
    """An object that gave a key twice (holding the last value, as json.loads would); json_problem refuses it."""

    duplicate: str = ""


@dataclass(frozen=True)
class Problem:
    """Why a decoded value cannot be kept, and where (a JSON path like `$.raw.a[2]`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def decode(raw: bytes | str) -> Any:
    """json.loads with the markers above; ValueError for text that is not JSON (NaN and Infinity are not),
    RecursionError for nesting deeper than Python's stack."""
    return json.loads(raw, object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant)


class _At:
    """A value with the key it sits under and its parent: the path is rebuilt only for a problem, not for every
    value of a large body."""

    __slots__ = ("depth", "key", "parent", "value")
    depth: int

    def __init__(self, value: Any, key: str | int = "", parent: _At | None = None) -> None:
        self.value, self.key, self.parent = value, key, parent
        self.depth = 0 if parent is None else parent.depth + 1

    def path(self, root: str) -> str:
        keys: list[str | int] = []
        at: _At | None = self
        while at is not None and at.parent is not None:
            keys.append(_shown(at.key) if isinstance(at.key, str) else at.key)
            at = at.parent
        path = root
        for key in reversed(keys):
            path = child_path(path, key)
        return path


def json_problem(value: Any, root: str = "$") -> Problem | None:
    """The first reason a decoded value cannot be kept: nested deeper than MAX_JSON_DEPTH, a lone surrogate in a
    string or key, a number out of range, a duplicate key. None when it can be kept."""
    stack = [_At(value)]
    while stack:
        at = stack.pop()
        problem = _item_problem(at.value, at.depth)
        if problem is not None:
            return Problem(at.path(root), problem)
        if isinstance(at.value, dict):
            for key, child in at.value.items():
                if not is_unicode(key):
                    return Problem(at.path(root), f"the key {_shown(key)!r} is not valid Unicode (lone surrogate)")
                stack.append(_At(child, key, at))
        elif isinstance(at.value, list):
            stack.extend(_At(child, index, at) for index, child in enumerate(at.value))
    return None


def _item_problem(item: Any, depth: int) -> str | None:
    if isinstance(item, str):
        return None if is_unicode(item) else "not valid Unicode text (lone surrogate)"
    if isinstance(item, OutOfRange):
        return f"the number {item.literal} is out of range: integers must fit 64 bits, and numbers be finite"
    if isinstance(item, dict | list) and depth >= MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(item, DuplicateKeys):
        return f"the key {_shown(item.duplicate)!r} appears more than once in one object"
    return None


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    marked, seen = DuplicateKeys(out), set()
    for key, _ in pairs:
        if key in seen:
            marked.duplicate = key
            break
        seen.add(key)
    return marked


def _int(literal: str) -> int | OutOfRange:
    if len(literal.lstrip("-")) > _INT_DIGITS:
        return OutOfRange(literal)
    number = int(literal)
    return number if INT_MIN <= number <= INT_MAX else OutOfRange(literal)


def _float(literal: str) -> float | OutOfRange:
    number = float(literal)  # 1e400 is inf: valid JSON, but no reader agrees on it
    return number if math.isfinite(number) else OutOfRange(literal)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
