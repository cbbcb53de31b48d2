"""The Teams connector against recording webhooks of both kinds: the exact Adaptive Card message, sent as UTF-8
with its charset; 200 "1" (legacy) and 202 (Workflows) both taken as success; the legacy throttle hidden in a 200's
body retried like a Workflows 429; a step's post made once on this worker; and the webhook URL, which is the
credential, only ever read from its reference: never in a receipt, a detail or an error."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.support.vendors.teams import ADAPTIVE, LEGACY_PATH, SIGNATURE, WORKFLOW_PATH, Teams
from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Connection
from xorb_orchestrator.connectors.teams import POST_CARD, TEAMS, CardArgs, health, post_card

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(30)]
CARD = CardArgs(title="Contained ws-9", text="Credential dumping: **isolated**.", color="attention",
                facts={"Incident": "incident-7", "Host": "ws-9"}, link_url="https://xorb.example/incidents/7",
                link_title="Open the incident")  # fmt: skip


def step() -> CallContext:
    """A step of its own: the connector remembers the steps it posted for in this process."""
    return CallContext(key=f"playbook-incident-7-1/tell-{uuid.uuid4().hex[:8]}", incident_id="incident-7", attempt=1)


@pytest.fixture(params=["legacy", "workflows"])
def teams(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Teams]:
    running = Teams(request.param)
    monkeypatch.setenv("XORB_TEST_TEAMS_WEBHOOK", running.webhook_url)
    try:
        yield running
    finally:
        running.stop()


def connection(**options: object) -> Connection:
    options = {"url_secret": "env:XORB_TEST_TEAMS_WEBHOOK", "channel": "SOC / Alerts", **options}
    return Connection(name="soc-channel", type="teams", options=options)


def secrets_of(teams: Teams) -> tuple[str, ...]:
    return (teams.webhook_url, LEGACY_PATH, WORKFLOW_PATH, SIGNATURE)


async def test_a_card_is_posted_as_an_adaptive_card_message_and_either_answer_is_success(teams: Teams) -> None:
    context = step()
    done = await post_card(connection(), CARD, context)
    [call] = teams.calls
    assert call.headers["Content-Type"] == "application/json; charset=utf-8" and "Authorization" not in call.headers
    [attachment] = call.body["attachments"]
    assert call.body["type"] == "message" and attachment["contentType"] == ADAPTIVE
    content = attachment["content"]
    assert (content["type"], content["version"]) == ("AdaptiveCard", "1.4")
    title, text, facts, footer = content["body"]
    assert title == {"type": "TextBlock", "text": "Contained ws-9", "size": "Large", "weight": "Bolder", "wrap": True,
                     "color": "attention"}  # fmt: skip
    assert text["text"] == "Credential dumping: **isolated**."
    assert facts == {"type": "FactSet", "facts": [{"title": "Incident", "value": "incident-7"},
                                                  {"title": "Host", "value": "ws-9"}]}  # fmt: skip
    assert footer["text"].startswith("xorb · incident-7 · ref ") and footer["isSubtle"]
    assert content["actions"] == [{"type": "Action.OpenUrl", "title": "Open the incident",
                                   "url": "https://xorb.example/incidents/7"}]  # fmt: skip
    receipt = done.receipt
    assert receipt is not None and receipt.target == "SOC / Alerts" and receipt.handle is None and receipt.undo is None
    assert receipt.verified is not None
    assert receipt.verified.detail == ("200 '1': posted to the channel" if teams.kind == "legacy"
                                       else "202: the workflow accepted it and posts it on its own")  # fmt: skip
    assert POST_CARD.one_way and POST_CARD.undo is None and len(teams.posted) == 1
    shown = receipt.model_dump_json() + json.dumps(done.details)
    assert not any(secret in shown for secret in secrets_of(teams))


async def test_a_step_posts_once_on_this_worker_and_another_step_posts_again(teams: Teams) -> None:
    context = step()
    first = await post_card(connection(), CARD, context)
    again = await post_card(connection(), CARD, context)  # its completion was lost on the way to Temporal
    assert len(teams.posted) == 1 and again.receipt is not None and again.receipt.repeated
    assert first.receipt is not None and not first.receipt.repeated
    await post_card(connection(), CARD, step())
    assert len(teams.posted) == 2


async def test_throttling_is_retried_in_either_form_and_refusals_are_not(teams: Teams) -> None:
    context = step()
    teams.throttle_next = 1
    said = "Microsoft Teams endpoint returned HTTP error 429" if teams.kind == "legacy" else "retry after 12s"
    with pytest.raises(ConnectorUnavailable, match=said) as caught:
        await post_card(connection(), CARD, context)
    assert not any(secret in str(caught.value) for secret in secrets_of(teams))
    done = await post_card(connection(), CARD, context)  # the retry posts: nothing was posted before
    assert done.receipt is not None and not done.receipt.repeated and len(teams.posted) == 1
    teams.webhook_url = teams.webhook_url.replace(LEGACY_PATH, "/webhookb2/gone-9f3a").replace(SIGNATURE, "stale-77")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XORB_TEST_TEAMS_WEBHOOK", teams.webhook_url)
        reason = "the webhook is gone" if teams.kind == "legacy" else "the webhook refused us"
        with pytest.raises(ConnectorRejected, match=reason) as refused:
            await post_card(connection(), CARD, step())
    assert "stale-77" not in str(refused.value) and "gone-9f3a" not in str(refused.value)


async def test_the_webhook_url_is_only_ever_a_reference(teams: Teams, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError) as literal:
        TEAMS.options.model_validate({"url_secret": teams.webhook_url})
    assert teams.webhook_url not in str(literal.value)
    in_url = Connection(name="soc-channel", type="teams", url="https://example.webhook.office.com/webhookb2/x",
                        options={"url_secret": "env:XORB_TEST_TEAMS_WEBHOOK"})  # fmt: skip
    with pytest.raises(ConnectorRejected, match="leave `url` empty"):
        await post_card(in_url, CARD, step())
    with pytest.raises(ConnectorRejected, match="env:XORB_TEST_TEAMS_UNSET is not set"):
        await post_card(connection(url_secret="env:XORB_TEST_TEAMS_UNSET"), CARD, step())
    monkeypatch.setenv("XORB_TEST_TEAMS_WEBHOOK", "http://teams.example/webhookb2/plain-http-secret")
    with pytest.raises(ConnectorRejected, match="does not hold an https:// webhook URL") as plain:
        await post_card(connection(), CARD, step())
    assert "plain-http-secret" not in str(plain.value)
    assert teams.calls == []


async def test_an_oversized_card_is_refused_before_it_is_sent(teams: Teams) -> None:
    facts = {f"Observable {n}": "x" * 1000 for n in range(20)}
    with pytest.raises(ConnectorRejected, match="Teams takes at most 28672"):
        await post_card(connection(), CardArgs(title="Many observables", facts=facts, text="y" * 8000), step())
    assert teams.calls == []
    with pytest.raises(ValueError, match="https://"):
        CardArgs(title="t", link_url="javascript:alert(1)")


async def test_health_reaches_the_host_without_the_secret_path(teams: Teams) -> None:
    said = await health(connection())
    assert said.startswith("env:XORB_TEST_TEAMS_WEBHOOK holds a webhook URL; its host 127.0.0.1 answers (404)")
    [call] = teams.calls
    assert (call.method, call.path, call.query) == ("GET", "/", {}) and teams.posted == []
