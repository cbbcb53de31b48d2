"""Response playbooks: the native format (models), CEL expressions and templates, and validation.

The interpreter uses: `Playbook` and the step models (`Step` is the union of kinds), `load_playbook_text`
or `parse_playbook` + `validate_playbook`, `Playbook.expression_context(...)`, `evaluate`,
`evaluate_condition`, `evaluate_list` and `render_value` for arguments.
"""

from xorb_orchestrator.playbook.approval import Approval, ApprovalGroup, Approvers, OnTimeout
from xorb_orchestrator.playbook.builtin_actions import BUILTIN_ACTIONS
from xorb_orchestrator.playbook.context import (
    APPROVAL_FIELDS,
    INCIDENT_FIELDS,
    STEP_FIELDS,
    StepState,
    expression_context,
    incident_context,
)
from xorb_orchestrator.playbook.durations import Duration, format_duration, parse_duration
from xorb_orchestrator.playbook.errors import PlaybookError, PlaybookInvalid
from xorb_orchestrator.playbook.expressions import (
    CompiledExpression,
    ExpressionError,
    compile_expression,
    evaluate,
    evaluate_condition,
    evaluate_list,
    to_json,
)
from xorb_orchestrator.playbook.load import load_playbook_text
from xorb_orchestrator.playbook.metadata import InputError, InputSpec, InputType, resolve_inputs
from xorb_orchestrator.playbook.parse import guess_format, load_document, parse_playbook, parse_playbook_text
from xorb_orchestrator.playbook.playbook import Placement, Playbook
from xorb_orchestrator.playbook.policies import Compensation, Goto, RetryPolicy
from xorb_orchestrator.playbook.schema import playbook_json_schema
from xorb_orchestrator.playbook.steps import (
    DEFAULT_STEP_TIMEOUT,
    ActionStep,
    ApprovalStep,
    Block,
    ForEachStep,
    IfStep,
    Join,
    ParallelStep,
    PlaybookStep,
    Step,
    StepBase,
    SwitchStep,
    Wait,
    WaitStep,
)
from xorb_orchestrator.playbook.templates import compile_template, render_template, render_value
from xorb_orchestrator.playbook.validate import validate_playbook

__all__ = [
    "APPROVAL_FIELDS",
    "BUILTIN_ACTIONS",
    "DEFAULT_STEP_TIMEOUT",
    "INCIDENT_FIELDS",
    "STEP_FIELDS",
    "ActionStep",
    "Approval",
    "ApprovalGroup",
    "ApprovalStep",
    "Approvers",
    "Block",
    "Compensation",
    "CompiledExpression",
    "Duration",
    "ExpressionError",
    "ForEachStep",
    "Goto",
    "IfStep",
    "InputError",
    "InputSpec",
    "InputType",
    "Join",
    "OnTimeout",
    "ParallelStep",
    "Placement",
    "Playbook",
    "PlaybookError",
    "PlaybookInvalid",
    "PlaybookStep",
    "RetryPolicy",
    "Step",
    "StepBase",
    "StepState",
    "SwitchStep",
    "Wait",
    "WaitStep",
    "compile_expression",
    "compile_template",
    "evaluate",
    "evaluate_condition",
    "evaluate_list",
    "expression_context",
    "format_duration",
    "guess_format",
    "incident_context",
    "load_document",
    "load_playbook_text",
    "parse_duration",
    "parse_playbook",
    "parse_playbook_text",
    "playbook_json_schema",
    "render_template",
    "render_value",
    "resolve_inputs",
    "to_json",
    "validate_playbook",
]
