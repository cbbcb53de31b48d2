"""The service's own Prometheus metrics. Temporal SDK metrics are appended on the same /metrics."""

from __future__ import annotations

import contextlib

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

ALERTS_RECEIVED = Counter("xorb_alerts_received", "Alerts accepted by the API", ["source"])
ALERTS_IGNORED = Counter("xorb_alerts_ignored", "Events that are not alerts (e.g. Suricata flow events)", ["source"])
ALERTS_REJECTED = Counter("xorb_alerts_rejected", "Alerts refused by the API", ["reason"])
INCIDENTS_STARTED = Counter("xorb_incidents_started", "Incidents opened")
INCIDENTS_COMPLETED = Counter("xorb_incidents_completed", "Incidents whose response completed")
INCIDENTS_FAILED = Counter("xorb_incidents_failed", "Incidents whose response failed")
PLAYBOOK_RUNS = Counter("xorb_playbook_runs_finished", "Playbook runs of incidents that ended", ["playbook", "status"])
COMPENSATIONS = Counter("xorb_compensations", "Undo actions run when a playbook run failed, by status", ["status"])
APPROVAL_DECISIONS = Counter(
    "xorb_approval_decisions", "Approval decisions accepted through the API", ["decision", "identity"]
)
STEP_DURATION = Histogram(
    "xorb_step_duration_seconds",
    "Duration of one response step attempt",
    ["action", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STEPS_IN_FLIGHT = Gauge("xorb_steps_in_flight", "Response steps executing in this process", ["action"])
INCIDENTS_WAITING = Gauge("xorb_incidents_waiting_for_slot", "Incidents waiting for a response slot (whole deployment)")
INCIDENTS_HOLDING = Gauge("xorb_incidents_executing", "Incidents holding a response slot (whole deployment)")
ALERT_TO_FIRST_ACTION = Histogram(
    "xorb_alert_to_first_action_seconds",
    "Seconds from receiving an incident's first alert to the start of its first response action",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)

# Threat intelligence: feed syncs (labelled by the feed's configured name), lookups, hits, plans.
TI_SYNCS = Counter("xorb_ti_syncs", "Feed syncs that ended, by outcome (completed, failed)", ["feed", "outcome"])
TI_SYNC_DURATION = Histogram(
    "xorb_ti_sync_duration_seconds",
    "Seconds from a feed sync's start to its finish (completed syncs)",
    ["feed"],
    buckets=(0.5, 1, 5, 15, 60, 300, 900, 3600),
)
TI_FEED_LAST_SUCCESS = Gauge(
    "xorb_ti_feed_last_success_timestamp_seconds", "When the feed's last sync completed (Unix time)", ["feed"]
)
TI_FEED_ENTRIES = Gauge("xorb_ti_feed_entries", "Indicators the feed holds in the store after its last sync", ["feed"])
TI_LOOKUPS = Counter("xorb_ti_lookups", "Observables looked up in the indicator store")
TI_HITS = Counter("xorb_ti_hits", "Live bad verdicts found, by the source that said so", ["source"])
PLANS = Counter("xorb_plans", "Response plans decided, by autonomy level", ["autonomy"])


def render_metrics(sdk_metrics_url: str | None) -> tuple[bytes, str]:
    """Our registry, followed by the Temporal SDK exporter's text when it runs in this process."""
    body = generate_latest()
    if sdk_metrics_url:
        # SDK metrics are extra; never fail the scrape of our own metrics over them.
        with contextlib.suppress(httpx.HTTPError):
            body += httpx.get(sdk_metrics_url, timeout=2.0).content
    return body, CONTENT_TYPE_LATEST


GUARDRAIL_VERDICTS = Counter(
    "xorb_guardrail_verdicts",
    "Guardrail verdicts right before a mutating call that did not simply allow it: refuse or hold, by rule",
    ["outcome", "rule"],
)
BUDGET_USED = Gauge(
    "xorb_budget_used",
    "Effects counted in a budget's window at the last claim against it (deployment-wide)",
    ["budget"],
)
AUDIT_WRITE_FAILURES = Counter(
    "xorb_audit_write_failures", "Audit entries that could not be appended (Redis unreachable), by kind", ["kind"]
)
CONTAINMENTS_OPEN = Gauge("xorb_containments_open", "Containments in place now, deployment-wide (at the last scrape)")
CONTAINMENTS_ENDED = Counter(
    "xorb_containments_ended",
    "Containments that ended, by how (expiry, release) and outcome (released, failed_undo: the effect may remain)",
    ["ended_by", "outcome"],
)
CONTAINMENT_UNDO_LATENESS = Histogram(
    "xorb_containment_undo_lateness_seconds",
    "From a containment's end to its undo done (expiry only): how late the durable timer and the undo were",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
