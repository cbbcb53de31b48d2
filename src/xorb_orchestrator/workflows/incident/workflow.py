"""IncidentWorkflow: one incident from its first alert to its closed response.

record alert -> enrich -> plan (typed Plan, kept in history) -> wait for a response slot ->
run the plan's playbook as a child workflow (or its built-in steps) -> release the slot ->
linger so related alerts join -> close.
Workflow id `incident-<correlation key>`: a re-delivered alert can never open a second incident.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.activities.incident import IncidentActivities
    from xorb_orchestrator.activities.redelivery import RedeliveryActivities
    from xorb_orchestrator.activities.slots import SlotActivities
    from xorb_orchestrator.models.alert import AlertEnvelope, fingerprint_event
    from xorb_orchestrator.models.incident import IncidentStatus, IncidentView, StepRun, StepStatus
    from xorb_orchestrator.models.plan import Plan, PlannedStep
    from xorb_orchestrator.models.search_attributes import CORRELATION_KEY_ATTR, SEVERITY_ATTR, STATUS_ATTR
    from xorb_orchestrator.models.workflow_io import (
        ActionInput,
        ActionResult,
        IncidentInput,
        PublishInput,
        RecallInput,
    )
    from xorb_orchestrator.models.workflow_names import (
        ADD_ALERT,
        ADD_ALERTS,
        DELIVERED_QUERY,
        FINGERPRINTS_MEMO,
        INCIDENT_WORKFLOW,
        SLOT_GRANTED,
    )
    from xorb_orchestrator.workflows import patches, policies
    from xorb_orchestrator.workflows.incident.assessment import assess
    from xorb_orchestrator.workflows.incident.containment import start_containment
    from xorb_orchestrator.workflows.incident.playbook_run import planned_run, run_playbook
    from xorb_orchestrator.workflows.incident.slots import assess_claiming, release_slot, slot_request, start_claim
    from xorb_orchestrator.workflows.incident.state import (
        MAX_REDELIVERY_SOURCES,
        MEMO_FINGERPRINTS,
        add_alert,
        observable_keys,
        open_incident,
        remember,
        reopen_from,
    )
    from xorb_orchestrator.workflows.playbook.actions import failed_attempts
    from xorb_orchestrator.workflows.waiting import wait_until

Transition = Literal["started", "completed", "failed"]
HISTORY_LIMIT = 10_000
# Publish the view at most this often while alerts keep arriving (a storm must not mean a write per alert).
PUBLISH_INTERVAL = timedelta(seconds=2)
# After a cache write failed (Redis away), try again this often while the incident stays open: the next write
# carries the whole view, so one success catches the cache up.
CACHE_RETRY_INTERVAL = timedelta(seconds=30)


@workflow.defn(name=INCIDENT_WORKFLOW)
class IncidentWorkflow:
    @workflow.init
    def __init__(self, request: IncidentInput) -> None:
        self._request = request
        self._view: IncidentView | None = request.carried
        # Recent fingerprints in arrival order (a dict is an ordered set), bounded by MAX_FINGERPRINTS.
        self._seen: dict[str, None] = dict.fromkeys(request.seen_fingerprints)
        # The sender's event ids among them, to tell an alert that reuses an id from a re-delivery.
        self._events: dict[str, None] = dict.fromkeys(
            event for event in map(fingerprint_event, request.seen_fingerprints) if event
        )
        # The severity lists filter on (a search attribute; a run continued as new has its predecessor's).
        self._indexed_severity = workflow.info().typed_search_attributes.get(SEVERITY_ATTR)
        self._early: list[AlertEnvelope] = list(request.pending_alerts)
        self._slot_granted = False
        # A run continued as new publishes the view it carries at once (the cache may not have it).
        self._dirty = request.carried is not None
        self._cache_behind = False  # the last cache write failed
        self._observable_keys = observable_keys(request.carried) if request.carried else set()
        self._last_alert_at = workflow.now()
        # Whether this incident has answered (or is answering) its alerts; an incident whose first alerts were
        # all re-deliveries of an earlier one answers only once a new alert comes.
        self._responded = request.carried is not None and request.carried.alert_count > 0
        self._only_redeliveries = request.carried is not None and request.carried.alert_count == 0
        self._remembers = False  # set in run(): whether this execution keeps the re-delivery memory (a patch)
        self._claims_while_assessing = False  # set in run(): the claim-while-assessing patch

    # --- messages -------------------------------------------------------------------------------

    @workflow.signal(name=ADD_ALERT)
    def add_alert(self, envelope: AlertEnvelope) -> None:
        """One alert for this incident; a re-delivery (same fingerprint) only counts as a duplicate."""
        if self._view is None:
            self._early.append(envelope)
            return
        self._record(envelope)

    @workflow.signal(name=ADD_ALERTS)
    def add_alerts(self, envelopes: list[AlertEnvelope]) -> None:
        """A batch of alerts for this incident (what the API's group commit sends)."""
        for envelope in envelopes:
            self.add_alert(envelope)

    @workflow.signal(name=SLOT_GRANTED)
    def slot_granted(self) -> None:
        self._slot_granted = True

    @workflow.query
    def state(self) -> IncidentView | None:
        return self._view

    @workflow.query(name=DELIVERED_QUERY)
    def delivered(self, fingerprints: list[str]) -> list[str]:
        """Which of these fingerprints this incident already holds (a newer incident of its key asks)."""
        return [f for f in fingerprints if f in self._seen]

    # --- the run --------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: IncidentInput) -> IncidentView:
        # New executions take the claim-while-assessing path, which implies the re-delivery memory and the three
        # response patches before it: one patch marker (each is also a visibility write) instead of five.
        self._claims_while_assessing = workflow.patched(patches.CLAIM_WHILE_ASSESSING.id)
        self._remembers = self._claims_while_assessing or workflow.patched(patches.REDELIVERY_MEMORY.id)
        if self._view is None:
            # Signal-with-start delivers the first alert with the first workflow task.
            if not await wait_until(lambda: bool(self._early), timedelta(minutes=1)):
                raise ApplicationError("incident started without an alert", non_retryable=True)
            await self._open(request)
        while True:
            if self._response_due():
                assert self._view is not None
                await self._respond(self._view)
            if await self._linger(request):
                break
        self._close()
        if self._remembers:
            # What a newer incident of this key reads once this one has closed (its query then is gone).
            workflow.upsert_memo({FINGERPRINTS_MEMO: list(self._seen)[-MEMO_FINGERPRINTS:]})
        await self._publish()
        assert self._view is not None
        return self._view

    async def _open(self, request: IncidentInput) -> None:
        """Open the incident from its first alerts; those an earlier incident of the key already took (the
        cache forgot them, or the API answered 503 for an alert Temporal had recorded) only count as duplicates."""
        early, self._early = self._early, []
        recalled = await self._recall(request, early) if self._remembers else {}
        fresh = [e for e in early if e.fingerprint not in recalled]
        view = open_incident(request.incident_id, request.correlation_key, (fresh or early)[0], workflow.now())
        self._view = view
        if not fresh:
            self._only_redeliveries = True
            view.alert_count, view.observables, view.techniques, view.samples = 0, [], [], []
        self._observable_keys = observable_keys(view)
        for envelope in early:
            if envelope.fingerprint in recalled:
                view.duplicate_count += 1
                self._remember(envelope.fingerprint)
        view.redelivery_of = list(dict.fromkeys(recalled.values()))[:MAX_REDELIVERY_SOURCES]
        if fresh:
            view.reused_id_count += self._reuses_event_id(fresh[0])
            self._remember(fresh[0].fingerprint)
        for envelope in [*fresh[1:], *self._early]:
            self._record(envelope)
        self._early.clear()
        if fresh:
            workflow.logger.info("incident opened: %s", view.title)
            await self._publish("started")
        else:
            workflow.logger.info("only re-deliveries of %s so far; waiting for a new alert", view.redelivery_of)
            await self._publish()

    async def _recall(self, request: IncidentInput, early: list[AlertEnvelope]) -> dict[str, str]:
        """Of these alerts, those an earlier incident of the same key holds (by fingerprint)."""
        workflow.upsert_search_attributes([CORRELATION_KEY_ATTR.value_set(request.correlation_key)])
        ask = RecallInput(
            incident_id=request.incident_id,
            run_id=workflow.info().run_id,
            correlation_key=request.correlation_key,
            fingerprints=[e.fingerprint for e in early],
        )
        try:
            recalled = await workflow.execute_local_activity_method(
                RedeliveryActivities.recall_deliveries,
                ask,
                start_to_close_timeout=policies.RECALL_TIMEOUT,
                retry_policy=policies.RECALL_RETRY,
            )
        except FailureError as err:
            if is_cancelled_exception(err):
                raise
            # Not knowing is no reason to leave alerts unanswered: they count as new.
            workflow.logger.warning("could not ask earlier incidents about re-deliveries: %s", _describe(err))
            return {}
        return recalled.delivered

    def _response_due(self) -> bool:
        return not self._responded and self._view is not None and self._view.alert_count > 0

    async def _respond(self, view: IncidentView) -> None:
        if self._only_redeliveries:
            self._only_redeliveries = False
            workflow.logger.info("incident opened: %s", view.title)
            await self._publish("started")
        self._responded = True
        # New executions claim the slot while being assessed (and take enrich-and-plan, fewer-cache-writes and
        # slot-claim without asking for their markers).
        claiming = self._claims_while_assessing
        granted: bool | None = None
        if claiming:
            view.enrichment, plan, granted = await assess_claiming(view)
        else:
            view.enrichment, plan = await assess(view)
        view.plan = plan.model_copy(update={"run": None})  # the pinned playbook stays in history, not in the view
        pinned = plan.run
        if pinned is not None:
            view.playbook_run = planned_run(view, pinned)
        else:
            view.steps = [StepRun(id=step.id, action=step.action) for step in plan.steps]
        # Fewer writes before the first action: `waiting` (cache and search attribute) only when the incident does
        # wait for a slot, and a built-in plan's `running` cached together with its first step's start.
        fewer_writes = claiming or workflow.patched(patches.FEWER_CACHE_WRITES.id)
        if not fewer_writes:
            self._set_status(IncidentStatus.WAITING)
            await self._publish()
        await self._acquire_slot(view, publish_before_waiting=fewer_writes, granted=granted)
        try:
            self._set_status(IncidentStatus.RUNNING)
            if not fewer_writes or pinned is not None:
                await self._publish()
            if pinned is not None:
                failed, undo = await run_playbook(view, pinned)
            else:
                failed, undo = await self._run_steps(view, plan), []
        except (Exception, asyncio.CancelledError):
            # Not `finally`: that would also run when the worker evicts the workflow from its cache.
            await release_slot(view.incident_id)
            raise
        await release_slot(view.incident_id)
        decision = plan.decision
        if not failed and undo and decision is not None and decision.duration is not None:
            await start_containment(view, decision, undo)
        self._set_status(IncidentStatus.FAILED if failed else IncidentStatus.COMPLETED)
        workflow.logger.info("incident response %s", view.status.value)
        await self._publish("failed" if failed else "completed")

    async def _run_steps(self, view: IncidentView, plan: Plan) -> bool:
        """Run the steps in order; the first failure stops the rest. Returns whether one failed."""
        for index, (step, run) in enumerate(zip(plan.steps, view.steps, strict=True)):
            run.status, run.started_at = StepStatus.RUNNING, workflow.now()
            await self._publish()
            try:
                result = await self._execute(view, step, first_action=index == 0)
            except ActivityError as err:
                run.status, run.error = StepStatus.FAILED, _describe(err)
                run.attempts = failed_attempts(err, policies.ACTION_RETRY)
                run.ended_at = workflow.now()
                workflow.logger.warning("step %s failed: %s", step.id, run.error)
                for later in view.steps[index + 1 :]:
                    later.status, later.error = StepStatus.SKIPPED, f"not run: step {step.id} failed"
                view.error = f"step {step.id} ({step.action}) failed: {run.error}"
                return True
            run.attempts, run.ended_at, run.result = result.attempt, workflow.now(), result.details
            if result.outcome == "skipped":
                run.status, run.error = StepStatus.SKIPPED, result.reason
            else:
                run.status = StepStatus.COMPLETED
        return False

    async def _execute(self, view: IncidentView, step: PlannedStep, *, first_action: bool) -> ActionResult:
        # Actions are found by registered name: the plan is data, the registry is the worker's.
        return await workflow.execute_activity(
            step.action,
            ActionInput(incident_id=view.incident_id, step=step, incident=view, first_action=first_action),
            result_type=ActionResult,
            start_to_close_timeout=policies.ACTION_TIMEOUT,
            heartbeat_timeout=policies.ACTION_HEARTBEAT,
            retry_policy=policies.ACTION_RETRY,
        )

    # --- response slots (MAX_PARALLEL_WORKFLOWS) ------------------------------------------------

    async def _acquire_slot(
        self, view: IncidentView, *, publish_before_waiting: bool = False, granted: bool | None = None
    ) -> None:
        """Hold a response slot before acting. `granted`: the answer of a claim already made (claim-while-assessing)."""
        slot = slot_request(view)  # one ask: a repeated one keeps its place in the queue
        claims = granted is not None or workflow.patched(patches.SLOT_CLAIM.id)
        while True:
            if granted is not None:
                if granted:
                    return
                granted = None
            elif claims:  # answered at once when a slot is free: no grant signal to wait for
                if await start_claim(slot):
                    return
            else:
                await workflow.execute_activity_method(
                    SlotActivities.request_slot,
                    slot,
                    start_to_close_timeout=policies.BOOKKEEPING_TIMEOUT,
                    retry_policy=policies.BOOKKEEPING_RETRY,
                )
            if publish_before_waiting:  # it waits for a slot after all: show `waiting`
                publish_before_waiting = False
                self._set_status(IncidentStatus.WAITING)
                await self._publish()
            if await wait_until(lambda: self._slot_granted, policies.SLOT_REQUEST_INTERVAL):
                return
            workflow.logger.info("still waiting for a response slot; asking again")

    # --- after the response ---------------------------------------------------------------------

    async def _linger(self, request: IncidentInput) -> bool:
        """Stay open for related alerts until none has come for `linger_seconds` (the correlation
        window), and never before `close_not_before`: an alert whose window id is this incident's
        must always find it open. True at closing time; False early when a response became due."""
        quiet = timedelta(seconds=request.linger_seconds)
        while True:
            if self._response_due():
                return False
            if self._history_is_long():
                await self._continue_as_new(request)
            if self._dirty:
                await self._publish()
                if quiet > timedelta(0):
                    await workflow.sleep(PUBLISH_INTERVAL)
                continue
            remaining = self._close_at() - workflow.now()
            if remaining <= timedelta(0):
                return True
            if self._cache_behind:
                if not await wait_until(lambda: self._dirty, min(remaining, CACHE_RETRY_INTERVAL)):
                    self._dirty = True  # time to try the cache again
                continue
            await wait_until(lambda: self._dirty, remaining)

    def _close_at(self) -> datetime:
        """Until when related alerts join: `linger_seconds` after the last, and never before `close_not_before`."""
        request = self._request
        close_at = self._last_alert_at + timedelta(seconds=request.linger_seconds)
        if request.close_not_before is not None:
            close_at = max(close_at, request.close_not_before)
        return close_at

    def _close(self) -> None:
        """The incident takes no more alerts: a completed response reads `closed` from now on."""
        view = self._view
        assert view is not None
        view.closed_at = view.accepts_alerts_until = workflow.now()
        if view.status is IncidentStatus.COMPLETED or view.alert_count == 0:
            self._set_status(IncidentStatus.CLOSED)

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT

    async def _continue_as_new(self, request: IncidentInput) -> None:
        """A storm must not grow one history without bound: carry the incident into a fresh run."""
        await self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            IncidentInput(
                incident_id=request.incident_id,
                correlation_key=request.correlation_key,
                linger_seconds=request.linger_seconds,
                close_not_before=request.close_not_before,
                carried=self._view,
                seen_fingerprints=list(self._seen),
            )
        )

    # --- helpers ----------------------------------------------------------------------------------

    def _record(self, envelope: AlertEnvelope) -> None:
        assert self._view is not None
        if envelope.fingerprint in self._seen:
            self._view.duplicate_count += 1
            self._dirty = True
            return
        reused = self._reuses_event_id(envelope)
        if self._view.alert_count == 0:
            # The first new alert of an incident that held only re-deliveries: it opens the incident for real.
            self._view = reopen_from(self._view, envelope, workflow.now())
            self._observable_keys = observable_keys(self._view)
        else:
            add_alert(self._view, envelope, workflow.now(), self._observable_keys)
        self._view.reused_id_count += reused
        self._remember(envelope.fingerprint)
        self._last_alert_at = workflow.now()
        self._dirty = True

    def _remember(self, fingerprint: str) -> None:
        remember(self._seen, fingerprint)
        event = fingerprint_event(fingerprint)
        if event:
            remember(self._events, event)

    def _reuses_event_id(self, envelope: AlertEnvelope) -> bool:
        """Whether this new (not re-delivered) alert carries an event id seen before on other content: by the
        intake (its cache), or by this incident. Call before remembering the alert."""
        event = fingerprint_event(envelope.fingerprint)
        seen_here = event is not None and event in self._events
        return (envelope.reuses_event_id or seen_here) and workflow.patched(patches.REUSED_EVENT_IDS.id)

    def _set_status(self, status: IncidentStatus) -> None:
        assert self._view is not None
        self._view.status = status
        workflow.upsert_search_attributes([STATUS_ATTR.value_set(status.value)])

    async def _publish(self, transition: Transition | None = None) -> None:
        """Push the view to the read cache. Best effort: Temporal stays the truth if Redis is away."""
        view = self._view
        assert view is not None
        self._dirty = False
        # Revisions only grow, across runs too (a new run of the same id must win in the cache).
        view.revision = max(view.revision + 1, int(workflow.now().timestamp() * 1_000_000))
        view.updated_at = workflow.now()
        if view.closed_at is None:
            view.accepts_alerts_until = self._close_at()
        if transition == "started":
            workflow.upsert_search_attributes(
                [STATUS_ATTR.value_set(view.status.value), SEVERITY_ATTR.value_set(view.severity)]
            )
            self._indexed_severity = view.severity
        elif self._indexed_severity not in (None, view.severity) and workflow.patched(
            patches.SEVERITY_ATTRIBUTE_RISES.id
        ):
            # A later alert raised the severity (it never falls): lists filtered by severity must find the incident.
            workflow.upsert_search_attributes([SEVERITY_ATTR.value_set(view.severity)])
            self._indexed_severity = view.severity
        publish = PublishInput(incident=view, transition=transition)
        try:
            # The most frequent call of an incident: as a local activity it is one marker in history instead of
            # three events and a workflow task. (Enrich, plan and slot requests stay regular activities: as local
            # ones they hold the workflow task open, and a storm's alerts then wait; measured.)
            await workflow.execute_local_activity_method(
                IncidentActivities.publish_incident,
                publish,
                start_to_close_timeout=policies.PUBLISH_TIMEOUT,
                retry_policy=policies.PUBLISH_RETRY,
            )
        except FailureError as err:
            # Redis is a cache: no failure of it may fail, block or delay the response. (A failed local
            # activity surfaces as its ApplicationError, not as an ActivityError.) A later write catches up.
            if is_cancelled_exception(err):
                raise
            self._cache_behind = True
            workflow.logger.warning("incident cache not updated: %s", _describe(err))
        else:
            self._cache_behind = False


def _describe(err: FailureError) -> str:
    cause = err.cause if isinstance(err, ActivityError) else err
    return str(cause.message if isinstance(cause, FailureError) else err.message) or type(cause).__name__
