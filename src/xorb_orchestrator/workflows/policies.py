"""Timeouts and retry policies for every activity call, in one place so they are reviewed together."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Error types our activities raise for failures that another attempt cannot fix.
NON_RETRYABLE = ["InvalidInput", "ActionRejected", "UnknownAction"]

# Bookkeeping (enrich, plan, cache, slots): quick, local, worth a few quick retries.
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
BOOKKEEPING_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=NON_RETRYABLE,
)

# Cache publication is best effort: Temporal holds the truth, so give up quickly.
PUBLISH_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=1),
    maximum_attempts=2,
    non_retryable_error_types=NON_RETRYABLE,
)
PUBLISH_TIMEOUT = timedelta(seconds=10)
# Asking earlier incidents about re-deliveries: a few quick tries, then the alerts count as new.
RECALL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=3,
    non_retryable_error_types=NON_RETRYABLE,
)
RECALL_TIMEOUT = timedelta(seconds=10)

# Response actions talk to outside tools: a bounded number of attempts with backoff; a heartbeat
# lets Temporal notice a dead worker within seconds instead of waiting for the whole timeout.
ACTION_TIMEOUT = timedelta(seconds=60)
ACTION_HEARTBEAT = timedelta(seconds=10)
ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=NON_RETRYABLE,
)

# How long an incident waits for a slot grant before it asks again (the ask is idempotent).
SLOT_REQUEST_INTERVAL = timedelta(minutes=5)
