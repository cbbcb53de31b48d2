"""thehive: TheHive 5 (StrangeBee), alerts and cases through its v1 API with an API key (`auth: {type: bearer}`).

- `thehive.create_alert` {title, description?, type?, severity?, tags?, observables?, tlp?, pap?}: an alert with
  `source: xorb` and `sourceRef` = the incident id. TheHive refuses a second alert with the same type, source and
  sourceRef (a CreateError "... already exist in organisation ..."): that refusal means a repeat, so the alert in
  place is found with the query API (`listAlert` filtered on them) and returned, `repeated`. Read back by id.
  One alert per incident and type. Undo: `thehive.delete_alert`.
- `thehive.delete_alert` {alert_id}: `DELETE /api/v1/alert/{id}` (204); an alert already gone (404) is done.
- `thehive.create_case` {title, description?, severity?, tags?, tlp?, pap?, case_template?}: a case tagged with the
  step's own tag (`xorb-step-<hash of the step key>`), looked for before one is opened. One-way: a case is where
  analysts record their work, and deleting it would destroy that.

Quirks handled: TheHive keeps an alert's type in lower case (sent and looked up so); the query API reads an index
that can lag a write, so a retried step that does not see its earlier alert or case yet asks again for up to
`index_settle` seconds; a CreateError is recognised by its body whatever the status (400 in TheHive 4 and 5, 500 in
older releases); 401/403 are refusals; 408, 429 (with its Retry-After) and 5xx are retried.
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
from xorb_orchestrator.models.receipt import Receipt, UndoCall, Verification
from xorb_orchestrator.playbook.actions import ActionSpec

TOOL = "thehive"
SOURCE = "xorb"
POLL_SECONDS = 0.5
MAX_SAID = 200  # characters of TheHive's own error message kept in ours
_ID = re.compile(r"^~?[A-Za-z0-9_-]{1,64}$")
_TAG = re.compile(r"^[^\x00-\x1f]{1,128}$")
_ONE = {"_name": "page", "from": 0, "to": 1}  # a lookup wants the first match only


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organisation: str | None = Field(
        None, max_length=200, description="Sent as X-Organisation (default: the API key user's own organisation)."
    )
    index_settle: float = Field(
        10.0, ge=0, le=120, description="Seconds a retried step keeps looking for its earlier alert or case."
    )


class Observable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_type: str = Field(pattern=r"^[a-z0-9_-]{1,64}$", description="TheHive's dataType: ip, domain, url, hash...")
    data: str = Field(min_length=1, max_length=4096)
    tags: list[str] = Field(default_factory=list, max_length=20)
    ioc: bool = False

    def body(self) -> dict[str, Any]:
        return {"dataType": self.data_type, "data": self.data, "tags": self.tags, "ioc": self.ioc}


class _Record(ConnectorArgs):
    """What an alert and a case share."""

    title: str = Field(min_length=1, max_length=512)
    description: str | None = Field(None, max_length=32_000, description="Markdown; default: names the incident.")
    severity: int = Field(2, ge=1, le=4, description="1 low, 2 medium, 3 high, 4 critical.")
    tags: list[str] = Field(default_factory=list, max_length=50)
    tlp: int = Field(2, ge=0, le=4, description="TLP 2.0: 0 clear, 1 green, 2 amber, 3 amber+strict, 4 red.")
    pap: int = Field(2, ge=0, le=3, description="0 clear, 1 green, 2 amber, 3 red.")

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not _TAG.match(tag):
                raise ValueError(f"{tag[:40]!r}: a tag is 1 to 128 characters without control characters")
        return tags


class AlertArgs(_Record):
    type: str = Field("incident", pattern=r"^[A-Za-z0-9 _.:-]{1,64}$", description="The alert's type.")
    observables: list[Observable] = Field(default_factory=list, max_length=100)

    @field_validator("type")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()  # TheHive stores it so: the lookup of a refused repeat must match


class DeleteAlertArgs(ConnectorArgs):
    alert_id: str = Field(pattern=_ID.pattern, description="The alert's id (~123), from thehive.create_alert.")


class CaseArgs(_Record):
    case_template: str | None = Field(None, max_length=200, description="A case template's name or id.")


def _options(connection: Connection) -> Options:
    return Options.model_validate(connection.options)


def _step_tag(key: str) -> str:
    return "xorb-step-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _description(args: _Record, context: CallContext) -> str:
    return args.description or f"Raised by xorb-orchestrator for incident {context.incident_id}."


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
        raise ConnectorRejected(f"connection {connection.name} has no url (TheHive's base URL)")
    headers = await credentials(client, connection)
    organisation = _options(connection).organisation
    if organisation:
        headers["X-Organisation"] = organisation
    with transport_failures(f"{method} /{path} on {connection.name}"):
        return await client.request(method, target_url(connection, path), json=json, params=params, headers=headers)


def _said(response: httpx.Response) -> str:
    body = json_body(response)
    if isinstance(body, dict) and body.get("message"):
        return f"{body.get('type', 'error')}: {str(body['message'])[:MAX_SAID]}"
    return ""


def _failure(what: str, response: httpx.Response) -> ConnectorError:
    """TheHive's answer as a refusal (not retried) or a failure to retry."""
    status = response.status_code
    said = _said(response)
    text = f"{what}: TheHive answered {status}" + (f" ({said})" if said else "")
    if status in (401, 403):
        return ConnectorRejected(f"{text}: check the API key and its organisation's permissions")
    if status >= 500 or status in (408, 425, 429):
        wait = retry_after(response)
        return ConnectorUnavailable(text + (f", retry after {wait:.0f}s" if wait is not None else ""), retry_after=wait)
    return ConnectorRejected(text)


