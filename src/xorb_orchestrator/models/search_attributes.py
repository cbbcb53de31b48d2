"""Search attribute keys the workflows upsert (pure constants, safe inside the sandbox)."""

from temporalio.common import SearchAttributeKey

STATUS_ATTR = SearchAttributeKey.for_keyword("XorbStatus")
SEVERITY_ATTR = SearchAttributeKey.for_keyword("XorbSeverity")
SEARCH_ATTRIBUTES = (STATUS_ATTR, SEVERITY_ATTR)
