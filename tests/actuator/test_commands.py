"""Reading commands: what a valid one becomes, and the status and text each kind of wrong one gets (400 for a
command that is malformed, 501 for a valid one this consumer does not carry out), per the Language and the
SLPF profile."""

from __future__ import annotations

from typing import Any

import pytest

from xorb_orchestrator.actuator.answers import CommandError
from xorb_orchestrator.actuator.arguments import Window
from xorb_orchestrator.actuator.commands import DeleteRule, QueryFeatures, RuleCommand, parse_command
from xorb_orchestrator.actuator.targets import ConnectionTarget, NetTarget

NOW = 1_700_000_000_000


def deny(target: Any, **args: Any) -> dict[str, Any]:
    return {"action": "deny", "target": target, **({"args": args} if args else {})}


def test_a_deny_with_every_option() -> None:
    request = parse_command(
        deny(
            {"ipv4_net": "192.0.2.7/24"},
            duration=5000,
            response_requested="ack",
            slpf={"direction": "ingress", "drop_process": "reject", "persistent": False, "insert_rule": 40},
        )
        | {"actuator": {"slpf": {"asset_id": "gw-1"}}, "command_id": "c-1"},
        NOW,
    )
    assert request.response_requested == "ack" and request.command_id == "c-1"
    assert request.command == RuleCommand(
        action="deny",
        target=NetTarget("ipv4_net", "192.0.2.0/24"),  # host bits cleared, as a packet filter reads it
        window=Window(NOW, NOW + 5000),
        direction="ingress",
        drop_process="reject",
        persistent=False,
        insert_rule=40,
    )


def test_defaults_a_single_address_and_a_connection() -> None:
    request = parse_command(deny({"ipv6_net": "2001:DB8::1"}), NOW)
    assert request.response_requested == "complete"  # no response_requested: as if complete (3.2.1.7.2)
    command = request.command
    assert isinstance(command, RuleCommand) and command.target.to_json() == {"ipv6_net": "2001:db8::1"}
    assert (command.direction, command.drop_process, command.persistent, command.window) == (
        "both",
        "none",
        True,
        Window(NOW, None),
    )
    target = {"ipv4_connection": {"protocol": "tcp", "src_addr": "10.0.0.1", "dst_port": 443}}
    allowed = parse_command({"action": "allow", "target": target}, NOW).command
    assert isinstance(allowed, RuleCommand)
    assert allowed.target == ConnectionTarget("ipv4_connection", "10.0.0.1/32", None, None, 443, "tcp")


@pytest.mark.parametrize(
    ("args", "window"),
    [
        ({"duration": 1000}, Window(NOW, NOW + 1000)),
        ({"start_time": NOW + 5000}, Window(NOW + 5000, None)),
        ({"stop_time": NOW + 9000}, Window(NOW, NOW + 9000)),
        ({"start_time": NOW - 100, "duration": 1000}, Window(NOW - 100, NOW + 900)),
        ({"stop_time": NOW + 9000, "duration": 4000}, Window(NOW + 5000, NOW + 9000)),
    ],
)
def test_any_two_of_start_stop_and_duration_give_the_third(args: dict[str, int], window: Window) -> None:
    command = parse_command(deny({"ipv4_net": "192.0.2.1"}, **args), NOW).command
    assert isinstance(command, RuleCommand) and command.window == window


def test_query_features_and_delete() -> None:
    query = parse_command({"action": "query", "target": {"features": ["pairs", "versions", "pairs"]}}, NOW)
    assert query.command == QueryFeatures(("pairs", "versions"))  # a repeated feature counts once
    heartbeat = parse_command(
        {"action": "query", "target": {"features": []}, "args": {"response_requested": "complete"}}, NOW
    )
    assert heartbeat.command == QueryFeatures(())
    delete = parse_command({"action": "delete", "target": {"slpf:rule_number": 7}}, NOW)
    assert delete.command == DeleteRule(7)


def test_a_repeat_is_the_same_rule_whatever_its_timing() -> None:
    one = parse_command(deny({"ipv4_net": "192.0.2.1"}, duration=1000), NOW).command
    two = parse_command(deny({"ipv4_net": "192.0.2.1/32"}, duration=9000, response_requested="ack"), NOW).command
    other = parse_command(deny({"ipv4_net": "192.0.2.1"}, slpf={"direction": "egress"}), NOW).command
    assert isinstance(one, RuleCommand) and isinstance(two, RuleCommand) and isinstance(other, RuleCommand)
    assert one.identity() == two.identity() != other.identity()


