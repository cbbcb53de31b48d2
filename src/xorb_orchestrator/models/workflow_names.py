"""The names our workflows and their signals are known by on Temporal.

Where the caller can import the workflow class, it calls by method and mypy checks the argument. Two places
cannot: an activity (activities sit below workflows/ in the layers) starting the slot coordinator, and
signal-with-start, whose SDK call takes the signal's name as a string. They use these constants, and the
workflows declare their handlers with the same constants, so a name cannot drift from its handler.
"""

from __future__ import annotations

INCIDENT_WORKFLOW = "IncidentWorkflow"
PLAYBOOK_WORKFLOW = "PlaybookWorkflow"
RESPONSE_SLOTS_WORKFLOW = "ResponseSlotsWorkflow"
FEED_SYNC_WORKFLOW = "FeedSyncWorkflow"
CONTAINMENT_WORKFLOW = "ContainmentWorkflow"
GUARDRAILS_WORKFLOW = "GuardrailsWorkflow"

# IncidentWorkflow's signals
ADD_ALERT = "add_alert"
ADD_ALERTS = "add_alerts"
SLOT_GRANTED = "slot_granted"
# IncidentWorkflow's query: which of these fingerprints it already holds (asked by a newer incident of its key)
DELIVERED_QUERY = "delivered"
# The memo a closed incident leaves: its most recent fingerprints, for the same question once it has closed
FINGERPRINTS_MEMO = "xorb.fingerprints"

# ResponseSlotsWorkflow's signals
ACQUIRE_SLOT = "acquire"
CLAIM_SLOT = "claim"  # the update form of ACQUIRE_SLOT: answered at once, granted or queued
RELEASE_SLOT = "release"

# GuardrailsWorkflow's updates (an activity claims by name: activities sit below workflows/ in the layers)
CLAIM_EFFECT = "claim"
PAUSE_AUTONOMY = "pause"
RESUME_AUTONOMY = "resume"
GUARDRAILS_QUERY = "state"
