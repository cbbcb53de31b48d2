"""CACAO conditions (STIX-patterning-like text) translated to CEL.

Supported: comparisons of variables and literals — `__score__:value > 80`, `__host__:value == 'web-1'`
(`=` is read as `==`), `!=`, `<`, `<=`, `>`, `>=` — joined with `AND`, `OR`, `NOT` and parentheses; a boolean
variable alone. Anything else (STIX observation patterns `[ipv4-addr:value = ...]`, `LIKE`, `MATCHES`, `IN`,
qualifiers, functions) is refused, naming the expression: a condition we cannot translate exactly must not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xorb_orchestrator.playbook.cacao.models import Variable
from xorb_orchestrator.playbook.cacao.variables import (
    Scope,
    VariableError,
    Variables,
    cel_literal,
    is_numeric_type,
)

SUPPORTED = "comparisons of __name__:value with ==, !=, <, <=, >, >= joined by AND, OR, NOT and parentheses"

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<var>__[A-Za-z_][A-Za-z0-9_-]{0,199}__(?::value)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|<=|>=|<|>|=)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<word>[A-Za-z_]+)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and": "and", "or": "or", "not": "not", "true": "bool", "false": "bool", "null": "null"}


class ConditionError(ValueError):
    """A condition that cannot be translated; the message names the expression and why."""


@dataclass(frozen=True)
class _Token:
    kind: str  # var string number bool null op and or not lparen rparen end
    text: str
    position: int


@dataclass(frozen=True)
class _Operand:
    kind: str  # var or a literal kind
    text: str  # variable name (__x__) or the literal's CEL
    value: object = None


def translate_condition(text: str, variables: Variables, scope: Scope) -> str:
    """CEL for a CACAO condition at this point of the run; raise ConditionError or VariableError."""
    parser = _Parser(text, _tokenize(text), variables, scope)
    result = parser.expression()
    parser.expect("end")
    return result


def translate_switch(text: str, variables: Variables, scope: Scope) -> str:
    """CEL for a switch-condition's `switch`: a variable (`__name__` or `__name__:value`)."""
    tokens = _tokenize(text)
    if len(tokens) != 2 or tokens[0].kind != "var":
        raise ConditionError(f"cannot translate {text!r} to CEL: a switch is one variable, e.g. __name__:value")
    name = tokens[0].text.removesuffix(":value")
    _check_declared(name, variables, text)
    return variables.read(name, scope)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:
            raise _error(text, f"unexpected {text[position : position + 12]!r} at character {position + 1}")
        kind = found.lastgroup or ""
        if kind == "word":
            kind = _KEYWORDS.get(found.group().lower(), "")
            if not kind:
                raise _error(text, f"unsupported word {found.group()!r} at character {position + 1}")
        if kind != "space":
            tokens.append(_Token(kind, found.group(), position))
        position = found.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _error(text: str, reason: str) -> ConditionError:
    return ConditionError(f"cannot translate {text!r} to CEL: {reason} (supported: {SUPPORTED})")


def _check_declared(name: str, variables: Variables, text: str) -> None:
    if not variables.declared(name):
        raise VariableError(variables.unknown_message(name))


class _Parser:
    def __init__(self, text: str, tokens: list[_Token], variables: Variables, scope: Scope) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.variables = variables
        self.scope = scope

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str) -> _Token:
        token = self.current
        if token.kind != kind:
            wanted = {"end": "the end", "rparen": "')'"}.get(kind, kind)
            found = repr(token.text) if token.text else "the end"
            raise _error(self.text, f"expected {wanted} at character {token.position + 1}, found {found}")
        return self.advance()

    def expression(self) -> str:
        parts = [self.conjunction()]
        while self.current.kind == "or":
            self.advance()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else " || ".join(parts)

    def conjunction(self) -> str:
        parts = [self.unary()]
        while self.current.kind == "and":
            self.advance()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else " && ".join(parts)

    def unary(self) -> str:
        if self.current.kind == "not":
            self.advance()
            return f"!({self.unary()})"
        if self.current.kind == "lparen":
            self.advance()
            inner = self.expression()
            self.expect("rparen")
            return f"({inner})"
        return self.comparison()

    def comparison(self) -> str:
        left = self.operand()
        if self.current.kind != "op":
            if left.kind == "var" and is_numeric_type(self._declaration(left)) is None:
                declaration = self._declaration(left)
                if declaration is not None and declaration.type == "bool":
                    return f"{self.variables.read(left.text, self.scope)} == true"
            if left.kind == "bool":
                return left.text
            raise _error(self.text, f"{self._show(left)} alone is not a condition: compare it with a value")
        operator = self.advance().text
        operator = "==" if operator == "=" else operator
        right = self.operand()
        return f"{self._side(left, right)} {operator} {self._side(right, left)}"

    def operand(self) -> _Operand:
        token = self.current
        if token.kind == "var":
            self.advance()
            if not token.text.endswith(":value"):
                raise _error(self.text, f"write {token.text}:value to use the variable's value")
            name = token.text.removesuffix(":value")
            _check_declared(name, self.variables, self.text)
            return _Operand("var", name)
        if token.kind == "string":
            self.advance()
            value = re.sub(r"\\(.)", r"\1", token.text[1:-1])
            return _Operand("string", cel_literal(value), value)
        if token.kind == "number":
            self.advance()
            number = float(token.text) if "." in token.text else int(token.text)
            return _Operand("number", token.text, number)
        if token.kind in ("bool", "null"):
            self.advance()
            return _Operand(token.kind, token.text.lower())
        found = repr(token.text) if token.text else "the end"
        raise _error(self.text, f"expected a variable or a value at character {token.position + 1}, found {found}")

    def _declaration(self, operand: _Operand) -> Variable | None:
        return self.variables.declaration(operand.text, self.scope) if operand.kind == "var" else None

    def _numeric(self, operand: _Operand) -> str | None:
        """How `operand` reads as a number ("int"/"double"), None when it is not one."""
        if operand.kind == "number":
            return "double" if isinstance(operand.value, float) else "int"
        if operand.kind == "var":
            return is_numeric_type(self._declaration(operand))
        if operand.kind == "string" and isinstance(operand.value, str):
            if re.fullmatch(r"-?\d+", operand.value):
                return "int"
            return "double" if re.fullmatch(r"-?\d+\.\d+", operand.value) else None
        return None

    def _pair(self, a: _Operand, b: _Operand) -> str | None:
        """The number type both sides of a comparison are converted to, or None to compare them as they are.

        A variable compared with a number literal is converted to a number whatever its declared type (HTTP
        results are often text); a numeric variable compared with a numeric-looking string literal too.
        """
        if "var" not in (a.kind, b.kind):
            return None
        kinds = (self._numeric(a), self._numeric(b))
        if "number" in (a.kind, b.kind) or None not in kinds:
            return "double" if "double" in kinds else "int"
        return None

    def _side(self, operand: _Operand, other: _Operand) -> str:
        """CEL for one side of a comparison."""
        kind = self._pair(operand, other)
        if operand.kind == "var":
            if kind is None:
                return self.variables.read(operand.text, self.scope)
            return self.variables.coerced(operand.text, self.scope, kind)
        if kind is None or operand.kind not in ("number", "string"):
            return operand.text
        number = float(str(operand.value))
        return repr(number) if kind == "double" else str(int(number))

    @staticmethod
    def _show(operand: _Operand) -> str:
        return f"{operand.text}:value" if operand.kind == "var" else operand.text
