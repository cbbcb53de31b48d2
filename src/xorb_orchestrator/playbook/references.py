"""What a CEL expression refers to, found by walking its syntax tree (no evaluation).

Validation uses this to check every `inputs.x`, `steps.y`, `incident.z` and `item` against the playbook, and to
refuse unknown names and functions, so a typo fails validation instead of failing (or passing) at run time.
"""

from __future__ import annotations

import ast as python_ast
import difflib
from dataclasses import dataclass, field

import lark

ROOTS = frozenset({"inputs", "incident", "steps", "item"})
MACROS = frozenset({"map", "filter", "all", "exists", "exists_one"})
FUNCTIONS = frozenset(
    {"has", "dyn", "size", "int", "uint", "double", "string", "bool", "bytes", "timestamp", "duration", "type"}
    | {"contains", "startsWith", "endsWith", "matches"}
)
METHODS = frozenset(
    {"size", "contains", "startsWith", "endsWith", "matches"}
    | {"getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getFullYear", "getMonth"}
    | {"getHours", "getMinutes", "getSeconds", "getMilliseconds"}
)
TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"})


@dataclass(frozen=True)
class Reference:
    """A use of a context name: `steps['block-ip'].result.id` is root steps, path (block-ip, result, id).

    `dynamic` is set when a computed index (`inputs[name]`) follows the literal path.
    """

    root: str
    path: tuple[str, ...]
    dynamic: bool = False

    def __str__(self) -> str:
        text = self.root + "".join(f".{part}" if part.isidentifier() else f"[{part!r}]" for part in self.path)
        return text + ("[...]" if self.dynamic else "")


@dataclass
class Analysis:
    references: list[Reference] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def analyse(tree: lark.Tree) -> Analysis:
    """The references in a parsed expression, and any names or constructs that cannot work."""
    analysis = Analysis()
    _visit(tree, frozenset(), analysis)
    return analysis


def _visit(node: lark.Tree | lark.Token, bound: frozenset[str], out: Analysis) -> None:
    if not isinstance(node, lark.Tree):
        return
    kind = node.data
    if kind in ("member_dot", "member_index", "ident"):
        chain = _chain(node)
        if chain is not None:
            _record(chain, bound, out)
            for index in _index_expressions(node):
                _visit(index, bound, out)
            return
    if kind == "member_dot_arg":
        _visit_method(node, bound, out)
        return
    if kind == "ident_arg":
        name = str(node.children[0])
        if name not in FUNCTIONS:
            out.problems.append(f"unknown function {name}(){_function_hint(name, FUNCTIONS)}")
    elif kind in ("dot_ident", "dot_ident_arg"):
        out.problems.append(f"names starting with '.' are not supported (.{node.children[0]})")
        return
    elif kind == "member_object":
        out.problems.append("message construction (Name{...}) is not supported")
        return
    for child in node.children:
        _visit(child, bound, out)


def _visit_method(node: lark.Tree, bound: frozenset[str], out: Analysis) -> None:
    target, name = node.children[0], str(node.children[1])
    arguments = _arguments(node.children[2] if len(node.children) > 2 else None)
    _visit(target, bound, out)
    if name in MACROS:
        variable = _plain_name(arguments[0]) if len(arguments) == 2 else None
        if variable is None:
            out.problems.append(f"{name}() takes a variable name and an expression, e.g. list.{name}(x, x > 0)")
            return
        _visit(arguments[1], bound | {variable}, out)
        return
    if name not in METHODS:
        out.problems.append(f"unknown function .{name}(){_function_hint(name, METHODS | MACROS)}")
    for argument in arguments:
        _visit(argument, bound, out)


_ALIASES = {"len": "size", "length": "size", "lenght": "size", "count": "size", "str": "string", "float": "double"}


def _function_hint(name: str, known: frozenset[str]) -> str:
    close = _ALIASES.get(name) or next(iter(difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)), None)
    return f" (did you mean {close}()?)" if close else ""


def _record(chain: tuple[str, list[str], bool], bound: frozenset[str], out: Analysis) -> None:
    root, path, dynamic = chain
    if root in bound:
        return
    if root in ROOTS:
        out.references.append(Reference(root, tuple(path), dynamic))
    elif root not in TYPE_NAMES:
        out.problems.append(f"unknown name {root!r} (expressions can use inputs, incident, steps and item)")


def _chain(node: lark.Tree | lark.Token) -> tuple[str, list[str], bool] | None:
    """(root name, literal path, dynamic) for a pure name chain like a.b['c'].d, else None."""
    if not isinstance(node, lark.Tree):
        return None
    if node.data in ("member", "primary") and len(node.children) == 1:
        return _chain(node.children[0])
    if node.data == "ident":
        return str(node.children[0]), [], False
    if node.data in ("member_dot", "member_index"):
        base = _chain(node.children[0])
        if base is None:
            return None
        root, path, dynamic = base
        if dynamic:
            return base
        key = str(node.children[1]) if node.data == "member_dot" else _string_literal(node.children[1])
        return (root, path, True) if key is None else (root, [*path, key], False)
    return None


def _index_expressions(node: lark.Tree | lark.Token) -> list[lark.Tree]:
    """The index expressions inside a name chain, to check what they refer to in turn."""
    found: list[lark.Tree] = []
    while isinstance(node, lark.Tree):
        if node.data == "member_index":
            found.append(node.children[1])
        if node.data in ("member", "primary", "member_dot", "member_index") and node.children:
            node = node.children[0]
        else:
            break
    return found


def _arguments(exprlist: lark.Tree | lark.Token | None) -> list[lark.Tree]:
    if isinstance(exprlist, lark.Tree):
        return [child for child in exprlist.children if isinstance(child, lark.Tree)]
    return []


def _plain_name(node: lark.Tree | lark.Token) -> str | None:
    """`x` when the expression is nothing but the name x."""
    while isinstance(node, lark.Tree) and node.data != "ident" and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, lark.Tree) and node.data == "ident":
        return str(node.children[0])
    return None


def _string_literal(node: lark.Tree | lark.Token) -> str | None:
    """The value of a plain string literal ('x' or "x"), else None."""
    while isinstance(node, lark.Tree) and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, lark.Token) and node.type == "STRING_LIT" and node.value[:1] not in "rR":
        try:
            value = python_ast.literal_eval(node.value)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, str) else None
    return None