MALFORMED = [
    ([], "a command is a JSON object"),
    ({"action": "deny"}, "target: expected an object with exactly one member"),
    (deny({"ipv4_net": "192.0.2.1", "ipv6_net": "::1"}), "exactly one member"),
    (deny("192.0.2.1"), "exactly one member"),
    ({"action": "block", "target": {"ipv4_net": "192.0.2.1"}}, "action: 'block' is not an OpenC2 action"),
    (deny({"ip_conection": {}}), "Validation Error: Target: 'ip_conection'"),
    (deny({"ipv4_net": "192.0.2.1"}) | {"priority": 1}, "unknown field 'priority'"),
    (deny({"ipv4_net": "192.0.2.300"}), "target.ipv4_net: '192.0.2.300' is not an IPv4 address"),
    (deny({"ipv4_net": "2001:db8::1"}), "is not an IPv4 address"),
    (deny({"ipv6_net": 42}), "target.ipv6_net: expected an IPv6 address or range as a string"),
    (deny({"ipv4_connection": {}}), "at least one of src_addr"),
    (deny({"ipv4_connection": {"dst_port": 70000}}), "dst_port: expected a port number 0-65535"),
    (deny({"ipv4_connection": {"protocol": "gre"}}), "protocol: expected one of icmp, tcp, udp, sctp"),
    (deny({"ipv4_connection": {"protocol": "icmp", "dst_port": 1}}), "ports need protocol tcp, udp or sctp"),
    (deny({"ipv4_connection": {"src_addr": "::1"}}), "src_addr: '::1' is not an IPv4 address"),
    (deny({"ipv4_connection": {"dport": 22}}), "unknown field 'dport'"),
    (deny({"ipv4_net": "192.0.2.1"}, response_requested="always"), "args.response_requested: expected one of"),
    (deny({"ipv4_net": "192.0.2.1"}, duration="5s"), "args.duration: expected milliseconds"),
    (deny({"ipv4_net": "192.0.2.1"}, duration=True), "args.duration: expected milliseconds"),
    (deny({"ipv4_net": "192.0.2.1"}, duration=0), "0 ms would end the rule"),
    (deny({"ipv4_net": "192.0.2.1"}, start_time=NOW, stop_time=NOW + 1, duration=1), "give at most two"),
    (deny({"ipv4_net": "192.0.2.1"}, stop_time=NOW - 1), "is not after the start"),
    (deny({"ipv4_net": "192.0.2.1"}, start_time=NOW - 9, stop_time=NOW - 1), "has passed"),
    (deny({"ipv4_net": "192.0.2.1"}, slpf={"direction": "inbound"}), "args.slpf.direction: expected one of"),
    (deny({"ipv4_net": "192.0.2.1"}, slpf={"persistent": "yes"}), "args.slpf.persistent: expected true or false"),
    (deny({"ipv4_net": "192.0.2.1"}, slpf={"insert_rule": "7"}), "args.slpf.insert_rule: expected a rule number"),
    (deny({"ipv4_net": "192.0.2.1"}) | {"args": {}}, "args: an empty object"),
    (deny({"ipv4_net": "192.0.2.1"}) | {"command_id": "has space"}, "command_id: expected up to 36 characters"),
    (deny({"ipv4_net": "192.0.2.1"}) | {"actuator": {"slpf": {"serial": "x"}}}, "unknown specifier 'serial'"),
    ({"action": "query", "target": {"features": ["everything"]}}, "'everything' is not a feature"),
    ({"action": "query", "target": {"features": "versions"}}, "expected a list of at most 10 features"),
    ({"action": "query", "target": {"features": []}, "args": {"duration": 5}}, "query features takes no argument"),
    ({"action": "query", "target": {"features": []}, "args": {"response_requested": "ack"}}, "takes no argument"),
    ({"action": "delete", "target": {"slpf:rule_number": "7"}}, "target.slpf:rule_number: expected a rule number"),
]


@pytest.mark.parametrize(("command", "text"), MALFORMED)
def test_a_malformed_command_is_400_naming_what_is_wrong(command: Any, text: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse_command(command, NOW)
    assert refused.value.status == 400
    assert text in refused.value.text


UNSUPPORTED = [
    ({"action": "contain", "target": {"device": {"device_id": "x"}}}, "Command not supported: contain"),
    ({"action": "update", "target": {"file": {"name": "fw.conf"}}}, "Command not supported: update file"),
    ({"action": "query", "target": {"ipv4_net": "192.0.2.1"}}, "Command not supported: query ipv4_net"),
    (deny({"domain_name": "example.com"}), "Target type not supported: deny domain_name"),
    (deny({"x-acme:widget": 1}), "Target type not supported: x-acme:widget"),
    (deny({"ipv4_net": "192.0.2.1"}, slpf={"drop_process": "false_ack"}), "Option not supported"),
    (deny({"ipv4_net": "192.0.2.1"}, periodic=5), "Option not supported: args.periodic"),
    (deny({"ipv4_net": "192.0.2.1"}, **{"x-acme": {"a": 1}}), "Option not supported: args.x-acme"),
    (deny({"ipv4_net": "192.0.2.1"}, slpf={"log": True}), "Option not supported: args.slpf.log"),
    (
        {"action": "allow", "target": {"ipv4_net": "192.0.2.1"}, "args": {"slpf": {"drop_process": "none"}}},
        "Option not supported: args.slpf.drop_process applies to deny only",
    ),
    ({"action": "delete", "target": {"slpf:rule_number": 7}, "args": {"start_time": NOW}}, "Option not supported"),
    (deny({"ipv4_net": "192.0.2.1"}) | {"actuator": {"x-acme": {}}}, "Actuator not supported: x-acme"),
]


@pytest.mark.parametrize(("command", "text"), UNSUPPORTED)
def test_a_valid_command_this_consumer_does_not_carry_out_is_501(command: Any, text: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse_command(command, NOW)
    assert refused.value.status == 501
    assert refused.value.text.startswith(text)
