"""The actuator on a gateway namespace, with real traffic from a client namespace: a deny stops it and its delete
lets it through again; a duration ends the rule on time; a repeat is the same rule (one nftables element); an
allow wins over a deny; and the rules outlive the actuator: restarted on the same state directory (even after the
gateway's nftables were wiped, as by a reboot) it puts them back, and drops the ones whose time ran out."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.actuator.actuators import running_actuator
from tests.support.netns import SERVICE_PORT, Pair, namespace_pair
from xorb_orchestrator.actuator.nft_rules import SlpfFirewall
from xorb_orchestrator.infrastructure.nftables import NftFirewall

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


@pytest.fixture
def pair() -> Iterator[Pair]:
    with namespace_pair() as made:
        yield made


async def until(condition: object, seconds: float) -> None:
    """Wait until `condition()` holds (checked every 0.2s), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.2)


async def test_deny_delete_repeat_and_duration(pair: Pair, tmp_path: Path) -> None:
    client = {"ipv4_net": pair.client_ip}
    assert pair.reachable()
    async with running_actuator(pair.gateway, tmp_path / "state") as gateway:
        number = await gateway.deny(client)
        assert not pair.reachable()
        assert await gateway.deny(client) == number  # a repeat is the same rule ...
        block4 = await NftFirewall("xorb", pair.gateway).elements("block4")
        assert [e.value for e in block4] == [pair.client_ip]  # ... and the same one element
        assert (await gateway.delete(number)).status_code == 200
        assert pair.reachable()

        timed = await gateway.deny(client, duration=2000)
        assert timed != number and not pair.reachable()
        assert await gateway.deny(client, duration=1000) == timed  # a shorter repeat keeps the later end
        started = time.monotonic()
        await until(pair.reachable, 6)
        assert time.monotonic() - started >= 0.8
        await until(lambda: gateway.consumer.book.get(timed) is None, 3)  # the actuator's own timer ended it
        assert (await gateway.delete(timed)).status_code == 500


async def test_an_allow_wins_over_a_deny_and_a_connection_rule_blocks_one_port(pair: Pair, tmp_path: Path) -> None:
    async with running_actuator(pair.gateway, tmp_path / "state") as gateway:
        port = await gateway.deny(
            {"ipv4_connection": {"protocol": "tcp", "dst_port": SERVICE_PORT}}, slpf={"direction": "ingress"}
        )
        assert not pair.reachable()
        allowed = await gateway.send({"action": "allow", "target": {"ipv4_net": f"{pair.client_ip}/32"}})
        assert allowed.status_code == 200 and pair.reachable()  # the allow is accepted before any drop
        await gateway.delete(port)
        network = await gateway.deny({"ipv4_net": f"{pair.client_ip}/24"})
        assert pair.reachable()  # still allowed
        await gateway.delete(allowed.json()["results"]["slpf"]["rule_number"])
        assert not pair.reachable()
        await gateway.delete(network)
        assert pair.reachable()


async def test_rules_outlive_a_restart_and_expired_ones_do_not(pair: Pair, tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with running_actuator(pair.gateway, state) as gateway:
        kept = await gateway.deny({"ipv4_net": pair.client_ip})
        # A range's rule lives in a chain, with no nftables timeout: only the actuator can end it.
        ending = await gateway.deny({"ipv4_net": "192.0.2.0/24"}, duration=2000)
        passing = await gateway.deny({"ipv4_net": "198.51.100.9"}, slpf={"persistent": False})
        deleted = await gateway.deny({"ipv4_net": "203.0.113.0/24"})
        assert (await gateway.delete(deleted)).status_code == 200
    await asyncio.sleep(2.1)  # the actuator is down while the range's time runs out: its rule stays meanwhile
    tagged = SlpfFirewall("xorb", pair.gateway)
    assert [rule.comment for rule in await tagged.tagged_rules()] == [f"xorb-slpf rule {ending}"] * 4

    async with running_actuator(pair.gateway, state) as gateway:
        assert not pair.reachable()
        assert [rule.number for rule in gateway.consumer.book] == [kept]
        assert await gateway.firewall.tagged_rules() == []  # the range's time was up: removed on start
        assert [e.value for e in await gateway.firewall.elements()] == [pair.client_ip]  # not persistent: gone
        for gone in (ending, passing, deleted):
            assert (await gateway.delete(gone)).status_code == 500

    # The gateway reboots while the actuator is down: nftables start empty, and the actuator puts its rules back.
    subprocess.run(["ip", "netns", "exec", pair.gateway, "nft", "delete", "table", "inet", "xorb"], check=True)
    assert pair.reachable()
    async with running_actuator(pair.gateway, state) as gateway:
        assert not pair.reachable()
        assert (await gateway.delete(kept)).status_code == 200
        assert pair.reachable()
        assert await gateway.deny({"ipv4_net": pair.client_ip}) == deleted + 1  # numbers are never given twice
