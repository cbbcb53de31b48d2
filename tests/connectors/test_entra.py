"""The Entra connector against a local tenant answering as Microsoft documents: a client-credentials token for
Graph's `.default` scope, fetched once and again when Graph refuses it; the user read before the PATCH so a repeat
finds the account already disabled; the value read back through Graph's eventual consistency; the undo; sessions
revoked once per step and verified by signInSessionsValidFromDateTime; a `$` UPN in Graph's `users('…')` form;
throttling retried with its wait; no secret or token in any receipt, detail or error."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.support.vendors.entra import SCOPE, EntraTenant
from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.entra import (
    DISABLE,
    ENTRA,
    REVOKE_SESSIONS,
    UserArgs,
    disable_user,
    enable_user,
    revoke_sessions,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
SECRET = "entra-" + "canary-client-secret"
ALICE = "6e7b768e-07e2-4810-8459-485f84f8f204"
SELECT = "$select=id,userPrincipalName,accountEnabled,signInSessionsValidFromDateTime"
STEP = CallContext(key="playbook-inc-3-1/disable", incident_id="inc-3", attempt=1)


@pytest.fixture
def tenant(monkeypatch: pytest.MonkeyPatch) -> Iterator[EntraTenant]:
    monkeypatch.setenv("XORB_TEST_ENTRA_SECRET", SECRET)
    running = EntraTenant("contoso-tenant-id", "xorb-responder", SECRET)
    running.add_user(ALICE, "alice@contoso.com")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def entra(tenant: EntraTenant) -> Connection:
    auth = Auth(type="oauth2", token_url=tenant.token_url, client_id="xorb-responder",
                client_secret="env:XORB_TEST_ENTRA_SECRET")  # fmt: skip
    return Connection(name="entra-prod", type="entra", url=tenant.url, auth=auth,
                      options={"poll_seconds": 0.02})  # fmt: skip


def retried(context: CallContext) -> CallContext:
    return CallContext(key=context.key, incident_id=context.incident_id, attempt=context.attempt + 1)


def everything_kept(tenant: EntraTenant, *outcomes: object) -> str:
    return json.dumps([repr(o) for o in outcomes]) + "".join(tenant.tokens_issued)


async def test_a_disable_reads_the_user_patches_it_by_id_and_reads_it_back(tenant: EntraTenant) -> None:
    done = await disable_user(entra(tenant), UserArgs(user="alice@contoso.com"), STEP)
    token_request = tenant.requests[0]
    assert token_request.path == "/contoso-tenant-id/oauth2/v2.0/token"
    assert f"scope={SCOPE.replace(':', '%3A').replace('/', '%2F')}" in token_request.body  # the default scope
    assert tenant.graph_calls() == [
        ("GET", f"/v1.0/users/alice@contoso.com?{SELECT}"),
        ("PATCH", f"/v1.0/users/{ALICE}"),
        ("GET", f"/v1.0/users/{ALICE}?{SELECT}"),
    ]
    patch = tenant.requests[2]
    assert patch.body == {"accountEnabled": False}
    assert patch.headers["Authorization"] == f"Bearer {tenant.tokens_issued[0]}"
    ids = {r.headers["client-request-id"] for r in tenant.requests[1:]}
    assert len(ids) == 1 and uuid.UUID(ids.pop())  # one GUID for the step, on every call
    assert tenant.users[ALICE]["accountEnabled"] is False
    receipt = done.receipt
    assert receipt is not None and not receipt.repeated and receipt.handle == f"entra user {ALICE}"
    assert receipt.verified is not None and receipt.verified.detail == "accountEnabled false"
    assert receipt.undo is not None and receipt.undo.model_dump() == {
        "action": "entra.enable_user", "args": {"user": ALICE, "connection": entra(tenant).name}
    }  # fmt: skip
    assert DISABLE.undo == "entra.enable_user" and DISABLE.connector == ENTRA.name == "entra"
    assert SECRET not in receipt.model_dump_json() + json.dumps(done.details)
    assert tenant.tokens_issued[0] not in receipt.model_dump_json() + json.dumps(done.details)


async def test_a_retried_disable_finds_the_account_disabled_and_patches_once(tenant: EntraTenant) -> None:
    await disable_user(entra(tenant), UserArgs(user=ALICE), STEP)
    again = await disable_user(entra(tenant), UserArgs(user=ALICE), retried(STEP))
    assert [c for c in tenant.graph_calls() if c[0] == "PATCH"] == [("PATCH", f"/v1.0/users/{ALICE}")]
    assert again.receipt is not None and again.receipt.repeated and again.receipt.undo is not None
    assert len(tenant.tokens_issued) == 1  # the token is cached between calls


async def test_the_undo_enables_the_account_and_a_repeated_undo_finds_it_enabled(tenant: EntraTenant) -> None:
    done = await disable_user(entra(tenant), UserArgs(user="alice@contoso.com"), STEP)
    assert done.receipt is not None and done.receipt.undo is not None
    args = UserArgs.model_validate(done.receipt.undo.args)
    lifted = await enable_user(entra(tenant), args, STEP)
    assert tenant.users[ALICE]["accountEnabled"] is True and tenant.requests[-2].body == {"accountEnabled": True}
    assert lifted.receipt is not None and lifted.receipt.undo is None and not lifted.receipt.repeated
    again = await enable_user(entra(tenant), args, retried(STEP))
    assert again.receipt is not None and again.receipt.repeated
    assert len([c for c in tenant.graph_calls() if c[0] == "PATCH"]) == 2


async def test_a_stale_read_after_the_write_is_read_again_until_it_holds_or_the_step_fails(
    tenant: EntraTenant,
) -> None:
    tenant.lagging_reads = 2  # the directory replicates: two reads still show the account enabled
    done = await disable_user(entra(tenant), UserArgs(user=ALICE), STEP)
    assert [c[0] for c in tenant.graph_calls()] == ["GET", "PATCH", "GET", "GET", "GET"]
    assert done.receipt is not None and done.receipt.verified is not None and done.receipt.verified.ok
    tenant.lagging_reads = 10_000
    with pytest.raises(ConnectorUnavailable, match="Graph does not show accountEnabled true after 1s"):
        await enable_user(entra(tenant), UserArgs.model_validate({"user": ALICE, "verify_within": "1s"}), STEP)


async def test_user_names_graph_reads_otherwise_are_sent_in_its_documented_forms(tenant: EntraTenant) -> None:
    tenant.add_user("a1", "$admin@contoso.com")
    tenant.add_user("g1", "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com")
    await disable_user(entra(tenant), UserArgs(user="$admin@contoso.com"), STEP)
    await disable_user(entra(tenant), UserArgs(user="guest_fabrikam.com#EXT#@contoso.onmicrosoft.com"), STEP)
    reads = [path for method, path in tenant.graph_calls() if method == "GET"]
    assert f"/v1.0/users('$admin@contoso.com')?{SELECT}" in reads
    assert f"/v1.0/users/guest_fabrikam.com%23EXT%23@contoso.onmicrosoft.com?{SELECT}" in reads
    assert tenant.users["a1"]["accountEnabled"] is False and tenant.users["g1"]["accountEnabled"] is False
    with pytest.raises(ConnectorRejected, match=r"404 Request_ResourceNotFound: Resource 'alice/\.\./x' does not"):
        await disable_user(entra(tenant), UserArgs(user="alice/../x"), STEP)
    assert tenant.graph_calls()[-1] == ("GET", f"/v1.0/users/alice%2F..%2Fx?{SELECT}")


async def test_sessions_are_revoked_once_per_step_and_verified_by_graphs_timestamp(tenant: EntraTenant) -> None:
    assert REVOKE_SESSIONS.one_way and REVOKE_SESSIONS.undo is None and REVOKE_SESSIONS.mutating
    step = CallContext(key="playbook-inc-3-1/sign-out", incident_id="inc-3", attempt=1)
    done = await revoke_sessions(entra(tenant), UserArgs(user="alice@contoso.com"), step)
    assert tenant.graph_calls() == [
        ("GET", f"/v1.0/users/alice@contoso.com?{SELECT}"),
        ("POST", f"/v1.0/users/{ALICE}/revokeSignInSessions"),
        ("GET", f"/v1.0/users/{ALICE}?{SELECT}"),
    ]
    valid_from = tenant.users[ALICE]["signInSessionsValidFromDateTime"]
    assert valid_from > "2024-01-02T03:04:05Z"
    assert done.receipt is not None and done.receipt.undo is None and not done.receipt.repeated
    assert done.receipt.verified is not None and done.receipt.verified.ok
    again = await revoke_sessions(entra(tenant), UserArgs(user="alice@contoso.com"), retried(step))
    assert [c for c in tenant.graph_calls() if c[0] == "POST"] == [
        ("POST", f"/v1.0/users/{ALICE}/revokeSignInSessions")
    ]
    assert again.receipt is not None and again.receipt.repeated


async def test_a_revocation_graph_does_not_show_fails_the_step(tenant: EntraTenant) -> None:
    tenant.lagging_reads = 10_000
    slow = UserArgs.model_validate({"user": ALICE, "verify_within": "1s"})
    with pytest.raises(ConnectorUnavailable, match="does not show a new signInSessionsValidFromDateTime after 1s"):
        await revoke_sessions(entra(tenant), slow, STEP)


async def test_throttling_is_retried_with_its_wait_refusals_are_not_and_tokens_are_refreshed(
    tenant: EntraTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant.throttle = 1
    with pytest.raises(ConnectorUnavailable, match=r"429 TooManyRequests: .*\(Graph is throttling: retry after 7s\)"):
        await disable_user(entra(tenant), UserArgs(user=ALICE), STEP)
    tenant.protected.add(ALICE)
    with pytest.raises(ConnectorRejected, match="403 Authorization_RequestDenied: Insufficient privileges"):
        await disable_user(entra(tenant), UserArgs(user=ALICE), STEP)
    tenant.protected.clear()
    tenant.expire_tokens()  # Graph refuses the cached token: a fresh one, once
    await disable_user(entra(tenant), UserArgs(user=ALICE), STEP)
    assert len(tenant.tokens_issued) == 2 and tenant.users[ALICE]["accountEnabled"] is False
    monkeypatch.setenv("XORB_TEST_ENTRA_SECRET", SECRET + "-rotated-away")
    tenant.expire_tokens()
    with pytest.raises(ConnectorRejected, match=r"the token endpoint of entra-prod answered 401") as refused:
        await enable_user(entra(tenant), UserArgs(user=ALICE), STEP)
    assert SECRET not in str(refused.value) and tenant.users[ALICE]["accountEnabled"] is False


async def test_health_reads_the_users(tenant: EntraTenant) -> None:
    said = await ENTRA.health(entra(tenant))
    assert "answers" in said and tenant.graph_calls() == [("GET", "/v1.0/users?$top=1&$select=id")]