def _already_exists(response: httpx.Response) -> bool:
    body = json_body(response)
    return (
        isinstance(body, dict) and body.get("type") == "CreateError" and "already exist" in str(body.get("message", ""))
    )


async def _first(
    client: httpx.AsyncClient, connection: Connection, query: list[dict[str, Any]], name: str, settle: float
) -> dict[str, Any] | None:
    """The first entity a query finds, asking again for `settle` seconds while it finds none (the index lags)."""
    deadline = time.monotonic() + settle
    while True:
        response = await _request(
            client, connection, "POST", "api/v1/query", params={"name": name}, json={"query": query}
        )
        if response.status_code != 200:
            raise _failure(f"query {name}", response)
        found = json_body(response)
        if isinstance(found, list) and found and isinstance(found[0], dict) and found[0].get("_id"):
            return dict(found[0])
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(min(POLL_SECONDS, left))


def _eq(field: str, value: str) -> dict[str, Any]:
    return {"_eq": {"_field": field, "_value": value}}


async def create_alert(connection: Connection, args: AlertArgs, context: CallContext) -> Outcome:
    if not context.incident_id:
        raise ConnectorRejected("thehive.create_alert needs an incident: its id is the alert's sourceRef")
    alert = {
        "type": args.type,
        "source": SOURCE,
        "sourceRef": context.incident_id,
        "title": args.title,
        "description": _description(args, context),
        "severity": args.severity,
        "tags": args.tags,
        "tlp": args.tlp,
        "pap": args.pap,
        "observables": [observable.body() for observable in args.observables],
    }
    what = f"alert for incident {context.incident_id} on {connection.name}"
    async with client_for(connection) as client:
        response = await _request(client, connection, "POST", "api/v1/alert", json=alert)
        if response.status_code == 201 and isinstance(json_body(response), dict):
            found, repeated = dict(json_body(response)), False
        elif _already_exists(response):
            # TheHive's own refusal of a re-delivery: the alert is there; find it (the index may lag a moment).
            same = [_eq("type", args.type), _eq("source", SOURCE), _eq("sourceRef", context.incident_id)]
            query: list[dict[str, Any]] = [{"_name": "listAlert"}, {"_name": "filter", "_and": same}, _ONE]
            in_place = await _first(client, connection, query, "xorb-alert", _options(connection).index_settle)
            if in_place is None:
                raise ConnectorUnavailable(f"{what}: TheHive says it exists but its query does not show it yet")
            found, repeated = in_place, True
        else:
            raise _failure(f"create {what}", response)
        alert_id = str(found["_id"])
        read = await _request(client, connection, "GET", f"api/v1/alert/{alert_id}")
    body = json_body(read)
    if read.status_code == 404:
        raise ConnectorUnavailable(f"{what}: alert {alert_id} is not readable yet")
    if read.status_code != 200 or not isinstance(body, dict):
        raise _failure(f"read back alert {alert_id}", read)
    status = body.get("status", "?")
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=f"incident {context.incident_id}",
        done=(
            f"alert {alert_id} ({args.type}) was already raised"
            if repeated
            else f"raised alert {alert_id} ({args.type}): {args.title[:200]}"
        ),
        handle=alert_id,
        at=datetime.now(UTC),
        verified=Verification(
            how=f"read the alert back (GET /api/v1/alert/{alert_id})", ok=True, detail=f"in place, status {status}"
        ),
        undo=UndoCall(action=DELETE_ALERT.name, args={"alert_id": alert_id, "connection": connection.name}),
        repeated=repeated,
    )
    return Outcome(details={"alert_id": alert_id, "type": args.type, "repeated": repeated}, receipt=receipt)


