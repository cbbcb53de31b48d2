"""Running playbook steps inside the PlaybookWorkflow: one method per step kind, recorded as they run.

The scheduler (scheduler.py) decides what runs next; this module does each step's durable part —
activities, timers, child workflows, approvals — and keeps the record and the state expressions read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.ids import instance_key
    from xorb_orchestrator.models.incident import StepStatus
    from xorb_orchestrator.models.playbook_run import (
        ApprovalVote,
        Gate,
        GatedRequest,
        PlaybookRunInput,
        PlaybookRunResult,
        RunStatus,
        StepRecord,
        UndoRecord,
    )
    from xorb_orchestrator.models.response_plan import Autonomy
    from xorb_orchestrator.playbook import (
        ActionStep,
        ApprovalStep,
        ExpressionError,
        ForEachStep,
        IfStep,
        InputError,
        Join,
        ParallelStep,
        PlaybookStep,
        Step,
        StepBase,
        StepState,
        SwitchStep,
        WaitStep,
        expression_context,
        format_duration,
        render_template,
        render_value,
        resolve_inputs,
    )
    from xorb_orchestrator.playbook.gating import gate_key, gated_steps
    from xorb_orchestrator.playbook.rendering import render_action_args
    from xorb_orchestrator.playbook.step_status import FAILURES
    from xorb_orchestrator.workflows import patches
    from xorb_orchestrator.workflows.playbook import concurrency
    from xorb_orchestrator.workflows.playbook.action_steps import ActionSteps
    from xorb_orchestrator.workflows.playbook.actions import (
        describe_failure,
        temporal_retry,
    )
    from xorb_orchestrator.workflows.playbook.approvals import ApprovalDesk, PendingApproval
    from xorb_orchestrator.workflows.playbook.compensation import UndoLedger
    from xorb_orchestrator.workflows.playbook.notices import notices_on, tell_asked, tell_decided
    from xorb_orchestrator.workflows.playbook.scheduler import (
        Cursor,
        Done,
        Failed,
        Jump,
        ListEnd,
        Outcome,
        StepFailure,
        choose_block,
        fallback_block,
        loop_items,
        should_run,
        wait_time,
    )
    from xorb_orchestrator.workflows.playbook.scope import Ran, Scope

EXPECTED_FAILURES = (StepFailure, ExpressionError, InputError, ActivityError, ChildWorkflowError, TimeoutError)


# Runs a child playbook run: (its input, its workflow id, its retry policy) -> its result. PlaybookWorkflow
# supplies it, so the child is started by method (type-checked) without this module importing the workflow.
RunChild = Callable[[PlaybookRunInput, str, TemporalRetryPolicy | None], Awaitable[PlaybookRunResult]]


class StepRunner(ActionSteps):
    def __init__(
        self,
        request: PlaybookRunInput,
        desk: ApprovalDesk,
        ledger: UndoLedger,
        records: list[StepRecord],
        run_child: RunChild,
        gates: dict[str, Gate] | None = None,
    ):
        self.request = request
        self.run_child = run_child
        # The incident's own run times its first action (xorb_alert_to_first_action_seconds); a continued run
        # has had it, a child run or a dry run is not the incident's response.
        self._first_action_pending = request.measure_first_action and request.carried is None and not request.dry_run
        self.desk = desk
        self.ledger = ledger
        self.records = records
        self.gates = {} if gates is None else gates  # decided approvals, by gated step instance (gate_key)
        self.gated_by = gated_steps(request.playbook)
        self.key = workflow.info().workflow_id
        self.mutating = frozenset(request.mutating_actions)
        self._dry_run_calls = 0  # real calls this dry run made (steps marked `dry_run: call`), capped
        placements = list(request.playbook.walk())
        self.step_ids = [p.step.id for p in placements]
        self.steps_by_id = {p.step.id: p.step for p in placements}
        self.approval_ids = [p.step.id for p in placements if isinstance(p.step, ApprovalStep)]

    def context(self, scope: Scope) -> dict[str, Any]:
        return expression_context(
            inputs=self.request.inputs,
            incident=self.request.incident,
            steps=scope.visible(),
            step_ids=self.step_ids,
            approval_ids=self.approval_ids,
            item=scope.item,
            in_loop=scope.in_loop,
        )

    async def run_list(
        self, steps: list[Step], scope: Scope, start: int = 0, between: Callable[[int], Awaitable[None]] | None = None
    ) -> ListEnd:
        """Run a list of steps as the scheduler routes them; `between` is called before each next step."""
        cursor = Cursor(steps, start)
        while (step := cursor.current()) is not None:
            end = cursor.advance(await self.run_step(step, scope))
            if end is not None:
                return end
            if between is not None:
                await between(cursor.index)
        return Done()

    async def run_step(self, step: StepBase, scope: Scope) -> Outcome:
        record = StepRecord(id=step.id, kind=step.kind, iteration=scope.iteration, started_at=workflow.now())
        self.records.append(record)
        scope.states[step.id] = StepState(status=StepStatus.RUNNING)
        jump = None
        try:
            skipped = self._skipped(step, scope)
            if skipped is not None:
                state = skipped
                record.decision = "when: false"
            else:
                state, jump = await self._bounded(step, self._dispatch(step, scope, record))
        except asyncio.CancelledError:
            self._close(step, scope, record, StepState(status=StepStatus.FAILED, error="cancelled"))
            raise
        except EXPECTED_FAILURES as err:
            failure = err.state if isinstance(err, StepFailure) else None
            state = failure or StepState(status=StepStatus.FAILED, error=describe_failure(err))
            state.error = state.error or describe_failure(err)
        self._close(step, scope, record, state)
        if _cancel_requested():
            # An activity that completed while its cancellation was in flight returns normally, swallowing the
            # cancellation; the step counts as completed (its undo will run) and the cancellation goes on here.
            raise asyncio.CancelledError
        if state.status in FAILURES:
            return Failed(step.id, state.error or "failed")
        return Jump(jump) if jump else Done()

    def _skipped(self, step: StepBase, scope: Scope) -> StepState | None:
        """The state of a step its `when` skips, or None when it runs. In a dry run, a `when` that reads a
        simulated result skips the step, with a warning."""
        try:
            return None if should_run(step, self.context(scope)) else StepState(status=StepStatus.SKIPPED)
        except ExpressionError as err:
            if not self._guessing():
                raise
            warning = f"dry run: could not evaluate `when` ({err}); skipped the step"
            return StepState(status=StepStatus.SKIPPED, result={"warning": warning})

    def _guessing(self) -> bool:
        # Only dry runs guess what a simulated result would have chosen; real runs fail the step.
        return self.request.dry_run

    def _close(self, step: StepBase, scope: Scope, record: StepRecord, state: StepState) -> None:
        state.status = StepStatus.FAILED if state.status is StepStatus.RUNNING else state.status
        scope.states[step.id] = state
        # In a dry run expressions read what a lookup returned; the caller gets its shape, not its text (a loop's
        # or a child playbook's record carries its steps' results too).
        shown = withheld_bodies(state.result) if self.request.dry_run else state.result
        record.status, record.result, record.ended_at = state.status, shown, workflow.now()
        record.error = state.error or record.error
        if state.status is StepStatus.COMPLETED and step.compensate is not None and not _preexisting(state):
            undo = step.compensate
            try:
                args = render_action_args(undo.args, self.context(scope))
            except ExpressionError as err:
                # A dry run's simulated result has no handle (rule number, alert id) for the undo to name: the undo
                # would be simulated anyway. In a real run the step said what it did and its undo cannot follow.
                if not self.request.dry_run:
                    record.error = f"its compensation cannot run: {err}"
                return
            key = instance_key(self.key, step.id, scope.iterations)
            self.ledger.push(
                UndoRecord(step_id=step.id, iteration=scope.iteration, key=key, action=undo.action, args=args,
                           timeout=undo.timeout, retry=undo.retry)
            )  # fmt: skip

    async def _bounded(self, step: StepBase, body: Coroutine[Any, Any, Ran]) -> Ran:
        """Blocks, waits and child playbooks: `timeout` bounds the whole step (actions: each attempt)."""
        if step.timeout is None or isinstance(step, ActionStep | ApprovalStep):
            return await body
        try:
            return await asyncio.wait_for(body, step.timeout.total_seconds())
        except TimeoutError:
            raise StepFailure(f"did not finish within {format_duration(step.timeout)}") from None

    def _dispatch(self, step: StepBase, scope: Scope, record: StepRecord) -> Coroutine[Any, Any, Ran]:
        if isinstance(step, ActionStep):
            return self._action(step, scope, record)
        if isinstance(step, IfStep | SwitchStep):
            return self._branch(step, scope, record)
        if isinstance(step, ParallelStep):
            return self._parallel(step, scope, record)
        if isinstance(step, ForEachStep):
            return self._for_each(step, scope, record)
        if isinstance(step, ApprovalStep):
            return self._approval(step, scope, record)
        if isinstance(step, WaitStep):
            return self._wait(step, scope, record)
        assert isinstance(step, PlaybookStep)
        return self._playbook(step, scope, record)

    # --- one method per kind --------------------------------------------------------------------

    def _gated_requests(self, step: ApprovalStep, scope: Scope) -> list[GatedRequest]:
        """The requests the approval decides, rendered now, exactly as they will be sent."""
        requests = []
        for gated in step.approval.gates:
            target = self.steps_by_id[gated]
            assert isinstance(target, ActionStep)  # the validator allows only action steps
            try:
                args = render_action_args(target.args, self.context(scope))
            except ExpressionError as err:
                raise StepFailure(f"cannot show the request of step '{gated}' to approvers: {err}") from None
            requests.append(GatedRequest(step_id=gated, action=target.action, args=args))
        return requests

    def _decide_gates(
        self, requests: list[GatedRequest], approval_id: str, approved: bool, scope: Scope, approvers: list[str]
    ) -> None:
        for shown in requests:
            gate = Gate(approval_id=approval_id, approved=approved, request=shown, approvers=approvers)
            self.gates[gate_key(shown.step_id, scope.iterations)] = gate

    async def _branch(self, step: IfStep | SwitchStep, scope: Scope, record: StepRecord) -> Ran:
        warning = None
        try:
            decision, steps = choose_block(step, self.context(scope))
        except ExpressionError as err:
            if not self._guessing():
                raise
            decision, steps = fallback_block(step)
            warning = f"dry run: could not evaluate the choice ({err}); took the {decision} branch"
        record.decision = decision
        result: dict[str, Any] = {"branch": decision} if isinstance(step, IfStep) else {"case": decision}
        if warning:
            result["warning"] = warning
        end = await self.run_list(steps, scope)
        if isinstance(end, Failed):
            raise StepFailure(end.describe(), state=StepState(status=StepStatus.FAILED, result=result))
        return StepState(status=StepStatus.COMPLETED, result=result), end.target if isinstance(end, Jump) else None

    async def _parallel(self, step: ParallelStep, scope: Scope, record: StepRecord) -> Ran:
        async def branch(_index: int, steps: list[Step]) -> ListEnd:
            return await self.run_list(steps, scope)

        if step.join is Join.ANY:
            record.decision = f"branch {await concurrency.join_any(step.parallel, branch)}"
        else:
            await concurrency.join_all(step.parallel, branch)
        return StepState(status=StepStatus.COMPLETED), None

    async def _for_each(self, step: ForEachStep, scope: Scope, record: StepRecord) -> Ran:
        items = loop_items(step, self.context(scope))
        iterations: list[dict[str, Any]] = [{} for _ in items]

        async def item_run(index: int, item: Any) -> ListEnd:
            inner = scope.enter_item(index, item)
            try:
                return await self.run_list(step.steps, inner)
            finally:
                iterations[index] = {sid: state.as_context(False) for sid, state in inner.states.items()}

        ends = await concurrency.for_each(items, step.concurrency, item_run)
        result = {"items": items, "iterations": iterations}
        record.decision = f"{sum(end is not None for end in ends)} of {len(items)} items run"
        for index, end in enumerate(ends):
            if end is not None and not isinstance(end, Done):
                message = f"item {index}: " + (end.describe() if isinstance(end, Failed) else "goto left the loop")
                raise StepFailure(message, state=StepState(status=StepStatus.FAILED, result=result))
        return StepState(status=StepStatus.COMPLETED, result=result), None

    async def _approval(self, step: ApprovalStep, scope: Scope, record: StepRecord) -> Ran:
        message = step.approval.message
        message = str(render_template(message, self.context(scope))) if message else ""
        record.args = {"message": message}
        requests = self._gated_requests(step, scope)
        record.requests = requests
        if self.request.dry_run:
            record.simulated, record.decision = True, "approved"
            record.votes = [ApprovalVote(approver="dry-run", approve=True, at=workflow.now(), via="dry-run")]
            self._decide_gates(requests, step.id, True, scope, [])
            asked = dict.fromkeys(step.approval.outputs)  # nobody gives the values in a dry run: each is null
            return StepState(status=StepStatus.COMPLETED, result=asked, approved=True), None
        if self._policy_grants(step):
            record.decision = "approved"
            record.votes = [
                ApprovalVote(
                    approver="policy",
                    approve=True,
                    at=workflow.now(),
                    via="policy",
                    comment="granted by the response policy: autonomy auto (a live, fresh TI hit on every target)",
                )
            ]
            self._decide_gates(requests, step.id, True, scope, ["policy"])
            return StepState(status=StepStatus.COMPLETED, approved=True, approvers=["policy"]), None
        key = instance_key(self.key, step.id, scope.iterations)
        notices = notices_on()

        async def asking(number: int) -> None:
            await tell_asked(key, self.request.incident, step, message, requests, number)

        pending = await self.desk.ask(step, scope.iteration, message, requests, asking if notices else None)
        if notices:
            await tell_decided(key, self.request.incident, step.id, pending)
        record.votes, record.decision = pending.request.votes, pending.outcome
        approved = pending.outcome == "approved"
        self._decide_gates(requests, step.id, approved, scope, pending.approvers)
        state = StepState(
            status=StepStatus.COMPLETED if approved else _refusal(pending),
            result=dict(pending.outputs),  # the values given with the approval ({} when none were asked)
            approved=approved,
            approvers=pending.approvers,
            error=None if approved else pending.reason,
        )
        if not approved:  # a denial fails the step, so its on_failure decides what follows
            raise StepFailure(pending.reason, state=state)
        return state, None

    def _policy_grants(self, step: ApprovalStep) -> bool:
        """Autonomy auto grants an approval, unless it must always ask or asks a person for values."""
        auto = self.request.autonomy is Autonomy.AUTO
        return auto and not step.approval.always_ask and not step.approval.outputs

    async def _wait(self, step: WaitStep, scope: Scope, record: StepRecord) -> Ran:
        delay = wait_time(step.wait, self.context(scope), workflow.now())
        record.args = {"wait": format_duration(delay) if delay.total_seconds() >= 1 else "0s"}
        if self.request.dry_run:
            record.simulated = True
        elif delay.total_seconds() > 0:
            await workflow.sleep(delay)
        return StepState(status=StepStatus.COMPLETED), None

    async def _playbook(self, step: PlaybookStep, scope: Scope, record: StepRecord) -> Ran:
        child = self.request.library.get(step.playbook)
        if child is None:
            raise StepFailure(f"playbook {step.playbook!r} was not pinned with this run (PlaybookRunInput.pin)")
        inputs = resolve_inputs(child.inputs, render_value(step.inputs, self.context(scope)))
        record.args = inputs
        request = self.request.model_copy(
            update={
                "playbook": child,
                "playbook_sha256": self.request.library_sha256.get(child.id, ""),
                "inputs": inputs,
                "carried": None,
                "measure_first_action": False,
                "dry_run_lookups": 0,  # the cap is the whole dry run's: a child's lookups are simulated
            }
        )
        result = await self.run_child(
            request,
            instance_key(self.key, step.id, scope.iterations),
            temporal_retry(step.retry) if step.retry else None,
        )
        self.records.extend(r.model_copy(update={"id": f"{step.id}/{r.id}"}) for r in result.steps)
        if result.status is not RunStatus.COMPLETED:
            state = StepState(status=StepStatus.FAILED, result=result.states)
            raise StepFailure(f"playbook '{child.id}' {result.status.value}: {result.error}", state=state)
        for undo in result.pending_undo:  # a later failure here undoes the child's steps too
            self.ledger.push(undo)
        return StepState(status=StepStatus.COMPLETED, result=result.states), None


def withheld_bodies(value: Any) -> Any:
    """A dry run's record as its caller sees it: every `body` a call returned only by its size, hash and (for an
    object) its keys. Whoever may start a dry run is not thereby allowed to read the looked-up host."""
    if isinstance(value, list):
        return [withheld_bodies(item) for item in value]
    if not isinstance(value, dict):
        return value
    shown = {key: withheld_bodies(item) for key, item in value.items() if key != "body"}
    if "body" in value and value["body"] is not None:
        body = value["body"]
        encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        shown["body"] = {"withheld": True, "bytes": len(encoded), "sha256": hashlib.sha256(encoded).hexdigest()}
        if isinstance(body, dict):
            shown["body"]["keys"] = sorted(body)[:50]
    elif "body" in value:
        shown["body"] = None
    return shown


def _refusal(pending: PendingApproval) -> StepStatus:
    """A `no`: `timed_out` when nobody decided in time, `denied` when someone said no. Runs started before the
    patch keep `failed` (a playbook's conditions may read the status, and a replay must decide alike)."""
    if not workflow.patched(patches.APPROVAL_OUTCOME_STATUS.id):
        return StepStatus.FAILED
    return StepStatus.TIMED_OUT if pending.timed_out else StepStatus.DENIED


def _cancel_requested() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _preexisting(state: StepState) -> bool:
    """The step found its effect already in place, someone else's (Receipt.preexisting): nothing of ours to undo."""
    receipt = state.result.get("receipt") if state.result else None
    return isinstance(receipt, dict) and receipt.get("preexisting") is True
