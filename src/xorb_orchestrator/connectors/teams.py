"""teams: post an Adaptive Card (1.4) to a Microsoft Teams channel through its webhook: a Workflows webhook ("When a
Teams webhook request is received") or a legacy Incoming Webhook (Microsoft 365 connector).

The webhook URL is itself the credential (anyone holding it can post), so the connection holds no `url`: it names
the URL by reference, `options: {url_secret: env:TEAMS_SOC_WEBHOOK}` (or file:/path), resolved at the call and never
written in a receipt, a detail or an error. A Workflows webhook restricted to the tenant takes the connection's
`auth` (e.g. oauth2) as well.

- `teams.post_card` {title, text?, facts?, link_url?, link_title?, color?}: a message with one Adaptive Card. A
  legacy webhook answers 200 with the body "1" (posted); a Workflows webhook 202 (accepted: its flow posts the card
  on its own). One-way: a message cannot be unsent; no handle. A webhook takes no idempotency key and cannot be
  read back, so a step whose post succeeded is remembered by this worker (a retry after its completion was lost
  on the way to Temporal returns the same receipt, repeated); a retry on another worker, or after a post whose
  answer never came, may post again. The card's footer carries the step's reference, so a reader can tell a copy.

Quirks handled: legacy connectors "do not throw 429s" (Microsoft): they answer 200 with "Microsoft Teams endpoint
returned HTTP error 429 ..." in the body, so a 200 is a success only with "1", and an error in the body is
classified by its code (429 and 5xx retried); a card over 28 KB is refused before sending (Teams answers 413); the
body is sent as UTF-8 with its charset named (without it Teams counts it as UTF-16: half the size allowed); a
Workflows 429's Retry-After is the next attempt's delay.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

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
from xorb_orchestrator.connectors.http_api import client_for, credentials
from xorb_orchestrator.connectors.replies import retry_after, transport_failures
from xorb_orchestrator.infrastructure.secrets import SecretUnavailable, check_reference, resolve_secret
from xorb_orchestrator.models.receipt import Receipt, Verification
from xorb_orchestrator.playbook.actions import ActionSpec

TOOL = "teams"
MAX_CARD_BYTES = 28 * 1024  # Teams' message size limit
MAX_SAID = 200
REMEMBERED = 1024  # successful posts this worker remembers, by step
_ERROR_CODE = re.compile(r"HTTP error (\d{3})")
_POSTED: OrderedDict[tuple[str, str], Receipt] = OrderedDict()  # (connection, step key) -> its receipt, this process


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url_secret: Annotated[str, AfterValidator(check_reference)] = Field(
        description="The webhook URL by reference, env:NAME or file:/path: the URL is the credential."
    )
    channel: str | None = Field(None, max_length=200, description="The channel it posts to, as receipts name it.")


class CardArgs(ConnectorArgs):
    title: str = Field(min_length=1, max_length=300)
    text: str | None = Field(None, max_length=8000, description="Markdown as Adaptive Cards read it.")
    facts: dict[str, str] = Field(default_factory=dict, max_length=20, description="Shown as name: value lines.")
    link_url: str | None = Field(None, max_length=2000, description="A button opening this https:// URL.")
    link_title: str = Field("Open", min_length=1, max_length=100)
    color: Literal["default", "accent", "good", "warning", "attention"] = Field(
        "default", description="The title's colour: attention for an incident, good for an all-clear."
    )

    @field_validator("facts")
    @classmethod
    def _facts(cls, facts: dict[str, str]) -> dict[str, str]:
        for name, value in facts.items():
            if not 0 < len(name) <= 100 or len(value) > 1000:
                raise ValueError(f"{name[:40]!r}: a fact's name is 1 to 100 characters, its value at most 1000")
        return facts

    @field_validator("link_url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None and (urlsplit(url).scheme != "https" or not urlsplit(url).hostname):
            raise ValueError("must be an https:// URL")
        return url


def _reference(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def card(args: CardArgs, context: CallContext) -> dict[str, Any]:
    """The message Teams takes: one Adaptive Card 1.4 attachment, its footer naming the incident and the step."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": args.title,
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "color": args.color,
        },
    ]
    if args.text:
        body.append({"type": "TextBlock", "text": args.text, "wrap": True})
    if args.facts:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in args.facts.items()]})
    footer = f"xorb · {context.incident_id} · ref {_reference(context.key)}" if context.incident_id else "xorb"
    body.append({"type": "TextBlock", "text": footer, "isSubtle": True, "size": "Small", "wrap": True})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if args.link_url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": args.link_title, "url": args.link_url}]
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
    return {"type": "message", "attachments": [attachment]}


