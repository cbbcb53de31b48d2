"""The Defender for Endpoint connector against a local Defender API (and Entra token endpoint) that answers as
Microsoft documents it: the machine's isolation actions read before anything is asked, one isolation per step
however often the step runs, the machine action polled until it succeeds, 400 ActiveRequestAlreadyExists answered
with the pending action's receipt, the undo, and refusals told apart from failures to retry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.support.vendors.defender import SCOPE, Defender
from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.defender import (
    ISOLATE,
    UNISOLATE,
    IsolateArgs,
    MachineArgs,
    health,
    isolate,
    unisolate,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(30)]
CONTEXT = CallContext(key="incident-9/isolate-host", incident_id="incident-9", attempt=1)
SECRET = "entra-secret-" + "51f0"
CLIENT_ID = "6f1c0d5e-2b7a-4c1e-9f3d-0a8b7c6d5e4f"
MACHINE = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
OTHER = "b68a5d1e0c7f4a3b2e1d0c9b8a7f6e5d4c3b2a19"
LIST = "/api/machineactions"


@pytest.fixture
def defender(monkeypatch: pytest.MonkeyPatch) -> Iterator[Defender]:
    monkeypatch.setenv("XORB_TEST_ENTRA_SECRET", SECRET)
    running = Defender("contoso-tenant", CLIENT_ID, SECRET, {MACHINE: "ws-ops-4.contoso.com",
                                                                OTHER: "srv-db-1.contoso.com"}).start()  # fmt: skip
    try:
        yield running
    finally:
        running.stop()


def connection(defender: Defender) -> Connection:
    auth = Auth(type="oauth2", token_url=defender.token_url, client_id=CLIENT_ID,
                client_secret="env:XORB_TEST_ENTRA_SECRET", scope=SCOPE)  # fmt: skip
    return Connection(name="mde", type="defender", url=defender.url, auth=auth, options={"poll_seconds": 0.02})


async def test_isolate_reads_first_asks_once_and_polls_the_machine_action_until_it_succeeds(
    defender: Defender,
) -> None:
    args = IsolateArgs(machine_id=MACHINE, isolation_type="Selective", comment="C2 beacon to 203.0.113.9")
    done = await isolate(connection(defender), args, CONTEXT)

    token, listing, request, *polls = defender.calls
    assert token.path == "/contoso-tenant/oauth2/v2.0/token" and token.body["scope"] == [SCOPE]
    assert (listing.method, listing.path, listing.query) == ("GET", LIST, {"$filter": [f"machineId eq '{MACHINE}'"]})
    assert (request.method, request.path) == ("POST", f"/api/machines/{MACHINE}/isolate")
    assert request.body == {"Comment": "C2 beacon to 203.0.113.9 (xorb-orchestrator step incident-9/isolate-host)",
                            "IsolationType": "Selective"}  # fmt: skip
    assert request.headers["Authorization"] == f"Bearer {next(iter(defender.tokens))}"
    [action] = defender.actions
    assert [p.path for p in polls] == [f"{LIST}/{action['id']}"] * 3  # InProgress, InProgress, Succeeded
    assert defender.isolated[MACHINE] and action["status"] == "Succeeded"
    receipt = done.receipt
    assert receipt is not None and not receipt.repeated
    assert receipt.handle == f"machine action {action['id']}" and receipt.target == "ws-ops-4.contoso.com"
    assert receipt.done == "machine ws-ops-4.contoso.com isolated (Selective)"
    assert receipt.verified is not None and receipt.verified.ok and receipt.verified.detail == "Isolate Succeeded"
    assert receipt.undo is not None and receipt.undo.model_dump() == {
        "action": "defender.unisolate", "args": {"machine_id": MACHINE, "connection": "mde"}
    }  # fmt: skip
    assert done.details["requested"] is True and done.details["machine_action"] == action["id"]
    assert SECRET not in json.dumps(done.details) + receipt.model_dump_json()
    assert ISOLATE.undo == UNISOLATE.name and ISOLATE.mutating and not UNISOLATE.undo
    assert "answers (1 machine(s) on a first page of 1)" in await health(connection(defender))
    assert (defender.calls[-1].path, defender.calls[-1].query) == ("/api/machines", {"$top": ["1"]})


async def test_a_repeated_step_finds_the_isolation_and_never_asks_twice(defender: Defender) -> None:
    mde = connection(defender)
    first = await isolate(mde, IsolateArgs(machine_id=MACHINE), CONTEXT)
    again = await isolate(mde, IsolateArgs(machine_id=MACHINE), CONTEXT)
    assert len(defender.requests_of("Isolate")) == 1
    assert first.receipt is not None and again.receipt is not None and again.receipt.repeated
    assert again.receipt.handle == first.receipt.handle and again.details["requested"] is False
    assert again.receipt.done == "machine ws-ops-4.contoso.com was already isolated (Full)"

    # An earlier attempt asked and died before the answer: its action is still running, and is waited for.
    pending = defender.add_action(OTHER, "Isolate", "Pending", comment="(xorb-orchestrator step incident-9/x)")
    waited = await isolate(mde, IsolateArgs(machine_id=OTHER), CONTEXT)
    assert len(defender.requests_of("Isolate")) == 2 and defender.isolated[OTHER]
    assert waited.receipt is not None and waited.receipt.repeated
    assert waited.receipt.handle == f"machine action {pending['id']}"


async def test_active_request_already_exists_returns_the_pending_actions_receipt(defender: Defender) -> None:
    # The list lags behind a new action: our read misses it, Defender refuses a second request with a 400.
    pending = defender.add_action(MACHINE, "Isolate", "Pending")
    defender.unlisted.add(pending["id"])
    done = await isolate(connection(defender), IsolateArgs(machine_id=MACHINE), CONTEXT)
    refused = [c for c in defender.calls if c.method == "POST" and c.path.endswith("/isolate")]
    assert len(refused) == 1 and len(defender.actions) == 1  # asked once, refused, nothing made
    assert [c.path for c in defender.calls if c.path == LIST] == [LIST, LIST]  # read, then read again
    assert done.receipt is not None and done.receipt.repeated and defender.isolated[MACHINE]
    assert done.receipt.handle == f"machine action {pending['id']}"

    # A pending release is not what isolate asked for: Defender takes nothing else until it ends; try again.
    defender.add_action(OTHER, "Unisolate", "InProgress")
    with pytest.raises(ConnectorUnavailable, match=r"a Unisolate .* is InProgress; Defender takes no other request"):
        await isolate(connection(defender), IsolateArgs(machine_id=OTHER), CONTEXT)


async def test_unisolate_is_the_undo_and_a_machine_not_isolated_is_left_alone(defender: Defender) -> None:
    mde = connection(defender)
    isolated = await isolate(mde, IsolateArgs(machine_id=MACHINE), CONTEXT)
    assert isolated.receipt is not None and isolated.receipt.undo is not None
    released = await unisolate(mde, UNISOLATE.parse_args(isolated.receipt.undo.args), CONTEXT)
    [request] = [c for c in defender.calls if c.path == f"/api/machines/{MACHINE}/unisolate"]
    assert request.body == {"Comment": "Released from isolation (xorb-orchestrator step incident-9/isolate-host)"}
    assert not defender.isolated[MACHINE] and len(defender.requests_of("Unisolate")) == 1
    assert released.receipt is not None and not released.receipt.repeated and released.receipt.undo is None
    assert released.receipt.verified is not None and released.receipt.verified.detail == "Unisolate Succeeded"

    again = await unisolate(mde, MachineArgs(machine_id=MACHINE), CONTEXT)
    never = await unisolate(mde, MachineArgs(machine_id=OTHER), CONTEXT)
    assert len(defender.requests_of("Unisolate")) == 1
    assert again.receipt is not None and again.receipt.repeated
    assert never.receipt is not None and never.receipt.repeated and never.receipt.handle is None
    assert never.receipt.done == f"machine {OTHER} was not isolated"


async def test_an_action_that_fails_or_runs_too_long_fails_the_step_to_be_retried(defender: Defender) -> None:
    mde = connection(defender)
    defender.outcome = "Failed"
    with pytest.raises(ConnectorUnavailable, match="ended Failed"):
        await isolate(mde, IsolateArgs(machine_id=MACHINE), CONTEXT)
    defender.outcome, defender.settle_after = "Succeeded", None  # the device is offline: the action stays pending
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="is still InProgress after 1s"):
        await isolate(mde, IsolateArgs.model_validate({"machine_id": MACHINE, "verify_within": "1s"}), CONTEXT)
    assert 1.0 <= time.monotonic() - started < 5
    defender.settle_after = 0  # it comes back: the retry waits for the running action, asking nothing
    retried = await isolate(mde, IsolateArgs(machine_id=MACHINE), CallContext(CONTEXT.key, CONTEXT.incident_id, 3))
    assert len(defender.requests_of("Isolate")) == 2  # the failed one, then the one that succeeded
    assert retried.receipt is not None and retried.receipt.repeated and defender.isolated[MACHINE]

    defender.add_action(OTHER, "Isolate", "Cancelled")
    defender.outcome = "Cancelled"
    with pytest.raises(ConnectorRejected, match="was cancelled in Defender"):
        await isolate(mde, IsolateArgs(machine_id=OTHER), CONTEXT)


async def test_refusals_and_failures_to_retry_are_told_apart(
    defender: Defender, monkeypatch: pytest.MonkeyPatch
) -> None:
    mde = connection(defender)
    with pytest.raises(ConnectorRejected, match="404 ResourceNotFound"):
        await isolate(mde, IsolateArgs(machine_id="0" * 40), CONTEXT)
    defender.answer_next = [(429, {"Retry-After": "30"})]
    with pytest.raises(ConnectorUnavailable, match=r"429 TooManyRequests: injected \(rate limited; retry after 30s\)"):
        await isolate(mde, IsolateArgs(machine_id=MACHINE), CONTEXT)
    defender.answer_next = [(503, {})]
    with pytest.raises(ConnectorUnavailable, match="503"):
        await isolate(mde, IsolateArgs(machine_id=MACHINE), CONTEXT)
    assert defender.actions == []
    for bad in ("ws-ops-4", MACHINE[:-1], "../" + MACHINE[3:]):
        with pytest.raises(ValueError, match="not a Defender machine id"):
            IsolateArgs(machine_id=bad)
    with pytest.raises(ValueError, match="Full"):
        IsolateArgs.model_validate({"machine_id": MACHINE, "isolation_type": "Partial"})
    monkeypatch.setenv("XORB_TEST_ENTRA_SECRET", SECRET + "-rotated-away")
    with pytest.raises(ConnectorRejected, match="answered 401") as refused:
        stale = Connection(name="mde-stale", type="defender", url=defender.url, auth=Auth(
            type="oauth2", token_url=defender.token_url, client_id=CLIENT_ID,
            client_secret="env:XORB_TEST_ENTRA_SECRET", scope=SCOPE))  # fmt: skip
        await isolate(stale, IsolateArgs(machine_id=MACHINE), CONTEXT)
    assert SECRET not in str(refused.value)
    for call in defender.calls:
        if "oauth2" not in call.path:
            assert SECRET not in json.dumps(call.body) + json.dumps(call.headers) + json.dumps(call.query)
