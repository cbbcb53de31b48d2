"""Search attribute keys the workflows upsert (pure constants, safe inside the sandbox)."""

from temporalio.common import SearchAttributeKey

STATUS_ATTR = SearchAttributeKey.for_keyword("XorbStatus")
SEVERITY_ATTR = SearchAttributeKey.for_keyword("XorbSeverity")
# Which incidents share a correlation key: a new incident asks them whether its alerts were delivered before.
CORRELATION_KEY_ATTR = SearchAttributeKey.for_keyword("XorbCorrelationKey")
SEARCH_ATTRIBUTES = (STATUS_ATTR, SEVERITY_ATTR, CORRELATION_KEY_ATTR)
