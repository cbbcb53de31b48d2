"""The CrowdStrike Falcon connector against a local Falcon API that answers as CrowdStrike documents it: the OAuth2
token (201) and the calls it authorises, the host read before any action (containment is last-write-wins), one
containment per step however often the step runs, the host read back until it reports the change, the undo, and
refusals told apart from failures to retry — with the client secret nowhere but the token request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.support.vendors.crowdstrike import Falcon
from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.crowdstrike import (
    CONTAIN,
    LIFT_CONTAINMENT,
    HostArgs,
    contain,
    health,
    lift_containment,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(30)]
CONTEXT = CallContext(key="incident-7/contain-host", incident_id="incident-7", attempt=1)
SECRET = "falcon-secret-" + "9c1e"
CLIENT_ID = "0123456789abcdef0123456789abcdef"
HOST = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
OTHER = "ffffffffffffffffffffffffffffffff"
ACTIONS = "/devices/entities/devices-actions/v2"
DEVICES = "/devices/entities/devices/v2"


@pytest.fixture
def falcon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Falcon]:
    monkeypatch.setenv("XORB_TEST_FALCON_SECRET", SECRET)
    running = Falcon(CLIENT_ID, SECRET, {HOST: "ws-finance-12", OTHER: "ws-hr-3"}).start()
    try:
        yield running
    finally:
        running.stop()


def connection(falcon: Falcon, secret_ref: str = "env:XORB_TEST_FALCON_SECRET", name: str = "falcon") -> Connection:
    auth = Auth(type="oauth2", token_url=f"{falcon.url}/oauth2/token", client_id=CLIENT_ID, client_secret=secret_ref)
    return Connection(name=name, type="crowdstrike", url=falcon.url, auth=auth, options={"poll_seconds": 0.02})


async def test_contain_reads_the_host_asks_once_and_reads_it_back_until_contained(falcon: Falcon) -> None:
    done = await contain(connection(falcon), HostArgs(device_id=HOST.upper()), CONTEXT)

    token, first_read, action, *reads = falcon.calls
    assert (token.method, token.path, token.body["client_id"]) == ("POST", "/oauth2/token", [CLIENT_ID])
    assert (first_read.method, first_read.path, first_read.query) == ("GET", DEVICES, {"ids": [HOST]})
    assert (action.method, action.path, action.query) == ("POST", ACTIONS, {"action_name": ["contain"]})
    assert action.body == {"ids": [HOST]} and action.headers["Authorization"] == f"Bearer {next(iter(falcon.tokens))}"
    assert [r.path for r in reads] == [DEVICES] * 3  # pending, pending, contained
    assert falcon.actions == [("contain", HOST)] and falcon.status[HOST] == "contained"
    receipt = done.receipt
    assert receipt is not None and not receipt.repeated
    assert receipt.target == f"ws-finance-12 ({HOST})" and receipt.handle == f"falcon device {HOST}"
    assert receipt.verified is not None and receipt.verified.ok and "status contained" in receipt.verified.detail
    assert receipt.undo is not None and receipt.undo.model_dump() == {
        "action": "crowdstrike.lift_containment", "args": {"device_id": HOST, "connection": "falcon"}
    }  # fmt: skip
    assert done.details == {"device_id": HOST, "hostname": "ws-finance-12", "status": "contained", "requested": True}
    assert SECRET not in json.dumps(done.details) + receipt.model_dump_json()
    assert CONTAIN.undo == LIFT_CONTAINMENT.name and CONTAIN.mutating and not CONTAIN.one_way
    assert await health(connection(falcon)) == f"the Falcon Hosts API at {falcon.url} answers (2 hosts)"
    assert falcon.calls[-1].path == "/devices/queries/devices/v1" and falcon.calls[-1].method == "GET"


async def test_a_repeated_step_finds_the_containment_and_never_asks_twice(falcon: Falcon) -> None:
    soc = connection(falcon)
    await contain(soc, HostArgs(device_id=HOST), CONTEXT)
    again = await contain(soc, HostArgs(device_id=HOST), CONTEXT)  # a retry, or a worker that died after the call
    assert falcon.actions == [("contain", HOST)]
    assert again.receipt is not None and again.receipt.repeated and again.details["requested"] is False
    assert again.receipt.done == f"host ws-finance-12 ({HOST}) was already contained"

    # An attempt that asked and then died leaves the host pending: the next one waits for it, asks nothing.
    falcon.status[OTHER], falcon.reads_pending[OTHER] = "containment_pending", 0
    waited = await contain(soc, HostArgs(device_id=OTHER), CONTEXT)
    assert falcon.actions == [("contain", HOST)] and falcon.status[OTHER] == "contained"
    assert waited.receipt is not None and waited.receipt.repeated
    assert "was already containment_pending (asked before); now contained" in waited.receipt.done


async def test_lift_containment_is_the_undo_and_a_released_host_is_left_alone(falcon: Falcon) -> None:
    soc = connection(falcon)
    contained = await contain(soc, HostArgs(device_id=HOST), CONTEXT)
    assert contained.receipt is not None and contained.receipt.undo is not None
    undo = contained.receipt.undo
    lifted = await lift_containment(soc, LIFT_CONTAINMENT.parse_args(undo.args), CONTEXT)
    assert undo.action == LIFT_CONTAINMENT.name
    assert falcon.actions == [("contain", HOST), ("lift_containment", HOST)] and falcon.status[HOST] == "normal"
    lift_call = falcon.calls_to("POST", ACTIONS)[-1]
    assert lift_call.query == {"action_name": ["lift_containment"]} and lift_call.body == {"ids": [HOST]}
    assert lifted.receipt is not None and lifted.receipt.undo is None and not lifted.receipt.repeated
    assert lifted.receipt.verified is not None and "status normal" in lifted.receipt.verified.detail

    again = await lift_containment(soc, HostArgs(device_id=HOST), CONTEXT)
    assert len(falcon.actions) == 2 and again.receipt is not None and again.receipt.repeated


async def test_a_host_that_does_not_settle_in_time_fails_to_be_retried_and_the_retry_asks_nothing(
    falcon: Falcon,
) -> None:
    soc = connection(falcon)
    falcon.settle_after = None  # the sensor is offline: Falcon keeps the request pending
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="still reports containment_pending after 1s"):
        await contain(soc, HostArgs.model_validate({"device_id": HOST, "verify_within": "1s"}), CONTEXT)
    assert 1.0 <= time.monotonic() - started < 5
    falcon.settle_after = 0  # the sensor comes back
    retried = await contain(soc, HostArgs(device_id=HOST), CallContext(CONTEXT.key, CONTEXT.incident_id, 2))
    assert falcon.actions == [("contain", HOST)]
    assert retried.receipt is not None and retried.receipt.repeated and retried.details["status"] == "contained"


async def test_refusals_and_failures_to_retry_are_told_apart(falcon: Falcon) -> None:
    soc = connection(falcon)
    with pytest.raises(ConnectorRejected, match="404 Not Found"):
        await contain(soc, HostArgs(device_id="0" * 32), CONTEXT)
    falcon.answer_next = [(429, {"X-RateLimit-RetryAfter": str(int(time.time()) + 30)})]
    with pytest.raises(ConnectorUnavailable, match=r"429 injected \(rate limited; retry after (29|30)s\)"):
        await contain(soc, HostArgs(device_id=HOST), CONTEXT)
    falcon.answer_next = [(503, {})]
    with pytest.raises(ConnectorUnavailable, match="503"):
        await contain(soc, HostArgs(device_id=HOST), CONTEXT)
    assert falcon.actions == []
    for bad in ("ws-finance-12", HOST[:-1], HOST + "0", "../" + HOST[3:]):
        with pytest.raises(ValueError, match="not a Falcon device id"):
            HostArgs(device_id=bad)
    with pytest.raises(ValueError, match="at most 10m"):
        HostArgs.model_validate({"device_id": HOST, "verify_within": "2h"})
    bearer = Connection(name="falcon-static", type="crowdstrike", url=falcon.url,
                        auth=Auth(type="bearer", token="env:XORB_TEST_FALCON_SECRET"))  # fmt: skip
    with pytest.raises(ConnectorRejected, match="OAuth2 client credentials"):
        await contain(bearer, HostArgs(device_id=HOST), CONTEXT)


async def test_the_token_is_fetched_again_when_falcon_refuses_it_and_the_secret_stays_out_of_errors(
    falcon: Falcon, monkeypatch: pytest.MonkeyPatch
) -> None:
    soc = connection(falcon)
    await contain(soc, HostArgs(device_id=HOST), CONTEXT)
    falcon.tokens.clear()  # revoked (POST /oauth2/revoke, or the API client's secret was rotated)
    await lift_containment(soc, HostArgs(device_id=HOST), CONTEXT)
    assert len(falcon.calls_to("POST", "/oauth2/token")) == 2
    monkeypatch.setenv("XORB_TEST_FALCON_WRONG", SECRET + "-old")
    with pytest.raises(ConnectorRejected, match="answered 401") as refused:
        await contain(connection(falcon, "env:XORB_TEST_FALCON_WRONG", "falcon-old"), HostArgs(device_id=HOST), CONTEXT)
    assert SECRET not in str(refused.value)
    for call in falcon.calls:
        if call.path != "/oauth2/token":
            assert SECRET not in json.dumps(call.body) + json.dumps(call.headers) + json.dumps(call.query)
