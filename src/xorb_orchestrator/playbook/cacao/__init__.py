"""OASIS CACAO 2.0 playbooks: parse, validate, and convert to the native format, which the interpreter runs.

    data --parse_cacao--> CacaoPlaybook --validate_cacao--> problems
                                        --convert_cacao--> Playbook (native; check it with validate_playbook)

`load_cacao(data)` does all three and raises PlaybookInvalid listing every problem. See docs/cacao.md.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml

from xorb_orchestrator.playbook.cacao.commands import DEFAULT_MANUAL_ROLE, DEFAULT_MANUAL_TIMEOUT
from xorb_orchestrator.playbook.cacao.conditions import ConditionError, translate_condition
from xorb_orchestrator.playbook.cacao.convert import DEFAULT_WHILE_MAX_ITERATIONS, HANDLER_ID
from xorb_orchestrator.playbook.cacao.models import SUPPORTED_COMMAND_TYPES, CacaoPlaybook
from xorb_orchestrator.playbook.cacao.parse import is_cacao, parse_cacao
from xorb_orchestrator.playbook.cacao.validate import check_and_convert, validate_cacao
from xorb_orchestrator.playbook.errors import PlaybookInvalid
from xorb_orchestrator.playbook.parse import parse_playbook
from xorb_orchestrator.playbook.playbook import Playbook


def convert_cacao(playbook: CacaoPlaybook, max_iterations: int = DEFAULT_WHILE_MAX_ITERATIONS) -> Playbook:
    """The native playbook for a parsed CACAO playbook; raise PlaybookInvalid listing every problem.

    The result is shaped like any parsed native playbook; `validate_playbook` checks its references and actions.
    """
    problems, conversion = check_and_convert(playbook, max_iterations)
    if problems or conversion is None:
        raise PlaybookInvalid(problems)
    return parse_playbook(conversion.native)


def native_text(playbook: Playbook, fmt: Literal["yaml", "json"] = "yaml") -> str:
    """A native playbook as file text (YAML with a header comment, or JSON), defaults left out."""
    data = playbook.model_dump(mode="json", exclude_defaults=True)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    header = "# Converted from an OASIS CACAO 2.0 playbook by `xorb playbook convert` (see docs/cacao.md).\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def load_cacao(data: Any, max_iterations: int = DEFAULT_WHILE_MAX_ITERATIONS) -> Playbook:
    """Parse, validate and convert CACAO JSON data (already parsed); raise PlaybookInvalid."""
    return convert_cacao(parse_cacao(data), max_iterations)


__all__ = [
    "DEFAULT_MANUAL_ROLE",
    "DEFAULT_MANUAL_TIMEOUT",
    "DEFAULT_WHILE_MAX_ITERATIONS",
    "HANDLER_ID",
    "SUPPORTED_COMMAND_TYPES",
    "CacaoPlaybook",
    "ConditionError",
    "convert_cacao",
    "is_cacao",
    "load_cacao",
    "native_text",
    "parse_cacao",
    "translate_condition",
    "validate_cacao",
]
