"""From text (YAML or JSON) to a Playbook model. Pure: reading files is the service's job."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from xorb_orchestrator.playbook.errors import PlaybookError, PlaybookInvalid, errors_from_validation
from xorb_orchestrator.playbook.playbook import Playbook

Format = Literal["yaml", "json"]


class _Loader(yaml.SafeLoader):
    """Safe YAML with fewer surprises: a repeated key is an error, timestamps stay strings (RFC 3339 text is
    checked by validation) and only true/false are booleans (not yes/no/on/off)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:timestamp",)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first, _resolvers in list(_Loader.yaml_implicit_resolvers.items()):
    _resolvers[:] = [(tag, regexp) for tag, regexp in _resolvers if tag != "tag:yaml.org,2002:bool"]
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in result:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(None, None, f"line {line}: duplicate key {key!r}")
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def guess_format(name: str, text: str) -> Format:
    """JSON for .json files (or text starting with '{' when the name says nothing), YAML otherwise."""
    lowered = name.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    return "json" if text.lstrip().startswith("{") else "yaml"


def load_document(text: str, fmt: Format) -> Any:
    """Parse YAML or JSON text into plain data; raise PlaybookInvalid with the line of a syntax error."""
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_no_duplicates)
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except json.JSONDecodeError as exc:
        message = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise PlaybookInvalid([PlaybookError(message)]) from None
    except ValueError as exc:
        raise PlaybookInvalid([PlaybookError(f"invalid JSON: {exc}")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise PlaybookInvalid([PlaybookError(f"invalid YAML{where}: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise PlaybookInvalid([PlaybookError(f"invalid YAML: {exc}")]) from None


def parse_playbook(data: Any) -> Playbook:
    """Build the model from parsed data; raise PlaybookInvalid listing every structural problem.

    This checks shapes, types, bounds and unknown keys only; `validate_playbook` checks the meaning.
    """
    if not isinstance(data, dict):
        found = "nothing" if data is None else type(data).__name__
        raise PlaybookInvalid([PlaybookError(f"a playbook is a mapping with id, name, version and steps; got {found}")])
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        raise PlaybookInvalid(errors_from_validation(exc, data)) from None


def parse_playbook_text(text: str, fmt: Format = "yaml") -> Playbook:
    """`load_document` then `parse_playbook`."""
    return parse_playbook(load_document(text, fmt))
