"""The orchestrator's own producer (the openc2-slpf connector) against this consumer: a deny comes back with its
rule number as the receipt's handle and its undo, the undo deletes it, an undo run again finds it gone, and
query features reads what the consumer supports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from tests.actuator.actuators import KEY, Actuator, namespace, running_actuator
from xorb_orchestrator.connectors.base import CallContext
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.openc2 import DeleteArgs, NetArgs, QueryArgs, delete, deny, query_features

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

CONTEXT = CallContext(key="incident-x/deny", incident_id="incident-x", attempt=1)


@pytest.fixture
def netns() -> Iterator[str]:
    with namespace() as name:
        yield name


@pytest_asyncio.fixture(loop_scope="session")
async def actuator(netns: str, tmp_path: Path) -> AsyncIterator[Actuator]:
    async with running_actuator(netns, tmp_path / "state") as running:
        yield running


async def test_the_connector_denies_undoes_and_queries(actuator: Actuator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_TEST_ACTUATOR_KEY", KEY)
    gateway = Connection(
        name="gw", type="openc2-slpf", url=actuator.url, auth=Auth(type="bearer", token="env:XORB_TEST_ACTUATOR_KEY")
    )
    denied = await deny(gateway, NetArgs(address="198.51.100.7", duration=timedelta(minutes=10)), CONTEXT)
    receipt = denied.receipt
    assert receipt is not None and receipt.handle == "slpf:rule_number 1"
    assert receipt.undo is not None and receipt.undo.args == {"rule_number": 1, "connection": "gw"}
    (element,) = await actuator.firewall.elements()
    assert element.value == "198.51.100.7" and element.timeout_seconds == 600

    undone = await delete(gateway, DeleteArgs(rule_number=1), CONTEXT)
    assert undone.details == {"rule_number": 1, "deleted": True}
    assert await actuator.firewall.elements() == []
    again = await delete(gateway, DeleteArgs(rule_number=1), CONTEXT)  # an undo run again: already gone, not failed
    assert again.details == {"rule_number": 1, "deleted": False}

    features = await query_features(gateway, QueryArgs(), CONTEXT)
    results = features.details["results"]
    assert results["versions"] == ["1.0"] and results["rate_limit"] == 600 and "deny" in results["pairs"]
