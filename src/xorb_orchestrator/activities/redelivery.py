"""Re-deliveries the cache cannot vouch for: ask the earlier incidents of the same key, in Temporal.

The API refuses a re-delivered alert by its fingerprint in Redis. When Redis was flushed or down, or the API
answered 503 for an alert Temporal had recorded after all, the re-sent alert reaches a *new* incident of its
key. Before that incident answers, it asks the recent incidents of its key: running ones by query, closed ones
by the fingerprints memo they leave. A re-delivery must never start a second response.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError

from xorb_orchestrator.infrastructure.cache import SEEN_TTL_SECONDS
from xorb_orchestrator.models.search_attributes import CORRELATION_KEY_ATTR
from xorb_orchestrator.models.workflow_io import Recalled, RecallInput
from xorb_orchestrator.models.workflow_names import DELIVERED_QUERY, FINGERPRINTS_MEMO, INCIDENT_WORKFLOW

# As long as the API's cache remembers a delivery: the two memories cover the same span.
RECALL_HORIZON = timedelta(seconds=SEEN_TTL_SECONDS)
# The most recent incidents of the key asked; an alert re-sent after more incidents than this is new again.
MAX_EARLIER_INCIDENTS = 5
_QUERY_TIMEOUT = timedelta(seconds=3)
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9._:-]+$")


def _visibility_query(request: RecallInput, since: datetime) -> str:
    # Keys and ids are ours (hex digests, run UUIDs), never alert text; checked so a quote cannot slip in.
    for value in (request.correlation_key, request.run_id):
        if not _SAFE_VALUE.match(value):
            raise ValueError(f"unexpected character in {value!r}")
    return (
        f"WorkflowType = '{INCIDENT_WORKFLOW}' AND {CORRELATION_KEY_ATTR.name} = '{request.correlation_key}' "
        f"AND RunId != '{request.run_id}' AND StartTime > '{since.isoformat()}'"
    )


async def _known_to(client: Client, execution: WorkflowExecution, fingerprints: list[str]) -> list[str]:
    if execution.status == WorkflowExecutionStatus.RUNNING:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        known = await handle.query(DELIVERED_QUERY, fingerprints, result_type=list[str], rpc_timeout=_QUERY_TIMEOUT)
        return known
    if execution.status == WorkflowExecutionStatus.COMPLETED:
        remembered: list[str] = await execution.memo_value(FINGERPRINTS_MEMO, default=[], type_hint=list[str])
        wanted = set(fingerprints)
        return [f for f in remembered if f in wanted]
    # Continued as new: its successor holds its fingerprints. Failed or terminated: it may never have
    # answered, so its alerts deserve a response.
    return []


class RedeliveryActivities:
    @activity.defn(name="incident.recall_deliveries")
    async def recall_deliveries(self, request: RecallInput) -> Recalled:
        client = activity.client()
        since = datetime.now(UTC) - RECALL_HORIZON
        delivered: dict[str, str] = {}
        wanted = list(dict.fromkeys(request.fingerprints))
        executions = client.list_workflows(
            _visibility_query(request, since), limit=MAX_EARLIER_INCIDENTS, rpc_timeout=_QUERY_TIMEOUT
        )
        async for execution in executions:
            try:
                known = await _known_to(client, execution, wanted)
            except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
                # One incident not answering must not hold this one up: its fingerprints count as unknown.
                activity.logger.warning("could not ask incident %s about re-deliveries: %s", execution.id, exc)
                continue
            for fingerprint in known:
                delivered.setdefault(fingerprint, execution.id)
            wanted = [f for f in wanted if f not in delivered]
            if not wanted:
                break
        return Recalled(delivered=delivered)
