"""jira: Jira Cloud issues through REST API v3, with basic auth (`auth: {type: basic, username: <email>, token:
env:JIRA_API_TOKEN}`, the token an Atlassian API token).

- `jira.create_issue` {summary, description?, project?, issue_type?, labels?, priority?}: an issue whose labels
  include the step's own label (`xorb-<hash of the step key>`). Before creating, `POST /rest/api/3/search/jql` looks
  for that label in the project and a found issue is returned, `repeated`. Jira has no idempotency key, so the
  label is the only way a repeat finds its issue. Read back with `GET /rest/api/3/issue/{key}`. The receipt's
  handle is the issue key. One-way: a ticket is a record people act on, and closing it is a transition each
  project's workflow names differently.

Quirks handled: the JQL search is eventually consistent (Atlassian: a fresh issue may be missing for seconds), so a
retried step that does not find its label yet searches again for up to `index_settle` seconds before creating; the
old `/rest/api/3/search` is gone (410), only `search/jql` is used; a summary is one line; labels hold no spaces; a
project whose create screen lacks the Labels field refuses them (400), said as such; 401/403 are refusals, 429 (with
its Retry-After) and 5xx retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from xorb_orchestrator.connectors.base import (
    CallContext,
    ConnectorAction,
    ConnectorArgs,
    ConnectorError,
    ConnectorRejected,
    ConnectorType,
    ConnectorUnavailable,
    Outcome,
)
from xorb_orchestrator.connectors.connections import Connection
from xorb_orchestrator.connectors.http_api import client_for, credentials, target_url
from xorb_orchestrator.connectors.replies import json_body, retry_after, transport_failures
from xorb_orchestrator.models.receipt import Receipt, Verification
from xorb_orchestrator.playbook.actions import ActionSpec

TOOL = "jira"
POLL_SECONDS = 1.0
MAX_SAID = 300  # characters of Jira's own error messages kept in ours
_PROJECT = r"^[A-Z][A-Z0-9_]{0,49}$"
_LABEL = re.compile(r"^\S{1,255}$")
_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-\d+$")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = Field(None, pattern=_PROJECT, description="The default project key, e.g. SOC.")
    issue_type: str = Field("Task", min_length=1, max_length=100, description="The default issue type's name.")
    index_settle: float = Field(
        10.0, ge=0, le=120, description="Seconds a retried step keeps searching for its earlier issue."
    )


class IssueArgs(ConnectorArgs):
    summary: str = Field(min_length=1, max_length=255, description="One line.")
    description: str | None = Field(None, max_length=32_000, description="Plain text; blank lines part paragraphs.")
    project: str | None = Field(None, pattern=_PROJECT, description="Default: the connection's project.")
    issue_type: str | None = Field(None, min_length=1, max_length=100, description="Default: the connection's.")
    labels: list[str] = Field(default_factory=list, max_length=20)
    priority: str | None = Field(None, min_length=1, max_length=100, description="A priority's name, e.g. High.")

    @field_validator("summary")
    @classmethod
    def _one_line(cls, summary: str) -> str:
        if any(c in summary for c in "\r\n"):
            raise ValueError("a Jira summary is one line")
        return summary

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        for label in labels:
            if not _LABEL.match(label):
                raise ValueError(f"{label[:40]!r}: a Jira label is 1 to 255 characters without spaces")
        return labels


def _options(connection: Connection) -> Options:
    return Options.model_validate(connection.options)


def step_label(key: str) -> str:
    """The label a step's issue carries, so that a repeat of the step finds it."""
    return "xorb-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: a paragraph per block, line breaks kept."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        content: list[dict[str, Any]] = []
        for line in block.splitlines():
            if content:
                content.append({"type": "hardBreak"})
            if line:  # ADF refuses an empty text node
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