def _webhook(connection: Connection) -> tuple[str, str]:
    """The webhook URL (resolved now) and its reference; ConnectorRejected naming the reference, never the URL."""
    if connection.url is not None:
        raise ConnectorRejected(
            f"connection {connection.name}: a Teams webhook URL is a secret: leave `url` empty and name it in "
            "options.url_secret (env:NAME or file:/path)"
        )
    ref = Options.model_validate(connection.options).url_secret
    try:
        url = resolve_secret(ref)
    except SecretUnavailable as exc:
        raise ConnectorRejected(f"{connection.name}: {exc}") from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not (parts.scheme == "https" and host) and not (parts.scheme == "http" and _loopback(host)):
        # Plain HTTP would put the secret on the wire; it is allowed only to this host (a local relay, tests).
        raise ConnectorRejected(f"{connection.name}: the secret {ref} does not hold an https:// webhook URL")
    return url, ref


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _scrub(text: str, url: str) -> str:
    """The text without the webhook URL or its secret parts (path, query), should Teams ever echo them."""
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.query):
        if len(secret) >= 8:
            text = text.replace(secret, "<webhook>")
    return text


def _failure(connection: Connection, status: int, said: str, wait: float | None) -> ConnectorError:
    text = f"the Teams webhook of {connection.name} answered {status}" + (f" ({said})" if said else "")
    code = int(m[1]) if (m := _ERROR_CODE.search(said)) else status
    if code in (401, 403):
        return ConnectorRejected(f"{text}: the webhook refused us (does it need the connection's auth?)")
    if code in (404, 410):
        return ConnectorRejected(f"{text}: the webhook is gone (removed from the channel, or its workflow deleted)")
    if code == 413:
        return ConnectorRejected(f"{text}: the card is too large for Teams")
    if code >= 500 or code in (408, 425, 429):
        return ConnectorUnavailable(text + (f", retry after {wait:.0f}s" if wait is not None else ""), retry_after=wait)
    return ConnectorRejected(text)


async def post_card(connection: Connection, args: CardArgs, context: CallContext) -> Outcome:
    remembered = _POSTED.get((connection.name, context.key))
    if remembered is not None:
        repeated = remembered.model_copy(update={"repeated": True, "done": remembered.done + " (already, this step)"})
        return Outcome(details={"title": args.title, "repeated": True}, receipt=repeated)
    url, _ref = _webhook(connection)
    data = json.dumps(card(args, context), ensure_ascii=False).encode()
    if len(data) > MAX_CARD_BYTES:
        raise ConnectorRejected(f"the card is {len(data)} bytes; Teams takes at most {MAX_CARD_BYTES}: shorten it")
    async with client_for(connection) as client:
        headers = {"Content-Type": "application/json; charset=utf-8", **await credentials(client, connection)}
        with transport_failures(f"the Teams webhook of {connection.name}"):
            response = await client.post(url, content=data, headers=headers)
    said = _scrub(response.text, url).strip()[:MAX_SAID]
    status = response.status_code
    if status == 200 and said == "1":
        how = "200 '1': posted to the channel"
    elif status == 202 or (status in (200, 204) and not said):
        how = f"{status}: the workflow accepted it and posts it on its own"
    else:
        # A legacy connector says its errors in a 200's body ("... returned HTTP error 429 ..."), not its status.
        raise _failure(connection, status, said, retry_after(response))
    options = Options.model_validate(connection.options)
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=options.channel or connection.name,
        done=f"posted card {args.title[:200]!r}",
        at=datetime.now(UTC),
        verified=Verification(how="the webhook's answer (a posted message cannot be read back)", ok=True, detail=how),
    )
    _POSTED[(connection.name, context.key)] = receipt
    while len(_POSTED) > REMEMBERED:
        _POSTED.popitem(last=False)
    return Outcome(details={"title": args.title, "answer": status, "repeated": False}, receipt=receipt)


async def health(connection: Connection) -> str:
    """A webhook has no read-only call: resolve the URL, then reach its host's root (never the secret path)."""
    url, ref = _webhook(connection)
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}/"
    async with client_for(connection) as client:
        try:
            response = await client.get(origin)
        except httpx.HTTPError as exc:
            raise ConnectorUnavailable(f"the Teams webhook host of {connection.name}: {type(exc).__name__}") from None
    return f"{ref} holds a webhook URL; its host {parts.hostname} answers ({response.status_code}); nothing posted"


POST_CARD = ActionSpec(
    name="teams.post_card",
    description="Microsoft Teams: post an Adaptive Card to a channel through its webhook (Workflows or legacy "
    "Incoming Webhook), the URL by reference. One-way: a message cannot be unsent.",
    args=CardArgs,
    mutating=True,
    one_way=True,
    connector=TOOL,
    informs=True,
)

TEAMS = ConnectorType(
    name=TOOL,
    description="Microsoft Teams channel webhooks (Workflows or Incoming Webhook): Adaptive Cards, the URL a secret.",
    options=Options,
    actions=[ConnectorAction(POST_CARD, post_card)],
    health=health,
)
