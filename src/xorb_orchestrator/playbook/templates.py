"""Argument templates: strings with ${{ <CEL> }} pieces.

A string that is exactly one ${{ ... }} gives the expression's value with its type (a list stays a list);
otherwise each piece is turned into text and the whole is a string. `$${{` writes a literal `${{`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from xorb_orchestrator.playbook.expressions import (
    CompiledExpression,
    ExpressionError,
    compile_expression,
    evaluate,
)

OPEN, CLOSE, ESCAPED_OPEN = "${{", "}}", "$${{"
_ROOTS = r"(?:inputs|incident|steps|item)\b"
# Near misses that would otherwise be sent as literal text: Jinja's {{ x }} and the shell's ${x}.
_JINJA_LIKE = re.compile(r"(?<!\$)\{\{\s*" + _ROOTS)
_SHELL_LIKE = re.compile(r"\$\{(?!\{)\s*" + _ROOTS)


@dataclass(frozen=True)
class Piece:
    """Literal text, or the source of one expression (`expression` is True)."""

    text: str
    expression: bool


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | CompiledExpression, ...]

    @property
    def is_whole_expression(self) -> bool:
        return len(self.parts) == 1 and isinstance(self.parts[0], CompiledExpression)

    @property
    def expressions(self) -> list[CompiledExpression]:
        return [part for part in self.parts if isinstance(part, CompiledExpression)]


def is_template(text: str) -> bool:
    """Whether a string has any ${{ ... }} piece (or a near miss that validation will refuse)."""
    return OPEN in text or bool(_JINJA_LIKE.search(text) or _SHELL_LIKE.search(text))


def split_template(text: str) -> list[Piece]:
    """Split a string into literal and expression pieces; raise ExpressionError for malformed templates."""
    pieces: list[Piece] = []
    literal: list[str] = []
    position = 0
    while True:
        start = text.find(OPEN, position)
        if start < 0:
            literal.append(text[position:])
            break
        if start > 0 and text[start - 1] == "$":  # `$${{` is an escaped, literal `${{`
            literal.append(text[position : start - 1] + OPEN)
            position = start + len(OPEN)
            continue
        end = text.find(CLOSE, start + len(OPEN))
        if end < 0:
            raise ExpressionError(f"unclosed ${{{{ at character {start + 1}: add }}}}")
        literal.append(text[position:start])
        source = text[start + len(OPEN) : end].strip()
        if not source:
            raise ExpressionError("empty ${{ }}")
        if literal and "".join(literal):
            pieces.append(Piece("".join(literal), expression=False))
        literal = []
        pieces.append(Piece(source, expression=True))
        position = end + len(CLOSE)
    if "".join(literal):
        pieces.append(Piece("".join(literal), expression=False))
    for piece in pieces:
        if not piece.expression:
            _refuse_near_misses(piece.text)
    return pieces


def _refuse_near_misses(text: str) -> None:
    for pattern in (_JINJA_LIKE, _SHELL_LIKE):
        found = pattern.search(text)
        if found:
            end = text.find("}", found.end())
            inner = text[found.end() - len(found.group(0).lstrip("${ ")) : end if end >= 0 else len(text)]
            wrote = (
                text[found.start() : end + (2 if text[end : end + 2] == "}}" else 1)]
                if end >= 0
                else text[found.start() :]
            )
            raise ExpressionError(f"{wrote} is not a template: write ${{{{ {inner.strip()} }}}}")


@lru_cache(maxsize=4096)
def compile_template(text: str) -> Template:
    """Split and compile a template string (cached). Raises ExpressionError naming what is wrong."""
    parts: list[str | CompiledExpression] = []
    for piece in split_template(text):
        parts.append(compile_expression(piece.text) if piece.expression else piece.text)
    return Template(source=text, parts=tuple(parts))


def render_template(template: Template | str, context: Mapping[str, Any]) -> Any:
    """The value of a template: the expression's own value when it is the whole string, else text."""
    compiled = compile_template(template) if isinstance(template, str) else template
    if compiled.is_whole_expression:
        return evaluate(compiled.parts[0], context)
    return "".join(part if isinstance(part, str) else as_text(evaluate(part, context)) for part in compiled.parts)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template string inside a JSON value (dicts and lists are walked; keys are left as is)."""
    if isinstance(value, str):
        return render_template(value, context) if is_template(value) else value
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def as_text(value: Any) -> str:
    """How a value reads inside a string: text as is, null as empty, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def template_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Each string inside a JSON value that is a template, with its path (`ip`, `targets[0]`, `body.text`)."""
    if isinstance(value, str):
        if is_template(value):
            yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from template_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from template_strings(item, f"{path}[{index}]")
