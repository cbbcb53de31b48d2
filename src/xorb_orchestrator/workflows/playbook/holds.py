"""A guardrail's hold, as an approval: the action's activity stopped the call before making it (kill switch on,
budget spent, one-way without a person) and said who may decide and by when. The step waits like an approval step
— listed in GET /v1/approvals, decided with the same Update — and runs only if a person approves; no decision in
time denies it (the safe default)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.guardrails import GuardrailVerdict
    from xorb_orchestrator.playbook import ApprovalStep, format_duration

DEFAULT_DECIDE_WITHIN = timedelta(hours=1)


def hold_approval(step_id: str, verdict: GuardrailVerdict) -> ApprovalStep:
    """The approval a held step waits for: the step's own id, the verdict's approvers, deny when time is up."""
    within = verdict.decide_within or DEFAULT_DECIDE_WITHIN
    return ApprovalStep.model_validate(
        {
            "id": step_id,
            "approval": {
                "approvers": {"roles": verdict.approvers or ["soc-lead"]},
                "timeout": format_duration(within),
                "on_timeout": "deny",
            },
        }
    )


def hold_message(action: str, verdict: GuardrailVerdict) -> str:
    rule = verdict.rule.value if verdict.rule else "guardrail"
    return f"Held by a guardrail ({rule}): {verdict.reason}. Run {action} anyway, as shown?"


def people(approvers: list[str]) -> list[str]:
    """Who approved, leaving out the policy's and a timeout's stand-in votes: only a person's approval counts."""
    return [name for name in approvers if name not in ("policy", "timeout", "dry-run")]
