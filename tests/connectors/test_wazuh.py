"""The Wazuh connector against a local Wazuh server API that answers as Wazuh documents it: the JWT from the basic
credentials (cached for the lifetime it carries, fetched again when revoked), the agents read before a block, the
active-response request to exactly the named agents (never all of them), a receipt that says Wazuh reports
dispatch only, the undo by the connection's unblock script, and no partial block left behind."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from tests.support.vendors.wazuh import Wazuh
from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.wazuh import BLOCK, UNBLOCK, WAZUH, AddressArgs, block_ip, health, unblock_ip

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(30)]
CONTEXT = CallContext(key="incident-3/block-c2", incident_id="incident-3", attempt=1)
PASSWORD = "wazuh-pass-" + "77d2"
C2 = "203.0.113.9"
UNBLOCK_SCRIPT = "!xorb-unblock-ip"


@pytest.fixture
def wazuh(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wazuh]:
    monkeypatch.setenv("XORB_TEST_WAZUH_PASSWORD", PASSWORD)
    agents = {"001": "active", "002": "active", "003": "disconnected"}
    running = Wazuh("xorb", PASSWORD, agents, block_script="!firewall-drop", unblock_script=UNBLOCK_SCRIPT).start()
    try:
        yield running
    finally:
        running.stop()


def connection(wazuh: Wazuh, name: str = "wazuh", **options: object) -> Connection:
    auth = Auth(type="basic", username="xorb", token="env:XORB_TEST_WAZUH_PASSWORD")
    return Connection(name=name, type="wazuh", url=wazuh.url, auth=auth,
                      options={"unblock_command": UNBLOCK_SCRIPT, **options})  # fmt: skip


def no_broadcast_ever(wazuh: Wazuh) -> None:
    assert wazuh.broadcasts == 0
    for call in wazuh.calls_to("PUT", "/active-response"):
        assert call.query["agents_list"][0], "an active response without agents_list reaches every agent"


async def test_block_dispatches_firewall_drop_to_the_named_agents_and_says_it_is_dispatch_only(wazuh: Wazuh) -> None:
    done = await block_ip(connection(wazuh), AddressArgs(address=C2, agents=["002", "001", "001"]), CONTEXT)

    login, agents, dispatch = wazuh.calls
    basic = base64.b64encode(f"xorb:{PASSWORD}".encode()).decode()
    assert (login.method, login.path, login.headers["Authorization"]) == ("POST", "/security/user/authenticate",
                                                                          f"Basic {basic}")  # fmt: skip
    assert (agents.method, agents.path, agents.query) == ("GET", "/agents", {"agents_list": ["001,002"],
                                                                             "select": ["id,status"]})  # fmt: skip
    assert (dispatch.method, dispatch.path, dispatch.query) == ("PUT", "/active-response", {"agents_list": ["001,002"]})
    assert dispatch.body == {"command": "!firewall-drop", "alert": {"data": {"srcip": C2}}}
    assert dispatch.headers["Authorization"] == f"Bearer {next(iter(wazuh.tokens))}"
    assert wazuh.firewall == {"001": [C2], "002": [C2], "003": []}
    receipt = done.receipt
    assert receipt is not None and not receipt.repeated and receipt.expires_at is None and receipt.handle is None
    assert receipt.target == f"{C2} on agent(s) 001, 002"
    assert receipt.verified is not None and receipt.verified.ok is False
    assert receipt.verified.how == "Wazuh reports dispatch only"
    assert receipt.undo is not None and receipt.undo.model_dump() == {
        "action": "wazuh.unblock_ip", "args": {"address": C2, "agents": ["001", "002"], "connection": "wazuh"}
    }  # fmt: skip
    assert PASSWORD not in json.dumps(done.details) + receipt.model_dump_json()
    assert BLOCK.undo == UNBLOCK.name and BLOCK.mutating and not BLOCK.one_way and UNBLOCK.undo is None
    assert await health(connection(wazuh)) == f"the Wazuh API at {wazuh.url} answers (API 4.9.0)"
    no_broadcast_ever(wazuh)


async def test_the_agent_list_is_never_empty_never_all_and_never_the_manager(wazuh: Wazuh) -> None:
    for agents, reason in (([], "at least one agent"), (["*"], "not a Wazuh agent id"), (["all"], "not a Wazuh"),
                           (["001,002"], "not a Wazuh agent id"), (["000"], "the Wazuh manager")):  # fmt: skip
        with pytest.raises(ValidationError, match=reason):
            AddressArgs(address=C2, agents=agents)
    with pytest.raises(ValidationError, match="agents"):
        BLOCK.args.model_validate({"address": C2})
    for bad in ("203.0.113.0/24", "c2.example", ""):
        with pytest.raises(ValidationError, match="not an IP address"):
            AddressArgs(address=bad, agents=["001"])
    assert wazuh.calls == []


async def test_unblock_is_the_undo_and_sends_the_connections_unblock_script(wazuh: Wazuh) -> None:
    soc = connection(wazuh)
    blocked = await block_ip(soc, AddressArgs(address=C2, agents=["001", "002"]), CONTEXT)
    assert blocked.receipt is not None and blocked.receipt.undo is not None
    undone = await unblock_ip(soc, UNBLOCK.parse_args(blocked.receipt.undo.args), CONTEXT)
    put = wazuh.calls_to("PUT", "/active-response")[-1]
    assert put.query == {"agents_list": ["001,002"]}
    assert put.body == {"command": UNBLOCK_SCRIPT, "alert": {"data": {"srcip": C2}}}
    assert wazuh.firewall == {"001": [], "002": [], "003": []}
    assert undone.receipt is not None and undone.receipt.undo is None
    assert undone.receipt.verified is not None and undone.receipt.verified.how == "Wazuh reports dispatch only"
    assert len(wazuh.calls_to("POST", "/security/user/authenticate")) == 1  # the JWT was cached
    with pytest.raises(ValidationError, match="unblock_command"):
        WAZUH.options.model_validate({})  # a connection that could never undo a block does not load
    no_broadcast_ever(wazuh)


async def test_an_agent_that_cannot_take_the_block_gets_nothing_and_no_partial_block_is_left(wazuh: Wazuh) -> None:
    soc = connection(wazuh)
    with pytest.raises(ConnectorUnavailable, match="003 is disconnected: Wazuh can only dispatch to active agents"):
        await block_ip(soc, AddressArgs(address=C2, agents=["001", "003"]), CONTEXT)
    with pytest.raises(ConnectorRejected, match="no agent 009 in Wazuh"):
        await block_ip(soc, AddressArgs(address=C2, agents=["001", "009"]), CONTEXT)
    assert wazuh.dispatches == []

    # 002 disconnects between the read and the dispatch: 001 got the block, so it is sent the unblock.
    wazuh.drop_on_dispatch = {"002"}
    with pytest.raises(ConnectorUnavailable, match=r"did not dispatch to 002: 1707 Cannot send request, agent is not "
                       r"active \(dispatched to 001; sent !xorb-unblock-ip to 001 of them\)"):  # fmt: skip
        await block_ip(soc, AddressArgs(address=C2, agents=["001", "002"]), CONTEXT)
    assert wazuh.dispatches == [("001", "!firewall-drop", C2), ("001", UNBLOCK_SCRIPT, C2)]
    assert wazuh.firewall["001"] == []
    wazuh.drop_on_dispatch, wazuh.agents["002"] = set(), "active"  # it reconnects; the step is retried whole
    await block_ip(soc, AddressArgs(address=C2, agents=["001", "002"]), CallContext(CONTEXT.key, "incident-3", 2))
    assert wazuh.firewall["001"] == [C2] and wazuh.firewall["002"] == [C2]

    # An undo that cannot reach an agent fails loudly, to be retried: the block stays there meanwhile.
    wazuh.agents["002"] = "disconnected"
    with pytest.raises(ConnectorUnavailable, match=r"did not dispatch to 002.*the block stays on them"):
        await unblock_ip(soc, AddressArgs(address=C2, agents=["001", "002"]), CONTEXT)
    no_broadcast_ever(wazuh)


async def test_a_step_run_again_after_its_dispatch_dispatches_again_and_says_so(wazuh: Wazuh) -> None:
    # Wazuh keeps nothing the API can read back: a worker that died after the PUT leaves no trace to find.
    soc = connection(wazuh)
    await block_ip(soc, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    again = await block_ip(soc, AddressArgs(address=C2, agents=["001"]), CallContext(CONTEXT.key, "incident-3", 2))
    assert again.receipt is not None and again.receipt.verified is not None
    assert "attempt 2: an earlier attempt of this step may have dispatched it too" in again.receipt.verified.detail
    assert wazuh.firewall["001"] == [C2, C2]  # firewall-drop inserted its rule twice
    await unblock_ip(soc, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    assert wazuh.firewall["001"] == []  # the unblock script's contract: every copy goes


async def test_the_jwt_lives_as_long_as_wazuh_says_and_is_fetched_again_when_revoked(wazuh: Wazuh) -> None:
    soc = connection(wazuh, name="wazuh-short")
    wazuh.token_lifetime = 1
    await block_ip(soc, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    await asyncio.sleep(1.1)  # the JWT's exp has passed: the next call logs in first
    wazuh.token_lifetime = 900
    await unblock_ip(soc, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    await block_ip(soc, AddressArgs(address=C2, agents=["001"]), CONTEXT)  # within the new JWT's 900s: no login
    assert len(wazuh.calls_to("POST", "/security/user/authenticate")) == 2
    wazuh.tokens.clear()  # Wazuh revokes every token when its security configuration changes
    await unblock_ip(soc, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    refused, login, dispatched = wazuh.calls[-3:]
    assert len(wazuh.calls_to("POST", "/security/user/authenticate")) == 3
    assert (refused.method, login.path, dispatched.method) == ("PUT", "/security/user/authenticate", "PUT")


async def test_refusals_and_failures_to_retry_are_told_apart(wazuh: Wazuh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_TEST_WAZUH_OLD", PASSWORD + "-old")
    stale = Connection(name="wazuh-stale", type="wazuh", url=wazuh.url, options={"unblock_command": UNBLOCK_SCRIPT},
                       auth=Auth(type="basic", username="xorb", token="env:XORB_TEST_WAZUH_OLD"))  # fmt: skip
    with pytest.raises(ConnectorRejected, match="401 Unauthorized: Invalid credentials") as refused:
        await block_ip(stale, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    assert PASSWORD not in str(refused.value)
    soc = connection(wazuh, name="wazuh-busy")
    wazuh.answer_next = [503]
    with pytest.raises(ConnectorUnavailable, match="503"):
        await block_ip(soc, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    wazuh.answer_next = [429]
    with pytest.raises(ConnectorUnavailable, match="429"):
        await block_ip(soc, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    bearer = Connection(name="wazuh-bearer", type="wazuh", url=wazuh.url, options={"unblock_command": UNBLOCK_SCRIPT},
                        auth=Auth(type="bearer", token="env:XORB_TEST_WAZUH_PASSWORD"))  # fmt: skip
    with pytest.raises(ConnectorRejected, match="auth type basic"):
        await block_ip(bearer, AddressArgs(address=C2, agents=["001"]), CONTEXT)
    with pytest.raises(ValidationError, match="block_command"):
        WAZUH.options.model_validate({"unblock_command": UNBLOCK_SCRIPT, "block_command": "firewall-drop; rm -rf /"})
    assert wazuh.dispatches == []
    for call in wazuh.calls:
        if call.path != "/security/user/authenticate":
            assert PASSWORD not in json.dumps(call.body) + json.dumps(call.headers) + json.dumps(call.query)
