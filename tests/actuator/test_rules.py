"""The rule book (numbers, repeats, retirement, its JSON), the state directory it is kept in, and the nftables
statements each kind of rule becomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xorb_orchestrator.actuator.answers import CommandError
from xorb_orchestrator.actuator.arguments import Window
from xorb_orchestrator.actuator.commands import RuleCommand, parse_command
from xorb_orchestrator.actuator.nft_rules import REJECT, Element, element_of, statements
from xorb_orchestrator.actuator.rules import RuleBook, RuleBookError
from xorb_orchestrator.actuator.state import StateDir, StateError

NOW = 1_700_000_000_000


def rule(action: str, target: dict[str, Any], **args: Any) -> RuleCommand:
    command = parse_command({"action": action, "target": target, **({"args": args} if args else {})}, NOW).command
    assert isinstance(command, RuleCommand)
    return command


def test_numbers_are_given_in_order_never_twice_and_a_chosen_one_must_be_free() -> None:
    book = RuleBook()
    first = book.add(rule("deny", {"ipv4_net": "192.0.2.1"}))
    second = book.add(rule("deny", {"ipv4_net": "192.0.2.2"}))
    assert (first.number, second.number) == (1, 2)
    book.retire(2)
    book.forget(2)
    assert book.add(rule("deny", {"ipv4_net": "192.0.2.3"})).number == 3  # 2 is not given again
    chosen = book.add(rule("allow", {"ipv4_net": "192.0.2.4"}, slpf={"insert_rule": 100}))
    assert chosen.number == 100 and book.add(rule("deny", {"ipv4_net": "192.0.2.5"})).number == 101
    with pytest.raises(CommandError) as taken:
        book.add(rule("deny", {"ipv4_net": "192.0.2.6"}, slpf={"insert_rule": 3}))
    assert (taken.value.status, taken.value.text) == (501, "Rule number currently in use: 3")


def test_a_repeat_is_found_and_its_window_widened_to_the_later_end() -> None:
    book = RuleBook()
    placed = book.add(rule("deny", {"ipv4_net": "192.0.2.1"}, duration=1000))
    again = rule("deny", {"ipv4_net": "192.0.2.1"}, duration=5000)
    found = book.identical(again)
    assert found is not None and found.number == placed.number
    widened = book.rewindow(found.number, found.window.widened(again.window))
    assert widened.window == Window(NOW, NOW + 5000)
    forever = rule("deny", {"ipv4_net": "192.0.2.1"})
    assert widened.window.widened(forever.window) == Window(NOW, None)  # until deleted outlasts any stop
    assert book.identical(rule("deny", {"ipv4_net": "192.0.2.1"}, slpf={"direction": "ingress"})) is None
    assert book.identical(rule("allow", {"ipv4_net": "192.0.2.1"})) is None
    assert book.identical(rule("deny", {"ipv4_net": "192.0.2.1"}, slpf={"insert_rule": 9})) is None


def test_the_book_round_trips_through_its_json_and_refuses_what_it_did_not_write(tmp_path: Path) -> None:
    book = RuleBook()
    book.add(rule("deny", {"ipv4_connection": {"protocol": "udp", "dst_port": 53}}, stop_time=NOW + 60_000))
    book.add(rule("allow", {"ipv6_net": "2001:db8::/48"}, slpf={"persistent": False, "direction": "egress"}))
    book.add(rule("deny", {"ipv4_net": "192.0.2.9"}, slpf={"drop_process": "reject"}))
    book.retire(3)
    state = StateDir(tmp_path / "state")
    state.open()
    state.save(book.to_json())
    again = RuleBook.from_json(state.load())
    assert [(r.number, r.command) for r in again] == [(r.number, r.command) for r in book]
    assert list(again.retired) == [3] and again.next_number == 4
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["lock", "rules.json"]  # no temporary file
    with pytest.raises(RuleBookError):
        RuleBook.from_json({"format": 1, "next_rule_number": 2, "rules": [{"number": 1}], "retired": []})
    with pytest.raises(RuleBookError, match="not a rule book"):
        RuleBook.from_json({"rules": []})
    state.close()


def test_the_state_directory_is_one_actuators_and_a_broken_file_is_named(tmp_path: Path) -> None:
    first, second = StateDir(tmp_path), StateDir(tmp_path)
    first.open()
    with pytest.raises(StateError, match="another actuator is using"):
        second.open()
    first.close()
    second.open()  # free again once the first has let go
    (tmp_path / "rules.json").write_text("{half a book")
    with pytest.raises(StateError, match=r"rules\.json is not JSON"):
        second.load()
    second.close()


def test_one_address_both_ways_is_a_set_element_everything_else_rules() -> None:
    assert element_of(rule("deny", {"ipv4_net": "192.0.2.1"})) == Element("block4", "192.0.2.1")
    assert element_of(rule("allow", {"ipv6_net": "2001:db8::1/128"})) == Element("allow6", "2001:db8::1")
    assert element_of(rule("deny", {"ipv4_net": "192.0.2.0/24"})) is None
    assert element_of(rule("deny", {"ipv4_net": "192.0.2.1"}, slpf={"direction": "egress"})) is None
    assert element_of(rule("deny", {"ipv4_net": "192.0.2.1"}, slpf={"drop_process": "reject"})) is None

    assert statements(rule("deny", {"ipv4_net": "192.0.2.0/24"}, slpf={"direction": "ingress"})) == [
        ("input", "ip saddr 192.0.2.0/24 drop"),
        ("forward", "ip saddr 192.0.2.0/24 drop"),
    ]
    assert statements(rule("deny", {"ipv6_net": "2001:db8::/32"}, slpf={"drop_process": "reject"})) == [
        ("input", f"ip6 saddr 2001:db8::/32 {REJECT}"),
        ("forward", f"ip6 saddr 2001:db8::/32 {REJECT}"),
        ("forward", f"ip6 daddr 2001:db8::/32 {REJECT}"),
        ("output", f"ip6 daddr 2001:db8::/32 {REJECT}"),
    ]
    connection = {"ipv4_connection": {"src_addr": "10.0.0.0/8", "dst_port": 22}}
    assert statements(rule("allow", connection, slpf={"direction": "egress"})) == [
        (chain, "meta nfproto ipv4 ip saddr 10.0.0.0/8 meta l4proto { tcp, udp, sctp } th dport 22 accept")
        for chain in ("forward", "output")
    ]
    ping = {"ipv6_connection": {"protocol": "icmp", "dst_addr": "2001:db8::1"}}
    assert statements(rule("deny", ping))[0] == (
        "input",
        "meta nfproto ipv6 ip6 daddr 2001:db8::1/128 meta l4proto ipv6-icmp drop",
    )
