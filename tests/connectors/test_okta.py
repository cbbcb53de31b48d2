"""The Okta connector against a local org that answers as Okta documents: the token sent as `SSWS <token>`, the
user read before a lifecycle call (Okta answers 400 to a suspend of a SUSPENDED user or an unsuspend of an ACTIVE
one) so a repeat finds the effect instead of failing, the status read back, the undo, the user name kept one path
segment, sessions cleared once per step even when retried, and refusals told apart from failures to retry."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.vendors.okta import OktaOrg
from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.okta import (
    CLEAR_SESSIONS,
    OKTA,
    SUSPEND,
    ClearSessionsArgs,
    LifecycleArgs,
    clear_sessions,
    suspend_user,
    unsuspend_user,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
TOKEN = "00QCjAl4MlV-" + "canary-okta-token"
STEP = CallContext(key="playbook-inc-7-1/suspend", incident_id="inc-7", attempt=1)


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[OktaOrg]:
    monkeypatch.setenv("XORB_TEST_OKTA_TOKEN", TOKEN)
    running = OktaOrg(TOKEN)
    running.add_user("00u1alice", "alice@example.com")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def okta(org: OktaOrg, **options: object) -> Connection:
    return Connection(
        name="okta-prod",
        type="okta",
        url=org.url,
        auth=Auth(type="header", header="Authorization", token="env:XORB_TEST_OKTA_TOKEN"),
        options={"poll_seconds": 0.02, **options},
    )


def retried(context: CallContext) -> CallContext:
    return CallContext(key=context.key, incident_id=context.incident_id, attempt=context.attempt + 1)


async def test_a_suspend_reads_the_user_suspends_it_by_id_and_reads_it_back(org: OktaOrg) -> None:
    done = await suspend_user(okta(org), LifecycleArgs(user="alice@example.com"), STEP)
    assert org.calls() == [
        ("GET", "/api/v1/users/alice@example.com"),
        ("POST", "/api/v1/users/00u1alice/lifecycle/suspend"),
        ("GET", "/api/v1/users/00u1alice"),
    ]
    assert all(r.headers["Authorization"] == f"SSWS {TOKEN}" for r in org.requests)
    assert org.status("00u1alice") == "SUSPENDED"
    receipt = done.receipt
    assert receipt is not None and not receipt.repeated
    assert (receipt.target, receipt.handle) == ("alice@example.com", "okta user 00u1alice")
    assert receipt.verified is not None and receipt.verified.ok and receipt.verified.detail == "SUSPENDED"
    assert receipt.undo is not None and receipt.undo.model_dump() == {
        "action": "okta.unsuspend_user", "args": {"user": "00u1alice", "connection": "okta-prod"}
    }  # fmt: skip
    assert SUSPEND.undo == "okta.unsuspend_user" and SUSPEND.connector == OKTA.name == "okta"
    assert TOKEN not in receipt.model_dump_json() + json.dumps(done.details)


async def test_a_retried_suspend_finds_the_user_suspended_and_suspends_once(org: OktaOrg) -> None:
    first = await suspend_user(okta(org), LifecycleArgs(user="00u1alice"), STEP)
    again = await suspend_user(okta(org), LifecycleArgs(user="00u1alice"), retried(STEP))
    suspends = [call for call in org.calls() if call[0] == "POST"]
    assert suspends == [("POST", "/api/v1/users/00u1alice/lifecycle/suspend")]
    assert first.receipt is not None and again.receipt is not None and again.receipt.repeated
    assert again.receipt.undo == first.receipt.undo  # the undo still lifts it
    assert org.calls()[-1] == ("GET", "/api/v1/users/00u1alice")  # a repeat only reads


async def test_the_undo_unsuspends_and_a_repeated_undo_finds_the_user_active(org: OktaOrg) -> None:
    done = await suspend_user(okta(org), LifecycleArgs(user="alice@example.com"), STEP)
    assert done.receipt is not None and done.receipt.undo is not None
    undo = done.receipt.undo
    args = LifecycleArgs.model_validate(undo.args)
    lifted = await unsuspend_user(okta(org), args, STEP)
    assert org.status("00u1alice") == "ACTIVE" and undo.action == "okta.unsuspend_user"
    assert ("POST", "/api/v1/users/00u1alice/lifecycle/unsuspend") in org.calls()
    assert lifted.receipt is not None and lifted.receipt.undo is None and not lifted.receipt.repeated
    again = await unsuspend_user(okta(org), args, retried(STEP))
    assert again.receipt is not None and again.receipt.repeated
    assert [c for c in org.calls() if c[0] == "POST"] == [
        ("POST", "/api/v1/users/00u1alice/lifecycle/suspend"),
        ("POST", "/api/v1/users/00u1alice/lifecycle/unsuspend"),
    ]


async def test_a_user_suspended_by_someone_else_between_read_and_call_is_found_not_failed(org: OktaOrg) -> None:
    org.after_read = lambda: org.users["00u1alice"].update(status="SUSPENDED")  # another admin, just then
    done = await suspend_user(okta(org), LifecycleArgs(user="00u1alice"), STEP)
    assert [c[0] for c in org.calls()] == ["GET", "POST", "GET"]  # Okta answered the POST 400
    assert done.receipt is not None and done.receipt.repeated and done.details["status"] == "SUSPENDED"


async def test_a_status_okta_cannot_move_from_is_refused_naming_it(org: OktaOrg) -> None:
    org.add_user("00u2gone", "gone@example.com", status="DEPROVISIONED")
    org.add_user("00u3locked", "locked@example.com", status="LOCKED_OUT")
    with pytest.raises(ConnectorRejected, match=r"gone@example\.com: the user is DEPROVISIONED; Okta can suspend only"):
        await suspend_user(okta(org), LifecycleArgs(user="gone@example.com"), STEP)
    with pytest.raises(ConnectorRejected, match="the user is LOCKED_OUT; Okta can unsuspend only users that are S"):
        await unsuspend_user(okta(org), LifecycleArgs(user="locked@example.com"), STEP)
    assert not [c for c in org.calls() if c[0] == "POST"]  # refused before Okta was asked to change anything


async def test_an_asynchronous_change_is_polled_until_it_holds_or_the_step_fails(org: OktaOrg) -> None:
    org.settle_reads = 2  # Okta shows transitioningToStatus SUSPENDED for two reads
    done = await suspend_user(okta(org), LifecycleArgs(user="00u1alice"), STEP)
    assert done.receipt is not None and done.receipt.verified is not None and done.receipt.verified.ok
    assert [c[0] for c in org.calls()] == ["GET", "POST", "GET", "GET", "GET"]
    org.settle_reads = 1000  # it never settles within verify_within
    slow = LifecycleArgs.model_validate({"user": "00u1alice", "verify_within": "1s"})
    with pytest.raises(ConnectorUnavailable, match=r"still shows SUSPENDED \(changing to ACTIVE\) after 1s"):
        await unsuspend_user(okta(org), slow, STEP)
    with pytest.raises(ConnectorUnavailable, match="Okta is changing it from SUSPENDED to ACTIVE"):
        await unsuspend_user(okta(org), slow, retried(STEP))
    assert [c for c in org.calls() if c[0] == "POST"][-1][1].endswith("/unsuspend")  # once: no call mid-change
    assert len([c for c in org.calls() if c[0] == "POST"]) == 2


async def test_a_user_name_stays_one_path_segment(org: OktaOrg) -> None:
    org.add_user("ceo-id", "ceo@example.com")
    with pytest.raises(ConnectorRejected, match=r"404 E0000007 Not found: Resource not found: ceo-id/lifecycle"):
        await suspend_user(okta(org), LifecycleArgs(user="ceo-id/lifecycle/deactivate#"), STEP)
    assert org.calls() == [("GET", "/api/v1/users/ceo-id%2Flifecycle%2Fdeactivate%23")]
    assert org.status("ceo-id") == "ACTIVE"
    for bad in ("..", ".", " ", "a\nb"):
        with pytest.raises(ValueError, match="not an Okta user id or login"):
            LifecycleArgs(user=bad)


async def test_clear_sessions_is_one_way_and_a_retried_step_clears_once(org: OktaOrg) -> None:
    assert CLEAR_SESSIONS.one_way and CLEAR_SESSIONS.undo is None and CLEAR_SESSIONS.mutating
    step = CallContext(key="playbook-inc-7-1/sign-out", incident_id="inc-7", attempt=1)
    done = await clear_sessions(okta(org), ClearSessionsArgs(user="alice@example.com"), step)
    assert org.calls() == [("GET", "/api/v1/users/alice@example.com"), ("DELETE", "/api/v1/users/00u1alice/sessions")]
    assert org.requests[-1].query == {"oauthTokens": ["true"]}
    assert done.receipt is not None and done.receipt.undo is None and not done.receipt.repeated
    again = await clear_sessions(okta(org), ClearSessionsArgs(user="alice@example.com"), retried(step))
    assert [c for c in org.calls() if c[0] == "DELETE"] == [("DELETE", "/api/v1/users/00u1alice/sessions")]
    log_read = org.requests[-1]
    assert (log_read.method, log_read.path) == ("GET", "/api/v1/logs")
    assert log_read.query["filter"] == ['eventType eq "user.session.clear" and target.id eq "00u1alice"']
    assert again.receipt is not None and again.receipt.repeated and again.receipt.handle == org.logs[0]["uuid"]
    # Another step's retry: the log shows a clear, but not this step's — so it clears.
    other = CallContext(key="playbook-inc-9-1/sign-out", incident_id="inc-9", attempt=2)
    third = await clear_sessions(okta(org), ClearSessionsArgs(user="00u1alice", oauth_tokens=False), other)
    assert third.receipt is not None and not third.receipt.repeated
    assert org.requests[-1].query == {"oauthTokens": ["false"]} and len(org.logs) == 2


async def test_a_log_okta_will_not_show_means_clearing_again_not_failing(org: OktaOrg) -> None:
    org.forbid_logs = True
    step = CallContext(key="playbook-inc-7-1/sign-out", incident_id="inc-7", attempt=3)
    done = await clear_sessions(okta(org), ClearSessionsArgs(user="00u1alice"), step)
    assert [c[0] for c in org.calls()] == ["GET", "GET", "DELETE"]
    assert done.details["cleared"] is True


async def test_rate_limits_and_outages_are_retried_refusals_are_not_and_no_message_holds_the_token(
    org: OktaOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    org.throttle = 1
    with pytest.raises(ConnectorUnavailable, match=r"429 E0000047 .*Okta's limit resets in 4\ds") as limited:
        await suspend_user(okta(org), LifecycleArgs(user="00u1alice"), STEP)
    org.outage = 1
    with pytest.raises(ConnectorUnavailable, match="500 E0000009") as outage:
        await suspend_user(okta(org), LifecycleArgs(user="00u1alice"), STEP)
    with pytest.raises(ConnectorRejected, match="404 E0000007") as missing:
        await suspend_user(okta(org), LifecycleArgs(user="nobody@example.com"), STEP)
    monkeypatch.setenv("XORB_TEST_OKTA_TOKEN", "SSWS " + TOKEN + "-revoked")  # stored with its scheme: not doubled
    with pytest.raises(ConnectorRejected, match="401 E0000011 Invalid token provided") as refused:
        await suspend_user(okta(org), LifecycleArgs(user="00u1alice"), STEP)
    assert org.requests[-1].headers["Authorization"] == f"SSWS {TOKEN}-revoked"
    for error in (limited, outage, missing, refused):
        assert TOKEN not in str(error.value)
    assert org.status("00u1alice") == "ACTIVE"


async def test_health_reads_the_users_api(org: OktaOrg) -> None:
    said = await OKTA.health(okta(org))
    assert "answers" in said and org.calls() == [("GET", "/api/v1/users")]
    assert org.requests[0].query == {"limit": ["1"]}