async def _request(
    client: httpx.AsyncClient,
    connection: Connection,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    if connection.url is None:
        raise ConnectorRejected(f"connection {connection.name} has no url (the site, https://<you>.atlassian.net)")
    headers = {"Accept": "application/json", **await credentials(client, connection)}
    with transport_failures(f"{method} /{path} on {connection.name}"):
        return await client.request(method, target_url(connection, path), json=json, params=params, headers=headers)


def _said(response: httpx.Response) -> str:
    """Jira's error collection in one line: its errorMessages, then each field's error."""
    body = json_body(response)
    if not isinstance(body, dict):
        return ""
    parts = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts += [f"{field}: {message}" for field, message in errors.items()]
    return "; ".join(parts)[:MAX_SAID]


def _failure(what: str, response: httpx.Response) -> ConnectorError:
    status = response.status_code
    said = _said(response)
    text = f"{what}: Jira answered {status}" + (f" ({said})" if said else "")
    if status in (401, 403):
        return ConnectorRejected(f"{text}: check the account's email and API token, and its project permissions")
    if status >= 500 or status in (408, 425, 429):
        wait = retry_after(response)
        return ConnectorUnavailable(text + (f", retry after {wait:.0f}s" if wait is not None else ""), retry_after=wait)
    body = json_body(response)
    if status == 400 and isinstance(body, dict) and "labels" in (body.get("errors") or {}):
        text += " (xorb needs the Labels field on the project's create screen: a repeat finds its issue by label)"
    return ConnectorRejected(text)


async def _search(client: httpx.AsyncClient, connection: Connection, jql: str, settle: float) -> dict[str, Any] | None:
    """The first issue the JQL finds, searching again for `settle` seconds while it finds none (the index lags)."""
    deadline = time.monotonic() + settle
    query = {"jql": jql, "fields": ["summary", "labels", "status"], "maxResults": 1}
    while True:
        response = await _request(client, connection, "POST", "rest/api/3/search/jql", json=query)
        body = json_body(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise _failure(f"search {connection.name}", response)
        issues = body.get("issues")
        if isinstance(issues, list) and issues and isinstance(issues[0], dict) and issues[0].get("key"):
            return dict(issues[0])
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(min(POLL_SECONDS, left))


async def create_issue(connection: Connection, args: IssueArgs, context: CallContext) -> Outcome:
    options = _options(connection)
    project = args.project or options.project
    if project is None:
        raise ConnectorRejected(f"jira.create_issue: name a project (the step's `project` or {connection.name}'s)")
    label = step_label(context.key)
    # Only a retry can have made the issue already: only then is it worth waiting for the search index.
    settle = options.index_settle if context.attempt > 1 else 0.0
    async with client_for(connection) as client:
        in_place = await _search(client, connection, f'project = "{project}" AND labels = "{label}"', settle)
        if in_place is not None:
            key, repeated = str(in_place["key"]), True
        else:
            fields: dict[str, Any] = {
                "project": {"key": project},
                "issuetype": {"name": args.issue_type or options.issue_type},
                "summary": args.summary,
                "labels": [*args.labels, label],
            }
            if args.description:
                fields["description"] = adf(args.description)
            if args.priority:
                fields["priority"] = {"name": args.priority}
            response = await _request(client, connection, "POST", "rest/api/3/issue", json={"fields": fields})
            body = json_body(response)
            if response.status_code != 201 or not isinstance(body, dict) or not body.get("key"):
                raise _failure(f"create an issue in {project}", response)
            key, repeated = str(body["key"]), False
        if not _KEY.match(key):
            raise ConnectorRejected(f"{connection.name} answered an issue key that is not one: {key[:40]!r}")
        read = await _request(client, connection, "GET", f"rest/api/3/issue/{key}", params={"fields": "labels,status"})
    body = json_body(read)
    if read.status_code != 200 or not isinstance(body, dict):
        raise _failure(f"read back {key}", read)
    fields_read: dict[str, Any] = body["fields"] if isinstance(body.get("fields"), dict) else {}
    if label not in (fields_read.get("labels") or []):
        raise ConnectorRejected(f"{key} on {connection.name} does not carry label {label}: a repeat could not find it")
    status: dict[str, Any] = fields_read["status"] if isinstance(fields_read.get("status"), dict) else {}
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=f"project {project}",
        done=f"{key} was already open" if repeated else f"opened {key}: {args.summary[:200]}",
        handle=key,
        at=datetime.now(UTC),
        verified=Verification(
            how=f"read the issue back (GET /rest/api/3/issue/{key})",
            ok=True,
            detail=f"in place with label {label}, status {status.get('name', '?')}",
        ),
        repeated=repeated,
    )
    return Outcome(details={"key": key, "label": label, "repeated": repeated}, receipt=receipt)


async def health(connection: Connection) -> str:
    async with client_for(connection) as client:
        response = await _request(client, connection, "GET", "rest/api/3/myself")
    body = json_body(response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise _failure(f"GET /rest/api/3/myself on {connection.name}", response)
    return f"Jira answers: signed in as {body.get('displayName', '?')}"


CREATE_ISSUE = ActionSpec(
    name="jira.create_issue",
    description="Jira Cloud: open an issue labelled with the step, so that a repeat finds it instead of opening "
    "another; the issue key is the receipt's handle. One-way: people act on tickets.",
    args=IssueArgs,
    mutating=True,
    one_way=True,
    connector=TOOL,
)

JIRA = ConnectorType(
    name=TOOL,
    description="Jira Cloud: issues through REST API v3, with an account's email and API token (auth type basic).",
    options=Options,
    actions=[ConnectorAction(CREATE_ISSUE, create_issue)],
    health=health,
)
