"""Action steps of the step runner (steps.py): the call through its activity, a guardrail's hold waited out as an
approval of the step itself, and the gate an approval step put on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.guardrails import GuardrailVerdict
    from xorb_orchestrator.models.ids import instance_key
    from xorb_orchestrator.models.incident import StepStatus
    from xorb_orchestrator.models.playbook_run import Gate, GatedRequest, PlaybookRunInput, StepRecord
    from xorb_orchestrator.models.workflow_io import ActionResult
    from xorb_orchestrator.playbook import ActionStep, StepState
    from xorb_orchestrator.playbook.gating import gate_key, gate_refusal
    from xorb_orchestrator.playbook.rendering import render_action_args
    from xorb_orchestrator.workflows.playbook.actions import (
        call_action,
        describe_failure,
        failed_attempts,
        temporal_retry,
    )
    from xorb_orchestrator.workflows.playbook.approvals import ApprovalDesk
    from xorb_orchestrator.workflows.playbook.holds import hold_approval, hold_message, people
    from xorb_orchestrator.workflows.playbook.notices import notices_on, tell_asked, tell_decided
    from xorb_orchestrator.workflows.playbook.scheduler import StepFailure
    from xorb_orchestrator.workflows.playbook.scope import Ran, Scope


class ActionSteps:
    """Mixed into StepRunner, which sets these."""

    request: PlaybookRunInput
    desk: ApprovalDesk
    gates: dict[str, Gate]
    gated_by: dict[str, str]
    key: str
    mutating: frozenset[str]
    _dry_run_calls: int
    _first_action_pending: bool

    def context(self, scope: Scope) -> dict[str, Any]:
        raise NotImplementedError

    async def _action(self, step: ActionStep, scope: Scope, record: StepRecord) -> Ran:
        args = render_action_args(step.args, self.context(scope))
        record.action, record.args = step.action, args
        self._check_gate(step, scope, args)
        if self.request.dry_run and step.action in self.mutating:
            record.simulated = True
            return StepState(status=StepStatus.COMPLETED), None
        # A real lookup only where the step vouches it is read-only and the caller may make it (dry_run_lookups).
        dry_run_call = (
            self.request.dry_run and step.dry_run == "call" and self._dry_run_calls < self.request.dry_run_lookups
        )
        if dry_run_call:
            self._dry_run_calls += 1
        retry = temporal_retry(step.retry)
        key = instance_key(self.key, step.id, scope.iterations)
        first, self._first_action_pending = self._first_action_pending, False
        approved_by = self._gate_people(step, scope)

        async def call(people: list[str]) -> ActionResult:
            try:
                return await call_action(
                    step.action,
                    key=key,
                    args=args,
                    incident=self.request.incident,
                    timeout=step.timeout,
                    retry=retry,
                    dry_run=self.request.dry_run,
                    dry_run_call=dry_run_call,
                    first_action=first,
                    approved_by=people,
                )
            except ActivityError as err:
                record.attempts = failed_attempts(err, retry)
                raise StepFailure(describe_failure(err)) from None

        result = await call(approved_by)
        if result.outcome == "held":
            result = await self._held(step, scope, record, args, result, call)
        record.attempts, record.simulated = result.attempt, result.outcome == "simulated"
        if result.outcome == "skipped":
            return StepState(status=StepStatus.SKIPPED, result=result.details, error=result.reason), None
        return StepState(status=StepStatus.COMPLETED, result=result.details), None

    async def _held(
        self,
        step: ActionStep,
        scope: Scope,
        record: StepRecord,
        args: dict[str, Any],
        held: ActionResult,
        call: Callable[[list[str]], Awaitable[ActionResult]],
    ) -> ActionResult:
        """A guardrail held the call: ask a person (as an approval of this step); run it only if approved."""
        verdict = GuardrailVerdict.model_validate(held.details.get("guardrail", {}))
        shown = GatedRequest(step_id=step.id, action=step.action, args=args)
        hold = hold_approval(step.id, verdict)
        key = instance_key(self.key, step.id, scope.iterations) + "/hold"
        notices = notices_on()
        message = hold_message(step.action, verdict)

        async def asking(number: int) -> None:
            await tell_asked(key, self.request.incident, hold, message, [shown], number)

        pending = await self.desk.ask(hold, scope.iteration, message, [shown], asking if notices else None)
        if notices:
            await tell_decided(key, self.request.incident, step.id, pending)
        record.votes = pending.request.votes
        record.requests = [shown]
        record.decision = f"held ({verdict.rule.value if verdict.rule else 'guardrail'}): {pending.outcome}"
        if pending.outcome != "approved":
            state = StepState(status=StepStatus.FAILED, result={"guardrail": verdict.model_dump(mode="json")})
            raise StepFailure(f"held by a guardrail ({verdict.reason}); {pending.reason}", state=state)
        result = await call(people(pending.approvers))
        if result.outcome == "held":  # a refusal a person's approval cannot lift
            raise StepFailure(f"held by a guardrail again: {result.details.get('guardrail', {}).get('reason', '')}")
        result.details["guardrail"] = verdict.model_dump(mode="json") | {"approved_by": people(pending.approvers)}
        return result

    def _gate_people(self, step: ActionStep, scope: Scope) -> list[str]:
        """The people whose approval of this step's gate (if any) let it run: a one-way action needs one."""
        gate = self.gates.get(gate_key(step.id, scope.iterations))
        return people(gate.approvers) if gate is not None and gate.approved else []

    def _check_gate(self, step: ActionStep, scope: Scope, args: dict[str, Any]) -> None:
        """A gated step runs only as its approval approved it: approved, and with exactly the request shown."""
        approval_id = self.gated_by.get(step.id)
        if approval_id is None:
            return
        gate = self.gates.get(gate_key(step.id, scope.iterations))
        decided = None if gate is None else (gate.approved, gate.request.args)
        refusal = gate_refusal(step.id, approval_id, decided, args)
        if refusal is not None:
            raise StepFailure(refusal)
