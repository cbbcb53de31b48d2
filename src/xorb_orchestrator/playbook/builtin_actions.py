"""The built-in actions' contracts: name, typed arguments, whether each changes anything, what undoes it.

Pure data, so that playbook validation knows them in any interpreter without importing the worker; their
activities are in activities/actions/ (one module per action family). Connectors add their own specs to the
catalog service.py builds at start-up.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from xorb_orchestrator.playbook.actions import ActionArgs, ActionCatalog, ActionSpec

# --- notify.webhook -------------------------------------------------------------------------------------------


class NotifyWebhookArgs(ActionArgs):
    # The index, not the URL: a Slack webhook URL carries its token, and arguments are kept in Temporal's history.
    webhook: int | None = Field(
        None, ge=0, description="Which of XORB_NOTIFY_WEBHOOK_URLS (0 = the first). Default: the first configured."
    )
    host: str = Field("", max_length=255, description="The webhook's host, for the record (set by the planner).")
    text: str | None = Field(
        None, min_length=1, max_length=3000, description="The message. Default: the incident's summary."
    )


NOTIFY_WEBHOOK = ActionSpec(
    name="notify.webhook",
    description="Post the incident (or `text`) to a Slack-compatible incoming webhook from "
    "XORB_NOTIFY_WEBHOOK_URLS; skipped when none is configured. Mutating: people read and act on it, so a "
    "dry run does not send it. No undo: a message cannot be unsent.",
    args=NotifyWebhookArgs,
    mutating=True,
    informs=True,
)

# --- http.request ---------------------------------------------------------------------------------------------

READ_ONLY_METHODS = ("GET", "HEAD")
MAX_BODY_TEXT = 64 * 1024  # characters: the arguments are kept in Temporal's history
SET_BY_US = ("host", "content-length", "transfer-encoding", "connection")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class HttpRequestArgs(ActionArgs):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = Field("GET", description="HTTP method.")
    url: str = Field(max_length=2048, description="http(s) URL; its host must be in XORB_HTTP_ALLOWED_HOSTS.")
    headers: dict[str, str] = Field(default_factory=dict, max_length=50, description="Request headers.")
    json_body: Any = Field(None, alias="json", description="JSON request body.")
    body_text: str | None = Field(
        None,
        max_length=MAX_BODY_TEXT,
        description="A request body sent as written (UTF-8), with the Content-Type given in `headers` "
        "(default text/plain; charset=utf-8): form data, XML, plain text. Not with `json`.",
    )
    expected_status: list[int] = Field(
        default_factory=list,
        max_length=20,
        description="Status codes that mean success. Default: any 2xx.",
    )
    timeout: float = Field(30.0, gt=0, le=50, description="Seconds the whole call may take (at most 50).")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # A space, tab or control character would pass the host check and then fail inside the HTTP client
        # (retried as a network error): refused here, named. Values in a URL are percent-encoded.
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("a URL must not contain whitespace or control characters (percent-encode them)")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("expected an http(s) URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http(s) URL with a host")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL are refused; send them in a header")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in SET_BY_US:
                raise ValueError(f"header {name!r} is set by http.request")
            if "\r" in text or "\n" in text:
                raise ValueError(f"header {name!r}: line breaks are not allowed in a value")
        return value

    @field_validator("expected_status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        for status in value:
            if not 100 <= status <= 599:
                raise ValueError(f"{status} is not an HTTP status code")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestArgs:
        if self.json_body is not None and self.body_text is not None:
            raise ValueError("give json or body_text, not both")
        return self

    def mutating(self) -> bool:
        return self.method not in READ_ONLY_METHODS

    def succeeded(self, status: int) -> bool:
        return status in self.expected_status if self.expected_status else 200 <= status < 300


HTTP_REQUEST = ActionSpec(
    name="http.request",
    description="Call an HTTP API on an allowlisted host (XORB_HTTP_ALLOWED_HOSTS); the result is the status, "
    "a few headers and the JSON (or text) body, bounded in size. 4xx is not retried; 5xx and timeouts are.",
    args=HttpRequestArgs,
    mutating=True,
    mutating_unless="method is GET or HEAD",
)

# --- data.set, data.merge -------------------------------------------------------------------------------------


class DataSetArgs(ActionArgs):
    """Any fields at all: they become the step's result."""

    model_config = ConfigDict(extra="allow")


class DataMergeArgs(ActionArgs):
    objects: list[dict[str, Any]] = Field(
        min_length=1, max_length=100, description="Objects merged left to right: later keys win."
    )
    deep: bool = Field(False, description="Merge nested objects key by key too (lists are replaced, not joined).")


DATA_SET = ActionSpec(
    name="data.set",
    reaches_out=False,
    description="Return the arguments as the step's result, e.g. to name a value for later steps.",
    args=DataSetArgs,
    mutating=False,
)
DATA_MERGE = ActionSpec(
    name="data.merge",
    reaches_out=False,
    description="Merge objects into one (later keys win; `deep` merges nested objects); the result is the merge.",
    args=DataMergeArgs,
    mutating=False,
)


# --- notify.approval ------------------------------------------------------------------------------------------


class ApprovalNoticeArgs(ActionArgs):
    """An approval asked or decided, as the run engine tells the SOC channel (playbooks need not call it)."""

    event: Literal["asked", "approved", "denied", "expired"]
    step: str = Field(max_length=64)
    message: str = Field("", max_length=3000, description="What the approvers are asked.")
    why: str = Field("", max_length=1500, description="The plan's explanation, when the policy chose the run.")
    sends: str = Field("", max_length=1500, description="The gated requests, as they will be sent.")
    roles: list[str] = Field(default_factory=list, max_length=20)
    people: list[str] = Field(default_factory=list, max_length=20)
    deadline: datetime | None = None
    on_timeout: str = Field("deny", max_length=20)
    outcome: str = Field("", max_length=1000, description="Who decided, and why (a decision's notice).")


NOTIFY_APPROVAL = ActionSpec(
    name="notify.approval",
    description="Tell the SOC channel (the first of XORB_NOTIFY_WEBHOOK_URLS) that an approval waits — what, why, "
    "who, by when and what happens then, with a link (XORB_PUBLIC_URL) — or how it ended. The run engine sends it "
    "for every approval and every guardrail hold; skipped when no webhook is configured.",
    args=ApprovalNoticeArgs,
    mutating=True,
    informs=True,
)

BUILTIN_ACTIONS = ActionCatalog([NOTIFY_WEBHOOK, NOTIFY_APPROVAL, HTTP_REQUEST, DATA_SET, DATA_MERGE])