async def delete_alert(connection: Connection, args: DeleteAlertArgs, context: CallContext) -> Outcome:
    async with client_for(connection) as client:
        response = await _request(client, connection, "DELETE", f"api/v1/alert/{args.alert_id}")
        if response.status_code not in (204, 200, 404):
            raise _failure(f"delete alert {args.alert_id}", response)
        gone = response.status_code == 404  # deleted before: an undo run again, or by an analyst
        read = await _request(client, connection, "GET", f"api/v1/alert/{args.alert_id}")
    if read.status_code == 200:
        raise ConnectorUnavailable(f"alert {args.alert_id} on {connection.name} is still there after the delete")
    if read.status_code != 404:
        raise _failure(f"read back alert {args.alert_id}", read)
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=f"alert {args.alert_id}",
        done=f"alert {args.alert_id} " + ("was already gone" if gone else "deleted"),
        handle=args.alert_id,
        at=datetime.now(UTC),
        verified=Verification(
            how=f"read the alert back (GET /api/v1/alert/{args.alert_id})", ok=True, detail="not found"
        ),
        repeated=gone,
    )
    return Outcome(details={"alert_id": args.alert_id, "deleted": not gone}, receipt=receipt)


async def create_case(connection: Connection, args: CaseArgs, context: CallContext) -> Outcome:
    tag = _step_tag(context.key)
    # Only a retry can have made the case already: only then is it worth waiting for the index to show it.
    settle = _options(connection).index_settle if context.attempt > 1 else 0.0
    query = [{"_name": "listCase"}, {"_name": "filter", **_eq("tags", tag)}, _ONE]
    async with client_for(connection) as client:
        in_place = await _first(client, connection, query, "xorb-case", settle)
        if in_place is not None:
            found, repeated = in_place, True
        else:
            case: dict[str, Any] = {
                "title": args.title,
                "description": _description(args, context),
                "severity": args.severity,
                "tags": [*args.tags, tag],
                "tlp": args.tlp,
                "pap": args.pap,
            }
            if args.case_template:
                case["caseTemplate"] = args.case_template
            response = await _request(client, connection, "POST", "api/v1/case", json=case)
            if response.status_code != 201 or not isinstance(json_body(response), dict):
                raise _failure(f"open case on {connection.name}", response)
            found, repeated = dict(json_body(response)), False
        case_id = str(found["_id"])
        read = await _request(client, connection, "GET", f"api/v1/case/{case_id}")
    body = json_body(read)
    if read.status_code != 200 or not isinstance(body, dict):
        raise _failure(f"read back case {case_id}", read)
    if tag not in body.get("tags", []):
        raise ConnectorRejected(f"case {case_id} on {connection.name} lost its tag {tag}: a repeat could not find it")
    number = body.get("number", found.get("number"))
    name = f"#{number}" if number is not None else case_id
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=f"incident {context.incident_id}" if context.incident_id else args.title[:200],
        done=f"case {name} was already open" if repeated else f"opened case {name}: {args.title[:200]}",
        handle=name,
        at=datetime.now(UTC),
        verified=Verification(
            how=f"read the case back (GET /api/v1/case/{case_id})",
            ok=True,
            detail=f"in place with tag {tag}, status {body.get('status', '?')}",
        ),
        repeated=repeated,
    )
    return Outcome(details={"case_id": case_id, "number": number, "tag": tag, "repeated": repeated}, receipt=receipt)


async def health(connection: Connection) -> str:
    async with client_for(connection) as client:
        response = await _request(client, connection, "GET", "api/v1/user/current")
    body = json_body(response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise _failure(f"GET /api/v1/user/current on {connection.name}", response)
    return f"TheHive answers: signed in as {body.get('login', '?')} (organisation {body.get('organisation', '?')})"


CREATE_ALERT = ActionSpec(
    name="thehive.create_alert",
    description="TheHive: raise an alert for the incident (sourceRef = incident id, source xorb), with observables. "
    "TheHive refuses a repeat itself; the alert in place is returned. Undo: thehive.delete_alert.",
    args=AlertArgs,
    mutating=True,
    undo="thehive.delete_alert",
    connector=TOOL,
)
DELETE_ALERT = ActionSpec(
    name="thehive.delete_alert",
    description="TheHive: delete an alert raised by thehive.create_alert (succeeds when it is already gone).",
    args=DeleteAlertArgs,
    mutating=True,
    connector=TOOL,
)
CREATE_CASE = ActionSpec(
    name="thehive.create_case",
    description="TheHive: open a case, tagged with the step so a repeat finds it instead of opening another. "
    "One-way: analysts work in the case.",
    args=CaseArgs,
    mutating=True,
    one_way=True,
    connector=TOOL,
)

THEHIVE = ConnectorType(
    name=TOOL,
    description="TheHive 5: alerts and cases through its v1 API, with an API key (auth type bearer).",
    options=Options,
    actions=[
        ConnectorAction(CREATE_ALERT, create_alert),
        ConnectorAction(DELETE_ALERT, delete_alert),
        ConnectorAction(CREATE_CASE, create_case),
    ],
    health=health,
)
